"""The public changelog of corrections (one row per corrected field) and the releases table (one row
per version), from which a newsroom computes how often an agency corrects itself.

The changelog is built from ``catalog["corrections"]`` and the month files (each entry is a corrected
record plus, for each field it corrects, the version that first published the wrong value:
:func:`releases.catalog.wrong_since`), so it can be rebuilt from the ``v<N>.json`` records. The CSV
and JSON downloads and the HTML table are all views of the same rows; the fields are named as the
pages name them ("Statement", with ``field_key`` "body").

The CSV is opened in spreadsheets, which run a cell that starts like a formula; its text
cells are neutralised (see :func:`to_csv`). The JSON and the HTML keep the exact text. The
plain CSV is standard UTF-8; the ``.excel.csv`` copy adds the byte order mark Excel needs.
"""

from __future__ import annotations

import csv
import json
import math
from typing import TYPE_CHECKING, Any

from .order import instant, newest_first

if TYPE_CHECKING:
    import pandas as pd


def _pandas():
    """pandas, imported by the functions that build a table: it costs seconds of CPU, and a release only
    updates the JSON tables (their CSVs are rendered by the site-wide writer)."""
    import pandas

    return pandas


# The columns of the changelog, in every download and on the page (same names, same order of meaning).
COLUMNS = (
    "correction_id",
    "corrected_at",
    "incident_id",
    "version",
    "headline",
    "url",
    "agency",
    "occurred_at",
    "field",
    "field_key",
    "was",
    "now",
    "correction_note",
    "wrong_since",
    "wrong_since_version",
    "hours_wrong",
)
NUMBERS = ("version", "wrong_since_version", "hours_wrong")
_DTYPES = {name: "str" for name in COLUMNS} | {
    "version": "int64",
    "wrong_since_version": "Int64",
    "hours_wrong": "float64",
}


def month_key(month: str) -> str:
    """``corrections/<YYYY-MM>.json``: the rows of every correction released that month (UTC)."""
    return f"corrections/{month}.json"


def _hours_between(earlier: str | None, later: str) -> float:
    if earlier is None:
        return math.nan
    return round((instant(later) - instant(earlier)).total_seconds() / 3600, 2)


def correction_id(record: dict[str, Any]) -> str:
    """A correction's id, the same in every row of its fields: ``<incident>/v<version>``."""
    return f"{record['incident_id']}/v{record['version']}"


def rows_of(entries: list[dict[str, Any]], base_url: str) -> list[dict[str, Any]]:
    """One row per corrected field of each correction (a corrected record plus ``wrong_since``, see
    :func:`releases.catalog.wrong_since`), newest correction first, each correction's fields in the order
    it lists them. ``base_url``: the public site's address, for each incident's URL. No pandas."""
    from .render import field_label  # the pages' names for the fields (render imports no pandas)

    out = []
    for record in newest_first(entries):
        since = record.get("wrong_since") or {}
        for change in record["changes"]:
            first = since.get(change["field"])
            hours = _hours_between(first["released_at"] if first else None, record["released_at"])
            out.append(
                {
                    "correction_id": correction_id(record),
                    "corrected_at": record["released_at"],
                    "incident_id": record["incident_id"],
                    "version": record["version"],
                    "headline": record["headline"],
                    "url": f"{base_url}/incidents/{record['incident_id']}/index.html",
                    "agency": record["agency"],
                    "occurred_at": record["occurred_at"],
                    "field": field_label(change["field"]),
                    "field_key": change["field"],
                    "was": change["was"],
                    "now": change["now"],
                    "correction_note": record["correction_note"],
                    "wrong_since": first["released_at"] if first else None,
                    "wrong_since_version": first["version"] if first else None,
                    "hours_wrong": None if math.isnan(hours) else hours,
                }
            )
    return out


def with_rows(
    rows: list[dict[str, Any]], entries: list[dict[str, Any]], base_url: str
) -> list[dict[str, Any]]:
    """``rows`` with the rows of ``entries`` (corrections) added once, in the changelog's order:
    the same rows whatever order corrections are added in."""
    added = rows_of(entries, base_url)
    new = {(r["incident_id"], r["version"]) for r in added}
    kept = [r for r in rows if (r["incident_id"], r["version"]) not in new]
    # Stable sorts keep each correction's fields in the order it lists them.
    merged = sorted(kept + added, key=lambda r: (r["incident_id"], -r["version"]))
    return sorted(merged, key=lambda r: instant(r["corrected_at"]), reverse=True)


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    # Explicit dtypes so an empty changelog has the same columns and types as a full one.
    return _pandas().DataFrame(rows, columns=list(COLUMNS)).astype(_DTYPES)


# OWASP, CSV Injection: a cell starting with one of these is read as a formula by Excel,
# LibreOffice and Google Sheets (=HYPERLINK(...) runs when the changelog is opened).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A text cell as OWASP advises: a leading single quote makes a spreadsheet show it as text."""
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """The changelog for spreadsheets: text cells neutralised and all quoted, numbers as numbers.

    Quoting every text cell (OWASP's other half) keeps a separator inside a cell, such as
    the ";" of a locale that splits on it, from starting a new cell that is a formula.
    Numbers are the system's own (version, hours) and stay numbers.
    """
    df = frame(rows)
    text_columns = [name for name in df.columns if name not in NUMBERS]
    safe = df.assign(**{name: df[name].map(neutralise, na_action="ignore") for name in text_columns})
    return safe.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")


# Excel on Windows reads a CSV without a byte order mark in the machine's ANSI code page ("SeÃ¡n"); with
# one it reads UTF-8. The plain download stays standard (RFC 4180 and pandas, R, csvkit expect no BOM).
BOM = "\ufeff".encode()


def excel_key(csv_key: str) -> str:
    """``corrections/corrections.csv`` -> ``corrections/corrections.excel.csv``."""
    return csv_key.removesuffix(".csv") + ".excel.csv"


def to_excel_csv(csv_bytes: bytes) -> bytes:
    """The same CSV for Excel: UTF-8 with a byte order mark."""
    return BOM + csv_bytes


def to_json(rows: list[dict[str, Any]]) -> bytes:
    """The rows as JSON (the month files are also the state a correction updates; no pandas)."""
    return (json.dumps(rows, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# --- release speed ------------------------------------------------------------------------------

SPEED_COLUMNS = ("incident_id", "event", "version", "occurred_at", "released_at", "hours_after_incident")
_SPEED_DTYPES = {name: "str" for name in SPEED_COLUMNS} | {
    "version": "int64",
    "hours_after_incident": "float64",
}
FIRST_RELEASE, CORRECTION = "first release", "correction"


def speed_frame(catalog: dict[str, Any]) -> pd.DataFrame:
    """How long after an incident the public heard of it, and heard of each correction.

    One row per event: an incident's first release (for the incidents the catalog still
    summarises: the newest ``index_window`` by activity, each with ``first_released_at``)
    and every correction ever published (each correction record carries its own
    ``occurred_at`` and ``released_at``, so these rows are complete). Times are measured
    from the ``occurred_at`` the record itself states.
    """
    firsts = [
        {
            "incident_id": s["incident_id"],
            "event": FIRST_RELEASE,
            "version": 1,
            "occurred_at": s["occurred_at"],
            "released_at": s["first_released_at"],
        }
        for s in catalog.get("incidents", {}).values()
    ]
    corrections = [
        {
            "incident_id": r["incident_id"],
            "event": CORRECTION,
            "version": r["version"],
            "occurred_at": r["occurred_at"],
            "released_at": r["released_at"],
        }
        for r in catalog.get("corrections", [])
    ]
    df = _pandas().DataFrame(firsts + corrections, columns=list(SPEED_COLUMNS[:-1]))
    df["hours_after_incident"] = [
        _hours_between(o, r) for o, r in zip(df["occurred_at"], df["released_at"], strict=True)
    ]
    # Incident by incident, each one's events in version order; never the catalog's order.
    df = df.astype(_SPEED_DTYPES).sort_values(["incident_id", "version"], kind="stable")
    return df.reset_index(drop=True)


def speed_medians(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Median hours from the incident to its first release, and to a correction, with counts."""
    out = {}
    for event in (FIRST_RELEASE, CORRECTION):
        hours = df.loc[df["event"] == event, "hours_after_incident"].dropna()
        out[event] = {
            "count": len(hours),
            "median_hours": round(float(hours.median()), 2) if len(hours) else None,
        }
    return out


def speed_by_incident(df: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per incident: hours to its first release (if known) and to each correction."""
    # One pass over the rows (already sorted by incident and version): a pandas groupby with
    # per-group selections cost ~1 ms per incident, on every release.
    out: list[dict[str, Any]] = []
    for row in df.itertuples(index=False):
        if not out or out[-1]["incident_id"] != row.incident_id:
            out.append(
                {
                    "incident_id": row.incident_id,
                    "occurred_at": None,
                    "first_release_hours": None,
                    "corrections": [],
                }
            )
        entry = out[-1]
        entry["occurred_at"] = row.occurred_at
        if row.event == FIRST_RELEASE and entry["first_release_hours"] is None:
            entry["first_release_hours"] = float(row.hours_after_incident)
        elif row.event == CORRECTION:
            entry["corrections"].append(
                {"version": int(row.version), "hours": float(row.hours_after_incident)}
            )
    return out


# --- every release: the denominator of a correction rate ----------------------------------------------

RELEASE_COLUMNS = (
    "incident_id",
    "version",
    "stage",
    "released_at",
    "occurred_at",
    "changed_fields",
    "corrected_fields",
    "correction_id",
)


def releases_key(month: str) -> str:
    """``archive/releases-<YYYY-MM>.json``: one row per version released that month (UTC); also the state a
    release updates (compare-and-swap) to add its row."""
    return f"archive/releases-{month}.json"


def release_row(record: dict[str, Any]) -> dict[str, Any]:
    """One version as the releases table lists it. No submitted text (only ids, times, stages and the
    fields' names), so a redaction never has to rewrite the table."""
    from .render import field_label

    changed = "; ".join(field_label(c["field"]) for c in record.get("changes") or [])
    corrected = record["stage"] == "corrected"
    return {
        "incident_id": record["incident_id"],
        "version": record["version"],
        "stage": record["stage"],
        "released_at": record["released_at"],
        "occurred_at": record["occurred_at"],
        "changed_fields": changed,
        "corrected_fields": changed if corrected else "",
        "correction_id": correction_id(record) if corrected else "",
    }


def with_releases(rows: list[dict[str, Any]], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with a row for each of ``records`` (replacing its version's row if there is one), newest
    release first: the same rows whatever order versions are added in."""
    added = [release_row(r) for r in records]
    new = {(r["incident_id"], r["version"]) for r in added}
    return sort_releases([r for r in rows if (r["incident_id"], r["version"]) not in new] + added)


def sort_releases(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Release rows in the table's order: newest release first, ties by incident and version."""
    merged = sorted(rows, key=lambda r: (r["incident_id"], -r["version"]))
    return sorted(merged, key=lambda r: instant(r["released_at"]), reverse=True)


def releases_csv(rows: list[dict[str, Any]]) -> bytes:
    """The releases table for spreadsheets (its cells are ids, times and field names, never free text;
    still neutralised and quoted as the changelog's are)."""
    df = (
        _pandas()
        .DataFrame(rows, columns=list(RELEASE_COLUMNS))
        .astype({name: "str" for name in RELEASE_COLUMNS} | {"version": "int64"})
    )
    text_columns = [name for name in RELEASE_COLUMNS if name != "version"]
    safe = df.assign(**{name: df[name].map(neutralise, na_action="ignore") for name in text_columns})
    return safe.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")

"""The public changelog of corrections: one row per corrected field.

Built from ``catalog["corrections"]`` alone (each entry is a corrected record plus the
release time of the version before it), so it can be rebuilt from the ``v<N>.json``
records. The CSV and JSON downloads and the HTML table are all views of :func:`frame`.

The CSV is opened in spreadsheets, which run a cell that starts like a formula; its text
cells are neutralised (see :func:`to_csv`). The JSON and the HTML keep the exact text.
"""

from __future__ import annotations

import csv
import json
import math
from typing import Any

import pandas as pd

from .order import instant, newest_first

COLUMNS = (
    "incident_id",
    "version",
    "field",
    "was",
    "now",
    "correction_note",
    "corrected_at",
    "previous_release_at",
    "hours_since_previous",
    "headline",
)
_DTYPES = {name: "str" for name in COLUMNS} | {"version": "int64", "hours_since_previous": "float64"}


def month_key(month: str) -> str:
    """``corrections/<YYYY-MM>.json``: the rows of every correction released that month (UTC)."""
    return f"corrections/{month}.json"


def _hours_between(earlier: str | None, later: str) -> float:
    if earlier is None:
        return math.nan
    return round((instant(later) - instant(earlier)).total_seconds() / 3600, 2)


def rows_of(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per corrected field of each correction (a corrected record plus ``prev_released_at``),
    newest correction first, each correction's fields in the order it lists them. No pandas."""
    out = []
    for record in newest_first(entries):
        hours = _hours_between(record.get("prev_released_at"), record["released_at"])
        for change in record["changes"]:
            out.append(
                {
                    "incident_id": record["incident_id"],
                    "version": record["version"],
                    "field": change["field"],
                    "was": change["was"],
                    "now": change["now"],
                    "correction_note": record["correction_note"],
                    "corrected_at": record["released_at"],
                    "previous_release_at": record.get("prev_released_at"),
                    "hours_since_previous": None if math.isnan(hours) else hours,
                    "headline": record["headline"],
                }
            )
    return out


def with_rows(rows: list[dict[str, Any]], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with the rows of ``entries`` (corrections) added once, in the changelog's order:
    the same rows whatever order corrections are added in."""
    added = rows_of(entries)
    new = {(r["incident_id"], r["version"]) for r in added}
    kept = [r for r in rows if (r["incident_id"], r["version"]) not in new]
    # Stable sorts keep each correction's fields in the order it lists them.
    merged = sorted(kept + added, key=lambda r: (r["incident_id"], -r["version"]))
    return sorted(merged, key=lambda r: instant(r["corrected_at"]), reverse=True)


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    # Explicit dtypes so an empty changelog has the same columns and types as a full one.
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(_DTYPES)


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
    text_columns = [name for name in df.columns if name not in ("version", "hours_since_previous")]
    safe = df.assign(**{name: df[name].map(neutralise, na_action="ignore") for name in text_columns})
    return safe.to_csv(index=False, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC).encode("utf-8")


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
    df = pd.DataFrame(firsts + corrections, columns=list(SPEED_COLUMNS[:-1]))
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

"""Small private indexes the site-wide views are rendered from, so a release stays O(1).

A release never lists or reads the whole bucket. It reads its own incident's records
and two small objects, each updated with a compare-and-swap (``If-Match`` on the ETag):

- ``_state/catalog.json``: the incidents with the newest activity (bounded by
  ``index_window``), the newest ``feed_window`` records (site feeds), the months that
  have incidents, and every correction (the public changelog; grows with corrections,
  not with releases);
- ``_state/months/<YYYY-MM>.json``: every incident first released in that month (UTC),
  for the monthly archive pages.

``add`` and ``add_to_month`` are pure, idempotent and order-independent, so both are
functions of the set of records: :func:`build` over every ``v<N>.json`` gives the same
bytes as the incremental updates did.
"""

from __future__ import annotations

import json
from typing import Any

from .order import by_activity, newest_first
from .records import canonical, current_stage
from .storage import Store

KEY = "_state/catalog.json"
SCHEMA = "incident-catalog/2"


def month_key(month: str) -> str:
    return f"_state/months/{month}.json"


def empty() -> dict[str, Any]:
    return {"schema": SCHEMA, "incidents": {}, "months": [], "recent": [], "corrections": []}


def empty_month(month: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "month": month, "incidents": {}}


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(canonical(obj))


def month_of(records: list[dict[str, Any]]) -> str:
    """The month (UTC, ``YYYY-MM``) an incident belongs to: that of its first release."""
    return records[0]["released_at"][:7]


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the index pages show of an incident, from its history up to one version."""
    latest = records[-1]
    return {
        "incident_id": latest["incident_id"],
        "month": month_of(records),
        "first_released_at": records[0]["released_at"],
        "latest_version": latest["version"],
        "latest_released_at": latest["released_at"],
        "latest_sha256": latest["sha256"],
        "corrected_versions": [r["version"] for r in records if r["stage"] == "corrected"],
        **{k: latest[k] for k in ("headline", "summary", "location", "occurred_at", "agency")},
        "stage": current_stage(records),
    }


def _upsert(incidents: dict[str, Any], summary: dict[str, Any]) -> None:
    current = incidents.get(summary["incident_id"])
    if current is None or current["latest_version"] <= summary["latest_version"]:
        incidents[summary["incident_id"]] = summary


# What the changelog needs of a correction once it has left the corrections feeds' window.
_CORRECTION_KEEP = (
    "incident_id",
    "version",
    "stage",
    "released_at",
    "prev_released_at",
    "changes",
    "correction_note",
    "headline",
    "occurred_at",
    "sha256",
)


def _add_unsorted(out: dict[str, Any], records: list[dict[str, Any]]) -> None:
    record = records[-1]
    summary = summarize(records)
    _upsert(out["incidents"], summary)
    if summary["month"] not in out["months"]:
        out["months"].append(summary["month"])
    ident = (record["incident_id"], record["version"])
    if all((e["incident_id"], e["version"]) != ident for e in out["recent"]):
        out["recent"].append(record)
    if record["stage"] == "corrected" and all(
        (e["incident_id"], e["version"]) != ident for e in out["corrections"]
    ):
        prev = records[-2] if len(records) > 1 else None
        out["corrections"].append({**record, "prev_released_at": prev["released_at"] if prev else None})


def _normalise(out: dict[str, Any], feed_window: int, index_window: int) -> dict[str, Any]:
    """Fixed order and bounds; the result depends only on the set of records added."""
    active = by_activity(out["incidents"].values())[:index_window]
    out["incidents"] = {s["incident_id"]: s for s in sorted(active, key=lambda s: s["incident_id"])}
    out["months"] = sorted(set(out["months"]), reverse=True)
    out["recent"] = newest_first(out["recent"])[:feed_window]
    corrections = newest_first(out["corrections"])
    # Full records only where the corrections feeds show them; the changelog needs less, and
    # the catalog must not carry every corrected statement's body forever.
    out["corrections"] = corrections[:feed_window] + [
        {k: e[k] for k in _CORRECTION_KEEP} for e in corrections[feed_window:]
    ]
    return out


def add(
    catalog: dict[str, Any], records: list[dict[str, Any]], *, feed_window: int, index_window: int
) -> dict:
    """Return a new catalog that includes ``records[-1]`` (``records``: its history up to it)."""
    out = _copy(catalog)
    _add_unsorted(out, records)
    return _normalise(out, feed_window, index_window)


def replace_incident(
    catalog: dict[str, Any], records: list[dict[str, Any]], *, feed_window: int, index_window: int
) -> dict:
    """A new catalog whose copies of this incident's records are ``records`` (a redaction rewrote
    them), with ``records[-1]`` added."""
    out = _copy(catalog)
    iid = records[-1]["incident_id"]
    by_version = {r["version"]: r for r in records}

    def fresh(entry: dict[str, Any]) -> dict[str, Any]:
        if entry["incident_id"] != iid or entry["version"] not in by_version:
            return entry
        new = {**by_version[entry["version"]], **{k: entry[k] for k in ("prev_released_at",) if k in entry}}
        # Keep the shape: entries past the feeds' window hold only what the changelog needs.
        return {k: new[k] for k in entry} if set(entry) <= set(_CORRECTION_KEEP) else new

    out["recent"] = [fresh(e) for e in out["recent"]]
    out["corrections"] = [fresh(e) for e in out["corrections"]]
    if iid in out["incidents"]:
        del out["incidents"][iid]
    _add_unsorted(out, records)
    return _normalise(out, feed_window, index_window)


def add_to_month(shard: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    out = _copy(shard)
    _upsert(out["incidents"], summarize(records))
    return out


def build(
    records_by_incident: dict[str, list[dict[str, Any]]], *, feed_window: int, index_window: int
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The catalog and the month shards, from every record.

    One pass without copying or sorting per record (``add`` does both, for one record);
    the result is the same because ``_normalise`` depends only on the set of records.
    """
    catalog: dict[str, Any] = empty()
    months: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, int]] = set()
    for iid in sorted(records_by_incident):
        records = records_by_incident[iid]
        for n, record in enumerate(records, 1):
            if (iid, record["version"]) in seen:
                continue
            seen.add((iid, record["version"]))
            summary = summarize(records[:n])
            _upsert(catalog["incidents"], summary)
            catalog["months"].append(summary["month"])
            catalog["recent"].append(record)
            if record["stage"] == "corrected":
                prev_at = records[n - 2]["released_at"] if n > 1 else None
                catalog["corrections"].append({**record, "prev_released_at": prev_at})
        month = month_of(records)
        months.setdefault(month, empty_month(month))
        _upsert(months[month]["incidents"], summarize(records))
    catalog = _copy(_normalise(catalog, feed_window, index_window))
    return catalog, {m: _copy(shard) for m, shard in sorted(months.items())}


def load(
    store: Store, key: str = KEY, default: dict[str, Any] | None = None
) -> tuple[dict[str, Any], str | None]:
    body, etag = store.get_with_etag(key)
    return (json.loads(body) if body is not None else (default or empty())), etag


def _swap(store: Store, key: str, default: dict[str, Any], change) -> dict[str, Any]:
    """Apply ``change`` to the stored object; safe under concurrent writers and retries."""
    while True:
        current, etag = load(store, key, default)
        updated = change(current)
        if etag is not None and updated == current:
            return current
        if store.put_if_match(key, canonical(updated), etag, public=False):
            return updated


def fold_in(
    store: Store,
    records: list[dict[str, Any]],
    *,
    feed_window: int,
    index_window: int,
    replace: bool = False,
) -> None:
    """Add the newest of ``records`` (one incident's history up to it) to catalog and month.

    ``replace``: the incident's records were rewritten by a redaction; every copy the catalog
    holds of them is replaced too.
    """
    change = replace_incident if replace else add
    _swap(
        store, KEY, empty(), lambda c: change(c, records, feed_window=feed_window, index_window=index_window)
    )
    month = month_of(records)
    _swap(store, month_key(month), empty_month(month), lambda m: add_to_month(m, records))


def save(store: Store, catalog: dict[str, Any], months: dict[str, dict[str, Any]]) -> None:
    store.put_if_changed(KEY, canonical(catalog), public=False)
    for month, shard in months.items():
        store.put_if_changed(month_key(month), canonical(shard), public=False)

"""The state the site-wide views are rendered from, each piece bounded, so a release stays O(1).

A release never lists or reads the whole bucket. It reads its own incident's records and
a few small objects, each updated with a compare-and-swap (``If-Match`` on the ETag):

- ``_state/catalog.json`` (private): the incidents with the newest activity (``index_window``),
  the newest ``feed_window`` records (site feeds) and corrections (corrections feeds and the head
  of the changelog), and the months and days that have incidents or corrections. Its size
  depends on the windows, not on the number of incidents or corrections ever published (the
  lists of days and months grow by one entry a day).
- ``archive/<YYYY-MM-DD>.json`` (public): every incident first released that day (UTC), as
  the day's archive page shows it. It is both the public listing and the state the page is
  rendered from; bounded by what one day brings.
- ``archive/<YYYY-MM>.json`` (public): the days of that month that have incidents.
- ``corrections/<YYYY-MM>.json`` (public, see :mod:`releases.changelog`): the changelog rows
  of every correction released that month.
- ``archive/releases-<YYYY-MM>.json`` (public, see :mod:`releases.changelog`): one row per
  version released that month (no submitted text).

Every change is a pure, idempotent, order-independent function of the set of records, so
:func:`build` over every ``v<N>.json`` gives the same bytes as the incremental updates did.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .errors import StorageFault
from .order import by_activity, newest_first
from .records import canonical, current_stage
from .storage import Store

KEY = "_state/catalog.json"
SCHEMA = "incident-catalog/3"
# Bound on compare-and-swap rounds against other releases changing the same object; past it the
# step fails as a fault and Airflow's retry tries again (a burst ends; the loop never spins forever).
MAX_SWAPS = 25


def empty() -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "incidents": {},
        "months": [],
        "days": [],
        "recent": [],
        "corrections": [],
        "correction_months": [],
        "release_months": [],
        "rendering": None,
    }


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(canonical(obj))


def day_of(records: list[dict[str, Any]]) -> str:
    """The day (UTC, ``YYYY-MM-DD``) an incident belongs to in the archive: that of its first release."""
    return records[0]["released_at"][:10]


def month_of(records: list[dict[str, Any]]) -> str:
    return day_of(records)[:7]


def day_key(day: str) -> str:
    return f"archive/{day}.json"


def month_key(month: str) -> str:
    return f"archive/{month}.json"


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
        # Only when the statement names one, so listings of statements without stay byte for byte the same.
        **({"language": latest["language"]} if latest.get("language") else {}),
        "stage": current_stage(records),
    }


def _upsert(incidents: dict[str, Any], summary: dict[str, Any], *, force: bool = False) -> None:
    current = incidents.get(summary["incident_id"])
    if force or current is None or current["latest_version"] <= summary["latest_version"]:
        incidents[summary["incident_id"]] = summary


def _correction_entry(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A correction (``records[-1]``, its history before it) as the changelog needs it: the record, and for
    each field it corrects when the wrong value was first published (:func:`wrong_since`)."""
    record = records[-1]
    return {
        **record,
        "wrong_since": {c["field"]: wrong_since(records, c["field"]) for c in record["changes"]},
    }


def wrong_since(records: list[dict[str, Any]], field: str) -> dict[str, Any] | None:
    """The version that first published the value ``records[-1]`` replaces in ``field``, and its release
    time: the start of the run of versions before it that all said what the version before it said (not
    the version before it, which may only have carried the wrong value over). None for a version 1."""
    if len(records) < 2:
        return None
    wrong = records[-2].get(field)
    first = len(records) - 2
    while first > 0 and records[first - 1].get(field) == wrong:
        first -= 1
    return {"version": records[first]["version"], "released_at": records[first]["released_at"]}


def _add_unsorted(out: dict[str, Any], records: list[dict[str, Any]]) -> None:
    record = records[-1]
    _upsert(out["incidents"], summarize(records))
    out["months"].append(month_of(records))
    out["days"].append(day_of(records))
    out.setdefault("release_months", []).append(record["released_at"][:7])
    ident = (record["incident_id"], record["version"])
    if all((e["incident_id"], e["version"]) != ident for e in out["recent"]):
        out["recent"].append(record)
    if record["stage"] == "corrected":
        out["correction_months"].append(record["released_at"][:7])
        if all((e["incident_id"], e["version"]) != ident for e in out["corrections"]):
            out["corrections"].append(_correction_entry(records))


def _normalise(out: dict[str, Any], feed_window: int, index_window: int) -> dict[str, Any]:
    """Fixed order and bounds; the result depends only on the set of records added."""
    active = by_activity(out["incidents"].values())[:index_window]
    out["incidents"] = {s["incident_id"]: s for s in sorted(active, key=lambda s: s["incident_id"])}
    for name in ("months", "days", "correction_months", "release_months"):
        # .get: a catalog stored before release_months existed (a rebuild fills it in)
        out[name] = sorted(set(out.get(name, [])), reverse=True)
    out["recent"] = newest_first(out["recent"])[:feed_window]
    out["corrections"] = newest_first(out["corrections"])[:feed_window]
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
        return {**by_version[entry["version"]], **{k: entry[k] for k in ("wrong_since",) if k in entry}}

    out["recent"] = [fresh(e) for e in out["recent"]]
    out["corrections"] = [fresh(e) for e in out["corrections"]]
    out["incidents"].pop(iid, None)
    _add_unsorted(out, records)
    return _normalise(out, feed_window, index_window)


# --- the archive's listings ---------------------------------------------------------------------


def empty_day(day: str) -> dict[str, Any]:
    return {"day": day, "incidents": []}


def add_to_day(listing: dict[str, Any], records: list[dict[str, Any]], *, replace: bool = False) -> dict:
    """The day's listing with this incident's summary (its newest; ``replace``: the one given)."""
    incidents = {s["incident_id"]: s for s in listing["incidents"]}
    _upsert(incidents, summarize(records), force=replace)
    return {"day": listing["day"], "incidents": by_activity(incidents.values())}


def month_listing(month: str, days: list[str]) -> dict[str, Any]:
    """``archive/<YYYY-MM>.json``: the month's days that have incidents, newest first."""
    return {"month": month, "days": sorted((d for d in set(days) if d.startswith(month + "-")), reverse=True)}


def listing_bytes(listing: dict[str, Any]) -> bytes:
    return json.dumps(listing, ensure_ascii=False, indent=1, sort_keys=True).encode() + b"\n"


# --- all of it, from every record --------------------------------------------------------------


def build(
    records_by_incident: dict[str, list[dict[str, Any]]], *, feed_window: int, index_window: int
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The catalog and the day listings (by day), from every record.

    One pass without copying or sorting per record (``add`` does both, for one record); the
    result is the same because ``_normalise`` depends only on the set of records.
    """
    catalog: dict[str, Any] = empty()
    days: dict[str, dict[str, Any]] = {}
    for iid in sorted(records_by_incident):
        records = records_by_incident[iid]
        for n in range(1, len(records) + 1):
            _add_unsorted_fast(catalog, records[:n])
        day = day_of(records)
        incidents = days.setdefault(day, {})
        _upsert(incidents, summarize(records))
    catalog = _copy(_normalise(catalog, feed_window, index_window))
    listings = {
        day: {"day": day, "incidents": by_activity(incidents.values())}
        for day, incidents in sorted(days.items())
    }
    return catalog, {d: _copy(listing) for d, listing in listings.items()}


def merge(parts: list[dict[str, Any]], *, feed_window: int, index_window: int) -> dict[str, Any]:
    """One catalog from catalogs built over disjoint sets of incidents: the one :func:`build` gives
    over all of them (each part keeps its top of every window, and the top of the union is among
    those)."""
    out = empty()
    for part in parts:
        out["incidents"].update(part["incidents"])
        for name in ("months", "days", "correction_months", "release_months", "recent", "corrections"):
            out[name] += part[name]
    return _copy(_normalise(out, feed_window, index_window))


def merge_days(parts: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Day listings built over disjoint sets of incidents, joined day by day."""
    incidents: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for day, listing in part.items():
            incidents.setdefault(day, []).extend(listing["incidents"])
    return {day: {"day": day, "incidents": by_activity(found)} for day, found in sorted(incidents.items())}


def _add_unsorted_fast(out: dict[str, Any], records: list[dict[str, Any]]) -> None:
    # build's version of _add_unsorted: each record comes once, so no duplicate checks.
    record = records[-1]
    _upsert(out["incidents"], summarize(records))
    out["months"].append(month_of(records))
    out["days"].append(day_of(records))
    out["release_months"].append(record["released_at"][:7])
    out["recent"].append(record)
    if record["stage"] == "corrected":
        out["correction_months"].append(record["released_at"][:7])
        out["corrections"].append(_correction_entry(records))


def month_listings(catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m: month_listing(m, catalog["days"]) for m in catalog["months"]}


# --- storage ------------------------------------------------------------------------------------


def load(store: Store, key: str = KEY, default: Any = None) -> tuple[Any, str | None]:
    body, etag = store.get_with_etag(key)
    if body is not None:
        return json.loads(body), etag
    return (empty() if default is None else default), etag


def swap(
    store: Store,
    key: str,
    default: dict[str, Any],
    change: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    encode: Callable[[dict[str, Any]], bytes] = canonical,
    public: bool = False,
    before: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``change`` to the stored object; safe under concurrent writers and retries.

    Returns (the object as read, the object as now stored). ``before(old, new)`` runs before each
    write attempt: for objects that must be written whenever this change is (a new day's month
    listing): if the swap loses the race it runs again on the newer state, and a crash before the
    swap leaves the change unmade, so a retry runs it again.
    """
    for _ in range(MAX_SWAPS):
        current, etag = load(store, key, default)
        updated = change(current)
        if etag is not None and updated == current:
            return current, current
        if before is not None:
            before(current, updated)
        if store.put_if_match(key, encode(updated), etag, public=public):
            return current, updated
    raise StorageFault(
        f"{key}: changed by other releases during each of {MAX_SWAPS} attempts to update it; "
        "the task's retry updates it again"
    )


def save(store: Store, catalog: dict[str, Any], days: dict[str, dict[str, Any]]) -> list[str]:
    """Write the catalog and every listing (a rebuild); only what differs."""
    written = []
    if store.put_if_changed(KEY, canonical(catalog), public=False):
        written.append(KEY)
    listings = {day_key(d): listing for d, listing in days.items()}
    listings.update({month_key(m): listing for m, listing in month_listings(catalog).items()})
    for key, listing in listings.items():
        if store.put_if_changed(key, listing_bytes(listing)):
            written.append(key)
    return written

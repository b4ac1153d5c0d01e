"""The catalog: a small private index that the site-wide views are rendered from.

A release never lists or reads the whole bucket. It folds its new record into
``_state/catalog.json`` with a compare-and-swap (``If-Match`` on the ETag) and renders
the site index, the site feeds and the changelog from that object alone.

``add`` is pure, idempotent and order-independent, so the catalog is a function of the
set of records: :func:`build` over every ``v<N>.json`` gives the same bytes as the
incremental updates did.
"""

from __future__ import annotations

import json
from typing import Any

from .ledger import canonical
from .storage import Store

KEY = "_state/catalog.json"
SCHEMA = "incident-catalog/1"


def empty() -> dict[str, Any]:
    return {"schema": SCHEMA, "incidents": {}, "recent": [], "corrections": []}


def _newest_first(entry: dict[str, Any]) -> tuple:
    # Negated keys would not work on strings; sort ascending on an inverted tuple instead.
    return (entry["released_at"], entry["incident_id"], entry["version"])


def add(catalog: dict[str, Any], record: dict[str, Any], prev: dict[str, Any] | None, window: int) -> dict:
    """Return a new catalog that includes ``record`` (``prev`` is the version before it)."""
    out = json.loads(canonical(catalog))  # deep copy; the input is never mutated
    iid, version = record["incident_id"], record["version"]
    summary = out["incidents"].get(iid) or {
        "incident_id": iid,
        "first_released_at": None,
        "corrected_versions": [],
        "latest_version": 0,
    }
    if version == 1:
        summary["first_released_at"] = record["released_at"]
    if record["stage"] == "corrected" and version not in summary["corrected_versions"]:
        summary["corrected_versions"] = sorted([*summary["corrected_versions"], version])
    if version >= summary["latest_version"]:
        summary.update(
            latest_version=version,
            stage=record["stage"],
            headline=record["headline"],
            summary=record["summary"],
            location=record["location"],
            occurred_at=record["occurred_at"],
            agency=record["agency"],
            latest_released_at=record["released_at"],
            latest_sha256=record["sha256"],
        )
    out["incidents"][iid] = summary

    ident = (iid, version)
    if all((e["incident_id"], e["version"]) != ident for e in out["recent"]):
        out["recent"].append(record)
    out["recent"] = sorted(out["recent"], key=_newest_first, reverse=True)[:window]

    if record["stage"] == "corrected" and all(
        (e["incident_id"], e["version"]) != ident for e in out["corrections"]
    ):
        out["corrections"].append({**record, "prev_released_at": prev["released_at"] if prev else None})
    out["corrections"] = sorted(out["corrections"], key=_newest_first, reverse=True)
    return out


def build(records_by_incident: dict[str, list[dict[str, Any]]], window: int) -> dict[str, Any]:
    catalog = empty()
    for iid in sorted(records_by_incident):
        prev = None
        for record in records_by_incident[iid]:
            catalog = add(catalog, record, prev, window)
            prev = record
    return catalog


def load(store: Store) -> tuple[dict[str, Any], str | None]:
    body, etag = store.get_with_etag(KEY)
    return (json.loads(body) if body is not None else empty()), etag


def fold_in(store: Store, record: dict[str, Any], prev: dict[str, Any] | None, window: int) -> dict:
    """Add ``record`` to the stored catalog; safe under concurrent writers and retries."""
    while True:
        current, etag = load(store)
        updated = add(current, record, prev, window)
        if etag is not None and updated == current:
            return current
        if store.put_if_match(KEY, canonical(updated), etag, public=False):
            return updated


def save(store: Store, catalog: dict[str, Any]) -> None:
    store.put_view(KEY, canonical(catalog), public=False)

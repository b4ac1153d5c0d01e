"""Whole-site operations that read every record: rebuild the views, verify the history.

Neither runs during a release (a release touches only its own incident and the
catalog); both are for operators and for anyone who wants to check the agency.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import catalog as catalog_mod
from . import ledger, views
from .settings import RENDERING, Settings
from .storage import IMMUTABLE, Store

Fetch = Callable[[str], bytes | None]
_INCIDENT_DIR = re.compile(r"^incidents/([A-Za-z0-9-]+)/")


def all_records(store: Store) -> dict[str, list[dict[str, Any]]]:
    ids = sorted({m[1] for key in store.list_keys("incidents/") if (m := _INCIDENT_DIR.match(key))})
    return {iid: ledger.history(store, iid) for iid in ids if ledger.version_numbers(store, iid)}


def rebuild(store: Store, settings: Settings) -> list[str]:
    """Regenerate every view (and any missing rendering) from the ``v<N>.json`` records alone."""
    written: list[str] = []
    by_incident = all_records(store)
    for records in by_incident.values():
        for record in records:
            # Renderings are immutable: recreate a missing one, never replace one that exists.
            for key, body in views.renderings(record, settings).items():
                if store.create(key, body, cache_control=IMMUTABLE):
                    written.append(key)
        for key, body in views.incident_views(records, settings).items():
            if store.put_view(key, body):
                written.append(key)
    catalog, months = catalog_mod.build(
        by_incident, feed_window=settings.feed_window, index_window=settings.index_window
    )
    catalog_mod.save(store, catalog, months)
    for key, body in site_views(catalog, months, settings).items():
        if store.put_view(key, body):
            written.append(key)
    # Last, as a release writes it: it says the corrections views above are current.
    store.put_view(views.CORRECTIONS_INPUTS, views.corrections_inputs(catalog, settings), public=False)
    return written


def site_views(catalog: dict, months: dict[str, dict], settings: Settings) -> dict[str, bytes]:
    out = views.site_views(catalog, settings)
    for shard in months.values():
        out.update(views.archive_views(shard, settings))
    return out


def http_fetcher(base_url: str) -> Fetch:
    """Anonymous plain-HTTP reads of the public objects: what any journalist can do."""
    base = base_url.rstrip("/")

    def fetch(key: str) -> bytes | None:
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {base}")
        try:
            with urllib.request.urlopen(f"{base}/{key}", timeout=30) as resp:  # http(s) checked above  # noqa: S310  # nosec B310
                return resp.read()
        except urllib.error.HTTPError as err:
            if err.code in (403, 404):
                return None
            raise

    return fetch


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    incidents: int = 0
    versions: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(fetch: Fetch, settings: Settings) -> Report:
    """Check every incident in the public monthly listings from public objects alone.

    The views are rebuilt with the agency's published rendering settings (``site.json``),
    not the verifier's own, so anyone can run this without knowing how the site is set up.
    """
    report = Report()
    published = fetch("site.json")
    if published is None:
        report.problems.append("site.json: missing; checking views with local settings")
    else:
        settings = replace(settings, **{k: v for k, v in json.loads(published).items() if k in RENDERING})
    listed = _listed_incidents(fetch, report)
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for iid, entry in sorted(listed.items()):
        records = _verify_chain(fetch, iid, report)
        report.incidents += 1
        if not records:
            continue
        by_incident[iid] = records
        if (
            records[-1]["version"] != entry["latest_version"]
            or records[-1]["sha256"] != entry["latest_sha256"]
        ):
            report.problems.append(
                f"archive: lists {iid} at version {entry['latest_version']}, "
                f"but its records end at version {records[-1]['version']}"
            )
        for record in records:
            _compare(fetch, views.renderings(record, settings), report)
        _compare(fetch, views.incident_views(records, settings), report)
    catalog, months = catalog_mod.build(
        by_incident, feed_window=settings.feed_window, index_window=settings.index_window
    )
    _compare(fetch, site_views(catalog, months, settings), report)
    return report


def _listed_incidents(fetch: Fetch, report: Report) -> dict[str, dict[str, Any]]:
    """Every incident named by ``index.json`` and the monthly ``archive/<YYYY-MM>.json``."""
    index_raw = fetch("index.json")
    if index_raw is None:
        report.problems.append("index.json: missing; cannot find the incidents")
        return {}
    index = json.loads(index_raw)
    listed = {e["incident_id"]: e for e in index["incidents"]}
    for month in index["months"]:
        raw = fetch(f"archive/{month}.json")
        if raw is None:
            report.problems.append(f"archive/{month}.json: missing")
            continue
        for entry in json.loads(raw)["incidents"]:
            listed[entry["incident_id"]] = entry
    return listed


def _verify_chain(fetch: Fetch, iid: str, report: Report) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    n = 1
    while True:
        key = ledger.record_key(iid, n)
        raw = fetch(key)
        if raw is None:
            break
        report.versions += 1
        try:
            record = json.loads(raw)
        except ValueError:
            report.problems.append(f"{key}: is not valid JSON")
            return records
        if not isinstance(record, dict) or raw != ledger.canonical(record):
            report.problems.append(f"{key}: is not in canonical form (changed bytes)")
            return records
        prev = records[-1]["sha256"] if records else None
        checks = [
            (record.get("incident_id") == iid, f"names incident {record.get('incident_id')!r}"),
            (record.get("version") == n, f"says it is version {record.get('version')!r}"),
            (record.get("sha256") == ledger.content_hash(record), "sha256 does not match its content"),
            (record.get("prev_sha256") == prev, "prev_sha256 does not match the previous version"),
        ]
        failed = [msg for ok, msg in checks if not ok]
        if failed:
            report.problems.extend(f"{key}: {msg}" for msg in failed)
            return records
        records.append(record)
        n += 1
    if n == 1:
        report.problems.append(f"incidents/{iid}/v1.json: missing")
    # A gap (v3 missing while v4 exists) would otherwise look like a shorter history.
    for later in range(n + 1, n + 4):
        if fetch(ledger.record_key(iid, later)) is not None:
            report.problems.append(f"{ledger.record_key(iid, n)}: missing, but version {later} exists")
            break
    return records


def _compare(fetch: Fetch, expected: dict[str, bytes], report: Report) -> None:
    for key, body in expected.items():
        actual = fetch(key)
        if actual is None:
            report.problems.append(f"{key}: missing")
        elif actual != body:
            report.problems.append(f"{key}: does not match what its records produce")

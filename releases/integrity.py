"""Whole-site operations that read every record: rebuild the views, verify the history.

Neither runs during a release (a release touches only its own incident and the
catalog); both are for operators and for anyone who wants to check the agency.

One incident whose records cannot be read or rendered (damaged, written by hand or by
an older version) never stops either for the whole site: it is reported by name, left
out, and every other incident is rebuilt or checked as usual.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import catalog as catalog_mod
from . import ledger, redaction, render, tlog, views
from .errors import StorageFault
from .progress import Tick
from .records import canonical, content_hash
from .settings import RENDERING, Settings
from .storage import Store

Fetch = Callable[[str], bytes | None]
ListKeys = Callable[[str], list[str]]
_INCIDENT_DIR = re.compile(r"^incidents/([A-Za-z0-9-]+)/v[1-9][0-9]*\.json$")
# What reading or rendering one incident raises when its records are not what a release
# writes: not JSON, a value missing or of the wrong type, a gap in the versions.
INCIDENT_FAILURES = (StorageFault, *render.FAILURES)


def incident_ids(list_keys: ListKeys) -> list[str]:
    """Every incident that has at least one ``v<N>.json`` record."""
    return sorted({m[1] for key in list_keys("incidents/") if (m := _INCIDENT_DIR.match(key))})


def _failure(iid: str, exc: Exception) -> str:
    return f"incidents/{iid}: cannot be rendered from its records ({type(exc).__name__}: {exc})"[:300]


def _render_incident(
    records: list[dict[str, Any]], settings: Settings
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(immutable renderings, rebuildable views) of one incident; raises INCIDENT_FAILURES."""
    renderings: dict[str, bytes] = {}
    for record in records:
        renderings.update(views.renderings(record, settings))
    return renderings, views.incident_views(records, settings)


@dataclass
class Rebuilt:
    written: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rendered: int = 0  # incidents whose page and feeds were rendered
    unchanged: int = 0  # incidents whose records and views were as the last rebuild left them (not rendered)
    requests: Counter = field(default_factory=Counter)  # worker processes' S3 requests, by operation


def rebuild(
    store: Store,
    settings: Settings,
    signer: tlog.Signer | None = None,
    progress: Tick | None = None,
    *,
    workers: int | None = 1,
    full: bool = False,
) -> Rebuilt:
    """Regenerate every view from the records: see :mod:`releases.rebuild`."""
    from . import rebuild as rebuild_mod

    return rebuild_mod.rebuild(store, settings, signer, progress, workers=workers, full=full)


def site_views(
    catalog: dict, days: dict[str, dict], by_incident: dict[str, list[dict]], settings: Settings
) -> dict[str, bytes]:
    """Every site-wide view as the records produce it (the archive listings included)."""
    rows = views.month_rows(views.correction_entries(by_incident.values()), settings)
    return views.all_views(catalog, days, rows, settings, views.release_rows(by_incident.values()))


def http_fetcher(base_url: str) -> Fetch:
    """Anonymous plain-HTTP reads of the public objects: what any journalist can do."""
    base = base_url.rstrip("/")

    def fetch(key: str) -> bytes | None:
        if not base.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {base}")
        try:
            with urllib.request.urlopen(f"{base}/{key}", timeout=30) as resp:  # http(s) checked above  # noqa: S310
                return resp.read()
        except urllib.error.HTTPError as err:
            if err.code in (400, 403, 404):  # 400: a key the store will not name (a path trick in a listing)
                return None
            raise

    return fetch


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    incidents: int = 0
    versions: int = 0
    # One line per recorded redaction: not a failure, but every reader should see it.
    redactions: list[str] = field(default_factory=list)
    # Version pages rendered with other templates or settings than today's (a new site title...): they
    # keep the look of the day they were released; their records are still checked. Not failures.
    renderings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    fetch: Fetch, settings: Settings, list_keys: ListKeys | None = None, progress: Tick | None = None
) -> Report:
    """Check every incident in the public monthly listings from public objects alone.

    The views are rebuilt with the agency's published rendering settings (``site.json``),
    not the verifier's own, so anyone can run this without knowing how the site is set up.
    With ``list_keys`` (the bucket itself, read with credentials) every incident that has
    records is checked too, and one that no listing names is reported: the public cannot
    find it (a release that stopped before its views were written, say).
    """
    report = Report()
    fetch = _json_read_once(fetch)
    published = fetch("site.json")
    if published is None:
        report.problems.append("site.json: missing; checking views with local settings")
    else:
        settings = replace(settings, **{k: v for k, v in json.loads(published).items() if k in RENDERING})
    listed: dict[str, dict[str, Any] | None] = dict(_listed_incidents(fetch, report))
    if list_keys is not None:
        for iid in incident_ids(list_keys):
            if iid not in listed:
                report.problems.append(
                    f"incidents/{iid}: has records, but neither index.json nor the archive "
                    "lists it (run releases rebuild)"
                )
                listed[iid] = None
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for done, (iid, entry) in enumerate(sorted(listed.items()), 1):
        if progress:
            progress(done, len(listed))
        records = _verify_chain(fetch, iid, report)
        report.incidents += 1
        if not records:
            continue
        report.redactions.extend(redaction.summary(records))
        report.problems.extend(redaction.check(records))
        if entry is not None and (
            records[-1]["version"] != entry["latest_version"]
            or records[-1]["sha256"] != entry["latest_sha256"]
        ):
            report.problems.append(
                f"archive: lists {iid} at version {entry['latest_version']} (sha256 {entry['latest_sha256'][:16]}…), "
                f"but its records end at version {records[-1]['version']} (sha256 {records[-1]['sha256'][:16]}…)"
            )
        try:
            renderings, incident_views = _render_incident(records, settings)
        except INCIDENT_FAILURES as exc:
            report.problems.append(_failure(iid, exc) + "; its pages and feeds were not checked")
            continue
        by_incident[iid] = records
        _compare(fetch, incident_views, report, _changed_since(records[-1], settings))
        _compare_renderings(fetch, records, renderings, settings, report)
    catalog, days = catalog_mod.build(
        by_incident, feed_window=settings.feed_window, index_window=settings.index_window
    )
    last = last_renderers(by_incident)
    for key, body in site_views(catalog, days, by_incident, settings).items():
        record = last.get(key)
        _compare(fetch, {key: body}, report, _changed_since(record, settings) if record else "")
    _check_log(fetch, by_incident, report)
    return report


def last_renderers(by_incident: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """For each site-wide page, the record whose release last rendered it (see ``views``): a release
    renders its incident's day, the front page and feeds, a new day's month page, and a correction
    its month's changelog. A page last rendered before new templates or settings keeps its old look
    until something renders it again (or ``releases rebuild``): verify reports that, not tampering."""
    from .order import newest_first

    records = [r for rs in by_incident.values() for r in rs]
    if not records:
        return {}
    out: dict[str, dict[str, Any]] = {}
    newest = newest_first(records)[0]
    for key in ("index.html", "rss.xml", "atom.xml", "corrections/index.html", "corrections.rss.xml"):
        out[key] = newest
    out["corrections.atom.xml"] = newest
    by_day: dict[str, list[dict[str, Any]]] = {}
    for rs in by_incident.values():
        by_day.setdefault(catalog_mod.day_of(rs), []).extend(rs)
    for day, found in by_day.items():
        out[f"archive/{day}.html"] = newest_first(found)[0]
    months: dict[str, str] = {}
    for day in by_day:
        months[day[:7]] = max(months.get(day[:7], day), day)
    for month, day in months.items():
        firsts = [r for r in by_day[day] if r["version"] == 1]
        out[f"archive/{month}.html"] = newest_first(firsts)[-1] if firsts else newest
    for record in newest_first(r for r in records if r["stage"] == "corrected"):
        month = record["released_at"][:7]
        out.setdefault(f"corrections/{month}.html", record)
        # Its rows keep the incidents' URLs of the day each correction was folded in (the site's address
        # is a setting): the data files are as new as their oldest correction.
        for ext in ("json", "csv", "excel.csv"):
            out[f"corrections/{month}.{ext}"] = record
    return out


def _json_read_once(fetch: Fetch) -> Fetch:
    """``fetch`` that reads each JSON object once: the chains, the listings and the log's checks all read
    the records, ``site.json`` and the listings (each one GET, not two, over HTTP). Pages and feeds, read
    once each, are not kept."""
    seen: dict[str, bytes | None] = {}

    def read(key: str) -> bytes | None:
        if not key.endswith(".json"):
            return fetch(key)
        if key not in seen:
            seen[key] = fetch(key)
        return seen[key]

    return read


def _check_log(fetch: Fetch, by_incident: dict[str, list[dict[str, Any]]], report: Report) -> None:
    """Where the site keeps a signed log, every record must be the one logged (the witness's checks,
    without a saved checkpoint): a record rewritten with the writer's credentials alone is caught,
    because they cannot sign a new log. Records not logged yet (a release in progress) are noted."""
    from . import witness

    site = json.loads(fetch("site.json") or b"{}")
    if isinstance(site, dict) and site.get("log_key") and witness.published_key(fetch) != site["log_key"]:
        report.problems.append(
            "keys.json: does not name the signing key the site's pages show (site.json log_key)"
        )
    if fetch(tlog.HEAD) is None:
        if isinstance(site, dict) and site.get("log_key"):
            report.problems.append(
                f"{tlog.HEAD}: missing, though the site says its records are logged and signed"
            )
        return
    found = witness.witness(fetch, None)
    report.problems.extend(found.problems)
    if not found.ok:
        return
    logged = {(leaf["incident_id"], leaf["version"]) for leaf in found.leaves if "incident_id" in leaf}
    for iid, records in sorted(by_incident.items()):
        for record in records:
            if (iid, record["version"]) not in logged:
                report.notes.append(
                    f"{ledger.record_key(iid, record['version'])}: not in the signed log yet "
                    "(a release in progress, or a record the agency's log never saw)"
                )


def _listed_incidents(fetch: Fetch, report: Report) -> dict[str, dict[str, Any]]:
    """Every incident named by ``index.json`` and the archive: ``archive/<YYYY-MM>.json`` lists the
    month's days, ``archive/<YYYY-MM-DD>.json`` the day's incidents."""
    index_raw = fetch("index.json")
    if index_raw is None:
        report.problems.append("index.json: missing; cannot find the incidents")
        return {}
    index = json.loads(index_raw)
    listed = {e["incident_id"]: e for e in index["incidents"]}
    for entry in archive_entries(fetch, index, report.problems):
        listed[entry["incident_id"]] = entry
    return listed


def archive_entries(fetch: Fetch, index: dict[str, Any], problems: list[str]):
    """The entries of every day listing the archive reaches from ``index.json``'s months; what is
    missing or malformed on the way is added to ``problems``."""
    for month in index.get("months", []):
        if not (isinstance(month, str) and re.fullmatch(r"\d{4}-\d{2}", month)):
            problems.append(f"index.json: lists a month that is not YYYY-MM: {str(month)[:40]!r}")
            continue
        raw = fetch(catalog_mod.month_key(month))
        if raw is None:
            problems.append(f"{catalog_mod.month_key(month)}: missing")
            continue
        for day in json.loads(raw).get("days", []):
            if not (isinstance(day, str) and re.fullmatch(rf"{month}-\d{{2}}", day)):
                problems.append(
                    f"{catalog_mod.month_key(month)}: lists a day not in {month}: {str(day)[:40]!r}"
                )
                continue
            raw_day = fetch(catalog_mod.day_key(day))
            if raw_day is None:
                problems.append(f"{catalog_mod.day_key(day)}: missing")
                continue
            yield from json.loads(raw_day).get("incidents", [])


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
        if not isinstance(record, dict) or raw != canonical(record):
            report.problems.append(f"{key}: is not in canonical form (changed bytes)")
            return records
        prev = records[-1]["sha256"] if records else None
        checks = [
            (record.get("incident_id") == iid, f"names incident {record.get('incident_id')!r}"),
            (record.get("version") == n, f"says it is version {record.get('version')!r}"),
            (record.get("sha256") == content_hash(record), "sha256 does not match its content"),
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


def _compare_renderings(
    fetch: Fetch,
    records: list[dict[str, Any]],
    expected: dict[str, bytes],
    settings: Settings,
    report: Report,
) -> None:
    """Version pages: exact, unless the record says they were rendered with other templates or
    settings than the ones in force now; then the difference is reported as such, not as tampering."""
    for record in records:
        _compare(
            fetch,
            {key: expected[key] for key in views.renderings(record, settings)},
            report,
            _changed_since(record, settings),
            "rendered on the day it was released, with other {} than today's; its record is checked, "
            "the page keeps its look",
        )


def _changed_since(record: dict[str, Any], settings: Settings) -> str:
    """What the record says its pages were rendered with that differs from today ("" if nothing)."""
    then, today = record.get("rendering") or {}, views.stamp(settings)
    names = {"templates": "templates", "site": "site settings (site.json)"}
    return " and ".join(names[w] for w in names if then.get(w) and then[w] != today[w])


def _compare(
    fetch: Fetch,
    expected: dict[str, bytes],
    report: Report,
    changed: str = "",
    because: str = "last rendered with other {} than today's (releases rebuild renders it again)",
) -> None:
    """Each view exactly as its records produce it; where ``changed`` names templates or settings that
    changed since it was rendered, a difference is reported as that, not as tampering."""
    for key, body in expected.items():
        actual = fetch(key)
        if actual is None:
            report.problems.append(f"{key}: missing")
        elif actual != body and changed:
            report.renderings.append(f"{key}: {because.format(changed)}")
        elif actual != body:
            report.problems.append(f"{key}: does not match what its records produce")

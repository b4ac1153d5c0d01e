"""``releases rebuild``: every view again from the ``v<N>.json`` records, in parallel, in bounded memory.

1. One listing of ``incidents/`` (keys and ETags), one of ``archive/`` and ``corrections/``: which
   records exist, which renderings are missing, what each view holds now (its ETag is the MD5 of its
   bytes), so nothing is asked about object by object.
2. The incidents in chunks, each chunk by a worker process (``workers``; one process per core by
   default) with its own S3 client: read its records (threads), create missing renderings, render
   the incident's page and feeds and write those whose bytes differ from what is stored. A chunk
   returns only its part of the site-wide state: a catalog bounded by the windows, its incidents'
   day listings and its corrections (:func:`releases.catalog.merge` joins the parts; the result is
   the one :func:`releases.catalog.build` gives over every record).
3. The site-wide views from the merged state, written in parallel where their bytes differ.

With ``workers=1`` everything runs in this process (tests, and stores a child process cannot
reach, such as an in-memory mock).
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from . import catalog as catalog_mod
from . import ledger, tlog, views
from .errors import StorageFault
from .integrity import INCIDENT_FAILURES, Rebuilt, _failure
from .progress import Tick
from .records import canonical, content_hash
from .settings import Settings
from .storage import IMMUTABLE, Store, etag_of, retry_config

CHUNK = 250  # incidents per work item: big enough to amortise a process hop, small enough to show progress
READERS = 8  # parallel GETs of records inside one worker
LAST = "\U0010ffff"  # sorts after every key name under an incident


@dataclass
class Part:
    """What one chunk of incidents contributes to the site-wide views (bounded by the windows and by
    the chunk's own days and corrections)."""

    written: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    catalog: dict[str, Any] = field(default_factory=catalog_mod.empty)
    days: dict[str, dict[str, Any]] = field(default_factory=dict)
    corrections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    releases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    unlogged: list[dict[str, Any]] = field(default_factory=list)
    incidents: int = 0


def _chunk(
    store: Store | None,
    settings: Settings,
    ids: list[str],
    after: str | None,
    logged: set[tuple[str, int]] | None,
) -> Part:
    """Rebuild one chunk of incidents (``ids``, in key order): its own part of the listing, its records, its views."""
    store = store or _worker_store(settings)
    part = Part()
    # Keys sort by incident: this chunk's stretch of the listing starts after the last key of the
    # incident before it (``after``) and ends before the next one's. (After a key, not after a bare
    # id: SeaweedFS then skips that id's "folder" altogether.)
    start = f"incidents/{after}/{LAST}" if after else ""
    etags = store.etags("incidents/", start_after=start, stop_at=f"incidents/{ids[-1]}0")
    mine = set(ids)
    etags = {k: v for k, v in etags.items() if k.split("/")[1] in mine}
    numbers = _versions(etags)
    work = [(iid, numbers.get(iid, [])) for iid in ids]

    def read(item: tuple[str, list[int]]):
        iid, numbers = item
        try:
            return iid, [ledger.load_record(store, iid, n) for n in numbers], None
        except INCIDENT_FAILURES as exc:
            return iid, None, exc

    # Read the whole chunk first, then render: rendering while reader threads run makes every GIL
    # hand-over wait (hashing and serialising release the GIL), which cost more than the reads (measured).
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        read_back = list(pool.map(read, work))
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for iid, records, exc in read_back:
        part.incidents += 1
        try:
            if exc is not None:
                raise exc
            if [r["version"] for r in records] != list(range(1, len(records) + 1)):
                raise StorageFault(f"its versions are not 1 to {len(records)}")
            # Renderings are immutable: recreate a missing one, never replace (so never render) one that exists.
            missing: dict[str, bytes] = {}
            for record in records:
                keys = [ledger.record_key(iid, record["version"], ext) for ext in ("html", "txt")]
                if any(k not in etags for k in keys):
                    missing.update(views.renderings(record, settings))
            missing = {k: v for k, v in missing.items() if k not in etags}
            incident_views = views.incident_views(records, settings)
        except INCIDENT_FAILURES as failure:
            part.problems.append(_failure(iid, failure) + "; its objects were left as they are")
            continue
        by_incident[iid] = records
        part.written += [k for k in missing if store.create(k, missing[k], cache_control=IMMUTABLE)]
        changed = {k: v for k, v in incident_views.items() if etags.get(k) != etag_of(v)}
        part.written += store.put_all(changed)
        if logged is not None:
            part.unlogged += [
                r for r in records if (iid, r["version"]) not in logged and content_hash(r) == r["sha256"]
            ]
    part.catalog, part.days = catalog_mod.build(
        by_incident, feed_window=settings.feed_window, index_window=settings.index_window
    )
    part.corrections = views.correction_entries(by_incident.values())
    part.releases = views.release_rows(by_incident.values())
    return part


def _worker_store(settings: Settings) -> Store:
    """A worker process's own client. It lists every key of its incidents and never reads a listing's
    LastModified, so timestamps stay unparsed (about a quarter of a listing's CPU, measured)."""
    import boto3
    import botocore.session

    core = botocore.session.Session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    client = boto3.Session(botocore_session=core).client(
        "s3",
        endpoint_url=settings.s3_endpoint or None,
        region_name=settings.region,
        config=retry_config(settings),
    )
    return Store(client, settings.bucket)


def _versions(etags: dict[str, str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for key in etags:
        if m := ledger.VERSION_KEY.match(key):  # incidents/<id>/v<N>.json
            found.setdefault(m["id"], []).append(int(m["n"]))
    return {iid: sorted(ns) for iid, ns in sorted(found.items())}


def rebuild(
    store: Store,
    settings: Settings,
    signer: tlog.Signer | None = None,
    progress: Tick | None = None,
    *,
    workers: int | None = 1,
) -> Rebuilt:
    """Regenerate every view (and any missing rendering) from the ``v<N>.json`` records alone.

    An incident that cannot be read or rendered is reported in ``problems``, its objects are left as
    they are and the site-wide views leave it out; the rest is rebuilt. ``workers``: processes
    (None: one per core); 1 runs everything here.
    """
    out = Rebuilt()
    # In key order ("<id>/" sorted), so each chunk's keys are one stretch of the listing.
    ids = [p.split("/")[1] for p in sorted(store.prefixes("incidents/"))]
    logged = tlog.logged(store) if signer is not None else None
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    workers = workers or os.cpu_count() or 1
    parts: list[Part] = []
    done = 0
    with _executor(workers) as pool:
        futures = [
            pool.submit(
                _chunk,
                store if workers == 1 else None,
                settings,
                chunk,
                chunks[n - 1][-1] if n else None,
                {x for x in logged if x[0] in set(chunk)} if logged is not None else None,
            )
            for n, chunk in enumerate(chunks)
        ]
        for future in as_completed(futures):
            part = future.result()
            parts.append(part)
            done += part.incidents
            if progress:
                progress(done, len(ids))
    for part in parts:
        out.written += part.written
        out.problems += part.problems
    out.problems.sort()
    windows = {"feed_window": settings.feed_window, "index_window": settings.index_window}
    catalog = catalog_mod.merge([p.catalog for p in parts], **windows)
    days = catalog_mod.merge_days([p.days for p in parts])
    entries: dict[str, list[dict[str, Any]]] = {}
    releases: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for month, found in part.corrections.items():
            entries.setdefault(month, []).extend(found)
        for month, rows in part.releases.items():
            releases.setdefault(month, []).extend(rows)
    from . import changelog

    releases = {month: changelog.sort_releases(rows) for month, rows in sorted(releases.items())}
    catalog["rendering"] = views.rendering_digest(settings)  # what the views below are
    stored = {**store.etags("archive/"), **store.etags("corrections/")}
    site = views.all_views(catalog, days, views.month_rows(entries, settings), settings, releases)
    site.update({catalog_mod.day_key(d): catalog_mod.listing_bytes(listing) for d, listing in days.items()})
    changed = {k: v for k, v in site.items() if k.startswith(("archive/", "corrections/"))}
    changed = {k: v for k, v in changed.items() if stored.get(k) != etag_of(v)}
    out.written += store.put_all(changed)
    root = {k: v for k, v in site.items() if "/" not in k}  # the front page, feeds, index.json, site.json
    out.written += store.put_all(root, if_changed=True)
    if store.put_if_changed(catalog_mod.KEY, canonical(catalog), public=False):
        out.written.append(catalog_mod.KEY)
    if signer is not None:
        # The operator's catch-up: records not logged yet (written before the log existed, say), after a
        # chain check, and the settings now in force.
        missing = sorted(
            (r for p in parts for r in p.unlogged), key=lambda r: (r["incident_id"], r["version"])
        )
        tlog.append(store, missing, settings, signer)
    else:
        out.warnings += _settings_not_logged(store, settings)
    return out


def _settings_not_logged(store: Store, settings: Settings) -> list[str]:
    head = store.get(tlog.HEAD)
    if head is not None and json.loads(head).get("site") != tlog.site_hash(settings):
        return [
            "site.json: now holds settings the log has not recorded, so witnesses will report it replaced; "
            "run releases rebuild --signing-key FILE (or make a release) to log them"
        ]
    return []


def _executor(workers: int) -> Executor:
    if workers == 1:
        return ThreadPoolExecutor(max_workers=1)
    # spawn, not fork: the parent may hold threads (progress, botocore), which fork does not copy safely.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

"""``releases rebuild``: every view again from the ``v<N>.json`` records, in parallel, in bounded memory.

1. One delimiter listing of ``incidents/`` names the incidents; they go in chunks of ``CHUNK`` to worker
   processes (``workers``; one per core by default), each with its own S3 client, made once per process.
2. A worker lists its chunk's stretch of ``incidents/`` (keys and ETags: the ETag of an object written in one
   PUT is the MD5 of its bytes, so nothing is asked about object by object), reads the chunk's records
   (threads), renders what it must, then writes (threads) the missing renderings and the views whose bytes
   differ from what is stored. A chunk returns only its part of the site-wide state: a catalog bounded by the
   windows, its incidents' day listings, its corrections and release rows (:func:`releases.catalog.merge`
   joins the parts; the result is the one :func:`releases.catalog.build` gives over every record). The
   parent never holds more than one chunk's results at a time beyond those parts.
3. The site-wide views from the merged state, written in parallel where their bytes differ.
4. ``_state/rendered.json`` (private): for each incident, one digest of the bytes of its records as read and
   of its views as stored, when this rebuild rendered or checked them, under a digest of the renderer.

**What is skipped.** By default an incident's page and feeds are not rendered again when the renderer is the
one ``_state/rendered.json`` names (templates, the rendering settings, this package's code and the versions
of the libraries that render) and the incident's digest there still matches: the same record bytes (read
and hashed on every run) and the same view bytes (their ETags in this run's listing). Those views are then
exactly what rendering would give again. A view changed or deleted by anyone, a new record, a new template
or setting, other code: the incident is rendered and what differs is written. ``full=True``
(``releases rebuild --full``) renders every incident whatever the file says: for a bucket restored from a
backup, or whenever ``_state/`` may have been written by someone else.

With ``workers=1`` everything runs in this process (tests, and stores a child process cannot reach, such as
an in-memory mock).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import sys
import threading
from collections import Counter
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import catalog as catalog_mod
from . import ledger, tlog, views
from .errors import StorageFault
from .integrity import INCIDENT_FAILURES, Rebuilt, _failure
from .progress import Tick
from .records import canonical, content_hash
from .settings import Settings
from .storage import IMMUTABLE, Store, etag_of, retry_config

CHUNK = 100  # incidents per work item: enough to amortise a process hop, few enough for steady progress
READERS = 8  # parallel GETs of records inside one worker
WRITERS = 8  # parallel PUTs inside one worker
LAST = "\U0010ffff"  # sorts after every key name under an incident
MANIFEST = "_state/rendered.json"
# Besides the records and the code and templates, what the bytes of a view depend on.
LIBRARIES = ("jinja2", "markupsafe", "feedgen", "lxml", "python-dateutil", "tzdata")
_VERSION_OBJECT = re.compile(r"/v[1-9][0-9]*\.(json|html|txt)$")


class RebuildStopped(Exception):
    """A failure that is not one incident's records (the store refused a write after its retries, a worker
    process died, a fault in the code): the rebuild stops and says where."""

    def __init__(self, where: str, detail: str) -> None:
        super().__init__(where, detail)  # both in args: it crosses from a worker process by pickling
        self.where, self.detail = where, detail

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}"


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
    rendered: int = 0  # incidents whose page and feeds were rendered (the others: unchanged)
    digests: dict[str, str] = field(default_factory=dict)  # for _state/rendered.json
    requests: Counter = field(default_factory=Counter)  # a worker process's own S3 requests, by operation


# -- in a worker ----------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # this worker process's store and request counts


def _start_worker(settings: Settings) -> None:
    """A worker process's own client, made once. It never reads a listing's LastModified, so timestamps
    stay unparsed (about a quarter of a listing's CPU, measured)."""
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
    counts: Counter = Counter()
    lock = threading.Lock()  # readers and writers send from threads; a Counter's += is not atomic

    def count(event_name: str, **_: Any) -> None:
        with lock:
            counts[event_name.rsplit(".", 1)[-1]] += 1

    client.meta.events.register("before-send.s3.*", count)
    _WORKER.update(store=Store(client, settings.bucket), requests=counts)


def _chunk(
    store: Store | None,
    settings: Settings,
    ids: list[str],
    after: str | None,
    logged: set[tuple[str, int]] | None,
    known: dict[str, str] | None,
) -> Part:
    """Rebuild one chunk of incidents (``ids``, in key order). ``store`` None: this worker process's own.
    ``known``: the chunk's digests from ``_state/rendered.json`` (None: render every incident)."""
    where = [f"incidents/{ids[0]} to {ids[-1]}"]  # what is being worked on, for a failure's message
    try:
        if store is None:
            _WORKER["requests"].clear()
            part = _rebuild_chunk(_WORKER["store"], settings, ids, after, logged, known, where)
            part.requests = Counter(_WORKER["requests"])
            return part
        return _rebuild_chunk(store, settings, ids, after, logged, known, where)
    except RebuildStopped:
        raise
    except Exception as exc:  # noqa: BLE001  (re-raised: named, with the incident it stopped at)
        raise RebuildStopped(where[0], f"{type(exc).__name__}: {exc}"[:400]) from exc


def _rebuild_chunk(
    store: Store,
    settings: Settings,
    ids: list[str],
    after: str | None,
    logged: set[tuple[str, int]] | None,
    known: dict[str, str] | None,
    where: list[str],
) -> Part:
    part = Part()
    # Keys sort by incident: this chunk's stretch of the listing starts after the last key of the
    # incident before it (``after``) and ends before the next one's. (After a key, not after a bare
    # id: SeaweedFS then skips that id's "folder" altogether.)
    start = f"incidents/{after}/{LAST}" if after else ""
    listed: dict[str, dict[str, str]] = {iid: {} for iid in ids}
    for key, etag in store.etags("incidents/", start_after=start, stop_at=f"incidents/{ids[-1]}0").items():
        if (mine := listed.get(key.split("/")[1])) is not None:
            mine[key] = etag
    numbers = _versions(listed)

    def read(iid: str):
        try:
            return iid, *_read(store, iid, numbers.get(iid, [])), None
        except INCIDENT_FAILURES as exc:
            return iid, None, None, exc
        except Exception as exc:  # noqa: BLE001  (not this incident's records: stops the rebuild, by name)
            raise RebuildStopped(
                f"incidents/{iid}", f"reading its records: {type(exc).__name__}: {exc}"
            ) from exc

    # Read the whole chunk first, then render: rendering while reader threads run makes every GIL
    # hand-over wait (hashing and serialising release the GIL), which cost more than the reads (measured).
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        read_back = list(pool.map(read, ids))
    by_incident: dict[str, list[dict[str, Any]]] = {}
    creates: dict[str, bytes] = {}
    puts: dict[str, bytes] = {}
    for iid, records, source, exc in read_back:
        where[0] = f"incidents/{iid}"
        part.incidents += 1
        etags = listed[iid]
        stored = _digest(source or "", {k: etags.get(k, "") for k in views.incident_view_keys(iid)})
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
            if known is not None and known.get(iid) == stored:
                incident_views = None  # records and views as a rebuild with this renderer left them
            else:
                incident_views = views.incident_views(records, settings)
        except INCIDENT_FAILURES as failure:
            part.problems.append(_failure(iid, failure) + "; its objects were left as they are")
            continue
        by_incident[iid] = records
        creates.update({k: v for k, v in missing.items() if k not in etags})
        if incident_views is None:
            part.digests[iid] = stored
        else:
            part.rendered += 1
            puts.update({k: v for k, v in incident_views.items() if etags.get(k) != etag_of(v)})
            part.digests[iid] = _digest(source, {k: etag_of(v) for k, v in incident_views.items()})
        if logged is not None:
            part.unlogged += [
                r for r in records if (iid, r["version"]) not in logged and content_hash(r) == r["sha256"]
            ]
    where[0] = f"incidents/{ids[0]} to {ids[-1]}"
    part.written += _write(store, creates, create=True) + _write(store, puts)
    part.catalog, part.days = catalog_mod.build(
        by_incident, feed_window=settings.feed_window, index_window=settings.index_window
    )
    part.corrections = views.correction_entries(by_incident.values())
    part.releases = views.release_rows(by_incident.values())
    return part


def _read(store: Store, iid: str, numbers: list[int]) -> tuple[list[dict[str, Any]], str]:
    """The incident's records, and a digest of their bytes as read (what its views are rendered from)."""
    records, source = [], hashlib.sha256()
    for n in numbers:
        key = ledger.record_key(iid, n)
        body = store.get(key)
        if body is None:
            raise StorageFault(f"{key} is listed but cannot be read")
        source.update(f"{key} {len(body)}\n".encode() + body)
        records.append(json.loads(body))
    return records, source.hexdigest()


def _digest(source: str, view_etags: dict[str, str]) -> str:
    """An incident's entry in ``_state/rendered.json``: its records' bytes and its views' ETags."""
    return hashlib.sha256(canonical({"records": source, "views": view_etags})).hexdigest()


def _write(store: Store, objects: dict[str, bytes], *, create: bool = False) -> list[str]:
    """Write ``objects`` in parallel (``create``: only where missing, as immutable renderings); the keys
    written. A write the store still refuses after botocore's retries stops the rebuild, naming its key."""
    if not objects:
        return []

    def one(item: tuple[str, bytes]) -> bool:
        key, body = item
        if create:
            return store.create(key, body, cache_control=IMMUTABLE)
        store.put(key, body)
        return True

    with ThreadPoolExecutor(max_workers=min(WRITERS, len(objects))) as pool:
        futures = {key: pool.submit(one, item) for key, item in zip(objects, objects.items(), strict=True)}
    written = []
    for key, future in futures.items():
        if (exc := future.exception()) is not None:
            raise RebuildStopped(
                "/".join(key.split("/")[:2]), f"writing {key}: {type(exc).__name__}: {exc}"[:400]
            ) from exc
        if future.result():
            written.append(key)
    return written


def _versions(listed: dict[str, dict[str, str]]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for keys in listed.values():
        for key in keys:
            if m := ledger.VERSION_KEY.match(key):  # incidents/<id>/v<N>.json
                found.setdefault(m["id"], []).append(int(m["n"]))
    return {iid: sorted(ns) for iid, ns in sorted(found.items())}


# -- in the parent ----------------------------------------------------------------------------------


def renderer(settings: Settings) -> str:
    """What the bytes of a view are a function of besides its records: the templates and rendering settings
    (:func:`views.rendering_digest`), this package's code, the versions of the libraries that render and
    of Python. ``_state/rendered.json`` is trusted only under the same digest."""
    code = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(__file__).parent.glob("*.py"))
    }
    libraries = {}
    for name in LIBRARIES:
        try:
            libraries[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libraries[name] = ""
    return hashlib.sha256(
        canonical(
            {
                "rendering": views.rendering_digest(settings),
                "code": code,
                "libraries": libraries,
                "python": sys.version,
            }
        )
    ).hexdigest()


def _known(raw: bytes | None, digest: str) -> dict[str, str] | None:
    """The digests of ``_state/rendered.json`` if written under this renderer, else None (render all)."""
    try:
        found = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(found, dict) or found.get("renderer") != digest:
        return None
    incidents = found.get("incidents")
    return {k: v for k, v in incidents.items() if isinstance(v, str)} if isinstance(incidents, dict) else None


def rebuild(
    store: Store,
    settings: Settings,
    signer: tlog.Signer | None = None,
    progress: Tick | None = None,
    *,
    workers: int | None = 1,
    full: bool = False,
    chunk: int = CHUNK,
) -> Rebuilt:
    """Regenerate every view (and any missing rendering) from the ``v<N>.json`` records alone.

    An incident that cannot be read or rendered is reported in ``problems``, its objects are left as
    they are and the site-wide views leave it out; the rest is rebuilt. Any other failure raises
    :class:`RebuildStopped` naming the incident, before any site-wide view is written. ``workers``:
    processes (None: one per core); 1 runs everything here. ``full``: render every incident (see the
    module's documentation for what is skipped otherwise).
    """
    out = Rebuilt()
    # In key order ("<id>/" sorted), so each chunk's keys are one stretch of the listing.
    ids = [p.split("/")[1] for p in sorted(store.prefixes("incidents/"))]
    logged = tlog.logged(store) if signer is not None else None
    digest = renderer(settings)
    old_manifest = store.get(MANIFEST)
    known = None if full else _known(old_manifest, digest)
    chunks = [ids[i : i + chunk] for i in range(0, len(ids), chunk)]
    workers = workers or os.cpu_count() or 1
    parts: list[Part | None] = [None] * len(chunks)
    done = 0
    with _executor(workers, settings) as pool:
        futures: dict[Future, int] = {}
        for n, ids_n in enumerate(chunks):
            mine = set(ids_n)
            futures[
                pool.submit(
                    _chunk,
                    store if workers == 1 else None,
                    settings,
                    ids_n,
                    chunks[n - 1][-1] if n else None,
                    {x for x in logged if x[0] in mine} if logged is not None else None,
                    {i: known[i] for i in ids_n if i in known} if known is not None else None,
                )
            ] = n
        try:
            for future in as_completed(futures):
                part = parts[futures[future]] = future.result()
                done += part.incidents
                if progress:
                    progress(done, len(ids))
        except (RebuildStopped, BrokenProcessPool) as exc:
            pool.shutdown(wait=True, cancel_futures=True)
            if isinstance(exc, RebuildStopped):
                where, detail = exc.where, exc.detail
            else:
                left = [chunks[n][0] for f, n in futures.items() if not f.done() or f.exception()]
                where = f"incidents/{min(left)}" if left else "incidents/"
                detail = (
                    "a worker process ended abruptly (it could not start, was killed, or ran out of memory)"
                )
            raise RebuildStopped(
                where,
                f"{detail}. {done} of {len(ids)} incidents were done; no site-wide view (front page, feeds, "
                "archive, changelog) was written; run releases rebuild again",
            ) from exc
    finished = [p for p in parts if p is not None]
    for part in finished:
        out.written += part.written
        out.problems += part.problems
        out.rendered += part.rendered
        out.unchanged += part.incidents - part.rendered - len(part.problems)
        out.requests.update(part.requests)
    out.problems.sort()
    windows = {"feed_window": settings.feed_window, "index_window": settings.index_window}
    catalog = catalog_mod.merge([p.catalog for p in finished], **windows)
    days = catalog_mod.merge_days([p.days for p in finished])
    entries: dict[str, list[dict[str, Any]]] = {}
    releases: dict[str, list[dict[str, Any]]] = {}
    for part in finished:
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
    # Last: an entry vouches for views this run has written or found as they should be.
    manifest = canonical(
        {"renderer": digest, "incidents": {i: d for p in finished for i, d in sorted(p.digests.items())}}
    )
    if manifest != old_manifest:
        store.put(MANIFEST, manifest, public=False)
    if signer is not None:
        # The operator's catch-up: records not logged yet (written before the log existed, say), after a
        # chain check, and the settings now in force.
        missing = sorted(
            (r for p in finished for r in p.unlogged), key=lambda r: (r["incident_id"], r["version"])
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


def _executor(workers: int, settings: Settings) -> Executor:
    if workers == 1:
        return ThreadPoolExecutor(max_workers=1)
    # spawn, not fork: the parent may hold threads (progress, botocore), which fork does not copy safely.
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(settings,),
    )

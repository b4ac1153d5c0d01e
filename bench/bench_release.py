"""Release cost vs. history size, side by side with the floor: what writing the same bytes costs.

For each history size N (default 0, 1000, 10000 incidents), in its own bucket of one
SeaweedFS server (``weed mini`` on loopback, started by devstack.seaweed in a throw-away
data folder, configured as ``make up`` configures it):

1. seed a realistic history without running N full releases: synthetic incidents of 1 to
   3 versions (~10 % end in a correction), first released over the 12 months before now,
   sealed with the real core (``parse_update`` -> ``records.next_record``, as tests/sample.py
   does); every ``v<N>.json`` record is written, the private indexes exactly as
   ``catalog.build`` + ``catalog.save`` produce them, and every record is appended to the
   transparency log (``tlog.append``, in release order) with the store's signing key;
2. run K releases through ``pipeline.release`` with the store's writer identity (the
   pipeline's, as in ``make up``) and the signing key (production releases sign), in turn a new
   incident's preliminary, an update and a correction of existing single-version incidents,
   counting every S3 request by operation (botocore ``before-send``), bytes read (GetObject
   ``ContentLength``) and written (PutObject ``Content-Length``), timing each (``perf_counter``);
3. right after each release, its floor: every PutObject the store acknowledged for it
   (key, body, headers) is written again, bare (``put_object`` without conditions, no HEAD,
   GET or listing), one after the other, with the same client to a scratch bucket on the same
   server, and timed.

Request counts are deterministic; wall times are noisy (shared machines), so only the
ratios measured within one run are compared. Writes bench/results.md with ``--out``.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import io
import logging
import os
import platform
import pstats
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sections import write_section  # noqa: E402

from devstack import seaweed  # noqa: E402
from releases import catalog as catalog_mod  # noqa: E402
from releases import changelog, pipeline, tlog, views  # noqa: E402
from releases.document import parse_update  # noqa: E402
from releases.ledger import format_time, record_key  # noqa: E402
from releases.records import canonical, next_record  # noqa: E402
from releases.settings import Settings  # noqa: E402
from releases.storage import Store  # noqa: E402

SITE = re.compile(r"\S*/(?:site-packages|lib/python3\.\d+)/")

STREETS = ["Oak St", "Elm St", "5th St", "6th St", "Pine Ave", "Cedar Rd", "Lake Blvd", "Mill Rd"]
CROSS = ["Main St", "Market St", "Broadway", "2nd Ave", "River Rd", "Hill St"]
KINDS = [
    "Officer-involved shooting",
    "Death in custody",
    "Use of force resulting in serious injury",
    "Vehicle pursuit ending in a fatal crash",
]
AGENCY = "Springfield Police Department"
CONTACT = "Public Information Office, pio@example.org, 555-0100"


# -- synthetic history -------------------------------------------------------------------
def preliminary(iid: str, rng: random.Random) -> dict[str, str]:
    street, cross, kind = rng.choice(STREETS), rng.choice(CROSS), rng.choice(KINDS)
    para = (
        f"At about {rng.randint(1, 12)}:{rng.randint(10, 59)} p.m. officers responded to a call "
        f"near {street} and {cross}. One adult was injured and taken to a hospital. "
        "No officers were hurt. The investigation is continuing and more information will be "
        "released as it is confirmed."
    )
    return {
        "incident_id": iid,
        "stage": "preliminary",
        "headline": f"{kind} near {street} and {cross}",
        "summary": "One adult injured; transported to a hospital. No officers were hurt.",
        "body": "\n\n".join([para] * rng.randint(2, 4)),
        "occurred_at": "2026-01-15T21:14:00-05:00",
        "location": f"{street} and {cross}",
        "agency": AGENCY,
        "contact": CONTACT,
    }


def updated(iid: str, n: int) -> dict[str, str]:
    return {
        "incident_id": iid,
        "stage": "updated",
        "summary": f"One adult injured; in stable condition at a hospital (update {n}).",
    }


def corrected(iid: str, n: int) -> dict[str, str]:
    return correction(
        iid,
        f"{STREETS[n % len(STREETS)]} and Commerce Way",
        "The earlier statement gave the wrong cross street; video shows the correct one.",
    )


def correction(iid: str, location: str, note: str) -> dict[str, str]:
    """A correction of the location alone (bench_stack.py's too)."""
    return {
        "incident_id": iid,
        "stage": "corrected",
        "location": location,
        "correction_note": note,
        # The headline and the statement still name the first street: confirmed (the consistency check),
        # so the correction does the work it always measured.
        "keep_unchanged": ["headline", "body"],
    }


def sealed(docs: list[dict[str, str]], times: list[datetime], tag: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for n, doc in enumerate(docs):
        prev = records[-1] if records else None
        records.append(
            next_record(
                parse_update(doc),
                prev,
                released_at=format_time(times[n]),
                released_by="pio.bench",
                key=f"incident_release/seed__{tag}_{n}",
            )
        )
    return records


def synthetic_histories(n: int, now: datetime, seed: int = 1) -> dict[str, list[dict[str, Any]]]:
    """``n`` incident histories: 1-3 versions, ~10 % corrected, over the last 12 months."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    out = {}
    for i in range(n):
        iid = f"H{i:05d}"
        versions = rng.choices([1, 2, 3], weights=[50, 30, 20])[0]
        is_corrected = rng.random() < 0.10
        if is_corrected and versions == 1:
            versions = 2
        docs = [preliminary(iid, rng)]
        for v in range(2, versions + 1):
            docs.append(corrected(iid, i) if is_corrected and v == versions else updated(iid, v))
        first = now - timedelta(seconds=rng.uniform(6 * 3600, 365 * 86400))
        times = [first]
        for _ in docs[1:]:
            times.append(min(times[-1] + timedelta(hours=rng.uniform(1, 72)), now - timedelta(hours=1)))
        out[iid] = sealed(docs, times, iid)
    return out


# -- measuring ---------------------------------------------------------------------------
def key_of(url: str) -> str:
    """The object key of a path-style request URL (``<endpoint>/<bucket>/<key>``); for a listing,
    ``?prefix=`` and the prefix."""
    path, _, query = url.partition("?")
    key = urllib.parse.unquote(path.split("/", 4)[4]) if path.count("/") >= 4 else ""
    prefix = urllib.parse.parse_qs(query).get("prefix")
    return f"?prefix={prefix[0]}" if not key and prefix else key


def generic(key: str) -> str:
    """A key with incident ids, version numbers, months and log chunk numbers made generic, so the
    same object of another release or size compares equal."""
    key = re.sub(r"(^|=)incidents/[^/]+/", r"\1incidents/<id>/", key)
    key = re.sub(r"/v\d+\.", "/v<N>.", key)
    key = re.sub(r"\d{4}-\d{2}-\d{2}(?=\.)", "<day>", key)
    key = re.sub(r"\d{4}-\d{2}(?=\.)", "<month>", key)
    return re.sub(r"^log/leaves/\d+", "log/leaves/<n>", key)


RECORD = "incidents/<id>/v<N>.json"  # a version record, as ``generic`` names it


@dataclass
class Sample:
    kind: str
    seconds: float = 0.0
    requests: Counter = field(default_factory=Counter)  # by operation
    statuses: Counter = field(default_factory=Counter)  # "Op status" of every non-2xx answer
    op_seconds: Counter = field(default_factory=Counter)
    read: Counter = field(default_factory=Counter)  # GetObject bytes by generic key
    reads: Counter = field(default_factory=Counter)  # GetObject requests by generic key
    wrote: Counter = field(default_factory=Counter)  # PutObject bytes (sent) by generic key
    calls: list[str] = field(default_factory=list)  # "Op generic-key" of every request, in order
    puts: list[dict[str, Any]] = field(default_factory=list)  # acknowledged PutObject parameters
    floor_seconds: float = 0.0
    site: Sample | None = None  # the site-wide writer's pass for this release (a batch of one)

    @property
    def written(self) -> int:
        return sum(self.wrote.values())

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def bytes_read(self) -> int:
        return sum(self.read.values())

    @property
    def s3_seconds(self) -> float:
        return sum(self.op_seconds.values())

    @property
    def floor_puts(self) -> int:
        return len(self.puts)

    @property
    def over_floor(self) -> float:
        return self.seconds / self.floor_seconds if self.floor_seconds else 0.0


class Meter:
    """Counts the S3 requests a client sends, with bytes and client-side latency, and keeps the
    parameters of every PutObject the store acknowledged (for the floor). Operations are counted
    generically: whatever the code under test calls is counted under its own name."""

    def __init__(self, client) -> None:
        self.sample: Sample | None = None
        self._sent: tuple[str, str, float] | None = None
        events = client.meta.events
        events.register("before-send.s3.*", self._before_send)
        events.register("response-received.s3.*", self._received)
        events.register("after-call.s3.GetObject", self._after_get)
        events.register("before-parameter-build.s3.PutObject", self._put_params)
        events.register("after-call.s3.PutObject", self._put_answered)

    def _before_send(self, request, event_name: str, **kwargs):
        if self.sample is None:
            return None
        op = event_name.rsplit(".", 1)[-1]
        key = generic(key_of(request.url))
        self.sample.requests[op] += 1
        self.sample.calls.append(f"{op} {key}")
        if op == "PutObject":
            headers = request.headers
            size = headers.get("X-Amz-Decoded-Content-Length") or headers.get("Content-Length") or 0
            self.sample.wrote[key] += int(size)
        if op == "GetObject":
            self.sample.reads[key] += 1
        self._sent = (op, key, time.perf_counter())
        return None

    def _received(self, event_name: str, response_dict=None, **kwargs):
        if self.sample is None or self._sent is None:
            return
        op, _, start = self._sent
        self.sample.op_seconds[op] += time.perf_counter() - start
        status = (response_dict or {}).get("status_code", "err")
        if not (isinstance(status, int) and 200 <= status < 300):
            self.sample.statuses[f"{op} {status}"] += 1

    def _after_get(self, parsed, **kwargs):
        if self.sample is None or self._sent is None:
            return
        self.sample.read[self._sent[1]] += int(parsed.get("ContentLength") or 0)

    def _put_params(self, params, context, **kwargs):
        if self.sample is not None:
            context["bench_put"] = dict(params)

    def _put_answered(self, http_response, context, **kwargs):
        put = context.get("bench_put")
        if self.sample is not None and put is not None and 200 <= http_response.status_code < 300:
            self.sample.puts.append(put)


BARE = ("IfMatch", "IfNoneMatch")  # conditions dropped from the floor's PUTs


def floor(client, bucket: str, puts: list[dict[str, Any]]) -> float:
    """Write ``puts`` again to ``bucket``, bare and one after the other; seconds taken."""
    t0 = time.perf_counter()
    for params in puts:
        body = params.get("Body", b"")
        bare = {k: v for k, v in params.items() if k not in BARE}
        bare.update(Bucket=bucket, Body=body if isinstance(body, bytes | bytearray) else bytes(body))
        client.put_object(**bare)
    return time.perf_counter() - t0


@dataclass
class SizeResult:
    n: int
    records: int = 0
    corrections: int = 0
    log_leaves: int = 0
    seed_put_seconds: float = 0.0
    seed_log_seconds: float = 0.0
    index_seconds: float = 0.0
    index_method: str = ""
    catalog_bytes: int = 0
    month_bytes: dict[str, int] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    profile: str = ""
    profile_seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class Bucket:
    """One size's bucket: ``seed`` (admin identity), ``store`` (the writer's, as the pipeline),
    the scratch bucket of the floor, and the signer."""

    seed: Store
    store: Store
    settings: Settings
    signer: tlog.Signer
    scratch: str


def fresh_bucket(server: seaweed.SeaweedFS, admin, writer, tag: str) -> Bucket:
    """A new bucket provisioned as ``make up`` provisions its own (versioning, the bucket policy, keys.json
    with the log's key), settings that name the log's key as ``make up`` does, and a scratch bucket
    provisioned the same way for the floor."""
    name = f"bench-{tag}-{uuid.uuid4().hex[:8]}"
    base = Settings(bucket=name, s3_endpoint=server.endpoint, public_url="https://releases.example.org")
    origin = tlog.origin(base)
    settings = dataclasses.replace(base, log_key=server.log_vkey(origin))
    server.provision(name, origin)
    scratch = f"floor-{tag}-{uuid.uuid4().hex[:8]}"
    server.provision(scratch)
    signer = tlog.Signer(server.signing_key(), origin)
    return Bucket(Store(admin, name), Store(writer, name), settings, signer, scratch)


LOG_BATCH = 128


def seed(b: Bucket, n: int, now: datetime, workers: int) -> tuple[SizeResult, dict]:
    store, settings = b.seed, b.settings
    result = SizeResult(n)
    histories = synthetic_histories(n, now)
    result.records = sum(len(h) for h in histories.values())
    result.corrections = sum(1 for h in histories.values() for r in h if r["stage"] == "corrected")
    records = [r for h in histories.values() for r in h]

    def put(record: dict[str, Any]) -> None:
        store.client.put_object(
            Bucket=store.bucket,
            Key=record_key(record["incident_id"], record["version"]),
            Body=canonical(record),
            ContentType="application/json",
        )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, records))
    result.seed_put_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    catalog, days = catalog_mod.build(
        histories, feed_window=settings.feed_window, index_window=settings.index_window
    )
    months = views.month_rows(views.correction_entries(histories.values()), settings)
    releases = views.release_rows(histories.values())
    result.index_method = "catalog.build"
    result.index_seconds = time.perf_counter() - t0
    # The state a release folds into: the catalog, the archive's day and month listings, and each
    # month's changelog rows (corrections/<YYYY-MM>.json), as rebuild writes them.
    catalog_mod.save(store, catalog, days)
    for month, rows in months.items():
        store.put(changelog.month_key(month), changelog.to_json(rows))
    for month, rows in releases.items():
        store.put(changelog.releases_key(month), changelog.to_json(rows))
    result.catalog_bytes = len(canonical(catalog))
    result.month_bytes = {d: len(catalog_mod.listing_bytes(s)) for d, s in days.items()}

    # The log holds the history, in release order, as releases one by one would have left it: batches
    # smaller than a chunk, so each append flushes the chunk the previous one completed.
    t0 = time.perf_counter()
    ordered = sorted(records, key=lambda r: (r["released_at"], r["incident_id"], r["version"]))
    head: dict[str, Any] = {"size": 0}
    for i in range(0, len(ordered), LOG_BATCH):
        head = tlog.append(store, ordered[i : i + LOG_BATCH], settings, b.signer)
    if not ordered:
        head = tlog.append(
            store, [], settings, b.signer
        )  # the site's settings, as the first release logs them
    result.seed_log_seconds = time.perf_counter() - t0
    result.log_leaves = head["size"]
    return result, histories


KINDS_ORDER = ("preliminary", "update", "correction")


def plan_releases(histories: dict[str, list[dict[str, Any]]], k: int, run: str) -> list[tuple[str, dict]]:
    """K submissions, in a cycle of four: a new preliminary, an update of a 1-version incident, a new
    preliminary, a correction of a 1-version incident (seeded ones; at N=0 the one just released),
    so the incident's own history is the same size at every N."""
    rng = random.Random(42)  # noqa: S311 - reproducible test data, not secrets
    single = sorted(i for i, h in histories.items() if len(h) == 1)
    targets = rng.sample(single, min(len(single), k // 2)) if single else []
    out = []
    for j in range(k):
        if j % 2 == 0:
            out.append(("preliminary", preliminary(f"N{run}-{j:03d}", rng)))
            continue
        target = targets[j // 2] if targets else f"N{run}-{j - 1:03d}"
        doc = updated(target, 2) if j % 4 == 1 else corrected(target, j)
        out.append(("update" if j % 4 == 1 else "correction", doc))
    return out


def _metered(b: Bucket, meter: Meter, sample: Sample, work) -> Any:
    meter.sample = sample
    t0 = time.perf_counter()
    try:
        return work()
    finally:
        sample.seconds = time.perf_counter() - t0
        meter.sample = None
        # The floor at once, so the machine's load is the same for both.
        sample.floor_seconds = floor(b.store.client, b.scratch, sample.puts)
        sample.puts = [{"Key": put["Key"]} for put in sample.puts]  # the bodies are not needed any more


def measure(b: Bucket, meter: Meter, kind: str, doc: dict, key: str) -> Sample:
    """The release as Airflow runs it: ``incident_release``'s task (``site=False``), then the site-wide
    writer's pass for it (``site_views``' ``views.write_site`` with the cues of the release's asset
    event), each measured on its own. ``site_views`` runs once per batch of releases; here every
    release is a batch of one, the most it can cost."""
    sample = Sample(kind)
    out = _metered(
        b,
        meter,
        sample,
        lambda: pipeline.release(
            doc, b.store, b.settings, key=key, released_by="pio", signer=b.signer, site=False
        ),
    )
    sample.site = Sample(kind)
    _metered(
        b,
        meter,
        sample.site,
        lambda: views.write_site(
            b.store,
            b.settings,
            corrections=out["corrections"] or not out["created"],
            if_changed=not out["created"],
            tables=out["tables"],
        ),
    )
    return sample


# Functions whose cumulative time the report shows for the profiled release (absent: "-"; the core
# may rename them: the listings below the table name whatever it runs).
PROFILED = (
    ("pipeline.py", "release"),
    ("ledger.py", "history"),
    ("tlog.py", "append"),
    ("catalog.py", "fold_in"),
    ("views.py", "site_views"),
    ("render.py", "site_index"),
    ("render.py", "corrections_page"),
    ("changelog.py", "frame"),
    ("changelog.py", "speed_by_incident"),
    ("feeds.py", "site_feeds"),
    ("feeds.py", "corrections_feeds"),
    ("views.py", "archive_views"),
    ("views.py", "incident_views"),
)


def profiled(b: Bucket, doc: dict, tag: str) -> tuple[str, dict[str, float]]:
    prof = cProfile.Profile()
    prof.enable()
    pipeline.release(
        doc,
        b.store,
        b.settings,
        key=f"incident_release/bench__{tag}_prof",
        released_by="pio",
        signer=b.signer,
    )
    prof.disable()
    stats = pstats.Stats(prof)
    seconds: dict[str, float] = {}
    for (path, _, name), (_, _, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        for module, func in PROFILED:
            if name == func and path.endswith(f"releases/{module}"):
                label = f"{module[:-3]}.{func}"
                seconds[label] = max(seconds.get(label, 0.0), cumtime)
    parts = []
    for order, restrict in (("cumulative", (r"/releases/", 14)), ("tottime", (8,))):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(order).print_stats(*restrict)
        lines = buf.getvalue().splitlines()
        start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        parts.append(f"-- by {order}")
        parts += [SITE.sub("", line.replace(str(ROOT) + "/", "")) for line in lines[start:] if line.strip()]
    return "\n".join(parts), seconds


# -- report ------------------------------------------------------------------------------
KNOWN_OPS = ("GetObject", "HeadObject", "PutObject", "ListObjectsV2", "ListObjectVersions", "DeleteObject")
GROUPS = ("all", *KINDS_ORDER)
TOP_KEYS = 12


def med(values) -> float:
    values = list(values)
    return statistics.median(values) if values else 0.0


def mean(values) -> float:
    values = list(values)
    return statistics.fmean(values) if values else 0.0


def group(samples: list[Sample], kind: str) -> list[Sample]:
    return samples if kind == "all" else [s for s in samples if s.kind == kind]


def ops_seen(results: list[SizeResult]) -> list[str]:
    seen = {op for r in results for s in r.samples for part in (s, s.site) if part for op in part.requests}
    return [op for op in KNOWN_OPS if op in seen] + sorted(seen - set(KNOWN_OPS))


def short(op: str) -> str:
    return {"GetObject": "Get", "HeadObject": "Head", "PutObject": "Put", "ListObjectsV2": "List"}.get(op, op)


def fmt_bytes(n: float) -> str:
    return f"{n / 1024:,.1f} KiB" if n >= 1024 else f"{n:,.0f} B"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def method_text(args, meta: dict[str, str]) -> str:
    return (
        "Each size has its own bucket on one SeaweedFS server (`weed mini`: S3 gateway, filer, "
        "master and volume server in one Go process, on loopback) started by `devstack.seaweed` "
        "in a throw-away data folder, with the configuration of `make up`: its credentials and JWT "
        "keys, and every bucket provisioned by `server.provision` (versioning, the project's bucket "
        "policy, `keys.json` with the log's verifier key).\n\n"
        "**Seeded history.** N synthetic incidents (1-3 versions, ~10 % ending in a correction, first "
        "released over the 12 months before now) are sealed with the real core (`parse_update` -> "
        "`records.next_record`); every `v<N>.json` record is PUT (admin identity, "
        f"{args.workers} threads), the private indexes are written with `catalog.save` from "
        "`catalog.build` (the code `releases rebuild` runs), and every record is appended to the "
        f"transparency log with `tlog.append` in release order, {LOG_BATCH} at a time, so "
        "`log/head.json` and the complete `log/leaves/` chunks are those of a site that released them. "
        "**Not seeded**: the renderings (`v<N>.html`/`.txt`), incident pages and feeds, site views "
        "and archive pages of the seeded history; the bucket holds fewer objects than a real one "
        "would, and a release that checks a view before writing it finds it missing rather than "
        "holding other bytes (the non-2xx answers below show those checks).\n\n"
        "**Measured releases.** K releases per size run as Airflow runs them, in this process: the "
        "release task, `pipeline.release(conf, store, settings, key=..., released_by=..., signer=..., "
        "site=False)`, then, measured on its own, the pass of the site-wide writer (`site_views`, which "
        "runs once per batch of releases) for it alone, `views.write_site` with the cues the release's "
        "asset event carries (`corrections`, `tables`), with the store's writer "
        "identity (the pipeline's in `make up`) and the store's signing key (as `make up` gives "
        "Airflow: every release appends its record to the log and signs a checkpoint). They come in "
        "a cycle of four: a new incident's preliminary, an update of an existing single-version "
        "incident, a new preliminary, a correction of another single-version incident (seeded ones; "
        "at N=0 the one just released), so the incident's own history is the same size at every N. "
        "One unmeasured warm-up release (and its floor) in a scratch bucket loads templates and "
        "libraries first. Sizes are interleaved (release j runs at every size before release j+1), "
        "so load from other processes falls on all sizes alike. Per release task and per site pass: wall "
        "time (`perf_counter` around the call); S3 requests by operation, whatever the "
        "operation (botocore `before-send.s3.*`); non-2xx answers (`response-received`); bytes read "
        "(GetObject `ContentLength`) and written (PutObject `Content-Length`, failed PUTs included); "
        "and the time spent waiting on S3 (from `before-send` to `response-received`; the SeaweedFS "
        "process shares the cores with the client, so its CPU time is in it).\n\n"
        "**The floor, in the same run.** Every PutObject of the release that the store acknowledged "
        "(2xx) is recorded with its parameters (botocore `before-parameter-build` and `after-call` "
        "events: key, body, Content-Type, Cache-Control). Right after the release, exactly those "
        "objects are written again, one after the other, with plain `put_object` (the `If-Match` / "
        "`If-None-Match` conditions dropped; no HEAD, GET or listing), through the same client, to a "
        "scratch bucket of the same server provisioned the same way, and timed. The floor is what "
        "storing this release's bytes costs on this store; wall/floor is the factor everything else "
        "(reads, conditional checks, rendering, signing, retries) adds.\n\n"
        "Figures are medians unless said otherwise. Request counts are deterministic; times are noisy "
        "(a shared 2-core machine), so compare the ratios measured within this run, never figures "
        "across runs."
    )


def per_release_table(w, results: list[SizeResult], ops: list[str], part) -> None:
    w(
        "| N | kind | releases | wall ms | floor ms | wall/floor | S3 wait ms | other ms | requests | "
        + " | ".join(short(op) for op in ops)
        + " | non-2xx | floor PUTs | read | written |"
    )
    w("|---:|---|---:|" + "---:|" * (10 + len(ops)))
    for r in results:
        for kind in GROUPS:
            ss = [part(x) for x in group(r.samples, kind) if part(x) is not None]
            if not ss:
                continue
            w(
                f"| {r.n:,} | {kind} | {len(ss)} | {med(s.seconds for s in ss) * 1e3:.0f} | "
                f"{med(s.floor_seconds for s in ss) * 1e3:.0f} | {med(s.over_floor for s in ss):.1f} | "
                f"{med(s.s3_seconds for s in ss) * 1e3:.0f} | "
                f"{med(s.seconds - s.s3_seconds for s in ss) * 1e3:.0f} | "
                f"{med(s.total_requests for s in ss):g} | "
                + " | ".join(f"{med(s.requests[op] for s in ss):g}" for op in ops)
                + f" | {med(sum(s.statuses.values()) for s in ss):g} | {med(s.floor_puts for s in ss):g}"
                + f" | {fmt_bytes(med(s.bytes_read for s in ss))} | {fmt_bytes(med(s.written for s in ss))} |"
            )
    w("")


def report(results: list[SizeResult], args, meta: dict[str, str]) -> str:
    out: list[str] = []
    w = out.append
    ops = ops_seen(results)
    w("# Release cost vs. history size\n")
    w(f"Generated by `bench/bench_release.py` on {meta['date']}.\n")
    w(f"- machine: {meta['cpu']}, nproc={meta['nproc']}, {meta['platform']}")
    w(
        f"- Python {meta['python']}; boto3 {meta['boto3']}; SeaweedFS {meta['seaweedfs']} "
        "(`weed mini`, a separate process on loopback, started by `devstack.seaweed`)"
    )
    w(f"- code: {meta['git']}")
    w(
        f"- load average (1 min) at the start and the end: {meta.get('load', '?')}; other processes share "
        "the cores (times are noisy; request counts and bytes are not)"
    )
    w(f"- K={args.k} measured releases per size, sizes {', '.join(str(r.n) for r in results)} incidents")
    w(f"- settings: feed_window={meta['feed_window']}, index_window={meta['index_window']}")
    w(f"- store log: {meta.get('store_log', '?')}\n")
    w("## Method\n")
    w(method_text(args, meta) + "\n")

    w("## Seeded histories\n")
    w(
        "| N incidents | records | corrections | log leaves | seed PUTs (s) | index build (s) | log (s) | "
        "catalog.json | day listings (median / max) |"
    )
    w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        months = list(r.month_bytes.values())
        w(
            f"| {r.n:,} | {r.records:,} | {r.corrections:,} | {r.log_leaves:,} | {r.seed_put_seconds:.1f} | "
            f"{r.index_seconds:.2f} | {r.seed_log_seconds:.1f} | {fmt_bytes(r.catalog_bytes)} | "
            + (f"{fmt_bytes(med(months))} / {fmt_bytes(max(months))} |" if months else "- |")
        )
    w("")

    w("## Per release, side by side with the floor (medians)\n")
    w(
        "The release task (`incident_release`, `pipeline.release(..., site=False)`). `wall/floor` is the "
        "median of each release's own ratio. `floor PUTs` are the PUTs the store "
        "acknowledged, written again bare; `Put` counts every PutObject sent, refused ones (412) too.\n"
    )
    per_release_table(w, results, ops, lambda s: s)
    w("## The site-wide writer's pass, once per batch (medians; here each release is a batch of one)\n")
    w(
        "`site_views`' `views.write_site` with the release's cues (`corrections`, `tables`): the front page, "
        "index.json, the site feeds, after a correction the changelog head and the corrections feeds, and "
        "the pages of the tables the release changed (its day's archive page, its month's releases CSV, "
        "after a correction its month's changelog page and CSVs), each rendered from the table as read "
        "after the catalog swap. A burst shares one pass among the releases of a batch.\n"
    )
    per_release_table(w, results, ops, lambda s: s.site)
    w("## Requests by object, one release of each kind at the largest size\n")
    w(
        "Every request of the last measured release of each kind at "
        f"N={results[-1].n:,}, keys made generic, in the order sent (x2: sent twice).\n"
    )
    for kind in KINDS_ORDER:
        ss = group(results[-1].samples, kind)
        if not ss:
            continue
        for label, sample in (("release task", ss[-1]), ("site pass", ss[-1].site)):
            if sample is None:
                continue
            counted = Counter(sample.calls)
            w(
                f"- **{kind}, {label}** ({sample.total_requests} requests): "
                + ", ".join(
                    f"`{call}`" + (f" x{counted[call]}" if counted[call] > 1 else "") for call in counted
                )
            )
    w("")
    statuses = Counter()
    for r in results:
        for s in r.samples:
            statuses.update(s.statuses)
            statuses.update(s.site.statuses if s.site else {})
    w(
        "Non-2xx answers, all releases of all sizes: "
        + (", ".join(f"{k} x{v}" for k, v in sorted(statuses.items())) or "none")
        + " (a 404 for an object not yet written, a 412 for a create-once key that exists or a "
        "compare-and-swap that lost). Counted in the request columns too.\n"
    )

    base = results[0]
    w(f"## Ratios (medians, same run): vs N={base.n:,}, and vs the previous size\n")
    w(
        "The bounded parts of the catalog (`index_window` incidents, `feed_window` records) "
        "fill up during the first ~100 incidents, so the step from the smallest size mixes that "
        "one-off growth in; the step between the two larger sizes shows what keeps growing.\n"
    )
    w(
        "| N | vs N | kind | wall time | floor | wall/floor | S3 wait | requests | PUTs | bytes read | bytes written |"
    )
    w("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    pairs = [(r, base) for r in results[1:]] + [(results[i], results[i - 1]) for i in range(2, len(results))]
    for r, ref in pairs:
        for kind in GROUPS:
            a, b = group(r.samples, kind), group(ref.samples, kind)
            if not a or not b:
                continue
            w(
                f"| {r.n:,} | {ref.n:,} | {kind} | "
                f"{ratio(med(s.seconds for s in a), med(s.seconds for s in b))} | "
                f"{ratio(med(s.floor_seconds for s in a), med(s.floor_seconds for s in b))} | "
                f"{ratio(med(s.over_floor for s in a), med(s.over_floor for s in b))} | "
                f"{ratio(med(s.s3_seconds for s in a), med(s.s3_seconds for s in b))} | "
                f"{ratio(med(s.total_requests for s in a), med(s.total_requests for s in b))} | "
                f"{ratio(med(s.floor_puts for s in a), med(s.floor_puts for s in b))} | "
                f"{ratio(med(s.bytes_read for s in a), med(s.bytes_read for s in b))} | "
                f"{ratio(med(s.written for s in a), med(s.written for s in b))} |"
            )
    w("")

    for title, counter, counts in (
        ("read", "read", "reads"),
        ("written", "wrote", None),
    ):
        keys = Counter()
        for s in results[-1].samples:
            keys.update(getattr(s, counter))
        top = [k for k, _ in keys.most_common(TOP_KEYS)]
        if not top:
            continue
        w(
            f"## Bytes {title} per release, by object (mean over the K releases of each size"
            + ("; GetObject requests per release in brackets" if counts else "")
            + f"; the {len(top)} largest at N={results[-1].n:,})\n"
        )
        w("| object | " + " | ".join(f"N={r.n:,}" for r in results) + " |")
        w("|---|" + "---:|" * len(results))
        for key in top:
            cells = []
            for r in results:
                cell = fmt_bytes(mean(getattr(s, counter)[key] for s in r.samples))
                if counts:
                    cell += f" ({mean(getattr(s, counts)[key] for s in r.samples):.1f})"
                cells.append(cell)
            w(f"| `{key}` | " + " | ".join(cells) + " |")
        w("")

    w("## Client-side wait per S3 operation (median over releases of the per-release total, ms)\n")
    w("| N | " + " | ".join(ops) + " | floor (PUTs) |")
    w("|---:|" + "---:|" * (len(ops) + 1))
    for r in results:
        w(
            f"| {r.n:,} | "
            + " | ".join(f"{med(s.op_seconds[op] for s in r.samples) * 1e3:.1f}" for op in ops)
            + f" | {med(s.floor_seconds for s in r.samples) * 1e3:.1f} |"
        )
    w("")

    w("## Requests and floor PUTs per release (every release, in order)\n")
    w("The release task's requests / its floor PUTs, + the site pass's requests.\n")
    w("| N | " + " | ".join(f"{j}:{s.kind[:4]}" for j, s in enumerate(results[0].samples)) + " |")
    w("|---:|" + "---:|" * len(results[0].samples))
    for r in results:
        w(
            f"| {r.n:,} | "
            + " | ".join(
                f"{s.total_requests} / {s.floor_puts}" + (f" + {s.site.total_requests}" if s.site else "")
                for s in r.samples
            )
            + " |"
        )
    w("")

    w("## Interpretation\n")
    w(interpret(results))
    w("")
    if any(r.profile_seconds for r in results):
        w("## Where the time goes: one extra profiled update release per size\n")
        w(
            "Cumulative seconds under cProfile (which slows pure-Python code; compare across "
            "sizes, not with the wall times above); functions the core no longer has are left out.\n"
        )
        w("| function | " + " | ".join(f"N={r.n:,}" for r in results) + " |")
        w("|---|" + "---:|" * len(results))
        for module, func in PROFILED:
            label = f"{module[:-3]}.{func}"
            cells = [r.profile_seconds.get(label) for r in results]
            if all(c is None for c in cells):
                continue
            w(f"| `{label}` | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")
        w("")
    if any(r.profile for r in results):
        w(
            "## Profile listings of the same releases\n\n"
            "Functions of `releases/` by cumulative time, then the top of the whole process "
            "by own time (the SeaweedFS process is not profiled).\n"
        )
        for r in results:
            if r.profile:
                w(f"N={r.n:,}:\n\n```\n{r.profile}\n```\n")
    return "\n".join(out) + "\n"


def interpret(results: list[SizeResult]) -> str:
    base, top = results[0], results[-1]
    prev = results[-2] if len(results) > 1 else base
    sizes = ", ".join(f"{r.n:,}" for r in results)
    lines = []

    wall = {r.n: med(s.seconds for s in r.samples) for r in results}
    low = {r.n: med(s.floor_seconds for s in r.samples) for r in results}
    over = {r.n: med(s.over_floor for s in r.samples) for r in results}
    puts = {r.n: med(s.floor_puts for s in r.samples) for r in results}
    reqs = {r.n: med(s.total_requests for s in r.samples) for r in results}
    lines.append(
        "- **Against the floor.** Median wall / floor per release: "
        + ", ".join(f"{over[n]:.1f}x at N={n:,}" for n in over)
        + ". Wall "
        + " / ".join(f"{wall[n] * 1e3:.0f}" for n in wall)
        + " ms, floor "
        + " / ".join(f"{low[n] * 1e3:.0f}" for n in low)
        + f" ms ({' / '.join(f'{puts[n]:g}' for n in puts)} PUTs), for "
        + " / ".join(f"{reqs[n]:g}" for n in reqs)
        + f" requests in all, at N={sizes}. From N={base.n:,} to N={top.n:,} the wall time grows "
        f"{ratio(wall[top.n], wall[base.n])}x and the floor {ratio(low[top.n], low[base.n])}x: "
        + (
            "the floor grows as much, so what grows is the bytes to store, not the work around them."
            if low[base.n]
            and wall[base.n]
            and (wall[top.n] / wall[base.n]) <= 1.25 * (low[top.n] / low[base.n])
            else "the release grows faster than the bytes it stores."
        )
    )

    larger_equal = len(results) > 2 and all(
        [s.total_requests for s in r.samples] == [s.total_requests for s in results[1].samples]
        for r in results[1:]
    )
    diffs = []
    for r in results[1:]:
        for j, (a, b) in enumerate(zip(r.samples, base.samples, strict=True)):
            more, fewer = Counter(a.calls) - Counter(b.calls), Counter(b.calls) - Counter(a.calls)
            if more or fewer:
                change = ", ".join(
                    [f"+{v} {k}" for k, v in more.items()] + [f"-{v} {k}" for k, v in fewer.items()]
                )
                diffs.append(f"release {j} ({a.kind}) at N={r.n:,}: {change}")
    req = ratio(reqs[top.n], reqs[base.n])
    if not diffs:
        lines.append(
            f"- **Requests: O(1).** Release j made exactly the same S3 requests at every N (median "
            f"request ratio {req} at N={top.n:,})."
        )
    else:
        shown = "; ".join(diffs[:6]) + (f"; ... ({len(diffs) - 6} more)" if len(diffs) > 6 else "")
        lines.append(
            f"- **Requests** (median ratio {req} at N={top.n:,} vs N={base.n:,}). "
            + (
                f"Release j made the same number of requests at every N > {base.n:,}. "
                if larger_equal
                else ""
            )
            + f"Differences from N={base.n:,} (keys made generic): {shown}."
        )
    listed = sorted(
        {c.split(" ", 1)[1] for r in results for s in r.samples for c in s.calls if c.startswith("List")}
    )
    lines.append(
        "- **Listings**: "
        + (", ".join(f"`{p}`" for p in listed) if listed else "none")
        + " (prefixes listed, generic)."
    )
    records = {r.n: mean(s.read[RECORD] for s in r.samples) for r in results}
    lines.append(
        "- **Records read** (the incident's own history) per release: "
        + ", ".join(f"{fmt_bytes(v)} at N={n:,}" for n, v in records.items())
        + "."
    )
    grow = []
    for attr, verb in (("read", "read"), ("wrote", "written")):
        keys = Counter()
        for s in top.samples:
            keys.update(getattr(s, attr))
        for key, _ in keys.most_common(4):
            a = mean(getattr(s, attr)[key] for s in top.samples)
            b = mean(getattr(s, attr)[key] for s in prev.samples)
            grow.append(f"`{key}` {verb} {fmt_bytes(b)} -> {fmt_bytes(a)}")
    lines.append(
        f"- **What grows with N** (mean bytes per release, N={prev.n:,} -> N={top.n:,}"
        + (f", {ratio(top.n, prev.n)}x the incidents" if prev.n else "")
        + "): "
        + "; ".join(grow)
        + ". Bytes read per release in all: "
        + " / ".join(fmt_bytes(med(s.bytes_read for s in r.samples)) for r in results)
        + ", written: "
        + " / ".join(fmt_bytes(med(s.written for s in r.samples)) for r in results)
        + f" at N={sizes}."
    )
    cpu = {r.n: med(s.seconds - s.s3_seconds for s in r.samples) for r in results}
    lines.append(
        f"- **Wall time**: median ratio {ratio(wall[top.n], wall[base.n])} at N={top.n:,} vs N={base.n:,}"
        + (f", {ratio(wall[top.n], wall[prev.n])} vs N={prev.n:,}" if prev is not base else "")
        + ". Client-side time outside S3 calls (rendering, JSON, signing): "
        + " / ".join(f"{v * 1e3:.0f} ms" for v in cpu.values())
        + f" at N={sizes}. 'S3 wait' includes SeaweedFS's own time (a separate process on the same "
        "cores); see the per-operation table."
    )
    worst = {r.n: max(s.total_requests for s in r.samples) for r in results}
    site = {r.n: [s.site for s in r.samples if s.site] for r in results}
    lines.append(
        "- **The release task and the site pass.** Most requests of any one release task: "
        + " / ".join(f"{worst[n]}" for n in worst)
        + f" at N={sizes}. The site-wide writer's pass (once per batch; here each release is a batch of "
        "one) made "
        + " / ".join(f"{med(x.total_requests for x in site[n]):g}" for n in site)
        + " requests (median), wall/floor "
        + " / ".join(f"{med(x.over_floor for x in site[n]):.1f}" for n in site)
        + ", bytes read "
        + " / ".join(fmt_bytes(med(x.bytes_read for x in site[n])) for n in site)
        + ": a batch of B releases shares one pass."
    )
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    import boto3

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()  # noqa: S607
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(  # noqa: S603
                ["git", *cmd],  # noqa: S607
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return "?"

    changed = [line[3:] for line in git("status", "--porcelain", "releases", "templates").splitlines()]
    return {
        "git": git("rev-parse", "--short", "HEAD").strip()
        + (
            f" + uncommitted changes to {', '.join(changed)}" if changed else " (clean releases/, templates/)"
        ),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "nproc": nproc,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "boto3": boto3.__version__,
        "seaweedfs": weed_version(),
    }


def weed_version() -> str:
    """``weed version`` without its advertising: "4.48 (8000GB pypi linux amd64)"."""
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv
            [seaweed.weed_binary(), "version"], capture_output=True, text=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    words = (out.splitlines() or [""])[0].split()
    if len(words) >= 3 and words[0] == "version":
        return f"{words[2]} ({' '.join(words[1:2] + words[3:])})"
    return " ".join(words) or "?"


def log_summary(path: Path, shown: int = 3) -> str:
    """Error (E) and warning (W) lines of a glog-format server log, with the first distinct ones."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "not readable"
    found: dict[str, list[str]] = {"E": [], "W": []}
    for line in lines:
        match = re.match(r"([EW])\d{4} [\d:.]+\s+(?:\d+\s+)?(\S+?):\d+\]?\s(.*)", line)
        if match:
            # Same message from the same file counts once when shown (numbers made generic).
            found[match[1]].append(f"{match[2]}: {re.sub(r'(?<![A-Za-z])[0-9]+', 'N', match[3])[:160]}")
    text = f"{len(found['E'])} error and {len(found['W'])} warning lines in `weed.log`"
    for level, name in (("E", "errors"), ("W", "warnings")):
        distinct = list(dict.fromkeys(found[level]))
        if distinct:
            text += f"; {name}: " + "; ".join(f"`{m}`" for m in distinct[:shown])
            text += f" (+{len(distinct) - shown} more kinds)" if len(distinct) > shown else ""
    return text


def run(server: seaweed.SeaweedFS, sizes: list[int], args) -> tuple[list[SizeResult], dict[str, str]]:
    meta = machine()
    meta["load"] = f"{os.getloadavg()[0]:.1f}"
    settings0 = Settings(bucket="unused", s3_endpoint=server.endpoint)
    meta["feed_window"], meta["index_window"] = str(settings0.feed_window), str(settings0.index_window)
    pool = max(10, args.workers)
    admin = server.client("admin", max_pool_connections=pool)  # seeding: an operator's step
    writer = server.client("writer", max_pool_connections=pool)  # releases: the pipeline's identity
    meter = Meter(writer)
    now = datetime.now(UTC).replace(microsecond=0)

    # Warm-up: imports, templates, connection pool, signing, the floor's path.
    warm = fresh_bucket(server, admin, writer, "warmup")
    for j, (kind, doc) in enumerate(plan_releases({}, 2, "warm")):
        measure(warm, meter, kind, doc, f"incident_release/warm_{j}")

    results, buckets = [], []
    for n in sizes:
        b = fresh_bucket(server, admin, writer, str(n))
        t0 = time.perf_counter()
        result, histories = seed(b, n, now, args.workers)
        print(
            f"N={n:,}: seeded {result.records:,} records in {time.perf_counter() - t0:.1f} s "
            f"(PUTs {result.seed_put_seconds:.1f} s, indexes {result.index_seconds:.2f} s, "
            f"log {result.seed_log_seconds:.1f} s, {result.log_leaves:,} leaves)",
            flush=True,
        )
        results.append(result)
        buckets.append((b, histories, plan_releases(histories, args.k, str(n))))

    # Interleaved: release j runs at every size before release j+1, so load from other
    # processes on a shared machine falls on all sizes alike.
    for j in range(args.k):
        for result, (b, _, plan_) in zip(results, buckets, strict=True):
            kind, doc = plan_[j]
            result.samples.append(measure(b, meter, kind, doc, f"incident_release/bench__{result.n}_{j}"))
        print(
            f"release {j + 1}/{args.k} ({plan_[j][0]}): "
            + ", ".join(
                f"N={r.n:,} {r.samples[-1].seconds * 1e3:.0f} ms/{r.samples[-1].total_requests} req, "
                f"floor {r.samples[-1].floor_seconds * 1e3:.0f} ms/{r.samples[-1].floor_puts} PUTs"
                for r in results
            ),
            flush=True,
        )
    meta["load"] += f" / {os.getloadavg()[0]:.1f}"
    if not args.no_profile:
        for result, (b, histories, _) in zip(results, buckets, strict=True):
            single = sorted(i for i, h in histories.items() if len(h) == 1)
            target = single[-1] if single else f"N{result.n}-000"
            result.profile, result.profile_seconds = profiled(b, updated(target, 9), str(result.n))
    return results, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="0,1000,10000", help="history sizes in incidents (comma-separated)"
    )
    parser.add_argument(
        "-k",
        "--k",
        type=int,
        default=12,
        help="measured releases per size (default 12: 6 preliminaries, 3 updates, 3 corrections)",
    )
    parser.add_argument("--workers", type=int, default=8, help="parallel PUTs while seeding")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled extra release")
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})

    for name in ("botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory(prefix="bench-seaweedfs-") as tmp:
        data_dir = Path(tmp) / "seaweedfs"
        server = seaweed.start(data_dir, seaweed.Ports.free())
        try:
            results, meta = run(server, sizes, args)
        finally:
            code = server.stop()
            meta_log = log_summary(data_dir / "weed.log") + f"; exit code {code} after SIGTERM"
    meta["store_log"] = meta_log

    text = report(results, args, meta)
    print(text)
    if args.out:
        write_section(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

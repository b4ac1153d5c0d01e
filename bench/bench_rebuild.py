"""Rebuild at N incidents: how long ``releases rebuild`` takes, and whether it writes what releases write.

For each size N (default 10,000 incidents), in its own bucket of one SeaweedFS server (as bench_release.py:
``devstack.seaweed``, ``make up``'s configuration, a throw-away data folder):

1. seed the history as bench_release.py does (records, private indexes, the transparency log);
2. **cold rebuild**: ``integrity.rebuild(store, settings, signer)`` (what ``releases rebuild
   --signing-key`` runs) renders every view and rendering of the seeded history, timed, every S3 request
   counted by operation (botocore events, as bench_release.py);
3. K releases through ``pipeline.release`` with the signer (preliminaries, updates, corrections), which
   rewrite their views incrementally;
4. **rebuild over the up-to-date site**, timed and counted the same way. The check: it writes no view
   (``Rebuilt.written`` empty) and every object of the bucket but the rebuild's own private note
   (``_state/rendered.json``, which the releases' records changed) has the same ETag and Last-Modified
   before and after (``ListObjectsV2``): the views the releases wrote incrementally are byte-identical to
   what a rebuild renders from the records;
5. (``--full``) the same rebuild with ``full=True``, which renders every incident again, checked the same way.

CPU is this process's and its worker processes' (``os.times``), and the store's (``psutil``).

Writes a Markdown section; ``--out`` puts it into bench/results.md in place of an earlier one. Exits 1 if a
rebuild over the up-to-date site changed any object.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from bench_release import (  # noqa: E402
    KNOWN_OPS,
    Meter,
    Sample,
    fresh_bucket,
    generic,
    log_summary,
    machine,
    measure,
    plan_releases,
    seed,
    short,
)
from sections import write_section  # noqa: E402

from devstack import seaweed  # noqa: E402
from releases import integrity  # noqa: E402
from releases.rebuild import MANIFEST  # noqa: E402

HEADING = "# Rebuild vs. history size"


@dataclass
class Rebuild:
    sample: Sample
    written: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rendered: int = 0
    unchanged: int = 0
    cpu: float = 0.0  # this process and its worker processes
    store_cpu: float = 0.0  # the SeaweedFS server


@dataclass
class SizeRun:
    n: int
    records: int = 0
    seed_seconds: float = 0.0
    objects: int = 0
    cold: Rebuild | None = None
    again: Rebuild | None = None
    full: Rebuild | None = None
    releases: list[Sample] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # keys whose ETag or Last-Modified changed
    bytes_differ: list[str] = field(default_factory=list)  # keys whose ETag changed


def rebuild(b, meter: Meter, processes: int | None, store_proc, full: bool = False) -> Rebuild:
    sample = Sample("rebuild")
    meter.sample = sample
    t0, cpu0, store0 = time.perf_counter(), os.times(), store_proc.cpu_times()
    try:
        # As `releases rebuild` runs it: worker processes (one per core by default), each with its own
        # client; the meter sees this process's requests, the workers count theirs (Rebuilt.requests).
        out = integrity.rebuild(b.store, b.settings, b.signer, workers=processes, full=full)
    finally:
        sample.seconds = time.perf_counter() - t0
        meter.sample = None
    cpu1, store1 = os.times(), store_proc.cpu_times()
    sample.requests.update(out.requests)
    cpu = sum(cpu1[:4]) - sum(cpu0[:4])  # user, system, children's user, children's system
    store_cpu = store1.user + store1.system - store0.user - store0.system
    return Rebuild(
        sample, len(out.written), out.problems, out.warnings, out.rendered, out.unchanged, cpu, store_cpu
    )


def snapshot(client, bucket: str) -> dict[str, tuple[str, str]]:
    """Every object: key -> (ETag, Last-Modified)."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            found[obj["Key"]] = (obj["ETag"], str(obj["LastModified"]))
    return found


def compare(before: dict, after: dict) -> tuple[list[str], list[str]]:
    """Keys whose ETag or Last-Modified changed, and those whose ETag changed; the rebuild's own private note
    is left out (releases never write it; it changes whenever records do)."""
    keys = (before.keys() | after.keys()) - {MANIFEST}
    changed = sorted(key for key in keys if before.get(key) != after.get(key))
    differ = [key for key in changed if (before.get(key) or ("",))[0] != (after.get(key) or ("",))[0]]
    return changed, differ


def run_size(
    server,
    admin,
    writer,
    meter: Meter,
    n: int,
    k: int,
    workers: int,
    processes: int | None = None,
    full: bool = False,
) -> SizeRun:
    now = datetime.now(UTC).replace(microsecond=0)
    # Worker processes make their clients from the environment, as the CLI's do: the writer identity.
    creds = server.credentials("writer")
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = (
        creds["access_key"],
        creds["secret_key"],
    )
    store_proc = psutil.Process(server.proc.pid)
    b = fresh_bucket(server, admin, writer, f"rebuild{n}")
    result = SizeRun(n)
    t0 = time.perf_counter()
    seeded, histories = seed(b, n, now, workers)
    result.records, result.seed_seconds = seeded.records, time.perf_counter() - t0
    print(f"N={n:,}: seeded {seeded.records:,} records in {result.seed_seconds:.1f} s", flush=True)

    result.cold = rebuild(b, meter, processes, store_proc)
    print(
        f"N={n:,}: cold rebuild {result.cold.sample.seconds:.1f} s (CPU {result.cold.cpu:.1f} s, store "
        f"{result.cold.store_cpu:.1f} s), {result.cold.sample.total_requests:,} requests, "
        f"{result.cold.written:,} objects written",
        flush=True,
    )
    for j, (kind, doc) in enumerate(plan_releases(histories, k, f"rb{n}")):
        result.releases.append(measure(b, meter, kind, doc, f"incident_release/rebuild__{n}_{j}"))
    before = snapshot(admin, b.store.bucket)
    result.again = rebuild(b, meter, processes, store_proc)
    after = snapshot(admin, b.store.bucket)
    result.objects = len(after)
    result.changed, result.bytes_differ = compare(before, after)
    print(
        f"N={n:,}: rebuild over the up-to-date site {result.again.sample.seconds:.1f} s (CPU "
        f"{result.again.cpu:.1f} s, store {result.again.store_cpu:.1f} s), "
        f"{result.again.sample.total_requests:,} requests, {result.again.rendered} incidents rendered, "
        f"{result.again.written} views written, {len(result.changed)} of {result.objects:,} objects changed",
        flush=True,
    )
    if full:
        result.full = rebuild(b, meter, processes, store_proc, full=True)
        later = snapshot(admin, b.store.bucket)
        changed, differ = compare(after, later)
        result.changed += changed
        result.bytes_differ += differ
        print(
            f"N={n:,}: --full rebuild {result.full.sample.seconds:.1f} s (CPU {result.full.cpu:.1f} s, store "
            f"{result.full.store_cpu:.1f} s), {result.full.rendered} incidents rendered, "
            f"{result.full.written} views written, {len(changed)} objects changed",
            flush=True,
        )
    return result


def identical(r: SizeRun) -> bool:
    return not r.changed and r.again.written == 0 and (r.full is None or r.full.written == 0)


def report(results: list[SizeRun], args, meta: dict[str, str], seconds: float) -> str:
    out: list[str] = []
    w = out.append
    w(HEADING + "\n")
    w(f"Generated by `bench/bench_rebuild.py` on {meta['date']} ({seconds / 60:.1f} min).\n")
    w(f"- machine: {meta['cpu']}, nproc={meta['nproc']}, {meta['platform']}")
    w(f"- code: {meta['git']}; SeaweedFS {meta['seaweedfs']}; load average (1 min) {meta['load']}")
    w(f"- store log: {meta.get('store_log', '?')}\n")
    w("## Method\n")
    w(
        "Per size, a bucket of one SeaweedFS server (`devstack.seaweed`, `make up`'s configuration) seeded as "
        "bench_release.py seeds it: the `v<N>.json` records, the private indexes (`catalog.build` + "
        "`catalog.save`) and the transparency log (`tlog.append`), but no views. Then, with the writer "
        "identity and the store's signing key: (1) a **cold rebuild**, `integrity.rebuild(store, settings, "
        "signer)` (what `releases rebuild --signing-key` runs), which renders every incident's renderings and "
        f"views and the site views from the records; (2) {args.k} releases through `pipeline.release` "
        "(preliminaries, updates, corrections), each rewriting its views incrementally; (3) a **rebuild over "
        "the up-to-date site**, which reads every record again but renders only the incidents whose records "
        "or views changed since the last rebuild (`_state/rendered.json`)"
        + ("; (4) a **`--full` rebuild**, which renders every incident again" if args.full else "")
        + ". Every S3 request is counted by operation (botocore events, as in bench_release.py; worker "
        "processes count their own, `Rebuilt.requests`). CPU: this process and its worker processes "
        "(`os.times`), and the SeaweedFS server on the same two cores (`psutil`). The check: the views the "
        "later rebuilds wrote (`Rebuilt.written`), and every object's ETag (the MD5 of its bytes) and "
        "Last-Modified listed before and after each (`ListObjectsV2`), all but the rebuild's own private "
        "note `_state/rendered.json`. No change means the views that releases wrote incrementally are "
        "byte-identical to the ones a rebuild renders from the records.\n"
    )
    runs = lambda r: [("cold", r.cold), ("up to date", r.again)] + ([("--full", r.full)] if r.full else [])  # noqa: E731
    seen = {op for r in results for _, rb in runs(r) for op in rb.sample.requests}
    ops = [op for op in KNOWN_OPS if op in seen] + sorted(seen - set(KNOWN_OPS))
    w(
        "| N incidents | records | rebuild | wall s | CPU s (rebuild) | CPU s (store) | incidents rendered | "
        "requests | " + " | ".join(short(op) for op in ops) + " | views written (`Rebuilt.written`) |"
    )
    w("|---:|---:|---|---:|---:|---:|---:|---:|" + "---:|" * (len(ops) + 1))
    for r in results:
        for label, rb in runs(r):
            s = rb.sample
            w(
                f"| {r.n:,} | {r.records:,} | {label} | {s.seconds:.1f} | {rb.cpu:.1f} | {rb.store_cpu:.1f} | "
                f"{rb.rendered:,} | {s.total_requests:,} | "
                + " | ".join(f"{s.requests[op]:,}" for op in ops)
                + f" | {rb.written:,} |"
            )
    w("")
    for r in results:
        later = "the rebuild over the up-to-date site" + (" and the --full rebuild" if r.full else "")
        w(
            f"- **N={r.n:,}: "
            + ("byte-identical" if identical(r) else "NOT identical")
            + f".** After the cold rebuild and {len(r.releases)} incremental releases, {later} wrote "
            f"{r.again.written + (r.full.written if r.full else 0)} views and changed {len(r.changed)} of the "
            f"bucket's {r.objects:,} objects ({len(r.bytes_differ)} with other bytes)"
            + (": " + ", ".join(f"`{k}`" for k in r.changed[:12]) if r.changed else "")
            + "."
        )
        if r.changed:
            kinds = Counter(generic(k) for k in r.changed)
            w("  By object: " + ", ".join(f"`{k}` x{v}" for k, v in kinds.most_common()) + ".")
        for label, rb in runs(r):
            for line in rb.problems + rb.warnings:
                w(f"  - {label} rebuild reported: {line}")
        statuses = Counter()
        for _, rb in runs(r):
            statuses.update(rb.sample.statuses)
        if statuses:
            w(
                "  Non-2xx answers seen by this process in the rebuilds: "
                + ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items()))
            )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="history sizes in incidents (comma-separated)")
    parser.add_argument(
        "-k", "--k", type=int, default=4, help="incremental releases between the rebuilds (4)"
    )
    parser.add_argument("--workers", type=int, default=8, help="parallel PUTs while seeding")
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="rebuild worker processes (default: one per core, as the CLI)",
    )
    parser.add_argument(
        "--full", action="store_true", help="also time a --full rebuild (every incident rendered again)"
    )
    parser.add_argument("--out", type=Path, help="put the Markdown section into this file")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    for name in ("botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)

    t0 = time.perf_counter()
    meta = machine()
    meta["load"] = f"{os.getloadavg()[0]:.1f}"
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        data_dir = Path(tmp) / "seaweedfs"
        server = seaweed.start(data_dir, seaweed.Ports.free())
        try:
            pool = max(10, args.workers)
            admin = server.client("admin", max_pool_connections=pool)
            writer = server.client("writer", max_pool_connections=pool)
            meter = Meter(writer)
            results = [
                run_size(server, admin, writer, meter, n, args.k, args.workers, args.processes, args.full)
                for n in sizes
            ]
        finally:
            code = server.stop()
            meta["store_log"] = log_summary(data_dir / "weed.log") + f"; exit code {code} after SIGTERM"
    meta["load"] += f" / {os.getloadavg()[0]:.1f}"
    text = report(results, args, meta, time.perf_counter() - t0)
    print(text)
    if args.out:
        write_section(args.out, text)
    return 0 if all(identical(r) for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Store restart vs. stored objects: how long until SeaweedFS serves its data again?

For each size N (default 0, 1,000 and 10,000 objects), in a fresh data folder of its own:

1. start SeaweedFS (``devstack.seaweed``, as ``make up`` configures it: credentials, JWT keys,
   a bucket with versioning and the project's bucket policy) and write N small statements
   (``incidents/<id>/v<N>.json`` records and ``v<N>.html`` renderings, 1-4 KB each) with a
   thread pool, the last one alone after the others;
2. stop it with SIGTERM (``server.stop()``) and time R restarts (default 3): from the
   ``seaweed.start(...)`` call until (a) the S3 API answers (``start`` returns) and (b) a GET
   of the last-written object and one of a random earlier object both return the exact bytes;
   after the last restart every object is read back and compared;
3. once more in another fresh folder: write the N objects, kill the server with SIGKILL right
   after the last write, restart, and read every object back.

Before each restart the bench waits, untimed, until ``devstack.seaweed``'s port check passes
(immediately since that check allows TIME-WAIT; the longest wait is reported).

Writes a Markdown section to stdout; ``--out`` puts it into bench/results.md in place of an earlier
restart section (or at the end), keeping the other benchmarks' sections.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_release import log_summary, machine  # noqa: E402
from botocore.exceptions import BotoCoreError, ClientError  # noqa: E402
from sections import write_section  # noqa: E402

from devstack import seaweed  # noqa: E402
from releases.storage import bucket_policy  # noqa: E402

BUCKET = "incident-releases"
HEADING = "# Store restart vs. stored objects"
STREETS = ["Oak St", "Elm St", "5th St", "Pine Ave", "Cedar Rd", "Lake Blvd", "Mill Rd"]
SENTENCE = (
    "Officers responded to a call near {street} at about {hour}:{minute} p.m.; one adult was taken "
    "to a hospital and no officers were hurt. The investigation is continuing. "
)


# -- objects -----------------------------------------------------------------------------
def statements(n: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """``n`` (key, body) pairs: per incident 1-3 versions, each a JSON record and its HTML page."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    out: list[tuple[str, bytes]] = []
    incident = 0
    while len(out) < n:
        iid = f"I{incident:05d}"
        for version in range(1, rng.choice([1, 1, 2, 3]) + 1):
            text = "".join(
                SENTENCE.format(
                    street=rng.choice(STREETS), hour=rng.randint(1, 12), minute=rng.randint(10, 59)
                )
                for _ in range(rng.randint(4, 18))
            )
            record = {
                "incident_id": iid,
                "version": version,
                "stage": "preliminary" if version == 1 else "updated",
                "headline": f"Use of force near {rng.choice(STREETS)}",
                "body": text,
                "released_at": f"2026-{rng.randint(1, 12):02d}-{rng.randint(10, 28)}T12:00:00Z",
                "released_by": "pio.bench",
                "sha256": f"{rng.getrandbits(256):064x}",
            }
            page = (
                f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{iid} v{version}'
                f"</title></head><body><main><h1>{record['headline']}</h1><p>{text}</p></main></body></html>"
            )
            out.append((f"incidents/{iid}/v{version}.json", json.dumps(record, indent=1).encode()))
            out.append((f"incidents/{iid}/v{version}.html", page.encode()))
        incident += 1
    return out[:n]


def write_all(client, objects: list[tuple[str, bytes]], workers: int) -> float:
    """PUT every object (the last one alone, after the pool), return the seconds it took."""

    def put(item: tuple[str, bytes]) -> None:
        kind = "application/json" if item[0].endswith(".json") else "text/html; charset=utf-8"
        client.put_object(Bucket=BUCKET, Key=item[0], Body=item[1], ContentType=kind)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, objects[:-1]))
    if objects:
        put(objects[-1])
    return time.perf_counter() - t0


def read_all(client, objects: list[tuple[str, bytes]], workers: int) -> tuple[int, int, int]:
    """(identical, different, missing) after reading every object back."""

    def check(item: tuple[str, bytes]) -> str:
        try:
            body = client.get_object(Bucket=BUCKET, Key=item[0])["Body"].read()
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return "missing"
            raise
        return "same" if body == item[1] else "different"

    with ThreadPoolExecutor(workers) as pool:
        found = list(pool.map(check, objects))
    return found.count("same"), found.count("different"), found.count("missing")


def bucket_intact(server: seaweed.SeaweedFS, client, objects: list[tuple[str, bytes]]) -> str:
    """Versioning, the bucket policy and an anonymous read of a published key, after a restart."""
    versioning = client.get_bucket_versioning(Bucket=BUCKET).get("Status", "off")
    try:
        stored = json.loads(client.get_bucket_policy(Bucket=BUCKET)["Policy"])
        policy = compare_policy(stored, bucket_policy(BUCKET))
    except ClientError as err:
        policy = f"not readable ({err})"
    anonymous = "-"
    if objects:
        url = f"{server.endpoint}/{BUCKET}/{objects[-1][0]}"
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - loopback URL built here
                anonymous = "same bytes" if answer.read() == objects[-1][1] else "different bytes"
        except OSError as err:
            anonymous = f"failed: {err}"
    return f"versioning {versioning}, policy {policy}, anonymous GET {anonymous}"


def compare_policy(stored, wanted) -> str:
    """``intact`` when equal as policies, else what differs. SeaweedFS answers a one-element list
    (``"Action": ["s3:GetObject"]``) as the element itself; the order of a list means nothing."""

    def norm(x, ordered: bool):
        if isinstance(x, dict):
            return {k: norm(v, ordered) for k, v in x.items()}
        if isinstance(x, list):
            if len(x) == 1:
                return norm(x[0], ordered)
            items = [norm(v, ordered) for v in x]
            return items if ordered else sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
        return x

    if norm(stored, True) == norm(wanted, True):
        return "intact"
    if norm(stored, False) == norm(wanted, False):
        return "intact (lists in another order)"
    return "CHANGED: `" + json.dumps(stored, separators=(",", ":"))[:500] + "`"


# -- restarts ----------------------------------------------------------------------------
@dataclass
class Restart:
    api: float  # seaweed.start() returned: the S3 API answers
    ready: float  # both GETs returned the exact bytes
    attempts: int  # GET rounds until they did
    errors: list[str] = field(default_factory=list)
    ports_wait: float = 0.0  # untimed: until devstack's port check passes again


def wait_for_ports(ports: seaweed.Ports, timeout: float = 180.0) -> float:
    t0 = time.perf_counter()
    # The same check seaweed.start() makes before it refuses to start.
    while any(not seaweed.port_free(p) for p in ports.all()):
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError(f"ports {ports} still refused after {timeout:.0f} s")
        time.sleep(0.5)
    return time.perf_counter() - t0


def restart(
    data_dir: Path, ports: seaweed.Ports, probes: list[tuple[str, bytes]], timeout: float = 120.0
) -> tuple[seaweed.SeaweedFS, Restart]:
    waited = wait_for_ports(ports)
    t0 = time.perf_counter()
    server = seaweed.start(data_dir, ports)
    api = time.perf_counter() - t0
    # No retries inside botocore: this loop is the retry, and it counts.
    client = server.client("admin", retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10)
    errors: list[str] = []
    attempts = 0
    while True:
        attempts += 1
        try:
            if probes:
                ok = all(
                    client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body for key, body in probes
                )
            else:  # nothing stored: the bucket itself must be back
                client.head_bucket(Bucket=BUCKET)
                ok = True
            if ok:
                break
            errors.append("different bytes")
        except (ClientError, BotoCoreError) as err:
            errors.append(str(err)[:160])
        if time.perf_counter() - t0 > timeout:
            server.stop()
            raise RuntimeError(f"objects not readable {timeout:.0f} s after restart: {errors[-3:]}")
        time.sleep(0.05)
    ready = time.perf_counter() - t0
    client.close()
    return server, Restart(api, ready, attempts, errors, waited)


@dataclass
class Stop:
    seconds: float
    code: int  # -9: SIGTERM was not enough, server.stop() killed it after its timeout
    tail: str = ""  # the end of weed.log when that happened


def stop(server: seaweed.SeaweedFS) -> Stop:
    t0 = time.perf_counter()
    code = server.stop()
    done = Stop(time.perf_counter() - t0, code)
    if code != 0:
        lines = (server.data_dir / "weed.log").read_text(errors="replace").splitlines()
        done.tail = " / ".join(line.strip() for line in lines[-8:] if line.strip())[:600]
    return done


@dataclass
class SizeResult:
    n: int
    body_sizes: list[int]
    write_seconds: float = 0.0
    stops: list[Stop] = field(default_factory=list)
    restarts: list[Restart] = field(default_factory=list)
    after_term: tuple[int, int, int] = (0, 0, 0)
    term_bucket: str = ""
    kill_write_seconds: float = 0.0
    kill_restart: Restart | None = None
    after_kill: tuple[int, int, int] = (0, 0, 0)
    kill_bucket: str = ""
    logs: list[str] = field(default_factory=list)


def fresh(tmp: Path, name: str, objects: list[tuple[str, bytes]], workers: int):
    data_dir = tmp / name
    ports = seaweed.Ports.free()
    server = seaweed.start(data_dir, ports)
    server.provision(BUCKET)
    client = server.client("admin", max_pool_connections=max(10, workers))
    seconds = write_all(client, objects, workers)
    client.close()
    return data_dir, ports, server, seconds


def run_size(n: int, repeats: int, workers: int, tmp: Path) -> SizeResult:
    objects = statements(n)
    result = SizeResult(n, [len(body) for _, body in objects])
    rng = random.Random(n)  # noqa: S311 - which earlier object to read, not a secret

    def probes() -> list[tuple[str, bytes]]:
        if not objects:
            return []
        return [objects[-1]] + ([objects[rng.randrange(len(objects) - 1)]] if len(objects) > 1 else [])

    # SIGTERM, R timed restarts.
    data_dir, ports, server, result.write_seconds = fresh(tmp, f"term-{n}", objects, workers)
    print(f"N={n:,}: wrote {n:,} objects in {result.write_seconds:.1f} s", flush=True)
    for i in range(repeats):
        result.stops.append(stop(server))
        server, timing = restart(data_dir, ports, probes())
        result.restarts.append(timing)
        print(
            f"N={n:,}: restart {i + 1}/{repeats}: API {timing.api:.2f} s, objects {timing.ready:.2f} s "
            f"({timing.attempts} GET rounds; stop before it {result.stops[-1].seconds:.1f} s, exit "
            f"{result.stops[-1].code}; ports busy for {timing.ports_wait:.1f} s)",
            flush=True,
        )
    client = server.client("admin", max_pool_connections=max(10, workers))
    result.after_term = read_all(client, objects, workers)
    result.term_bucket = bucket_intact(server, client, objects)
    client.close()
    result.stops.append(stop(server))
    result.logs.append(f"SIGTERM run: {log_summary(data_dir / 'weed.log')}")

    # SIGKILL right after the last write, one restart, every object read back.
    data_dir, ports, server, result.kill_write_seconds = fresh(tmp, f"kill-{n}", objects, workers)
    server.proc.kill()
    server.proc.wait()
    server, result.kill_restart = restart(data_dir, ports, probes())
    client = server.client("admin", max_pool_connections=max(10, workers))
    result.after_kill = read_all(client, objects, workers)
    result.kill_bucket = bucket_intact(server, client, objects)
    client.close()
    server.stop()
    result.logs.append(f"SIGKILL run: {log_summary(data_dir / 'weed.log')}")
    same, different, missing = result.after_kill
    print(f"N={n:,}: after SIGKILL {same:,} of {n:,} present and identical", flush=True)
    return result


# -- report ------------------------------------------------------------------------------
def med(values) -> float:
    values = list(values)
    return statistics.median(values) if values else 0.0


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def present(n: int, found: tuple[int, int, int]) -> str:
    same, different, missing = found
    text = f"{same:,} of {n:,} present"
    if different or missing:
        text += f" ({different:,} different, {missing:,} missing)"
    return text


def report(results: list[SizeResult], repeats: int, meta: dict[str, str], seconds: float) -> str:
    out: list[str] = []
    w = out.append
    w(HEADING + "\n")
    w(f"Generated by `bench/bench_restart.py` on {meta['date']} ({seconds / 60:.1f} min).\n")
    w(f"- machine: {meta['cpu']}, nproc={meta['nproc']}, {meta['platform']}")
    w(f"- SeaweedFS {meta['seaweedfs']} (`weed mini` started by `devstack.seaweed`); boto3 {meta['boto3']}")
    w(f"- sizes {', '.join(f'{r.n:,}' for r in results)} objects, {repeats} SIGTERM restarts each\n")
    w("## Method\n")
    w(
        "Each size gets a fresh data folder: SeaweedFS is started as `make up` starts it, the bucket "
        "is provisioned (`server.provision`: versioning and the project's bucket policy) and N "
        "objects are written with 8 threads: per incident 1-3 versions, each a JSON record "
        "`incidents/<id>/v<N>.json` and its HTML page `v<N>.html`, 1-4 KB each, the last object "
        "alone after the others. The server is stopped with SIGTERM (`server.stop()`), then "
        f"restarted {repeats} times, each timed from the `seaweed.start(...)` call until (a) the S3 "
        "API answers (`start` returns; it polls every 0.1 s) and (b) a GET of the last-written "
        "object and a GET of a random earlier one both return the exact bytes (retried every "
        "0.05 s; at N=0 there is nothing to read, so (b) is a HeadBucket). After the last restart "
        "every object is read back. Separately, in a second fresh folder, the same N objects are "
        "written and the server is killed with SIGKILL right after the last write (no shutdown "
        "at all), restarted once and every object read back. SIGKILL tests a process crash, not "
        "a power cut: data the process had handed to the kernel survives either way.\n"
    )
    waits = [x.ports_wait for r in results for x in [*r.restarts, r.kill_restart] if x]
    w(
        "Not timed: before every restart the bench waits until `devstack.seaweed`'s port check "
        f"passes; the longest wait in this run was {max(waits, default=0):.1f} s.\n"
    )
    sizes = [b for r in results for b in r.body_sizes]
    if sizes:
        w(
            f"Object bodies: median {med(sizes):,.0f} B, min {min(sizes):,} B, max {max(sizes):,} B. "
            "Times are wall seconds on a shared machine: compare within this run.\n"
        )
    w("## Restart after SIGTERM (median of the restarts)\n")
    w(
        "| objects | write (s) | SIGTERM stops (s) | (a) S3 API (s) | (b) objects readable (s) | restarts (b), s | "
        "GET rounds | all objects after the last restart |"
    )
    w("|---:|---:|---|---:|---:|---|---:|---|")
    for r in results:
        rs = r.restarts
        w(
            f"| {r.n:,} | {r.write_seconds:.1f} | {', '.join(f'{s.seconds:.1f}' for s in r.stops)} | "
            f"{med(x.api for x in rs):.2f} | "
            f"{med(x.ready for x in rs):.2f} | {', '.join(f'{x.ready:.2f}' for x in rs)} | "
            f"{med(x.attempts for x in rs):g} | {present(r.n, r.after_term)} |"
        )
    w("")
    base, top = results[0], results[-1]
    if top is not base:
        w(
            f"Ratio N={top.n:,} vs N={base.n:,} (medians): (a) S3 API "
            f"{ratio(med(x.api for x in top.restarts), med(x.api for x in base.restarts))}, (b) objects "
            f"readable {ratio(med(x.ready for x in top.restarts), med(x.ready for x in base.restarts))}.\n"
        )
    codes = sorted({s.code for r in results for s in r.stops})
    w(
        f"Exit codes after SIGTERM: {', '.join(map(str, codes))} ({sum(len(r.stops) for r in results)} "
        f"stops, {repeats} before the restarts and one at the end of each size; -9: still running "
        "20 s after SIGTERM, so `server.stop()` killed it).\n"
    )
    for r in results:
        for i, s in enumerate(r.stops):
            if s.code != 0:
                w(
                    f"- N={r.n:,}, stop {i + 1}: exit {s.code} after {s.seconds:.1f} s; end of `weed.log`: `{s.tail}`"
                )
    if any(s.code != 0 for r in results for s in r.stops):
        w("")

    w("## SIGKILL right after the last write, then one restart\n")
    w("| objects | write (s) | (a) S3 API (s) | (b) objects readable (s) | every object read back | bucket |")
    w("|---:|---:|---:|---:|---|---|")
    for r in results:
        k = r.kill_restart
        assert k is not None
        w(
            f"| {r.n:,} | {r.kill_write_seconds:.1f} | {k.api:.2f} | {k.ready:.2f} | "
            f"{present(r.n, r.after_kill)} | {r.kill_bucket} |"
        )
    w("")
    w("After the SIGTERM restarts: " + "; ".join(f"N={r.n:,}: {r.term_bucket}" for r in results) + ".\n")

    errors = [(r.n, e) for r in results for x in [*r.restarts, r.kill_restart] if x for e in x.errors]
    w("## Store logs and errors seen while waiting\n")
    for r in results:
        for line in r.logs:
            w(f"- N={r.n:,}, {line}")
    if errors:
        seen = sorted({f"N={n:,}: {e}" for n, e in errors})
        w(f"- {len(errors)} failed GET rounds after restarts, distinct answers: " + "; ".join(seen[:8]))
    else:
        w("- no GET after a restart failed: the objects were readable as soon as the S3 API answered")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,1000,10000", help="objects per size (comma-separated)")
    parser.add_argument("--repeats", type=int, default=3, help="timed SIGTERM restarts per size (default 3)")
    parser.add_argument("--workers", type=int, default=8, help="parallel PUTs and GETs")
    parser.add_argument("--out", type=Path, help="append the Markdown section here (replacing an old one)")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})

    t0 = time.perf_counter()
    meta = machine()
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
        results = [run_size(n, args.repeats, args.workers, Path(tmp)) for n in sizes]
    text = report(results, args.repeats, meta, time.perf_counter() - t0)
    print(text)
    if args.out:
        write_section(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

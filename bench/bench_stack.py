"""Trigger -> public on the ``make up`` stack: releases through Airflow's REST API, timed until anyone can read them.

Starts the stack itself (``python -m devstack up`` on free loopback ports, with a throw-away data folder
and Airflow home, stopped with SIGINT at the end), or uses a running one (``--api``, ``--s3``, ``--password``,
``--store-data``). Then, with a JWT from ``POST /auth/token``, every release is a
``POST /api/v2/dags/incident_release/dagRuns``, and "public" is read anonymously on the S3 endpoint, as a
reader would: the version record ``incidents/<id>/v<N>.json`` (found by the run's ``idempotency_key``), the
incident page ``incidents/<id>/index.html`` showing version N, and the site feed ``rss.xml`` carrying its
entry (``incidents/<id>/v<N>.html``), each timed from just before the POST.

(a) sequential: S releases one after the other (each waits until the previous run finished): a new
    incident's preliminary, an update, a correction, in turn; p50/p95/max per check.
(b) simultaneous: C submissions released together by a barrier (half new preliminaries, half updates of one
    incident, which race for its version numbers): API answers that are not 2xx, versions published, time
    until all are public.
(c) burst: B preliminaries of B new incidents, released together; all public, median and max latency, and
    how many object versions each site view got during the burst (``ListObjectVersions`` before and after,
    once every run has finished): the number of times it was written.

Writes a Markdown section; ``--out`` puts it into bench/results.md in place of an earlier one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from bench_release import correction, generic, machine, updated  # noqa: E402
from sections import write_section  # noqa: E402

from devstack import processes, seaweed  # noqa: E402
from devstack import stack as devstack  # noqa: E402

HEADING = "# Trigger to public on the make up stack"
DAG_ID = "incident_release"
BUCKET = "incident-releases"
RUNNING = "Incident releases is running"
FINAL = ("success", "failed")
CHECKS = ("record", "page", "feed")


# -- the stack -------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_s3_port() -> int:
    """An S3 port whose four neighbours and their gRPC ports are free too (the ``make up`` layout)."""
    for _ in range(200):
        port = _free_port()
        ports = seaweed.Ports.from_s3(port).all()
        if max(ports) < 65536 and all(seaweed.port_free(p) for p in ports):
            return port
    raise RuntimeError("no free port range for the store")


@dataclass
class Stack:
    api: str
    s3: str
    bucket: str
    user: str
    password: str
    store_data: Path | None
    proc: subprocess.Popen | None = None
    log: Path | None = None
    started_seconds: float = 0.0

    @property
    def site(self) -> str:
        return f"{self.s3}/{self.bucket}"

    def admin(self):
        """The store's admin client (listing object versions), if its credentials are at hand."""
        if self.store_data is None or not (self.store_data / "credentials.json").exists():
            return None
        import boto3

        creds = seaweed.credentials(self.store_data)["admin"]
        return boto3.client(
            "s3",
            endpoint_url=self.s3,
            region_name=seaweed.REGION,
            aws_access_key_id=creds["access_key"],
            aws_secret_access_key=creds["secret_key"],
        )

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None

    def tails(self, lines: int = 40) -> str:
        """The end of make up's output and of Airflow's log (kept in the report when the stack failed)."""
        if self.log is None:
            return ""
        out = []
        for path in (self.log, self.log.parent / "airflow" / "airflow.log"):
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(out)

    def stop(self) -> str:
        """SIGINT (``make up``'s Ctrl-C), then SIGTERM, then SIGKILL to every process of its tree."""
        if self.proc is None or self.proc.poll() is not None:
            return "not running"
        family = processes.tree(self.proc.pid)
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=120)
            how = f"exit {code} {time.monotonic() - t0:.0f} s after SIGINT"
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                code = self.proc.wait(timeout=30)
                how = f"exit {code} after SIGINT, then SIGTERM"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                how = "killed"
        left = []
        for p in family:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    p.kill()
                    left.append(p)
            except psutil.Error:
                pass  # gone meanwhile
        return how + (f"; killed {len(left)} processes left running" if left else "")


def start_stack(tmp: Path, timeout: float) -> Stack:
    s3_port, api_port = _free_s3_port(), _free_port()
    password = secrets.token_urlsafe(18)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "RELEASES_"))
    }
    env.update(
        AIRFLOW_HOME=str(tmp / "airflow"),
        RELEASES_S3_ENDPOINT=f"http://127.0.0.1:{s3_port}",
        RELEASES_API_URL=f"http://127.0.0.1:{api_port}",
        RELEASES_API_PASSWORD=password,
        # The sequence includes corrections, which by default wait for a second person: timed from the
        # trigger, a release that waits for an approver would measure the approver (issue 14 counts it from
        # the approval). The bench measures the pipeline: no stage waits.
        RELEASES_APPROVAL_STAGES="none",
    )
    log = tmp / "up.log"
    t0 = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "devstack", "up", "--data-dir", str(tmp / "s3")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    s = Stack(
        env["RELEASES_API_URL"], env["RELEASES_S3_ENDPOINT"], BUCKET, "admin", password, tmp / "s3", proc, log
    )
    while RUNNING not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            s.stop()
            raise RuntimeError(
                "make up did not start; its output:\n" + log.read_text(errors="replace")[-3000:]
            )
        time.sleep(1.0)
    s.started_seconds = time.monotonic() - t0
    return s


# -- REST API and anonymous reads ------------------------------------------------------------------
def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback URL
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - loopback URL
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")[:300]
    except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
        return 0, str(err)


def public(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback URL
            return resp.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@dataclass
class Submission:
    iid: str
    kind: str
    conf: dict[str, Any]
    t0: float = 0.0
    status: int = 0
    answer: Any = None
    run_id: str = ""
    version: int | None = None
    at: dict[str, float] = field(default_factory=dict)  # check -> seconds after t0
    run: dict[str, Any] = field(default_factory=dict)  # the DAG run as the API last showed it

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300

    @property
    def public(self) -> bool:
        return all(c in self.at for c in CHECKS)

    @property
    def latency(self) -> float | None:
        return max(self.at.values()) if self.public else None


def trigger(s: Stack, token: str, sub: Submission) -> None:
    sub.t0 = time.perf_counter()
    sub.status, sub.answer = http(
        "POST", f"{s.api}/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": sub.conf}, token
    )
    if sub.accepted and isinstance(sub.answer, dict):
        sub.run_id = sub.answer.get("dag_run_id", "")


def together(s: Stack, token: str, subs: list[Submission]) -> float:
    """POST every submission at once (threads released by a barrier); returns the barrier's moment."""
    barrier = threading.Barrier(len(subs) + 1)

    def go(sub: Submission) -> None:
        barrier.wait()
        trigger(s, token, sub)

    threads = [threading.Thread(target=go, args=(sub,)) for sub in subs]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return start


def run_state(s: Stack, token: str, sub: Submission) -> str:
    if sub.run_id and sub.run.get("state") not in FINAL:
        status, run = http("GET", f"{s.api}/api/v2/dags/{DAG_ID}/dagRuns/{sub.run_id}", token=token)
        if status == 200 and isinstance(run, dict):
            sub.run = run
    return sub.run.get("state", "")


def wait_public(s: Stack, token: str, subs: list[Submission], timeout: float, interval: float = 0.2) -> None:
    """Poll the public site until every accepted submission is public, its run failed, or ``timeout``."""
    records: dict[str, dict[int, str]] = {}  # iid -> version -> idempotency_key
    by_key = {f"{DAG_ID}/{sub.run_id}": sub for sub in subs if sub.run_id}
    deadline = time.perf_counter() + timeout
    last_states = 0.0
    while True:
        waiting = [x for x in subs if x.accepted and not x.public and x.run.get("state") != "failed"]
        if not waiting or time.perf_counter() > deadline:
            return
        for iid in sorted({x.iid for x in waiting if x.version is None}):
            known = records.setdefault(iid, {})
            while True:
                n = max(known, default=0) + 1
                raw = public(f"{s.site}/incidents/{iid}/v{n}.json")
                if raw is None:
                    break
                known[n] = json.loads(raw).get("idempotency_key", "")
                sub = by_key.get(known[n])
                if sub is not None:
                    sub.version = n
                    sub.at["record"] = time.perf_counter() - sub.t0
        for iid in sorted({x.iid for x in waiting if x.version and "page" not in x.at}):
            page = (public(f"{s.site}/incidents/{iid}/index.html") or b"").decode(errors="replace")
            for x in waiting:
                if x.iid == iid and x.version and "page" not in x.at:
                    if re.search(rf'id="v{x.version}"|/v{x.version}\.html|"v{x.version}\.html', page):
                        x.at["page"] = time.perf_counter() - x.t0
        if any(x.version and "feed" not in x.at for x in waiting):
            feed = (public(f"{s.site}/rss.xml") or b"").decode(errors="replace")
            for x in waiting:
                if x.version and "feed" not in x.at and f"incidents/{x.iid}/v{x.version}.html" in feed:
                    x.at["feed"] = time.perf_counter() - x.t0
        if time.perf_counter() - last_states > 5:
            for x in waiting:
                run_state(s, token, x)
            last_states = time.perf_counter()
        time.sleep(interval)


def wait_runs(s: Stack, token: str, subs: list[Submission], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(run_state(s, token, x) in FINAL for x in subs if x.run_id):
            return
        time.sleep(1.0)


# -- documents ---------------------------------------------------------------------------------------
def preliminary(iid: str) -> dict[str, str]:
    """The demo's first statement, under ``iid`` and a headline of its own."""
    first = devstack.DEMO_RUNS[0]
    return {
        **first,
        "incident_id": iid,
        "headline": f"{first['headline']} ({iid})",
        "summary": "One adult injured; transported to a hospital. No officers were hurt.",
    }


def corrected(iid: str, n: int) -> dict[str, str]:
    street = f"{6 + n}th St"
    return correction(
        iid,
        f"{street} and Main St",
        f"The earlier statement gave the wrong cross street; video shows {street}.",
    )


# -- the three measurements ----------------------------------------------------------------------------
def sequential(s: Stack, token: str, n: int, tag: str, timeout: float) -> list[Submission]:
    subs = []
    for i in range(n):
        iid = f"S{tag}-{i // 3:03d}"
        kind = ("preliminary", "update", "correction")[i % 3]
        if kind == "preliminary":
            conf = preliminary(iid)
        else:
            conf = updated(iid, i) if kind == "update" else corrected(iid, i)
        sub = Submission(iid, kind, conf)
        trigger(s, token, sub)
        wait_public(s, token, [sub], timeout)
        wait_runs(s, token, [sub], timeout)
        subs.append(sub)
        print(
            f"(a) {i + 1}/{n} {kind:<11} HTTP {sub.status} "
            + " ".join(f"{c} {sub.at[c]:.1f}s" for c in CHECKS if c in sub.at)
            + f" run {sub.run.get('state', '?')}",
            flush=True,
        )
    return subs


def simultaneous(s: Stack, token: str, n: int, tag: str, timeout: float) -> tuple[list[Submission], float]:
    """Half new incidents' preliminaries, half updates of one incident released just before."""
    shared = f"C{tag}-SHARED"
    first = Submission(shared, "preliminary", preliminary(shared))
    trigger(s, token, first)
    wait_public(s, token, [first], timeout)
    wait_runs(s, token, [first], timeout)
    subs = []
    for i in range(n):
        if i % 2:
            subs.append(Submission(shared, "update", updated(shared, i)))
        else:
            iid = f"C{tag}-{i:03d}"
            subs.append(Submission(iid, "preliminary", preliminary(iid)))
    start = together(s, token, subs)
    wait_public(s, token, subs, timeout)
    wait_runs(s, token, subs, timeout)
    done = max((x.t0 + x.latency for x in subs if x.latency is not None), default=start) - start
    return subs, done


def object_versions(admin, bucket: str) -> set[tuple[str, str]]:
    found = set()
    for page in admin.get_paginator("list_object_versions").paginate(Bucket=bucket):
        found.update((v["Key"], v["VersionId"]) for v in page.get("Versions", []))
    return found


def burst(
    s: Stack, token: str, n: int, tag: str, timeout: float
) -> tuple[list[Submission], float, Counter | None]:
    admin = s.admin()
    before = object_versions(admin, s.bucket) if admin else None
    subs = [Submission(f"B{tag}-{i:03d}", "preliminary", preliminary(f"B{tag}-{i:03d}")) for i in range(n)]
    start = together(s, token, subs)
    wait_public(s, token, subs, timeout)
    wait_runs(s, token, subs, timeout)
    done = max((x.t0 + x.latency for x in subs if x.latency is not None), default=start) - start
    writes = None
    if admin is not None and before is not None:
        writes = Counter(key for key, _ in object_versions(admin, s.bucket) - before)
    return subs, done, writes


# -- report ----------------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p50 of 20 values: the 10th smallest; p95: the 19th)."""
    values = sorted(values)
    if not values:
        return float("nan")
    return values[max(0, min(len(values) - 1, math.ceil(len(values) * q / 100) - 1))]


def seconds_of(run: dict[str, Any], a: str, b: str) -> float | None:
    try:
        return (datetime.fromisoformat(run[b]) - datetime.fromisoformat(run[a])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def latency_table(subs: list[Submission]) -> list[str]:
    rows = ["| check | n | p50 s | p95 s | max s |", "|---|---:|---:|---:|---:|"]
    for check in (*CHECKS, "all three"):
        values = [x.latency if check == "all three" else x.at.get(check) for x in subs]
        values = [v for v in values if v is not None]
        if values:
            rows.append(
                f"| {check} | {len(values)} | {pct(values, 50):.1f} | {pct(values, 95):.1f} | {max(values):.1f} |"
            )
    runs = [
        (seconds_of(x.run, "queued_at", "start_date"), seconds_of(x.run, "start_date", "end_date"))
        for x in subs
    ]
    for label, i in (("run queued -> started (API)", 0), ("run started -> ended (API)", 1)):
        values = [r[i] for r in runs if r[i] is not None]
        if values:
            rows.append(
                f"| {label} | {len(values)} | {pct(values, 50):.1f} | {pct(values, 95):.1f} | {max(values):.1f} |"
            )
    return rows


def outcome(subs: list[Submission]) -> str:
    answers = Counter(x.status for x in subs)
    errors = {k: v for k, v in answers.items() if not 200 <= k < 300}
    states = Counter(x.run.get("state", "unknown") for x in subs if x.run_id)
    versions = {(x.iid, x.version) for x in subs if x.version}
    shown = "; ".join(f"HTTP {x.status}: {str(x.answer)[:120]}" for x in subs if not x.accepted)[:600]
    return (
        f"{len(subs)} submissions: {sum(errors.values())} API answers not 2xx"
        + (f" ({shown})" if shown else "")
        + f"; runs {', '.join(f'{k} {v}' for k, v in sorted(states.items()))}; "
        f"{len(versions)} distinct versions published; {sum(x.public for x in subs)} public "
        "(record, incident page and rss.xml)"
    )


VIEWS = ("index.html", "index.json", "rss.xml", "atom.xml", "corrections/index.html")


def report(args, meta: dict[str, str], s: Stack, seq, sim, bur, stopped: str, seconds: float) -> str:
    out: list[str] = []
    w = out.append
    w(HEADING + "\n")
    w(f"Generated by `bench/bench_stack.py` on {meta['date']} ({seconds / 60:.1f} min).\n")
    w(f"- machine: {meta['cpu']}, nproc={meta['nproc']}, {meta['platform']}")
    w(f"- code: {meta['git']}; SeaweedFS {meta['seaweedfs']}")
    w(f"- load average (1 min) at the start and the end: {meta['load']}; other processes share the cores")
    if s.proc is not None:
        w(
            f"- stack: `python -m devstack up` started by the bench on free loopback ports with a throw-away "
            f"data folder and Airflow home (AIRFLOW__CORE__PARALLELISM="
            f"{os.environ.get('AIRFLOW__CORE__PARALLELISM', '8')}); up and answering after "
            f"{s.started_seconds:.0f} s; stopped: {stopped}"
        )
    else:
        w(f"- stack: a running one, API {s.api}, store {s.s3}")
    w("")
    w("## Method\n")
    w(
        'Every release is a `POST /api/v2/dags/incident_release/dagRuns` (`{"logical_date": null, "conf": '
        "...}`, a JWT from `POST /auth/token`) to the running stack: Airflow's API server, scheduler and "
        "LocalExecutor run the DAG's task, which signs and publishes to SeaweedFS. Each submission is timed "
        "from just before its POST until an anonymous plain-HTTP GET on the S3 endpoint (a reader's view, "
        "polled every 0.2 s) sees (1) **record**: `incidents/<id>/v<N>.json` whose `idempotency_key` is the "
        "run's, (2) **page**: `incidents/<id>/index.html` showing version N, (3) **feed**: `rss.xml` with "
        "the entry `incidents/<id>/v<N>.html`. *All three* is the latest of the three. Percentiles are "
        "nearest-rank. The run's own times (queued, started, ended) come from "
        "`GET /api/v2/dags/incident_release/dagRuns/<run>`.\n"
    )

    w(f"## (a) {len(seq)} sequential releases\n")
    w(
        "One after the other, each once the previous run had ended: a new incident's preliminary, an "
        "update, a correction, in turn. " + outcome(seq) + ".\n"
    )
    w("\n".join(latency_table(seq)) + "\n")
    by_kind = []
    for kind in ("preliminary", "update", "correction"):
        values = [x.latency for x in seq if x.kind == kind and x.latency is not None]
        if values:
            by_kind.append(f"{kind} {statistics.median(values):.1f} s ({len(values)})")
    if by_kind:
        w("Median of *all three* by kind: " + ", ".join(by_kind) + ".\n")
    gaps = []
    for kind in ("preliminary", "update", "correction"):
        values = [x.at["feed"] - x.at["page"] for x in seq if x.kind == kind and x.public]
        if values:
            gaps.append(f"{kind} {statistics.median(values):.1f} s")
    if gaps:
        w(
            "Median time from the incident page to `rss.xml` (the site views are written after the "
            "incident's own) by kind: " + ", ".join(gaps) + ".\n"
        )

    subs, done = sim
    w(f"## (b) {len(subs)} simultaneous submissions\n")
    w(
        f"Released together by a barrier: {sum(x.kind == 'preliminary' for x in subs)} new incidents' "
        f"preliminaries and {sum(x.kind == 'update' for x in subs)} updates of one incident, which race "
        f"for its version numbers. {outcome(subs)}. All public {done:.1f} s after the barrier.\n"
    )
    shared = sorted(x.version for x in subs if x.kind == "update" and x.version)
    if shared:
        w(f"Versions the racing updates got: {', '.join(map(str, shared))}.\n")
    w("\n".join(latency_table(subs)) + "\n")

    subs, done, writes = bur
    w(f"## (c) Burst: {len(subs)} releases over {len(subs)} incidents at once\n")
    w(f"{outcome(subs)}. All public {done:.1f} s after the barrier.\n")
    w("\n".join(latency_table(subs)) + "\n")
    if writes is None:
        w("Render counts not measured: no admin credentials for the store (`--store-data`).\n")
    else:
        w(
            "Object versions written during the burst (`ListObjectVersions` before the burst and after every "
            "run had ended; each version is one write):\n"
        )
        most = max(writes.get(key, 0) for key in VIEWS)
        w(
            f"Each of the five site views below was written at most {most} times for {len(subs)} releases "
            f"({most / max(len(subs), 1):.2f} per release).\n"
        )
        w("| object | versions written |")
        w("|---|---:|")
        for key in VIEWS:
            w(f"| `{key}` | {writes.get(key, 0)} |")
        others = Counter()
        per = Counter()
        for key, count in writes.items():
            if key in VIEWS:
                continue
            g = generic(key)
            others[g] += count
            per[g] = max(per[g], count)
        for key, count in sorted(others.items(), key=lambda kv: (-kv[1], kv[0])):
            w(f"| `{key}` | {count}" + (f" (at most {per[key]} for one)" if "<" in key else "") + " |")
        w("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=20, help="(a) releases one after the other (20)")
    parser.add_argument("--simultaneous", type=int, default=20, help="(b) submissions at once (20)")
    parser.add_argument(
        "--burst", type=int, default=50, help="(c) releases of as many incidents at once (50)"
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for each phase to be public"
    )
    parser.add_argument("--api", help="use a running stack: its Airflow API URL (else one is started)")
    parser.add_argument("--s3", default="http://127.0.0.1:9000", help="with --api: the S3 endpoint")
    parser.add_argument("--bucket", default=BUCKET, help="with --api: the bucket")
    parser.add_argument("--user", default="admin", help="with --api: the Airflow user")
    parser.add_argument(
        "--password", default=os.environ.get("RELEASES_API_PASSWORD"), help="with --api: its password"
    )
    parser.add_argument(
        "--store-data",
        type=Path,
        default=ROOT / ".data" / "s3",
        help="with --api: the store's data folder (credentials.json: the admin identity lists object versions)",
    )
    parser.add_argument("--out", type=Path, help="put the Markdown section into this file")
    args = parser.parse_args(argv)

    # SIGTERM (e.g. from `timeout`) takes the clean-up path too: the stack is stopped, never left running.
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(KeyboardInterrupt()))
    t0 = time.perf_counter()
    meta = machine()
    meta["load"] = f"{os.getloadavg()[0]:.1f}"
    tag = datetime.now().strftime("%H%M%S")
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        if os.geteuid() == 0:
            # make up runs PostgreSQL as the `postgres` user, which must be able to enter the stack's folder
            # (mkdtemp makes it 0700): 0711, enter but not list. Otherwise the stack falls back to SQLite.
            Path(tmp).chmod(0o711)
        if args.api:
            if not args.password:
                parser.error("--api needs --password (or RELEASES_API_PASSWORD)")
            s = Stack(
                args.api.rstrip("/"),
                args.s3.rstrip("/"),
                args.bucket,
                args.user,
                args.password,
                args.store_data,
            )
        else:
            print("starting make up's stack (python -m devstack up) on free ports ...", flush=True)
            s = start_stack(Path(tmp), timeout=600)
            print(f"stack up after {s.started_seconds:.0f} s: API {s.api}, store {s.s3}", flush=True)
        stopped, failure = "left running", ""
        seq: list[Submission] = []
        sim: tuple[list[Submission], float] = ([], 0.0)
        bur: tuple[list[Submission], float, Counter | None] = ([], 0.0, None)
        try:
            token = devstack.api_token(s.api, s.user, s.password)
            seq = sequential(s, token, args.sequential, tag, args.timeout)
            print(outcome(seq), flush=True)
            if s.alive() and args.simultaneous:
                sim = simultaneous(s, token, args.simultaneous, tag, args.timeout)
                print(f"(b) {outcome(sim[0])}; all public after {sim[1]:.1f} s", flush=True)
            if s.alive() and args.burst:
                bur = burst(s, token, args.burst, tag, args.timeout)
                print(f"(c) {outcome(bur[0])}; all public after {bur[1]:.1f} s", flush=True)
        except Exception as exc:  # report what was measured, and why the rest was not
            failure = f"{type(exc).__name__}: {exc}"
            print(f"FAILED: {failure}", file=sys.stderr, flush=True)
        finally:
            try:
                if s.proc is not None and s.proc.poll() is not None:
                    failure = (
                        failure + "; " if failure else ""
                    ) + f"the stack stopped by itself (exit {s.proc.returncode})"
                    failure += "\n\n```\n" + s.tails() + "\n```"
                    print(s.tails(), file=sys.stderr, flush=True)
            finally:
                if s.proc is not None:
                    stopped = s.stop()
                    print(f"stack stopped: {stopped}", flush=True)
                    if not stopped.startswith("exit 0") and not failure:
                        failure = f"make up did not stop cleanly ({stopped}): it had failed"
                    if failure and "```" not in failure:
                        failure += "\n\n```\n" + s.tails() + "\n```"
                        print(s.tails(), file=sys.stderr, flush=True)
    meta["load"] += f" / {os.getloadavg()[0]:.1f}"
    text = report(args, meta, s, seq, sim, bur, stopped, time.perf_counter() - t0)
    if failure:
        text += f"\n**The run did not complete**: {failure}\n"
    print(text)
    if args.out:
        write_section(args.out, text)
    return 1 if failure else 0


if __name__ == "__main__":
    raise SystemExit(main())

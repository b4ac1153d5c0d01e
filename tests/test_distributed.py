"""Airflow's distributed setup, end to end, without Docker (``make test-distributed``, run by ``.ci/run``):
the shape of docker-compose.yml started by ``devstack.distributed``, PostgreSQL, Redis and SeaweedFS on
loopback, Airflow's api-server, scheduler, dag-processor, triggerer and two Celery workers, each a process of
its own with the CeleryExecutor. Releases go through the REST API as a PIO's would; what is published is
read anonymously, as the public reads it; who ran each task is read from PostgreSQL and the REST API.

One stack for the module (starting it takes minutes on a loaded 2-core machine). Each test releases its
own incidents; the last one holds releases back (an empty pool) and stops the store, so it runs last.
Every component's log is kept in ``test-artifacts/distributed/``; a failure names the log to read.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT
from sample import CORRECTION, PRELIMINARY, UPDATE
from smtp_sink import Mailbox

from devstack import distributed, postgres, processes, redis_server

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

LOGS = ROOT / "test-artifacts" / "distributed"
BUCKET = "incident-releases"
DAG_ID = "incident_release"
# Generous, for a loaded 2-core machine: a release is a few seconds on an idle one.
RELEASE_TIMEOUT = 900.0
# The deadline of the stack's releases: long enough that releases of a loaded machine meet it, short
# enough to wait for in the last test.
DEADLINE_MINUTES = 3
ALERT_TO = "duty-officer@agency.example"


def say(message: str) -> None:
    print(f"[test-distributed] {message}", flush=True)


class Api:
    """The REST API as a PIO's client uses it: a token, then JSON calls."""

    def __init__(self, dist: distributed.Distributed) -> None:
        self.dist, self.base = dist, dist.api
        self.expect_down: set[str] = set()  # servers a test stopped on purpose
        status, body = self.call(
            "POST", "/auth/token", {"username": "admin", "password": dist.password()}, auth=False
        )
        assert status in (200, 201), (
            f"POST /auth/token answered {status}: {body}; read {dist.log_of('api-server')}"
        )
        self.token = body["access_token"]

    def call(self, method: str, path: str, body=None, auth: bool = True, timeout: float = 120.0):
        request = urllib.request.Request(
            self.base + path, data=None if body is None else json.dumps(body).encode(), method=method
        )
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")
        except OSError as err:
            return 0, repr(err)

    def trigger(self, conf: dict) -> str:
        status, body = self.call(
            "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf}
        )
        assert status == 200, f"trigger of {conf['incident_id']} answered {status}: {body}"
        return body["dag_run_id"]

    def run(self, run_id: str) -> dict:
        status, body = self.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id)}")
        assert status == 200, f"GET run {run_id}: {status} {body}"
        return body

    def wait(self, run_ids: list[str], timeout: float = RELEASE_TIMEOUT, until=("success", "failed")) -> dict:
        """The final state of each run; fails naming the components to read if they do not end in time."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            gone = self.dist.dead(ignore=self.expect_down)
            assert not gone, f"while waiting for {run_ids}: {', '.join(gone)} stopped"
            states = {r: self.run(r)["state"] for r in run_ids}
            if all(s in until for s in states.values()):
                return states
            time.sleep(3)
        logs = ", ".join(str(self.dist.log_of(n)) for n in ("scheduler", *distributed.WORKERS))
        raise AssertionError(f"runs not finished within {timeout:.0f} s: {states}; read {logs}")

    def wait_idle(self, timeout: float = RELEASE_TIMEOUT) -> None:
        """Until no run of any DAG is queued or running (site_views follows every release)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.call("GET", "/api/v2/dags/~/dagRuns?state=queued&state=running&limit=20")
            assert status == 200, body
            if body["total_entries"] == 0:
                return
            time.sleep(2)
        busy = [(r["dag_id"], r["dag_run_id"], r["state"]) for r in body["dag_runs"]]
        raise AssertionError(
            f"Airflow still busy after {timeout:.0f} s: {busy}; read {self.dist.log_of('scheduler')}"
        )

    def task_instances(self, run_id: str) -> list[dict]:
        status, body = self.call(
            "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances"
        )
        assert status == 200, body
        return body["task_instances"]


def anonymous(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, b""


def public_record(dist, incident_id: str, version: int) -> dict | None:
    status, body = anonymous(f"{dist.s3}/{BUCKET}/incidents/{incident_id}/v{version}.json")
    return json.loads(body) if status == 200 else None


def versions(dist, incident_id: str) -> list[dict]:
    """Every published version of an incident, read anonymously from v1 up to the first missing one."""
    found = []
    while (record := public_record(dist, incident_id, len(found) + 1)) is not None:
        found.append(record)
    return found


def task_rows(dist, run_ids: list[str] | None = None) -> list[tuple]:
    """(dag_id, run_id, task_id, try_number, state, hostname, incident) from Airflow's PostgreSQL."""
    conn = postgres.connect(dist.folder / "pg", dist.db.port)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT ti.dag_id, ti.run_id, ti.task_id, ti.try_number, ti.state, ti.hostname, "
                "dr.conf::json->>'incident_id' FROM task_instance ti "
                "JOIN dag_run dr ON dr.dag_id = ti.dag_id AND dr.run_id = ti.run_id "
                "ORDER BY ti.start_date NULLS LAST"
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    return [r for r in rows if run_ids is None or r[1] in run_ids]


@pytest.fixture(scope="module")
def mailbox():
    with Mailbox() as box:
        yield box


@pytest.fixture(scope="module")
def dist(mailbox):
    why = postgres.unavailable() or redis_server.unavailable()
    if why:
        pytest.fail(f"make test-distributed needs PostgreSQL and Redis: {why}")
    shutil.rmtree(LOGS, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix="releases-distributed-"))
    if os.geteuid() == 0:
        folder.chmod(0o711)  # run by root, PostgreSQL runs as `postgres`, which must pass through
    say(f"starting the stack in {folder}; every component's log goes to {LOGS}")
    started = time.monotonic()
    stack = distributed.start(
        folder,
        LOGS,
        bucket=BUCKET,
        extra_env={"RELEASES_ALERT_TO": ALERT_TO, "RELEASES_DEADLINE_MINUTES": str(DEADLINE_MINUTES)},
        extra_connections={"smtp_default": json.loads(mailbox.connection("airflow@agency.example"))},
    )
    say(f"stack up in {time.monotonic() - started:.0f} s: API {stack.api}, store {stack.s3}")
    try:
        yield stack
    finally:
        try:
            say("task instances in Airflow's PostgreSQL (dag, run, task, try, state, hostname, incident):")
            for row in task_rows(stack):
                say("  " + " | ".join(str(v) for v in row))
        except Exception as err:  # the stack may be half down after a failure: the logs say more
            say(f"(could not read the task instances: {err})")
        family = {p.pid: p for p in (psutil_tree(stack))}
        killed = stack.stop()
        left = [p for p in family.values() if running(p)] + stack.strays()
        say(f"stopped every process ({len(family)}){f'; had to kill {killed}' if killed else ''}")
        shutil.rmtree(folder, ignore_errors=True)
        say(f"logs: {LOGS}")
        assert left == [], f"processes left running after the stack stopped: {left}"


def running(proc) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def psutil_tree(stack) -> list:
    import psutil

    found = []
    for pid in stack.pids():
        try:
            found.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return found


def test_the_components_run_apart_on_loopback_with_the_celery_executor(dist):
    names = [c.name for c in dist.components]
    assert names == ["api-server", "scheduler", "dag-processor", "triggerer", *distributed.WORKERS]
    assert dist.env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert dist.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://airflow:")
    assert dist.env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:")
    assert dist.env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://celery:")
    sockets = processes.listening(dist.pids())
    off_loopback = [s for s in sockets if s[2] != "127.0.0.1"]
    assert off_loopback == [], off_loopback
    for worker in distributed.WORKERS:
        assert f"{worker}@" in dist.log_of(worker).read_text(errors="replace")


def environ(pid: int) -> bytes:
    """A process's environment as another process of its user reads it: /proc/<pid>/environ."""
    return Path(f"/proc/{pid}/environ").read_bytes()


def variables(raw: bytes) -> dict[str, str]:
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def test_the_workers_hold_no_secret_of_the_control_plane(dist):
    """A compromised worker must not forge an admin token (JWT secret), decrypt the connections (Fernet key)
    or open the metadata database (its URL, the airflow role's or the superuser's password)."""
    pg = postgres.credentials(dist.folder / "pg")
    secrets = {name: dist.env[name] for name in distributed.CONTROL_PLANE_ONLY}
    secrets["airflow role's password"] = pg[postgres.ROLE]
    secrets["superuser's password"] = pg[postgres.SUPERUSER]
    # The check can see a secret: the scheduler, which signs the workloads' tokens, holds them.
    scheduler = environ(dist.component("scheduler").proc.pid)
    assert sorted(n for n, v in secrets.items() if v.encode() in scheduler) == sorted(
        set(secrets) - {"superuser's password"}
    )
    for worker in distributed.WORKERS:
        family = processes.tree(dist.component(worker).proc.pid)
        assert len(family) >= 2, f"{worker}: the Celery worker and its pool: {family}"
        for proc in family:
            raw = environ(proc.pid)
            held = sorted(
                name for name, secret in secrets.items() if secret.encode() in raw or name.encode() in raw
            )
            assert held == [], f"{worker} (pid {proc.pid}, {proc.name()}) holds {held}"
            assert b"AIRFLOW_CONN_" not in raw
        # What the worker runs with, as a process of its family shows it (setproctitle overwrites the /proc
        # view of the Celery main and pool processes; their environment is the same, inherited): a home of
        # its own; Celery's results in their own database, as a role that can open nothing else.
        shown = [env for env in (variables(environ(p.pid)) for p in family) if "AIRFLOW_HOME" in env]
        assert shown, f"{worker}: no process of {family} shows its environment"
        for env in shown:
            assert env["AIRFLOW_HOME"] == str(dist.folder / "workers" / worker)
            assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg2://celery:")
            assert env["AIRFLOW__CELERY__RESULT_BACKEND"].endswith("/celery_results")
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        postgres.connect(dist.folder / "pg", dist.db.port, postgres.RESULTS_ROLE, postgres.DATABASE)
    conn = postgres.connect(dist.folder / "pg", dist.db.port, postgres.SUPERUSER, "postgres")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, d.datname FROM pg_roles r "
                "JOIN pg_database d ON d.datdba = r.oid WHERE r.rolname <> 'postgres' ORDER BY 1"
            )
            owners = cur.fetchall()
    finally:
        conn.close()
    # The metadata database's owner and the results' are ordinary roles: no superuser, no role or
    # database creation.
    assert owners == [
        ("airflow", False, False, False, "airflow"),
        ("celery", False, False, False, "celery_results"),
    ]


def test_an_incident_through_all_three_stages_via_the_rest_api(dist):
    api = Api(dist)
    iid = "2026-DIST-A"
    for number, conf in enumerate((PRELIMINARY, UPDATE, CORRECTION), start=1):
        run_id = api.trigger({**conf, "incident_id": iid})
        assert api.wait([run_id]) == {run_id: "success"}, f"{conf['stage']}: read {dist.logs}"
        record = public_record(dist, iid, number)
        assert record is not None and (record["version"], record["stage"]) == (number, conf["stage"])
        say(f"{iid} v{number} ({conf['stage']}) public, run {run_id}")
    history = versions(dist, iid)
    assert [r["stage"] for r in history] == ["preliminary", "updated", "corrected"]
    assert [r["prev_sha256"] for r in history[1:]] == [r["sha256"] for r in history[:-1]]
    assert history[-1]["location"] == CORRECTION["location"]
    assert history[-1]["correction_note"] == CORRECTION["correction_note"]
    # The pages and feeds are public, with their types; private state is not.
    base = f"{dist.s3}/{BUCKET}"
    for key, needle in (
        (f"incidents/{iid}/index.html", CORRECTION["location"]),
        (f"incidents/{iid}/v3.html", CORRECTION["correction_note"]),
        (f"incidents/{iid}/rss.xml", iid),
    ):
        status, body = anonymous(f"{base}/{key}")
        assert status == 200 and needle.encode() in body, key
    assert anonymous(f"{base}/_state/catalog.json")[0] == 403
    # site_views follows on the release's asset event: the front page and the corrections feed show it.
    deadline = time.monotonic() + RELEASE_TIMEOUT
    while time.monotonic() < deadline:
        front, feed = anonymous(f"{base}/index.html"), anonymous(f"{base}/corrections.rss.xml")
        if front[0] == 200 and iid.encode() in front[1] and feed[0] == 200 and iid.encode() in feed[1]:
            break
        time.sleep(3)
    else:
        raise AssertionError(f"the site-wide views never showed {iid}; read {dist.logs}")


def test_two_incidents_at_once_are_released_by_both_workers_against_postgresql(dist):
    api = Api(dist)
    # Both workers free (each takes one task at a time): the two releases queued at once must go to both.
    api.wait_idle()
    ids = ["2026-DIST-B", "2026-DIST-C"]
    barrier = threading.Barrier(len(ids))
    run_ids: dict[str, str] = {}

    def submit(iid: str) -> None:
        barrier.wait()
        run_ids[iid] = api.trigger({**PRELIMINARY, "incident_id": iid, "headline": f"Incident {iid}"})

    threads = [threading.Thread(target=submit, args=(iid,)) for iid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(run_ids) == ids
    states = api.wait(list(run_ids.values()))
    assert set(states.values()) == {"success"}, states
    for iid in ids:
        assert [r["version"] for r in versions(dist, iid)] == [1], iid
    # Who ran them, as Airflow recorded it in PostgreSQL and serves it through the REST API.
    rows = task_rows(dist, list(run_ids.values()))
    for row in rows:
        say("two at once: " + " | ".join(str(v) for v in row))
    # One task start each: ``release`` published it; the tasks of a release that waits were skipped.
    assert {(r[2], r[4]) for r in rows if r[4] != "skipped"} == {("release", "success")}, rows
    assert {r[2] for r in rows if r[4] == "skipped"} <= {"approve", "wait_for_release_at", "publish"}, rows

    # The scheduler handed them to the CeleryExecutor (a task instance names an executor only when its task
    # asks for one). It logs so when Celery's result comes back, which may be after the run is done.
    def finished(run_id: str) -> list[str]:
        lines = dist.log_of("scheduler").read_text(errors="replace").splitlines()
        return [line for line in lines if "TaskInstance Finished" in line and run_id in line]

    for run_id in run_ids.values():
        deadline = time.monotonic() + 300
        while not finished(run_id) and time.monotonic() < deadline:
            time.sleep(2)
        assert finished(run_id), (
            f"the scheduler never logged {run_id} finished; read {dist.log_of('scheduler')}"
        )
        assert all("executor=CeleryExecutor(" in line for line in finished(run_id)), finished(run_id)
    hosts = {r[5] for r in rows if r[4] == "success"}
    assert hosts == set(distributed.WORKERS), (
        f"the two releases ran on {hosts}, not on both workers; read {[str(dist.log_of(w)) for w in distributed.WORKERS]}"
    )
    from_api = {  # the skipped tasks of a release that waits ran nowhere (no hostname)
        ti["hostname"]
        for run_id in run_ids.values()
        for ti in api.task_instances(run_id)
        if ti["state"] == "success"
    }
    assert from_api == set(distributed.WORKERS)
    for worker in distributed.WORKERS:
        log = dist.log_of(worker).read_text(errors="replace")
        assert "Executing workload in Celery" in log and DAG_ID in log, worker


def test_racing_updates_of_one_incident_end_with_contiguous_versions(dist):
    api = Api(dist)
    iid = "2026-DIST-D"
    first = api.trigger({**PRELIMINARY, "incident_id": iid})
    assert api.wait([first]) == {first: "success"}
    summaries = [f"Update {n}: one adult injured; in stable condition." for n in range(3)]
    barrier = threading.Barrier(len(summaries))
    run_ids: list[str] = []

    def submit(summary: str) -> None:
        barrier.wait()
        run_ids.append(api.trigger({"incident_id": iid, "stage": "updated", "summary": summary}))

    threads = [threading.Thread(target=submit, args=(s,)) for s in summaries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    states = api.wait(run_ids)
    assert set(states.values()) == {"success"}, states
    history = versions(dist, iid)
    assert [r["version"] for r in history] == [1, 2, 3, 4]
    assert sorted(r["summary"] for r in history[1:]) == sorted(summaries)
    assert [r["prev_sha256"] for r in history[1:]] == [r["sha256"] for r in history[:-1]]
    # No gap, no fifth: nothing beyond v4 was written.
    assert public_record(dist, iid, 5) is None
    hosts = {r[5] for r in task_rows(dist, run_ids)}
    say(f"racing updates of {iid}: versions 1-4 contiguous, run on {sorted(hosts)}")


def test_operators_are_alerted_when_a_release_is_late_and_when_one_fails(dist, mailbox):
    """Runs last: it holds releases back, then stops the store."""
    api = Api(dist)
    status, pool = api.call("GET", "/api/v2/pools/default_pool")
    assert status == 200, pool
    # No slot: the scheduler queues nothing, as when every worker is busy or gone.
    status, body = api.call("PATCH", "/api/v2/pools/default_pool?update_mask=slots", {"slots": 0})
    assert status == 200, body
    late = "2026-DIST-LATE"
    run_id = api.trigger({**PRELIMINARY, "incident_id": late})
    say(
        f"{late} held back (default_pool has no slot); its deadline is {DEADLINE_MINUTES} min after it was queued"
    )

    def about(iid: str, kind: str) -> list:
        return [m for m in mailbox.messages if m.subject.startswith(f"Release {kind}: incident {iid} ")]

    deadline = time.monotonic() + DEADLINE_MINUTES * 60 + 300
    while not about(late, "LATE") and time.monotonic() < deadline:
        assert not dist.dead(), dist.dead()
        time.sleep(3)
    alerts = about(late, "LATE")
    assert len(alerts) == 1, (
        f"deadline alerts for {late}: {[m.subject for m in alerts]}; read {dist.log_of('triggerer')}"
    )
    assert (
        alerts[0].subject
        == f"Release LATE: incident {late} (preliminary) is not public after {DEADLINE_MINUTES} minutes"
    )
    assert alerts[0].recipients == [ALERT_TO] and run_id in alerts[0].text
    # The advice follows the task instance, not the run (which is "running" all along): no worker took it.
    as_read = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", alerts[0].text)).split())
    assert "Task release scheduled, not started: no worker has taken it" in as_read, as_read
    assert "read its log" not in as_read, as_read
    assert api.run(run_id)["state"] in ("queued", "running")
    say(f"deadline alert: {alerts[0].subject}")
    status, body = api.call("PATCH", "/api/v2/pools/default_pool?update_mask=slots", {"slots": pool["slots"]})
    assert status == 200, body
    assert api.wait([run_id]) == {run_id: "success"} and public_record(dist, late, 1) is not None

    # A fault: the store is down. The task fails on a worker after Airflow's retries; one e-mail.
    dist.store.stop()
    api.expect_down.add("SeaweedFS")
    failing = "2026-DIST-FAIL"
    run_id = api.trigger({**PRELIMINARY, "incident_id": failing})
    assert api.wait([run_id], until=("success", "failed")) == {run_id: "failed"}
    deadline = time.monotonic() + 120
    while not about(failing, "FAILED") and time.monotonic() < deadline:
        time.sleep(2)
    time.sleep(5)  # a second e-mail would be a fault too
    failures = about(failing, "FAILED")
    assert len(failures) == 1, [m.subject for m in failures]
    subject = failures[0].subject
    assert subject.startswith(f"Release FAILED: incident {failing} (preliminary): "), subject
    assert "EndpointConnectionError: Could not connect to the endpoint URL" in subject, subject
    rows = [r for r in task_rows(dist, [run_id]) if r[2] == "release"]
    assert {r[3] for r in rows} == {4} and rows[0][5] in distributed.WORKERS, rows
    say(f"failure alert (sent by {rows[0][5]}): {subject}")

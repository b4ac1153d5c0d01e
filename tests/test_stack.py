"""The process side of `make up`: the embedded store survives restarts and crashes, and stopping a
process group leaves nothing behind. Airflow itself is not started here (too heavy for CI)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from releases import embedded_store, stack
from releases.settings import Settings
from releases.storage import Store

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "incident-releases"


class StoreProcess:
    """`python -m releases.stack store` in a process of its own, as `make up` runs it (moto keeps its
    state in module globals, so only a fresh process shows what really survives on disk)."""

    def __init__(self, data_dir: Path) -> None:
        # Started with SIGINT ignored, like a background job of a non-interactive shell: the store must
        # still stop cleanly on SIGINT.
        script = 'trap "" INT; exec "$@"'
        cmd = ["sh", "-c", script, "sh", sys.executable, "-m", "releases.stack", "store"]
        self.proc = subprocess.Popen(
            [*cmd, "--data-dir", str(data_dir), "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("store ready "):
                self.endpoint = line.split()[-1]
                break
        else:
            raise AssertionError(f"store did not start: {self.lines}")
        self.client = stack.s3_client(self.endpoint)

    def stop(self, sig: int) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=20)
        self.proc.stdout.close()
        return code


def anonymous_get(url: str) -> tuple[int, bytes, Message]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, b"", err.headers


def publish_sample(client) -> None:
    store = Store(client, BUCKET)
    store.ensure_bucket()
    assert store.create("incidents/X-1/v1.json", b'{"version": 1}')
    store.put_view("index.html", b"<p>first</p>")
    store.put_view("index.html", "<p>second \u2013 current</p>".encode())
    store.put_if_match("_private/state.json", b'{"secret": true}', None, public=False)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "s3"


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "term", "crash"]
)
def test_store_keeps_published_objects_across_a_restart(data_dir, sig):
    first = StoreProcess(data_dir)
    publish_sample(first.client)
    code = first.stop(sig)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0)

    second = StoreProcess(data_dir)
    try:
        assert any("restored 4 object versions" in line for line in second.lines)
        base = f"{second.endpoint}/{BUCKET}"
        status, body, headers = anonymous_get(f"{base}/index.html")
        assert (status, body.decode()) == (200, "<p>second \u2013 current</p>")
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Cache-Control"] == "public, max-age=60"
        status, body, headers = anonymous_get(f"{base}/incidents/X-1/v1.json")
        assert (status, body, headers["Content-Type"]) == (200, b'{"version": 1}', "application/json")
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert anonymous_get(f"{base}/_private/state.json")[0] == 403
        private = second.client.get_object(Bucket=BUCKET, Key="_private/state.json")
        assert private["Body"].read() == b'{"secret": true}'
        assert private["ContentType"] == "application/json"
        # Versioning and the overwritten version of a view survive too, oldest first.
        assert second.client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
        versions = second.client.list_object_versions(Bucket=BUCKET, Prefix="index.html")["Versions"]
        bodies = [
            second.client.get_object(Bucket=BUCKET, Key="index.html", VersionId=v["VersionId"])["Body"].read()
            for v in versions
        ]
        assert bodies == ["<p>second \u2013 current</p>".encode(), b"<p>first</p>"]
        # Create-once still holds for restored objects.
        assert Store(second.client, BUCKET).create("incidents/X-1/v1.json", b"other") is False
    finally:
        assert second.stop(signal.SIGINT) == 0


def test_store_restart_after_restart_and_deletes(data_dir):
    first = StoreProcess(data_dir)
    publish_sample(first.client)
    first.client.put_object(Bucket=BUCKET, Key="tmp/gone.txt", Body=b"x")
    first.client.delete_object(Bucket=BUCKET, Key="tmp/gone.txt")
    first.stop(signal.SIGINT)
    # A restored store written again, then restarted again: nothing is duplicated or lost.
    second = StoreProcess(data_dir)
    Store(second.client, BUCKET).put_view("index.html", b"<p>third</p>")
    second.stop(signal.SIGKILL)
    third = StoreProcess(data_dir)
    try:
        base = f"{third.endpoint}/{BUCKET}"
        assert anonymous_get(f"{base}/index.html")[:2] == (200, b"<p>third</p>")
        assert anonymous_get(f"{base}/tmp/gone.txt")[0] == 404
        listing = third.client.list_object_versions(Bucket=BUCKET)
        index_versions = [v for v in listing["Versions"] if v["Key"] == "index.html"]
        assert len(index_versions) == 3
        assert [m["Key"] for m in listing.get("DeleteMarkers", [])] == ["tmp/gone.txt"]
    finally:
        third.stop(signal.SIGINT)


def test_an_empty_data_dir_starts_an_empty_store(data_dir):
    store = StoreProcess(data_dir)
    try:
        assert store.client.list_buckets()["Buckets"] == []
    finally:
        store.stop(signal.SIGINT)


# -- stopping process groups ------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    stat = stack._proc_stat(pid)
    return stat is not None and stat[0] != "Z"


def _start_tree(script: str) -> tuple[subprocess.Popen, list[int]]:
    proc = stack.start_group(["sh", "-c", script], dict(os.environ), subprocess.DEVNULL)
    assert stack._wait_for(lambda: len(stack.descendants(proc.pid)) >= 2, 5.0)
    return proc, list(stack.descendants(proc.pid))


def test_stop_group_kills_a_tree_that_ignores_sigint_and_sigterm():
    proc, grandchildren = _start_tree("trap '' INT TERM; sleep 300 & sleep 300 & wait")
    started = time.monotonic()
    killed = stack.stop_group(proc.pid, interrupt_wait=0.5, term_wait=0.5, reap=proc.poll)
    assert time.monotonic() - started < 8
    assert sorted(killed) == sorted([proc.pid, *grandchildren])
    assert stack.group_members(proc.pid) == []
    assert not any(_alive(pid) for pid in grandchildren)
    assert proc.wait(timeout=5) == -signal.SIGKILL


def test_stop_group_needs_no_sigkill_when_the_leader_stops_on_sigint():
    # The leader leaves on SIGINT (like airflow standalone) but its child would keep sleeping:
    # SIGTERM to the group takes it.
    leader = "import signal, subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    proc = stack.start_group([sys.executable, "-c", leader], dict(os.environ), subprocess.DEVNULL)
    assert stack._wait_for(lambda: len(stack.descendants(proc.pid)) == 1, 10.0)
    child = next(iter(stack.descendants(proc.pid)))
    assert stack.stop_group(proc.pid, interrupt_wait=1.0, term_wait=5.0, reap=proc.poll) == []
    assert stack.group_members(proc.pid) == []
    assert not _alive(child)


@pytest.mark.skipif(shutil.which("setsid") is None, reason="needs util-linux setsid")
def test_stop_group_also_kills_descendants_that_left_the_group():
    proc = stack.start_group(
        ["sh", "-c", "setsid sleep 301 & sleep 300"], dict(os.environ), subprocess.DEVNULL
    )

    def escaped() -> list[int]:
        return [pid for pid in stack.descendants(proc.pid) if stack._proc_stat(pid)[2] != proc.pid]

    assert stack._wait_for(lambda: len(escaped()) == 1, 10.0), (
        "setsid should move one child to a group of its own"
    )
    family = list(stack.descendants(proc.pid))
    stack.stop_group(proc.pid, interrupt_wait=0.5, term_wait=2.0, reap=proc.poll)
    assert not any(_alive(pid) for pid in family)


def test_up_refuses_to_run_twice_and_stops_what_a_killed_run_left(tmp_path):
    own_start = stack._proc_stat(os.getpid())[3]
    leader = stack.start_group(["sleep", "300"], dict(os.environ), subprocess.DEVNULL)
    leader_start = stack._proc_stat(leader.pid)[3]
    pid_file = tmp_path / "standalone.pid"
    pid_file.write_text(f"{os.getpid()} {own_start} {leader.pid} {leader_start}\n")
    with pytest.raises(SystemExit, match="already running"):
        stack._stop_leftovers(pid_file)
    assert leader.poll() is None
    # The run that wrote the file is gone (same pid, other start time: it was killed and the pid reused).
    pid_file.write_text(f"{os.getpid()} {own_start + 1} {leader.pid} {leader_start}\n")
    stack._stop_leftovers(pid_file)
    assert leader.wait(timeout=5) == -signal.SIGINT
    assert not pid_file.exists()


# -- small pieces ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "uri", "expected"),
    [
        (
            "127.0.0.1:9000",
            "/incident-releases/incidents/A-1/v1.json",
            ("incident-releases", "incidents/A-1/v1.json"),
        ),
        ("127.0.0.1:9000", "/incident-releases?versioning", ("incident-releases", None)),
        ("127.0.0.1:9000", "/incident-releases/a%20b.txt?x-id=PutObject", ("incident-releases", "a b.txt")),
        ("incident-releases.localhost:9000", "/index.html", ("incident-releases", "index.html")),
        ("127.0.0.1:9000", "/", None),
        ("127.0.0.1:9000", "/moto-api/reset", None),
    ],
    ids=["key", "bucket", "quoted-key", "virtual-host", "other-service", "moto-api"],
)
def test_target_of_a_request(host, uri, expected):
    assert embedded_store._target({"HTTP_HOST": host, "REQUEST_URI": uri}) == expected


def test_airflow_env_binds_loopback_and_points_the_connection_at_the_store(tmp_path):
    env = stack.airflow_env(tmp_path, Settings(), "http://127.0.0.1:9123")
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__PORT"] == "8080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(ROOT / "dags")
    conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert conn["extra"]["endpoint_url"] == "http://127.0.0.1:9123"
    assert env["RELEASES_S3_ENDPOINT"] == "http://127.0.0.1:9123"


def test_up_refuses_to_serve_off_loopback():
    with pytest.raises(SystemExit, match="loopback only"):
        stack._loopback("http://10.0.0.5:9000", 9000, "RELEASES_S3_ENDPOINT")
    assert stack._loopback("http://localhost", 9000, "RELEASES_S3_ENDPOINT") == ("127.0.0.1", 9000)

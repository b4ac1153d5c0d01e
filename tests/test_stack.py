"""The process side of ``make up`` (devstack): the store keeps every acknowledged write across Ctrl-C,
SIGTERM and ``kill -9`` of the whole tree, the stack listens on loopback only, and stopping it leaves
nothing running. No test relies on the signal disposition it inherits: the store is started with SIGINT
ignored, as a background job of a script would be."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import psutil
import pytest
from sample import CORRECTION, PRELIMINARY, UPDATE

from devstack import postgres, processes, seaweed, stack
from releases import pipeline
from releases.settings import Settings
from releases.storage import Store

# Seconds to minutes each (many releases, races, restarts): full suite only, not `make test-fast`.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "incident-releases"


class StoreProcess:
    """``python -m devstack store`` in a process of its own, started with SIGINT ignored."""

    def __init__(self, data_dir: Path) -> None:
        script = 'trap "" INT; exec "$@"'
        cmd = ["sh", "-c", script, "sh", sys.executable, "-m", "devstack", "store"]
        self.proc = subprocess.Popen(
            [*cmd, "--data-dir", str(data_dir), "--port", "0", "--bucket", BUCKET],
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
        self.data_dir = data_dir

    def client(self, identity: str = "admin"):
        creds = seaweed.credentials(self.data_dir)[identity]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=creds["access_key"],
            aws_secret_access_key=creds["secret_key"],
        )

    def stop(self, sig: int) -> int:
        if sig == signal.SIGKILL:
            # A crash of the whole tree: the supervisor and the storage server die at once.
            for proc in processes.tree(self.proc.pid):
                proc.kill()
        else:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        assert not [p for p in processes.tree(self.proc.pid) if p.status() != psutil.STATUS_ZOMBIE]
        return code


def anonymous_get(url: str) -> tuple[int, bytes, Message]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, b"", err.headers


def publish_sample(client) -> None:
    store = Store(client, BUCKET)
    assert store.create("incidents/X-1/v1.json", b'{"version": 1}')
    store.put_if_changed("index.html", b"<p>first</p>")
    store.put_if_changed("index.html", "<p>second \u2013 current</p>".encode())
    store.put_if_match("_state/state.json", b'{"secret": true}', None, public=False)


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "s3"


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "term", "kill-9"]
)
def test_store_keeps_published_objects_across_a_restart(data_dir, sig):
    first = StoreProcess(data_dir)
    publish_sample(first.client("writer"))
    code = first.stop(sig)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0)

    second = StoreProcess(data_dir)
    try:
        base = f"{second.endpoint}/{BUCKET}"
        status, body, headers = anonymous_get(f"{base}/index.html")
        assert (status, body.decode()) == (200, "<p>second \u2013 current</p>")
        assert headers["Content-Type"] == "text/html; charset=utf-8"
        assert headers["Cache-Control"] == "public, max-age=60"
        status, body, headers = anonymous_get(f"{base}/incidents/X-1/v1.json")
        assert (status, body, headers["Content-Type"]) == (200, b'{"version": 1}', "application/json")
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert anonymous_get(f"{base}/_state/state.json")[0] == 403
        client = second.client("admin")
        private = client.get_object(Bucket=BUCKET, Key="_state/state.json")
        assert private["Body"].read() == b'{"secret": true}'
        # Versioning and the overwritten version of a view survive too, newest first.
        assert client.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
        versions = client.list_object_versions(Bucket=BUCKET, Prefix="index.html")["Versions"]
        bodies = [
            client.get_object(Bucket=BUCKET, Key="index.html", VersionId=v["VersionId"])["Body"].read()
            for v in versions
        ]
        assert bodies == ["<p>second \u2013 current</p>".encode(), b"<p>first</p>"]
        # Create-once still holds after the restart.
        assert Store(second.client("writer"), BUCKET).create("incidents/X-1/v1.json", b"other") is False
    finally:
        assert second.stop(signal.SIGINT) == 0


def test_kill_9_in_the_middle_of_releases_keeps_every_acknowledged_write(data_dir):
    """Releases run until the whole store tree is killed with SIGKILL; after a restart every PUT the
    pipeline saw acknowledged is there, byte for byte, and the history still verifies."""
    first = StoreProcess(data_dir)
    client = first.client("writer")
    acknowledged: list[tuple[str, str]] = []

    def remember(http_response, parsed, model, **kwargs):
        if http_response.status_code == 200:
            acknowledged.append((kwargs["context"]["key"], parsed["ETag"]))

    def keep_key(params, context, **kwargs):
        context["key"] = params["Key"]

    client.meta.events.register("before-parameter-build.s3.PutObject", keep_key)
    client.meta.events.register("after-call.s3.PutObject", remember)
    settings = Settings(bucket=BUCKET, s3_endpoint=first.endpoint)
    store = Store(client, BUCKET)
    released: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def releases() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            iid = f"2026-K{n:03d}"
            try:
                for i, doc in enumerate((PRELIMINARY, UPDATE, CORRECTION)):
                    pipeline.release(
                        {**doc, "incident_id": iid}, store, settings, key=f"{iid}-{i}", released_by="pio"
                    )
                released.append(iid)
            except Exception as exc:  # the store died under us: that is the point of the test
                failures.append(exc)
                return

    worker = threading.Thread(target=releases)
    worker.start()
    deadline = time.monotonic() + 120
    while len(released) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(released) >= 2, f"two incidents are released before the crash ({failures})"
    first.stop(signal.SIGKILL)
    stop.set()
    worker.join(timeout=60)
    assert len(acknowledged) > 40

    second = StoreProcess(data_dir)
    try:
        admin = second.client("admin")
        missing = []
        for key, etag in acknowledged:
            versions = admin.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"]
            kept = [v for v in versions if v["Key"] == key and v["ETag"] == etag]
            if not kept:
                missing.append(key)
                continue
            body = admin.get_object(Bucket=BUCKET, Key=key, VersionId=kept[0]["VersionId"])["Body"].read()
            assert f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"' == etag, key
        assert missing == []
        from releases import integrity

        report = integrity.verify(integrity.http_fetcher(f"{second.endpoint}/{BUCKET}"), settings)
        assert report.incidents >= len(released)
        assert [p for p in report.problems if any(iid in p for iid in released)] == []
    finally:
        second.stop(signal.SIGINT)


# -- stopping process trees -------------------------------------------------------------------------


def test_stop_all_kills_a_tree_that_ignores_sigint_and_sigterm():
    component = processes.start(
        "stubborn",
        ["sh", "-c", "trap '' INT TERM; sleep 300 & sleep 300 & wait"],
        dict(os.environ),
        subprocess.DEVNULL,
    )
    assert stack._wait_for(lambda: len(processes.tree(component.proc.pid)) >= 3, 10.0)
    family = [p.pid for p in processes.tree(component.proc.pid)]
    killed = processes.stop_all([component], timeout=1.0)
    assert sorted(killed) == sorted(family)
    assert not [pid for pid in family if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_stop_all_also_stops_descendants_that_left_the_session():
    component = processes.start(
        "escaper",
        [
            sys.executable,
            "-c",
            "import os,subprocess,time; subprocess.Popen(['setsid','sleep','301']); time.sleep(300)",
        ],
        dict(os.environ),
        subprocess.DEVNULL,
    )
    assert stack._wait_for(lambda: len(processes.tree(component.proc.pid)) >= 2, 10.0)
    component.watch()
    family = list(component.family)
    processes.stop_all([component], timeout=5.0)
    assert not [pid for pid in family if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]


def test_up_refuses_to_run_twice_and_stops_what_a_killed_run_left(tmp_path):
    pid_file = tmp_path / "devstack.pids"
    leftover = processes.start("leftover", ["sleep", "300"], dict(os.environ), subprocess.DEVNULL)
    processes.record(pid_file, [leftover])  # written by this (live) process: "already running"
    with pytest.raises(SystemExit, match="already running"):
        processes.stop_leftovers(pid_file)
    assert leftover.alive()
    # The run that wrote the file is gone (its pid now belongs to a process started at another time).
    entries = json.loads(pid_file.read_text())
    entries[0][1] -= 1000
    pid_file.write_text(json.dumps(entries))
    assert processes.stop_leftovers(pid_file) == [leftover.proc.pid]
    assert leftover.proc.poll() is not None  # gone (reaped by the clean-up itself)
    assert not pid_file.exists()


# -- the whole `make up` tree -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_s3_port() -> int:
    """An S3 port whose four neighbours, their gRPC ports and PostgreSQL's port (S3 + 5) are free too
    (the `make up` layout)."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        ports = [*seaweed.Ports.from_s3(port).all(), port + stack.PG_PORT_OFFSET]
        if max(ports) < 65536 and all(seaweed.port_free(p) for p in ports):
            return port
    raise AssertionError("no free port range")


@dataclass
class UpStack:
    """A running ``python -m devstack up`` (what ``make up`` runs) on free ports."""

    proc: subprocess.Popen
    folder: Path
    s3_port: int
    api_port: int
    family: list = field(default_factory=list)
    code: int | None = None

    @property
    def s3(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def home(self) -> Path:
        return self.folder / "airflow"

    def output(self) -> str:
        return (self.folder / "up.log").read_text(errors="replace")


@contextlib.contextmanager
def running_up(folder: Path, ready_timeout: float = 300):
    """Start the stack in ``folder`` as a background job of a script would (SIGINT ignored), wait for
    its banner, and stop it with SIGINT (Ctrl-C) when done; ``code`` is its exit code then."""
    s3_port, api_port = _free_s3_port(), free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(folder / "airflow"),
        "RELEASES_S3_ENDPOINT": f"http://127.0.0.1:{s3_port}",
        "RELEASES_API_URL": f"http://127.0.0.1:{api_port}",
        "RELEASES_BUCKET": BUCKET,
    }
    for name in [k for k in env if k.startswith("AIRFLOW__") or k.startswith("AIRFLOW_CONN_")]:
        del env[name]  # the test session's own Airflow settings
    out = open(folder / "up.log", "w+")  # noqa: SIM115
    cmd = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", sys.executable, "-m", "devstack", "up"]
    up = subprocess.Popen(
        [*cmd, "--data-dir", str(folder / "s3")], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
    )
    running = UpStack(up, folder, s3_port, api_port)
    try:
        ready = stack._wait_for(
            lambda: up.poll() is not None or "Incident releases is running" in running.output(), ready_timeout
        )
        assert ready and up.poll() is None, running.output()[-3000:]
        running.family = processes.tree(up.pid)
        yield running
    finally:
        up.send_signal(signal.SIGINT)  # what Ctrl-C sends; `make up` resets the inherited "ignore"
        try:
            running.code = up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            for proc in processes.tree(up.pid):
                proc.kill()
            raise
        finally:
            out.close()


@pytest.mark.stack
def test_make_up_listens_on_loopback_only_and_ctrl_c_stops_every_process(stack_dir):
    with running_up(stack_dir) as up:
        family = up.family
        names = {p.name() for p in family}
        assert "weed" in names and any("airflow" in " ".join(p.cmdline()) for p in family)
        if not postgres.unavailable():
            assert "postgres" in names, up.output()[-3000:]
        sockets = processes.listening([p.pid for p in family])
        addresses = {(addr, port) for _, _, addr, port in sockets}
        assert ("127.0.0.1", up.s3_port) in addresses and ("127.0.0.1", up.api_port) in addresses
        off_loopback = [s for s in sockets if s[2] != "127.0.0.1"]
        assert off_loopback == [], off_loopback
        # Every port is one README lists: the S3 port and its four neighbours, their gRPC ports,
        # PostgreSQL's (S3 + 5), the API.
        documented = set(seaweed.Ports.from_s3(up.s3_port).all())
        documented |= {up.api_port, up.s3_port + stack.PG_PORT_OFFSET}
        assert {port for _, port in addresses} <= documented, sorted(addresses)
    assert up.code == 0, up.output()[-3000:]
    left = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert left == [], left


# -- small pieces ---------------------------------------------------------------------------------------


def test_airflow_env_binds_loopback_and_points_the_connection_at_the_store_as_writer(tmp_path):
    writer = {"access_key": "releases-writer-x", "secret_key": "s"}
    env = stack.airflow_env(tmp_path, Settings(), "http://127.0.0.1:9123", writer)
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__PORT"] == "8080"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(ROOT / "dags")
    conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert conn["extra"]["endpoint_url"] == "http://127.0.0.1:9123"
    assert (conn["login"], conn["password"]) == ("releases-writer-x", "s")
    assert env["RELEASES_S3_ENDPOINT"] == "http://127.0.0.1:9123"


def test_up_refuses_to_serve_off_loopback():
    with pytest.raises(SystemExit, match="127.0.0.1 only"):
        stack.loopback("http://10.0.0.5:9000", 9000, "RELEASES_S3_ENDPOINT")
    with pytest.raises(SystemExit, match="127.0.0.1 only"):
        stack.loopback("http://0.0.0.0:9000", 9000, "RELEASES_S3_ENDPOINT")
    assert stack.loopback("http://localhost", 9000, "RELEASES_S3_ENDPOINT") == ("127.0.0.1", 9000)


def test_make_up_s_port_layout_moves_with_the_s3_port():
    assert seaweed.Ports.from_s3(9000).all() == [
        9000,
        9001,
        9002,
        9003,
        9004,
        19000,
        19001,
        19002,
        19003,
        19004,
    ]
    assert seaweed.Ports.from_s3(9100).all()[0] == 9100


def test_a_port_left_in_time_wait_by_a_stopped_stack_counts_as_free():
    """A stopped stack leaves TIME-WAIT sockets for about a minute; `make up` must start again at once."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    served, _ = listener.accept()
    served.close()  # the server side closes first: its end of the connection waits in TIME-WAIT
    client.close()
    listener.close()
    assert seaweed.port_free(port)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert not seaweed.port_free(busy.getsockname()[1])


def test_the_store_s_files_are_readable_by_their_owner_alone(seaweed):
    """SeaweedFS writes its volume files 0644, and they hold purged versions until compaction: the data
    folder is closed to other users (found by an attack from a fresh clone)."""
    assert seaweed.data_dir.stat().st_mode & 0o777 == 0o700


# -- Airflow's metadata database ----------------------------------------------------------------------


def test_airflow_env_points_airflow_at_the_stack_s_database_and_tunes_the_scheduler(tmp_path):
    writer = {"access_key": "releases-writer-x", "secret_key": "s"}
    url = "postgresql+psycopg2://airflow:pw@127.0.0.1:9005/airflow"
    env = stack.airflow_env(tmp_path, Settings(), "http://127.0.0.1:9123", writer, database_url=url)
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == url
    assert float(env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"]) < 1  # Airflow's default: 1 s
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"


def test_without_postgresql_the_stack_says_loudly_what_sqlite_costs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(postgres, "unavailable", lambda: "PostgreSQL's binaries were not found")
    db, why = stack.start_database(tmp_path / "pg", free_port())
    assert (db, why) == (None, "PostgreSQL's binaries were not found")
    warning = capsys.readouterr().err
    assert "WARNING" in warning and "SQLite" in warning and "HTTP 500" in warning
    assert "make services" in warning
    assert not (tmp_path / "pg").exists()


@pytest.mark.skipif(bool(postgres.unavailable()), reason=postgres.unavailable() or "available")
def test_the_stack_s_postgresql_is_private_listens_on_loopback_and_keeps_its_data(stack_dir):
    folder, port = stack_dir / "pg", free_port()
    server = postgres.start(folder, port)
    try:
        assert server.created
        assert folder.stat().st_mode & 0o777 == 0o700
        assert (folder / "credentials.json").stat().st_mode & 0o777 == 0o600
        family = [p.pid for p in processes.tree(server.proc.pid)]
        assert {(addr, p) for _, _, addr, p in processes.listening(family)} == {("127.0.0.1", port)}
        conn = server.connect()
        with conn, conn.cursor() as cur:
            cur.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == ("airflow", False)  # Airflow's role administers nothing else
            cur.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        conn.close()
        import psycopg2

        with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
            psycopg2.connect(host="127.0.0.1", port=port, user="airflow", password="guess", dbname="airflow")
    finally:
        assert server.stop() == 0  # a fast shutdown, not a kill
    assert processes.tree(server.proc.pid) == []

    again = postgres.start(folder, port)
    try:
        assert not again.created
        conn = again.connect()
        with conn, conn.cursor() as cur:
            cur.execute("SELECT x FROM kept")
            assert cur.fetchall() == [(42,)]
        conn.close()
    finally:
        again.stop()

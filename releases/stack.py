"""Run the whole product on one machine: ``make up``, ``make demo``.

This is the only module in ``releases/`` that starts processes; the embedded object store
it serves lives in :mod:`releases.embedded_store`.

``up``
    The embedded S3-compatible store (moto, served from a thread of this process, on loopback,
    written through to ``.data/s3``) plus ``airflow standalone`` (its own process group). Ctrl-C or
    SIGTERM stops every process it started.
``demo``
    One sample incident through preliminary -> updated -> corrected with the real DAG
    (``airflow dags test``) against a fresh, throw-away store; the public site is copied to ``demo-site/``.
``store``
    Only the embedded store, until Ctrl-C or SIGTERM (tests use it to restart or crash a store for real).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket

# The stack starts Airflow: argv lists only, never a shell.
import subprocess  # nosec B404
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from . import settings as settings_mod
from .embedded_store import CREDENTIALS, StoreHandle, log, s3_client, start_store, stop_store
from .storage import Store

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAG_ID = "incident_release"
FEEDS = ("rss.xml", "atom.xml", "corrections.rss.xml", "corrections.atom.xml")


# -- process groups --------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, start time) of a process, from /proc; None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def _all_processes() -> dict[int, tuple[str, int, int, int]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    return [pid for pid, (state, _, pgrp, _) in _all_processes().items() if pgrp == pgid and state != "Z"]


def descendants(pid: int) -> dict[int, int]:
    """Every live descendant of ``pid`` with its start time (to tell a reused pid apart)."""
    table = _all_processes()
    family, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (state, ppid, _, started) in table.items():
            if ppid == parent and state != "Z" and child not in family:
                family[child] = started
                frontier.append(child)
    return family


def start_group(cmd: list[str], env: dict[str, str], output: Any) -> subprocess.Popen:
    """Start ``cmd`` as the leader of a new session and process group, so it can be stopped whole.

    A signal that is ignored in this process stays ignored in the child (a background job of a
    non-interactive shell ignores SIGINT): :func:`main` installs handlers first, and handled signals
    are reset to their defaults by exec.
    """
    return subprocess.Popen(  # fixed argv, no shell  # noqa: S603  # nosec B603
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for(done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop_group(leader: int, *, interrupt_wait: float = 15.0, term_wait: float = 5.0, reap=None) -> list[int]:
    """Stop a process group started by :func:`start_group`: SIGINT to the leader, then SIGTERM and
    SIGKILL to the whole group. Returns the pids that were still alive before the SIGKILL.

    SIGINT goes to the leader only: ``airflow standalone`` then stops its components in ~3 s, while
    SIGTERM stops only itself and SIGINT to the whole group leaves it hanging (measured, see FACTS.md).
    Descendants that moved to a session of their own are looked up first and killed last.
    """
    reap = reap or (lambda: None)
    family = descendants(leader)

    def gone() -> bool:
        reap()  # a zombie leader still counts as a group member until it is reaped
        return not group_members(leader)

    _signal(leader, signal.SIGINT, group=False)
    if _wait_for(gone, interrupt_wait):
        return _kill_strays(family)
    _signal(leader, signal.SIGTERM, group=True)
    if _wait_for(gone, term_wait):
        return _kill_strays(family)
    stubborn = group_members(leader)
    _signal(leader, signal.SIGKILL, group=True)
    _wait_for(gone, 5.0)
    return stubborn + _kill_strays(family)


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _kill_strays(family: dict[int, int]) -> list[int]:
    strays = [pid for pid, started in family.items() if _alive_since(pid, started)]
    for pid in strays:
        _signal(pid, signal.SIGKILL, group=False)
    # SIGKILL is delivered asynchronously: wait, so that nothing is left when this returns.
    _wait_for(lambda: not any(_alive_since(pid, family[pid]) for pid in strays), 5.0)
    return strays


# -- Airflow ------------------------------------------------------------------------------------------


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def connection_json(endpoint: str, region: str) -> str:
    extra = {"region_name": region, "endpoint_url": endpoint}
    return json.dumps({"conn_type": "aws", "login": CREDENTIALS, "password": CREDENTIALS, "extra": extra})


def airflow_env(home: Path, cfg: settings_mod.Settings, endpoint: str) -> dict[str, str]:
    """Environment for every Airflow process: this repository's DAGs, the store as connection."""
    api_host, api_port = _host_port(cfg.api_url, 8080)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API__HOST": api_host,
            "AIRFLOW__API__PORT": str(api_port),
            # The default is http://localhost:8080/execution/; "localhost" may resolve to ::1 first,
            # where nothing listens because the API server binds 127.0.0.1 only.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{api_host}:{api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{cfg.api_user}:admin",
            f"AIRFLOW_CONN_{cfg.aws_conn_id.upper()}": connection_json(endpoint, cfg.region),
            "RELEASES_S3_ENDPOINT": endpoint,
            "RELEASES_BUCKET": cfg.bucket,
            # standalone starts its components as `airflow ...`: this venv's must come first.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    if cfg.public_url:
        env["RELEASES_PUBLIC_URL"] = cfg.public_url
    return env


def migrate(env: dict[str, str], output: Any) -> None:
    subprocess.run(  # fixed argv, no shell  # noqa: S603  # nosec B603
        [str(BIN / "airflow"), "db", "migrate"], env=env, stdout=output, stderr=subprocess.STDOUT, check=True
    )


def password_file(home: Path) -> Path:
    return home / "simple_auth_manager_passwords.json.generated"


def seed_password(home: Path, cfg: settings_mod.Settings) -> None:
    """Use RELEASES_API_PASSWORD as the login if set and Airflow has not generated one yet."""
    path = password_file(home)
    if cfg.api_password and not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({cfg.api_user: cfg.api_password}) + "\n")
        path.chmod(0o600)


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback http URL
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # loopback URL built here  # noqa: S310  # nosec B310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


def wait_for_api(api: str, proc: subprocess.Popen, timeout: float = 180.0) -> bool:
    return _wait_for(
        lambda: proc.poll() is not None or _http("GET", f"{api}/api/v2/version")[0] == 200, timeout
    )


def api_token(api: str, user: str, password: str) -> str:
    status, body = _http("POST", f"{api}/auth/token", {"username": user, "password": password})
    if status not in (200, 201):
        raise RuntimeError(f"POST /auth/token answered {status}: {body}")
    return body["access_token"]


def unpause_dag(api: str, token: str, timeout: float = 120.0) -> str:
    """Wait until the DAG is parsed, then unpause it (it may exist paused from an earlier run)."""
    url = f"{api}/api/v2/dags/{DAG_ID}"
    if not _wait_for(lambda: _http("GET", url, token=token)[0] == 200, timeout):
        status, errors = _http("GET", f"{api}/api/v2/importErrors", token=token)
        return f"DAG {DAG_ID} did not appear within {timeout:.0f} s; import errors: {errors}"
    status, body = _http("PATCH", url, {"is_paused": False}, token=token)
    return "" if status == 200 else f"could not unpause {DAG_ID}: {status} {body}"


# -- commands -----------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    # Reset SIGINT even if it was ignored when we were started (background job of a script), and make
    # SIGTERM take the same clean-up path.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def _loopback(url: str, default_port: int, variable: str) -> tuple[str, int]:
    host, port = _host_port(url, default_port)
    host = "127.0.0.1" if host == "localhost" else host
    if not host.startswith("127."):
        raise SystemExit(
            f"{variable}={url}: `make up` serves on loopback only; to serve others, deploy it "
            "(see docker-compose.yml) behind a proxy"
        )
    return host, port


def _require_free(host: str, port: int, what: str) -> None:
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex((host, port)) == 0:
            raise SystemExit(f"{what}: {host}:{port} is already in use (another `make up` still running?)")


def _alive_since(pid: int, started: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z" and stat[3] == started


def _write_pid_file(pid_file: Path, proc: subprocess.Popen) -> None:
    ours, theirs = _proc_stat(os.getpid()), _proc_stat(proc.pid)
    if ours and theirs:
        pid_file.write_text(f"{os.getpid()} {ours[3]} {proc.pid} {theirs[3]}\n")


def _stop_leftovers(pid_file: Path) -> None:
    """Refuse to run twice; stop an `airflow standalone` left by a `make up` that was killed (SIGKILL)."""
    if not pid_file.exists():
        return
    owner, owner_started, leader, leader_started = (int(x) for x in pid_file.read_text().split())
    if _alive_since(owner, owner_started):
        raise SystemExit(f"`make up` is already running (pid {owner}); stop it with Ctrl-C or kill {owner}")
    if _alive_since(leader, leader_started):
        log(f"stopping airflow standalone (pid {leader}) left running by an earlier run that was killed")
        stop_group(leader)
    pid_file.unlink()


def banner(cfg: settings_mod.Settings, endpoint: str, data_dir: Path, home: Path) -> str:
    passwords = json.loads(password_file(home).read_text()) if password_file(home).exists() else {}
    password = passwords.get(cfg.api_user, f"(see {password_file(home)})")
    site = cfg.base_url
    conf = {
        "incident_id": "2026-0001",
        "stage": "preliminary",
        "headline": "Road closed after a collision",
        "summary": "Two vehicles collided; the road is closed.",
        "body": "Officers are on scene.",
        "occurred_at": "2026-11-20T21:14:00-05:00",
        "location": "5th St and Main St",
        "agency": "Springfield Police Department",
        "contact": "Public Information Office, pio@example.org, 555-0100",
    }
    login = json.dumps({"username": cfg.api_user, "password": password})
    run = json.dumps({"logical_date": None, "conf": conf})
    feeds = "\n".join(f"    {site}/{name}" for name in FEEDS)
    return f"""
Incident releases is running. Ctrl-C stops everything.

  Airflow UI + REST API  {cfg.api_url}   login: {cfg.api_user} / {password}
  Public site            {site}/index.html
  Feeds
{feeds}
  Object storage (S3)    {endpoint}  access key / secret: {CREDENTIALS} / {CREDENTIALS}
  Data                   {data_dir} (store), {home} (Airflow); Airflow's log: {home}/standalone.log

Trigger a release through the REST API:
  TOKEN=$(curl -s -X POST {cfg.api_url}/auth/token -H 'Content-Type: application/json' \\
    -d '{login}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -X POST {cfg.api_url}/api/v2/dags/{DAG_ID}/dagRuns -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -d '{run}'
"""


def up(data_dir: Path) -> int:
    cfg = settings_mod.load()
    host, port = _loopback(cfg.s3_endpoint, 9000, "RELEASES_S3_ENDPOINT")
    api_host, api_port = _loopback(cfg.api_url, 8080, "RELEASES_API_URL")
    home = Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    pid_file = home / "standalone.pid"
    _stop_leftovers(pid_file)
    _require_free(host, port, "object storage")
    _require_free(api_host, api_port, "Airflow API")
    store = start_store(data_dir, port, host)
    proc = None
    try:
        Store(s3_client(store.endpoint, cfg.region), cfg.bucket).ensure_bucket()
        log(f"object storage on {store.endpoint}, bucket {cfg.bucket}, data in {data_dir}")
        env = airflow_env(home, cfg, store.endpoint)
        seed_password(home, cfg)
        with open(home / "standalone.log", "ab") as output:
            if not (home / "airflow.db").exists():
                log("creating Airflow's metadata database (first run)")
                migrate(env, output)
            log(f"starting airflow standalone (log: {home / 'standalone.log'})")
            proc = start_group([str(BIN / "airflow"), "standalone"], env, output)
        _write_pid_file(pid_file, proc)
        if not wait_for_api(cfg.api_url, proc):
            return _failed(proc, home)
        if proc.poll() is None:
            log("Airflow's API answers; waiting for the DAG to be parsed")
            password = json.loads(password_file(home).read_text())[cfg.api_user]
            problem = unpause_dag(cfg.api_url, api_token(cfg.api_url, cfg.api_user, password))
            log(problem or f"{DAG_ID} is parsed and unpaused")
            print(banner(cfg, store.endpoint, data_dir, home), flush=True)
        while proc.poll() is None:
            time.sleep(0.5)
        return _failed(proc, home)
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        _shutdown(proc, store, pid_file)


def _failed(proc: subprocess.Popen, home: Path) -> int:
    tail = (home / "standalone.log").read_text(errors="replace").splitlines()[-30:]
    log("airflow standalone stopped unexpectedly; the end of its log:\n" + "\n".join(tail))
    return 1


def _shutdown(proc: subprocess.Popen | None, store: StoreHandle, pid_file: Path) -> None:
    # Ctrl-C again while stopping must not leave processes behind.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if proc is not None:
        started = time.monotonic()
        killed = stop_group(proc.pid, reap=proc.poll)
        note = f", had to kill {killed}" if killed else ""
        log(f"airflow stopped in {time.monotonic() - started:.1f} s{note}")
    pid_file.unlink(missing_ok=True)
    stop_store(store)
    log("object storage stopped; its data is on disk")


def serve_store(data_dir: Path, port: int) -> int:
    store = start_store(data_dir, port)
    print(f"store ready {store.endpoint}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_store(store)


# -- demo ---------------------------------------------------------------------------------------------

DEMO_ID = "DEMO-0001"
DEMO_RUNS = (
    {
        "incident_id": DEMO_ID,
        "stage": "preliminary",
        "headline": "Officer-involved shooting near 5th St and Main St",
        "summary": "One adult injured; transported to a hospital.",
        "body": "At about 9:14 p.m. officers responded to a call near 5th St and Main St.\n\n"
        "One adult was injured and taken to a hospital. No officers were hurt.",
        "occurred_at": "2026-11-20T21:14:00-05:00",
        "location": "5th St and Main St",
        "agency": "Springfield Police Department",
        "contact": "Public Information Office, pio@example.org, 555-0100",
    },
    {
        "incident_id": DEMO_ID,
        "stage": "updated",
        "summary": "One adult injured; in stable condition at a hospital.",
    },
    {
        "incident_id": DEMO_ID,
        "stage": "corrected",
        "location": "6th St and Main St",
        "correction_note": "The first statement gave the wrong cross street; it was 6th St, not 5th St.",
    },
)


def run_dag_test(env: dict[str, str], conf: dict[str, Any], output: Any) -> bool:
    cmd = [str(BIN / "airflow"), "dags", "test", DAG_ID, "-c", json.dumps(conf)]
    # `dags test` exits non-zero when the run failed ("DagRun failed").
    # A fixed argv, no shell.
    proc = subprocess.run(cmd, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603  # nosec B603
    return proc.returncode == 0


def download_public(endpoint: str, bucket: str, target: Path) -> list[str]:
    """Copy every object an anonymous reader can GET into ``target``, keeping key paths."""
    client = s3_client(endpoint)
    saved = []
    for key in Store(client, bucket).list_keys(""):
        path = (target / key).resolve()
        if not path.is_relative_to(target.resolve()):
            continue  # a key like ../x must not write outside the folder
        try:
            url = f"{endpoint}/{bucket}/{urllib.parse.quote(key)}"
            with urllib.request.urlopen(url, timeout=10) as resp:  # loopback store  # noqa: S310  # nosec B310
                body = resp.read()
        except urllib.error.HTTPError as err:
            if err.code == 403:
                continue  # private (e.g. run bookkeeping): not part of the public site
            raise
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        saved.append(key)
    return saved


def demo(target: Path) -> int:
    cfg = settings_mod.load()
    with tempfile.TemporaryDirectory(prefix="releases-demo-") as tmp:
        store = start_store(None, 0)
        try:
            Store(s3_client(store.endpoint, cfg.region), cfg.bucket).ensure_bucket()
            env = airflow_env(Path(tmp) / "airflow", cfg, store.endpoint)
            log_path = Path(tmp) / "demo.log"
            with open(log_path, "ab") as output:
                log("preparing a throw-away Airflow home and object store")
                migrate(env, output)
                for conf in DEMO_RUNS:
                    started = time.monotonic()
                    ok = run_dag_test(env, conf, output)
                    log(
                        f"{conf['stage']:<12} {'ok' if ok else 'FAILED'} ({time.monotonic() - started:.1f} s)"
                    )
                    if not ok:
                        output.flush()
                        tail = log_path.read_text(errors="replace").splitlines()[-40:]
                        print("\n".join(tail), file=sys.stderr)
                        return 1
            shutil.rmtree(target, ignore_errors=True)
            saved = download_public(store.endpoint, cfg.bucket, target)
        finally:
            stop_store(store)
    print(demo_summary(target, saved), flush=True)
    return 0


def demo_summary(target: Path, saved: list[str]) -> str:
    where = os.path.relpath(target)
    feeds = "\n".join(f"  {where}/{name}" for name in FEEDS)
    return f"""
Published {len(saved)} public objects for incident {DEMO_ID} (preliminary -> updated -> corrected).
Open them in a browser or a feed reader:
  {where}/index.html                        all incidents
  {where}/incidents/{DEMO_ID}/index.html    current statement and full history with field-level changes
  {where}/corrections/index.html            the public changelog of corrections
{feeds}
  {where}/incidents/{DEMO_ID}/v1.json ... v3.json   the version records (the source of truth)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m releases.stack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="object storage + Airflow on loopback until Ctrl-C")
    p_up.add_argument("--data-dir", type=Path, default=REPO / ".data" / "s3")
    p_demo = sub.add_parser("demo", help="one sample incident through every stage with the real DAG")
    p_demo.add_argument("--out", type=Path, default=REPO / "demo-site")
    p_store = sub.add_parser("store", help="only the embedded object storage, until Ctrl-C")
    p_store.add_argument("--data-dir", type=Path, default=REPO / ".data" / "s3")
    p_store.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    install_signal_handlers()
    if args.command == "up":
        return up(args.data_dir.resolve())
    if args.command == "demo":
        return demo(args.out)
    return serve_store(args.data_dir.resolve(), args.port)


if __name__ == "__main__":
    sys.exit(main())

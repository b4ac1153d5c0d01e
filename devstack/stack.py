"""Run the whole product on one machine: ``make up``, ``make demo``, ``python -m devstack store``.

``up``
    SeaweedFS (S3 API on 127.0.0.1:9000, data in ``.data/s3``), PostgreSQL for Airflow's metadata
    (127.0.0.1:9005, data in ``.data/pg``; SQLite in ``$AIRFLOW_HOME`` with a warning where PostgreSQL
    cannot run) and Airflow's four components (api-server, scheduler, dag-processor, triggerer;
    LocalExecutor), each a process tree of its own, all on loopback. Ctrl-C or SIGTERM stops every
    process it started.
``demo``
    One sample incident through preliminary -> updated -> corrected with the real DAG (``airflow dags
    test``) against a throw-away SeaweedFS; the public site is copied to ``demo-site/``.
``store``
    Only SeaweedFS, configured as ``up`` configures it, until Ctrl-C or SIGTERM.

Airflow's components are started one by one rather than through ``airflow standalone``, because
standalone's scheduler and triggerer serve their logs on every interface (ports 8793/8794, host
hard-coded to ""): here both run with ``--skip-serve-logs``; the API server reads the log files from
disk, which it shares with them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from releases import checkpoint, sealing, tlog
from releases import settings as settings_mod

from . import postgres, processes, seaweed
from .processes import Component

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAG_ID = "incident_release"
FEEDS = ("rss.xml", "atom.xml", "corrections.rss.xml", "corrections.atom.xml")
AIRFLOW_COMPONENTS = (
    ("api-server", ["api-server"]),
    ("scheduler", ["scheduler", "--skip-serve-logs"]),
    ("dag-processor", ["dag-processor"]),
    ("triggerer", ["triggerer", "--skip-serve-logs"]),
)
SIMPLE_AUTH = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
# PostgreSQL's port in the `make up` layout: after the store's five (S3 port + 1..4).
PG_PORT_OFFSET = 5
DB_URL_VARIABLE = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"

_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[devstack {time.monotonic() - _STARTED:5.1f}s] {message}", flush=True)


# -- settings -----------------------------------------------------------------------------------------


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def loopback(url: str, default_port: int, variable: str) -> tuple[str, int]:
    host, port = _host_port(url, default_port)
    host = "127.0.0.1" if host == "localhost" else host
    if host != "127.0.0.1":
        raise SystemExit(
            f"{variable}={url}: `make up` serves on 127.0.0.1 only; to serve others, deploy it "
            "(see docker-compose.yml) behind a proxy"
        )
    return host, port


def connection_json(endpoint: str, region: str, creds: dict[str, str]) -> str:
    extra = {"region_name": region, "endpoint_url": endpoint}
    return json.dumps(
        {"conn_type": "aws", "login": creds["access_key"], "password": creds["secret_key"], "extra": extra}
    )


# Who may sign in to `make up`: the operator, a PIO and an auditor, one per role a deployment uses
# (SimpleAuthManager roles; passwords are generated into the password file on first start): a PIO who
# submits, a second person who approves corrections and redactions (releases.approval), a viewer.
USERS = {"pio": "user", "approver": "user", "auditor": "viewer"}


def airflow_env(
    home: Path,
    cfg: settings_mod.Settings,
    endpoint: str,
    writer: dict[str, str],
    store: seaweed.SeaweedFS | None = None,
    database_url: str | None = None,
) -> dict[str, str]:
    """Environment for every Airflow process: this repository's DAGs, the store as a connection that
    carries the store's writer identity, the metadata database at ``database_url`` (default: what
    the environment or airflow.cfg says; SQLite in ``home`` if nothing does)."""
    api_host, api_port = _host_port(cfg.api_url, 8080)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # LocalExecutor starts `parallelism` worker processes up front (32 by default, ~40 processes
            # per stack); a release is one run at a time, a burst a few.
            "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "8"),
            # Latency (read from Airflow 3.3's source, not guessed). An idle scheduler sleeps this long
            # between loops (default 1 s), so a triggered run waited up to 1 s to be picked up; a busy
            # one never sleeps. Costs: an idle scheduler runs its loop (a few small queries) 4 times a
            # second instead of once. `[scheduler] scheduler_heartbeat_sec` is left alone: in 3.3 it is
            # only how often the scheduler records that it is alive, not how often it schedules.
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            # How often the dag-processor lists the DAG folder for new or deleted files (default 300 s:
            # a new DAG file appeared after up to five minutes). Costs: one listing of dags/ every 30 s.
            # Changed files are re-parsed every `[dag_processor] min_file_process_interval` (30 s, kept:
            # each parse is a process that imports the DAG, a CPU-second on a busy 2-core machine).
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH,
            "AIRFLOW__API__HOST": api_host,
            "AIRFLOW__API__PORT": str(api_port),
            # The default is http://localhost:8080/execution/; "localhost" may resolve to ::1 first,
            # where nothing listens because the API server binds 127.0.0.1 only.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{api_host}:{api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{user}:{role}" for user, role in {cfg.api_user: "admin", **USERS}.items()
            ),
            f"AIRFLOW_CONN_{cfg.aws_conn_id.upper()}": connection_json(endpoint, cfg.region, writer),
            "RELEASES_S3_ENDPOINT": endpoint,
            "RELEASES_BUCKET": cfg.bucket,
            # Components start subprocesses as `airflow ...`: this venv's must come first.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    if cfg.public_url:
        env["RELEASES_PUBLIC_URL"] = cfg.public_url
    if database_url:
        # Airflow derives the async URL (postgresql+asyncpg://...) from this one.
        env[DB_URL_VARIABLE] = database_url
    if store is not None:
        # The private keys: only Airflow's tasks read them (releases.sealing, releases.checkpoint); never in
        # the bucket. The log's verifier key is public: its fingerprint is shown on every page.
        for conn, key in (
            (sealing.CONNECTION, store.sealing_key()),
            (checkpoint.CONNECTION, store.signing_key()),
        ):
            env[f"AIRFLOW_CONN_{conn.upper()}"] = json.dumps({"conn_type": "generic", "password": key})
        env["RELEASES_LOG_KEY"] = store.log_vkey(tlog.origin(cfg))
    return env


def migrate(env: dict[str, str], output: Any) -> None:
    subprocess.run(  # fixed argv, no shell  # noqa: S603
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


# -- the Airflow REST API at start-up ----------------------------------------------------------------


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback http URL
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # loopback URL built here  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


def _wait_for(done, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def api_token(api: str, user: str, password: str, timeout: float = 60.0) -> str:
    answer: list[Any] = []

    def got() -> bool:
        answer[:] = _http("POST", f"{api}/auth/token", {"username": user, "password": password})
        return answer[0] in (200, 201)

    if not _wait_for(got, timeout, 1.0):
        raise RuntimeError(f"POST /auth/token answered {answer[0]}: {answer[1]}")
    return answer[1]["access_token"]


def unpause_dags(api: str, token: str, dag_ids: tuple[str, ...], timeout: float = 120.0) -> str:
    """Wait until each DAG is parsed, then unpause it; start-up calls are retried (the metadata
    database may still be busy with the first parse)."""
    for dag_id in dag_ids:
        url = f"{api}/api/v2/dags/{dag_id}"
        if not _wait_for(lambda url=url: _http("GET", url, token=token)[0] == 200, timeout):
            errors = _http("GET", f"{api}/api/v2/importErrors", token=token)[1]
            return f"DAG {dag_id} did not appear within {timeout:.0f} s; import errors: {errors}"
        if not _wait_for(
            lambda url=url: _http("PATCH", url, {"is_paused": False}, token=token)[0] == 200, timeout, 1.0
        ):
            return f"could not unpause {dag_id}: {_http('PATCH', url, {'is_paused': False}, token=token)}"
    return ""


# -- up ------------------------------------------------------------------------------------------------


def database_line(db: postgres.Postgres | None, env: dict[str, str]) -> str:
    if db is not None:
        return f"PostgreSQL on 127.0.0.1:{db.port}, data in {db.folder} (passwords: credentials.json there)"
    if env.get(DB_URL_VARIABLE, "").startswith("sqlite") or DB_URL_VARIABLE not in env:
        return "SQLite: simultaneous triggers may fail with HTTP 500 (see the warning above)"
    return f"as {DB_URL_VARIABLE} says"


# The update document the banner shows how to send (bench/bench_inbox.py sends it too, under its own ids).
EXAMPLE = {
    "stage": "preliminary",
    "headline": "Road closed after a collision",
    "summary": "Two vehicles collided; the road is closed.",
    "body": "Officers are on scene.",
    "occurred_at": "2026-11-20T21:14:00-05:00",
    "location": "5th St and Main St",
    "agency": "Springfield Police Department",
    "contact": "Public Information Office, pio@example.org, 555-0100",
}


def banner(cfg: settings_mod.Settings, store: seaweed.SeaweedFS, home: Path, database: str = "SQLite") -> str:
    passwords = json.loads(password_file(home).read_text()) if password_file(home).exists() else {}
    password = passwords.get(cfg.api_user, f"(see {password_file(home)})")
    admin = store.credentials("admin")
    site = cfg.base_url
    conf = {"incident_id": "2026-0001", **EXAMPLE}
    login = json.dumps({"username": cfg.api_user, "password": password})
    others = ", ".join(f"{user} ({role}) / {passwords.get(user, '?')}" for user, role in USERS.items())
    run = json.dumps({"logical_date": None, "conf": conf})
    feeds = "\n".join(f"    {site}/{name}" for name in FEEDS)
    p = store.ports
    return f"""
Incident releases is running. Ctrl-C stops everything.

  Airflow UI + REST API  {cfg.api_url}   login: {cfg.api_user} / {password}
                         also: {others}
  Release desk           {cfg.api_url}/release-desk/   (in Airflow: Plugins → Releases → Release desk)
  Public site            {site}/index.html
  Feeds
{feeds}
  Object storage (S3)    {store.endpoint}  (SeaweedFS; internal ports {p.master}-{p.admin} and gRPC
                         {p.s3 + seaweed.GRPC_OFFSET}-{p.admin + seaweed.GRPC_OFFSET}, all on 127.0.0.1)
  Look inside            AWS_ACCESS_KEY_ID={admin["access_key"]} AWS_SECRET_ACCESS_KEY={admin["secret_key"]} \\
                           aws --endpoint-url {store.endpoint} s3 ls s3://{cfg.bucket}/ --recursive
  Data                   {store.data_dir} (store, credentials.json), {home} (Airflow, logs in {home}/logs)
  Airflow's database     {database}
  Time zone              {zone_line(cfg)}

Trigger a release through the REST API:
  TOKEN=$(curl -s -X POST {cfg.api_url}/auth/token -H 'Content-Type: application/json' \\
    -d '{login}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -X POST {cfg.api_url}/api/v2/dags/{DAG_ID}/dagRuns -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -d '{run}'
"""


def zone_line(cfg: settings_mod.Settings) -> str:
    """Which time zone the pages show, and how to change it (make up's banner, make demo's summary)."""
    if cfg.display_timezone:
        return f"pages show times in {cfg.display_timezone} (RELEASES_TIMEZONE)"
    return (
        "RELEASES_TIMEZONE is not set: each time is shown in the UTC offset its statement gives\n"
        "                         (e.g. -05:00); set RELEASES_TIMEZONE=America/New_York (any IANA name) "
        "for the agency's zone"
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    # Reset SIGINT even if it was ignored when we were started (background job of a script), and make
    # SIGTERM take the same clean-up path.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def start_airflow(env: dict[str, str], output: Any) -> list[Component]:
    started = []
    for name, args in AIRFLOW_COMPONENTS:
        started.append(processes.start(name, [str(BIN / "airflow"), *args], env, output))
    return started


SQLITE_WARNING = """
!!! WARNING: Airflow's metadata database is SQLite, not PostgreSQL: {why}.
!!! SQLite takes one writer at a time, and Airflow's four components all write: simultaneous triggers
!!! may fail with HTTP 500 ("database is locked"; measured: 5 of 6 simultaneous REST triggers did).
!!! Fine for one person trying a release; not for a desk. Fix: {fix}
"""


def start_database(pg_dir: Path, port: int) -> tuple[postgres.Postgres | None, str]:
    """PostgreSQL for Airflow's metadata, or (None, why not) when it cannot run here."""
    why = postgres.unavailable()
    fix = "run `make services` as root (installs Debian's postgresql package), then `make up` again."
    if not why:
        blocked = postgres.blocked_folder(pg_dir)
        if blocked:
            why = f"the `{postgres.run_as()}` user that runs it cannot enter {blocked}"
            fix = f"`chmod o+x {blocked}`, or keep the checkout where that user can reach it."
    if why:
        print(SQLITE_WARNING.format(why=why, fix=fix), file=sys.stderr, flush=True)
        return None, why
    if not seaweed.port_free(port):
        raise SystemExit(f"PostgreSQL: 127.0.0.1:{port} is already in use (another `make up` running?)")
    try:
        return postgres.start(pg_dir, port), ""
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        raise SystemExit(f"PostgreSQL did not start: {err} (its log: {pg_dir / 'postgres.log'})") from err


def up(data_dir: Path, pg_dir: Path | None = None) -> int:
    cfg = settings_mod.load()
    _, s3_port = loopback(cfg.s3_endpoint, 9000, "RELEASES_S3_ENDPOINT")
    api_host, api_port = loopback(cfg.api_url, 8080, "RELEASES_API_URL")
    home = Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    # Airflow's database (run documents, audit log) and its password file are written readable by all.
    home.chmod(0o700)
    pid_file = home / "devstack.pids"
    left = processes.stop_leftovers(pid_file)
    if left:
        log(f"stopped {len(left)} processes left running by an earlier stack that was killed: {left}")
    ports = seaweed.Ports.from_s3(s3_port)
    pg_port = s3_port + PG_PORT_OFFSET
    if api_port in [*ports.all(), pg_port]:
        raise SystemExit(
            f"RELEASES_API_URL: port {api_port} is one of the object store's or PostgreSQL's ports "
            f"{[*ports.all(), pg_port]}"
        )
    if not seaweed.port_free(api_port):
        raise SystemExit(f"Airflow API: 127.0.0.1:{api_port} is already in use (another `make up` running?)")
    store = seaweed.start(data_dir, ports)
    components: list[Component] = []
    db: postgres.Postgres | None = None
    processes.record(pid_file, components, [store.proc.pid])
    try:
        store.provision(cfg.bucket, tlog.origin(cfg))
        log(f"object storage (SeaweedFS) on {store.endpoint}, bucket {cfg.bucket}, data in {data_dir}")
        if DB_URL_VARIABLE in os.environ:
            log(f"Airflow's metadata database: as {DB_URL_VARIABLE} says (no PostgreSQL of the stack's own)")
        else:
            db, _ = start_database(pg_dir or data_dir.parent / "pg", pg_port)
        if db is not None:
            processes.record(pid_file, components, [store.proc.pid, db.proc.pid])
            log(f"Airflow's metadata database: PostgreSQL on 127.0.0.1:{db.port}, data in {db.folder}")
        env = airflow_env(
            home, cfg, store.endpoint, store.credentials("writer"), store, db.url() if db else None
        )
        seed_password(home, cfg)
        with open(home / "airflow.log", "ab") as output:
            first_run = db.created if db else not (home / "airflow.db").exists()
            if first_run:
                log("creating Airflow's metadata database (first run)")
                if db and (home / "airflow.db").exists():
                    log(
                        f"(the SQLite database of earlier runs, {home / 'airflow.db'}, is no longer used: "
                        "its run history stays there; published releases are in the store)"
                    )
            migrate(env, output)  # a no-op when current; upgrades after an Airflow upgrade
            log(
                f"starting Airflow: {', '.join(n for n, _ in AIRFLOW_COMPONENTS)} (log: {home / 'airflow.log'})"
            )
            components = start_airflow(env, output)
        processes.record(pid_file, components, [store.proc.pid, *([db.proc.pid] if db else [])])
        api = components[0]
        if not _wait_for(
            lambda: not api.alive() or _http("GET", f"{cfg.api_url}/api/v2/version")[0] == 200, 180
        ):
            return _failed(home, "Airflow's API did not answer within 180 s")
        if not api.alive():
            return _failed(home, "Airflow's API server stopped")
        log("Airflow's API answers; waiting for the DAGs to be parsed")
        password_file(home).chmod(0o600)  # every user's password, generated by Airflow: the owner's alone
        password = json.loads(password_file(home).read_text())[cfg.api_user]
        problem = unpause_dags(
            cfg.api_url,
            api_token(cfg.api_url, cfg.api_user, password),
            (DAG_ID, "site_views", "incident_redaction"),
        )
        log(problem or f"{DAG_ID}, site_views and incident_redaction are parsed and unpaused")
        print(banner(cfg, store, home, database_line(db, env)), flush=True)
        while (
            all(c.alive() for c in components)
            and store.proc.poll() is None
            and (db is None or db.proc.poll() is None)
        ):
            for c in components:
                c.watch()
            time.sleep(1.0)
        gone = [c.name for c in components if not c.alive()]
        if db is not None and db.proc.poll() is not None:
            gone.append("PostgreSQL")
        return _failed(home, f"{', '.join(gone or ['SeaweedFS'])} stopped unexpectedly")
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        _shutdown(components, store, db)
        pid_file.unlink(missing_ok=True)


def _failed(home: Path, why: str) -> int:
    tail = (home / "airflow.log").read_text(errors="replace").splitlines()[-30:]
    log(f"{why}; the end of Airflow's log:\n" + "\n".join(tail))
    return 1


def _shutdown(
    components: list[Component], store: seaweed.SeaweedFS, db: postgres.Postgres | None = None
) -> None:
    # Ctrl-C again while stopping must not leave processes behind.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if components:
        started = time.monotonic()
        killed = processes.stop_all(components)
        note = f", had to kill {killed}" if killed else ""
        log(f"Airflow stopped in {time.monotonic() - started:.1f} s{note}")
    if db is not None:
        code = db.stop()
        log(f"PostgreSQL stopped{'' if code == 0 else f' (exit code {code})'}; its data is on disk")
    store.stop()
    log("object storage stopped; its data is on disk")


def serve_store(data_dir: Path, port: int, bucket: str) -> int:
    ports = seaweed.Ports.from_s3(port) if port else seaweed.Ports.free()
    store = seaweed.start(data_dir, ports)
    try:
        store.provision(bucket)
        print(f"store ready {store.endpoint}", flush=True)
        while store.proc.poll() is None:
            time.sleep(0.5)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        store.stop()


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
        # Every field that stated the wrong street, corrected with it (the consistency check refuses a
        # correction that leaves the wrong value standing in the headline or the statement).
        "headline": "Officer-involved shooting near 6th St and Main St",
        "body": "At about 9:14 p.m. officers responded to a call near 6th St and Main St.\n\n"
        "One adult was injured and taken to a hospital. No officers were hurt.",
        "location": "6th St and Main St",
        "correction_note": "The first statement gave the wrong cross street; it was 6th St, not 5th St.",
    },
)


def run_dag_test(env: dict[str, str], conf: dict[str, Any], output: Any) -> bool:
    """One release with the real DAG, then the site-wide views as the scheduler runs them after it."""
    for cmd in (
        [str(BIN / "airflow"), "dags", "test", DAG_ID, "-c", json.dumps(conf)],
        [str(BIN / "airflow"), "dags", "test", "site_views"],
    ):
        # `dags test` exits non-zero when the run failed ("DagRun failed"). A fixed argv, no shell.
        proc = subprocess.run(cmd, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
        if proc.returncode != 0:
            return False
    return True


def download_public(store: seaweed.SeaweedFS, bucket: str, target: Path) -> list[str]:
    """Copy every object an anonymous reader can GET into ``target``, keeping key paths."""
    from releases.storage import Store

    saved = []
    for key in Store(store.client("admin"), bucket).list_keys(""):
        path = (target / key).resolve()
        if not path.is_relative_to(target.resolve()):
            continue  # a key like ../x must not write outside the folder
        try:
            url = f"{store.endpoint}/{bucket}/{urllib.parse.quote(key)}"
            with urllib.request.urlopen(url, timeout=10) as resp:  # loopback store  # noqa: S310
                body = resp.read()
        except urllib.error.HTTPError as err:
            if err.code == 403:
                continue  # private (run bookkeeping): not part of the public site
            raise
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        saved.append(key)
    return saved


def demo(target: Path) -> int:
    from releases.storage import Store

    cfg = settings_mod.load()
    target = target.resolve()
    if not cfg.public_url:
        # Feeds and canonical links are absolute. The throw-away store's port is gone once the demo ends,
        # so they name the copied files instead: every link of the saved site works when it is opened.
        cfg = dataclasses.replace(cfg, public_url=target.as_uri())
    with tempfile.TemporaryDirectory(prefix="releases-demo-") as tmp:
        store = seaweed.start(Path(tmp) / "s3", seaweed.Ports.free())
        try:
            store.provision(cfg.bucket, tlog.origin(cfg))
            env = airflow_env(Path(tmp) / "airflow", cfg, store.endpoint, store.credentials("writer"), store)
            # No second person sits at a demo: its correction would wait for an approval nobody gives
            # (`airflow dags test` has no one to answer). `make up` keeps the configured approval.
            env["RELEASES_APPROVAL_STAGES"] = "none"
            log_path = Path(tmp) / "demo.log"
            with open(log_path, "ab") as output:
                log("preparing a throw-away Airflow home and object store")
                migrate(env, output)
                records = Store(store.client("admin"), cfg.bucket)
                for n, conf in enumerate(DEMO_RUNS, 1):
                    started = time.monotonic()
                    # A refused release ends its run successfully, with nothing written: look for the version.
                    ok = (
                        run_dag_test(env, conf, output)
                        and records.get(f"incidents/{DEMO_ID}/v{n}.json") is not None
                    )
                    log(
                        f"{conf['stage']:<12} {'ok' if ok else 'FAILED'} ({time.monotonic() - started:.1f} s)"
                    )
                    if not ok:
                        output.flush()
                        tail = log_path.read_text(errors="replace").splitlines()[-40:]
                        print("\n".join(tail), file=sys.stderr)
                        return 1
            shutil.rmtree(target, ignore_errors=True)
            saved = download_public(store, cfg.bucket, target)
        finally:
            store.stop()
    print(demo_summary(target, saved, cfg), flush=True)
    return 0


def demo_summary(target: Path, saved: list[str], cfg: settings_mod.Settings) -> str:
    where = os.path.relpath(target)
    feeds = "\n".join(f"  {where}/{name}" for name in FEEDS)
    if cfg.public_url == target.as_uri():
        links = f"""Links: pages link to each other relatively; feeds and canonical links name these files
({cfg.public_url}/...), so every link works from this folder, in a browser or a feed reader on
this machine (move the folder and run make demo again). To look at it over HTTP instead:
  RELEASES_PUBLIC_URL=http://127.0.0.1:8000 make demo
  python3 -m http.server --bind 127.0.0.1 --directory {where} 8000   # then http://127.0.0.1:8000/index.html; Ctrl-C stops it"""
    else:
        links = f"""Links: feeds and canonical links name {cfg.public_url}/... (RELEASES_PUBLIC_URL); serve this folder
there, e.g. python3 -m http.server --bind 127.0.0.1 --directory {where} <port> (Ctrl-C stops it)."""
    return f"""
Published {len(saved)} public objects for incident {DEMO_ID} (preliminary -> updated -> corrected).
Approval was off for the demo (nobody is there to approve its correction); make up asks for it.
Open them in a browser or a feed reader:
  {where}/index.html                        all incidents
  {where}/incidents/{DEMO_ID}/index.html    current statement and full history with field-level changes
  {where}/corrections/index.html            the public changelog of corrections
{feeds}
  {where}/incidents/{DEMO_ID}/v1.json ... v3.json   the version records (the source of truth)
{links}
Time zone: {zone_line(cfg)}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="object storage + Airflow on loopback until Ctrl-C")
    p_up.add_argument("--data-dir", type=Path, default=REPO / ".data" / "s3")
    p_up.add_argument(
        "--pg-dir", type=Path, default=None, help="PostgreSQL's folder (default: pg beside --data-dir)"
    )
    p_demo = sub.add_parser("demo", help="one sample incident through every stage with the real DAG")
    p_demo.add_argument("--out", type=Path, default=REPO / "demo-site")
    p_store = sub.add_parser("store", help="only the object storage, until Ctrl-C")
    p_store.add_argument("--data-dir", type=Path, default=REPO / ".data" / "s3")
    p_store.add_argument("--port", type=int, default=9000, help="S3 port (0: any free ports)")
    p_store.add_argument("--bucket", default=None)
    args = parser.parse_args(argv)
    try:
        cfg = settings_mod.load()
    except ValueError as err:  # names the variable and the rule
        print(f"error: {err}", file=sys.stderr)
        return 2
    install_signal_handlers()
    if args.command == "up":
        return up(args.data_dir.resolve(), args.pg_dir.resolve() if args.pg_dir else None)
    if args.command == "demo":
        return demo(args.out)
    return serve_store(args.data_dir.resolve(), args.port, args.bucket or cfg.bucket)

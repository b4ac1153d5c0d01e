"""Airflow's distributed setup on one machine, without Docker: the shape of ``docker-compose.yml`` that
``make test-distributed`` (``tests/test_distributed.py``) runs on every CI run.

- PostgreSQL for Airflow's metadata and Celery's results (``devstack.postgres``), Redis as the Celery
  broker (``devstack.redis_server``) and SeaweedFS as the object store (``devstack.seaweed``), each a
  server of the stack's own on 127.0.0.1, configured as ``make up`` configures them.
- Airflow's components each started on its own, as compose's services: ``api-server``, ``scheduler``,
  ``dag-processor``, ``triggerer`` and two Celery workers (``airflow celery worker``) with the
  CeleryExecutor, all with compose's settings (:func:`airflow_env`): the metadata database, broker and
  result backend URLs, one Fernet key, JWT secret and API secret key shared by every component, the
  latency settings, the project's settings. As compose's ``airflow-init`` does, ``airflow db migrate``
  runs first and the connections (the store's writer identity, the sealing and signing keys, SMTP) are
  imported into the metadata database, encrypted with the Fernet key, so a worker that reads them proves
  that it shares the key.
- What differs from compose, and why: one machine, so everything listens on 127.0.0.1 on free ports; each
  worker takes one task at a time (``--concurrency 1``, compose's default is 16), so that two releases at
  once are taken by both workers; the workers are told apart by their hostname as containers would be
  (``[core] hostname_callable`` is :func:`hostname`, which answers the worker's name), and serve no logs
  (``--skip-serve-logs``: two would collide on port 8793, and the API server reads the log files from
  the disk they share); Airflow's simple auth manager instead of FAB (not in the lock: a ``make up`` login).

Every component writes its own log into the logs folder (``<name>.log``); a failure names the component
whose log to read. :meth:`Distributed.stop` stops every process it started, whole trees, and says which
had to be killed.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from releases import checkpoint, sealing, tlog
from releases import settings as settings_mod

from . import postgres, processes, redis_server, seaweed, stack
from .processes import Component

REPO = stack.REPO
BIN = stack.BIN
WORKERS = ("worker-1", "worker-2")
# The variable that names a worker to hostname(); set only in a worker's environment.
HOSTNAME_VARIABLE = "RELEASES_DEVSTACK_HOSTNAME"
DAG_IDS = ("incident_release", "site_views", "incident_redaction")


def hostname() -> str:
    """``[core] hostname_callable`` of the workers: the worker's own name, as a container's hostname would
    be (two workers on one machine otherwise report the same hostname for every task they run)."""
    return os.environ.get(HOSTNAME_VARIABLE) or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log(message: str) -> None:
    print(f"[distributed {time.monotonic() - _STARTED:6.1f}s] {message}", flush=True)


_STARTED = time.monotonic()


@dataclass
class Distributed:
    folder: Path  # the servers' data and Airflow's home
    logs: Path  # every component's log
    api: str
    bucket: str
    env: dict[str, str]
    store: seaweed.SeaweedFS | None = None
    db: postgres.Postgres | None = None
    broker: redis_server.Redis | None = None
    components: list[Component] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.folder / "airflow"

    @property
    def s3(self) -> str:
        assert self.store is not None
        return self.store.endpoint

    def password(self, user: str = "admin") -> str:
        return json.loads(stack.password_file(self.home).read_text())[user]

    def log_of(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def dead(self, ignore: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """The components (and servers) that have stopped, each with the log to read; ``ignore`` names
        servers stopped on purpose."""
        gone = [f"{c.name} (log: {self.log_of(c.name)})" for c in self.components if not c.alive()]
        for name, server, path in (
            ("PostgreSQL", self.db, self.folder / "pg" / "postgres.log"),
            ("Redis", self.broker, self.folder / "redis" / "redis.log"),
            ("SeaweedFS", self.store, self.folder / "s3" / "weed.log"),
        ):
            if server is not None and server.proc.poll() is not None and name not in ignore:
                gone.append(f"{name} (log: {path})")
        return gone

    def pids(self) -> list[int]:
        """Every process the stack runs now: the servers and each component's whole tree."""
        found = []
        for server in (self.db, self.broker, self.store):
            if server is not None:
                found += [p.pid for p in processes.tree(server.proc.pid)]
        for c in self.components:
            c.watch()
            found += [p.pid for p in processes.tree(c.proc.pid)]
        return found

    def stop(self) -> list[int]:
        """Stop every process it started (Airflow's components first, then the servers); returns the pids
        that had to be killed. Copies the servers' logs into the logs folder."""
        killed: list[int] = []
        if self.components:
            killed += processes.stop_all(self.components, timeout=30)
        if self.broker is not None:
            self.broker.stop()
        if self.db is not None:
            self.db.stop()
        if self.store is not None:
            self.store.stop()
        for source in (
            self.folder / "pg" / "postgres.log",
            self.folder / "redis" / "redis.log",
            self.folder / "s3" / "weed.log",
        ):
            if source.exists():
                shutil.copyfile(source, self.logs / source.name)
        return killed

    def strays(self) -> list[psutil.Process]:
        """Processes still running with this stack's Airflow home or data folder: there must be none."""
        home, folder = str(self.home), str(self.folder)
        left = []
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            try:
                if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                    continue
                cmdline = " ".join(proc.info["cmdline"] or [])
                if folder in cmdline or proc.environ().get("AIRFLOW_HOME") == home:
                    left.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                pass
        return left


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def airflow_env(
    dist: Distributed, cfg: settings_mod.Settings, scheduler_health_port: int, extra: dict[str, str]
) -> dict[str, str]:
    """docker-compose.yml's ``x-airflow-common`` environment, for this machine."""
    assert dist.db is not None and dist.broker is not None and dist.store is not None
    host, port = stack._host_port(dist.api, 8080)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(dist.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__AUTH_MANAGER": stack.SIMPLE_AUTH,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{user}:{role}" for user, role in {"admin": "admin", **stack.USERS}.items()
            ),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": dist.db.url(),
            # The driver named, as in compose: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3.
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + dist.db.url(),
            "AIRFLOW__CELERY__BROKER_URL": dist.broker.url(),
            "AIRFLOW__CORE__FERNET_KEY": fernet_key(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{host}:{port}/execution/",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "true",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(scheduler_health_port),
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
            # A loaded 2-core machine: the API server took over 5 s (the default) to answer a worker's first
            # calls after start, five times in a row, and the task's first try was lost.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "RELEASES_BUCKET": dist.bucket,
            "RELEASES_S3_ENDPOINT": dist.store.endpoint,
            "RELEASES_PUBLIC_URL": f"{dist.store.endpoint}/{dist.bucket}",
            "RELEASES_LOG_KEY": dist.store.log_vkey(tlog.origin(cfg)),
            # hostname() is imported from here by the workers; the repository is not installed.
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    env.update(extra)
    return env


def connections(store: seaweed.SeaweedFS, cfg: settings_mod.Settings, extra: dict[str, dict]) -> dict:
    """What compose's airflow-init imports: the store's writer identity and the two private keys."""
    writer = store.credentials("writer")
    found = {
        cfg.aws_conn_id: {
            "conn_type": "aws",
            "login": writer["access_key"],
            "password": writer["secret_key"],
            "extra": {"region_name": cfg.region, "endpoint_url": store.endpoint},
        },
        sealing.CONNECTION: {"conn_type": "generic", "password": store.sealing_key()},
        checkpoint.CONNECTION: {"conn_type": "generic", "password": store.signing_key()},
    }
    found.update(extra)
    return found


def _run(dist: Distributed, name: str, argv: list[str]) -> None:
    with open(dist.log_of(name), "ab") as output:
        proc = subprocess.run(  # fixed argv, no shell  # noqa: S603
            argv, env=dist.env, stdout=output, stderr=subprocess.STDOUT, check=False
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(argv[1:])}` failed (exit {proc.returncode}); read {dist.log_of(name)}"
        )


def commands(workers: tuple[str, ...]) -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, airflow arguments, extra environment) of each component, in the order they start."""
    found = [
        ("api-server", ["api-server"], {}),
        ("scheduler", ["scheduler", "--skip-serve-logs"], {}),
        ("dag-processor", ["dag-processor"], {}),
        ("triggerer", ["triggerer", "--skip-serve-logs"], {}),
    ]
    for worker in workers:
        args = [
            "celery",
            "worker",
            "--celery-hostname",
            f"{worker}@%h",
            "--concurrency",
            "1",
            "--skip-serve-logs",
        ]
        env = {"AIRFLOW__CORE__HOSTNAME_CALLABLE": "devstack.distributed.hostname", HOSTNAME_VARIABLE: worker}
        found.append((worker, args, env))
    return found


def _wait(dist: Distributed, what: str, done, timeout: float, logs: list[str]) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        gone = dist.dead()
        if gone:
            raise RuntimeError(f"waiting for {what}: {', '.join(gone)} stopped")
        if time.monotonic() > deadline:
            where = ", ".join(str(dist.log_of(n)) for n in logs)
            raise RuntimeError(f"{what} did not happen within {timeout:.0f} s; read {where}")
        time.sleep(1.0)


def health(api: str) -> dict[str, str]:
    """The status of each part that ``/api/v2/monitor/health`` reports (metadatabase, scheduler, ...)."""
    code, body = stack._http("GET", f"{api}/api/v2/monitor/health")
    if code != 200 or not isinstance(body, dict):
        return {}
    return {part: str((status or {}).get("status")) for part, status in body.items()}


def start(
    folder: Path,
    logs: Path,
    *,
    bucket: str = "incident-releases",
    workers: tuple[str, ...] = WORKERS,
    extra_env: dict[str, str] | None = None,
    extra_connections: dict[str, dict] | None = None,
    timeout: float = 600.0,
) -> Distributed:
    """Start the whole stack; on any failure, stop what was started and raise, naming the log to read."""
    folder, logs = folder.resolve(), logs.resolve()
    logs.mkdir(parents=True, exist_ok=True)
    cfg = settings_mod.Settings(bucket=bucket)
    dist = Distributed(folder, logs, f"http://127.0.0.1:{free_port()}", bucket, {})
    try:
        why = postgres.unavailable() or redis_server.unavailable()
        if why:
            raise RuntimeError(why)
        dist.store = seaweed.start(folder / "s3", seaweed.Ports.free())
        dist.store.provision(bucket, tlog.origin(cfg))
        log(f"SeaweedFS on {dist.store.endpoint}, bucket {bucket}")
        dist.db = postgres.start(folder / "pg", free_port(), timeout=120)
        log(f"PostgreSQL on 127.0.0.1:{dist.db.port}")
        dist.broker = redis_server.start(folder / "redis", free_port())
        log(f"Redis on 127.0.0.1:{dist.broker.port}")
        dist.env = airflow_env(dist, cfg, free_port(), extra_env or {})
        dist.home.mkdir(parents=True, exist_ok=True)
        dist.home.chmod(0o700)
        stack.seed_password(dist.home, settings_mod.Settings(api_password=secrets.token_urlsafe(16)))
        log("airflow db migrate")
        _run(dist, "airflow-init", [str(BIN / "airflow"), "db", "migrate"])
        conn_file = dist.home / "connections.json"
        fd = os.open(conn_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(connections(dist.store, cfg, extra_connections or {}), handle)
        try:
            _run(
                dist,
                "airflow-init",
                [str(BIN / "airflow"), "connections", "import", "--overwrite", str(conn_file)],
            )
        finally:
            conn_file.unlink()
        for name, args, env in commands(workers):
            with open(dist.log_of(name), "ab") as output:
                dist.components.append(
                    processes.start(name, [str(BIN / "airflow"), *args], {**dist.env, **env}, output)
                )
        log(f"started {', '.join(c.name for c in dist.components)}; logs in {logs}")
        _wait(
            dist,
            "Airflow's API server, scheduler, dag-processor and triggerer to report healthy",
            lambda: all(
                health(dist.api).get(p) == "healthy"
                for p in ("metadatabase", "scheduler", "triggerer", "dag_processor")
            ),
            timeout,
            ["api-server", "scheduler", "dag-processor", "triggerer"],
        )
        for worker in workers:
            _wait(
                dist,
                f"Celery worker {worker} to be ready",
                lambda worker=worker: " ready." in dist.log_of(worker).read_text(errors="replace"),
                timeout,
                [worker],
            )
        token = stack.api_token(dist.api, "admin", dist.password())
        problem = stack.unpause_dags(dist.api, token, DAG_IDS, timeout=timeout)
        if problem:
            raise RuntimeError(f"{problem}; read {dist.log_of('dag-processor')}")
        log(f"Airflow is up on {dist.api}: {', '.join(DAG_IDS)} parsed and unpaused")
        return dist
    except BaseException:
        dist.stop()
        raise


def main(argv: list[str] | None = None) -> int:
    """``python -m devstack.distributed [FOLDER]``: start the stack, print where it is, stop on Ctrl-C."""
    import tempfile

    stack.install_signal_handlers()
    folder = Path(argv[0] if argv else tempfile.mkdtemp(prefix="releases-distributed-"))
    if os.geteuid() == 0:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o711)  # PostgreSQL runs as `postgres`, which must pass through
    dist = start(folder, folder / "logs")
    try:
        print(
            f"Airflow {dist.api} (admin / {dist.password()}), store {dist.s3}, logs {dist.logs}", flush=True
        )
        while not dist.dead():
            time.sleep(1.0)
        log(f"stopped: {', '.join(dist.dead())}")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        killed = dist.stop()
        log(f"stopped everything{f'; had to kill {killed}' if killed else ''}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

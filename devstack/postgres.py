"""PostgreSQL, Airflow's metadata database behind ``make up``: a server of the stack's own on loopback.

Why not SQLite: SQLite takes one writer at a time, and Airflow's api-server, scheduler, dag-processor and
triggerer all write. Six simultaneous REST triggers against the SQLite stack were answered five times
with HTTP 500 (``sqlite3.OperationalError: database is locked`` in the log).

What it does, with the binaries of Debian's ``postgresql`` package (``make services`` installs them):

- The cluster lives in ``<folder>/cluster`` (``.data/pg/cluster`` for ``make up``), made by ``initdb`` on
  the first start; the folder is open to its owner alone (0700), as PostgreSQL wants.
- Roles, each with a password generated on first use into ``<folder>/credentials.json`` (0600): the
  superuser ``postgres`` (set-up only) and ``airflow``, owner of the database ``airflow`` and nothing more
  (no superuser, no role or database creation). The distributed stack adds ``celery``, owner of the
  database ``celery_results`` only (Celery's result backend, the one database URL its workers hold:
  :meth:`Postgres.provision_results`). No other role may connect to a database it does not own
  (``CONNECT`` revoked from ``PUBLIC``). Every connection must give its password (``scram-sha-256``),
  over TCP and the socket alike.
- It listens on 127.0.0.1 only, on the port it is given, and on a unix socket in ``<folder>``.
- PostgreSQL refuses to run as root: run by root, it runs as the ``postgres`` OS user (Debian's package
  creates it), which then owns ``<folder>``. Every folder above it must let that user through (``x``).
- The server is a child of the stack in a session of its own; :meth:`Postgres.stop` asks for a fast
  shutdown (SIGINT: open transactions are rolled back, committed ones are on disk), and kills it if it
  does not stop in time. A server killed with SIGKILL recovers from its write-ahead log at the next start.

When no binaries are found, or root has no ``postgres`` user to run them as, :func:`unavailable` says why
and the stack falls back to SQLite with a warning (``devstack.stack``).
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import processes

DATABASE = "airflow"
ROLE = "airflow"
SUPERUSER = "postgres"
# Celery's result backend under the CeleryExecutor: a role and database of its own, so that the workers,
# which need the results' URL, hold no credential of Airflow's metadata database.
RESULTS_ROLE = "celery"
RESULTS_DATABASE = "celery_results"
# Airflow's components each keep a pool of up to 15 connections (sync) and 15 (async, the API
# server): 100, PostgreSQL's default, leaves room; set explicitly so a changed default cannot bite.
MAX_CONNECTIONS = 100
# A unix socket's path must fit in 108 bytes (sun_path); ".s.PGSQL.<port>" takes 15 of them.
SOCKET_PATH_MAX = 107 - len(".s.PGSQL.65535")


def binaries() -> Path | None:
    """The folder of ``initdb``, ``postgres`` and ``pg_ctl``: Debian's newest
    ``/usr/lib/postgresql/<version>/bin``, else the one on PATH (Homebrew, a manual install)."""

    def version(path: str) -> tuple[int, ...]:
        found = re.search(r"/postgresql/([0-9.]+)/bin", path)
        return tuple(int(p) for p in found.group(1).split(".") if p) if found else ()

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if all(os.access(Path(folder) / name, os.X_OK) for name in ("initdb", "postgres")):
            return Path(folder)
    on_path = shutil.which("initdb")
    if on_path and shutil.which("postgres", path=str(Path(on_path).parent)):
        return Path(on_path).parent
    return None


def run_as() -> str | None:
    """The OS user the server runs as: ``postgres`` when we are root, else ourselves (None)."""
    return SUPERUSER if os.geteuid() == 0 else None


def unavailable() -> str:
    """Why PostgreSQL cannot run here, or "" if it can."""
    if binaries() is None:
        return (
            "PostgreSQL's binaries were not found (/usr/lib/postgresql/*/bin or initdb on PATH); "
            "`make services` installs Debian's postgresql package (as root)"
        )
    if run_as():
        try:
            pwd.getpwnam(run_as())
        except KeyError:
            return "PostgreSQL refuses to run as root and there is no `postgres` user to run it as"
    return ""


def blocked_folder(folder: Path) -> Path | None:
    """The first folder above ``folder`` that the server's OS user may not pass through, if any."""
    user = run_as()
    if not user:
        return None
    entry = pwd.getpwnam(user)
    for parent in reversed(folder.resolve().parents):
        st = parent.stat()
        if st.st_uid == entry.pw_uid:
            allowed = st.st_mode & 0o100
        elif st.st_gid == entry.pw_gid or entry.pw_name in _members(st.st_gid):
            allowed = st.st_mode & 0o010
        else:
            allowed = st.st_mode & 0o001
        if not allowed:
            return parent
    return None


def _members(gid: int) -> list[str]:
    import grp

    try:
        return grp.getgrgid(gid).gr_mem
    except KeyError:
        return []


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def credentials(folder: Path, *, also: tuple[str, ...] = ()) -> dict[str, str]:
    """The roles' passwords, generated on first use and kept in ``folder`` (0600); ``also`` names roles
    beyond the superuser and ``airflow`` whose passwords are added to the file when missing."""
    path = folder / "credentials.json"
    known = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    missing = [r for r in (SUPERUSER, ROLE, *also) if r not in known]
    if missing:
        known.update({role: secrets.token_urlsafe(24) for role in missing})
        _write_private(path, json.dumps(known, indent=1) + "\n")
    return known


def connect(folder: Path, port: int, role: str = ROLE, dbname: str = DATABASE):
    """A psycopg2 connection to the server of ``folder`` on 127.0.0.1:``port`` as ``role``."""
    import psycopg2

    password = credentials(folder, also=(role,))[role]
    return psycopg2.connect(
        host="127.0.0.1", port=port, user=role, password=password, dbname=dbname, connect_timeout=5
    )


@dataclass
class Postgres:
    """A running PostgreSQL server of the stack."""

    folder: Path
    port: int
    proc: subprocess.Popen
    created: bool = False  # initdb ran at this start

    @property
    def cluster(self) -> Path:
        return self.folder / "cluster"

    def url(self, role: str = ROLE, driver: str = "psycopg2", database: str = DATABASE) -> str:
        """SQLAlchemy URL of ``database`` as ``role`` (the password is URL-safe)."""
        password = credentials(self.folder, also=(role,))[role]
        return f"postgresql+{driver}://{role}:{password}@127.0.0.1:{self.port}/{database}"

    def connect(self, role: str = ROLE, dbname: str = DATABASE):
        return connect(self.folder, self.port, role, dbname)

    def provision(self) -> None:
        """Create the role ``airflow`` and its database if missing (idempotent)."""
        self._owned_database(ROLE, DATABASE)

    def provision_results(self) -> str:
        """Create the role ``celery`` and its database ``celery_results`` if missing (idempotent); returns
        Celery's result backend URL (``db+postgresql+psycopg2://celery:…/celery_results``)."""
        self._owned_database(RESULTS_ROLE, RESULTS_DATABASE)
        return "db+" + self.url(RESULTS_ROLE, database=RESULTS_DATABASE)

    def _owned_database(self, role: str, database: str) -> None:
        """``role`` (login, nothing else: no superuser, no CREATEROLE, no CREATEDB) and ``database`` owned
        by it, which no other ordinary role may connect to."""
        password = credentials(self.folder, also=(role,))[role]
        conn = self.connect(SUPERUSER, "postgres")
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
                if cur.fetchone() is None:
                    # Identifiers are constants; the password is passed as a literal by the driver.
                    cur.execute(
                        f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s",
                        (password,),
                    )
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {database} OWNER {role} ENCODING 'UTF8' TEMPLATE template0")
                # PostgreSQL grants CONNECT on every new database to PUBLIC: only the owner (and the
                # superuser) may connect.
                cur.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
        finally:
            conn.close()

    def stop(self, timeout: float = 20.0) -> int | None:
        """Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL; returns the exit code."""
        steps = [(signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)]
        return processes.escalate(self.proc, steps)


def _user_kwargs() -> dict[str, Any]:
    user = run_as()
    if not user:
        return {}
    entry = pwd.getpwnam(user)
    # Popen switches user in the child before exec (no `runuser`/`su` process, no PAM session).
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _prepare(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    user = run_as()
    if user:
        entry = pwd.getpwnam(user)
        # The server's user owns the folder (its socket and lock file go there) and the cluster;
        # credentials.json stays root's (0600): the server never reads it.
        os.chown(folder, entry.pw_uid, entry.pw_gid)
        cluster = folder / "cluster"
        if cluster.exists():
            for path in (cluster, *cluster.rglob("*")):
                if path.stat().st_uid != entry.pw_uid:
                    os.chown(path, entry.pw_uid, entry.pw_gid, follow_symlinks=False)


def initdb(folder: Path, output: Any) -> None:
    """Make the cluster (first start only): superuser ``postgres`` with its generated password."""
    bin_dir = binaries()
    assert bin_dir is not None
    # initdb reads the password from a file; it lives in the 0700 folder for the run of initdb only
    # (a pipe on stdin cannot be reopened by the server's user when root starts it).
    pwfile = folder / ".initdb-password"
    _write_private(pwfile, credentials(folder)[SUPERUSER] + "\n")
    user = run_as()
    if user:
        os.chown(pwfile, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    try:
        subprocess.run(  # fixed argv, no shell  # noqa: S603
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(folder / "cluster"),
                "--username",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
            ],
            stdin=subprocess.DEVNULL,
            cwd=folder,
            stdout=output,
            stderr=subprocess.STDOUT,
            check=True,
            **_user_kwargs(),
        )
    finally:
        pwfile.unlink(missing_ok=True)


def command(folder: Path, port: int) -> list[str]:
    bin_dir = binaries()
    assert bin_dir is not None
    socket_dir = str(folder.resolve()) if len(str(folder.resolve())) <= SOCKET_PATH_MAX else ""
    return [
        str(bin_dir / "postgres"),
        "-D",
        str(folder / "cluster"),
        "-p",
        str(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        f"unix_socket_directories={socket_dir}",
        "-c",
        "unix_socket_permissions=0700",
        "-c",
        f"max_connections={MAX_CONNECTIONS}",
        "-c",
        "logging_collector=off",
        "-c",
        "ssl=off",
    ]


def start(folder: Path, port: int, *, timeout: float = 60.0) -> Postgres:
    """Start PostgreSQL on 127.0.0.1:``port`` with its cluster in ``folder``; ``initdb`` on the first
    start. Waits until the database ``airflow`` accepts its role."""
    folder = folder.resolve()
    _prepare(folder)
    credentials(folder)
    log_path = folder / "postgres.log"
    created = not (folder / "cluster" / "PG_VERSION").exists()
    with open(log_path, "ab") as output:
        if created:
            shutil.rmtree(folder / "cluster", ignore_errors=True)  # an initdb that was interrupted
            initdb(folder, output)
        proc = subprocess.Popen(  # fixed argv, no shell  # noqa: S603
            command(folder, port),
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **_user_kwargs(),
        )
    server = Postgres(folder, port, proc, created)
    try:
        _wait_until_ready(server, log_path, timeout)
    except BaseException:  # Ctrl-C or SIGTERM while it starts too: leave no server behind
        server.stop()
        raise
    return server


def _wait_until_ready(server: Postgres, log_path: Path, timeout: float) -> None:
    folder, proc = server.folder, server.proc
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError(f"PostgreSQL did not start ({last}); the end of its log:\n" + "\n".join(tail))
        try:
            server.provision()
            server.connect().close()
            return
        except Exception as err:  # not up yet: "connection refused", "the database system is starting up"
            if "password authentication failed" in str(err):
                raise RuntimeError(
                    f"PostgreSQL in {folder} does not take the passwords in {folder / 'credentials.json'} "
                    f"(was that file replaced?); delete {folder} to start with an empty metadata database"
                ) from err
            last = err
            time.sleep(0.2)

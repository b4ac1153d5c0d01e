"""Redis, the Celery broker of the distributed stack (``make test-distributed``): a server of the stack's own
on loopback, from Debian's ``redis-server`` package (``make redis`` installs it, as root).

As ``devstack.postgres`` does for PostgreSQL: it listens on 127.0.0.1 only, on the port it is given; it
wants a password, generated on first start into ``<folder>/credentials.json`` (0600) and given to the
server in a configuration file of the same mode (never on the command line, which every local user can
read); it keeps nothing on disk (the broker's messages are Airflow's to re-send: a task queued when the
broker dies is queued again by the scheduler); it runs in a session of its own and :meth:`Redis.stop`
asks it to shut down (SIGTERM), then kills it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import processes


def binary() -> str | None:
    """``redis-server``: Debian's, or the one on PATH."""
    if os.access("/usr/bin/redis-server", os.X_OK):
        return "/usr/bin/redis-server"
    return shutil.which("redis-server")


def unavailable() -> str:
    """Why Redis cannot run here, or "" if it can."""
    if binary() is None:
        return "Redis's redis-server was not found; `make redis` installs Debian's redis-server package (as root)"
    return ""


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def password(folder: Path) -> str:
    """The server's password, generated on first use and kept in ``folder`` (0600). URL-safe."""
    path = folder / "credentials.json"
    if not path.exists():
        _write_private(path, json.dumps({"password": secrets.token_hex(24)}) + "\n")
    return json.loads(path.read_text(encoding="utf-8"))["password"]


@dataclass
class Redis:
    folder: Path
    port: int
    proc: subprocess.Popen

    def url(self, db: int = 0) -> str:
        """The broker URL Celery takes (``redis://:<password>@127.0.0.1:<port>/<db>``)."""
        return f"redis://:{password(self.folder)}@127.0.0.1:{self.port}/{db}"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=password(self.folder), socket_timeout=5)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (Redis shuts down; it keeps nothing on disk), then SIGKILL; returns the exit code."""
        return processes.escalate(self.proc, [(signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)])


def config(folder: Path, port: int) -> str:
    return "\n".join(
        [
            "bind 127.0.0.1",
            f"port {port}",
            "protected-mode yes",
            f"requirepass {password(folder)}",
            f"dir {folder}",
            # Nothing on disk: no snapshots, no append-only file.
            'save ""',
            "appendonly no",
            "daemonize no",
            'logfile ""',
            "",
        ]
    )


def start(folder: Path, port: int, *, timeout: float = 60.0) -> Redis:
    """Start Redis on 127.0.0.1:``port`` with its files in ``folder``; waits until it answers PING."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    server_binary = binary()
    if server_binary is None:
        raise RuntimeError(unavailable())
    conf = folder / "redis.conf"
    _write_private(conf, config(folder, port))
    log_path = folder / "redis.log"
    with open(log_path, "ab") as output:
        proc = subprocess.Popen(  # fixed argv, no shell  # noqa: S603
            [server_binary, str(conf)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Redis(folder, port, proc)
    try:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace").splitlines()[-20:]
                raise RuntimeError(
                    f"Redis did not start ({last}); the end of its log {log_path}:\n" + "\n".join(tail)
                )
            try:
                if server.client().ping():
                    return server
            except Exception as err:  # not up yet: connection refused, "LOADING"
                last = err
            time.sleep(0.2)
    except BaseException:  # Ctrl-C or SIGTERM while it starts too: leave no server behind
        server.stop()
        raise

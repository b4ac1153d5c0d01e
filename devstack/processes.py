"""Start and stop the local stack's processes as whole trees (psutil: Linux and macOS alike)."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import IO

import psutil


@dataclass
class Component:
    """One long-running process of the stack, leader of a session of its own."""

    name: str
    proc: subprocess.Popen
    # Descendants seen while it ran: a child that outlives its parent (or moved to another session)
    # is still stopped.
    family: dict[int, float] = field(default_factory=dict)

    def watch(self) -> None:
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self.family.setdefault(child.pid, child.create_time())
        except psutil.NoSuchProcess:
            pass

    def alive(self) -> bool:
        return self.proc.poll() is None


def start(
    name: str, argv: list[str], env: dict[str, str], output: IO[bytes], cwd: str | None = None
) -> Component:
    """Start ``argv`` as the leader of a new session.

    Handled signals are reset to their defaults by exec, ignored ones are not: a stack started as a
    background job of a non-interactive shell (SIGINT ignored) is still stopped, because
    :func:`stop_all` sends SIGTERM and then SIGKILL, never relying on SIGINT.
    """
    proc = subprocess.Popen(  # fixed argv, no shell  # noqa: S603
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Component(name, proc)


def escalate(proc: subprocess.Popen, steps: list[tuple[int, float]]) -> int | None:
    """Send each signal of ``steps`` in turn, waiting its time for ``proc`` to exit; returns the exit code.

    For a server that shuts down in stages (a gentle signal first, SIGKILL last); it stops at the
    first signal the process exits after, or when it is already gone.
    """
    for sig, wait in steps:
        if proc.poll() is not None:
            break
        try:
            proc.send_signal(sig)
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            break
    return proc.poll()


def tree(pid: int) -> list[psutil.Process]:
    """``pid`` and every live descendant."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_all(components: list[Component], timeout: float = 15.0) -> list[int]:
    """SIGTERM every component's whole tree, wait up to ``timeout``, then SIGKILL what is left.

    Returns the pids that had to be killed.
    """
    procs: dict[int, psutil.Process] = {}
    for component in components:
        component.watch()
        for proc in tree(component.proc.pid):
            procs[proc.pid] = proc
        for pid, created in component.family.items():
            try:
                proc = psutil.Process(pid)
                if proc.create_time() == created:  # not a reused pid
                    procs[pid] = proc
            except psutil.NoSuchProcess:
                pass
    for proc in procs.values():
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(list(procs.values()), timeout=timeout)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)
    for component in components:
        component.proc.poll()  # reap the leaders
    return [proc.pid for proc in alive]


def record(path, components: list[Component], extra: list[int] = ()) -> None:
    """Write who runs the stack (this process) and its processes, to clean up after a ``kill -9``."""
    import json

    pids = [os.getpid(), *(c.proc.pid for c in components), *extra]
    entries = []
    for pid in pids:
        try:
            entries.append([pid, psutil.Process(pid).create_time()])
        except psutil.NoSuchProcess:
            pass
    path.write_text(json.dumps(entries) + "\n")


def stop_leftovers(path) -> list[int]:
    """Refuse to run twice; stop what a stack that was killed (SIGKILL) left running.

    ``path`` holds [pid, create time] pairs, the first of the process that ran the stack; a pid
    reused by an unrelated process has another create time and is left alone.
    """
    import json

    if not path.exists():
        return []
    entries = json.loads(path.read_text())
    live = []
    for pid, created in entries:
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                live.append(proc)
        except psutil.NoSuchProcess:
            pass
    owner = entries[0][0] if entries else None
    if live and live[0].pid == owner:
        raise SystemExit(f"the stack is already running (pid {owner}); stop it with Ctrl-C or kill {owner}")
    family = {p.pid: p for proc in live for p in tree(proc.pid)}
    for proc in family.values():
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(family.values()), timeout=10)
    path.unlink()
    return sorted(family)


def listening(pids: list[int]) -> list[tuple[int, str, str, int]]:
    """(pid, process name, address, port) of every TCP socket that ``pids`` listen on."""
    found = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append((pid, proc.name(), conn.laddr.ip, conn.laddr.port))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found

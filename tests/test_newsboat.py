"""The feeds in a real reader: Debian's newsboat, driven in a terminal (tmux), reads our RSS and Atom
files and lists each entry's title as the PIO submitted it (it used to show "O&#x27;Brien &amp;")."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from test_feeds import NAMES, SETTINGS, named_history

from releases.feeds import incident_feeds

pytestmark = pytest.mark.slow
NEWSBOAT, TMUX = shutil.which("newsboat"), shutil.which("tmux")
# newsboat starts in a second or two; a loaded machine gets a minute before the test gives up.
DEADLINE = 60


def screen(socket: str) -> str:
    return subprocess.run(  # fixed argv, our own tmux server  # noqa: S603
        [TMUX, "-L", socket, "capture-pane", "-p", "-t", "reader"], capture_output=True, text=True, check=True
    ).stdout


def wait_for(socket: str, text: str) -> str:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        shown = screen(socket)
        if text in shown:
            return shown
        time.sleep(0.25)
    raise AssertionError(f"newsboat never showed {text!r}; the screen:\n{shown}")


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_newsboat_lists_the_title_exactly_as_submitted(tmp_path: Path, fmt: str):
    assert NEWSBOAT and TMUX, "make test installs newsboat and tmux (make readers)"
    feed = tmp_path / f"feed.{fmt}.xml"
    feed.write_bytes(incident_feeds(named_history(), SETTINGS)[fmt == "atom"])
    (tmp_path / "urls").write_text(f"file://{feed}\n")
    (tmp_path / "config").write_text("show-read-feeds yes\n")
    socket = f"nb-{uuid.uuid4().hex[:12]}"  # our own tmux server: nothing else's sessions are touched
    command = (
        f"HOME={tmp_path} TERM=xterm-256color COLUMNS=200 LINES=30 {NEWSBOAT} -r -u {tmp_path / 'urls'} -c {tmp_path / 'cache.db'} "
        f"-C {tmp_path / 'config'}"
    )
    subprocess.run(  # noqa: S603
        [
            TMUX,
            "-L",
            socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "reader",
            "-x",
            "200",
            "-y",
            "30",
            command,
        ],
        check=True,
    )
    try:
        wait_for(socket, "(3/3)")  # the feed list, once the feed is read: 3 unread of 3
        subprocess.run([TMUX, "-L", socket, "send-keys", "-t", "reader", "Enter"], check=True)  # noqa: S603
        shown = wait_for(socket, "Articles in feed")
    finally:
        subprocess.run([TMUX, "-L", socket, "kill-server"], check=False)  # noqa: S603
    headline = f"Statement on the arrest of {NAMES}"
    for title in (
        f"CORRECTION (location): {headline}",
        f"UPDATE (statement): {headline}",
        f"PRELIMINARY: {headline}",
    ):
        assert title in shown, shown
    assert "&#x27;" not in shown and "&amp;" not in shown and "&quot;" not in shown

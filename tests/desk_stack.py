"""The release desk on a real stack, for the tests that drive it (tests/test_release_desk.py over HTTP,
tests/test_desk_browser.py in Chromium): `make up` on free ports, its store seeded with the check corpus's
history, the users' generated passwords; and the two calls those tests make to it."""

from __future__ import annotations

import json
import tempfile
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from check_corpus import seed
from test_stack import BUCKET, running_up

from devstack import seaweed, stack
from releases.storage import Store


@contextmanager
def running_desk(prefix: str):
    """`make up` in a fresh folder, stopped with Ctrl-C at the end; ``store`` writes to its bucket."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o711)  # PostgreSQL runs as its own user when the tests run as root (see conftest.stack_dir)
    with running_up(folder) as up:
        # The stack's own store, as the writer (the DAGs' identity) reaches it.
        weed = seaweed.SeaweedFS(folder / "s3", seaweed.Ports.from_s3(up.s3_port), up.proc)
        client = weed.client("writer")
        up.store = Store(client, BUCKET)
        seed(up.store)
        up.passwords = json.loads(stack.password_file(up.home).read_text())
        yield up


def call(url: str, body: bytes | None, headers: dict[str, str], method: str = "POST") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def token(desk, user: str) -> str:
    body = json.dumps({"username": user, "password": desk.passwords[user]}).encode()
    status, answer = call(f"{desk.api}/auth/token", body, {"Content-Type": "application/json"})
    assert status in (200, 201), answer
    return json.loads(answer)["access_token"]

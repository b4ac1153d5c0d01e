"""`make test` on a machine without root: chromium and PostgreSQL cannot be installed there, so `make browser`
and `make services` say so loudly and succeed, and the browser tests are skipped with a message naming what
to install. As root (CI) a missing package is installed, and an install that fails fails the target.

The non-root cases run as `nobody` (setpriv) when the suite runs as root; root's case puts a stand-in
`apt-get` (and `id`) first on PATH, so nothing is installed for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, browser_skip_reason

NOBODY = 65534
MISSING = "/nonexistent/bin/chromium"


def as_nobody(argv: list[str]) -> list[str]:
    """``argv`` as an unprivileged user: nobody when we are root, else ourselves."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to run as nobody"
    return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", *argv]


def stand_ins(folder: Path, *, install_ok: bool, uid: int = 0) -> Path:
    """A folder with `apt-get` that records its arguments (and, when it succeeds, makes the package's
    binary at $CHROMIUM) and `id` that reports ``uid``, to put first on PATH."""
    folder.mkdir()
    log = folder / "apt-get.log"
    (folder / "apt-get").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        'case "$1" in install)\n'
        + (
            '  printf "#!/bin/sh\\n" > "$CHROMIUM" && chmod +x "$CHROMIUM" ;;\n'
            if install_ok
            else "  exit 100 ;;\n"
        )
        + "esac\n"
    )
    (folder / "id").write_text(f'#!/bin/sh\n[ "$1" = -u ] && echo {uid} && exit 0\nexec /usr/bin/id "$@"\n')
    for name in ("apt-get", "id"):
        (folder / name).chmod(0o755)
    return log


def make(target: str, *variables: str, env=None, unprivileged=False) -> subprocess.CompletedProcess:
    argv = ["make", "-s", "-C", str(ROOT), target, *variables]
    return subprocess.run(
        as_nobody(argv) if unprivileged else argv,
        capture_output=True,
        text=True,
        env=env or {**os.environ, "PATH": os.environ["PATH"]},
        timeout=120,
    )


def test_make_browser_without_root_warns_loudly_and_succeeds(tmp_path):
    done = make("browser", f"CHROMIUM={MISSING}", unprivileged=True)
    assert done.returncode == 0, done.stderr
    assert "WARNING: Debian's chromium is not installed, and it cannot be installed here" in done.stderr
    assert "The browser tests (pytest -m browser) will be SKIPPED" in done.stderr
    assert "sudo apt-get install chromium" in done.stderr


def test_make_services_without_root_warns_loudly_and_succeeds():
    done = make("services", "INITDB=/nonexistent/bin/initdb no-such-initdb-command", unprivileged=True)
    assert done.returncode == 0, done.stderr
    assert "WARNING: Debian's postgresql is not installed, and it cannot be installed here" in done.stderr
    assert "make up will use SQLite" in done.stderr
    assert "sudo apt-get install postgresql" in done.stderr


def test_make_browser_as_root_installs_chromium(tmp_path):
    log = stand_ins(tmp_path / "bin", install_ok=True)
    chromium = tmp_path / "chromium"
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    done = make("browser", f"CHROMIUM={chromium}", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert log.read_text().splitlines() == ["update", "install -y --no-install-recommends chromium"]
    assert chromium.exists() and "WARNING" not in done.stderr
    # Installed now: the next run does nothing.
    log.unlink()
    assert make("browser", f"CHROMIUM={chromium}", env=env).returncode == 0
    assert not log.exists()


def test_make_browser_as_root_fails_when_the_install_fails(tmp_path):
    log = stand_ins(tmp_path / "bin", install_ok=False)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    done = make("browser", f"CHROMIUM={tmp_path / 'chromium'}", env=env)
    assert done.returncode != 0
    assert "ERROR: apt-get could not install chromium" in done.stderr
    assert log.read_text().splitlines() == ["update", "install -y --no-install-recommends chromium"]


def test_browser_tests_are_skipped_naming_what_to_install_only_for_a_user_who_cannot_install_it():
    message = browser_skip_reason(MISSING, euid=1000)
    assert message == (
        f"Debian's chromium is not installed ({MISSING} is missing) and this user is not root: "
        "install it with `sudo apt-get install chromium` (or `make browser` as root) to run the browser tests"
    )
    # Root installs it (make browser): a missing chromium there fails the browser tests, never skips them.
    assert browser_skip_reason(MISSING, euid=0) is None
    assert browser_skip_reason(sys.executable, euid=1000) is None


@pytest.mark.slow
def test_pytest_without_root_and_chromium_skips_the_browser_tests_and_says_why():
    done = subprocess.run(
        as_nobody(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-rs",
                "tests/test_browser.py",
            ]
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "CHROMIUM": MISSING, "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (
        f"BROWSER TESTS WILL BE SKIPPED: Debian's chromium is not installed ({MISSING} is missing)"
        in done.stdout
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert "skipped" in summary and "passed" not in summary and "failed" not in summary, summary
    assert "install it with `sudo apt-get install chromium`" in done.stdout

"""The package as a journalist or an agency installs it: a wheel built from this checkout, installed into a
fresh virtual environment with the light install (``pip install incident-releases``, no Airflow), runs
``releases verify`` against a site on SeaweedFS and ``releases preview`` from it, with the templates that
the wheel carries (the checkout is not on its path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases import pipeline
from releases.settings import load

pytestmark = pytest.mark.slow

UV = Path(sys.executable).parent / "uv"
# The Python versions the package supports (pyproject.toml: requires-python); 3.11 is this venv's.
SUPPORTED = ("3.11", "3.13")


def interpreter(version: str) -> str:
    """A CPython of ``version`` on this machine: this venv's own for 3.11, else what uv finds, else
    pyenv's (the machine image keeps several versions there; uv cannot download one here)."""
    if sys.version_info[:2] == tuple(int(p) for p in version.split(".")):
        return sys.executable
    found = subprocess.run([str(UV), "python", "find", version], capture_output=True, text=True)
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(pyenv.glob(f"{version}.*/bin/python{version}"), reverse=True):
        return str(candidate)
    pytest.fail(
        f"no Python {version} on this machine (uv python find {version}, {pyenv}/{version}.*): the light "
        f"install is tested on every supported version; install Python {version} (e.g. pyenv install {version})"
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [str(UV), "build", "--wheel", "--out-dir", str(out), str(ROOT)], check=True, capture_output=True
    )
    (built,) = out.glob("incident_releases-*.whl")
    return built


def light_install(wheel: Path, python: str, folder: Path) -> Path:
    """A fresh venv with the wheel and only its own dependencies, as `pip install incident-releases`."""
    subprocess.run([str(UV), "venv", "--python", python, str(folder)], check=True, capture_output=True)
    bin_dir = folder / "bin"
    subprocess.run(
        [str(UV), "pip", "install", "--python", str(bin_dir / "python"), str(wheel)],
        check=True,
        capture_output=True,
    )
    return bin_dir


def clean_env(**extra: str) -> dict[str, str]:
    """No PYTHONPATH (the checkout must not be found), no Airflow or RELEASES_ settings from the test run."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RELEASES_", "AIRFLOW", "PYTHON", "AWS_", "VIRTUAL_ENV"))
    }
    return {**env, **extra}


@pytest.fixture(scope="module")
def site(seaweed, tmp_path_factory):
    """A small site on SeaweedFS, published with the real core: one incident in three versions."""
    with pytest.MonkeyPatch.context() as mp:
        from conftest import wire_bucket

        store = wire_bucket(mp, seaweed, prefix="wheel")
        cfg = load()
        for n, doc in enumerate((PRELIMINARY, UPDATE, CORRECTION), start=1):
            pipeline.release(doc, store, cfg, key=f"run-{n}", released_by="pio")
    return seaweed, store.bucket


@pytest.mark.parametrize("version", SUPPORTED)
def test_the_light_install_verifies_a_site_and_previews_without_airflow(wheel, site, tmp_path, version):
    server, bucket = site
    bin_dir = light_install(wheel, interpreter(version), tmp_path / "venv")
    python = str(bin_dir / "python")
    env = clean_env()

    # The supported Python it runs on, and no Airflow: neither importable nor installed.
    probe = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2]); import airflow"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert probe.stdout.strip() == version
    assert probe.returncode == 1 and "No module named 'airflow'" in probe.stderr
    listed = subprocess.run(
        [str(UV), "pip", "list", "--python", python, "--format", "json"], capture_output=True, text=True
    )
    names = {p["name"] for p in json.loads(listed.stdout)}
    assert not {n for n in names if "airflow" in n}, names
    assert {"incident-releases", "boto3", "jinja2", "pandas", "cryptography"} <= names
    # The templates the installed package renders with are its own, not the checkout's.
    where = subprocess.run(
        [python, "-c", "from releases import render; print(render.TEMPLATES)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(tmp_path / "venv")) and where.endswith("releases/templates"), where

    # A journalist: anonymous reads of the public site, nothing else.
    verify = subprocess.run(
        [str(bin_dir / "releases"), "verify", f"{server.endpoint}/{bucket}"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.splitlines()[-1] == "OK: 1 incidents, 3 versions checked"

    # A PIO: the next version rendered locally against the published history, read anonymously from the
    # public site (a PIO's machine holds no store credentials); nothing written.
    before = sorted(server.client("admin").list_objects_v2(Bucket=bucket)["Contents"], key=str)
    # Its pre-release checklist read from the file the wheel carries (RELEASES_CHECKLIST unset).
    confirmed = [
        "no-juvenile-names",
        "no-victim-names",
        "next-of-kin",
        "investigation",
        "supervisor-informed",
    ]
    (tmp_path / "next.json").write_text(
        json.dumps({**UPDATE, "summary": "Released from the hospital.", "checklist": confirmed})
    )
    preview = subprocess.run(
        [str(bin_dir / "releases"), "preview", "next.json", "--out", "out"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(RELEASES_PUBLIC_URL=f"{server.endpoint}/{bucket}"),
    )
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "preview of version 4 (updated)" in preview.stdout
    page = (tmp_path / "out" / "v4.html").read_text()
    assert page.startswith("<!doctype html>") and "Released from the hospital." in page
    assert "<li>Next of kin have been notified</li>" in page
    assert (tmp_path / "out" / "v4.txt").read_text().startswith("UPDATE")
    after = sorted(server.client("admin").list_objects_v2(Bucket=bucket)["Contents"], key=str)
    assert after == before
    shutil.rmtree(tmp_path / "venv")

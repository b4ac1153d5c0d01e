"""Shared fixtures: a private Airflow home and a real S3 server, SeaweedFS on loopback, started the way
``make up`` starts it (devstack.seaweed), with its credentials, its JWT keys and the project's bucket policy.

moto stays for fast fakes where a test injects faults at the client; everything about access,
durability, concurrency and the stack runs against this server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))

# Airflow reads AIRFLOW_HOME when it is first imported: set it before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="releases-airflow-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
# dag.test() cannot answer a human-in-the-loop request: releases here do not wait for approval (the
# approval tests start a stack with RELEASES_APPROVAL_STAGES set, tests/test_approval_stack.py).
os.environ["RELEASES_APPROVAL_STAGES"] = "none"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
# No test may reach a real AWS account with someone's credentials from the environment.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
    os.environ.pop(_name, None)


# Test tiers. `make test-fast` runs `-m "not slow"`: no Airflow start, no browser, no whole stack (the
# edit loop); `make test` runs everything. A test is slow when it needs one of these fixtures or markers,
# so a new test lands in the right tier without anyone remembering to mark it.
SLOW_FIXTURES = {"airflow_db", "release_dag"}
SLOW_MARKERS = {"stack", "browser", "distributed"}
# Debian's chromium, which the browser tests drive (`make browser` installs it; the Makefile exports this).
CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"


def browser_skip_reason(chromium: str = CHROMIUM, euid: int | None = None) -> str | None:
    """Why the browser tests cannot run here, or None. Only a user who cannot install chromium skips
    them: as root (CI, the developer machines) `make browser` installs it, and a missing chromium fails
    the browser tests instead of hiding them."""
    if Path(chromium).is_file() and os.access(chromium, os.X_OK):
        return None
    if (os.geteuid() if euid is None else euid) == 0:
        return None
    return (
        f"Debian's chromium is not installed ({chromium} is missing) and this user is not root: "
        "install it with `sudo apt-get install chromium` (or `make browser` as root) to run the browser tests"
    )


def pytest_report_header(config):
    reason = browser_skip_reason()
    return [f"BROWSER TESTS WILL BE SKIPPED: {reason}"] if reason else []


def pytest_collection_modifyitems(config, items):
    skip_browser = browser_skip_reason()
    for item in items:
        marks = {m.name for m in item.iter_markers()}
        if SLOW_FIXTURES & set(item.fixturenames) or SLOW_MARKERS & marks:
            item.add_marker(pytest.mark.slow)
        if skip_browser and "browser" in marks:
            item.add_marker(pytest.mark.skip(reason=skip_browser))


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """One SeaweedFS for the whole run, configured exactly as ``make up`` configures it."""
    from devstack import seaweed as seaweedfs

    server = seaweedfs.start(tmp_path_factory.mktemp("seaweedfs"), seaweedfs.Ports.free())
    admin = server.credentials("admin")
    # Tests set buckets up (an operator's step) and inspect them with the admin identity; the
    # pipeline inside Airflow runs with the writer identity (see wire_bucket).
    os.environ["AWS_ACCESS_KEY_ID"] = admin["access_key"]
    os.environ["AWS_SECRET_ACCESS_KEY"] = admin["secret_key"]
    yield server
    # Throw-away data: no need to wait for a clean shutdown (the stack's own tests check that).
    server.proc.kill()
    server.proc.wait()


@pytest.fixture
def stack_dir():
    """A fresh folder for a whole `make up` stack (store, PostgreSQL, Airflow home). Run as root, the
    stack runs PostgreSQL as the `postgres` user, which must be able to enter it: pytest's own tmp
    folders are closed to other users (0700), so this one is made beside them and opened for passage
    (0711: enter, not list; what is inside stays 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="releases-stack-"))
    if os.geteuid() == 0:
        folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def s3_endpoint(seaweed):
    return seaweed.endpoint


def connection_json(endpoint: str, login: str, password: str) -> str:
    extra = {"region_name": "us-east-1", "endpoint_url": endpoint}
    return json.dumps({"conn_type": "aws", "login": login, "password": password, "extra": extra})


def wire_bucket(mp: pytest.MonkeyPatch, server, prefix: str = "releases"):
    """Create a unique bucket (versioning, bucket policy) and point settings and the Airflow connection
    at it; the connection carries the store's writer identity, as in ``make up``."""
    from releases.settings import load
    from releases.storage import Store, client_from_settings

    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    mp.setenv("RELEASES_BUCKET", name)
    mp.setenv("RELEASES_S3_ENDPOINT", server.endpoint)
    writer = server.credentials("writer")
    mp.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        connection_json(server.endpoint, writer["access_key"], writer["secret_key"]),
    )
    # The deployment's sealing key (releases.sealing) as the tasks read it: an Airflow connection.
    mp.setenv(
        "AIRFLOW_CONN_RELEASES_SEALING",
        json.dumps({"conn_type": "generic", "password": server.sealing_key()}),
    )
    # The log's signing key, as make up gives it: the DAG's tasks sign checkpoints (RELEASES_LOG_KEY, which
    # puts its fingerprint on pages, is set by the tests that release with a signer: test_witness).
    from releases import tlog

    mp.setenv(
        "AIRFLOW_CONN_RELEASES_SIGNING",
        json.dumps({"conn_type": "generic", "password": server.signing_key()}),
    )
    origin = tlog.origin(load())
    server.provision(name, origin)
    return Store(client_from_settings(load()), name)


@pytest.fixture
def bucket(seaweed, monkeypatch):
    """A unique, fresh bucket per test, wired into settings and the Airflow connection."""
    return wire_bucket(monkeypatch, seaweed)


@pytest.fixture(scope="session")
def airflow_db():
    """Migrate the SQLite metadata database once per test run (dag.test needs it)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def release_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(
        dag_folder=str(ROOT / "dags"),
    )
    assert bag.import_errors == {}
    return ReleaseThenSite(bag.get_dag("incident_release"), bag.get_dag("site_views"))


class ReleaseThenSite:
    """``incident_release``, whose ``test`` also runs ``site_views`` after a release publishes, as the
    scheduler does on the release's asset event (``dag.test`` runs only the DAG it is given)."""

    def __init__(self, dag, site):
        self.dag, self.site = dag, site

    def test(self, *args, refused: bool = False, **kwargs):
        """Run a release; a refusal (its run succeeds with the task skipped, nothing written) fails the
        calling test unless it expects one (``refused=True``), so "success" still means published."""
        run = self.dag.test(*args, **kwargs)
        # Refused by ``release`` (the check) or, after a wait, by ``publish``.
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        waited = "success" in (states.get("approve"), states.get("wait_for_release_at"))
        skipped = run.state == "success" and (
            states.get("release") == "skipped" or (waited and states.get("publish") == "skipped")
        )
        assert skipped == refused or run.state != "success", "the release was refused: see the task's log"
        # A refused release emits no asset event: nothing to render.
        if run.state == "success" and not skipped:
            assert self.site.test().state == "success"
        return run

    def __getattr__(self, name):
        return getattr(self.dag, name)


def all_objects(store) -> dict[str, bytes]:
    return {key: store.get(key) for key in sorted(store.list_keys(""))}

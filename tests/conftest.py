"""Shared fixtures: a private Airflow home, a real S3 endpoint (moto server on loopback)."""

from __future__ import annotations

import os
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
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"  # noqa: S105 - moto's fixed test credentials
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def wire_bucket(mp: pytest.MonkeyPatch, s3_endpoint: str, prefix: str = "releases"):
    """Create a unique bucket and point settings and the Airflow connection at it."""
    from releases.settings import load
    from releases.storage import Store, client_from_settings

    name = f"{prefix}-{uuid.uuid4().hex[:12]}"
    mp.setenv("RELEASES_BUCKET", name)
    mp.setenv("RELEASES_S3_ENDPOINT", s3_endpoint)
    mp.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        '{"conn_type": "aws", "login": "testing", "password": "testing", '
        f'"extra": {{"region_name": "us-east-1", "endpoint_url": "{s3_endpoint}"}}}}',
    )
    store = Store(client_from_settings(load()), name)
    store.ensure_bucket()
    return store


@pytest.fixture
def bucket(s3_endpoint, monkeypatch):
    """A unique, fresh bucket per test, wired into settings and the Airflow connection."""
    return wire_bucket(monkeypatch, s3_endpoint)


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
    return bag.get_dag("incident_release")


def all_objects(store) -> dict[str, bytes]:
    return {key: store.get(key) for key in sorted(store.list_keys(""))}

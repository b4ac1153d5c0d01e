"""The DAG folder parses cleanly, says what it is, and touches nothing at parse time."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import UTC
from pathlib import Path
from unittest import mock

import pytest
from conftest import ROOT


def test_dagbag_has_no_import_errors_and_no_connection_lookups(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    def forbidden(*args, **kwargs):
        raise AssertionError(f"connection looked up at parse time: {args}")

    with (
        mock.patch("airflow.sdk.bases.hook.BaseHook.get_connection", side_effect=forbidden),
        mock.patch("airflow.sdk.definitions.connection.Connection.get", side_effect=forbidden),
        mock.patch("airflow.models.connection.Connection.get_connection_from_secrets", side_effect=forbidden),
        mock.patch("socket.create_connection", side_effect=forbidden),
    ):
        bag = DagBag(
            dag_folder=str(ROOT / "dags"),
        )
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["incident_inbox", "incident_redaction", "incident_release", "site_views"]


def test_dag_settings_are_written_out(release_dag):
    dag = release_dag
    assert dag.schedule is None
    assert dag.catchup is False
    assert dag.start_date.tzinfo is not None and dag.start_date.utcoffset() == UTC.utcoffset(None)
    assert dag.tags == {"releases"} or list(dag.tags) == ["releases"]
    # One task start on the common path (issue 14): ``release`` checks the document with the history and
    # publishes a release that needs no second person and no later time, then branches to nothing. Only a
    # release that waits goes on: approve (a second person) -> wait_for_release_at (deferred) -> publish.
    assert [t.task_id for t in dag.topological_sort()] == [
        "release",
        "approve",
        "wait_for_release_at",
        "publish",
    ]
    release, publish = dag.get_task("release"), dag.get_task("publish")
    assert release.downstream_task_ids == {"approve", "wait_for_release_at"}
    assert publish.upstream_task_ids == {"wait_for_release_at"}
    assert dag.get_task("wait_for_release_at").trigger_rule == "none_failed_min_one_success"
    # Both tasks that publish name the PUBLISHED asset through an alias (an event only for a published
    # version), retry storage faults and alert on failure.
    for task in (release, publish):
        assert [type(o).__name__ for o in task.outlets] == ["AssetAlias"], task.task_id
        assert task.retries == 3 and task.on_failure_callback, task.task_id
    params = dag.params
    assert params.get_param("incident_id").schema["pattern"] == "^[A-Za-z0-9][A-Za-z0-9-]{2,63}$"
    assert params.get_param("stage").schema["enum"] == ["preliminary", "updated", "corrected"]
    for name in params:
        assert params.get_param(name).description, f"param {name} has no description for the trigger form"


def test_dag_files_use_airflow3_sdk_imports_only():
    for path in (ROOT / "dags").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("airflow"):
                allowed = node.module.startswith(("airflow.sdk", "airflow.providers"))
                assert allowed, f"{path.name}: Airflow 2 style import from {node.module}"


# The product package holds the product: no Airflow (DAGs are thin), and nothing of the local
# stack or the test fakes (moto, werkzeug), no process supervision (psutil, subprocess).
FORBIDDEN_IN_PRODUCT = {"airflow", "moto", "werkzeug", "psutil", "subprocess", "devstack"}


def product_imports() -> dict[str, set[str]]:
    """Top-level names imported by each module of releases/."""
    found = {}
    for path in sorted((ROOT / "releases").glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[path.name] = names
    return found


def test_core_package_imports_no_airflow_and_none_of_the_dev_stack():
    # Statically: no import statement in releases/ names one of them...
    imports = product_imports()
    assert imports, "the product package was found"
    offending = {name: sorted(names & FORBIDDEN_IN_PRODUCT) for name, names in imports.items()}
    assert {k: v for k, v in offending.items() if v} == {}
    # ...and dynamically: importing every module loads none of them.
    code = (
        "import importlib, pkgutil, sys, releases\n"
        "for m in pkgutil.iter_modules(releases.__path__): importlib.import_module('releases.' + m.name)\n"
        f"bad = sorted(k for k in sys.modules if k.split('.')[0] in {sorted(FORBIDDEN_IN_PRODUCT - {'subprocess'})!r})\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy()
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_heavy_imports_at_dag_top_level():
    tree = ast.parse(Path(ROOT / "dags" / "incident_release.py").read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    modules = {(n.module or "") if isinstance(n, ast.ImportFrom) else n.names[0].name for n in top}
    assert not modules & {"boto3", "pandas", "feedgen", "jinja2", "releases.views", "releases.ledger"}


def test_inbox_dag_settings_are_written_out(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("incident_inbox")
    assert dag.catchup is False and dag.max_active_runs == 1
    assert dag.start_date.utcoffset() == UTC.utcoffset(None)
    # Three tasks: each task start costs seconds of the time from a dropped file to its statement (issue 14).
    assert [t.task_id for t in dag.topological_sort()] == ["collect", "release", "file_and_settle"]


def test_inbox_dag_is_started_by_the_inbox_watcher_not_a_clock(airflow_db):
    """Issue 14: no time schedule (an idle inbox costs no run); the DAG is scheduled on one asset whose
    watcher is the project's event trigger, importable by the triggerer from the plugins folder."""
    from airflow import plugins_manager
    from airflow._shared.module_loading import import_string  # what the triggerer uses
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import Asset
    from airflow.sdk.definitions.timetables.assets import AssetTriggeredTimetable
    from airflow.triggers.base import BaseEventTrigger

    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("incident_inbox")
    assert isinstance(dag.timetable, AssetTriggeredTimetable)
    assets = list(dag.timetable.asset_condition.objects)
    assert [a.name for a in assets] == ["incident_inbox"] and isinstance(assets[0], Asset)
    [watcher] = assets[0].watchers
    assert isinstance(watcher.trigger, BaseEventTrigger)
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath == "incident_inbox_watch.InboxWatchTrigger"
    assert import_string(classpath)(**kwargs).serialize() == (classpath, kwargs)
    # The plugins manager loads the module too (it defines no plugin): without an error.
    errors = plugins_manager._get_plugins()[1]
    assert {k: v for k, v in errors.items() if "incident_inbox_watch" in k} == {}


@pytest.mark.parametrize("module", ["releases.render", "releases.views", "releases.pipeline", "releases.cli"])
def test_rendering_a_statement_does_not_import_pandas(module):
    """pandas costs seconds to import; only the changelog tables need it (releases.changelog)."""
    code = f"import sys, {module}; sys.exit(1 if 'pandas' in sys.modules else 0)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"{module} imports pandas" + result.stderr[-500:]

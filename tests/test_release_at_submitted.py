"""Issue 16, item 1: a ``release_at`` already past when the run was asked for (typed into Airflow's own
trigger form, which skips the desk's and the CLI's check) is refused by the ``release`` task, as a refusal
(run skipped, nothing written), judged against the run's submission time, never the task's start: a task
that starts minutes late on a loaded machine publishes a time that was still to come at submission."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from conftest import ROOT, all_objects
from sample import PRELIMINARY

from releases import pipeline
from releases.errors import ReleaseError
from releases.settings import load

SUBMITTED = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def test_plan_refuses_a_release_at_before_the_submission_and_keeps_one_after_it(bucket):
    cfg = load()
    before = all_objects(bucket)
    past = {**PRELIMINARY, "release_at": (SUBMITTED - timedelta(minutes=1)).isoformat()}
    with pytest.raises(ReleaseError) as err:
        pipeline.plan(past, bucket, cfg, key="run-1", submitted_at=SUBMITTED)
    assert (err.value.field, err.value.code) == ("release_at", "release_at.past")
    assert str(err.value).startswith("release_at: is in the past (2026-11-27T17:59:00+00:00)")
    # Valid when submitted, though now (2026 or later) is long after it: planned, not refused.
    later = {**PRELIMINARY, "release_at": (SUBMITTED + timedelta(minutes=1)).isoformat()}
    planned = pipeline.plan(later, bucket, cfg, key="run-2", submitted_at=SUBMITTED)
    assert planned["release_at"] == "2026-11-27T18:01:00+00:00"
    assert all_objects(bucket) == before  # a plan writes nothing


def test_plan_refuses_a_release_at_more_than_the_setting_s_days_after_the_submission(bucket):
    """The trigger form skips the desk's check: the release task bounds ``release_at`` itself."""
    far = {**PRELIMINARY, "release_at": (SUBMITTED + timedelta(days=31)).isoformat()}
    with pytest.raises(ReleaseError) as err:
        pipeline.plan(far, bucket, load(), key="run-3", submitted_at=SUBMITTED)
    assert (err.value.field, err.value.code) == ("release_at", "release_at.too_far")
    cfg = load({"RELEASES_SCHEDULE_MAX_DAYS": "60"})
    assert pipeline.plan(far, bucket, cfg, key="run-4", submitted_at=SUBMITTED)["release_at"]


def load_dag():
    """The DAG as the workers build it, from the file (no metadata database needed to call a task)."""
    import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component

    spec = importlib.util.spec_from_file_location(
        "incident_release_dag", ROOT / "dags" / "incident_release.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.incident_release()


class FakeTI:
    def __init__(self):
        self.xcoms: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.xcoms[key] = value


def run_release(monkeypatch, bucket, conf, **when):
    module, dag = load_dag()
    monkeypatch.setattr(module, "open_store", lambda: (load(), bucket))
    monkeypatch.setattr(module, "signer", lambda cfg: None)
    monkeypatch.setattr(module, "secret", lambda conn_id: None)
    dag_run = SimpleNamespace(
        dag_id="incident_release", run_id="manual__x", conf=conf, triggering_user_name="pio", **when
    )
    ti = FakeTI()
    steps = dag.get_task("release").python_callable(dag_run=dag_run, ti=ti)
    results = []
    try:
        while True:
            results.append(next(steps))
    except StopIteration as stop:
        return ti, stop.value, results


def test_the_release_task_refuses_a_release_at_past_at_submission_and_writes_nothing(monkeypatch, bucket):
    from airflow.sdk.exceptions import AirflowSkipException

    before = all_objects(bucket)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    with pytest.raises(AirflowSkipException, match=r"refused: release_at: is in the past"):
        run_release(
            monkeypatch,
            bucket,
            {**PRELIMINARY, "release_at": past},
            run_after=datetime.now(UTC),  # the task SDK's run has no queued_at: run_after is the trigger time
        )
    assert all_objects(bucket) == before


def test_a_task_that_starts_late_publishes_a_release_at_valid_at_submission(monkeypatch, bucket):
    """Submitted at T with release_at T+1 min; the task starts at T+10 min (a loaded machine): not refused,
    and published now, its time having come."""
    now = datetime.now(UTC)
    conf = {**PRELIMINARY, "release_at": (now - timedelta(minutes=9)).isoformat()}
    ti, _, results = run_release(
        monkeypatch,
        bucket,
        conf,
        queued_at=now - timedelta(minutes=10),
        run_after=now - timedelta(minutes=10),
    )
    assert ti.xcoms["outcome"]["outcome"] == "published", ti.xcoms
    assert ti.xcoms["outcome"]["version"] == 1 and len(results) == 1
    assert bucket.get(f"incidents/{PRELIMINARY['incident_id']}/v1.json") is not None


APPROVED = {
    "approved_by": "approver",
    "approved_at": "2026-11-27T18:05:00+00:00",
    "note": "",
    "submitted_by": "pio",
}


def test_an_approval_publishes_only_the_version_its_approver_was_shown(monkeypatch, bucket):
    """Attack finding: the approver is shown version 2 (its changes against version 1); another update
    lands first; the approved release must not publish itself as version 3 against a history the approver
    never saw: ``publish`` refuses it as approval.stale and writes nothing. Published on time, it goes out."""
    from airflow.sdk.exceptions import AirflowSkipException
    from sample import UPDATE

    cfg = load()
    pipeline.release(PRELIMINARY, bucket, cfg, key="run-v1", released_by="pio")
    module, dag = load_dag()
    monkeypatch.setattr(module, "open_store", lambda: (cfg, bucket))
    monkeypatch.setattr(module, "signer", lambda cfg: None)
    monkeypatch.setattr(module, "secret", lambda conn_id: None)
    monkeypatch.setattr(module, "approved_answer", lambda *a: APPROVED)
    correction = {**UPDATE, "stage": "corrected", "summary": "Two adults injured.", "correction_note": "Two."}

    def publish(run_id, shown):
        ti = FakeTI()
        ti.xcom_pull = lambda task_ids, key: (
            {"version": shown} if (task_ids, key) == ("release", "plan") else None
        )
        dag_run = SimpleNamespace(
            dag_id="incident_release", run_id=run_id, conf=correction, triggering_user_name="pio"
        )
        return ti, list(dag.get_task("publish").python_callable(dag_run=dag_run, ti=ti))

    pipeline.release({**UPDATE, "summary": "Stable."}, bucket, cfg, key="run-other", released_by="pio")
    before = all_objects(bucket)
    with pytest.raises(AirflowSkipException, match="another version of incident .* was published after"):
        publish("approved-late", shown=2)
    assert all_objects(bucket) == before
    ti, _ = publish("approved-on-time", shown=3)
    assert ti.xcoms["outcome"]["outcome"] == "published" and ti.xcoms["outcome"]["version"] == 3

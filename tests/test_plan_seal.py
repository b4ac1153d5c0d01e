"""What ``release`` plans for the tasks after a wait is sealed (issue 16, attack trial F1 and F2).

Airflow lets a PIO (its ``User`` role) edit any XCom of a run they can trigger. The attack trial did two
things with that: (F1) it rewrote the ``preview`` XCom between ``release`` and ``approve``, so the approver
was shown "contact: typo fixed only" and approved a location change; (F2) it raised the ``plan`` XCom's
``version``, so ``approval.stale`` compared against a number the approver never saw and a correction went
out on top of a version published after the approval. ``release`` now seals what it stores with a key only
the workers hold; ``approve`` writes the request from the checked values, and ``wait_for_release_at`` and
``publish`` check them before they use them. A changed value is ``approval.tampered``: the task fails (the
operators are alerted), nothing is published, and the run's outcome says why in words."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pytest

from releases import approval

RUN = "incident_release/2026-0916-v2-corrected-20261128T041000Z"
KEY = "a-sealing-private-key"
PLAN = {
    "incident_id": "2026-0916",
    "version": 2,
    "stage": "corrected",
    "headline": "Officer-involved shooting at 5th and Main",
    "approval": True,
    "release_at": None,
    "url": "https://example.org/incidents/2026-0916/v2.html",
    "published": False,
}
PREVIEW = "Field changes:\n- location: was \u201c5th St\u201d, now \u201c6th St\u201d\n"
STORED = {"plan": PLAN, "preview": PREVIEW, "release_at": "2026-11-28T04:10:00+00:00"}


def test_the_plan_preview_and_time_release_stored_are_sealed_and_any_change_is_tampering():
    mac = approval.seal_plan(STORED, RUN, KEY)
    assert approval.verify_plan(json.loads(json.dumps(STORED)), mac, RUN, KEY) == STORED  # as XComs return it
    changed = (
        {**STORED, "preview": "- contact: typo fixed only\n"},  # F1: what the approver is shown
        {**STORED, "plan": {**PLAN, "version": 3}},  # F2: the version approval.stale checks
        {**STORED, "release_at": "2026-11-28T03:00:00+00:00"},  # a scheduled release made earlier
    )
    for stored, mac_, run, key in (
        *((c, mac, RUN, KEY) for c in changed),
        (STORED, None, RUN, KEY),  # the seal deleted
        (STORED, "0" * 64, RUN, KEY),  # a made-up seal
        (STORED, mac, "incident_release/another-run", KEY),  # another run's plan and seal copied over
        (STORED, approval.seal_plan(STORED, RUN, "another-key"), RUN, KEY),
    ):
        with pytest.raises(approval.Tampered) as err:
            approval.verify_plan(stored, mac_, run, key)
        assert err.value.code == "approval.tampered"
        assert "changed in Airflow after the release checked it: nothing is published" in str(err.value)


def test_without_a_key_nothing_is_sealed_or_checked():
    """A deployment with no sealing or signing key cannot approve at all (approval.missing); a scheduled
    release there is published at the time as stored."""
    assert approval.seal_plan(STORED, RUN, None) is None
    assert approval.verify_plan(STORED, None, RUN, None) == STORED


class Run:
    """The XComs of one run as its tasks see them (``xcom_pull`` / ``xcom_push``), and the outcome each
    task recorded."""

    def __init__(self):
        self.xcoms: dict[tuple[str, str], object] = {}
        self.dag_run = SimpleNamespace(dag_id="incident_release", run_id=RUN.split("/", 1)[1])

    def ti(self, task_id):
        run = self

        class TI:
            def xcom_push(self, key, value):
                run.xcoms[(task_id, key)] = json.loads(json.dumps(value))  # stored as JSON, as Airflow does

            def xcom_pull(self, task_ids, key):
                return run.xcoms.get((task_ids, key))

        return TI()

    def context(self, task_id):
        return {"ti": self.ti(task_id), "dag_run": self.dag_run}


@pytest.fixture
def dag_module(release_dag, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_RELEASES_SEALING", json.dumps({"conn_type": "generic", "password": KEY}))
    return release_dag.dag


def planned_run(dag):
    """A run whose ``release`` stored its plan as the DAG does (``store_plan``)."""
    run = Run()
    module = sys.modules[type(dag.get_task("approve")).__module__]
    module.store_plan(run.ti("release"), run.dag_run, **STORED)
    return run, module


def test_the_approval_request_shows_the_sealed_preview_not_one_changed_after_release(dag_module, monkeypatch):
    """F1: the request's body is the preview ``release`` sealed, whatever the template read a moment
    before (the race the trial won); a preview changed in the XCom fails the task before any request is
    written, with the reason in the run's outcome."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.sdk.exceptions import AirflowFailException

    requests = []
    monkeypatch.setattr(
        ApprovalOperator, "execute", lambda op, context: requests.append((op.subject, op.body))
    )
    approve = dag_module.get_task("approve")
    run, _ = planned_run(dag_module)
    approve.body = "- contact: typo fixed only\n"  # what the template rendered from an XCom changed in time
    approve.execute(run.context("approve"))
    assert requests == [("Approve the release of 2026-0916 v2 (corrected)?", PREVIEW)]

    run.xcoms[("release", "preview")] = "- contact: typo fixed only\n"
    with pytest.raises(AirflowFailException):
        approve.execute(run.context("approve"))
    assert len(requests) == 1  # no second request written
    outcome = run.xcoms[("approve", "outcome")]
    assert outcome["outcome"] == "refused"
    assert [r["rule"] for r in outcome["refusals"]] == ["approval.tampered"]


def test_publish_and_the_wait_check_the_plan_before_they_use_it(dag_module, bucket):
    """F2: ``publish`` takes the version the approver was shown from the sealed plan; a version (or a
    release time) changed in the XCom fails the task before anything is written."""
    from airflow.sdk.exceptions import AirflowFailException
    from sample import CORRECTION

    run, module = planned_run(dag_module)
    assert module.stored_plan(run.ti("publish"), run.dag_run, "release", *module.RELEASE_PLAN)["plan"] == PLAN
    wait = dag_module.get_task("wait_for_release_at")
    assert wait.execute(run.context("wait_for_release_at")) is None  # the sealed time has come: no wait

    run.xcoms[("release", "release_at")] = "2026-11-28T03:00:00+00:00"
    with pytest.raises(AirflowFailException):
        wait.execute(run.context("wait_for_release_at"))
    assert run.xcoms[("wait_for_release_at", "outcome")]["refusals"][0]["rule"] == "approval.tampered"

    run, module = planned_run(dag_module)
    run.xcoms[("release", "plan")] = {**PLAN, "version": 3}
    run.dag_run.conf = {**CORRECTION, "incident_id": PLAN["incident_id"]}
    publish = dag_module.get_task("publish").python_callable
    with pytest.raises(AirflowFailException):
        list(publish(dag_run=run.dag_run, ti=run.ti("publish")))
    assert run.xcoms[("publish", "outcome")]["refusals"][0]["rule"] == "approval.tampered"
    assert bucket.client.list_objects_v2(Bucket=bucket.bucket, Prefix="incidents/").get("KeyCount") == 0

"""Feedback where the PIO looks, in Airflow itself: when a run of ``incident_release`` (or
``incident_redaction``) ends, its run note says what happened (published: the version and its public URL;
refused: each reason; rejected: by whom and why), and the task that published it (``release``, or ``publish``
after a wait) has two extra links, "Public page" and "Feed", to what it published. The wording is :func:`releases.runs.run_note`.

The note is written by a listener in the scheduler, in the scheduler's own session (the run's row is locked
by it while it changes the run's state); the links are read by the API server from the task's XCom
``outcome``. Neither needs a credential.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin
from airflow.sdk.bases.operatorlink import BaseOperatorLink

log = logging.getLogger(__name__)
# The tasks that record a run's outcome (XCom ``outcome``), the one after a wait first.
DAGS = {
    "incident_release": ("publish", "wait_for_release_at", "approve", "release"),
    "incident_redaction": ("redact", "approve", "plan"),
}


def _xcom(session, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel

    row = session.execute(
        XComModel.get_many(key=key, run_id=run_id, dag_ids=dag_id, task_ids=task_id).with_only_columns(
            XComModel.value
        )
    ).first()
    if row is None:
        return None
    value = row.value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def outcome_of(session, dag_id: str, run_id: str) -> dict | None:
    for task_id in DAGS.get(dag_id, ()):
        value = _xcom(session, dag_id, run_id, task_id, "outcome")
        if isinstance(value, dict):
            return value
    return None


def answer_of(session, dag_id: str, run_id: str) -> dict | None:
    """The approver's answer as Airflow recorded it (the HITL detail of the run's ``approve`` task)."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from sqlalchemy import select

    row = session.scalar(
        select(HITLDetail)
        .join(TaskInstance, TaskInstance.id == HITLDetail.ti_id)
        .where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == "approve"
        )
    )
    if row is None or not row.chosen_options:
        return None
    return {
        "chosen_options": list(row.chosen_options),
        "params_input": row.params_input or {},
        "responded_by_user": {"name": row.responded_by_user_name},
    }


def note_for(session, dag_id: str, run_id: str) -> str:
    from releases.runs import run_note

    answer = _xcom(session, dag_id, run_id, "approve", "return_value")
    if not isinstance(answer, dict) or not answer.get("chosen_options"):
        answer = answer_of(session, dag_id, run_id)
    outcome = outcome_of(session, dag_id, run_id)
    if dag_id == "incident_redaction" and isinstance(outcome, type(None)):
        value = _xcom(session, dag_id, run_id, "redact", "return_value")
        if isinstance(value, dict) and value.get("incident_id"):
            return f"Redaction of {value['incident_id']} recorded"
    return run_note(outcome, answer if isinstance(answer, dict) else None)


def _write_note(dag_run, failed: bool = False) -> None:
    if dag_run.dag_id not in DAGS:
        return
    try:
        from sqlalchemy.orm import object_session

        session = object_session(dag_run)
        if session is None:
            return
        note = note_for(session, dag_run.dag_id, dag_run.run_id)
        if failed:
            note = "Failed or cancelled, nothing published. " + ("" if note == "Nothing published" else note)
        dag_run.note = note.strip()
    except Exception:  # a note must never break the scheduler
        log.exception("could not write the run note of %s", dag_run.run_id)


@hookimpl
def on_dag_run_success(dag_run, msg: str):
    _write_note(dag_run)


@hookimpl
def on_dag_run_failed(dag_run, msg: str):
    _write_note(dag_run, failed=True)


class _OutcomeLink(BaseOperatorLink):
    field = "url"

    def get_link(self, operator, *, ti_key) -> str:
        if ti_key.dag_id != "incident_release" or ti_key.task_id not in ("release", "publish"):
            return ""
        from airflow.utils.session import create_session

        with create_session() as session:
            outcome = _xcom(session, ti_key.dag_id, ti_key.run_id, ti_key.task_id, "outcome")
        return str(outcome.get(self.field) or "") if isinstance(outcome, dict) else ""


class PublicPageLink(_OutcomeLink):
    name = "Public page"
    field = "url"


class FeedLink(_OutcomeLink):
    name = "Feed"
    field = "feed"


class ReleaseFeedbackPlugin(AirflowPlugin):
    name = "release_feedback"
    listeners = [sys.modules[__name__]]
    global_operator_extra_links = [PublicPageLink(), FeedLink()]

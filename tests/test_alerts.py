"""Operators' alerts, sent through Airflow's SMTP provider to a local SMTP server: a release that fails
sends one e-mail naming the incident and the reason (after Airflow's retries, not one per try); a release
the rules refuse sends none (the PIO is told, it is not a fault); a release that is not public within the
deadline sends one, unless it has failed already."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta

import pytest
from sample import PRELIMINARY
from smtp_sink import Mailbox

from releases import alerts
from releases.errors import StageOrderError

ALERT_TO = "duty-officer@agency.example, it-oncall@agency.example"
ONE_RECIPIENT = {"RELEASES_ALERT_TO": "duty-officer@agency.example"}


@pytest.fixture
def mailbox(monkeypatch):
    with Mailbox() as box:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", box.connection())
        monkeypatch.setenv("RELEASES_ALERT_TO", ALERT_TO)
        yield box


# -- settings and messages --------------------------------------------------------------------------------


def test_alert_settings_default_and_the_environment_moves_them():
    assert alerts.load({}) == alerts.AlertSettings()
    assert alerts.load({}).smtp_conn_id == "smtp_default"
    assert alerts.deadline({}) is None  # nobody to tell: no deadline
    assert alerts.deadline({"RELEASES_ALERT_TO": "a@x.example"}) == timedelta(minutes=10)
    cfg = alerts.load(
        {
            "RELEASES_ALERT_TO": "a@x.example; b@y.example",
            "RELEASES_ALERT_FROM": "releases@x.example",
            "RELEASES_SMTP_CONN_ID": "smtp_agency",
            "RELEASES_DEADLINE_MINUTES": "2.5",
        }
    )
    assert cfg.to == ("a@x.example", "b@y.example")
    assert (cfg.sender, cfg.smtp_conn_id, cfg.deadline) == (
        "releases@x.example",
        "smtp_agency",
        timedelta(seconds=150),
    )
    assert alerts.deadline({**ONE_RECIPIENT, "RELEASES_DEADLINE_MINUTES": "2.5"}) == timedelta(seconds=150)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"RELEASES_ALERT_TO": "ops"}, "RELEASES_ALERT_TO: 'ops' is not an e-mail address (name@domain)"),
        ({"RELEASES_ALERT_FROM": "a@b"}, "RELEASES_ALERT_FROM: 'a@b' is not an e-mail address (name@domain)"),
        ({"RELEASES_DEADLINE_MINUTES": "10m"}, "RELEASES_DEADLINE_MINUTES=10m: must be a number of minutes"),
        ({"RELEASES_DEADLINE_MINUTES": "0"}, "RELEASES_DEADLINE_MINUTES=0: must be a number of minutes"),
        ({"RELEASES_DEADLINE_MINUTES": "nan"}, "RELEASES_DEADLINE_MINUTES=nan: must be a number of minutes"),
    ],
    ids=["to", "from", "unit", "zero", "nan"],
)
def test_a_bad_alert_setting_is_refused_naming_the_variable_and_the_rule(environ, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        alerts.load(environ)


def test_a_refusal_is_told_apart_from_a_fault_however_it_was_wrapped():
    refused = StageOrderError("stage", "the first release of an incident must be preliminary")
    try:
        try:
            raise refused
        except StageOrderError as err:
            raise RuntimeError("StageOrderError: ...") from err  # as the DAG wraps it for Airflow
    except RuntimeError as wrapped:
        assert alerts.refusal(wrapped) is refused
    assert alerts.refusal(refused) is refused
    assert alerts.refusal(ConnectionError("store down")) is None
    assert alerts.refusal(None) is None


def test_a_plan_changed_in_airflow_is_a_fault_the_operators_hear_of():
    """approval.tampered: the task fails (AirflowFailException raised from None, the Tampered error still
    its context) and the failure e-mail goes out: someone changed a run's records."""
    from airflow.sdk.exceptions import AirflowFailException

    from releases.approval import Tampered

    try:
        try:
            raise Tampered("approval", "what this release planned ... was changed", "approval.tampered")
        except Tampered:
            raise AirflowFailException("refused: approval: ...") from None
    except AirflowFailException as failed:
        assert alerts.refusal(failed) is None


def test_the_failure_message_names_the_incident_and_the_reason_and_escapes_it():
    release = alerts.Release.of(
        {**PRELIMINARY, "incident_id": "2026-0142"}, "incident_release", "manual__2026", "http://x/log"
    )
    email = alerts.failure_email(release, alerts.reason(OSError("<script>alert(1)</script> gone")), 4)
    assert email.subject == (
        "Release FAILED: incident 2026-0142 (preliminary): OSError: <script>alert(1)</script> gone"
    )
    assert "2026-0142" in email.html and "manual__2026" in email.html and "http://x/log" in email.html
    assert "<script>" not in email.html and "&lt;script&gt;alert(1)&lt;/script&gt; gone" in email.html
    # Only the incident and the stage are read from the document: never its text.
    assert PRELIMINARY["headline"] not in email.html and PRELIMINARY["body"][:20] not in email.html


def test_a_reason_is_one_bounded_line_and_a_silent_death_is_named():
    assert alerts.reason(ValueError("a\nb\r\n  c")) == "ValueError: a b c"
    assert len(alerts.reason("x" * 5000)) == alerts.MAX_REASON
    assert "without reporting an error" in alerts.reason(None)


# -- the deadline's callback, as the triggerer runs it -------------------------------------------------------


def simple_context(state: str) -> dict:
    """What the scheduler hands the callback (airflow.models.deadline.Deadline.handle_miss)."""
    return {
        "dag_run": {
            "dag_id": "incident_release",
            "dag_run_id": "manual__2026-11-21T03:00:00+00:00",
            "state": state,
            "conf": {**PRELIMINARY, "incident_id": "2026-0777"},
        },
        "deadline": {"id": "0199", "deadline_time": "2026-11-21T03:10:00+00:00"},
    }


def release_alerts():
    import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component
    import release_alerts

    return release_alerts


def as_read(mail) -> str:
    """The e-mail's text as a reader sees it: tags gone, entities decoded, one space between words."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", mail.text)).split())


class TriggererComms:
    """The triggerer's supervisor channel as the callback sees it (``task_runner.SUPERVISOR_COMMS``):
    answers ``GetTaskStates`` with the given states of the run's task instances and takes the rest (the
    SDK's ``MaskSecret`` notices) without an answer, as the triggerer's supervisor does."""

    def __init__(self, states: dict[str, str | None]):
        self.states, self.asked = states, []

    async def asend(self, msg):
        from airflow.sdk.execution_time.comms import GetTaskStates, TaskStatesResult

        if not isinstance(msg, GetTaskStates):
            return None
        self.asked.append(msg)
        return TaskStatesResult(task_states={"manual__2026-11-21T03:00:00+00:00": self.states})


@pytest.mark.parametrize(
    ("task_state", "advice", "not_said"),
    [
        # default_pool at 0 slots, or no scheduler loop: the run is "running", its task has never started.
        ("scheduled", "scheduled, not started: no worker has taken it and it has no log yet", "read its log"),
        ("queued", "queued, not started: handed to the executor, no worker has taken it", "read its log"),
        ("running", "running on a worker: slow or stuck (read its log)", "no worker has taken it"),
    ],
    ids=["scheduled", "queued", "running"],
)
def test_a_release_not_public_by_its_deadline_sends_one_alert_advising_by_its_task_s_state(
    mailbox, monkeypatch, task_state, advice, not_said
):
    from airflow.sdk.execution_time import task_runner

    comms = TriggererComms({"release": task_state})
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    monkeypatch.setenv("RELEASES_DEADLINE_MINUTES", "10")
    answer = asyncio.run(release_alerts().deadline_missed(context=simple_context("running")))
    assert answer.startswith("deadline alert for incident 2026-0777 sent to ")
    (mail,) = mailbox.wait_for(1, timeout=30)
    assert mail.subject == "Release LATE: incident 2026-0777 (preliminary) is not public after 10 minutes"
    assert sorted(mail.recipients) == ["duty-officer@agency.example", "it-oncall@agency.example"]
    assert mail.sender == "airflow@agency.example"  # the connection's from_email
    assert "manual__2026-11-21T03:00:00+00:00" in mail.text
    assert f"Task release {advice}" in as_read(mail)
    assert not_said not in as_read(mail)
    (asked,) = comms.asked
    assert (asked.dag_id, asked.run_ids) == ("incident_release", ["manual__2026-11-21T03:00:00+00:00"])


def test_a_deadline_alert_still_goes_out_when_the_task_states_cannot_be_read(mailbox, monkeypatch):
    from airflow.sdk.execution_time import task_runner

    monkeypatch.delattr(task_runner, "SUPERVISOR_COMMS", raising=False)
    asyncio.run(release_alerts().deadline_missed(context=simple_context("running")))
    (mail,) = mailbox.wait_for(1, timeout=30)
    assert "Tasks their states could not be read" in as_read(mail)
    assert "Task release" not in as_read(mail)  # no guess from the run's state


@pytest.mark.parametrize("state", ["failed", "success"])
def test_a_run_that_has_ended_gets_no_deadline_alert(mailbox, state):
    answer = asyncio.run(release_alerts().deadline_missed(context=simple_context(state)))
    assert answer.endswith(f"is {state}: no deadline alert")
    assert mailbox.wait_for(1, timeout=1) == []


def test_the_release_deadline_is_the_configured_time_after_submission_when_someone_is_told(monkeypatch):
    from airflow.sdk import DeadlineReference

    monkeypatch.delenv("RELEASES_ALERT_TO", raising=False)
    assert release_alerts().release_deadline() is None
    monkeypatch.setenv("RELEASES_ALERT_TO", ALERT_TO)
    monkeypatch.setenv("RELEASES_DEADLINE_MINUTES", "7")
    deadline = release_alerts().release_deadline()
    assert deadline.interval == timedelta(minutes=7)
    assert deadline.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert deadline.callback.path == "release_alerts.deadline_missed"
    monkeypatch.setenv("RELEASES_DEADLINE_MINUTES", "soon")
    with pytest.raises(ValueError, match="RELEASES_DEADLINE_MINUTES=soon"):
        release_alerts().release_deadline()


# -- the real DAG ---------------------------------------------------------------------------------------------


def test_a_release_that_fails_sends_one_email_naming_the_incident_and_the_reason(
    release_dag, bucket, mailbox, monkeypatch
):
    """A fault (here the bucket is gone) fails the task after Airflow's retries: one e-mail, not one per try."""
    task = release_dag.get_task("release")
    assert task.retries == 3 and task.on_failure_callback
    monkeypatch.setenv("RELEASES_BUCKET", bucket.bucket + "-gone")
    conf = {**PRELIMINARY, "incident_id": "2026-FAIL-1"}
    assert release_dag.test(run_conf=conf).state == "failed"
    (mail,) = mailbox.wait_for(1, timeout=30)
    assert mail.subject.startswith("Release FAILED: incident 2026-FAIL-1 (preliminary): ")
    assert "NoSuchBucket" in mail.subject, mail.subject
    assert sorted(mail.recipients) == ["duty-officer@agency.example", "it-oncall@agency.example"]
    assert "2026-FAIL-1" in mail.text and "NoSuchBucket" in mail.text and "<td>4</td>" in mail.text
    assert PRELIMINARY["headline"] not in mail.text
    assert mailbox.wait_for(2, timeout=3) == [mail]


def test_a_refused_release_and_a_published_one_send_no_email(release_dag, bucket, mailbox):
    conf = {**PRELIMINARY, "incident_id": "2026-REFUSE-1"}
    # A refusal ends the run successfully with the task skipped (conftest.ReleaseThenSite: refused=True).
    assert release_dag.test(run_conf={**conf, "stage": "updated"}, refused=True).state == "success"
    assert bucket.list_keys("incidents/") == []  # refused: nothing written
    assert release_dag.test(run_conf=conf).state == "success"
    assert mailbox.wait_for(1, timeout=3) == []


def test_a_failed_render_of_the_site_views_sends_one_email_too(release_dag, bucket, mailbox, monkeypatch):
    """The front page and site feeds are rendered by ``site_views``: its failure is a fault like a failed
    release, told once after its retries, naming no statement text."""
    task = release_dag.site.get_task("render")
    assert task.retries == 3 and task.on_failure_callback
    monkeypatch.setenv("RELEASES_BUCKET", bucket.bucket + "-gone")
    assert release_dag.site.test().state == "failed"
    (mail,) = mailbox.wait_for(1, timeout=30)
    assert mail.subject.startswith("Site views FAILED: the front page and site feeds are not updated: ")
    assert "AccessDenied" in mail.subject, mail.subject  # the writer may write no other bucket
    assert sorted(mail.recipients) == ["duty-officer@agency.example", "it-oncall@agency.example"]
    assert "site_views" in mail.text and "<td>4</td>" in mail.text
    assert "(none named: a run by hand renders every view)" in mail.text
    assert mailbox.wait_for(2, timeout=3) == [mail]


def test_the_site_failure_message_names_releases_by_incident_and_version_only():
    email = alerts.site_failure_email(
        [("2026-0142", 3), ("2026-0143", 1)],
        "OSError: <b>down</b>",
        "site_views",
        "asset_triggered__1",
        "http://x/l",
    )
    assert (
        email.subject
        == "Site views FAILED: the front page and site feeds are not updated: OSError: <b>down</b>"
    )
    assert "2026-0142 v3, 2026-0143 v1" in email.html and "http://x/l" in email.html
    assert "<b>down</b>" not in email.html and "&lt;b&gt;down&lt;/b&gt;" in email.html

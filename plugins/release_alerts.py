"""Operators' alerts for ``incident_release``, sent as e-mail through Airflow's SMTP provider and the SMTP
connection named by ``RELEASES_SMTP_CONN_ID`` (``smtp_default``): a release that failed (a notifier on the
task's failure) and a release that is not public within ``RELEASES_DEADLINE_MINUTES`` of its submission
(Airflow's ``DeadlineAlert``). Whether to tell anyone and what the message says is ``releases.alerts``.

Why it lives in ``plugins/``: the deadline's callback runs in the triggerer, which imports it by its dotted
path, so it must be importable there; ``dags/`` is not on ``sys.path`` and ``releases/`` stays free of
Airflow, while every Airflow component puts the plugins folder on ``sys.path`` (as for
``incident_inbox_watch``). The plugins manager also loads this file as a module of the same name; it
defines no plugin.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

# Fixed, not derived from __module__: the plugins manager and an import from sys.path both load this file
# as `release_alerts`, and the triggerer imports the callback by this path.
DEADLINE_CALLBACK = "release_alerts.deadline_missed"


class ReleaseFailureNotifier(SmtpNotifier):
    """``on_failure_callback`` of the release task: one e-mail per failed release, sent when Airflow's
    retries are spent (a retry sends none), naming the incident and the reason. A refusal by the rules
    sends none: it is the PIO's to fix, not a fault (``releases.alerts.refusal``).

    Recipients, sender and connection are read when it runs (``releases.alerts.load``), never at parse time.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(to=[], **kwargs)

    def notify(self, context: Any) -> None:
        from releases import alerts

        error = context.get("exception")
        refused = alerts.refusal(error)
        if refused is not None:
            self.log.info("The release was refused by the rules (%s): no alert, the PIO is told", refused)
            return
        settings = alerts.load()
        if not settings.to:
            self.log.warning("The release failed; no alert sent: %s is not set", alerts.ENV["to"])
            return
        dag_run, ti = context.get("dag_run"), context.get("ti")
        release = alerts.Release.of(
            getattr(dag_run, "conf", None),
            getattr(dag_run, "dag_id", ""),
            getattr(dag_run, "run_id", ""),
            getattr(ti, "log_url", ""),
        )
        email = alerts.failure_email(release, alerts.reason(error), getattr(ti, "try_number", None))
        # Set here, after Airflow rendered the template fields: the reason is never read as a template.
        self.to, self.subject, self.html_content = list(settings.to), email.subject, email.html
        self.from_email = settings.sender or None  # None: the connection's from_email
        self.smtp_conn_id = settings.smtp_conn_id
        super().notify(context)
        self.log.info("Failure alert for incident %s sent to %s", release.incident_id, ", ".join(settings.to))


async def deadline_missed(context: dict | None = None, **kwargs: Any) -> str:
    """The deadline's callback, run by the triggerer when a release's run has not finished within
    ``RELEASES_DEADLINE_MINUTES`` of being queued (Airflow deletes the deadline of a run that succeeds in
    time). A run that has failed by then gets no second e-mail: the failure alert went out, or it was a
    refusal."""
    from releases import alerts

    dag_run = (context or {}).get("dag_run") or {}
    deadline = (context or {}).get("deadline") or {}
    state = str(dag_run.get("state") or "unknown")
    release = alerts.Release.of(
        dag_run.get("conf"), str(dag_run.get("dag_id")), str(dag_run.get("dag_run_id"))
    )
    if state in ("success", "failed"):
        return f"run {release.run_id} is {state}: no deadline alert"
    settings = alerts.load()
    if not settings.to:
        return f"release of {release.incident_id} is late; no alert sent: {alerts.ENV['to']} is not set"
    email = alerts.deadline_email(
        release, state, settings.deadline_minutes, str(deadline.get("deadline_time", "?"))
    )
    notifier = SmtpNotifier(
        to=list(settings.to),
        from_email=settings.sender or None,
        subject=email.subject,
        html_content=email.html,
        smtp_conn_id=settings.smtp_conn_id,
    )
    await notifier.async_notify({})
    return f"deadline alert for incident {release.incident_id} sent to {', '.join(settings.to)}"


def release_deadline() -> DeadlineAlert | None:
    """The release's deadline: public within ``RELEASES_DEADLINE_MINUTES`` of its submission (queued); none
    when ``RELEASES_ALERT_TO`` is empty (nobody to tell).

    Read when the DAG is parsed, because Airflow stores a deadline with the DAG's definition; environment
    variables cost nothing to read. (Airflow's ``VariableInterval`` reads an Airflow Variable when a run is
    created instead, but a missing Variable then refuses every trigger.) A bad value fails the parse,
    naming the variable and the rule.

    Why only with recipients: Airflow 3.3.2's ``dag.test()`` (and so ``airflow dags test``) ends every
    successful run of a DAG that has a deadline with ``AttributeError: 'dict' object has no attribute
    'hex'`` (``DagRun.update_state`` looks the deadline up by the serialized alert instead of its id;
    the scheduler's path is not affected). The release is published by then, but the command fails.
    """
    from releases import alerts

    interval = alerts.deadline()
    if interval is None:
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(DEADLINE_CALLBACK),
        name="public within RELEASES_DEADLINE_MINUTES",
    )

"""What the operators are told when a release goes wrong: a release that failed, or one that is not public
within the deadline. Pure: the e-mails are sent by Airflow's SMTP provider (``plugins/release_alerts.py``);
this module decides whether to tell anyone and what the message says.

A refusal is not a fault. A document the rules refuse is the PIO's to fix, and the PIO is told (the task's
log, ``releases submit``, the inbox's reason); the operators are not woken for it. Everything else that ends
a release (storage down, wrong credentials, a bug) is a fault, reported once, after Airflow's retries.

The messages name the incident, the stage, the DAG run and the reason, never the statement's text (which
may not be public yet, and whose withheld parts must never leave the pipeline).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta

from markupsafe import Markup

from .errors import ReleaseError

# A reason longer than this is cut: the task's log has all of it.
MAX_REASON = 1000
DEFAULT_DEADLINE_MINUTES = 10.0
_ADDRESS = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")


@dataclass(frozen=True)
class AlertSettings:
    """Who is told, through which Airflow connection, and how long a release may take to be public."""

    to: tuple[str, ...] = ()
    sender: str = ""
    smtp_conn_id: str = "smtp_default"
    deadline_minutes: float = DEFAULT_DEADLINE_MINUTES

    @property
    def deadline(self) -> timedelta:
        return timedelta(minutes=self.deadline_minutes)


ENV = {
    "to": "RELEASES_ALERT_TO",
    "sender": "RELEASES_ALERT_FROM",
    "smtp_conn_id": "RELEASES_SMTP_CONN_ID",
    "deadline_minutes": "RELEASES_DEADLINE_MINUTES",
}


def load(environ: dict[str, str] | None = None) -> AlertSettings:
    """The alert settings from the environment; a bad value is refused naming the variable and the rule."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    if env.get(ENV["to"], "").strip():
        addresses = tuple(a.strip() for a in re.split(r"[,;]", env[ENV["to"]]) if a.strip())
        for address in addresses:
            if not _ADDRESS.fullmatch(address):
                raise ValueError(f"{ENV['to']}: {address!r} is not an e-mail address (name@domain)")
        values["to"] = addresses
    if env.get(ENV["sender"], "").strip():
        sender = env[ENV["sender"]].strip()
        if not _ADDRESS.fullmatch(sender):
            raise ValueError(f"{ENV['sender']}: {sender!r} is not an e-mail address (name@domain)")
        values["sender"] = sender
    if env.get(ENV["smtp_conn_id"], "").strip():
        values["smtp_conn_id"] = env[ENV["smtp_conn_id"]].strip()
    if env.get(ENV["deadline_minutes"], "").strip():
        values["deadline_minutes"] = _minutes(env[ENV["deadline_minutes"]])
    return AlertSettings(**values)


def deadline(environ: dict[str, str] | None = None) -> timedelta | None:
    """How long a release may take from its submission to being public (``RELEASES_DEADLINE_MINUTES``), or
    None when nobody is to be told (``RELEASES_ALERT_TO`` is empty): a deadline is only there to alert."""
    env = os.environ if environ is None else environ
    if not env.get(ENV["to"], "").strip():
        return None
    raw = env.get(ENV["deadline_minutes"], "").strip()
    return timedelta(minutes=_minutes(raw) if raw else DEFAULT_DEADLINE_MINUTES)


def _minutes(raw: str) -> float:
    raw = raw.strip()
    try:
        minutes = float(raw)
    except ValueError:
        minutes = float("nan")
    if not 0 < minutes < float("inf"):
        raise ValueError(
            f"{ENV['deadline_minutes']}={raw}: must be a number of minutes greater than 0, e.g. 10"
        )
    return minutes


def refusal(error: BaseException | None) -> ReleaseError | None:
    """The refusal behind ``error`` (the error itself, or what it was raised from), or None for a fault. A
    refusal that says the run's own records were changed (``fault = True``: ``approval.tampered``) is a
    fault the operators must hear of, whatever the PIO is told."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ReleaseError):
            return None if getattr(error, "fault", False) else error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def reason(error: BaseException | str | None) -> str:
    """One line that says why a release failed, for the subject and the body of the alert."""
    if error is None or error == "":
        return "the task stopped without reporting an error (killed, timed out, or its worker was lost)"
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


@dataclass(frozen=True)
class Release:
    """The release an alert is about, as Airflow knows it: the run's document gives the incident and the
    stage (nothing else of it is read), the run and the place to read its log."""

    incident_id: str
    stage: str
    dag_id: str
    run_id: str
    log_url: str = ""

    @classmethod
    def of(cls, conf: dict | None, dag_id: str, run_id: str, log_url: str = "") -> Release:
        conf = conf if isinstance(conf, dict) else {}

        def field(name: str) -> str:
            value = conf.get(name)
            return " ".join(value.split())[:64] if isinstance(value, str) and value.strip() else "(not given)"

        return cls(field("incident_id"), field("stage"), dag_id, run_id, log_url or "")


@dataclass(frozen=True)
class Email:
    subject: str
    html: str


def _body(lines: list[tuple[str, str]], closing: str) -> str:
    # Markup.format escapes every value: a reason may quote anything (an S3 error, a key name).
    row = Markup("<tr><th align='left'>{}</th><td>{}</td></tr>")
    rows = Markup("").join(row.format(k, v) for k, v in lines)
    return str(Markup("<table>{}</table><p>{}</p>").format(rows, closing))


def failure_email(release: Release, why: str, tries: int | None = None) -> Email:
    """The alert for a release that failed after Airflow's retries (a fault, never a refusal)."""
    subject = f"Release FAILED: incident {release.incident_id} ({release.stage}): {why}"
    lines = [
        ("Incident", release.incident_id),
        ("Stage", release.stage),
        ("Reason", why),
        ("DAG run", f"{release.dag_id} / {release.run_id}"),
    ]
    if tries:
        lines.append(("Tries", str(tries)))
    if release.log_url:
        lines.append(("Log", release.log_url))
    closing = (
        "This is a fault of the system (storage, credentials, a component), not a refusal by the rules: the "
        "PIO's document may be fine. Fix the fault, then clear the task in Airflow: the release finishes "
        "where it stopped (every step is idempotent; its version is written once)."
    )
    return Email(_subject(subject), _body(lines, closing))


def site_failure_email(
    released: list[tuple[str, object]],
    why: str,
    dag_id: str,
    run_id: str,
    log_url: str = "",
    tries: int | None = None,
) -> Email:
    """The alert for a run of ``site_views`` that failed after Airflow's retries: the releases are public on
    their own pages, but the front page, the site feeds (and after a correction the changelog) do not show
    them yet. Names the releases by incident and version only (from the asset events), never their text."""
    subject = f"Site views FAILED: the front page and site feeds are not updated: {why}"
    named = ", ".join(f"{incident} v{version}" for incident, version in released[:20])
    if len(released) > 20:
        named += f" and {len(released) - 20} more"
    lines = [
        ("Releases not yet on the front page", named or "(none named: a run by hand renders every view)"),
        ("Reason", why),
        ("DAG run", f"{dag_id} / {run_id}"),
    ]
    if tries:
        lines.append(("Tries", str(tries)))
    if log_url:
        lines.append(("Log", log_url))
    closing = (
        "Each release is published on its own page and feed; the site-wide views (front page, index.json, site "
        "feeds, the corrections changelog) are behind until this is put right. Fix the fault, then clear the "
        "task in Airflow, or trigger site_views by hand: it renders every view again from the records."
    )
    return Email(_subject(subject), _body(lines, closing))


# What a release's task is doing when its deadline passes, by the task instance's state (Airflow's names),
# and what the operator should look at. The run's own state does not tell: a run is `running` from the
# moment the scheduler starts it, whether or not any worker has taken its task.
_WAITING = {
    None: "not scheduled yet: the scheduler has not got to it (is the scheduler running?)",
    "none": "not scheduled yet: the scheduler has not got to it (is the scheduler running?)",
    "scheduled": (
        "scheduled, not started: no worker has taken it and it has no log yet (is a slot free in its pool, "
        "default_pool? are the workers and the scheduler running?)"
    ),
    "queued": (
        "queued, not started: handed to the executor, no worker has taken it and it has no log yet (are the "
        "workers running and connected to the broker?)"
    ),
    "running": "running on a worker: slow or stuck (read its log)",
    "up_for_retry": "failed a try and waits to retry (read its log for the reason)",
    "up_for_reschedule": "waiting to be rescheduled (read its log)",
    "deferred": "deferred, waiting on the triggerer (is the triggerer running? read its log)",
    "awaiting_input": "waiting for an approver's decision in Airflow",
    "restarting": "being restarted (read its log)",
}


def task_advice(state: str | None) -> str:
    """What a task instance in ``state`` is doing, in the operator's words, and where to look."""
    key = state if state is None else str(state).lower()
    return _WAITING.get(key, f"{state} (read its log)")


def deadline_email(
    release: Release,
    state: str,
    deadline_minutes: float | None,
    deadline_time: str,
    tasks: dict[str, str | None] | None = None,
) -> Email:
    """The alert for a release that is not public within the deadline. ``tasks`` maps each of the run's
    task ids to its task instance's state; the advice is theirs (None: they could not be read)."""
    after = f"{deadline_minutes:g} minutes" if deadline_minutes else "the deadline"
    subject = f"Release LATE: incident {release.incident_id} ({release.stage}) is not public after {after}"
    lines = [
        ("Incident", release.incident_id),
        ("Stage", release.stage),
        ("Run state", state),
    ]
    if tasks:
        unfinished = {t: s for t, s in sorted(tasks.items()) if str(s).lower() not in _ENDED}
        for task_id, task_state in (unfinished or dict(sorted(tasks.items()))).items():
            lines.append((f"Task {task_id}", task_advice(task_state)))
        closing = "The release has neither been published nor failed."
    else:
        lines.append(("Tasks", "their states could not be read: look at the DAG run in Airflow"))
        closing = (
            "The release has neither been published nor failed. A task that is scheduled or queued has not "
            "been taken by a worker (and has no log); one that is running is slow or stuck (read its log)."
        )
    lines += [("Deadline", deadline_time), ("DAG run", f"{release.dag_id} / {release.run_id}")]
    return Email(_subject(subject), _body(lines, closing))


_ENDED = {"success", "failed", "skipped", "upstream_failed", "removed"}


def _subject(text: str) -> str:
    # A subject is one header line: no line breaks, and short enough for a phone's notification.
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"

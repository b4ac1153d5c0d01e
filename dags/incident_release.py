"""Release information about a critical incident: validate, publish, log, render its views, notify, in one
task (``release``) when it waits for nothing; a release that waits for a second person (``approve``) or
for its ``release_at`` (``wait_for_release_at``) is published by ``publish`` after the wait. The site-wide
views (front page, site feeds, changelog head) follow in ``site_views``, which runs once for each batch of
releases. And ``incident_redaction``, the one way published text is removed (one file: the three share
their storage, keys, retry policy and refusal handling).

Trigger it from the Airflow form, the REST API, ``releases submit`` or the inbox. The
trigger form shows one field per part of the update document (see README); the Params
refuse a malformed field before a run exists. The tasks read the submitted document
itself (``dag_run.conf``), not the Params merged with defaults, so an unknown field is
refused rather than silently dropped. All rules live in the ``releases`` package.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Asset, AssetAlias, Metadata, Param, dag, task
from release_alerts import (  # plugins/: the triggerer imports it too
    ReleaseFailureNotifier,
    SiteViewsFailureNotifier,
    release_deadline,
)

from releases import sealing
from releases.document import INCIDENT_ID_PATTERN, param_schemas
from releases.redaction import MAX_REASON, MIN_REASON

PARAMS = {name: Param(**schema) for name, schema in param_schemas().items()}
# One event per published version (its incident, version, stage and page in the event's extra): what a
# release caused shows in Airflow's Assets view, and ``site_views`` runs on these events.
PUBLISHED = Asset(name="incident_releases_published", uri="releases://published", group="releases")
# The tasks that may publish (``release``, ``publish``) name the asset through an alias: an event is emitted
# only when they add one, so a ``release`` that only planned (it waits for approval or its time) causes no
# ``site_views`` run. A task whose outlet is the asset itself would emit one on every success.
PUBLISHED_BY = AssetAlias(name="incident_release_published_by")


# The XCom key each task records its outcome under: published (or redacted), or refused.
OUTCOME = "outcome"

# Storage hiccups are retried quickly: a PIO is waiting for the statement to appear.
RETRY = {"retries": 3, "retry_delay": timedelta(seconds=5), "retry_exponential_backoff": 2.0}


def open_store():
    """(settings, store). Connection look-up happens only here, at task run time, never at parse time."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from releases import settings
    from releases.storage import Store, retry_config

    cfg = settings.load()
    client = S3Hook(aws_conn_id=cfg.aws_conn_id, config=retry_config(cfg)).get_conn()
    return cfg, Store(client, cfg.bucket)


def submission_key(dag_run) -> str:
    """The submission's identity: one DAG run publishes at most one version."""
    return f"{dag_run.dag_id}/{dag_run.run_id}"


def releaser(dag_run) -> str:
    """Who released it: the Airflow user who triggered the run (``releases.pipeline.releaser``)."""
    from releases import pipeline

    return pipeline.releaser(getattr(dag_run, "triggering_user_name", None), dag_run.run_id)


def submitted_at(dag_run) -> datetime:
    """When the run was asked for: ``queued_at`` where the run carries it, else ``run_after`` (a manual
    run's is the moment it was triggered); never the task's start, which may be minutes later."""
    return getattr(dag_run, "queued_at", None) or dag_run.run_after


def secret(conn_id: str) -> str | None:
    """The password of an Airflow connection (a private key), or None if there is no such connection."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id).password
    except AirflowNotFoundException:
        return None


def signer(cfg):
    """The agency's log signer (connection ``releases_signing``), or None: then nothing is logged."""
    from releases import checkpoint, tlog

    private = secret(checkpoint.CONNECTION)
    return tlog.Signer(private, tlog.origin(cfg)) if private else None


def document(dag_run, sealing_key: str | None) -> dict:
    """The run's document as the core reads it: withheld (or removed) text unsealed with the deployment's
    sealing key, in memory only. Only the sealed form is in Airflow's records (``conf``); see
    ``releases.sealing``.
    """
    from releases import sealing

    conf = dict(dag_run.conf or {})
    if not any(conf.get(name) for name in sealing.SEALED_LISTS):
        return conf
    return sealing.unseal_document(conf, sealing_key)


@contextmanager
def refusals_are_outcomes(ti):
    """A refused document is an outcome for the PIO, not a fault for the operator: the task ends *skipped*
    (so the run succeeds, nothing is retried and no failure alert fires), with the refusal in the log and
    in the XCom ``outcome`` (``{"outcome": "refused", "refusals": [...]}``, what ``releases submit`` and the
    desk read). A fault (storage, a bug) still fails and is retried. A run whose stored plan was changed
    after it was sealed (``approval.tampered``) records the same outcome but fails at once, no retry, and
    alerts the operators. See README, "When a release is refused".
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from releases.approval import Tampered
    from releases.checks import refused
    from releases.errors import ReleaseError

    try:
        yield
    except ReleaseError as err:
        outcome = refused(err)
        ti.xcom_push(key=OUTCOME, value=outcome)
        if isinstance(err, Tampered):  # someone changed the run's records: the operators must know
            raise AirflowFailException(outcome["summary"]) from None
        raise AirflowSkipException(outcome["summary"]) from None


def approval_secret() -> str | None:
    """The key that seals the approval step's answer (``releases.approval.seal``): a private key only the
    workers' connections hold (the sealing key, else the signing key)."""
    from releases import checkpoint

    return secret(sealing.CONNECTION) or secret(checkpoint.CONNECTION)


def store_plan(ti, dag_run, **stored) -> None:
    """Keep what the planning task decided for the later tasks in XComs, one per key (the desk and the
    templates read them), with their MAC (``releases.approval.seal_plan``) under ``plan_seal``."""
    from releases import approval

    for key, value in stored.items():
        ti.xcom_push(key=key, value=value)
    mac = approval.seal_plan(stored, submission_key(dag_run), approval_secret())
    ti.xcom_push(key=approval.PLAN_SEAL, value=mac)


def stored_plan(ti, dag_run, task_id: str, *keys: str) -> dict:
    """What the planning task ``task_id`` stored under ``keys``, as it sealed it; ``approval.tampered`` if a
    user changed any of it since (Airflow's REST API lets a PIO edit a run's XComs)."""
    from releases import approval

    stored = {key: ti.xcom_pull(task_ids=task_id, key=key) for key in keys}
    mac = ti.xcom_pull(task_ids=task_id, key=approval.PLAN_SEAL)
    return approval.verify_plan(stored, mac, submission_key(dag_run), approval_secret())


# What ``release`` stores for ``approve``, ``wait_for_release_at`` and ``publish``; ``plan`` of a redaction.
RELEASE_PLAN = ("plan", "preview", "release_at")
REDACTION_PLAN = ("preview",)


class SealedApproval(ApprovalOperator):
    """Airflow's approval step, whose answer (from the triggerer's event, read from Airflow's own record of
    the approver's response) is also kept sealed for this run: the task that publishes trusts only that, so
    a user who may edit XComs or mark tasks done can neither forge an approval nor skip one. The request it
    writes shows the preview its planning task (``plan_task``) sealed, checked here: one changed since is
    ``approval.tampered`` (the task fails, no request is written)."""

    def __init__(self, *, plan_task: str, plan_keys: tuple[str, ...], **kwargs):
        super().__init__(**kwargs)
        self.plan_task, self.plan_keys = plan_task, plan_keys

    def execute(self, context):
        ti, dag_run = context["ti"], context["dag_run"]
        with refusals_are_outcomes(ti):
            stored = stored_plan(ti, dag_run, self.plan_task, *self.plan_keys)
        # The request shows the checked values, not the ones the templates read a moment before.
        self.body = stored["preview"]
        if plan := stored.get("plan"):
            self.subject = (
                f"Approve the release of {plan['incident_id']} v{plan['version']} ({plan['stage']})?"
            )
        return super().execute(context)

    def execute_complete(self, context, event):
        from releases import approval

        answer = super().execute_complete(context=context, event=event)
        key = approval_secret()
        if key:
            sealed = approval.seal(dict(answer), submission_key(context["dag_run"]), key)
            context["ti"].xcom_push(key=approval.SEAL, value=sealed)
        return answer


def approved_answer(dag_run, ti, stage: str, cfg) -> dict | None:
    """The approval the publishing task relies on: None when ``stage`` needs none, else the answer the
    approval step of this very run sealed (``approval.missing`` refused otherwise)."""
    from releases import approval

    if not approval.needs_approval(stage, cfg):
        return None
    sealed = ti.xcom_pull(task_ids="approve", key=approval.SEAL)
    return approval.decide(
        approval.unseal(sealed, submission_key(dag_run), approval_secret()), releaser(dag_run)
    )


class ReleaseAtSensor(DateTimeSensorAsync):
    """Waits for the document's ``release_at`` in the triggerer (no worker held); a time already come
    (no ``release_at``: the plan's own time) ends at once, without a round trip through the triggerer. The
    time is the one ``release`` sealed (``approval.tampered`` if a user changed it since)."""

    def execute(self, context):
        ti = context["ti"]
        with refusals_are_outcomes(ti):
            self.target_time = stored_plan(ti, context["dag_run"], "release", *RELEASE_PLAN)["release_at"]
        if self._moment <= datetime.now(timezone.utc):  # noqa: UP017
            return None
        return super().execute(context)


@dag(
    dag_id="incident_release",
    description="Publish a versioned, correctable statement about a critical incident",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 - as Airflow's own examples
    catchup=False,
    max_active_runs=16,
    tags=["releases"],
    params=PARAMS,
    doc_md=__doc__,
    render_template_as_native_obj=False,
    # Operators' alerts (README, "Operating it"): an e-mail when a release fails (not when it is refused),
    # and one when a release is not public within RELEASES_DEADLINE_MINUTES of its submission.
    default_args={"on_failure_callback": ReleaseFailureNotifier()},
    deadline=release_deadline(),
)
def incident_release():
    @task.branch(outlets=[PUBLISHED_BY], **RETRY)
    def release(dag_run=None, ti=None):
        """Check the document with the incident's history and a ``release_at`` against the run's submission
        time (a refusal ends the run here, skipped: the trigger form skips the desk's check). A release
        that needs no second person and no later ``release_at`` is published here and now, in this one task
        (one task start: issue 14), and the run ends. Otherwise its plan and preview are stored and the run
        goes on to ``approve`` (a second person) or straight to ``wait_for_release_at``, then ``publish``."""
        from releases import pipeline

        cfg, store = open_store()
        log, sealing_key = signer(cfg), secret(sealing.CONNECTION)  # each connection looked up once
        conf = document(dag_run, sealing_key)
        with refusals_are_outcomes(ti):
            records = pipeline.history(conf, store)  # read once, for the plan and the release
            planned = pipeline.plan(
                conf,
                store,
                cfg,
                key=submission_key(dag_run),
                records=records,
                submitted_at=submitted_at(dag_run),
                submitted_by=releaser(dag_run),
            )
        now = datetime.now(timezone.utc)  # noqa: UP017
        later = planned["release_at"] and datetime.fromisoformat(planned["release_at"]) > now
        if planned["approval"] or later:
            store_plan(
                ti,
                dag_run,
                plan={k: v for k, v in planned.items() if k != "preview"},
                preview=planned["preview"],
                release_at=planned["release_at"] or now.isoformat(),
            )
            return "approve" if planned["approval"] else "wait_for_release_at"
        yield from published(dag_run, ti, cfg, store, conf, log, records=records)
        return None  # published: nothing downstream runs

    # A second person's decision (Airflow's human-in-the-loop; answer in the UI's Required Actions, the
    # release desk, or PATCH .../taskInstances/approve/-1/hitlDetails). Reject skips the rest: nothing is
    # published.
    approve = SealedApproval(
        task_id="approve",
        plan_task="release",
        plan_keys=RELEASE_PLAN,
        subject="Approve the release of {{ ti.xcom_pull(task_ids='release', key='plan')['incident_id'] }} "
        "v{{ ti.xcom_pull(task_ids='release', key='plan')['version'] }} "
        "({{ ti.xcom_pull(task_ids='release', key='plan')['stage'] }})?",
        body="{{ ti.xcom_pull(task_ids='release', key='preview') }}",
        params={"note": Param("", type="string", maxLength=1000, title="Note (recorded with the version)")},
        # A resumed task that dies (seen on a loaded test stack when the answer came within a second of the
        # task parking) asks again: a retry clears the answer, it never counts as approved.
        retries=2,
        retry_delay=timedelta(seconds=5),
    )
    # Scheduled release: deferred to the triggerer, no worker held; cancel by marking the run failed.
    wait = ReleaseAtSensor(
        task_id="wait_for_release_at",
        target_time="{{ ti.xcom_pull(task_ids='release', key='release_at') }}",
        trigger_rule="none_failed_min_one_success",
        # A resumed task that dies on a loaded machine (seen once on the test stack: no log after
        # "Pre Execute") waits again and fires at once: the time has passed.
        **RETRY,
    )

    @task(outlets=[PUBLISHED_BY], **RETRY)
    def publish(dag_run=None, ti=None):
        """Publish a release that waited (for its approver, its ``release_at``): the approval is checked
        (the approver is not the submitter; a rejection or one by the submitter ends the run skipped,
        nothing written), then the same steps as ``release``; a retry writes no second version."""
        cfg, store = open_store()
        log, sealing_key = signer(cfg), secret(sealing.CONNECTION)
        conf = document(dag_run, sealing_key)
        with refusals_are_outcomes(ti):
            planned = stored_plan(ti, dag_run, "release", *RELEASE_PLAN)["plan"] or {}
            approved = approved_answer(dag_run, ti, str(conf.get("stage")), cfg)
        # An approval holds for the version its approver was shown (planned by ``release``, sealed): another
        # that lands first is refused as approval.stale, not published on top of it unseen.
        shown = planned.get("version") if approved else None
        yield from published(dag_run, ti, cfg, store, conf, log, approval=approved, approved_version=shown)

    chosen = release()
    chosen >> [approve, wait]
    approve >> wait >> publish()


def published(dag_run, ti, cfg, store, conf, log, **kw):
    """Validate, publish, log, render the incident's page and feeds and fold the version into the archive,
    changelog and catalog, then tell the WebSub hub (``releases.pipeline.release``). Every step is
    idempotent (a version is written once per run), so a retry or a cleared task redoes only what is
    missing. Records the outcome (XCom ``outcome``: version, public page and feed) and emits the asset
    event of the published version, whose extra cues ``site_views``; a run that only planned emits none."""
    from releases import feeds, pipeline

    with refusals_are_outcomes(ti):  # validate refuses before anything is written
        done = pipeline.release(
            conf,
            store,
            cfg,
            key=submission_key(dag_run),
            released_by=releaser(dag_run),
            signer=log,
            site=False,
            **kw,
        )
    page = feeds.version_url(cfg, done["incident_id"], done["version"])
    feed = f"{cfg.base_url}/incidents/{done['incident_id']}/atom.xml"
    ti.xcom_push(key=OUTCOME, value={"outcome": "published", **done, "url": page, "feed": feed})
    yield Metadata(PUBLISHED, extra={**done, "url": page}, alias=PUBLISHED_BY)


incident_release()


SITE_DOC = """The site-wide views: front page and ``index.json``, the site feeds, and (after a correction or a
redaction) the head of the changelog and the corrections feeds, rendered from the catalog the releases
folded their versions into.

Scheduled on the releases' asset events with one active run: events that arrive while it runs are
taken together by the next run, so a burst of releases renders each view a few times, not once per
release. A run with no events (triggered by hand) renders everything.
"""


@dag(
    dag_id="site_views",
    description="Render the front page, site feeds and changelog head after each batch of releases",
    schedule=[PUBLISHED],
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 - as Airflow's own examples
    catchup=False,
    max_active_runs=1,
    tags=["releases"],
    doc_md=SITE_DOC,
    # A failed render of the front page and site feeds is told like a failed release (README, "Operating it").
    default_args={"on_failure_callback": SiteViewsFailureNotifier()},
)
def site_views():
    @task(**RETRY)
    def render(triggering_asset_events=None) -> dict:
        """Render the site-wide views once for every release this run's events name."""
        from releases import pipeline, views

        events = [e for batch in (triggering_asset_events or {}).values() for e in batch]
        extras = [e.extra or {} for e in events]
        # A re-run's event cannot say whether its first run's corrections views were written: compare them.
        corrections = not events or any(x.get("corrections") or not x.get("created") for x in extras)
        # Only re-runs (a cleared release) or a run by hand: write only views whose bytes differ, so a
        # re-run changes no object; new versions change these views, so they are written without asking.
        if_changed = not any(x.get("created") for x in extras)
        # The pages of the tables the releases changed; a run by hand (no events) renders every table's.
        tables = sorted({t for x in extras for t in x.get("tables") or []}) if events else None
        cfg, store = open_store()
        written = views.write_site(store, cfg, corrections=corrections, if_changed=if_changed, tables=tables)
        # keys.json from the keys the tasks hold: one replaced in the bucket is put right.
        written += pipeline.publish_keys(store, secret(sealing.CONNECTION), signer(cfg))
        return {"releases": len(events), "corrections": corrections, "written": written}

    render()


site_views()


REDACTION_DOC = """Remove published text from an incident's history: a recorded redaction.

The one way a published value disappears (see README, "Redaction"). The run's document names the
incident, the text to remove with a category each, and the reason, which is published with it.
The single task records the act as the incident's next version, removes the text from every
version's record and rendering, renders every view again, deletes every superseded object version
and proves the text is gone; it is safe to retry and to clear.
"""

REDACTION_PARAMS = {
    "incident_id": Param(
        type="string",
        pattern=INCIDENT_ID_PATTERN,
        title="Incident ID",
        description="The incident whose published text is to be removed.",
    ),
    "remove": Param(
        type="array",
        minItems=1,
        maxItems=50,
        items=sealing.items_schema(),
        title="Text to remove",
        description="Each item: a category and the text, sealed so Airflow never stores it "
        "(releases redact seals it for you; text typed here is refused).",
    ),
    "reason": Param(
        type="string",
        minLength=MIN_REASON,
        maxLength=MAX_REASON,
        title="Reason (published)",
        description="Why the text is removed; shown with the redaction on every page and feed.",
    ),
}


@dag(
    dag_id="incident_redaction",
    description="Remove published text from an incident's history, as a recorded redaction",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 - as Airflow's own examples
    catchup=False,
    max_active_runs=1,
    tags=["releases"],
    params=REDACTION_PARAMS,
    doc_md=REDACTION_DOC,
)
def incident_redaction():
    @task.branch(**RETRY)
    def plan(dag_run=None, ti=None):
        """Check the request against the records (a refusal ends the run, skipped); then ``approve`` when
        redactions need a second person (``RELEASES_APPROVAL_STAGES``), else straight to ``redact``."""
        from releases import pipeline

        cfg, store = open_store()
        with refusals_are_outcomes(ti):
            planned = pipeline.plan_redaction(document(dag_run, secret(sealing.CONNECTION)), store, cfg)
        store_plan(ti, dag_run, preview=planned["preview"])
        return "approve" if planned["approval"] else "redact"

    approve = SealedApproval(
        task_id="approve",
        plan_task="plan",
        plan_keys=REDACTION_PLAN,
        subject="Approve the redaction of {{ dag_run.conf.get('incident_id') }}?",
        body="{{ ti.xcom_pull(task_ids='plan', key='preview') }}",
        params={"note": Param("", type="string", maxLength=1000, title="Note (recorded with the redaction)")},
    )

    @task(trigger_rule="none_failed_min_one_success", **RETRY)
    def redact(dag_run=None, ti=None) -> dict:
        """Record the redaction, remove the text everywhere, purge old object versions, prove it."""
        from releases import pipeline

        cfg, store = open_store()
        with refusals_are_outcomes(ti):
            approved = approved_answer(dag_run, ti, "redaction", cfg)
            return pipeline.redact(
                document(dag_run, secret(sealing.CONNECTION)),
                store,
                cfg,
                key=submission_key(dag_run),
                released_by=releaser(dag_run),
                signer=signer(cfg),
                approval=approved,
            )

    planned = plan()
    redacted = redact()
    planned >> [approve, redacted]
    approve >> redacted


incident_redaction()

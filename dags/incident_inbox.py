"""Releases dropped as files into the bucket's private ``inbox/``: collect -> release -> file away and settle.

Started by an event, not a clock: the DAG is scheduled on the asset ``incident_inbox``, whose watcher
(``plugins/incident_inbox_watch.py``, in Airflow's triggerer) lists ``inbox/`` every 2 seconds and fires
when there is work: a file waiting, a filed file whose release is published, a refused file past the days
it is kept. An idle inbox costs no DAG run. Runs go one at a time: events that arrive during a run wait
for it, and together start one more.

Each run does all of it: each waiting file is checked like any other submission; a good one
triggers ``incident_release`` (run id from the file's bytes, so never twice), a bad one is filed
under ``inbox/rejected/`` with the reason. A filed file whose release has been published is
replaced by a receipt without its text (usually by the run that the publication itself starts,
seconds later); refused files past their days are deleted. Rules live in ``releases.inbox``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Asset, AssetWatcher, dag, task
from incident_inbox_watch import InboxWatchTrigger  # plugins/: importable by the triggerer too

# What the DAG is scheduled on. The watcher's trigger takes no per-deployment arguments at parse time
# (bucket, connection and days kept are read in the triggerer), so every parse gives the same trigger.
INBOX = Asset(
    name="incident_inbox",
    uri="incident-releases://inbox/",
    watchers=[AssetWatcher(name="incident_inbox_watch", trigger=InboxWatchTrigger())],
)


def _store():
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from releases import settings
    from releases.storage import Store, retry_config

    cfg = settings.load()
    return Store(S3Hook(aws_conn_id=cfg.aws_conn_id, config=retry_config(cfg)).get_conn(), cfg.bucket)


def _sealing_public_key() -> str | None:
    """The public half of the deployment's sealing key (connection ``releases_sealing``), if it has one:
    the inbox seals withheld text before it hands a document to Airflow."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    from releases import sealing

    try:
        return sealing.public_of(Connection.get(sealing.CONNECTION).password)
    except AirflowNotFoundException:
        return None


def _trigger_arguments(submission: dict) -> dict:
    """One release's arguments, from what collect returned (the file's key stays out of the run)."""
    return {"trigger_run_id": submission["trigger_run_id"], "conf": submission["conf"]}


@dag(
    dag_id="incident_inbox",
    description="Release update documents dropped into the bucket's private inbox/",
    schedule=[INBOX],
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 - as Airflow's own examples
    catchup=False,
    max_active_runs=1,
    tags=["releases"],
    doc_md=__doc__,
)
def incident_inbox():
    @task(retries=3, retry_delay=timedelta(seconds=5))
    def collect() -> list[dict]:
        """Check each waiting file; file the bad ones under inbox/rejected/ with the reason. Withheld
        text is sealed before a document is returned: what a task returns is kept by Airflow (XCom)."""
        from releases import inbox, settings

        return inbox.collect(_store(), settings.load(), seal_with=_sealing_public_key())

    # Not all_done: as the one leaf, a success here would mark a run whose collect failed as successful.
    # A skipped trigger (the run exists already) still counts as handled. A run that failed leaves its
    # settling to the next one (the watcher fires again for what is left). One task, not two: each task
    # start costs seconds, and a run started only to settle or expire runs just collect and this.
    @task(retries=3, retry_delay=timedelta(seconds=5), trigger_rule="none_failed")
    def file_and_settle(submissions: list[dict]) -> dict[str, list[str]]:
        """Move the triggered files to inbox/processed/. Replace each filed file whose release is published
        by a receipt; delete its text. Delete refused files older than RELEASES_INBOX_KEEP_REJECTED_DAYS,
        every stored version of them. Each step is idempotent: a retry redoes only what is missing."""
        from releases import inbox, settings

        store = _store()
        return {
            "filed": inbox.archive(store, submissions),
            "settled": inbox.settle(store),
            "expired": inbox.expire_rejected(store, settings.load().inbox_keep_rejected_days),
        }

    submissions = collect()
    release = TriggerDagRunOperator.partial(
        task_id="release",
        trigger_dag_id="incident_release",
        # A file seen again (retry, or dropped twice) has the same run id: skip, don't fail.
        skip_when_already_exists=True,
    ).expand_kwargs(submissions.map(_trigger_arguments))  # in the release task: no task of its own
    release >> file_and_settle(submissions)


incident_inbox()

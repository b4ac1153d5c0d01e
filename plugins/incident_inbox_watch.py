"""The event trigger that starts ``incident_inbox``: it watches the bucket's private ``inbox/`` from
Airflow's triggerer and fires when the DAG has work (``releases.inbox.Watch`` says what that is: a file
waiting, a filed file whose release is published, a refused file past its days). The DAG is scheduled on
an Asset with this trigger as its ``AssetWatcher``: an idle inbox costs one listing every
``poll_interval`` seconds and no DAG run.

Why it lives in ``plugins/``: the triggerer imports a trigger by its class path, so the class must be
importable there. ``dags/`` is not on ``sys.path``, and ``releases/`` (the installed core) must stay free
of Airflow, while every Airflow component puts the plugins folder on ``sys.path`` when Airflow is
imported (``airflow.settings.prepare_syspath_for_config_and_plugins``, Airflow 3.3). The plugins manager
also loads this file as a module of the same name; it defines no plugin. ``make up`` and compose set
``AIRFLOW__CORE__PLUGINS_FOLDER`` to this folder.

What Airflow asks of a trigger used by an ``AssetWatcher``: it subclasses ``BaseEventTrigger``, and its
``serialize()`` gives the same keyword arguments on every parse, since the trigger is identified by the
hash of its class path and arguments (a new hash is a new trigger). So nothing per run goes in them:
the bucket, connection and days kept default to ``None`` and are read from the settings in the
triggerer (the same environment as the tasks). ``run()`` never returns: one long-lived trigger keeps
what it has fired for, and a storage failure is logged and retried, never fatal (a trigger that exits
is only started again by the triggerer's next load, with its memory gone).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from asgiref.sync import sync_to_async

# Fixed, not derived from __module__: the plugins manager and an import from sys.path both load this
# file as `incident_inbox_watch`, and the class path is part of the trigger's identity.
CLASSPATH = "incident_inbox_watch.InboxWatchTrigger"
# After this many seconds of failing listings in a row the trigger polls no faster than this.
MAX_BACKOFF = 60.0


class InboxWatchTrigger(BaseEventTrigger):
    """Fires ``TriggerEvent({"collect": n, "settle": n, "expire": n})`` (counts only: the payload is kept
    in Airflow's records) whenever ``releases.inbox.Watch.poll`` finds work due."""

    def __init__(
        self,
        poll_interval: float = 2.0,
        bucket: str | None = None,
        aws_conn_id: str | None = None,
        keep_rejected_days: int | None = None,
    ) -> None:
        super().__init__()
        self.poll_interval = poll_interval
        self.bucket = bucket
        self.aws_conn_id = aws_conn_id
        self.keep_rejected_days = keep_rejected_days

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "poll_interval": self.poll_interval,
                "bucket": self.bucket,
                "aws_conn_id": self.aws_conn_id,
                "keep_rejected_days": self.keep_rejected_days,
            },
        )

    def _watch(self):
        """The watch, with the connection the DAGs use (a blocking connection look-up: run in a thread)."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from releases import inbox, settings
        from releases.storage import Store, retry_config

        cfg = settings.load()
        client = S3Hook(aws_conn_id=self.aws_conn_id or cfg.aws_conn_id, config=retry_config(cfg)).get_conn()
        days = cfg.inbox_keep_rejected_days if self.keep_rejected_days is None else self.keep_rejected_days
        return inbox.Watch(Store(client, self.bucket or cfg.bucket), days)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        watch = None
        failures = 0
        while True:
            try:
                if watch is None:
                    watch = await sync_to_async(self._watch)()
                due = await sync_to_async(watch.poll)()
                failures = 0
            except Exception:
                failures += 1
                self.log.exception("looking into the inbox failed (%d in a row); trying again", failures)
                due = None
            if due:
                self.log.info("the inbox DAG has work: %s", due)
                yield TriggerEvent(due)
            await asyncio.sleep(min(self.poll_interval * 2**failures, max(MAX_BACKOFF, self.poll_interval)))

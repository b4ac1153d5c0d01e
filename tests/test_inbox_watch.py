"""The inbox is event-driven: a watch in Airflow's triggerer says when ``incident_inbox`` has work (a file
waiting, a filed file whose release is published, a refused file past its days), and nothing else starts
it. Against the real S3 server (SeaweedFS), as the triggerer would list it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from sample import PRELIMINARY

from releases import inbox

SECOND = {**PRELIMINARY, "incident_id": "2026-0150", "headline": "Death in custody at the county jail"}


def put(store, key: str, body: bytes) -> None:
    store.client.put_object(Bucket=store.bucket, Key=key, Body=body)


def not_waiting(store) -> None:
    """Everything the inbox keeps that is not waiting: a filed file whose release has not run, a freshly
    refused one with its reason, a receipt, and a file that is not a submission."""
    put(store, "inbox/processed/filed.json", json.dumps(PRELIMINARY).encode())
    put(store, "inbox/rejected/bad.json", b"{nope")
    put(store, "inbox/rejected/bad.json.error.txt", b"refused: not JSON\n")
    put(store, "inbox/released/inbox__0123.json", b'{"file": "old.json"}')
    put(store, "inbox/notes.txt", b"not a submission")


def test_an_idle_inbox_has_no_work_and_a_dropped_file_has(bucket):
    watch = inbox.Watch(bucket, keep_rejected_days=7)
    now = datetime.now(UTC)
    assert [watch.poll(now + timedelta(seconds=s)) for s in range(3)] == [None, None, None]
    not_waiting(bucket)
    assert [watch.poll(now + timedelta(seconds=s)) for s in range(3, 6)] == [None, None, None]

    put(bucket, "inbox/update.json", json.dumps(SECOND).encode())
    assert watch.poll(now + timedelta(seconds=6)) == {"collect": 1, "settle": 0, "expire": 0}
    # While a run collects it, the same file is no new work; if it is still there a minute later (the run
    # failed), it is due again, then after two minutes, four...
    assert watch.poll(now + timedelta(seconds=8)) is None
    assert watch.poll(now + timedelta(seconds=65)) is None
    assert watch.poll(now + timedelta(seconds=66)) == {"collect": 1, "settle": 0, "expire": 0}
    assert watch.poll(now + timedelta(seconds=185)) is None
    assert watch.poll(now + timedelta(seconds=186)) == {"collect": 1, "settle": 0, "expire": 0}

    # Collected and filed: gone. The same bytes dropped again under the same name are new work at once.
    assert inbox.archive(bucket, inbox.collect(bucket)) == ["inbox/processed/update.json"]
    assert watch.poll(now + timedelta(seconds=190)) is None
    put(bucket, "inbox/update.json", json.dumps(SECOND).encode())
    assert watch.poll(now + timedelta(seconds=191)) == {"collect": 1, "settle": 0, "expire": 0}


def test_a_filed_file_is_work_once_its_release_is_published(bucket):
    from releases import pipeline
    from releases.settings import load

    put(bucket, "inbox/a.json", json.dumps(PRELIMINARY).encode())
    put(bucket, "inbox/b.json", json.dumps(SECOND).encode())
    accepted = inbox.collect(bucket)
    inbox.archive(bucket, accepted)
    watch = inbox.Watch(bucket, keep_rejected_days=7)
    now = datetime.now(UTC)
    assert watch.poll(now) is None  # filed, not released yet

    first = next(a for a in accepted if a["key"] == "inbox/a.json")
    key = f"{inbox.RELEASE_DAG}/{first['trigger_run_id']}"
    pipeline.release(first["conf"], bucket, load(), key=key, released_by="inbox")
    assert watch.poll(now + timedelta(seconds=2)) == {"collect": 0, "settle": 1, "expire": 0}
    assert watch.poll(now + timedelta(seconds=4)) is None

    assert len(inbox.settle(bucket)) == 1  # what the run it starts does
    assert watch.poll(now + timedelta(seconds=6)) is None
    assert bucket.list_keys("inbox/processed/") == ["inbox/processed/b.json"]  # still waiting for its run


def test_a_file_filed_long_ago_is_looked_at_less_often(bucket):
    """A release that failed leaves its file filed until someone runs it again: after ``recent`` the watch
    reads the incident's history every ``check_old_every``, not every poll."""
    from releases import pipeline
    from releases.settings import load

    put(bucket, "inbox/a.json", json.dumps(PRELIMINARY).encode())
    accepted = inbox.collect(bucket)
    inbox.archive(bucket, accepted)
    watch = inbox.Watch(bucket, 7, recent=timedelta(0), check_old_every=timedelta(minutes=5))
    now = datetime.now(UTC) + timedelta(seconds=5)
    assert watch.poll(now) is None
    key = f"{inbox.RELEASE_DAG}/{accepted[0]['trigger_run_id']}"
    pipeline.release(accepted[0]["conf"], bucket, load(), key=key, released_by="inbox")
    assert watch.poll(now + timedelta(minutes=4)) is None
    assert watch.poll(now + timedelta(minutes=5)) == {"collect": 0, "settle": 1, "expire": 0}


def test_a_refused_file_is_work_once_it_has_been_kept_its_days(bucket):
    put(bucket, "inbox/bad.json", b"{nope")
    assert inbox.collect(bucket) == []
    watch = inbox.Watch(bucket, keep_rejected_days=7)
    now = datetime.now(UTC)
    assert watch.poll(now) is None
    assert watch.poll(now + timedelta(days=6)) is None
    later = now + timedelta(days=7, minutes=1)
    assert watch.poll(later) == {"collect": 0, "settle": 0, "expire": 1}
    assert inbox.expire_rejected(bucket, 7, later) == ["inbox/rejected/bad.json"]
    assert watch.poll(later + timedelta(minutes=10)) is None  # the reason stays, and is no work


def test_pending_lists_only_the_top_level_of_the_inbox(bucket):
    not_waiting(bucket)
    put(bucket, "inbox/b.json", b"{}")
    put(bucket, "inbox/a.json", b"{}")
    assert inbox.pending(bucket) == ["inbox/a.json", "inbox/b.json"]


# -- the Airflow trigger ------------------------------------------------------------------------------


def trigger_class():
    import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component
    from incident_inbox_watch import InboxWatchTrigger

    return InboxWatchTrigger


@pytest.mark.slow  # imports Airflow (~5 s)
def test_the_trigger_serializes_to_the_same_arguments_on_every_parse():
    from airflow.triggers.base import BaseEventTrigger

    cls = trigger_class()
    first, second = cls(), cls()
    assert isinstance(first, BaseEventTrigger)
    assert (
        first.serialize()
        == second.serialize()
        == (
            "incident_inbox_watch.InboxWatchTrigger",
            {"poll_interval": 2.0, "bucket": None, "aws_conn_id": None, "keep_rejected_days": None},
        )
    )
    assert BaseEventTrigger.hash(*first.serialize()) == BaseEventTrigger.hash(*second.serialize())
    # The triggerer re-creates it from what serialize() gives.
    classpath, kwargs = first.serialize()
    assert cls(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.slow
def test_the_trigger_fires_for_a_dropped_file_and_stays_quiet_otherwise(bucket):
    """run() with the connection the DAGs use: nothing within several polls of an empty inbox or one
    holding only filed, refused and released files; an event within seconds of a drop."""
    trigger = trigger_class()(poll_interval=0.2, bucket=bucket.bucket)

    async def scenario() -> list[dict]:
        events: asyncio.Queue = asyncio.Queue()

        async def consume() -> None:
            async for event in trigger.run():
                events.put_nowait(event.payload)

        task = asyncio.create_task(consume())
        try:
            await asyncio.sleep(1.5)  # the connection look-up, then several polls
            assert events.empty(), events.get_nowait()
            await asyncio.to_thread(not_waiting, bucket)
            await asyncio.sleep(1.5)
            assert events.empty(), events.get_nowait()
            await asyncio.to_thread(put, bucket, "inbox/update.json", json.dumps(SECOND).encode())
            first = await asyncio.wait_for(events.get(), timeout=5)
            await asyncio.sleep(1.0)  # still there: no event at every poll
            assert events.empty(), events.get_nowait()
            return [first]
        finally:
            task.cancel()

    assert asyncio.run(scenario()) == [{"collect": 1, "settle": 0, "expire": 0}]


@pytest.mark.slow
def test_the_trigger_keeps_watching_when_the_store_fails(bucket, monkeypatch):
    """A failed listing is logged and tried again: a trigger that exits loses what it has fired for."""
    trigger = trigger_class()(poll_interval=0.1, bucket=bucket.bucket)
    calls = {"n": 0}
    real = inbox.Watch.poll

    def flaky(self, now=None):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ConnectionError("store unreachable")
        return real(self, now)

    monkeypatch.setattr(inbox.Watch, "poll", flaky)
    put(bucket, "inbox/update.json", json.dumps(SECOND).encode())

    async def first_event():
        gen = trigger.run()
        try:
            return (await asyncio.wait_for(anext(gen), timeout=10)).payload
        finally:
            await gen.aclose()

    assert asyncio.run(first_event()) == {"collect": 1, "settle": 0, "expire": 0}
    assert calls["n"] == 3

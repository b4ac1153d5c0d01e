"""Concurrent releases: two PIOs at once, or Airflow runs in parallel (``max_active_runs=16``).

Each thread is a separate worker with its own S3 client. Releases for one incident must end
as distinct, contiguous versions with nothing overwritten; a release that loses the
conditional create of ``v<N>.json`` re-plans on the new latest version, so its carried-over
fields and its derived ``changes`` are computed against the version really before it.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.awsrequest import AWSResponse
from sample import PRELIMINARY

from releases import integrity, ledger, pipeline
from releases.document import STATEMENT_FIELDS
from releases.records import canonical, content_hash
from releases.settings import load
from releases.storage import Store, client_from_settings

# Seconds to minutes each (many releases, races, restarts): full suite only, not `make test-fast`.
pytestmark = pytest.mark.slow

IID = PRELIMINARY["incident_id"]
WORKERS = 8


ROUNDS = 10


def _race(n: int, attempt) -> list:
    """Run ``attempt(i)`` in ``n`` threads released at the same instant; returns their results."""
    gate = threading.Barrier(n)

    def run(i: int):
        gate.wait()
        return attempt(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_the_store_s_conditional_create_is_atomic_under_a_race(bucket):
    """8 writers, each with its own connection, create the same key with ``If-None-Match: *`` at once:
    SeaweedFS lets exactly one through, every round, and the key holds that writer's bytes."""
    stores = [worker_store(bucket) for _ in range(WORKERS)]
    for r in range(ROUNDS):
        key = f"race/create-{r}.json"
        won = _race(WORKERS, lambda i, key=key: stores[i].create(key, f"writer {i}".encode()))
        assert won.count(True) == 1, won
        winner = won.index(True)
        assert bucket.get(key) == f"writer {winner}".encode()
        versions = bucket.client.list_object_versions(Bucket=bucket.bucket, Prefix=key)["Versions"]
        assert len(versions) == 1


def test_the_store_s_compare_and_swap_is_atomic_under_a_race(bucket):
    """8 writers hold the same ETag and replace the object with ``If-Match`` at once: exactly one wins
    each round; the others are refused and must re-read (what the private indexes rely on)."""
    stores = [worker_store(bucket) for _ in range(WORKERS)]
    key = "_state/race.json"
    assert bucket.put_if_match(key, b"round -1", None)
    for r in range(ROUNDS):
        _, etag = bucket.get_with_etag(key)
        won = _race(WORKERS, lambda i, r=r, etag=etag: stores[i].put_if_match(key, f"{r}:{i}".encode(), etag))
        assert won.count(True) == 1, won
        assert bucket.get(key) == f"{r}:{won.index(True)}".encode()


def worker_store(bucket: Store) -> Store:
    """A store on its own boto3 client, like a separate Airflow worker."""
    return Store(client_from_settings(load()), bucket.bucket)


class Losses:
    """Counts conditional creates of ``v<N>.json`` that storage refused (412): lost races."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    RECORD = re.compile(r"/incidents/[^/]+/v[0-9]+\.json$")

    def after_call(self, http_response, **kwargs):
        if http_response.status_code == 412 and self.RECORD.search(http_response.url.split("?")[0]):
            with self._lock:
                self.count += 1


def release_all_at_once(bucket: Store, docs: list[dict]) -> tuple[list[dict], int]:
    settings = load()
    losses = Losses()
    # boto3's default session is not thread-safe: create the clients before the threads.
    stores = [worker_store(bucket) for _ in docs]
    for store in stores:
        store.client.meta.events.register("after-call.s3.PutObject", losses.after_call)
    barrier = threading.Barrier(len(docs))

    def run(i: int) -> dict:
        barrier.wait(timeout=30)
        return pipeline.release(docs[i], stores[i], settings, key=f"run-{i}", released_by=f"pio-{i}")

    with ThreadPoolExecutor(max_workers=len(docs)) as pool:
        results = list(pool.map(run, range(len(docs))))
    return results, losses.count


def concurrent_updates() -> list[dict]:
    docs = []
    for i in range(WORKERS):
        doc = {"incident_id": IID, "stage": "updated", "summary": f"Update {i}"}
        if i % 2:
            doc.update(stage="corrected", correction_note=f"Correction {i}: the summary was wrong.")
        docs.append(doc)
    return docs


def object_versions(store: Store, prefix: str) -> Counter:
    counts: Counter = Counter()
    for page in store.client.get_paginator("list_object_versions").paginate(
        Bucket=store.bucket, Prefix=prefix
    ):
        counts.update(v["Key"] for v in page.get("Versions", []))
        counts.update(f"delete-marker:{m['Key']}" for m in page.get("DeleteMarkers", []))
    return counts


def test_concurrent_releases_for_one_incident_become_distinct_contiguous_versions(bucket, s3_endpoint):
    settings = load()
    pipeline.release(PRELIMINARY, bucket, settings, key="run-preliminary", released_by="pio")
    docs = concurrent_updates()

    results, lost = release_all_at_once(bucket, docs)

    # The race really happened: some release lost a conditional create and had to re-plan.
    assert lost >= 1
    total = WORKERS + 1
    assert sorted(r["version"] for r in results) == list(range(2, total + 1))
    assert ledger.version_numbers(bucket, IID) == list(range(1, total + 1))

    # Nothing overwritten: the versioned bucket holds exactly one object version per key.
    expected_keys = {
        ledger.record_key(IID, n, ext) for n in range(1, total + 1) for ext in ("json", "html", "txt")
    }
    versions = object_versions(bucket, f"incidents/{IID}/v")
    assert set(versions) == expected_keys
    assert all(count == 1 for count in versions.values()), versions

    raws = [bucket.get(ledger.record_key(IID, n)) for n in range(1, total + 1)]
    records = [json.loads(raw) for raw in raws]
    # Each submission exactly once, and each returned result is the stored record.
    keys = Counter(r["idempotency_key"] for r in records)
    assert keys == Counter(["run-preliminary", *(f"run-{i}" for i in range(WORKERS))])
    by_key = {r["idempotency_key"]: r for r in records}
    for i, result in enumerate(results):
        assert (result["version"], result["sha256"]) == (
            by_key[f"run-{i}"]["version"],
            by_key[f"run-{i}"]["sha256"],
        )

    for raw, record in zip(raws, records, strict=True):
        assert raw == canonical(record)
        assert record["sha256"] == content_hash(record)
    assert records[0]["prev_sha256"] is None
    for prev, record in zip(records, records[1:], strict=False):
        i = int(record["idempotency_key"].removeprefix("run-"))
        assert record["prev_sha256"] == prev["sha256"]
        # Planned on the record really before it: fields left out carry over from it,
        # and the derived changes are the diff against it, not against a stale read.
        assert record["summary"] == f"Update {i}"
        assert {f: record[f] for f in STATEMENT_FIELDS if f != "summary"} == {
            f: prev[f] for f in STATEMENT_FIELDS if f != "summary"
        }
        assert record["changes"] == [{"field": "summary", "was": prev["summary"], "now": f"Update {i}"}]
        assert record["stage"] == docs[i]["stage"] and record["released_by"] == f"pio-{i}"
        assert record["released_at"] >= prev["released_at"]

    # Every view converged on the final history (index, feeds, changelog, incident page).
    report = integrity.verify(integrity.http_fetcher(f"{s3_endpoint}/{bucket.bucket}"), settings)
    assert report.problems == []
    assert (report.incidents, report.versions) == (1, total)


def test_concurrent_first_releases_of_different_incidents_all_reach_the_site_views(bucket, s3_endpoint):
    settings = load()
    docs = [{**PRELIMINARY, "incident_id": f"2026-{200 + i}"} for i in range(WORKERS)]

    results, lost = release_all_at_once(bucket, docs)

    assert lost == 0  # different incidents never contend for a version number
    assert sorted((r["incident_id"], r["version"]) for r in results) == [(d["incident_id"], 1) for d in docs]
    index = json.loads(bucket.get("index.json"))
    assert sorted(i["incident_id"] for i in index["incidents"]) == [d["incident_id"] for d in docs]
    report = integrity.verify(integrity.http_fetcher(f"{s3_endpoint}/{bucket.bucket}"), settings)
    assert report.problems == []
    assert (report.incidents, report.versions) == (WORKERS, WORKERS)


class ConflictOnce:
    """S3's 409 ConditionalRequestConflict for the first ``times`` PutObjects of one key.

    S3 answers it when conditional writes to one key race; SeaweedFS was never seen to, so it is
    injected before the request is sent. ``during`` runs at the moment of the conflict
    (e.g. the other writer's release landing).
    """

    BODY = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ConditionalRequestConflict</Code>'
        b"<Message>A conflicting operation occurred. If using PutObject you can retry the request."
        b"</Message></Error>"
    )

    def __init__(self, key: str, times: int, during=None) -> None:
        self.key, self.times, self.during = key, times, during
        self.sent: list[int] = []  # per PutObject of ``key``: the status answered (409, or 0 = sent)

    def before_send(self, request, **kwargs):
        if not request.url.split("?")[0].endswith("/" + self.key):
            return None
        if len([s for s in self.sent if s == 409]) >= self.times:
            self.sent.append(0)
            return None
        self.sent.append(409)
        if self.during:
            self.during()
        raw = _Raw(self.BODY)
        headers = {"Content-Type": "application/xml", "Content-Length": str(len(self.BODY))}
        return AWSResponse(request.url, 409, headers, raw)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def test_conditional_request_conflict_is_retried_and_publishes_once(bucket, s3_endpoint):
    settings = load()
    pipeline.release(PRELIMINARY, bucket, settings, key="run-preliminary", released_by="pio")
    store = worker_store(bucket)
    conflict = ConflictOnce(ledger.record_key(IID, 2), times=2)
    store.client.meta.events.register("before-send.s3.PutObject", conflict.before_send)
    update = {"incident_id": IID, "stage": "updated", "summary": "Now in stable condition."}

    result = pipeline.release(update, store, settings, key="run-update", released_by="pio")

    assert conflict.sent == [409, 409, 0]  # retried until storage accepted it
    assert result["version"] == 2
    assert ledger.version_numbers(bucket, IID) == [1, 2]
    assert object_versions(bucket, ledger.record_key(IID, 2)) == Counter({ledger.record_key(IID, 2): 1})
    assert integrity.verify(integrity.http_fetcher(f"{s3_endpoint}/{bucket.bucket}"), settings).problems == []


def test_conflict_with_a_racing_writer_replans_on_its_version(bucket, s3_endpoint):
    """The 409 means another conditional write to v2 raced ours and won: we must become v3."""
    settings = load()
    pipeline.release(PRELIMINARY, bucket, settings, key="run-preliminary", released_by="pio")
    other_store = worker_store(bucket)
    other = {"incident_id": IID, "stage": "updated", "headline": "Shooting near 5th St: one injured"}

    def other_lands():
        pipeline.release(other, other_store, settings, key="run-other", released_by="other")

    store = worker_store(bucket)
    conflict = ConflictOnce(ledger.record_key(IID, 2), times=1, during=other_lands)
    store.client.meta.events.register("before-send.s3.PutObject", conflict.before_send)
    update = {"incident_id": IID, "stage": "updated", "summary": "Now in stable condition."}

    result = pipeline.release(update, store, settings, key="run-update", released_by="pio")

    assert conflict.sent == [409, 0]  # retried; storage then refused the create (v2 taken)
    assert result["version"] == 3
    records = ledger.history(bucket, IID)
    assert [r["idempotency_key"] for r in records] == ["run-preliminary", "run-other", "run-update"]
    assert records[2]["headline"] == other["headline"]  # carried over from the winner
    assert records[2]["changes"] == [
        {"field": "summary", "was": PRELIMINARY["summary"], "now": "Now in stable condition."}
    ]
    assert records[2]["prev_sha256"] == records[1]["sha256"]
    assert all(n == 1 for n in object_versions(bucket, f"incidents/{IID}/v").values())
    assert integrity.verify(integrity.http_fetcher(f"{s3_endpoint}/{bucket.bucket}"), settings).problems == []

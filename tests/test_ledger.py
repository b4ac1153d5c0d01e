"""The ledger against a real S3 endpoint: create-once versions, one per submission."""

from __future__ import annotations

import json

import pytest
from sample import PRELIMINARY, UPDATE

from releases import ledger
from releases.document import parse_update
from releases.errors import StageOrderError
from releases.records import canonical, content_hash


def clock(times):
    it = iter(times)
    return lambda: next(it)


def test_publish_writes_canonical_chained_records(bucket):
    v1 = ledger.publish(
        parse_update(PRELIMINARY),
        bucket,
        key="run-1",
        released_by="pio",
        clock=lambda: "2026-11-21T03:00:00Z",
    )
    v2 = ledger.publish(
        parse_update(UPDATE), bucket, key="run-2", released_by="pio", clock=lambda: "2026-11-21T04:00:00Z"
    )
    raw1 = bucket.get("incidents/2026-0142/v1.json")
    raw2 = bucket.get("incidents/2026-0142/v2.json")
    assert raw1 == canonical(json.loads(raw1))
    assert json.loads(raw1) == v1 and json.loads(raw2) == v2
    assert v1["prev_sha256"] is None and v2["prev_sha256"] == v1["sha256"]
    assert v2["sha256"] == content_hash(v2)
    assert v1["released_by"] == "pio" and v2["version"] == 2


def test_same_submission_twice_creates_one_version(bucket):
    first = ledger.publish(parse_update(PRELIMINARY), bucket, key="run-1", released_by="pio")
    again = ledger.publish(parse_update(PRELIMINARY), bucket, key="run-1", released_by="pio")
    assert again == first
    assert ledger.version_numbers(bucket, "2026-0142") == [1]


def test_losing_a_race_replans_on_the_new_latest(bucket):
    ledger.publish(parse_update(PRELIMINARY), bucket, key="run-1", released_by="pio")
    # Another PIO's update lands between our read and our write: we must become v3,
    # with our changes computed against v2, not overwrite v2.
    real_create = bucket.create
    state = {"raced": False}

    def racing_create(key, body, **kw):
        if not state["raced"]:
            state["raced"] = True
            other = {
                "incident_id": "2026-0142",
                "stage": "updated",
                "headline": "Shooting near 5th St: one injured",
            }
            ledger.publish(parse_update(other), bucket, key="run-other", released_by="other")
        return real_create(key, body, **kw)

    bucket.create = racing_create
    mine = ledger.publish(parse_update(UPDATE), bucket, key="run-2", released_by="pio")
    assert mine["version"] == 3
    assert [c["field"] for c in mine["changes"]] == ["summary"]
    assert ledger.version_numbers(bucket, "2026-0142") == [1, 2, 3]
    assert json.loads(bucket.get("incidents/2026-0142/v2.json"))["idempotency_key"] == "run-other"


def test_refusal_writes_nothing(bucket):
    before = bucket.list_keys("")
    with pytest.raises(StageOrderError):
        ledger.publish(parse_update(UPDATE), bucket, key="run-1", released_by="pio")
    assert bucket.list_keys("") == before == ["keys.json"]

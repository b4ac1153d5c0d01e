"""Retries are owned by botocore (transient faults, bounded by RELEASES_S3_MAX_ATTEMPTS) and Airflow's task
retries; the product retries only a 409 ConditionalRequestConflict, a bounded number of times. A fault is
never reported as a refusal. Faults are injected at the client: no request leaves the process."""

from __future__ import annotations

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from releases.errors import ReleaseError, StorageFault
from releases.settings import Settings, load
from releases.storage import CONFLICT_ATTEMPTS, Store, client_from_settings


def error_response(status: int, code: str) -> AWSResponse:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>x</Message></Error>'
    return AWSResponse(
        "http://127.0.0.1:9/b/k", status, {"Content-Type": "application/xml"}, _Raw(body.encode())
    )


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **kwargs):
        yield self.body


class Persistent:
    """Answer every request of one operation with the same error, counting the HTTP attempts."""

    def __init__(self, status: int, code: str) -> None:
        self.status, self.code, self.attempts = status, code, 0

    def __call__(self, request, **kwargs):
        self.attempts += 1
        return error_response(self.status, self.code)


def faulty_store(settings: Settings, operation: str, fault: Persistent) -> Store:
    client = client_from_settings(settings, aws_access_key_id="k", aws_secret_access_key="s")
    client.meta.events.register(f"before-send.s3.{operation}", fault)
    return Store(client, "bucket")


# botocore backs off between attempts (up to seconds): a few small counts show the bound.
@pytest.mark.parametrize("max_attempts", [1, 2, 3])
def test_a_persistent_slowdown_on_one_get_makes_at_most_the_configured_attempts(max_attempts):
    settings = Settings(s3_endpoint="http://127.0.0.1:9", s3_max_attempts=max_attempts)
    fault = Persistent(503, "SlowDown")
    store = faulty_store(settings, "GetObject", fault)
    with pytest.raises(ClientError) as err:
        store.get("_state/catalog.json")
    assert err.value.response["Error"]["Code"] == "SlowDown"
    assert fault.attempts == max_attempts


def test_the_default_is_four_attempts_and_the_setting_moves_it():
    assert Settings().s3_max_attempts == 4
    assert load({"RELEASES_S3_MAX_ATTEMPTS": "7"}).s3_max_attempts == 7


def test_a_persistent_conditional_conflict_is_retried_a_bounded_number_of_times():
    settings = Settings(s3_endpoint="http://127.0.0.1:9", s3_max_attempts=4)
    fault = Persistent(409, "ConditionalRequestConflict")
    store = faulty_store(settings, "PutObject", fault)
    with pytest.raises(ClientError) as err:
        store.create("incidents/X-1/v1.json", b"{}")
    assert err.value.response["Error"]["Code"] == "ConditionalRequestConflict"
    # botocore does not retry a 409; the store sends the write again CONFLICT_ATTEMPTS times in all.
    assert fault.attempts == CONFLICT_ATTEMPTS


def test_a_refusal_is_not_a_fault_and_a_fault_is_not_a_refusal():
    # The DAG turns ReleaseError into a failure without retries; everything else is retried by Airflow.
    assert not issubclass(StorageFault, ReleaseError)
    assert not issubclass(ClientError, ReleaseError)


def test_losing_the_race_for_a_version_number_every_time_is_a_fault_not_a_refusal(monkeypatch):
    """Heavy contention must reach Airflow's retries, not the PIO as "refused"."""
    from sample import PRELIMINARY

    from releases import ledger
    from releases.document import parse_update

    class AlwaysTaken:
        def create(self, key, body):
            return False  # another writer always got this version number first

    monkeypatch.setattr(ledger, "history", lambda store, iid: [])
    with pytest.raises(StorageFault, match="too many concurrent releases"):
        ledger.publish(
            parse_update(PRELIMINARY), AlwaysTaken(), key="run-1", released_by="pio", max_attempts=3
        )

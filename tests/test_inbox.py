"""The inbox: files dropped into the private inbox/ go through the same checks, and release once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from conftest import ROOT
from sample import PRELIMINARY, UPDATE

from releases import inbox, sealing


def drop(store, name: str, body: bytes) -> None:
    store.client.put_object(Bucket=store.bucket, Key=f"inbox/{name}", Body=body)


def test_collect_accepts_good_files_and_files_bad_ones_with_the_reason(bucket):
    drop(bucket, "a-good.json", json.dumps(PRELIMINARY).encode())
    drop(bucket, "b-unknown-field.json", json.dumps({**UPDATE, "victim": "x"}).encode())
    drop(bucket, "c-not-json.json", b"{nope")
    drop(bucket, "d-huge.json", b"[" + b'"x",' * 20000 + b'"x"]')
    drop(bucket, "notes.txt", b"not a submission")
    bucket.client.put_object(Bucket=bucket.bucket, Key="inbox/processed/old.json", Body=b"{}")

    accepted = inbox.collect(bucket)

    assert [s["key"] for s in accepted] == ["inbox/a-good.json"]
    assert accepted[0]["conf"] == PRELIMINARY
    assert accepted[0]["trigger_run_id"].startswith("inbox__")
    errors = {
        k: bucket.get(k).decode() for k in bucket.list_keys("inbox/rejected/") if k.endswith(".error.txt")
    }
    assert errors == {
        "inbox/rejected/b-unknown-field.json.error.txt": "refused: 'victim': is not a field of the update document "
        "(allowed: incident_id, stage, headline, summary, body, occurred_at, location, agency, contact, "
        "correction_note, released_by, withheld, privacy_override, private_fields, keep_unchanged, language, checklist, release_at)\n"
        # Every refusal at once: the stage rule does not depend on the unknown field.
        "refused: stage: incident 2026-0142 has no release yet; its first release must be preliminary\n",
        "inbox/rejected/c-not-json.json.error.txt": "refused: the file is not valid JSON: "
        "Expecting property name enclosed in double quotes (line 1, column 2)\n",
        "inbox/rejected/d-huge.json.error.txt": "refused: the update document is larger than 65536 bytes\n",
    }
    assert inbox.pending(bucket) == ["inbox/a-good.json"]  # waits until it is triggered
    assert "inbox/notes.txt" in bucket.list_keys("inbox/")  # not ours to touch


def test_same_bytes_same_run_id():
    body = json.dumps(PRELIMINARY).encode()
    assert (
        inbox.submission("inbox/x.json", body)["trigger_run_id"]
        == inbox.submission("inbox/y.json", body)["trigger_run_id"]
    )


SECOND = {**PRELIMINARY, "incident_id": "2026-0150", "headline": "Death in custody at the county jail"}
# A 64 KiB file of brackets: within the size limit, and deeper than Python's JSON parser goes.
DEEP = b"[" * 32768 + b"]" * 32768
POISON = [
    pytest.param(DEEP, "the document is nested more than 8 levels deep", id="too-deep"),
    pytest.param(
        b'{"nope',
        "the file is not valid JSON: Unterminated string starting at (line 1, column 2)",
        id="bad-json",
    ),
    pytest.param(b" " * (2 * 1024 * 1024), "the update document is larger than 65536 bytes", id="too-big"),
    pytest.param(b"", "the file is empty", id="empty"),
    pytest.param(
        json.dumps(PRELIMINARY).encode("utf-16"),
        "the file is not UTF-8 text (byte 1 cannot be read); save it as UTF-8",
        id="utf-16",
    ),
    pytest.param(
        b'{"location": "Stra\xdfe"}',
        "the file is not UTF-8 text (byte 19 cannot be read); save it as UTF-8",
        id="latin-1",
    ),
    pytest.param(
        json.dumps(SECOND)[:-1].encode()
        + b', "withheld": [{"category": "name", "text": "Jo Doe"}], "withheld": []}',
        "withheld: is given twice in the document; give each field once "
        "(JSON readers would silently keep only the last one)",
        id="duplicate-key",
    ),
    pytest.param(
        json.dumps({**SECOND, "contact": "555-0100 \u202etxt.exe"}).encode(),
        "contact: contains an invisible direction control (U+202E RIGHT-TO-LEFT OVERRIDE) at character 10: "
        "it can make the text show differently from what is recorded; remove it (right-to-left text needs "
        "no such character)",
        id="bidi-override",
    ),
    # Rules that need the incident's history or the privacy guard: checked before a run is triggered,
    # so the file is rejected with its reason, not filed as processed (found by an attack).
    pytest.param(
        json.dumps({**UPDATE, "incident_id": "2026-0999"}).encode(),
        "stage: incident 2026-0999 has no release yet; its first release must be preliminary",
        id="update-of-an-unknown-incident",
    ),
    pytest.param(
        json.dumps({**SECOND, "body": "The victim's cell is 555-867-5309."}).encode(),
        "body: ",
        id="private-phone-number",
    ),
]


@pytest.mark.parametrize(("body", "reason"), POISON)
def test_a_file_that_cannot_be_released_is_rejected_with_its_reason_and_holds_up_nothing(
    bucket, body, reason
):
    drop(bucket, "a-poison.json", body)
    drop(bucket, "b-good.json", json.dumps(PRELIMINARY).encode())
    drop(bucket, "c-good.json", json.dumps(SECOND).encode())

    accepted = inbox.collect(bucket)

    assert [s["key"] for s in accepted] == ["inbox/b-good.json", "inbox/c-good.json"]
    refusal = bucket.get("inbox/rejected/a-poison.json.error.txt").decode()
    if reason in ("StageOrderError", "body: "):  # worded by the stage rules and the guard (their tests)
        assert refusal.startswith("refused: ") and (reason == "StageOrderError" or "body:" in refusal), (
            refusal
        )
        assert "555-867-5309" not in refusal  # never the matched text
    else:
        assert refusal == f"refused: {reason}\n"
    assert bucket.get("inbox/rejected/a-poison.json") == body  # kept as it was dropped, for the PIO
    assert inbox.pending(bucket) == ["inbox/b-good.json", "inbox/c-good.json"]
    assert bucket.list_keys("incidents/") == []


def public_status(s3_endpoint, store, key) -> int:
    try:
        with urllib.request.urlopen(f"{s3_endpoint}/{store.bucket}/{key}") as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def test_one_poll_with_a_poisoned_file_first_releases_both_good_files(
    airflow_db, release_dag, bucket, s3_endpoint
):
    """The inbox DAG once: the poisoned file is rejected, both files behind it are released."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun

    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("incident_inbox")
    drop(bucket, "a-poison.json", DEEP)
    drop(bucket, "b-good.json", json.dumps(PRELIMINARY).encode())
    drop(bucket, "c-good.json", json.dumps(SECOND).encode())
    before = {r.run_id for r in DagRun.find(dag_id="incident_release")}

    poll = dag.test()  # one poll
    assert poll.state == "success"
    # Settling (tested below) runs in every run; here nothing is released yet to settle.
    assert poll.get_task_instance("file_and_settle").state == "success"

    triggered = [r for r in DagRun.find(dag_id="incident_release") if r.run_id not in before]
    assert sorted(r.conf["incident_id"] for r in triggered) == ["2026-0142", "2026-0150"]
    assert inbox.pending(bucket) == []
    assert sorted(bucket.list_keys("inbox/")) == [
        "inbox/processed/b-good.json",
        "inbox/processed/c-good.json",
        "inbox/rejected/a-poison.json",
        "inbox/rejected/a-poison.json.error.txt",
    ]
    # dag.test() runs no scheduler: run the two triggered releases as the scheduler would.
    for run in triggered:
        assert release_dag.test(run_conf=run.conf).state == "success"
    for iid in ("2026-0142", "2026-0150"):
        assert public_status(s3_endpoint, bucket, f"incidents/{iid}/index.html") == 200
        assert public_status(s3_endpoint, bucket, f"incidents/{iid}/v1.json") == 200


def stored_versions(store, prefix: str) -> dict[tuple[str, str], bytes]:
    """Every stored version of every object under ``prefix``, current or not."""
    out = {}
    for page in store.client.get_paginator("list_object_versions").paginate(
        Bucket=store.bucket, Prefix=prefix
    ):
        for v in page.get("Versions", []):
            got = store.client.get_object(Bucket=store.bucket, Key=v["Key"], VersionId=v["VersionId"])
            out[(v["Key"], v["VersionId"])] = got["Body"].read()
    return out


def test_a_released_file_is_replaced_by_a_receipt_and_no_version_of_its_text_is_kept(bucket):
    from releases import pipeline
    from releases.settings import load

    secret = "Jamie Doe"
    doc = {
        **PRELIMINARY,
        "body": f"{secret}, 15, was injured.",
        "withheld": [{"category": "juvenile's name", "text": secret}],
    }
    drop(bucket, "update.json", json.dumps(doc).encode())
    drop(bucket, "second.json", json.dumps(SECOND).encode())
    private, public = sealing.generate()
    accepted = inbox.collect(bucket, seal_with=public)
    # What collect returns becomes an XCom and the triggered run's conf: the text is sealed in it.
    assert secret not in json.dumps(accepted)
    inbox.archive(bucket, accepted)
    first = next(a for a in accepted if a["key"] == "inbox/update.json")
    key = f"incident_release/{first['trigger_run_id']}"
    conf = sealing.unseal_document(first["conf"], private)
    published = pipeline.release(conf, bucket, load(), key=key, released_by="inbox")
    # The same name dropped again, not yet collected: another file, left alone.
    drop(bucket, "update.json", json.dumps({**UPDATE, "summary": "Stable."}).encode())

    # Versioning keeps the text twice: where it was dropped (moved away: hidden, not gone) and where filed.
    holding = sorted(
        k for (k, _), body in stored_versions(bucket, "inbox/").items() if secret.encode() in body
    )
    assert holding == ["inbox/processed/update.json", "inbox/update.json"]

    assert inbox.settle(bucket) == [f"inbox/released/{first['trigger_run_id']}.json"]

    receipt = json.loads(bucket.get(f"inbox/released/{first['trigger_run_id']}.json"))
    assert receipt == {
        "file": "update.json",
        "dag_run": key,
        "incident_id": "2026-0142",
        "version": 1,
        "sha256": published["sha256"],
        "released_at": receipt["released_at"],
    }
    # SECOND's release has not run: its file waits, for the PIO, until it has.
    assert sorted(bucket.list_keys("inbox/")) == [
        "inbox/processed/second.json",
        f"inbox/released/{first['trigger_run_id']}.json",
        "inbox/update.json",
    ]
    assert json.loads(bucket.get("inbox/update.json"))["summary"] == "Stable."
    versions = stored_versions(bucket, "inbox/")
    assert [k for k, body in versions.items() if secret.encode() in body] == []
    assert inbox.settle(bucket) == []  # nothing more to settle; repeating changes nothing


def test_a_refused_file_is_deleted_with_every_stored_version_after_the_days_it_is_kept(bucket):
    from datetime import UTC, datetime, timedelta

    secret = "Jamie Doe"
    # Refused (no summary, no body...): the PIO reads the reason beside it, then it must not linger.
    doc = {
        "incident_id": "2026-0142",
        "stage": "preliminary",
        "withheld": [{"category": "name", "text": secret}],
    }
    drop(bucket, "bad.json", json.dumps(doc).encode())
    drop(bucket, "good.json", json.dumps(PRELIMINARY).encode())
    private, public = sealing.generate()
    inbox.collect(bucket, seal_with=public)
    assert bucket.list_keys("inbox/rejected/") == [
        "inbox/rejected/bad.json",
        "inbox/rejected/bad.json.error.txt",
    ]
    holding = sorted(
        k for (k, _), body in stored_versions(bucket, "inbox/").items() if secret.encode() in body
    )
    assert holding == ["inbox/bad.json", "inbox/rejected/bad.json"]

    now = datetime.now(UTC)
    assert inbox.expire_rejected(bucket, 7, now + timedelta(days=6)) == []  # still within the days kept
    assert inbox.expire_rejected(bucket, 7, now + timedelta(days=8)) == ["inbox/rejected/bad.json"]

    assert [k for (k, _), body in stored_versions(bucket, "inbox/").items() if secret.encode() in body] == []
    assert bucket.list_keys("inbox/rejected/") == ["inbox/rejected/bad.json.error.txt"]
    note = bucket.get("inbox/rejected/bad.json.error.txt").decode()
    assert note.startswith("refused: ") and "the file was deleted on" in note and secret not in note
    assert inbox.pending(bucket) == ["inbox/good.json"]  # what is waiting is never touched
    assert inbox.expire_rejected(bucket, 7, now + timedelta(days=9)) == []


def test_a_file_with_withheld_text_is_rejected_where_there_is_no_sealing_key(bucket):
    doc = {**PRELIMINARY, "withheld": [{"category": "name", "text": "Jamie Doe"}]}
    drop(bucket, "update.json", json.dumps(doc).encode())
    assert inbox.collect(bucket, seal_with=None) == []
    reason = bucket.get("inbox/rejected/update.json.error.txt").decode()
    assert reason.startswith("refused: withheld: this deployment has no sealing key")


def test_inbox_dag_triggers_one_release_per_file_and_files_it_away(airflow_db, bucket):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.dagrun import DagRun

    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("incident_inbox")
    body = json.dumps(PRELIMINARY).encode()
    drop(bucket, "2026-0142.json", body)
    assert dag.test().state == "success"

    runs = DagRun.find(dag_id="incident_release")
    mine = [r for r in runs if r.run_id.startswith("inbox__") and r.conf == PRELIMINARY]
    assert len(mine) == 1
    assert bucket.list_keys("inbox/processed/") == ["inbox/processed/2026-0142.json"]
    assert inbox.pending(bucket) == []

    # The same file dropped again: the run already exists, so nothing new is triggered.
    drop(bucket, "again.json", body)
    assert dag.test().state == "success"
    again = [r for r in DagRun.find(dag_id="incident_release") if r.run_id == mine[0].run_id]
    assert len(again) == 1
    assert inbox.pending(bucket) == []

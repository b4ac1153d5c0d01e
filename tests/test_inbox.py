"""The inbox: files dropped into the private inbox/ go through the same checks, and release once."""

from __future__ import annotations

import json

from conftest import ROOT
from sample import PRELIMINARY, UPDATE

from releases import inbox


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
        "correction_note, released_by, withheld, privacy_override)\n",
        "inbox/rejected/c-not-json.json.error.txt": "refused: the file is not valid UTF-8 JSON (JSONDecodeError)\n",
        "inbox/rejected/d-huge.json.error.txt": "refused: the update document is larger than 65536 bytes\n",
    }
    assert inbox.pending(bucket) == ["inbox/a-good.json"]  # waits until it is triggered
    assert "inbox/notes.txt" in bucket.list_keys("inbox/")  # not ours to touch


def test_same_bytes_same_run_id():
    class Fake:
        def __init__(self, body):
            self.body = body

        def get(self, key):
            return self.body

    body = json.dumps(PRELIMINARY).encode()
    assert (
        inbox.read(Fake(body), "inbox/x.json")["trigger_run_id"]
        == inbox.read(Fake(body), "inbox/y.json")["trigger_run_id"]
    )


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

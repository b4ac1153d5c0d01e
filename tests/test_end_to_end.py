"""The real DAG, run with dag.test(), against a real S3 endpoint (moto server on loopback)."""

from __future__ import annotations

import json
import urllib.request

import feedparser
import pytest
from conftest import all_objects
from sample import CORRECTION, PRELIMINARY, UPDATE


def run(dag, conf):
    return dag.test(run_conf=conf).state


def public_get(endpoint, bucket, key):
    try:
        with urllib.request.urlopen(f"{endpoint}/{bucket}/{key}") as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, None, b""


def test_three_stages_through_the_real_dag(release_dag, bucket, s3_endpoint):
    assert run(release_dag, PRELIMINARY) == "success"
    assert run(release_dag, UPDATE) == "success"
    # A name in the document is recorded as whom the release is for, never as who released it.
    assert run(release_dag, {**CORRECTION, "released_by": "Chief of Police"}) == "success"

    objects = all_objects(bucket)
    base = "incidents/2026-0142/"
    versions = sorted(k for k in objects if k.startswith(base + "v") and k.endswith(".json"))
    assert versions == [f"{base}v1.json", f"{base}v2.json", f"{base}v3.json"]
    records = [json.loads(objects[k]) for k in versions]
    assert [r["stage"] for r in records] == ["preliminary", "updated", "corrected"]
    assert records[2]["changes"] == [
        {"field": "location", "was": "5th St and Main St", "now": "6th St and Main St"}
    ]
    assert records[2]["prev_sha256"] == records[1]["sha256"]
    # The user of the DAG run (dag.test() runs as "dag_test"): what the document says cannot replace it.
    assert [(r["released_by"], r["on_behalf_of"]) for r in records] == [
        ("dag_test", None),
        ("dag_test", None),
        ("dag_test", "Chief of Police"),
    ]

    v1_html = objects[base + "v1.html"].decode()
    assert "This information is preliminary and may change." in v1_html
    page = objects[base + "index.html"].decode()
    assert CORRECTION["correction_note"] in page
    assert "<del>5th St and Main St</del>" in page and "<ins>6th St and Main St</ins>" in page

    rows = json.loads(objects["corrections/corrections.json"])
    assert [(r["incident_id"], r["version"], r["field"], r["was"], r["now"]) for r in rows] == [
        ("2026-0142", 3, "Location", "5th St and Main St", "6th St and Main St")
    ]
    assert rows[0]["correction_note"] == CORRECTION["correction_note"]
    csv = objects["corrections/corrections.csv"].decode()
    assert "5th St and Main St" in csv and CORRECTION["correction_note"] in csv
    assert CORRECTION["correction_note"] in objects["corrections/index.html"].decode()

    for feed_key in ("rss.xml", "atom.xml", base + "rss.xml", base + "atom.xml"):
        feed = feedparser.parse(objects[feed_key])
        assert not feed.bozo, (feed_key, feed.bozo_exception)
        ids = [e.id for e in feed.entries]
        assert len(ids) == len(set(ids)) == 3
        assert all("2026-0142" in i for i in ids)
        assert [i.rsplit("/", 1)[-1] for i in ids] == ["v3", "v2", "v1"]
        assert feed.entries[0].title.startswith("CORRECTION (location): ")
        content = (
            feed.entries[0].content[0].value if "content" in feed.entries[0] else feed.entries[0].description
        )
        assert CORRECTION["correction_note"] in content
        assert "5th St and Main St" in content and "6th St and Main St" in content
    for feed_key in ("corrections.rss.xml", "corrections.atom.xml"):
        feed = feedparser.parse(objects[feed_key])
        assert not feed.bozo and [e.id.rsplit("/", 1)[-1] for e in feed.entries] == ["v3"]

    index = objects["index.html"].decode()
    assert "incidents/2026-0142/index.html" in index


def test_published_objects_are_public_with_content_types_and_nothing_else_is(
    release_dag, bucket, s3_endpoint
):
    assert run(release_dag, PRELIMINARY) == "success"
    expected = {
        "incidents/2026-0142/v1.json": "application/json",
        "incidents/2026-0142/v1.html": "text/html; charset=utf-8",
        "incidents/2026-0142/v1.txt": "text/plain; charset=utf-8",
        "incidents/2026-0142/index.html": "text/html; charset=utf-8",
        "incidents/2026-0142/rss.xml": "application/rss+xml",
        "incidents/2026-0142/atom.xml": "application/atom+xml",
        "index.html": "text/html; charset=utf-8",
        "index.json": "application/json",
        "site.json": "application/json",
        "rss.xml": "application/rss+xml",
        "atom.xml": "application/atom+xml",
        "corrections.rss.xml": "application/rss+xml",
        "corrections.atom.xml": "application/atom+xml",
        "corrections/index.html": "text/html; charset=utf-8",
        "corrections/corrections.csv": "text/csv; charset=utf-8",
        "corrections/corrections.excel.csv": "text/csv; charset=utf-8",
        "corrections/corrections.json": "application/json",
        "keys.json": "application/json",  # the sealing key's public half, for releases submit
        "log/head.json": "application/json",  # the signed log (releases witness)
    }
    first = json.loads(bucket.get("incidents/2026-0142/v1.json"))["released_at"]
    for when in (first[:7], first[:10]):  # the month's page lists the days, the day's the incidents
        expected[f"archive/{when}.html"] = "text/html; charset=utf-8"
        expected[f"archive/{when}.json"] = "application/json"
    # The month's releases table: one row per version.
    expected[f"archive/releases-{first[:7]}.json"] = "application/json"
    expected[f"archive/releases-{first[:7]}.csv"] = "text/csv; charset=utf-8"
    keys = set(bucket.list_keys(""))
    assert set(expected) <= keys
    for key, ctype in expected.items():
        status, got_type, body = public_get(s3_endpoint, bucket.bucket, key)
        assert (key, status, got_type) == (key, 200, ctype)
        assert body == bucket.get(key)
    private = keys - set(expected)
    assert private == {"_state/catalog.json"}
    for key in private:
        assert public_get(s3_endpoint, bucket.bucket, key)[0] == 403


REFUSALS = [
    pytest.param([], {**UPDATE}, "stage: incident 2026-0142 has no release yet", id="first-not-preliminary"),
    pytest.param(
        [PRELIMINARY],
        PRELIMINARY,
        "stage: incident 2026-0142 already has a preliminary",
        id="second-preliminary",
    ),
    pytest.param(
        [PRELIMINARY],
        {k: v for k, v in CORRECTION.items() if k != "correction_note"},
        "correction_note: is required when stage is corrected",
        id="correction-without-note",
    ),
    pytest.param(
        [PRELIMINARY],
        {**CORRECTION, "location": PRELIMINARY["location"]},
        "no field differs from version 1",
        id="correction-without-change",
    ),
    pytest.param([], {**PRELIMINARY, "summary": None}, "summary: is required", id="missing-field"),
    pytest.param([], {**PRELIMINARY, "victim": "x"}, "'victim': is not a field", id="unknown-field"),
    pytest.param(
        [PRELIMINARY],
        {**UPDATE, "contact": "555-0100 \u202etxt.exe"},
        "contact: contains an invisible direction control (U+202E RIGHT-TO-LEFT OVERRIDE) at character 10",
        id="bidi-control",
    ),
]


def outcome(dag_run, task_id: str = "release"):
    """The outcome the run's task recorded (XCom ``outcome``), as the REST API gives it."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        found = session.scalars(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="outcome")
        ).first()
        return XComModel.deserialize_value(found) if found is not None else None


@pytest.mark.parametrize(("before", "conf", "message"), REFUSALS)
def test_a_refusal_ends_the_run_refused_not_failed_names_the_field_and_writes_nothing(
    release_dag, bucket, before, conf, message, capfd
):
    """A refused document is not an operator-facing failure: the run succeeds with its one task skipped
    (no retry, no failure alert), the refusal in the task's log and in its XCom ``outcome``."""
    for doc in before:
        assert run(release_dag, doc) == "success"
    snapshot = all_objects(bucket)
    dag_run = release_dag.test(run_conf=conf, refused=True)
    assert dag_run.state == "success"
    ti = dag_run.get_task_instance("release")
    assert (ti.state, ti.try_number) == ("skipped", 1)  # refused once, never retried
    refused = outcome(dag_run)
    assert refused["outcome"] == "refused"
    assert refused["summary"].startswith("refused: ") and message in refused["summary"]
    assert [r["message"] in refused["summary"] for r in refused["refusals"]] == [True]
    assert all_objects(bucket) == snapshot
    # The refusal is what the PIO reads in the task's log, in words, with no traceback.
    log = capfd.readouterr().out
    assert message in log and "Traceback" not in log


def test_a_refusal_is_skipped_with_its_outcome_and_a_fault_still_fails():
    """What the release task does with what the core raises: a refusal ends the task skipped, its outcome
    pushed first; anything else (a storage fault) propagates, so Airflow fails and retries the task."""
    import importlib.util

    from airflow.sdk.exceptions import AirflowSkipException
    from conftest import ROOT

    from releases.errors import InvalidUpdate, StorageFault

    spec = importlib.util.spec_from_file_location(
        "incident_release_dag", ROOT / "dags" / "incident_release.py"
    )
    dag_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dag_module)
    OUTCOME, refusals_are_outcomes = dag_module.OUTCOME, dag_module.refusals_are_outcomes

    pushed = {}

    class TaskInstance:
        def xcom_push(self, key, value):
            pushed[key] = value

    with pytest.raises(AirflowSkipException) as skipped, refusals_are_outcomes(TaskInstance()):
        raise InvalidUpdate("stage", "is required", "stage.required")
    assert str(skipped.value) == "refused: stage: is required"
    assert pushed[OUTCOME] == {
        "outcome": "refused",
        "summary": "refused: stage: is required",
        "refusals": [
            {"field": "stage", "title": "Stage", "rule": "stage.required", "message": "is required"}
        ],
    }
    pushed.clear()
    with pytest.raises(StorageFault), refusals_are_outcomes(TaskInstance()):
        raise StorageFault("the store answered 503")
    assert pushed == {}


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({**PRELIMINARY, "incident_id": "../etc/passwd"}, "incident_id"),
        ({**PRELIMINARY, "occurred_at": "2026-11-20T21:14:00"}, "occurred_at"),
        ({**PRELIMINARY, "stage": "final"}, "stage"),
        ({**PRELIMINARY, "occurred_at": "9999-12-31T23:59:59-12:00"}, "occurred_at"),
        ({**PRELIMINARY, "occurred_at": "0001-01-01T00:00:00+14:00"}, "occurred_at"),
    ],
    ids=["bad-incident-id", "time-without-zone", "unknown-stage", "year-9999", "year-1"],
)
def test_trigger_form_params_refuse_before_any_run(release_dag, bucket, conf, message):
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError) as err:
        release_dag.test(run_conf=conf)
    assert f"Invalid input for param {message}" in str(err.value)
    assert bucket.list_keys("") == ["keys.json"]


def fingerprint(store):
    """sha256 and ETag of every object: any rewrite, even of identical bytes, changes nothing here
    only if the object was truly left alone (ETag/LastModified are what newsrooms' caches key on)."""
    import hashlib

    out = {}
    for key in store.list_keys(""):
        head = store.client.head_object(Bucket=store.bucket, Key=key)
        out[key] = (hashlib.sha256(store.get(key)).hexdigest(), head["ETag"], head["LastModified"])
    return out


def test_rerunning_a_finished_release_changes_nothing(release_dag, bucket):
    from datetime import UTC, datetime

    # dag.test with the same logical date and run_after clears and re-runs the same DAG run
    # (same run_id), as "Clear" on a finished run does in the UI.
    when = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    assert release_dag.test(run_conf=PRELIMINARY, logical_date=when, run_after=when).state == "success"
    before = fingerprint(bucket)
    assert len([k for k in before if k.endswith(".json") and "/v" in k]) == 1

    for _ in range(3):
        assert release_dag.test(run_conf=PRELIMINARY, logical_date=when, run_after=when).state == "success"
    assert fingerprint(bucket) == before


def published_events(dag_run) -> list[tuple[str, dict]]:
    """The run's events on the PUBLISHED asset (what ``site_views`` runs on): (task, extra) each."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.source_task_id, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(
                AssetModel.name == "incident_releases_published", AssetEvent.source_run_id == dag_run.run_id
            )
        ).all()
    return [(task, dict(extra or {})) for task, extra in rows]


def test_a_release_that_waits_for_nothing_is_published_in_one_task_and_a_scheduled_one_waits(
    release_dag, bucket
):
    """Issue 14 on the common path: a preliminary is checked and published by ``release`` alone (one task
    start; approve, wait_for_release_at and publish are skipped) and emits one PUBLISHED event with the
    version. A ``release_at`` still to come: ``release`` only plans (no event, nothing written), the sensor
    waits, ``publish`` publishes and emits the event."""
    from datetime import UTC, datetime, timedelta

    dag_run = release_dag.test(run_conf=PRELIMINARY)
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {
        "release": "success",
        "approve": "skipped",
        "wait_for_release_at": "skipped",
        "publish": "skipped",
    }
    assert outcome(dag_run)["version"] == 1 and outcome(dag_run, "publish") is None
    [(task, extra)] = published_events(dag_run)
    assert task == "release" and (extra["incident_id"], extra["version"], extra["created"]) == (
        PRELIMINARY["incident_id"],
        1,
        True,
    )

    at = (datetime.now(UTC) + timedelta(seconds=5)).isoformat()
    dag_run = release_dag.test(run_conf={**UPDATE, "release_at": at})
    states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
    assert states == {
        "release": "success",
        "approve": "skipped",
        "wait_for_release_at": "success",
        "publish": "success",
    }
    assert outcome(dag_run, "release") is None  # it only planned
    published = json.loads(bucket.get("incidents/2026-0142/v2.json"))
    assert published["released_at"] >= at.replace("+00:00", "")
    [(task, extra)] = published_events(dag_run)
    assert (task, extra["version"]) == ("publish", 2)
    assert outcome(dag_run, "publish")["url"].endswith("/incidents/2026-0142/v2.html")

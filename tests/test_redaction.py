"""Redaction after publication: a name published in three versions is removed by the real
``incident_redaction`` DAG from every object and every object version in the store, the hash chain
still checks, and ``releases verify`` lists the redaction (issue 11, must-show 1). Then the rules:
refusals leave the store as it was, a repeat changes nothing, a forged removal is caught.
"""

from __future__ import annotations

import html
import json
import urllib.error
import urllib.request

import feedparser
import pytest
from conftest import ROOT, all_objects
from sample import PRELIMINARY

from releases import cli, integrity, ledger, pipeline, redaction, sealing
from releases import settings as settings_mod
from releases.errors import InvalidUpdate, NoChangeError
from releases.records import canonical, content_hash

NAME = "Jamie Doe"
IID = PRELIMINARY["incident_id"]
V1 = {
    **PRELIMINARY,
    "summary": f"{NAME}, 15, injured; transported to a hospital.",
    "body": f"At about 9:14 p.m. officers responded to a call near 5th St and Main St.\n\n"
    f"{NAME}, 15, was injured and taken to a hospital. No officers were hurt.",
}
V2 = {
    "incident_id": IID,
    "stage": "corrected",
    "body": V1["body"].replace("15,", "16,"),
    "summary": V1["summary"].replace("15,", "16,"),
    "correction_note": f"{NAME} is 16, not 15.",
}
# The headline and the statement still name 5th St: confirmed (the consistency check).
V3 = {
    "incident_id": IID,
    "stage": "updated",
    "location": "6th St and Main St",
    "keep_unchanged": ["headline", "body"],
}
REQUEST = {
    "incident_id": IID,
    "remove": [{"category": "name", "text": "Doe, Jamie"}],
    "reason": "The person named is a juvenile; state law bars publishing the name.",
}
ATOM_OR_RSS = ("rss.xml", "atom.xml")


@pytest.fixture(scope="module")
def redaction_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag("incident_redaction")


def every_version(store) -> list[tuple[str, str, bytes]]:
    """(key, version id, bytes) of every object version in the bucket, read with the admin's rights."""
    out = []
    pages = store.client.get_paginator("list_object_versions").paginate(Bucket=store.bucket)
    for page in pages:
        for v in page.get("Versions", []):
            got = store.client.get_object(Bucket=store.bucket, Key=v["Key"], VersionId=v["VersionId"])
            out.append((v["Key"], v["VersionId"], got["Body"].read()))
    return out


def names(body: bytes) -> int:
    """How often the name occurs, in either order, with HTML/XML entities and JSON/CSV escapes undone."""
    text = html.unescape(html.unescape(body.decode("utf-8", "replace"))).replace('\\"', '"').lower()
    return text.count("jamie doe") + text.count("doe, jamie")


def anonymous(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.read()
    except urllib.error.HTTPError as err:
        assert err.code in (403, 404), (url, err.code)
        return None


def test_a_redaction_removes_a_published_name_from_every_object_and_version(
    release_dag, redaction_dag, bucket, s3_endpoint, capsys
):
    for doc in (V1, V2, V3):
        assert release_dag.test(run_conf=doc).state == "success"
    before = {r["version"]: r for r in ledger.history(bucket, IID)}
    named = {key for key, _, body in every_version(bucket) if names(body)}
    # The control: the name is everywhere a reader looks before the redaction.
    assert {
        f"incidents/{IID}/v1.json",
        f"incidents/{IID}/v2.html",
        f"incidents/{IID}/index.html",
        "rss.xml",
        "corrections/corrections.csv",
        "corrections.atom.xml",
    } <= named

    # Sealed, as releases redact sends it: the DAG's Params refuse the text in the clear.
    public = json.loads(bucket.get("keys.json"))["sealing"]["public_key"]
    assert redaction_dag.test(run_conf=sealing.seal_document(REQUEST, public)).state == "success"

    # 1. Not in any version of any object in the store, public or private.
    versions = every_version(bucket)
    assert [(k, n) for k, _, body in versions if (n := names(body))] == []
    # 2. Not in anything the anonymous user can fetch: every key, every version id they could name.
    base = f"{s3_endpoint}/{bucket.bucket}"
    for key, version_id, _ in versions:
        for url in (f"{base}/{key}", f"{base}/{key}?versionId={version_id}"):
            body = anonymous(url)
            assert body is None or names(body) == 0, url
    # 3. Every feed, as a reader parses it: no entry names the person; the redaction is an entry.
    for feed_key in (*ATOM_OR_RSS, *(f"incidents/{IID}/{f}" for f in ATOM_OR_RSS)):
        feed = feedparser.parse(anonymous(f"{base}/{feed_key}"))
        text = json.dumps(feed.entries, default=str, ensure_ascii=False)
        assert NAME.lower() not in text.lower()
        assert feed.entries[0].title.startswith("REDACTION:"), feed_key
    page = anonymous(f"{base}/incidents/{IID}/index.html").decode()
    assert "[removed: name, " in page and REQUEST["reason"] in page
    assert "Text removed on" in page and "from versions 1, 2" in page
    # The statement is still preliminary-then-corrected-then-updated: the redaction is not a stage.
    assert '<span class="stage">Updated</span>' in page

    # 4. The chain: every fingerprint a newsroom saved still matches; verify lists the redaction.
    after = {r["version"]: r for r in ledger.history(bucket, IID)}
    assert [after[n]["sha256"] for n in before] == [before[n]["sha256"] for n in before]
    assert all(content_hash(r) == r["sha256"] for r in after.values())
    assert after[4]["stage"] == "redaction" and after[4]["prev_sha256"] == before[3]["sha256"]
    capsys.readouterr()
    assert cli.main(["verify", base]) == 0
    out = capsys.readouterr().out
    assert f"REDACTED incidents/{IID}: redaction v4" in out
    assert "removed v1: body, summary; v2: body, the new value in change 1, the old value in change 1" in out
    assert "OK: 1 incidents, 4 versions checked, 1 redaction" in out
    assert NAME not in out


@pytest.fixture
def released(bucket):
    cfg = settings_mod.load()
    for n, doc in enumerate((V1, V2), 1):
        pipeline.release(doc, bucket, cfg, key=f"incident_release/run-{n}", released_by="pio")
    return cfg


def test_a_repeated_redaction_changes_nothing(bucket, released):
    first = pipeline.redact(REQUEST, bucket, released, key="incident_redaction/r1", released_by="sup")
    objects = all_objects(bucket)
    again = pipeline.redact(REQUEST, bucket, released, key="incident_redaction/r1", released_by="sup")
    assert again["version"] == first["version"] == 3
    assert again["records_changed"] == [] and again["object_versions_purged"] == 0
    assert all_objects(bucket) == objects


def test_a_redaction_stopped_after_recording_the_act_is_finished_by_its_retry(bucket, released):
    request = redaction.parse_request(REQUEST)
    act = redaction._record_act(
        request, bucket, key="incident_redaction/r1", released_by="sup", clock=ledger.utc_now, max_attempts=3
    )
    assert NAME.encode() in bucket.get(f"incidents/{IID}/v1.json")  # the crash: nothing else happened
    done = pipeline.redact(REQUEST, bucket, released, key="incident_redaction/r1", released_by="sup")
    assert done["version"] == act["version"] and done["records_changed"] == [1, 2]
    assert [k for k, _, body in every_version(bucket) if names(body)] == []


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"remove": [{"category": "name", "text": "Jamie Dough"}]}, "remove", "item 1 (name) is not in any"),
        ({"reason": "Because Jamie Doe is a juvenile"}, "reason", "contains the text of remove item 1"),
        ({"reason": "short"}, "reason", "must say why in 10 to 300 characters"),
        ({"reason": "Call the family at 555-234-5678 first"}, "reason", "a phone number"),
        ({"incident_id": "2026-9999"}, "incident_id", "has no release to redact"),
        (
            {"remove": [{"category": "name", "text": "2026-0142"}]},
            "remove",
            "not text a redaction can remove",
        ),
        ({"withheld": []}, "withheld", "is not a field of a redaction request"),
    ],
)
def test_a_refused_redaction_names_the_field_and_rule_and_writes_nothing(
    bucket, released, change, field, words
):
    objects = all_objects(bucket)
    with pytest.raises((InvalidUpdate, NoChangeError)) as refusal:
        pipeline.redact({**REQUEST, **change}, bucket, released, key="incident_redaction/r", released_by="s")
    assert refusal.value.field == field and words in refusal.value.rule
    assert NAME not in str(refusal.value)
    assert all_objects(bucket) == objects


def test_a_removed_value_without_a_redaction_record_is_reported_by_verify(bucket, released):
    """Replacing a value and keeping its commitment keeps the hash; verify still catches it, because
    only a redaction record in the chain may remove a value."""
    key = ledger.record_key(IID, 1)
    record = json.loads(bucket.get(key))
    from releases.records import commitment

    salt = record["salts"].pop("/body")
    record["redactions"] = {
        "/body": {"commitment": commitment("/body", salt, record["body"]), "by_version": 9}
    }
    record["body"] = "Nothing happened."
    assert content_hash(record) == record["sha256"]
    bucket.replace(key, canonical(record))
    report = integrity.verify(bucket.get, released, list_keys=bucket.list_keys)
    assert f"{key}: body was removed without a redaction record that lists it" in report.problems


def test_verify_output_lists_each_redaction(bucket, released):
    pipeline.redact(REQUEST, bucket, released, key="incident_redaction/r1", released_by="sup")
    report = integrity.verify(bucket.get, released, list_keys=bucket.list_keys)
    assert report.ok, report.problems
    assert len(report.redactions) == 1
    line = report.redactions[0]
    assert "redaction v3" in line and "by sup" in line and REQUEST["reason"] in line


def test_a_second_redaction_of_the_same_text_says_it_may_be_removed_already(bucket, released):
    pipeline.redact(REQUEST, bucket, released, key="incident_redaction/r1", released_by="sup")
    with pytest.raises(NoChangeError) as refusal:
        pipeline.redact(REQUEST, bucket, released, key="incident_redaction/r2", released_by="sup")
    assert refusal.value.rule == (
        f"item 1 (name) is not in any version of incident {IID}: check its spelling, or it was removed "
        "already (by the redaction in version 3); nothing was changed"
    )


def test_a_redacted_entry_says_when_it_was_changed_and_keeps_the_mark(bucket, released):
    import feedparser

    pipeline.redact(
        REQUEST,
        bucket,
        released,
        key="incident_redaction/r1",
        released_by="sup",
        clock=lambda: "2026-12-01T10:00:00Z",
    )
    feed = feedparser.parse(bucket.get(f"incidents/{IID}/atom.xml"))
    v1 = next(e for e in feed.entries if e.id.endswith("/v1"))
    assert v1.updated.startswith("2026-12-01T10:00:00") and v1.published != v1.updated
    # A removed value must still show where the text was: one edited to say anything else is caught.
    key = ledger.record_key(IID, 1)
    record = json.loads(bucket.get(key))
    record["body"] = "Nothing happened."
    bucket.replace(key, canonical(record))
    report = integrity.verify(bucket.get, released, list_keys=bucket.list_keys)
    assert (
        f"{key}: body is listed as redacted but shows no [removed: …] mark where the text was"
        in report.problems
    )


def test_a_redacted_value_rewritten_later_is_caught(bucket, released):
    """Found by an attack: after a genuine redaction, the rest of a redacted value was rewritten around its
    mark. The redaction record commits to the text each value was left with."""
    pipeline.redact(REQUEST, bucket, released, key="incident_redaction/r1", released_by="sup")
    key = ledger.record_key(IID, 1)
    record = json.loads(bucket.get(key))
    mark = record["body"][record["body"].index("[removed: ") :].split("]")[0] + "]"
    record["body"] = f"{mark} took his own life in a cell; no officer was involved."
    bucket.replace(key, canonical(record))
    report = integrity.verify(bucket.get, released, list_keys=bucket.list_keys)
    assert (
        f"{key}: body was changed after its redaction: it is not the text the redaction left"
        in report.problems
    )


def test_the_redaction_s_approval_request_shows_the_reason_as_written_not_as_markdown(bucket, released):
    """The reason is the requester's text: in the approval request (rendered as Markdown by Airflow's UI)
    it reads as typed, no image fetched by the approver's browser, no bold line of the request faked."""
    from markdown_it import MarkdownIt

    reason = "Juvenile named. ![beacon](http://localhost:8798/b.png) **Approved already**"
    planned = pipeline.plan_redaction({**REQUEST, "reason": reason}, bucket, released)
    html = MarkdownIt("gfm-like").render(planned["preview"])
    assert "<img" not in html and html.count("<strong>") == 1  # the request's own title only
    assert "Juvenile named. ![beacon](http://localhost:8798/b.png) **Approved already**" in html
    assert NAME not in planned["preview"]

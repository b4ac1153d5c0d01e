"""The pre-release checklist, recorded in the version (issue 16): the one check accepts a document that
confirms every item and refuses, naming the field and the rule, an unknown item, a missing one and (when the
deployment requires it) a document without it; the release records each confirmed item's id and its text
as it read then, under the releaser's name; verify and the witness accept histories with and without it;
the pages, the wire text and the JSON record show it. Releases run the real pipeline on SeaweedFS."""

from __future__ import annotations

import json
import re

import pytest
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamValidationError
from sample import PRELIMINARY, UPDATE

from releases import checklist, checks, integrity, ledger, pipeline, tlog
from releases import settings as settings_mod
from releases.document import param_schemas
from releases.errors import InvalidUpdate
from releases.witness import witness

PACKAGED = checklist.read()
ALL = list(PACKAGED.ids)


def refusals(doc, cfg=None, records=()):
    return [(r.field, r.rule, r.message) for r in checks.check(doc, list(records), cfg)]


def test_the_packaged_checklist_names_what_a_pio_confirms():
    text = " ".join(i.text for i in PACKAGED.items).lower()
    assert "juvenile" in text and "victim" in text and "next of kin" in text
    assert "no-juvenile-names" in ALL and "next-of-kin" in ALL


def test_a_document_confirming_every_item_is_accepted_and_one_without_a_checklist_too_by_default():
    assert refusals({**PRELIMINARY, "checklist": ALL}) == []
    assert refusals({**PRELIMINARY, "checklist": list(reversed(ALL))}) == []
    assert refusals(PRELIMINARY) == []  # RELEASES_REQUIRE_CHECKLIST is off unless set


def test_an_unknown_item_and_the_missing_ones_are_refused_naming_the_field_and_each_item():
    got = refusals({**PRELIMINARY, "checklist": ["next-of-kin", "victims-named"]})
    missing = [f"\u201c{i.text}\u201d" for i in checklist.read().items if i.id != "next-of-kin"]
    everything = "; ".join(f"\u201c{i.text}\u201d" for i in checklist.read().items)
    assert got == [
        (
            "checklist",
            "checklist.unknown",
            f"names 'victims-named', which is not an item of the checklist (its items: {', '.join(ALL)})",
        ),
        (
            "checklist",
            "checklist.incomplete",
            f"must confirm every item of the checklist; not confirmed: {'; '.join(missing)}",
        ),
    ]
    assert str(checks.check({**PRELIMINARY, "checklist": []})[0]) == (
        f"checklist: must confirm every item of the checklist; not confirmed: {everything}"
    )
    # The items' words, as the desk and the trigger form show them; no id a PIO never sees.
    assert "no-juvenile-names" not in got[1][2] and "No juvenile's name" in got[1][2]


@pytest.mark.parametrize("value", ["next-of-kin", [1], [None], ["next-of-kin", "next-of-kin"], {"a": 1}])
def test_a_checklist_that_is_not_a_list_of_ids_each_once_is_refused(value):
    assert [r[:2] for r in refusals({**PRELIMINARY, "checklist": value})] == [
        ("checklist", "checklist.format")
    ]


def test_the_checklist_is_reported_with_the_document_s_other_mistakes_at_once():
    got = refusals({**PRELIMINARY, "headline": "", "checklist": ["next-of-kin"]})
    assert [r[:2] for r in got] == [
        ("headline", "preliminary.field_required"),
        ("checklist", "checklist.incomplete"),
    ]


def test_a_deployment_that_requires_it_refuses_a_document_without_it_on_every_path_of_the_check():
    cfg = settings_mod.load({"RELEASES_REQUIRE_CHECKLIST": "true"})
    required = [
        (
            "checklist",
            "checklist.required",
            "is required by this deployment: confirm each item of the pre-release checklist "
            f"({'; '.join(chr(0x201C) + i.text + chr(0x201D) for i in checklist.read().items)}) before releasing",
        )
    ]
    assert refusals(PRELIMINARY, cfg) == required
    # Without the history (releases validate that cannot reach the site) and for an update.
    assert [(r.field, r.rule, r.message) for r in checks.check(UPDATE, None, cfg)] == required
    assert refusals({**PRELIMINARY, "checklist": ALL}, cfg) == []
    with pytest.raises(ValueError, match="RELEASES_REQUIRE_CHECKLIST: must be true or false"):
        settings_mod.load({"RELEASES_REQUIRE_CHECKLIST": "sometimes"})


def test_the_inbox_checks_the_checklist_against_the_deployment_s_settings(bucket):
    from releases import inbox

    required = settings_mod.load({"RELEASES_REQUIRE_CHECKLIST": "true"})
    bucket.put_if_changed("inbox/without.json", json.dumps(PRELIMINARY).encode(), public=False)
    with_it = {**PRELIMINARY, "incident_id": "2026-0143", "checklist": ALL}
    bucket.put_if_changed("inbox/with.json", json.dumps(with_it).encode(), public=False)
    accepted = inbox.collect(bucket, required)
    assert [a["conf"]["incident_id"] for a in accepted] == ["2026-0143"]
    (reason,) = [k for k in bucket.list_keys("inbox/rejected/") if k.endswith(".error.txt")]
    assert bucket.get(reason).decode().startswith("refused: checklist: is required by this deployment")


def write_checklist(path, items) -> str:
    path.write_text(json.dumps({"items": [{"id": i, "text": t} for i, t in items]}), encoding="utf-8")
    return str(path)


def test_the_items_come_from_the_file_the_setting_names(tmp_path):
    path = write_checklist(
        tmp_path / "ours.json", [("kin", "Next of kin told"), ("chief", "The chief knows")]
    )
    cfg = settings_mod.load({"RELEASES_CHECKLIST": path})
    assert refusals({**PRELIMINARY, "checklist": ["kin", "chief"]}, cfg) == []
    assert [r[1] for r in refusals({**PRELIMINARY, "checklist": ALL}, cfg)] == [
        "checklist.unknown",
        "checklist.incomplete",
    ]


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        ("{nope", "is not a JSON file"),
        ('{"items": []}', "with at least one item"),
        ('{"items": [{"id": "Kin Told", "text": "x"}]}', "item 1: id must be 1-64 lower-case letters"),
        ('{"items": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}', "item 2: id a is given twice"),
        ('{"items": [{"id": "a", "text": "two\\nlines"}]}', "item 1: text must be a single line"),
        ('{"items": [{"id": "a"}]}', "item 1 must have exactly an id and a text"),
    ],
)
def test_a_checklist_file_that_is_not_one_is_refused_at_start_naming_the_setting(tmp_path, content, rule):
    (tmp_path / "c.json").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=f"RELEASES_CHECKLIST: .*c.json: .*{re.escape(rule)}"):
        settings_mod.load({"RELEASES_CHECKLIST": str(tmp_path / "c.json")})
    with pytest.raises(ValueError, match="RELEASES_CHECKLIST: .*cannot be read"):
        settings_mod.load({"RELEASES_CHECKLIST": str(tmp_path / "missing.json")})


def test_the_trigger_form_offers_the_checklist_s_ids_and_refuses_others():
    schema = param_schemas()["checklist"]
    assert schema["items"]["enum"] == ALL
    # A multi-select in Airflow's form, each item shown in its words.
    assert schema["examples"] == ALL
    assert schema["values_display"] == {i.id: i.text for i in PACKAGED.items}
    param = Param(**schema)
    assert param.resolve(value=ALL) == ALL
    assert param.resolve(value=None) is None
    with pytest.raises(ParamValidationError, match="victims-named"):
        Param(**schema).resolve(value=["victims-named"])


# -- the record ------------------------------------------------------------------------------------------


@pytest.fixture
def site(bucket, s3_endpoint, seaweed, monkeypatch):
    monkeypatch.setenv("RELEASES_LOG_KEY", seaweed.log_vkey(tlog.origin(settings_mod.load())))
    signer = tlog.Signer(seaweed.signing_key(), tlog.origin(settings_mod.load()))

    def release(doc, n):
        # Settings read at run time, as the DAG's task does: a changed checklist file is read anew.
        return pipeline.release(
            doc,
            bucket,
            settings_mod.load(),
            key=f"incident_release/run-{n}",
            released_by="pio",
            signer=signer,
        )

    return bucket, release, integrity.http_fetcher(f"{s3_endpoint}/{bucket.bucket}")


def test_the_version_records_what_was_confirmed_as_it_read_then_and_verify_and_the_witness_accept_it(
    site, tmp_path, monkeypatch
):
    store, release, fetch = site
    release({**PRELIMINARY, "checklist": ALL}, 1)
    v1 = json.loads(fetch("incidents/2026-0142/v1.json"))
    assert v1["checklist"] == [{"id": i.id, "text": i.text} for i in PACKAGED.items]
    assert v1["released_by"] == "pio"  # who confirmed it: the releaser

    # The agency rewords an item; the next version records the new words, the first keeps its own.
    path = write_checklist(tmp_path / "c.json", [("next-of-kin", "Next of kin were told in person")])
    monkeypatch.setenv("RELEASES_CHECKLIST", path)
    release({**UPDATE, "checklist": ["next-of-kin"]}, 2)
    # An update without a checklist: an old-style record, without the key (the deployment does not
    # require it).
    release({**UPDATE, "summary": "Two adults injured."}, 3)
    records = ledger.history(store, "2026-0142")
    assert records[0] == v1
    assert records[1]["checklist"] == [{"id": "next-of-kin", "text": "Next of kin were told in person"}]
    assert "checklist" not in records[2]

    report = integrity.verify(fetch, settings_mod.load())
    assert report.problems == []
    assert witness(fetch, None).ok

    page = fetch("incidents/2026-0142/v1.html").decode()
    assert 'Checked before release by <span dir="auto">pio</span>:' in page
    assert "<li>Next of kin have been notified</li>" in page
    history = fetch("incidents/2026-0142/index.html").decode()
    assert "<li>Next of kin were told in person</li>" in history
    assert "<li>Next of kin have been notified</li>" in history
    assert history.count("Checked before release by") == 2
    wire = fetch("incidents/2026-0142/v2.txt").decode()
    assert "Checked before release by pio:\n- Next of kin were told in person\n" in wire
    assert "Checked before release" not in fetch("incidents/2026-0142/v3.html").decode()


def test_a_checklist_entry_holds_an_id_and_the_agency_s_words_only(site):
    store, release, fetch = site
    doc = {
        **PRELIMINARY,
        "body": PRELIMINARY["body"] + " The driver, Jamie Doe, was arrested.",
        "withheld": [{"category": "name", "text": "Jamie Doe"}],
        "checklist": ALL,
    }
    release(doc, 1)
    raw = fetch("incidents/2026-0142/v1.json")
    record = json.loads(raw)
    assert all(set(item) == {"id", "text"} for item in record["checklist"])
    assert b"Jamie Doe" not in raw


def test_a_changed_checklist_item_in_a_record_is_caught_by_verify(site):
    store, release, fetch = site
    release({**PRELIMINARY, "checklist": ALL}, 1)
    key = "incidents/2026-0142/v1.json"
    forged = fetch(key).replace(b"Next of kin have been notified", b"Next of kin were not reached")
    store.client.put_object(**store._put_args(key, forged, True, "public, max-age=60"))
    problems = integrity.verify(fetch, settings_mod.load()).problems
    assert any("sha256 does not match" in p for p in problems), problems


def test_the_release_itself_refuses_an_incomplete_or_required_checklist_and_writes_nothing(site, monkeypatch):
    store, release, fetch = site
    with pytest.raises(InvalidUpdate) as err:
        release({**PRELIMINARY, "checklist": ["next-of-kin"]}, 1)
    assert (err.value.field, err.value.code) == ("checklist", "checklist.incomplete")
    monkeypatch.setenv("RELEASES_REQUIRE_CHECKLIST", "true")
    with pytest.raises(InvalidUpdate) as err:
        release(PRELIMINARY, 2)
    assert (err.value.field, err.value.code) == ("checklist", "checklist.required")
    assert store.list_keys("incidents/") == []


def test_a_redaction_does_not_carry_the_checklist_over_and_the_history_still_verifies(site, seaweed):
    """A redaction record is the redactor's act, not a release: it claims no confirmation of its own."""
    from releases import redaction

    store, release, fetch = site
    release({**PRELIMINARY, "checklist": ALL}, 1)
    cfg = settings_mod.load()
    request = redaction.parse_request(
        {
            "incident_id": "2026-0142",
            "remove": [{"category": "place", "text": "5th St and Main St"}],
            "reason": "The address was published before the family was told.",
        }
    )
    signer = tlog.Signer(seaweed.signing_key(), tlog.origin(cfg))
    redaction.apply(request, store, cfg, key="incident_redaction/r1", released_by="sup", signer=signer)
    v1, v2 = ledger.history(store, "2026-0142")
    assert v2["stage"] == "redaction" and "checklist" not in v2
    assert [i["id"] for i in v1["checklist"]] == ALL
    assert integrity.verify(fetch, cfg).problems == []
    assert witness(fetch, None).ok

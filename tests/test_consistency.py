"""The consistency check (issue 15, must-show 1): correcting ``location`` while the headline, the summary
and the statement still hold the old value is refused with each field named and the old value quoted,
before anything is written; confirming them publishes, and the record holds the confirmation, which the
history shows and ``releases verify`` and the witness accept."""

from __future__ import annotations

import json

import pytest
from conftest import all_objects
from sample import PRELIMINARY, history

from releases import checks, consistency, integrity, pipeline, tlog
from releases import settings as settings_mod
from releases.document import parse_update
from releases.errors import InconsistentUpdate
from releases.stages import plan
from releases.witness import witness

OLD = "5th St and Main St"
FIRST = {**PRELIMINARY, "summary": f"One adult injured near {OLD}; transported to a hospital."}
CORRECTION = {
    "incident_id": PRELIMINARY["incident_id"],
    "stage": "corrected",
    "location": "6th St and Main St",
    "correction_note": "The first statement gave the wrong cross street; body-camera video shows 6th St.",
}
# An update that leaves the old location standing where it was.
UPDATE = {
    "incident_id": PRELIMINARY["incident_id"],
    "stage": "updated",
    "contact": "PIO, pio@example.org, 555-0101",
}
STALE = ["headline", "summary", "body"]
QUOTED = f"still contains “{OLD}”, the location this release changes to “6th St and Main St”"


def test_the_check_names_every_field_that_still_holds_the_old_value():
    records = history((FIRST, UPDATE))
    refusals = checks.check(CORRECTION, records)
    assert [(r.field, r.rule) for r in refusals] == [(f, "consistency.old_value") for f in STALE]
    assert str(refusals[0]) == (
        f"headline: {QUOTED}: change the headline too, or, if it is right as it is, confirm it by listing "
        "headline under keep_unchanged"
    )
    assert str(refusals[2]).startswith(f"body: {QUOTED}: change the statement too")
    # Confirming two leaves the third.
    partly = checks.check({**CORRECTION, "keep_unchanged": ["headline", "body"]}, records)
    assert [(r.field, r.rule) for r in partly] == [("summary", "consistency.old_value")]
    # Changing them, or confirming each, passes; the confirmation is part of the next version.
    assert checks.check({**CORRECTION, "keep_unchanged": STALE}, records) == []
    content = plan(parse_update({**CORRECTION, "keep_unchanged": STALE}), records[-1])
    assert content["kept_unchanged"] == [{"field": f, "changed": "location"} for f in STALE]
    fixed = {name: FIRST[name].replace("5th St", "6th St") for name in STALE}
    assert checks.check({**CORRECTION, **fixed}, records) == []
    assert "kept_unchanged" not in plan(parse_update({**CORRECTION, **fixed}), records[-1])


def test_an_update_is_checked_too_and_only_whole_words_count():
    records = history((FIRST,))
    update = {"incident_id": FIRST["incident_id"], "stage": "updated", "agency": "Springfield Police"}
    # The agency's old name is not in the statement: nothing to report.
    assert checks.check(update, records) == []
    moved = {"incident_id": FIRST["incident_id"], "stage": "updated", "location": "Main St"}
    # "Main St" is still true in "5th St and Main St"? No: the old value as a whole is what must not stand.
    assert [r.field for r in checks.check(moved, records)] == STALE
    assert not consistency.contains("near 5th St and Main Street", "Main St")
    assert consistency.contains("near 5TH  st and main st.", OLD)  # case and spaces aside


def test_a_change_that_only_adds_to_the_old_value_is_not_reported():
    records = history((FIRST,))
    refined = {
        "incident_id": FIRST["incident_id"],
        "stage": "updated",
        "location": f"{OLD}, in front of the library",
    }
    assert checks.check(refined, records) == []


def test_a_hidden_old_value_cannot_be_confirmed_and_is_never_quoted():
    records = history((FIRST,))
    hidden = {
        **CORRECTION,
        "private_fields": ["location"],
        "keep_unchanged": STALE,
        "summary": "One adult injured.",
        "body": "Officers responded to a call.",
    }
    refusals = checks.check(hidden, records)
    assert [(r.field, r.rule) for r in refusals] == [("headline", "consistency.hidden_value")]
    assert OLD not in str(refusals[0])
    assert str(refusals[0]) == (
        "headline: still contains the earlier location, which this release hides: change the headline too "
        "(kept as it is, it would publish the hidden text again)"
    )


def test_a_hidden_old_value_cannot_come_back_through_the_correction_note():
    """Found by an attack: the note quoted the sentence private_fields hid, and the changelog, its CSVs and
    every corrections feed published it next to "[removed]"."""
    first = {**PRELIMINARY, "body": "The detainee Zebulon Quaxley was found unresponsive."}
    records = history((first,))
    fix = {
        "incident_id": PRELIMINARY["incident_id"],
        "stage": "corrected",
        "body": "The detainee was found unresponsive.",
        "private_fields": ["body"],
        "correction_note": "We removed 'The detainee Zebulon Quaxley was found unresponsive.' because it named him.",
    }
    refusals = checks.check(fix, records)
    assert [(r.field, r.rule) for r in refusals] == [("correction_note", "consistency.hidden_value")]
    assert "Quaxley" not in str(refusals[0])
    ok = {**fix, "correction_note": "The first statement named the detainee; the name was removed."}
    assert checks.check(ok, records) == []


def test_withheld_text_in_a_quoted_old_value_is_withheld_in_the_refusal():
    first = {
        **FIRST,
        "location": "Jamie Doe's house on Elm St",
        "headline": "Shooting at Jamie Doe's house on Elm St",
    }
    records = history((first,))
    doc = {
        **CORRECTION,
        "location": "A house on Elm St",
        "withheld": [{"category": "juvenile's name", "text": "Jamie Doe"}],
    }
    (refusal,) = checks.check(doc, records)
    assert "Jamie" not in str(refusal)
    assert "“[withheld: juvenile's name]'s house on Elm St”" in str(refusal)


@pytest.fixture
def signed(bucket, seaweed, monkeypatch):
    monkeypatch.setenv("RELEASES_LOG_KEY", seaweed.log_vkey(tlog.origin(settings_mod.load())))
    cfg = settings_mod.load()
    return cfg, tlog.Signer(seaweed.signing_key(), tlog.origin(cfg))


def test_through_the_pipeline_refused_until_confirmed_and_the_record_holds_the_confirmation(
    bucket, s3_endpoint, signed
):
    cfg, signer = signed

    def release(doc, n):
        return pipeline.release(
            doc, bucket, cfg, key=f"incident_release/run-{n}", released_by="pio", signer=signer
        )

    release(FIRST, 1)
    release(UPDATE, 2)
    fetch = integrity.http_fetcher(f"{s3_endpoint}/{bucket.bucket}")
    saved = witness(fetch, None)
    assert saved.ok, saved.problems
    before = all_objects(bucket)

    with pytest.raises(InconsistentUpdate) as refused:
        release(CORRECTION, 3)
    assert str(refused.value).startswith(f"headline: {QUOTED}")
    assert (refused.value.field, refused.value.code) == ("headline", "consistency.old_value")
    assert all_objects(bucket) == before  # nothing was written

    published = release({**CORRECTION, "keep_unchanged": STALE}, 4)
    assert published["version"] == 3
    record = json.loads(bucket.get("incidents/2026-0142/v3.json"))
    assert record["kept_unchanged"] == [
        {"field": "headline", "changed": "location"},
        {"field": "summary", "changed": "location"},
        {"field": "body", "changed": "location"},
    ]
    assert record["changes"] == [{"field": "location", "was": OLD, "now": "6th St and Main St"}]
    # The history and the version's own pages show it.
    confirmed = (
        "Confirmed as intended before release: the headline still contains the earlier location; the summary "
        "still contains the earlier location; the statement still contains the earlier location."
    )
    assert confirmed in bucket.get("incidents/2026-0142/index.html").decode()
    assert confirmed in bucket.get("incidents/2026-0142/v3.html").decode()
    assert (
        "Confirmed as intended before release: the headline still contains the earlier location."
        in bucket.get("incidents/2026-0142/v3.txt").decode()
    )
    # The sealed record with its new field: the history and the signed log still check, from the public
    # objects alone, and the log extends the checkpoint saved before.
    report = integrity.verify(fetch, cfg)
    assert report.ok, report.problems
    later = witness(fetch, saved.state)
    assert later.ok, later.problems
    assert later.size == saved.size + 1

"""Stage rules: preliminary first and once; changes derived; no empty corrections."""

from __future__ import annotations

import pytest
from sample import CORRECTION, PRELIMINARY, UPDATE, history

from releases.document import parse_update
from releases.errors import NoChangeError, StageOrderError
from releases.stages import plan


def test_first_release_must_be_preliminary():
    with pytest.raises(StageOrderError) as err:
        plan(parse_update({**PRELIMINARY, "stage": "updated"}), None)
    assert (
        str(err.value)
        == "stage: incident 2026-0142 has no release yet; its first release must be preliminary"
    )


def test_second_preliminary_is_refused():
    v1 = history(docs=(PRELIMINARY,))[0]
    with pytest.raises(StageOrderError) as err:
        plan(parse_update(PRELIMINARY), v1)
    assert "already has a preliminary release (version 1 is the latest)" in str(err.value)


def test_fields_carry_over_and_changes_are_derived():
    v1 = history(docs=(PRELIMINARY,))[0]
    content = plan(parse_update(UPDATE), v1)
    assert content["version"] == 2
    assert content["headline"] == PRELIMINARY["headline"]
    assert content["changes"] == [
        {"field": "summary", "was": PRELIMINARY["summary"], "now": UPDATE["summary"]}
    ]


def test_correction_without_difference_is_refused():
    v1, v2 = history(docs=(PRELIMINARY, UPDATE))
    same = {**CORRECTION, "location": v2["location"]}
    with pytest.raises(NoChangeError) as err:
        plan(parse_update(same), v2)
    assert str(err.value) == (
        "no field differs from version 2 of incident 2026-0142; a release at stage corrected must change at least one field"
    )


def test_a_private_field_is_recorded_as_removed_and_its_old_value_is_nowhere_in_the_content():
    named = {**PRELIMINARY, "summary": "Jamie Doe, 15, was injured."}
    v1 = history(docs=(named,))[0]
    doc = {**CORRECTION, "summary": "A juvenile was injured.", "private_fields": ["summary"]}
    content = plan(parse_update(doc), v1)
    assert content["changes"] == [
        {"field": "summary", "was": "[removed]", "now": "A juvenile was injured."},
        {"field": "location", "was": PRELIMINARY["location"], "now": CORRECTION["location"]},
    ]
    assert "Jamie" not in repr(content)
    # Not private: the old value is shown, as for every other change.
    assert "Jamie" in repr(plan(parse_update({**doc, "private_fields": []}), v1)["changes"])


def test_a_private_field_given_unchanged_is_refused():
    v1 = history(docs=(PRELIMINARY,))[0]
    doc = {**UPDATE, "location": PRELIMINARY["location"], "private_fields": ["location"]}
    with pytest.raises(NoChangeError) as err:
        plan(parse_update(doc), v1)
    assert str(err.value) == (
        "private_fields: lists location, but the location given is the same as in version 1: "
        "give the text that replaces the value to hide"
    )

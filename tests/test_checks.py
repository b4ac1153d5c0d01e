"""One check before a run exists (issue 16): the Python call the desk makes, ``releases validate`` and the
inbox give the same verdict on the same twenty documents; every rule has a stable id and a message in a
PIO's words. The REST endpoint's verdicts, against a real Airflow API server, are in
tests/test_release_desk.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from check_corpus import DOCUMENTS, HISTORY, INCIDENT, seed
from conftest import ROOT
from sample import CORRECTION, PRELIMINARY, UPDATE

import releases.errors
from releases import checklist, checks, cli, inbox, sealing, stages
from releases.document import loads, parse_update
from releases.errors import ReleaseError
from releases.settings import load


def history(incident_id: str) -> list[dict]:
    return HISTORY if incident_id == INCIDENT else []


def verdict(refusals) -> list[str]:
    """A verdict as every path can give it: one line per refusal (field: message), in order."""
    return [str(r) for r in refusals]


@pytest.mark.parametrize(("doc", "expected"), [d[1:] for d in DOCUMENTS], ids=[d[0] for d in DOCUMENTS])
def test_the_check_gives_each_document_its_verdict(doc, expected):
    assert [(r.field, r.rule) for r in checks.check(doc, history)] == expected


def test_validate_and_the_inbox_give_the_python_check_s_verdict_on_the_twenty_documents(
    bucket, tmp_path, capsys
):
    """The desk's Python call, ``releases validate`` (the history read anonymously from the public site)
    and the inbox (the history read from the store), on the same documents and the same published
    history: the same refusals, word for word, in the same order."""
    seed(bucket)
    expected = {name: verdict(checks.check(doc, history)) for name, doc, _ in DOCUMENTS}

    by_validate = {}
    for name, doc, _ in DOCUMENTS:
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
        code = cli.main(["validate", str(tmp_path / f"{name}.json")])
        captured = capsys.readouterr()
        assert not captured.err.startswith("note:"), captured.err  # the history was read
        lines = [line.removeprefix("refused: ") for line in captured.err.splitlines()]
        assert (code == 0) == (lines == []), (name, captured)
        by_validate[name] = lines
    assert by_validate == expected

    for name, doc, _ in DOCUMENTS:
        bucket.put_if_changed(f"inbox/{name}.json", json.dumps(doc).encode(), public=False)
    accepted = inbox.collect(bucket)
    by_inbox = {Path(s["key"]).stem: [] for s in accepted}
    for key in bucket.list_keys("inbox/rejected/"):
        if key.endswith(".error.txt"):
            reasons = bucket.get(key).decode().splitlines()
            by_inbox[Path(key.removesuffix(".error.txt")).stem] = [
                r.removeprefix("refused: ") for r in reasons
            ]
    assert by_inbox == expected
    assert sorted(name for name, doc, want in DOCUMENTS if not want) == sorted(
        Path(s["key"]).stem for s in accepted
    )


def test_validate_refuses_what_the_privacy_guard_and_the_history_refuse(bucket, tmp_path, capsys):
    """It used to say ok for both: it checked the document alone."""
    seed(bucket)
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({**UPDATE, "summary": "Call his mother at 217-555-0199."}))
    assert cli.main(["validate", str(path)]) == 2
    assert "refused: summary: contains what looks like a phone number" in capsys.readouterr().err
    path.write_text(json.dumps(PRELIMINARY))
    assert cli.main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.startswith("refused: stage: incident 2026-0142 already has a preliminary")


def test_validate_says_plainly_when_it_cannot_read_the_history(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RELEASES_PUBLIC_URL", "http://127.0.0.1:9/incident-releases")  # nothing listens
    path = tmp_path / "update.json"
    path.write_text(json.dumps(UPDATE))
    assert cli.main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "ok: updated release for incident 2026-0142\n"
    assert captured.err.startswith(
        "note: cannot read the published history of incident 2026-0142 from http://127.0.0.1:9/incident-releases"
    )
    assert "the stage rules and the consistency check were not run" in captured.err


def test_every_refusal_of_a_document_is_reported_at_once():
    doc = {**PRELIMINARY, "headline": "a\nb", "summary": 12, "occurred_at": "yesterday", "victim": "x"}
    assert [(r.field, r.rule) for r in checks.check(doc)] == [
        ("'victim'", "document.unknown_field"),
        ("headline", "text.single_line"),
        ("summary", "text.not_text"),
        ("occurred_at", "time.format"),
    ]


def test_the_release_raises_the_first_refusal_in_the_same_words():
    """The pipeline keeps its exceptions; their text and rule are the check's first refusal's."""
    for name, doc, expected in DOCUMENTS:
        if not expected:
            continue
        first = checks.check(doc, history)[0]
        with pytest.raises(ReleaseError) as raised:
            update = parse_update(doc)
            latest = history(update.incident_id)
            stages.plan(update, latest[-1] if latest else None)
        assert (raised.value.code, str(raised.value)) == (first.rule, str(first)), name


# -- every rule: an id, an example, words a PIO reads ------------------------------------------------------

SEALED = {
    "incident_id": INCIDENT,
    "stage": "updated",
    "withheld": [{"category": "name", "sealed": "sealed:v1:x"}],
}


def _doc(doc, records=None):
    return lambda: checks.check(doc, records)


def _file(data: bytes):
    def run():
        try:
            loads(data)
        except ReleaseError as err:
            return [checks.Refusal.from_error(err)]
        raise AssertionError(f"{data[:20]!r} was read")

    return run


def _unsealed(doc):
    def run():
        try:
            sealing.unseal_document(doc, None)
        except ReleaseError as err:
            return [checks.Refusal.from_error(err)]
        raise AssertionError("opened")

    return run


NEW = {**PRELIMINARY, "incident_id": "2026-0300"}
ALL_ITEMS = list(checklist.read().ids)
FIX = {"incident_id": INCIDENT, "stage": "corrected", "correction_note": CORRECTION["correction_note"]}
EXAMPLES = {
    "document.not_object": _doc(["not", "an", "object"]),
    "document.not_plain_json": _doc({**NEW, "body": {1, 2}}),
    "document.too_large": _doc({**NEW, "body": "x" * 70_000}),
    "document.too_deep": _doc({**NEW, "withheld": [[[[[[[[["x"]]]]]]]]]}),
    "document.empty": _file(b"  \n"),
    "document.not_utf8": _file(b'{"location": "Stra\xdfe"}'),
    "document.not_json": _file(b"{nope"),
    "document.duplicate_field": _file(b'{"withheld": [{"category": "n", "text": "Jo Doe"}], "withheld": []}'),
    "document.unknown_field": _doc({**NEW, "victim": "x"}),
    "incident_id.required": _doc({**NEW, "incident_id": ""}),
    "incident_id.format": _doc({**NEW, "incident_id": "a/b"}),
    "stage.required": _doc({**NEW, "stage": None}),
    "stage.unknown": _doc({**NEW, "stage": "final"}),
    "text.not_text": _doc({**NEW, "summary": ["a"]}),
    "text.too_long": _doc({**NEW, "location": "x" * 201}),
    "text.single_line": _doc({**NEW, "location": "a\nb"}),
    "text.characters": _doc({**NEW, "body": "a\x00b"}),
    "time.format": _doc({**NEW, "occurred_at": "last night"}),
    "time.offset": _doc({**NEW, "occurred_at": "2026-11-20T21:14:00+24:00"}),
    "time.invalid": _doc({**NEW, "occurred_at": "2026-02-30T21:14:00Z"}),
    "time.range": _doc({**NEW, "occurred_at": "1850-11-20T21:14:00Z"}),
    "preliminary.field_required": _doc({**NEW, "agency": " "}),
    "correction.note_required": _doc({**FIX, "correction_note": None}),
    "correction.note_not_allowed": _doc({**NEW, "correction_note": "x"}),
    "withheld.format": _doc({**NEW, "withheld": {"name": "Jo Doe"}}),
    "withheld.sealed": _unsealed(SEALED),
    "privacy_override.format": _doc(
        {**NEW, "privacy_override": {"phone": "it is the tip line, it is public"}}
    ),
    "privacy_override.justification": _doc(
        {**NEW, "privacy_override": [{"category": "phone", "value": "217-555-0199", "justification": "ok"}]}
    ),
    "private_fields.format": _doc({**UPDATE, "private_fields": "body"}),
    "private_fields.preliminary": _doc({**NEW, "private_fields": ["body"]}),
    "private_fields.not_given": _doc({**UPDATE, "private_fields": ["body"]}),
    "private_fields.unchanged": _doc(
        {**UPDATE, "private_fields": ["summary"], "summary": UPDATE["summary"], "body": "New."}, HISTORY
    ),
    "keep_unchanged.format": _doc({**FIX, "location": "6th St", "keep_unchanged": ["title"]}),
    "keep_unchanged.preliminary": _doc({**NEW, "keep_unchanged": ["headline"]}),
    "language.format": _doc({**NEW, "language": "english!!"}),
    "checklist.format": _doc({**NEW, "checklist": "next-of-kin"}),
    "checklist.unknown": _doc({**NEW, "checklist": [*ALL_ITEMS, "victim-named"]}),
    "checklist.incomplete": _doc({**NEW, "checklist": ["next-of-kin"]}),
    "checklist.required": lambda: checks.check(NEW, [], load({"RELEASES_REQUIRE_CHECKLIST": "true"})),
    "text.placeholder": lambda: checks.placeholder_problems(
        {**NEW, "headline": "Shooting near <location>"}, frozenset({"<location>"})
    ),
    "release_at.past": _doc({**NEW, "release_at": "2020-01-01T09:00:00-05:00"}),
    "release_at.too_far": _doc({**NEW, "release_at": "2099-01-01T09:00:00-05:00"}),
    "stage.first_not_preliminary": _doc(UPDATE, []),
    "stage.second_preliminary": _doc(PRELIMINARY, HISTORY),
    "change.none": _doc({**FIX, "location": PRELIMINARY["location"]}, HISTORY),
    "consistency.old_value": _doc({**FIX, "location": "6th St and Main St"}, HISTORY),
    "consistency.hidden_value": _doc(
        {
            **FIX,
            "location": "6th St and Main St",
            "body": "New.",
            "private_fields": ["location"],
        },
        HISTORY,
    ),
    "privacy.ssn": _doc({**NEW, "body": "His SSN is 123-45-6789."}),
    "privacy.date_of_birth": _doc({**NEW, "body": "Born on March 3, 2011."}),
    "privacy.phone": _doc({**NEW, "body": "Call 217-555-0199."}),
    "privacy.email": _doc({**NEW, "body": "Write to jamie.doe@example.net."}),
    "privacy.home_address": _doc({**NEW, "location": "1412 Elm Street"}),
}

# What a PIO should never have to read: a class name (StageOrderError, NoneType, int), "RFC", a regular
# expression, a JSON pointer, a JSON shape to copy.
CLASS_NAMES = {
    name
    for name, obj in vars(releases.errors).items()
    if isinstance(obj, type) and issubclass(obj, Exception)
}
JARGON = [
    (r"\b[A-Z][a-z]+(?:[A-Z][a-z]*)+\b", "a CamelCase class name"),
    (r"\b(?:int|str|dict|NoneType|bool|float|tuple)\b", "a Python type name"),
    (r"RFC", "an RFC"),
    (
        r"\\[dwsSWD]|\[\^?[A-Za-z0-9]-[A-Za-z0-9]|\{\d+,\d*\}|\(\?[:=!<]|\^\[|\.\*|\.\+",
        "a regular expression",
    ),
    (r"(?:^|[\s(])/[a-z_]+(?:/[0-9a-z_]+)*", "a JSON pointer"),
    (r"\{\s*\"|\[\s*\{", "a JSON shape"),
    (r"privacy_override\.|\w+\.\w+_\w+", "a dotted setting name"),
]


def test_every_rule_has_an_example_that_gives_it():
    assert set(EXAMPLES) == set(checks.RULES)
    for rule, example in EXAMPLES.items():
        assert rule in [r.rule for r in example()], rule


@pytest.mark.parametrize("rule", sorted(EXAMPLES))
def test_no_refusal_message_holds_a_class_name_rfc_regex_or_json_pointer(rule):
    for refusal in EXAMPLES[rule]():
        text = str(refusal)
        for name in CLASS_NAMES:
            assert name not in text, (rule, text)
        for pattern, what in JARGON:
            assert not re.search(pattern, refusal.message), f"{rule}: {what} in {refusal.message!r}"
        assert refusal.field is None or refusal.field.startswith("'") or refusal.title, rule


def test_readme_lists_every_rule_id():
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_]+\.[a-z0-9_]+)` \|", readme, re.M))
    assert listed == set(checks.RULES)


def test_a_time_may_be_typed_as_people_write_it():
    update = parse_update({**PRELIMINARY, "occurred_at": "2026-11-25 23:40 -05:00"})
    assert update.fields["occurred_at"] == "2026-11-25T23:40:00-05:00"
    message = str(checks.check({**PRELIMINARY, "occurred_at": "2026-11-25T23:40"})[0])
    assert message == (
        "occurred_at: give a date and time with its time zone as an offset from UTC, like 2026-11-25 23:40 -05:00 "
        "(or Z for UTC itself)"
    )
    # What the message suggests is accepted.
    example = re.search(r"like (.+?) \(", message)[1]
    assert parse_update({**PRELIMINARY, "occurred_at": example})


def test_without_the_history_the_privacy_guard_still_runs_on_an_update():
    refusals = checks.check({**UPDATE, "summary": "DOB 04/12/1990."})
    assert [(r.field, r.rule) for r in refusals] == [("summary", "privacy.date_of_birth")]
    assert checks.check(UPDATE) == []


def test_settings_listing_a_public_contact_are_used():
    doc = {**PRELIMINARY, "body": "Tips: 217-555-0199."}
    assert [r.rule for r in checks.check(doc, [])] == ["privacy.phone"]
    cfg = load({"RELEASES_PUBLIC_CONTACTS": "217-555-0199, 555-0100, pio@example.org"})
    assert checks.check(doc, [], cfg) == []


def test_a_scheduled_release_time_needs_its_zone_and_a_future_time():
    from datetime import UTC, datetime, timedelta

    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    assert checks.check({**NEW, "release_at": later}) == []
    [no_zone] = checks.check({**NEW, "release_at": "2030-01-01T09:00:00"})
    assert (no_zone.field, no_zone.rule) == ("release_at", "time.format")
    [past] = checks.check({**NEW, "release_at": "2020-01-01T09:00:00-05:00"})
    assert (past.field, past.rule) == ("release_at", "release_at.past")
    assert "future" in past.message


def test_a_scheduled_release_may_be_at_most_the_setting_s_days_ahead():
    from datetime import UTC, datetime, timedelta

    soon, far = (datetime.now(UTC) + timedelta(days=d) for d in (29, 31))
    assert checks.check({**NEW, "release_at": soon.isoformat()}) == []
    [too_far] = checks.check({**NEW, "release_at": far.isoformat()})
    assert (too_far.field, too_far.rule) == ("release_at", "release_at.too_far")
    assert "more than 30 days ahead" in too_far.message
    assert (
        checks.check({**NEW, "release_at": far.isoformat()}, [], load({"RELEASES_SCHEDULE_MAX_DAYS": "40"}))
        == []
    )


def test_independent_refusals_come_in_one_answer_not_in_rounds():
    """Issue 16: a document with several problems showed one; fixed, the PIO met the next. A second
    preliminary with a headline too long, a phone number in the body, a scheduled time already past and
    an unticked checklist: every one of them at once, each naming its field."""
    doc = {
        **PRELIMINARY,
        "headline": "x" * 201,
        "body": "A witness can be reached at 217-555-0199.",
        "release_at": "2020-01-01T09:00:00-05:00",
        "checklist": ["next-of-kin"],
    }
    got = [(r.field, r.rule) for r in checks.check(doc, history)]
    assert got == [
        ("headline", "text.too_long"),
        ("checklist", "checklist.incomplete"),
        ("release_at", "release_at.past"),
        ("stage", "stage.second_preliminary"),
        ("body", "privacy.phone"),
    ]
    # Without the length problem: the same independent rules, in one answer too.
    doc["headline"] = "Officer-involved shooting"
    assert sorted(r.rule for r in checks.check(doc, history)) == [
        "checklist.incomplete",
        "privacy.phone",
        "release_at.past",
        "stage.second_preliminary",
    ]


def test_a_refused_withheld_list_keeps_the_privacy_guard_out_of_the_answer():
    """What the guard may let through depends on the withheld items: refused themselves, the guard waits."""
    doc = {**NEW, "body": "Call 217-555-0199.", "withheld": {"name": "Jo Doe"}}
    assert [r.rule for r in checks.check(doc, [])] == ["withheld.format"]


def test_a_template_s_placeholder_left_in_the_text_is_refused_by_field_and_others_are_not():
    # Issue 16's PIO trial: "Officer-involved shooting near <location>" was published from a template.
    placeholders = checks.template_placeholders(
        ["Officer-involved shooting near <location>", "At about <time>, after a call about <what is new>."]
    )
    assert placeholders == {"<location>", "<time>", "<what is new>"}
    doc = {
        "headline": "Shooting near <location>",
        "body": "At about <time>, officers went to <location>. Text quoting <b> stays.",
        "summary": "Nothing left over; <script> is no template's placeholder.",
    }
    refusals = checks.placeholder_problems(doc, placeholders)
    assert [(r.field, r.rule) for r in refusals] == [
        ("headline", "text.placeholder"),
        ("body", "text.placeholder"),
    ]
    assert "“<time>”, “<location>”" in refusals[1].message
    assert "replace it with what is known" in refusals[1].message
    assert checks.placeholder_problems({"headline": "Shooting near Elm St"}, placeholders) == []
    assert checks.placeholder_problems(doc, frozenset()) == []

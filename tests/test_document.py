"""The update document: every refusal names the field and the rule."""

from __future__ import annotations

import pytest
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases.document import FIELDS, loads, param_schemas, parse_update
from releases.errors import InvalidUpdate


def refusal(doc) -> str:
    with pytest.raises(InvalidUpdate) as err:
        parse_update(doc)
    return str(err.value)


def test_valid_documents_parse():
    update = parse_update(PRELIMINARY)
    assert update.stage == "preliminary"
    assert update.fields["occurred_at"] == "2026-11-20T21:14:00-05:00"
    assert parse_update(UPDATE).fields == {"summary": UPDATE["summary"]}
    assert parse_update(CORRECTION).correction_note.startswith("The first statement")


@pytest.mark.parametrize(
    "incident_id",
    ["ab", "a/b/c", "../etc", "2026.0142", "2026 0142", "ünïcode-1", "-2026", "x" * 65, "2026-0142\n", 2026],
    ids=[
        "too-short",
        "slashes",
        "dots-slash",
        "dot",
        "space",
        "unicode",
        "leading-hyphen",
        "too-long",
        "newline",
        "number",
    ],
)
def test_bad_incident_id_is_refused(incident_id):
    msg = refusal({**PRELIMINARY, "incident_id": incident_id})
    assert (
        msg
        == "incident_id: must be 3 to 64 ASCII letters, digits or hyphens, starting with a letter or digit"
    )


@pytest.mark.parametrize("field", [f.name for f in FIELDS])
def test_preliminary_requires_every_statement_field(field):
    doc = {k: v for k, v in PRELIMINARY.items() if k != field}
    assert refusal(doc) == f"{field}: is required for the first, preliminary release"


@pytest.mark.parametrize("field", ["incident_id", "stage"])
def test_identity_fields_are_required(field):
    doc = {k: v for k, v in UPDATE.items() if k != field}
    assert refusal(doc) == f"{field}: is required"


def test_unknown_field_is_refused_not_ignored():
    msg = refusal({**PRELIMINARY, "victim_name": "x"})
    assert msg.startswith("'victim_name': is not a field of the update document")


def test_hostile_field_name_is_not_echoed_raw():
    msg = refusal({**PRELIMINARY, "<script>alert(1)</script>\u202e" + "x" * 500: "x"})
    # Shown escaped (ascii), never as the raw right-to-left override, and cut short.
    assert "\u202e" not in msg
    assert msg.startswith("'<script>alert(1)</script>\\u202exxx")
    assert len(msg.split(": is not")[0]) <= 60


def test_oversized_document_is_refused_before_anything_else():
    msg = refusal({"zzz": "x" * 70000})
    assert msg.startswith("the update document is larger than 65536 bytes")


def test_unknown_stage():
    assert refusal({**UPDATE, "stage": "final"}) == "stage: must be one of preliminary, updated, corrected"


@pytest.mark.parametrize(
    "value",
    ["2026-11-20T21:14:00", "2026-11-20 21:14", "yesterday", "2026-11-20", "2026-13-40T25:00:00Z"],
    ids=["no-zone", "no-zone-space", "words", "date-only", "impossible"],
)
def test_time_without_zone_or_invalid_is_refused(value):
    msg = refusal({**PRELIMINARY, "occurred_at": value})
    assert msg.startswith("occurred_at: ")
    assert "time zone" in msg or "not a date and time that exists" in msg


def test_utc_z_is_accepted():
    assert parse_update({**PRELIMINARY, "occurred_at": "2026-11-21T02:14:00Z"}).fields["occurred_at"] == (
        "2026-11-21T02:14:00+00:00"
    )


def test_corrected_needs_a_note():
    doc = {k: v for k, v in CORRECTION.items() if k != "correction_note"}
    assert refusal(doc) == "correction_note: is required when stage is corrected: say what was wrong and why"
    assert refusal({**doc, "correction_note": "   "}).startswith("correction_note: is required")


def test_note_only_with_correction():
    assert (
        refusal({**UPDATE, "correction_note": "x"})
        == "correction_note: is only allowed when stage is corrected"
    )


@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused(char):
    msg = refusal({**PRELIMINARY, "body": f"before{char}after"})
    assert msg == f"body: contains a control character U+{ord(char):04X}; only newline and tab are allowed"


def test_newline_in_single_line_field_is_refused():
    assert refusal({**PRELIMINARY, "headline": "one\ntwo"}) == "headline: must be a single line"


def test_crlf_is_normalised():
    assert parse_update({**PRELIMINARY, "body": "a\r\n\r\nb"}).fields["body"] == "a\n\nb"


def test_length_limit_names_the_maximum():
    assert (
        refusal({**PRELIMINARY, "headline": "x" * 201})
        == "headline: must be at most 200 characters (got 201)"
    )


def test_wrong_type():
    assert refusal({**PRELIMINARY, "summary": 12}) == "summary: must be text in quotes, not a number"
    assert refusal(["not", "a", "dict"]) == "the update must be a JSON object"


def test_param_schemas_describe_every_field():
    schemas = param_schemas()
    assert list(schemas) == [
        "incident_id",
        "stage",
        "headline",
        "summary",
        "body",
        "occurred_at",
        "location",
        "agency",
        "contact",
        "correction_note",
        "released_by",
        "withheld",
        "privacy_override",
        "private_fields",
        "keep_unchanged",
        "language",
        "checklist",
        "release_at",
    ]
    for name, schema in schemas.items():
        assert schema["title"] and schema["description"], name
    assert schemas["stage"]["enum"] == ["preliminary", "updated", "corrected"]
    assert schemas["body"]["format"] == "multiline"


@pytest.mark.parametrize(
    "char", [*"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"]
)
def test_every_bidi_control_and_direction_mark_is_refused(char):
    msg = refusal({**PRELIMINARY, "contact": f"555-0100 {char}txt.exe"})
    assert msg.startswith(f"contact: contains an invisible direction control (U+{ord(char):04X} ")


@pytest.mark.parametrize(
    "text",
    [
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian: ZWNJ inside a word
        "\u0915\u094d\u200d\u0937",  # Devanagari: ZWJ after a virama
        "\U0001f46e\u200d\u2640\ufe0f",  # emoji sequence
    ],
    ids=["persian-zwnj", "devanagari-zwj", "emoji-zwj"],
)
def test_joiners_a_script_needs_are_kept(text):
    assert (
        parse_update({**PRELIMINARY, "headline": f"Words {text} words"}).fields["headline"]
        == f"Words {text} words"
    )


@pytest.mark.parametrize(
    "text", ["\u200cPersian", "\u0645\u06cc\u200c", "\u0645\u200c 1"], ids=["start", "end", "before-space"]
)
def test_joiners_outside_a_word_are_refused(text):
    assert "invisible joiner" in refusal({**PRELIMINARY, "headline": text})


@pytest.mark.parametrize(
    "value",
    [
        "1900-01-01T00:00:00Z",
        "2100-12-31T23:59:59Z",
        "2100-12-31T23:59:59+14:00",
        "1900-01-01T11:59:00-12:00",
    ],
)
def test_times_at_the_edges_of_the_range_are_accepted(value):
    parse_update({**PRELIMINARY, "occurred_at": value})


def test_the_trigger_form_refuses_a_year_outside_the_range():
    import jsonschema

    schema = {k: v for k, v in param_schemas()["occurred_at"].items() if k != "default"}
    jsonschema.validate("2026-11-20T21:14:00-05:00", schema)
    for value in ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "1899-12-31T23:00:00Z"):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(value, schema)


def test_incident_ids_are_kept_in_upper_case():
    assert parse_update({**UPDATE, "incident_id": "2026-abc-x"}).incident_id == "2026-ABC-X"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"incident_id": "2026-0142", "stage": "updated", "summary": "a", "stage": "corrected"}',
            "stage: is given twice in the document",
        ),
        (
            b'{"privacy_override": {"phone": "first reason", "phone": "second reason"}}',
            "'phone': is given twice in the document",
        ),
        (b'{"x": Infinity}', "the file is not valid JSON: Infinity is not a JSON value"),
        (b"[" * 5000 + b"]" * 5000, "the document is nested more than 8 levels deep"),
    ],
    ids=["top-level", "nested", "infinity", "deep"],
)
def test_loads_refuses_what_json_readers_disagree_on(data, message):
    with pytest.raises(InvalidUpdate) as err:
        loads(data)
    assert str(err.value).startswith(message)


def test_a_document_nested_deeper_than_any_valid_one_is_refused_without_recursion():
    doc: list = []
    for _ in range(200_000):
        doc = [doc]
    assert refusal({**UPDATE, "withheld": doc}) == "the document is nested more than 8 levels deep"


CORRECTED = {
    "incident_id": "2026-0142",
    "stage": "corrected",
    "correction_note": "A name was published by mistake.",
}


@pytest.mark.parametrize("stage", ["updated", "corrected"])
def test_private_fields_are_kept_in_order_once(stage):
    doc = {**CORRECTED, "stage": stage, "body": "New text.", "summary": "New summary."}
    if stage == "updated":
        del doc["correction_note"]
    update = parse_update({**doc, "private_fields": ["summary", "body", "summary"]})
    assert update.private_fields == ("summary", "body")
    assert parse_update(doc).private_fields == ()
    assert parse_update({**doc, "private_fields": None}).private_fields == ()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        pytest.param(
            {**CORRECTED, "body": "x", "private_fields": "body"},
            'private_fields: must be a list of field names, e.g. ["body"]',
            id="not-a-list",
        ),
        pytest.param(
            {**CORRECTED, "body": "x", "private_fields": ["correction_note"]},
            "private_fields: 'correction_note' is not a statement field (allowed: headline, summary, body, "
            "occurred_at, location, agency, contact)",
            id="not-a-statement-field",
        ),
        pytest.param(
            {**CORRECTED, "body": "x", "private_fields": [["body"]]},
            "private_fields: ['body'] is not a statement field (allowed: headline, summary, body, "
            "occurred_at, location, agency, contact)",
            id="not-text",
        ),
        pytest.param(
            {**CORRECTED, "location": "6th St", "private_fields": ["body"]},
            "private_fields: lists body but gives no new body: give the text that replaces the value to hide "
            "(left empty, the field carries over and the old value stays published)",
            id="not-replaced",
        ),
        pytest.param(
            {**PRELIMINARY, "private_fields": ["body"]},
            "private_fields: is only allowed when stage is updated or corrected: a first release has no "
            "earlier value to hide",
            id="preliminary",
        ),
        pytest.param(
            {**CORRECTED, "location": "6th St", "keep_unchanged": "headline"},
            'keep_unchanged: must be a list of field names, e.g. ["headline"]',
            id="keep-unchanged-not-a-list",
        ),
        pytest.param(
            {**PRELIMINARY, "keep_unchanged": ["headline"]},
            "keep_unchanged: is only allowed when stage is updated or corrected: a first release changes no "
            "earlier value",
            id="keep-unchanged-preliminary",
        ),
    ],
)
def test_private_fields_and_keep_unchanged_refusals_say_what_to_do(doc, message):
    assert refusal(doc) == message


def test_empty_field_lists_are_no_list_even_on_a_preliminary():
    update = parse_update({**PRELIMINARY, "private_fields": [], "keep_unchanged": None})
    assert (update.private_fields, update.keep_unchanged) == ((), ())
    confirmed = parse_update({**CORRECTED, "location": "6th St", "keep_unchanged": ["body", "headline"]})
    assert confirmed.keep_unchanged == ("headline", "body")  # in the statement's field order

"""Hostile or careless input (issue 12): refused by field and rule with nothing written, or shown as recorded.

Every refusal here goes through the real release steps against a bucket that already
holds a history, and the bucket must be byte for byte what it was.
"""

from __future__ import annotations

import json
import uuid

import lxml.html
import pytest
from conftest import all_objects
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases import pipeline
from releases.errors import ReleaseError
from releases.settings import Settings, load
from releases.storage import Store, client_from_settings

ABC = {**PRELIMINARY, "incident_id": "2026-ABC", "headline": "Vehicle pursuit ends in crash on Route 9"}
INVISIBLE = "readers would not see it, but it would be part of the record; remove it"
DIRECTION = "it can make the text show differently from what is recorded; remove it (right-to-left text needs no such character)"
TIME_RANGE = (
    "occurred_at: must be between 1900-01-01 and 2100-12-31, both as written and in UTC; a time outside "
    "that range is a typo and cannot be shown in every time zone"
)


def deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


BLANK = "readers would not see it, but it would be part of the record; remove it"
SELECTOR = "invisible, it would be part of the record; remove it"

REFUSALS = [
    # Found by an attack from a fresh clone: invisible characters outside category Cf.
    pytest.param(
        {**UPDATE, "location": "\u3164\u3164"},
        f"location: contains an invisible character (U+3164 HANGUL FILLER) at character 1: it shows as nothing or as a blank, so {BLANK}",
        id="hangul-filler-only",
    ),
    pytest.param(
        {**CORRECTION, "correction_note": "Wrong street\u2800."},
        f"correction_note: contains an invisible character (U+2800 BRAILLE PATTERN BLANK) at character 13: it shows as nothing or as a blank, so {BLANK}",
        id="braille-blank",
    ),
    pytest.param(
        {**UPDATE, "summary": "One sus\u034fpect in custody."},
        f"summary: contains an invisible character (U+034F COMBINING GRAPHEME JOINER) at character 8: it shows as nothing or as a blank, so {BLANK}",
        id="combining-grapheme-joiner",
    ),
    pytest.param(
        {**UPDATE, "headline": "Shooting" + "".join(chr(0xE0100 + b) for b in b"payload")},
        f"headline: contains a variation selector (U+E0170 VARIATION SELECTOR-129) at character 9 that does not follow a character it can vary: {SELECTOR}",
        id="variation-selectors-smuggling-bytes",
    ),
    pytest.param(
        {**UPDATE, "headline": "\u845b\U000e0100\U000e0101 near Main St"},
        f"headline: contains a variation selector (U+E0101 VARIATION SELECTOR-18) at character 3 that does not follow a character it can vary: {SELECTOR}",
        id="variation-selector-run",
    ),
    pytest.param(
        {**UPDATE, "headline": "\u0421\u0442\u0440\u200d\u0435\u043b\u044c\u0431\u0430"},
        "headline: contains an invisible joiner (U+200D ZERO WIDTH JOINER) at character 4 that is not inside a word of a script that needs it; remove it",
        id="joiner-inside-a-cyrillic-word",
    ),
    pytest.param(
        {**UPDATE, "occurred_at": "2026-11-20T21:14:00+24:00"},
        "occurred_at: has a time zone offset that does not exist; offsets run from -23:59 to +23:59",
        id="offset-24-hours",
    ),
    pytest.param(
        {**UPDATE, "contact": "555-0100 \u202etxt.exe"},
        f"contact: contains an invisible direction control (U+202E RIGHT-TO-LEFT OVERRIDE) at character 10: {DIRECTION}",
        id="bidi-override-in-contact",
    ),
    pytest.param(
        {**UPDATE, "headline": "Shots \u2066fired\u2069 near Main St"},
        f"headline: contains an invisible direction control (U+2066 LEFT-TO-RIGHT ISOLATE) at character 7: {DIRECTION}",
        id="bidi-isolate",
    ),
    pytest.param(
        {**CORRECTION, "correction_note": "The street was wrong\u200e."},
        f"correction_note: contains an invisible direction control (U+200E LEFT-TO-RIGHT MARK) at character 21: {DIRECTION}",
        id="direction-mark-in-note",
    ),
    pytest.param(
        {**UPDATE, "headline": "Shots\u200bfired near Main St"},
        f"headline: contains an invisible formatting character (U+200B ZERO WIDTH SPACE) at character 6: {INVISIBLE}",
        id="zero-width-space",
    ),
    pytest.param(
        {**UPDATE, "summary": "One sus\u00adpect in custody."},
        f"summary: contains an invisible formatting character (U+00AD SOFT HYPHEN) at character 8: {INVISIBLE}",
        id="soft-hyphen",
    ),
    pytest.param(
        {**UPDATE, "location": "5th St\U000e0041\U000e0042"},
        f"location: contains an invisible formatting character (U+E0041 TAG LATIN CAPITAL LETTER A) at character 7: {INVISIBLE}",
        id="tag-characters",
    ),
    pytest.param(
        {**UPDATE, "released_by": "Chief of Police\ufeff"},
        f"released_by: contains an invisible formatting character (U+FEFF ZERO WIDTH NO-BREAK SPACE) at character 16: {INVISIBLE}",
        id="byte-order-mark",
    ),
    pytest.param(
        {**UPDATE, "headline": "Zero\u200dwidth joiner"},
        "headline: contains an invisible joiner (U+200D ZERO WIDTH JOINER) at character 5 that is not inside a word "
        "of a script that needs it; remove it",
        id="joiner-between-ascii-letters",
    ),
    pytest.param(
        {**UPDATE, "body": "First line\u2028second line"},
        "body: contains a line separator (U+2028 LINE SEPARATOR) at character 11; use an ordinary line break",
        id="line-separator",
    ),
    pytest.param(
        {**UPDATE, "headline": "One\u2029Two"},
        "headline: contains a paragraph separator (U+2029 PARAGRAPH SEPARATOR) at character 4; this field is a single line",
        id="paragraph-separator",
    ),
    pytest.param(
        {**UPDATE, "agency": "Springfield PD\ufdd0"},
        "agency: contains U+FDD0 at character 15, which is not a character (a Unicode noncharacter); remove it",
        id="noncharacter",
    ),
    pytest.param(
        {**UPDATE, "agency": "Springfield PD \U0010ffff"},
        "agency: contains U+10FFFF at character 16, which is not a character (a Unicode noncharacter); remove it",
        id="noncharacter-last-plane",
    ),
    pytest.param(
        {**UPDATE, "withheld": [{"category": "name", "text": "Jo\u202eDoe"}]},
        f"withheld: item 1: text contains an invisible direction control (U+202E RIGHT-TO-LEFT OVERRIDE) at character 3: {DIRECTION}",
        id="withheld-text",
    ),
    pytest.param(
        {
            **UPDATE,
            "summary": "Call the tip line, 555-0199.",
            "privacy_override": [
                {
                    "category": "phone",
                    "value": "555-0199",
                    "justification": "The tip line\u200b is public and must be published.",
                }
            ],
        },
        "privacy_override: item 1: the justification contains an invisible formatting character "
        f"(U+200B ZERO WIDTH SPACE) at character 13: {INVISIBLE}",
        id="published-justification",
    ),
    pytest.param({**UPDATE, "occurred_at": "9999-12-31T23:59:59-12:00"}, TIME_RANGE, id="year-9999"),
    pytest.param({**UPDATE, "occurred_at": "0001-01-01T00:00:00+14:00"}, TIME_RANGE, id="year-1"),
    pytest.param({**UPDATE, "occurred_at": "1899-12-31T23:59:59Z"}, TIME_RANGE, id="before-1900"),
    pytest.param({**UPDATE, "occurred_at": "1900-01-01T05:00:00+14:00"}, TIME_RANGE, id="1899-in-utc"),
    pytest.param({**UPDATE, "occurred_at": "2101-01-01T00:00:00Z"}, TIME_RANGE, id="after-2100"),
    pytest.param(
        {**ABC, "incident_id": "2026-abc"},
        "stage: incident 2026-ABC already has a preliminary release (version 1 is the latest); use updated or corrected",
        id="incident-id-in-other-case",
    ),
    pytest.param(
        {**UPDATE, "withheld": deep(100_000)},
        "the document is nested more than 8 levels deep",
        id="nested-too-deep",
    ),
]


@pytest.fixture(scope="module")
def history(s3_endpoint):
    """A bucket holding two incidents, and everything in it."""
    name = f"hostile-{uuid.uuid4().hex[:12]}"
    settings = Settings(bucket=name, s3_endpoint=s3_endpoint)
    store = Store(client_from_settings(settings), name)
    store.ensure_bucket()
    pipeline.release(PRELIMINARY, store, settings, key="run-1", released_by="pio")
    pipeline.release(ABC, store, settings, key="run-2", released_by="pio")
    return store, settings, all_objects(store)


@pytest.mark.parametrize(("doc", "message"), REFUSALS)
def test_refused_naming_the_field_and_the_rule_and_nothing_is_written(history, doc, message):
    store, settings, before = history
    with pytest.raises(ReleaseError) as err:
        pipeline.release(doc, store, settings, key=f"run-{uuid.uuid4()}", released_by="pio")
    assert str(err.value) == message
    assert all_objects(store) == before


@pytest.mark.parametrize(
    "doc",
    [
        {  # Arabic
            **PRELIMINARY,
            "incident_id": "2026-AR1",
            "headline": "إطلاق نار بمشاركة ضابط قرب الشارع الخامس",
            "summary": "أصيب شخص بالغ ونقل إلى المستشفى.",
            "body": "استجاب الضباط لبلاغ قرابة الساعة 9:14 مساءً.\n\nلم يصب أي ضابط.",
            "location": "الشارع الخامس والشارع الرئيسي",
        },
        {  # Hebrew, with a Persian word that needs its zero width non-joiner, and an emoji sequence
            **PRELIMINARY,
            "incident_id": "2026-HE1",
            "headline": "ירי בהשתתפות שוטר ליד רחוב 5",
            # ...and a heart with its emoji presentation selector, a kanji with its variant selector.
            "summary": "מבוגר אחד נפצע ופונה לבית החולים. می\u200cخواهم 👮\u200d♀️ ❤\ufe0f \u845b\U000e0100",
            "body": "השוטרים הגיעו בסביבות 21:14.\n\nאף שוטר לא נפגע.",
        },
    ],
    ids=["arabic", "hebrew-persian-emoji"],
)
def test_right_to_left_statements_are_published_as_written(bucket, doc):
    settings = load()
    pipeline.release(doc, bucket, settings, key="run-1", released_by="pio")
    iid = doc["incident_id"]
    record = json.loads(bucket.get(f"incidents/{iid}/v1.json"))
    assert {k: record[k] for k in ("headline", "summary", "body", "location")} == {
        k: doc[k] for k in ("headline", "summary", "body", "location")
    }
    page = lxml.html.document_fromstring(bucket.get(f"incidents/{iid}/index.html").decode())
    assert page.xpath("//h1")[0].text_content() == doc["headline"]
    assert page.xpath("//h1/@dir") == ["auto"]  # the browser takes the direction from the text
    assert doc["summary"] in bucket.get(f"incidents/{iid}/v1.txt").decode()


def test_text_is_stored_in_nfc_and_measured_after_it(bucket):
    settings = load()
    decomposed = "Cafe\u0301 Rene\u0301 on Rue de l'E\u0301glise"
    pipeline.release({**PRELIMINARY, "location": decomposed}, bucket, settings, key="run-1", released_by="p")
    record = json.loads(bucket.get("incidents/2026-0142/v1.json"))
    assert (
        record["location"] == "Café René on Rue de l'Église" == "Caf\u00e9 Ren\u00e9 on Rue de l'\u00c9glise"
    )
    # The same words typed the other way are no change: a correction needs a real one.
    with pytest.raises(ReleaseError) as err:
        pipeline.release(
            {**CORRECTION, "location": "Caf\u00e9 Ren\u00e9 on Rue de l'\u00c9glise"},
            bucket,
            settings,
            key="run-2",
            released_by="p",
        )
    assert str(err.value).startswith("no field differs from version 1 of incident 2026-0142")


def test_incident_ids_differing_only_in_case_are_one_incident(bucket):
    settings = load()
    pipeline.release({**ABC, "incident_id": "2026-abc"}, bucket, settings, key="run-1", released_by="p")
    pipeline.release({**UPDATE, "incident_id": "2026-Abc"}, bucket, settings, key="run-2", released_by="p")
    versions = sorted(k for k in bucket.list_keys("incidents/") if k.endswith(".json"))
    assert versions == ["incidents/2026-ABC/v1.json", "incidents/2026-ABC/v2.json"]
    assert json.loads(bucket.get("incidents/2026-ABC/v2.json"))["incident_id"] == "2026-ABC"


def test_the_airflow_user_is_recorded_and_the_documents_name_only_shown_on_behalf_of(bucket):
    settings = load()
    forged = {**PRELIMINARY, "released_by": "Chief of Police"}
    pipeline.release(forged, bucket, settings, key="run-1", released_by="pio.jones")
    record = json.loads(bucket.get("incidents/2026-0142/v1.json"))
    assert (record["released_by"], record["on_behalf_of"]) == ("pio.jones", "Chief of Police")
    for key in ("incidents/2026-0142/v1.html", "incidents/2026-0142/index.html"):
        meta = lxml.html.document_fromstring(bucket.get(key).decode()).xpath(
            "//p[@class='meta'][contains(., 'by ')]"
        )[-1]
        assert " ".join(meta.text_content().split()).endswith("by pio.jones on behalf of Chief of Police"), (
            key
        )
    txt = bucket.get("incidents/2026-0142/v1.txt").decode()
    assert "Released by: pio.jones\nOn behalf of: Chief of Police\n" in txt
    # Without a name in the document, nothing is said on anyone's behalf.
    pipeline.release(UPDATE, bucket, settings, key="run-2", released_by="pio.smith")
    record = json.loads(bucket.get("incidents/2026-0142/v2.json"))
    assert (record["released_by"], record["on_behalf_of"]) == ("pio.smith", None)
    assert "On behalf of" not in bucket.get("incidents/2026-0142/v2.txt").decode()


@pytest.mark.parametrize(
    ("user", "run_id", "expected"),
    [
        ("pio.jones", "manual__2026-11-21T03:00:00+00:00", "pio.jones"),
        ("pio.jones", "inbox__0123456789abcdef01234567", "pio.jones"),
        (None, "inbox__0123456789abcdef01234567", "inbox"),
        ("", "scheduled__2026-11-21T03:00:00+00:00", "airflow"),
    ],
    ids=["user", "user-even-for-inbox-id", "inbox", "no-user"],
)
def test_who_released_comes_from_the_run(user, run_id, expected):
    assert pipeline.releaser(user, run_id) == expected

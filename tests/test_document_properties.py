"""Property-based: every invalid document is refused naming its field, writing nothing; valid ones publish."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sample import PRELIMINARY

from releases import catalog as catalog_mod
from releases import feeds, pipeline, render, views
from releases.document import FIELDS, parse_update
from releases.errors import InvalidUpdate, ReleaseError
from releases.records import next_record
from releases.settings import Settings
from releases.storage import Store, client_from_settings
from releases.text import BLANKS

# Words that cannot form a phone number, address, e-mail or date: the privacy guard has
# its own tests; here valid means valid.
# Letters a reader sees: the Hangul fillers are letters to Unicode but show as nothing (refused).
WORD = st.text(
    alphabet=st.characters(categories=("L",), max_codepoint=0x2FFF, exclude_characters="".join(BLANKS)),
    min_size=1,
    max_size=12,
)
LINE = st.lists(WORD, min_size=1, max_size=8).map(" ".join)
TEXT = st.lists(LINE, min_size=1, max_size=4).map("\n\n".join)
INCIDENT_ID = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{2,20}", fullmatch=True)
ZONE = st.sampled_from(["Z", "+00:00", "-05:00", "+05:30", "-11:00"])


@st.composite
def valid_documents(draw):
    doc = {"incident_id": draw(INCIDENT_ID), "stage": "preliminary"}
    for spec in FIELDS:
        if spec.timestamp:
            day = draw(st.integers(min_value=1, max_value=28))
            doc[spec.name] = f"2026-10-{day:02d}T{draw(st.integers(0, 23)):02d}:15:00{draw(ZONE)}"
        else:
            doc[spec.name] = draw(TEXT if spec.multiline else LINE)[: spec.max_length]
    return doc


BAD_VALUES = {
    # field: strategy of values that break one of its rules
    "incident_id": st.one_of(
        st.text(max_size=2),
        st.integers(min_value=65, max_value=70).map(lambda n: "a" * n),
        st.text(min_size=3, max_size=10).filter(lambda s: any(c in s for c in "/. _\u00e9\n")),
        st.integers(),
    ),
    "stage": st.one_of(
        st.text(max_size=12).filter(lambda s: s not in ("preliminary", "updated", "corrected")), st.integers()
    ),
    "headline": st.one_of(
        st.integers(min_value=1, max_value=20).map(lambda n: "ab " * 67 + "x" * n),
        LINE.map(lambda s: s + "\nsecond line"),
        st.sampled_from(["\x00", "\x07", "\x1b", "\x7f", "\ufffe"]).map(lambda c: f"bad{c}char"),
        st.integers(),
        st.lists(st.text(), min_size=1),
    ),
    "body": st.one_of(
        st.integers(min_value=1, max_value=50).map(lambda n: "a" * (20000 + n)),
        st.sampled_from(["\x00", "\x0b", "\x0c", "\ud800"]).map(lambda c: f"bad{c}char"),
    ),
    "occurred_at": st.one_of(
        st.sampled_from(["2026-11-20T21:14:00", "2026-11-20", "yesterday", "2026-13-01T00:00:00Z", "21:14"]),
        st.integers(),
    ),
}


@pytest.fixture(scope="module")
def store(s3_endpoint):
    name = f"props-{uuid.uuid4().hex[:12]}"
    s = Store(client_from_settings(Settings(bucket=name, s3_endpoint=s3_endpoint)), name)
    s.ensure_bucket()
    return s


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), field=st.sampled_from(sorted(BAD_VALUES)))
def test_invalid_field_is_refused_by_name_and_nothing_is_written(store, data, field):
    doc = {**data.draw(valid_documents()), field: data.draw(BAD_VALUES[field])}
    with pytest.raises(InvalidUpdate) as err:
        pipeline.release(doc, store, Settings(bucket=store.bucket), key=f"k-{uuid.uuid4()}", released_by="p")
    assert err.value.field == field, str(err.value)
    assert str(err.value).startswith(f"{field}: ")
    assert store.list_keys("") == []


@settings(max_examples=60, deadline=None)
@given(doc=valid_documents(), extra=st.text(min_size=1, max_size=20).filter(lambda k: k not in PRELIMINARY))
def test_unknown_fields_and_missing_fields_are_named(doc, extra):
    with pytest.raises(InvalidUpdate) as err:
        parse_update({**doc, extra: "x"})
    assert err.value.field == ascii(extra)[:60]
    for spec in FIELDS:
        missing = {k: v for k, v in doc.items() if k != spec.name}
        with pytest.raises(InvalidUpdate) as err:
            parse_update(missing)
        assert err.value.field == spec.name


@pytest.mark.slow  # 25 publications to a real store: full suite only
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=valid_documents())
def test_valid_preliminary_always_publishes(s3_endpoint, doc):
    name = f"props-{uuid.uuid4().hex[:12]}"
    cfg = Settings(bucket=name, s3_endpoint=s3_endpoint)
    store = Store(client_from_settings(cfg), name)
    store.ensure_bucket()
    published = pipeline.release(doc, store, cfg, key="k", released_by="p")
    assert published["version"] == 1
    assert f"incidents/{doc['incident_id'].upper()}/v1.json" in store.list_keys("incidents/")


# -- whatever the validator accepts can be shown, in every display time zone ------------------

# Text from all of Unicode, weighted towards what intake accepts (else nearly every example
# would be refused), with the pieces that are hardest to show: right-to-left words, joiners a
# script needs, combining marks, emoji sequences, astral letters. The validator, not this
# strategy, decides what is accepted; refused examples are skipped.
SHOWN_CHAR = st.characters(exclude_categories=("Cs", "Cc", "Cf", "Zl", "Zp"))
TRICKY = st.sampled_from(
    [
        "עברית",
        "مرحبا بالعالم",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "\u0915\u094d\u200d\u0937",
        "\U0001f46e\u200d\u2640\ufe0f",
        "e\u0301",
        "\U0001d518\U0001d52b",
        " \t ",
        "<b>&amp;",
        "]]>",
    ]
)
ANY_TEXT = st.lists(
    st.one_of(st.text(SHOWN_CHAR, min_size=1, max_size=8), TRICKY, st.characters(exclude_categories=("Cs",))),
    min_size=1,
    max_size=4,
).map("".join)
ANY_LINE = st.one_of(LINE, ANY_TEXT)
ANY_MULTILINE = st.one_of(TEXT, ANY_TEXT, st.lists(ANY_TEXT, min_size=2, max_size=3).map("\n\n".join))
OFFSET = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# Near the edges of what is accepted, anywhere datetime can go, and the values that broke
# incidents for good before times were limited (issue 12).
MOMENT = st.one_of(
    st.datetimes(min_value=datetime(1899, 12, 30), max_value=datetime(2101, 1, 2), timezones=OFFSET),
    st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=OFFSET),
).map(datetime.isoformat) | st.sampled_from(
    ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "1900-01-01T00:00:00Z", "2100-12-31T23:59:59Z"]
)
# UTC, UTC+14, UTC-12, and none: each time in its statement's own offset.
DISPLAY_ZONES = ("UTC", "Pacific/Kiritimati", "Etc/GMT+12", "")


@st.composite
def accepted_histories(draw):
    """A preliminary and a correction of it, each as the validator accepted it, sealed as a release would."""
    first = {"incident_id": draw(INCIDENT_ID), "stage": "preliminary"}
    for spec in FIELDS:
        if spec.timestamp:
            first[spec.name] = draw(MOMENT)
        else:
            first[spec.name] = draw(ANY_MULTILINE if spec.multiline else ANY_LINE)
    fix = {
        "incident_id": first["incident_id"],
        "stage": "corrected",
        "correction_note": draw(ANY_MULTILINE),
        "released_by": draw(ANY_LINE),
        **{
            name: draw(ANY_LINE)
            for name in draw(st.sets(st.sampled_from(["headline", "location", "agency"]), min_size=1))
        },
    }
    if draw(st.booleans()):
        fix["occurred_at"] = draw(MOMENT)
    records = []
    for n, doc in enumerate((first, fix)):
        at = ("2026-11-21T03:00:00Z", "2026-11-22T15:45:00Z")[n]
        try:
            record = next_record(
                parse_update(doc),
                records[-1] if records else None,
                released_at=at,
                released_by="pio",
                key=f"k{n}",
            )
        except ReleaseError:
            assume(False)
        records.append(record)
    return records


@pytest.mark.slow  # 60 histories x 3 zones x 4 renderings: full suite only
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(records=accepted_histories())
def test_anything_accepted_renders_in_every_display_zone(records):
    """Page, feed, wire text and CSV of any accepted history, in UTC, UTC+14 and UTC-12."""
    iid = records[0]["incident_id"]
    catalog, days = catalog_mod.build({iid: records}, feed_window=50, index_window=100)
    for zone in DISPLAY_ZONES:
        cfg = Settings(display_timezone=zone)
        for record in records:
            render.version_html(record, cfg)
            assert record["headline"] in render.version_txt(record, cfg).decode()
        render.incident_page(records, cfg)
        feeds.incident_feeds(records, cfg)
        site = views.all_views(
            catalog,
            days,
            views.month_rows(views.correction_entries([records]), cfg),
            cfg,
            views.release_rows([records]),
        )
        cells = [
            c
            for row in csv.reader(io.StringIO(site["corrections/corrections.csv"].decode(), newline=""))
            for c in row
        ]
        assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]

"""Property-based: every invalid document is refused naming its field, writing nothing; valid ones publish."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sample import PRELIMINARY

from releases import pipeline
from releases.document import FIELDS, parse_update
from releases.errors import InvalidUpdate
from releases.settings import Settings
from releases.storage import Store, client_from_settings

# Words that cannot form a phone number, address, e-mail or date: the privacy guard has
# its own tests; here valid means valid.
WORD = st.text(alphabet=st.characters(categories=("L",), max_codepoint=0x2FFF), min_size=1, max_size=12)
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

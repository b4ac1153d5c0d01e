"""The statement's language (``language``, a BCP 47 tag): validated, carried over, and marked on the
statement's text in pages (``lang``, ``dir``) and on its feed entries (``xml:lang``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import feedparser
import jsonschema
import lxml.etree
import lxml.html
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import sample  # noqa: E402

from releases import catalog as catalog_mod  # noqa: E402
from releases import cli, feeds, pipeline, render  # noqa: E402
from releases.document import param_schemas, parse_update  # noqa: E402
from releases.errors import InvalidUpdate  # noqa: E402
from releases.settings import Settings, load  # noqa: E402

SETTINGS = Settings()
ARABIC = {
    **sample.PRELIMINARY,
    "language": "ar",
    "headline": "إطلاق نار يتورط فيه ضابط قرب شارع 5 وشارع مين",
    "summary": "إصابة شخص بالغ ونقله إلى المستشفى.",
    # Starts with a Latin name: dir="auto" would lay this Arabic paragraph out left to right.
    "body": "John Smith، المتحدث باسم الشرطة، قال إن الضباط استجابوا لبلاغ.\n\nلم يصب أي ضابط.",
}
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@pytest.mark.parametrize(
    ("given", "kept"),
    [("ar", "ar"), ("EN", "en"), ("es-mx", "es-MX"), ("zh-hant-tw", "zh-Hant-TW"), ("es-419", "es-419")],
)
def test_a_bcp_47_tag_is_kept_in_its_conventional_case(given, kept):
    assert parse_update({**sample.PRELIMINARY, "language": given}).language == kept


def test_language_is_optional():
    assert parse_update(sample.PRELIMINARY).language is None
    assert "language" not in sample.history()[0]  # records without one are what they always were


@pytest.mark.parametrize("bad", ["english!!", "english", "en_US", "e", "en-", "x-klingon", 12, ["en"]])
def test_a_malformed_tag_is_refused_naming_the_field_and_the_rule(bad):
    with pytest.raises(InvalidUpdate) as err:
        parse_update({**sample.PRELIMINARY, "language": bad})
    message = str(err.value)
    assert message.startswith("language: must be a BCP 47 language tag such as en, es-MX, ar or zh-Hant")


def test_the_trigger_form_refuses_it_too():
    schema = {k: v for k, v in param_schemas()["language"].items() if k not in ("default", "title")}
    for good in ("ar", "zh-Hant-TW", None):
        jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate("english!!", schema)


def test_validate_refuses_it_and_a_release_writes_nothing(tmp_path, capsys, bucket):
    path = tmp_path / "update.json"
    path.write_text(json.dumps({**sample.PRELIMINARY, "language": "english!!"}))
    assert cli.main(["validate", str(path)]) == 2
    assert capsys.readouterr().err.startswith("refused: language: must be a BCP 47 language tag")
    before = sorted(bucket.list_keys(""))
    with pytest.raises(InvalidUpdate, match="^language: "):
        pipeline.release(
            {**sample.PRELIMINARY, "language": "english!!"}, bucket, load(), key="run-1", released_by="pio"
        )
    assert sorted(bucket.list_keys("")) == before


def test_the_language_carries_over_and_a_new_one_is_a_recorded_change():
    records = sample.history(
        (ARABIC, sample.UPDATE, {"incident_id": "2026-0142", "stage": "updated", "language": "ar-EG"}),
        sample.TIMES,
    )
    assert [r.get("language") for r in records] == ["ar", "ar", "ar-EG"]
    assert records[1]["changes"] == [
        {"field": "summary", "was": ARABIC["summary"], "now": sample.UPDATE["summary"]}
    ]
    assert records[2]["changes"] == [{"field": "language", "was": "ar", "now": "ar-EG"}]


@pytest.mark.parametrize(
    ("tag", "direction"),
    [
        ("ar", "rtl"),
        ("he", "rtl"),
        ("fa-IR", "rtl"),
        ("ur", "rtl"),
        ("az-Arab", "rtl"),  # the script decides
        ("ku-Latn", "ltr"),
        ("sd-Deva", "ltr"),
        ("en", "ltr"),
        ("es-419", "ltr"),
        ("zh-Hant", "ltr"),
    ],
)
def test_direction_follows_the_language_or_its_script(tag, direction):
    assert render.direction(tag) == direction


def statement_elements(page: bytes):
    doc = lxml.html.document_fromstring(page.decode())
    return doc, [*doc.xpath("//h1"), *doc.xpath("//main//p[contains(@class, 'lead')]/following-sibling::p")]


@pytest.mark.parametrize(("tag", "direction"), [("ar", "rtl"), ("he", "rtl"), ("ur", "rtl"), ("es", "ltr")])
def test_the_statements_text_carries_lang_and_dir_on_its_pages(tag, direction):
    records = sample.history(({**ARABIC, "language": tag}, sample.UPDATE), sample.TIMES[:2])
    pages = [render.version_html(r, SETTINGS) for r in records] + [render.incident_page(records, SETTINGS)]
    for page in pages:
        doc = lxml.html.document_fromstring(page.decode())
        marked = doc.xpath(f"//*[@lang='{tag}']")
        # The headline, the summary, both paragraphs, location, agency and contact.
        assert [e.tag for e in marked][:4] == ["h1", "p", "p", "p"] and len(marked) >= 7
        assert {e.get("dir") for e in marked} == {direction}
        assert ARABIC["body"].split("\n\n")[0] in [e.text_content() for e in marked]
        # The site's own words (navigation, labels) stay the site's language.
        assert doc.get("lang") == "en" and doc.find(".//nav").get("lang") is None
    catalog = catalog_mod.build({"2026-0142": records}, feed_window=50, index_window=100)[0]
    index = lxml.html.document_fromstring(render.site_index(catalog, SETTINGS).decode())
    headline = index.xpath("//ol[@class='incidents']//h2/a")[0]
    assert (headline.get("lang"), headline.get("dir")) == (tag, direction)


def test_without_a_language_the_browser_takes_the_direction_from_the_text():
    doc = lxml.html.document_fromstring(render.version_html(sample.history()[0], SETTINGS).decode())
    assert doc.find(".//h1").get("dir") == "auto" and not doc.xpath("//main//*[@lang]")


def test_feed_entries_carry_xml_lang():
    english = sample.history((sample.PRELIMINARY, sample.UPDATE), sample.TIMES[:2])
    arabic = sample.history((ARABIC, sample.UPDATE), sample.TIMES[:2])
    for body, tag in zip(feeds.incident_feeds(arabic, SETTINGS), ("channel/item", "{*}entry"), strict=True):
        root = lxml.etree.fromstring(body)
        assert [e.get(XML_LANG) for e in root.iterfind(tag)] == ["ar", "ar"]
        # Readers see it: feedparser reports each entry's language.
        assert [e.title_detail["language"] for e in feedparser.parse(body).entries] == ["ar", "ar"]
    # Entries of statements that name no language say nothing (the feed's own language, en, applies).
    for body, tag in zip(feeds.incident_feeds(english, SETTINGS), ("channel/item", "{*}entry"), strict=True):
        assert [e.get(XML_LANG) for e in lxml.etree.fromstring(body).iterfind(tag)] == [None, None]

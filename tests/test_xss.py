"""Hostile text in every text field, through every page type and every feed: shown as text only."""

from __future__ import annotations

import re
from collections import Counter

import feedparser
import lxml.etree
import lxml.html
import pytest
from sample import history
from xss_corpus import PAYLOADS, REFUSED_AT_INTAKE

from releases import catalog as catalog_mod
from releases import changelog, feeds, render
from releases.settings import Settings

SETTINGS = Settings(public_url="https://releases.example.org")
TEXT_FIELDS = ("headline", "summary", "body", "location", "agency", "contact")


def docs(text: str):
    first = {
        "incident_id": "2026-0142",
        "stage": "preliminary",
        "occurred_at": "2026-11-20T21:14:00-05:00",
        **{f: f"{text} ({f})" for f in TEXT_FIELDS},
    }
    fix = {
        "incident_id": "2026-0142",
        "stage": "corrected",
        "location": f"{text} (fixed)",
        "correction_note": f"{text} (note)",
    }
    return history((first, fix), ["2026-11-21T03:00:00Z", "2026-11-22T15:45:00Z"], by=f"{text} (by)")


def pages(records):
    catalog, days = catalog_mod.build({"2026-0142": records}, feed_window=50, index_window=100)
    rows = changelog.rows_of(catalog["corrections"], SETTINGS.base_url)
    out = {
        "index": render.site_index(catalog, SETTINGS),
        "archive": render.day_page(days["2026-11-21"], SETTINGS),
        "incident": render.incident_page(records, SETTINGS),
        "v1": render.version_html(records[0], SETTINGS),
        "v2": render.version_html(records[1], SETTINGS),
        "corrections": render.corrections_page(catalog, rows, SETTINGS),
        "corrections-month": render.corrections_month_page("2026-11", rows, SETTINGS),
    }
    feed_docs = {}
    for name, (rss, atom) in {
        "site": feeds.site_feeds(catalog, SETTINGS),
        "incident": feeds.incident_feeds(records, SETTINGS),
        "corrections": feeds.corrections_feeds(catalog, SETTINGS),
    }.items():
        feed_docs[f"{name}.rss"], feed_docs[f"{name}.atom"] = rss, atom
    return out, feed_docs


SAFE_LINK = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)


def shape(page: bytes) -> Counter:
    """Every element and attribute name in a page: injected markup would add to it. The one element a
    payload may add is a safe link made of an http(s) URL in statement text: checked, then not counted."""
    tree = lxml.html.document_fromstring(page.decode("utf-8"))
    counts = Counter()
    for el in tree.iter():
        if el.tag == "a" and el.get("rel") == "nofollow noopener" and not el.get("class"):
            href = el.get("href", "")
            assert (
                SAFE_LINK.fullmatch(href) and el.text_content() == href and set(el.attrib) == {"href", "rel"}
            )
            assert len(el) == 0, "a link holds markup"
            continue
        if isinstance(el.tag, str):
            counts[el.tag] += 1
            counts.update(f"{el.tag}@{name}" for name in el.attrib)
    return counts


BENIGN_PAGES, BENIGN_FEEDS = pages(docs("plain words"))


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_payload_is_text_on_every_page_and_in_every_feed(payload):
    html_pages, feed_docs = pages(docs(payload))
    for name, page in html_pages.items():
        assert shape(page) == shape(BENIGN_PAGES[name]), f"{name}: markup injected"
        text = lxml.html.document_fromstring(page.decode("utf-8")).text_content()
        assert payload.strip() in text or name in ("index", "archive"), name
    for name, raw in feed_docs.items():
        root = lxml.etree.fromstring(raw)  # strict XML: raises if a payload broke the document
        assert not feedparser.parse(raw).bozo, name
        hostile_fields = feed_html_fields(root)
        benign_fields = feed_html_fields(lxml.etree.fromstring(BENIGN_FEEDS[name]))
        for (field, value), (_, benign) in zip(hostile_fields, benign_fields, strict=True):
            # Readers render these as HTML: no element may appear that the benign feed does not have.
            assert shape(wrap(value)) == shape(wrap(benign)), f"{name} {field}: markup injected"
        # Titles are plain text in both formats (RSS: the RSS Board's profile; Atom: by definition):
        # the text itself, never escaped twice. (feedparser runs its HTML sanitizer over an RSS title
        # that holds markup, and hands over an Atom title as it is.)
        titles = [t.text or "" for t in root.iter("title", "{http://www.w3.org/2005/Atom}title")]
        assert any(payload.strip() in t for t in titles), name
        if name.endswith(".atom"):
            assert [e.title for e in feedparser.parse(raw).entries] == titles[1:], name


def wrap(fragment: str) -> bytes:
    return f"<div>{fragment}</div>".encode()


def html_text(fragment: str) -> str:
    return lxml.html.fragment_fromstring(fragment or " ", create_parent="div").text_content()


def feed_html_fields(root):
    """(field, text) of every entry field a reader treats as HTML, in document order."""
    out = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        local = lxml.etree.QName(el).localname
        # Titles are plain text (RSS: the RSS Board's profile; Atom: no type); none is typed html.
        if local in ("description", "encoded") or (local == "title" and el.get("type") == "html"):
            out.append((local, el.text or ""))
        elif local in ("summary", "content") and el.get("type") == "html":
            out.append((local, el.text or ""))
    return out


def test_corpus_is_large_and_distinct():
    # Every payload also passed intake above: docs() builds the records with parse_update.
    assert len(set(PAYLOADS)) == len(PAYLOADS) >= 50


@pytest.mark.parametrize("payload", REFUSED_AT_INTAKE, ids=["bidi-override", "zero-width", "tag-characters"])
def test_invisible_characters_never_reach_a_page(payload):
    from releases.errors import InvalidUpdate

    with pytest.raises(InvalidUpdate) as err:
        docs(payload)
    assert err.value.field == "headline"
    assert "invisible" in err.value.rule


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("See https://example.org/a?b=1&c=2.", ["https://example.org/a?b=1&c=2"]),
        ("(details: http://example.org/x)", ["http://example.org/x"]),
        ("javascript:alert(1) and JAVASCRIPT://x", []),
        (
            'data:text/html,<script>alert(1)</script> "https://a.example/"onmouseover=alert(1)',
            ["https://a.example/"],
        ),
        ("ftp://example.org and //example.org and https:// alone", []),
    ],
)
def test_http_urls_in_statement_text_become_safe_links_and_nothing_else_does(text, links):
    html = str(render.linkify(text))
    assert "<script" not in html
    tree = lxml.html.fragment_fromstring(html, create_parent="div")
    found = tree.findall(".//a")
    assert [a.get("href") for a in found] == links
    assert all(a.get("rel") == "nofollow noopener" and set(a.attrib) == {"href", "rel"} for a in found)
    assert tree.text_content() == text  # the text reads as it was typed


def test_links_in_the_body_and_summary_on_pages_and_in_feeds():
    records = docs("Read https://city.example/report.pdf, or call.")
    html_pages, feed_docs = pages(records)
    page = lxml.html.document_fromstring(html_pages["incident"].decode("utf-8"))
    hrefs = [a.get("href") for a in page.iter("a") if a.get("rel") == "nofollow noopener"]
    assert hrefs.count("https://city.example/report.pdf") >= 2  # summary and body
    for name, raw in feed_docs.items():
        fields = [value for _, value in feed_html_fields(lxml.etree.fromstring(raw))]
        assert any(
            '<a href="https://city.example/report.pdf" rel="nofollow noopener">' in v for v in fields
        ), name

"""What a page says about itself: that a version page is one version of a statement that may have changed
(and where the current one is), canonical and RFC 5829 version links, the stage in the title, a
description and social cards, and how it prints."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import lxml.html
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import sample  # noqa: E402
from test_render import SETTINGS, parse, sample_histories, site, text  # noqa: E402

from releases import render  # noqa: E402
from releases.settings import Settings  # noqa: E402

BASE = SETTINGS.base_url


def links(doc, rel: str) -> list[str]:
    return doc.xpath(f"//head/link[@rel='{rel}']/@href")


def meta(doc, attr: str, name: str) -> list[str]:
    return doc.xpath(f"//head/meta[@{attr}='{name}']/@content")


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_version_page_says_it_may_be_out_of_date_and_names_the_current_statement(n):
    record = sample.history()[n - 1]
    doc = parse(render.version_html(record, SETTINGS))
    notice = doc.find(".//main")[0]  # first thing on the page
    assert "version-notice" in notice.get("class")
    assert text(notice) == (
        f"Version {n} of this statement, as released {render.human_time(record['released_at'], render.zone(SETTINGS, record['occurred_at']))}. "
        f"This page is permanent and never changes: it shows version {n} exactly as released. "
        "The statement may have changed since: the current statement and every later version are on the "
        "incident page."
    )
    assert notice.xpath(".//a/@href") == ["index.html"]
    # Canonical: the incident page, absolute. RFC 5829: the latest version is on the incident page, as is
    # the history; the predecessor is the version before. Nothing names a later version.
    assert links(doc, "canonical") == [f"{BASE}/incidents/2026-0142/index.html"]
    assert links(doc, "latest-version") == ["index.html"]
    assert links(doc, "version-history") == ["index.html#history"]
    assert links(doc, "predecessor-version") == ([f"v{n - 1}.html"] if n > 1 else [])
    assert not [h for h in doc.xpath("//@href") if re.search(rf"v{n + 1}\.", h)]
    # The wire text says the same, with the address of the current statement.
    wire = render.version_txt(record, SETTINGS).decode().splitlines()
    assert wire[3] == (
        "This text never changes; the statement may have changed since. "
        f"Current statement: {BASE}/incidents/2026-0142/index.html"
    )


def test_the_incident_page_names_its_latest_version_and_history():
    doc = parse(render.incident_page(sample.history(), SETTINGS))
    assert links(doc, "canonical") == [f"{BASE}/incidents/2026-0142/index.html"]
    assert links(doc, "latest-version") == ["v3.html"]
    assert links(doc, "version-history") == ["#history"]


@pytest.mark.parametrize(
    ("records", "title"),
    [
        (
            1,
            "PRELIMINARY — Officer-involved shooting near 5th St and Main St — Springfield Police Department",
        ),
        (2, "UPDATED — Officer-involved shooting near 5th St and Main St — Springfield Police Department"),
        (3, "CORRECTED — Officer-involved shooting near 5th St and Main St — Springfield Police Department"),
    ],
)
def test_the_title_leads_with_the_stage(records, title):
    history = sample.history()[:records]
    assert text(parse(render.incident_page(history, SETTINGS)).find(".//title")) == title
    version = parse(render.version_html(history[-1], SETTINGS))
    assert text(version.find(".//title")) == title.replace(
        " — Springfield", f" (version {records}) — Springfield"
    )


@pytest.mark.parametrize("key", list(site(sample_histories())))
def test_every_page_has_a_description_and_social_cards(key):
    doc = parse(site(sample_histories())[key])
    (description,) = meta(doc, "name", "description")
    assert 20 <= len(description) <= 200
    (canonical,) = links(doc, "canonical")
    assert canonical.startswith(BASE + "/")
    title = text(doc.find(".//title"))
    assert meta(doc, "property", "og:title") == [title] == meta(doc, "name", "twitter:title")
    assert (
        meta(doc, "property", "og:description") == [description] == meta(doc, "name", "twitter:description")
    )
    assert meta(doc, "property", "og:url") == [canonical]
    assert meta(doc, "property", "og:site_name") == [SETTINGS.site_title]
    assert meta(doc, "name", "twitter:card") == ["summary"]
    kind = "article" if key.startswith("incidents/") else "website"
    assert meta(doc, "property", "og:type") == [kind]


def test_a_statement_is_described_by_its_stage_and_summary():
    v1, _v2, v3 = sample.history()
    doc = parse(render.incident_page(sample.history(), SETTINGS))
    note = sample.CORRECTION["correction_note"]
    assert meta(doc, "name", "description") == [render.describe(f"Corrected: {note} {v3['summary']}")]
    first = parse(render.version_html(v1, SETTINGS))
    assert meta(first, "name", "description") == [f"Version 1 as released. Preliminary: {v1['summary']}"]


def test_a_long_description_is_cut_at_a_word():
    assert render.describe("word " * 100) == ("word " * 39).strip() + "\u2026"
    assert len(render.describe("word " * 100)) <= 200
    assert render.describe("  short\n\ntext ") == "short text"


def test_the_canonical_address_follows_the_public_url():
    settings = Settings(public_url="https://releases.example.org/")
    doc = parse(render.version_html(sample.history()[0], settings))
    assert links(doc, "canonical") == ["https://releases.example.org/incidents/2026-0142/index.html"]
    assert doc.xpath("//main//a[@href='v1.txt']/@data-url") == [
        "https://releases.example.org/incidents/2026-0142/v1.txt"
    ]


def test_the_print_stylesheet_drops_navigation_and_prints_link_addresses():
    doc = parse(render.version_html(sample.history()[1], SETTINGS))
    css = doc.find(".//style").text
    printed = css[css.index("@media print") :]
    assert re.search(r"nav, \.feeds \{ display: none; \}", printed)
    assert 'a[data-url]::after { content: " <" attr(data-url) ">"' in printed
    # On paper the page also says where it lives.
    assert doc.xpath("//header/p[@class='print-only']/text()") == [f"{BASE}/incidents/2026-0142/v2.html"]
    assert doc.xpath("//footer/p[@class='feeds']")
    for a in doc.xpath("//main//a[not(starts-with(@href, '#'))]"):
        assert a.get("data-url", "").startswith(BASE + "/incidents/2026-0142/"), lxml.html.tostring(a)

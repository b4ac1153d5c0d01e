"""Feeds as newsrooms' readers see them: parsed by feedparser and by a strict XML parser."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import lxml.html
import pytest
from lxml import etree

sys.path.insert(0, str(Path(__file__).parent))
import sample  # noqa: E402

from releases import catalog as catalog_mod  # noqa: E402
from releases import render
from releases.document import parse_update  # noqa: E402
from releases.errors import InvalidUpdate  # noqa: E402
from releases.feeds import corrections_feeds, entry_id, incident_feeds, site_feeds  # noqa: E402
from releases.settings import Settings  # noqa: E402

SETTINGS = Settings(public_url="https://news.example.org/releases", tag_authority="police.example.org")
BASE = "https://news.example.org/releases"
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
STRICT = etree.XMLParser(recover=False, resolve_entities=False, no_network=True)

HOSTILE_HEADLINE = "<script>alert(1)</script> ]]> &amp; \"double\" 'single' עברית 🚓"
HOSTILE_SUMMARY = "Summary <script>alert('s')</script> ]]> &amp; <b>not bold</b> 🚓"
HOSTILE_BODY = "Body <script>alert('b')</script>\n\n<img src=x onerror=alert(2)> ]]> &lt; done"
HOSTILE_NOTE = "Note <script>alert('n')</script> ]]> &amp; \"quoted\""


def parse(data: bytes) -> feedparser.FeedParserDict:
    """Parse one feed the two ways a reader might; both must accept it."""
    etree.fromstring(data, STRICT)
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def struct(stamp: str) -> tuple:
    """The fields of feedparser's struct_time (always UTC) for an RFC 3339 time."""
    return datetime.fromisoformat(stamp).astimezone(UTC).timetuple()[:6]


def incident(settings: Settings = SETTINGS) -> tuple[bytes, bytes]:
    return incident_feeds(sample.history(), settings)


def all_feeds(settings: Settings = SETTINGS, records=None) -> dict[str, bytes]:
    """The six feeds of a history (default: the sample incident plus one other incident)."""
    if records is None:
        cat = sample.catalog()
        rss, atom = incident(settings)
    else:
        cat = catalog_mod.build({records[0]["incident_id"]: records}, feed_window=50, index_window=100)[0]
        rss, atom = incident_feeds(records, settings)
    site_rss, site_atom = site_feeds(cat, settings)
    corr_rss, corr_atom = corrections_feeds(cat, settings)
    return {
        "incidents/2026-0142/rss.xml": rss,
        "incidents/2026-0142/atom.xml": atom,
        "rss.xml": site_rss,
        "atom.xml": site_atom,
        "corrections.rss.xml": corr_rss,
        "corrections.atom.xml": corr_atom,
    }


@pytest.mark.parametrize("key", sorted(all_feeds()))
def test_every_feed_is_well_formed_in_its_format(key):
    data = all_feeds()[key]
    parsed = parse(data)
    assert parsed.version == ("atom10" if "atom" in key else "rss20")
    assert parsed.feed.language == "en"
    assert parsed.entries


@pytest.mark.parametrize("key", sorted(all_feeds()))
def test_self_link_names_the_feed_itself(key):
    root = etree.fromstring(all_feeds()[key], STRICT)
    scope = root if "atom" in key else root.find("channel")
    selfs = [el.get("href") for el in scope.findall(f"{ATOM}link") if el.get("rel") == "self"]
    assert selfs == [f"{BASE}/{key}"]
    assert [link.href for link in parse(all_feeds()[key]).feed.links if link.rel == "self"] == [
        f"{BASE}/{key}"
    ]


def test_entry_id_is_a_tag_uri_naming_incident_and_version():
    first, second, third = sample.history()
    assert entry_id(first, SETTINGS) == "tag:police.example.org,2026-11-21:incidents/2026-0142/v1"
    assert entry_id(third, SETTINGS) == "tag:police.example.org,2026-11-22:incidents/2026-0142/v3"
    # The id is a function of the record alone: rebuilding never changes it.
    assert entry_id(dict(second), SETTINGS) == entry_id(second, SETTINGS)


@pytest.mark.parametrize("fmt", [0, 1])
def test_incident_feed_has_every_version_newest_first_with_unique_ids(fmt):
    parsed = parse(incident()[fmt])
    ids = [e.id for e in parsed.entries]
    assert ids == [
        "tag:police.example.org,2026-11-22:incidents/2026-0142/v3",
        "tag:police.example.org,2026-11-21:incidents/2026-0142/v2",
        "tag:police.example.org,2026-11-21:incidents/2026-0142/v1",
    ]
    assert len(set(ids)) == len(ids)
    assert [e.link for e in parsed.entries] == [f"{BASE}/incidents/2026-0142/v{n}.html" for n in (3, 2, 1)]
    assert parsed.feed.title == (
        "Critical incident releases: 2026-0142 — Officer-involved shooting near 5th St and Main St"
    )
    assert parsed.feed.link == f"{BASE}/incidents/2026-0142/index.html"


def test_rss_guid_is_not_a_permalink():
    guids = etree.fromstring(incident()[0], STRICT).findall("channel/item/guid")
    assert len(guids) == 3
    assert {g.get("isPermaLink") for g in guids} == {"false"}


@pytest.mark.parametrize("fmt", [0, 1])
def test_stage_is_in_title_and_category_and_agency_is_author(fmt):
    entries = parse(incident()[fmt]).entries
    headline = sample.PRELIMINARY["headline"]
    # An update's and a correction's title names the fields it changed, as the pages name them.
    assert [e.title for e in entries] == [
        f"CORRECTION (location): {headline}",
        f"UPDATE (summary): {headline}",
        f"PRELIMINARY: {headline}",
    ]
    assert [[t.term for t in e.tags] for e in entries] == [["corrected"], ["updated"], ["preliminary"]]
    assert {e.author for e in entries} == {"Springfield Police Department"}


@pytest.mark.parametrize("fmt", [0, 1])
def test_times_are_the_release_times_in_utc(fmt):
    parsed = parse(incident()[fmt])
    expected = [struct(t) for t in reversed(sample.TIMES)]
    assert [tuple(e.published_parsed)[:6] for e in parsed.entries] == expected
    if fmt == 1:
        assert [tuple(e.updated_parsed)[:6] for e in parsed.entries] == expected
    # The feed is as new as its newest entry; never the time it happened to be built.
    assert tuple(parsed.feed.updated_parsed)[:6] == struct(sample.TIMES[-1])


def test_dates_carry_their_zone_in_each_format():
    records = sample.history()
    # A release time given with an offset is the same instant in UTC.
    records[-1] = {**records[-1], "released_at": "2026-11-22T16:45:00+01:00"}
    rss, atom = incident_feeds(records, SETTINGS)
    rss_root, atom_root = etree.fromstring(rss, STRICT), etree.fromstring(atom, STRICT)
    assert rss_root.findtext("channel/item/pubDate") == "Sun, 22 Nov 2026 15:45:00 +0000"
    assert rss_root.findtext("channel/lastBuildDate") == "Sun, 22 Nov 2026 15:45:00 +0000"
    assert rss_root.findtext("channel/pubDate") == "Sun, 22 Nov 2026 15:45:00 +0000"
    assert atom_root.findtext(f"{ATOM}entry/{ATOM}published") == "2026-11-22T15:45:00+00:00"
    assert atom_root.findtext(f"{ATOM}entry/{ATOM}updated") == "2026-11-22T15:45:00+00:00"
    assert atom_root.findtext(f"{ATOM}updated") == "2026-11-22T15:45:00+00:00"
    assert tuple(parse(rss).entries[0].published_parsed)[:6] == (2026, 11, 22, 15, 45, 0)


def test_atom_entries_link_to_the_version_they_follow():
    root = etree.fromstring(incident()[1], STRICT)
    for entry, n in zip(root.findall(f"{ATOM}entry"), (3, 2, 1), strict=True):
        links = {(el.get("rel"), el.get("href")) for el in entry.findall(f"{ATOM}link")}
        expected = {("alternate", f"{BASE}/incidents/2026-0142/v{n}.html")}
        if n > 1:
            expected.add(("related", f"{BASE}/incidents/2026-0142/v{n - 1}.html"))
        assert links == expected
    related = [
        [(link.rel, link.href) for link in e.links if link.rel == "related"]
        for e in parse(incident()[1]).entries
    ]
    assert related == [
        [("related", f"{BASE}/incidents/2026-0142/v2.html")],
        [("related", f"{BASE}/incidents/2026-0142/v1.html")],
        [],
    ]


@pytest.mark.parametrize("fmt", [0, 1])
def test_content_says_what_each_stage_means(fmt):
    correction, update, preliminary = parse(incident()[fmt]).entries
    text = [
        lxml.html.fromstring(e.content[0].value).text_content() for e in (correction, update, preliminary)
    ]
    note = sample.CORRECTION["correction_note"]
    # The page's correction notice, word for word (one rendering path).
    corrected_at = render.human_time(
        sample.TIMES[2], render.zone(SETTINGS, sample.PRELIMINARY["occurred_at"])
    )
    assert text[0].lstrip().startswith(f"Corrected on {corrected_at}: {note}")
    assert "Location: was “5th St and Main St”, now “6th St and Main St”" in text[0]
    # The summary is long text: the words that changed, struck and inserted, inside its sentence.
    assert "Summary, word by word" in text[1]
    assert "One adult injured; transported toin stable condition at a hospital." in text[1]
    assert "This information is preliminary and may change." in text[2]
    assert "preliminary and may change" not in text[0] + text[1]
    # The entry's summary (what list views and digests show) says what changed, and for a correction why.
    summaries = [lxml.html.fromstring(e.summary).text_content() for e in (correction, update, preliminary)]
    assert summaries == [
        f"Corrected in version 3:\nLocation: “5th St and Main St” → “6th St and Main St”\nWhy: {note}\n",
        "Updated in version 2:\nSummary: “One adult injured; transported to a hospital.” → "
        "“One adult injured; in stable condition at a hospital.”\n",
        sample.PRELIMINARY["summary"],
    ]


@pytest.mark.parametrize("fmt", [0, 1])
def test_corrections_feed_carries_only_corrections(fmt):
    parsed = parse(corrections_feeds(sample.catalog(), SETTINGS)[fmt])
    assert parsed.feed.title == "Critical incident releases — corrections"
    assert [e.id for e in parsed.entries] == ["tag:police.example.org,2026-11-22:incidents/2026-0142/v3"]
    (entry,) = parsed.entries
    text = lxml.html.fromstring(entry.content[0].value).text_content()
    assert sample.CORRECTION["correction_note"] in text
    assert "was “5th St and Main St”, now “6th St and Main St”" in text
    assert [t.term for t in entry.tags] == ["corrected"]


def test_corrections_feed_is_limited_to_the_window():
    docs = [
        sample.PRELIMINARY,
        *(
            {**sample.CORRECTION, "location": f"{n}th St and Main St", "correction_note": f"Fix {n}"}
            for n in range(6, 10)
        ),
    ]
    times = [f"2026-11-2{n}T10:00:00Z" for n in range(5)]
    cat = catalog_mod.build({"2026-0142": sample.history(docs, times)}, feed_window=50, index_window=100)[0]
    rss, atom = corrections_feeds(cat, Settings(feed_window=2))
    for data in (rss, atom):
        assert [e.link.rsplit("/", 1)[1] for e in parse(data).entries] == ["v5.html", "v4.html"]


# -- names as submitted: plain-text titles (issue 15) --------------------------------------

NAMES = 'Seán O\'Brien & "Nguyễn Văn An"'


def named_history():
    """A statement about two people whose names hold an apostrophe, an ampersand, quotes and accents;
    the correction fixes the location, and the update changes one name in a two-paragraph statement."""
    first = {
        **sample.PRELIMINARY,
        "headline": f"Statement on the arrest of {NAMES}",
        "body": f"Officers arrested {NAMES} near 5th St.\n\nBoth were taken to the county jail.",
    }
    update = {
        "incident_id": "2026-0142",
        "stage": "updated",
        "body": f"Officers arrested {NAMES.replace('Seán', 'Sean')} near 5th St.\n\nBoth were taken to the county jail.",
    }
    return sample.history((first, update, sample.CORRECTION))


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_a_title_is_exactly_the_submitted_text_in_feedparser(fmt):
    data = incident_feeds(named_history(), SETTINGS)[fmt == "atom"]
    parsed = parse(data)
    headline = f"Statement on the arrest of {NAMES}"
    assert [e.title for e in parsed.entries] == [
        f"CORRECTION (location): {headline}",
        f"UPDATE (statement): {headline}",
        f"PRELIMINARY: {headline}",
    ]
    assert parsed.feed.title == f"Critical incident releases: 2026-0142 — {headline}"
    # Escaped once, for XML, and nothing else: no HTML entity text is left for a reader to show.
    titles = [t.text for t in etree.fromstring(data, STRICT).iter("title", f"{ATOM}title")]
    assert not [t for t in titles if "&#x27;" in t or "&amp;" in t or "&quot;" in t]
    if fmt == "rss":
        # The RSS Board's profile: "&" and "<" in plain text as character references.
        assert (
            f"<title>PRELIMINARY: Statement on the arrest of {NAMES.replace('&', '&#x26;')}</title>".encode()
            in data
        )


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_a_correction_entry_summary_says_which_field_what_it_was_what_it_is_and_why(fmt):
    parsed = parse(corrections_feeds(sample.catalog(), SETTINGS)[fmt == "atom"])
    (entry,) = parsed.entries
    assert entry.title == f"CORRECTION (location): {sample.PRELIMINARY['headline']}"
    summary = lxml.html.fromstring(entry.summary).text_content()
    assert "Location" in summary
    assert "“5th St and Main St” → “6th St and Main St”" in summary
    assert f"Why: {sample.CORRECTION['correction_note']}" in summary


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_an_update_of_long_text_is_summarised_by_the_passage_that_changed(fmt):
    _, update, _ = parse(incident_feeds(named_history(), SETTINGS)[fmt == "atom"]).entries
    summary = lxml.html.fromstring(update.summary).text_content()
    assert summary == (
        "Updated in version 2:\n"
        "Statement: “Officers arrested Seán O'Brien & \"Nguyễn Văn…” → “Officers arrested Sean O'Brien & \"Nguyễn Văn…”\n"
    )
    # The entry's content shows the whole statement word by word, its two paragraphs kept.
    content = lxml.html.fromstring(f"<div>{update.content[0].value}</div>")
    (diff,) = content.xpath("//li[starts-with(., 'Statement, word by word')]//div[@class='diff']")
    assert [(d.text, i.text) for d, i in zip(diff.iter("del"), diff.iter("ins"), strict=True)] == [
        ("Seán", "Sean")
    ]


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_every_later_entry_links_the_version_it_follows(fmt):
    parsed = parse(incident()[fmt == "atom"])
    related = [[link.href for link in e.links if link.rel == "related"] for e in parsed.entries]
    assert related == [
        [f"{BASE}/incidents/2026-0142/v2.html"],
        [f"{BASE}/incidents/2026-0142/v1.html"],
        [],
    ]
    # And in the entry's text, for readers that show no links but the content's.
    content = lxml.html.fromstring(f"<div>{parsed.entries[0].content[0].value}</div>")
    assert f"{BASE}/incidents/2026-0142/v2.html" in content.xpath("//a/@href")
    assert [e.link for e in parsed.entries] == [f"{BASE}/incidents/2026-0142/v{n}.html" for n in (3, 2, 1)]


@pytest.mark.parametrize("fmt", [0, 1])
def test_site_feed_lists_recent_releases_of_every_incident_newest_first(fmt):
    parsed = parse(site_feeds(sample.catalog(), SETTINGS)[fmt])
    assert parsed.feed.title == "Critical incident releases"
    assert [e.link.removeprefix(f"{BASE}/incidents/") for e in parsed.entries] == [
        "2026-0150/v1.html",
        "2026-0142/v3.html",
        "2026-0142/v2.html",
        "2026-0142/v1.html",
    ]
    assert parsed.entries[0].title == "PRELIMINARY: Death in custody at the county jail"
    assert tuple(parsed.feed.updated_parsed)[:6] == (2026, 11, 23, 12, 0, 0)


def test_feeds_are_byte_for_byte_reproducible():
    # feedgen fills dates with now() unless told otherwise; two builds expose any leak.
    first = all_feeds()
    assert all_feeds() == first
    records = sample.history()
    assert incident_feeds(list(reversed(records)), SETTINGS) == incident_feeds(records, SETTINGS)


@pytest.mark.parametrize("build", [site_feeds, corrections_feeds])
def test_empty_catalog_gives_valid_empty_feeds(build):
    rss, atom = build(catalog_mod.empty(), SETTINGS)
    for data in (rss, atom):
        parsed = parse(data)
        assert parsed.entries == []
        assert tuple(parsed.feed.updated_parsed)[:6] == (1970, 1, 1, 0, 0, 0)
    assert build(catalog_mod.empty(), SETTINGS) == (rss, atom)


def hostile_history():
    docs = (
        {
            **sample.PRELIMINARY,
            "headline": HOSTILE_HEADLINE,
            "summary": HOSTILE_SUMMARY,
            "body": HOSTILE_BODY,
        },
        {**sample.CORRECTION, "location": "<script>alert('loc')</script>", "correction_note": HOSTILE_NOTE},
    )
    return sample.history(docs, sample.TIMES[:2])


@pytest.mark.parametrize("fmt", [0, 1])
def test_hostile_text_stays_text(fmt):
    records = hostile_history()
    data = incident_feeds(records, SETTINGS)[fmt]
    parsed = parse(data)
    root = etree.fromstring(data, STRICT)
    # Titles are plain text in both formats: the XML carries the headline itself, escaped once (for XML).
    assert [t.text for t in root.iter("title", f"{ATOM}title")] == [
        f"Critical incident releases: 2026-0142 — {HOSTILE_HEADLINE}",
        f"CORRECTION (location): {HOSTILE_HEADLINE}",
        f"PRELIMINARY: {HOSTILE_HEADLINE}",
    ]
    correction, preliminary = parsed.entries
    assert (correction.title, preliminary.title) == (
        f"CORRECTION (location): {HOSTILE_HEADLINE}",
        f"PRELIMINARY: {HOSTILE_HEADLINE}",
    )

    # What a reader gets as the entry's HTML, before any sanitizing of its own.
    if fmt == 0:
        raw = [item.findtext(CONTENT_ENCODED) for item in root.iter("item")]
        summaries = [item.findtext("description") for item in root.iter("item")]
    else:
        raw = [entry.findtext(f"{ATOM}content") for entry in root.iter(f"{ATOM}entry")]
        summaries = [entry.findtext(f"{ATOM}summary") for entry in root.iter(f"{ATOM}entry")]
    for html_text in raw + summaries:
        doc = lxml.html.fromstring(f"<div>{html_text}</div>")
        assert doc.findall(".//script") == []
        assert doc.findall(".//img") == []
        assert doc.findall(".//b") == []
    prelim_text = lxml.html.fromstring(raw[1]).text_content()
    assert HOSTILE_HEADLINE in prelim_text
    assert HOSTILE_SUMMARY in prelim_text
    assert "<img src=x onerror=alert(2)> ]]> &lt; done" in prelim_text
    corr_text = lxml.html.fromstring(raw[0]).text_content()
    assert f": {HOSTILE_NOTE}\n" in corr_text and corr_text.lstrip().startswith("Corrected on ")
    assert "now “<script>alert('loc')</script>”" in corr_text
    assert lxml.html.fromstring(f"<div>{summaries[1]}</div>").text_content() == HOSTILE_SUMMARY


# -- WebSub hub links -----------------------------------------------------------------

HUB = "https://hub.example.org/websub?x=1&y=2"


def feeds_with_hub() -> dict[str, bytes]:
    return all_feeds(replace(SETTINGS, websub_hub=HUB))


@pytest.mark.parametrize("key", sorted(all_feeds()))
def test_with_a_hub_every_feed_names_it_next_to_its_self_link(key):
    data = feeds_with_hub()[key]
    root = etree.fromstring(data, STRICT)
    scope = root if "atom" in key else root.find("channel")
    links = [(el.get("rel"), el.get("href")) for el in scope.findall(f"{ATOM}link")]
    assert links[:2] == [("self", f"{BASE}/{key}"), ("hub", HUB)]
    assert [rel for rel, _href in links].count("hub") == 1
    # Entries never carry a hub link: WebSub discovery looks at the feed only.
    assert [el for el in root.iter(f"{ATOM}link") if el.get("rel") == "hub"] == [
        scope.findall(f"{ATOM}link")[1]
    ]
    assert [link.href for link in parse(data).feed.links if link.rel == "hub"] == [HUB]


@pytest.mark.parametrize("key", sorted(all_feeds()))
def test_the_hub_link_is_the_only_difference_the_hub_makes(key):
    with_hub, without = feeds_with_hub()[key], all_feeds()[key]
    added = [line for line in with_hub.splitlines() if line not in without.splitlines()]
    assert added == [
        b'    <atom:link href="https://hub.example.org/websub?x=1&amp;y=2" rel="hub"/>'
    ] or added == [b'  <link href="https://hub.example.org/websub?x=1&amp;y=2" rel="hub"/>']
    assert with_hub.replace(added[0] + b"\n", b"", 1) == without


def test_without_a_hub_no_feed_names_one():
    for key, data in all_feeds().items():
        assert [
            el for el in etree.fromstring(data, STRICT).iter(f"{ATOM}link") if el.get("rel") == "hub"
        ] == [], key


# -- hostile text in every text field ---------------------------------------------------


def hostile(tag: str) -> str:
    """Text a reader must show as text: markup, CDATA end, entities, quotes, RTL, emoji."""
    return (
        f"{tag} <script>alert('{tag}')</script> <b>bold</b> <a href=\"javascript:alert(1)\">x</a> "
        "<![CDATA[c]]> ]]> &amp; &nbsp; &#x3C;i&#x3E; <!-- c --> \"dq\" 'sq' עברית "
        "مرحبا \U0001f469\u200d\U0001f692\U0001f693\tend"
    )


STAGE_OF = {"preliminary": "PRELIMINARY", "updated": "UPDATE", "corrected": "CORRECTION"}
# Everything our content HTML is made of; anything else came from submitted text.
# The elements the pages' macros write (feed entries are rendered by them too): nothing from the text.
OUR_TAGS = {"div", "p", "strong", "ul", "li", "a", "br", "dl", "dt", "dd", "time", "span", "del", "ins"}


def hostile_everywhere():
    first = {
        **sample.PRELIMINARY,
        **{name: hostile(name) for name in ("headline", "summary", "location", "agency", "contact")},
        "body": f"{hostile('body-1')}\n\n{hostile('body-2')}",
    }
    update = {
        "incident_id": "2026-0142",
        "stage": "updated",
        **{name: hostile(f"{name}-v2") for name in ("headline", "summary", "location", "agency", "contact")},
    }
    correction = {
        "incident_id": "2026-0142",
        "stage": "corrected",
        "location": hostile("location-v3"),
        "correction_note": f"{hostile('note-1')}\n\n{hostile('note-2')}",
    }
    return sample.history((first, update, correction), by=hostile("released_by"))


def entry_parts(data: bytes, atom: bool) -> list[dict[str, str]]:
    """Each entry's text as it is in the XML (XML-decoded, not yet HTML-decoded)."""
    root = etree.fromstring(data, STRICT)
    if atom:
        return [
            {
                "title": e.findtext(f"{ATOM}title"),
                "content": e.findtext(f"{ATOM}content"),
                "summary": e.findtext(f"{ATOM}summary"),
                "author": e.findtext(f"{ATOM}author/{ATOM}name"),
            }
            for e in root.iter(f"{ATOM}entry")
        ]
    return [
        {
            "title": i.findtext("title"),
            "content": i.findtext(CONTENT_ENCODED),
            "summary": i.findtext("description"),
            "author": i.findtext("{http://purl.org/dc/elements/1.1/}creator"),
        }
        for i in root.iter("item")
    ]


@pytest.mark.parametrize("key", sorted(all_feeds()))
def test_hostile_text_in_every_field_keeps_every_feed_well_formed_and_stays_text(key):
    records = hostile_everywhere()
    data = all_feeds(records=records)[key]
    parsed = parse(data)  # strict XML and feedparser, bozo false
    by_version = {f"{BASE}/incidents/2026-0142/v{r['version']}.html": r for r in records}
    expected = [r for r in reversed(records) if "corrections" not in key or r["stage"] == "corrected"]
    assert [by_version[e.link] for e in parsed.entries] == expected
    if key.startswith("incidents/"):
        assert etree.fromstring(data, STRICT).findtext(
            "channel/title" if "rss" in key else f"{ATOM}title"
        ) == (f"Critical incident releases: 2026-0142 — {records[-1]['headline']}")

    for entry, raw, record in zip(parsed.entries, entry_parts(data, "atom" in key), expected, strict=True):
        fields = ", ".join(render.field_label(c["field"]).lower() for c in record["changes"])
        title = f"{STAGE_OF[record['stage']]}{f' ({fields})' if fields else ''}: {record['headline']}"
        # Plain text in both formats (RSS: the RSS Board's profile), only XML-escaped: never twice.
        assert raw["title"] == title
        if "atom" in key:  # feedparser runs its HTML sanitizer over an RSS title that holds markup
            assert entry.title == title
        assert raw["author"] == record["agency"]
        assert entry.author == record["agency"]

        summary = lxml.html.fromstring(f"<div>{raw['summary']}</div>")
        assert {el.tag for el in summary.iter()} <= {"div", "p", "br"}
        summary_text = summary.text_content()
        if record["stage"] == "preliminary":
            assert summary_text == record["summary"]
        for label, was, now in render.summary_changes(record):
            assert f"{label}: “{was}” → “{now}”" in summary_text, label
        if record["stage"] == "corrected":
            assert f"Why: {record['correction_note']}" in summary_text

        content = lxml.html.fromstring(f"<div>{raw['content']}</div>")
        assert {el.tag for el in content.iter()} <= OUR_TAGS
        previous = (
            [f"{BASE}/incidents/2026-0142/v{record['version'] - 1}.html"] if record["version"] > 1 else []
        )
        assert [a.get("href") for a in content.iter("a")] == [
            *previous,
            f"{BASE}/incidents/2026-0142/index.html",
        ]
        text = content.text_content()
        for name in ("headline", "summary", "location", "agency", "contact"):
            assert record[name] in text, name
        for paragraph in record["body"].split("\n\n"):
            assert f"\n{paragraph}\n" in text
        for change in record["changes"]:
            if change["field"] in render.LONG_TEXT:
                # Word by word: the old words struck (del), the new ones inserted (ins).
                diff = content.xpath(
                    f"//li[starts-with(., '{render.field_label(change['field'])}, word by word')]"
                )
                assert len(diff) == 1, change["field"]
                kept = "".join(t for t in diff[0].xpath(".//div//text()[not(ancestor::del)]"))
                assert "".join(kept.split()) == "".join(change["now"].split()), change["field"]
            else:
                assert f"was “{change['was']}”, now “{change['now']}”" in text, change["field"]
        if record["stage"] == "corrected":
            for paragraph in record["correction_note"].split("\n\n"):
                assert paragraph in text
    # Who pressed the button is on the pages and in the record, not in feeds.
    assert b"released_by" not in data


def test_the_hostile_history_changes_every_statement_field_but_time():
    first, update, correction = hostile_everywhere()
    assert [c["field"] for c in update["changes"]] == ["headline", "summary", "location", "agency", "contact"]
    assert [c["field"] for c in correction["changes"]] == ["location"]
    assert correction["released_by"] == hostile("released_by")


# -- characters XML cannot carry are refused at intake ------------------------------------

TEXT_FIELDS = [
    "headline",
    "summary",
    "body",
    "location",
    "agency",
    "contact",
    "correction_note",
    "released_by",
]


@pytest.mark.parametrize(
    "char",
    ["\x00", "\x0b", "\ud800"],
    ids=["nul", "vertical-tab", "lone-surrogate"],
)
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_characters_xml_cannot_carry_are_refused_naming_the_field(field, char):
    doc = {**sample.CORRECTION, field: f"Before{char}after"}
    with pytest.raises(InvalidUpdate) as err:
        parse_update(doc)
    assert err.value.field == field
    assert str(err.value) == (
        f"{field}: contains a control character U+{ord(char):04X}; only newline and tab are allowed"
    )
    # Which is why a feed never has to carry one: lxml refuses each of them (ValueError, or
    # for the surrogate its subclass UnicodeEncodeError) and the release would crash mid-way.
    with pytest.raises(ValueError, match="XML compatible|surrogates not allowed"):
        etree.Element("x").text = f"Before{char}after"

import re
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import lxml.html
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import sample  # noqa: E402

from releases import catalog as catalog_mod  # noqa: E402
from releases import changelog, render  # noqa: E402
from releases.settings import Settings  # noqa: E402

SETTINGS = Settings()
HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(1)> ]]> &amp; שלום עולם 🚓'


def parse(page: bytes):
    return lxml.html.document_fromstring(page.decode("utf-8"))


def text(element) -> str:
    return " ".join(element.text_content().split())


def site(histories: dict[str, list[dict]]) -> dict[str, bytes]:
    """Every HTML page of a bucket holding ``histories``, keyed by object key."""
    from releases import integrity

    catalog, days = catalog_mod.build(histories, feed_window=50, index_window=100)
    every = integrity.site_views(catalog, days, histories, SETTINGS)
    pages = {key: body for key, body in every.items() if key.endswith(".html")}
    for iid, records in histories.items():
        pages[f"incidents/{iid}/index.html"] = render.incident_page(records, SETTINGS)
        for record in records:
            pages[f"incidents/{iid}/v{record['version']}.html"] = render.version_html(record, SETTINGS)
    return pages


def sample_histories() -> dict[str, list[dict]]:
    second = {
        **sample.PRELIMINARY,
        "incident_id": "2026-0150",
        "headline": "Death in custody at the county jail",
    }
    return {"2026-0142": sample.history(), "2026-0150": sample.history([second], ["2026-11-23T12:00:00Z"])}


def hostile_history() -> list[dict]:
    docs = (
        {
            **{k: f"{HOSTILE} {k}" for k in ("headline", "summary", "location", "agency", "contact")},
            "incident_id": "2026-0666",
            "stage": "preliminary",
            "body": f"{HOSTILE} first\nsame paragraph\n\n{HOSTILE} second",
            "occurred_at": "2026-11-20T21:14:00-05:00",
        },
        {"incident_id": "2026-0666", "stage": "updated", "summary": f"{HOSTILE} summary 2"},
        {
            "incident_id": "2026-0666",
            "stage": "corrected",
            "location": f"{HOSTILE} location 3",
            "correction_note": f"{HOSTILE} note",
        },
    )
    return sample.history(docs, by=f"{HOSTILE} pio")


# --- time -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "zone", "shown"),
    [
        ("2026-11-21T03:00:00Z", "UTC", "Nov 21, 2026, 3:00 AM UTC"),
        ("2026-11-21T00:05:00Z", "UTC", "Nov 21, 2026, 12:05 AM UTC"),
        ("2026-11-21T12:30:00Z", "UTC", "Nov 21, 2026, 12:30 PM UTC"),
        ("2026-11-21T03:00:00Z", "America/New_York", "Nov 20, 2026, 10:00 PM EST"),
        ("2026-07-04T16:00:00Z", "America/Chicago", "Jul 4, 2026, 11:00 AM CDT"),
        ("2026-11-20T21:14:00-05:00", "UTC", "Nov 21, 2026, 2:14 AM UTC"),
        ("2026-11-20t21:14:00z", "UTC", "Nov 20, 2026, 9:14 PM UTC"),
        # No agency zone: the offset the time carries, named as an offset.
        ("2026-11-20T21:14:00-05:00", "", "Nov 20, 2026, 9:14 PM UTC-05:00"),
        ("2026-11-21T03:00:00Z", "", "Nov 21, 2026, 3:00 AM UTC"),
        ("2026-11-21T03:00:00+05:30", "", "Nov 21, 2026, 3:00 AM UTC+05:30"),
        # Cannot be shown in the zone (only old records hold such a time): shown as recorded.
        ("9999-12-31T23:59:59-12:00", "Pacific/Kiritimati", "9999-12-31T23:59:59-12:00"),
    ],
    ids=[
        "utc",
        "midnight",
        "noon",
        "new-york",
        "chicago-dst",
        "own-offset",
        "lower-case",
        "unset-offset",
        "unset-utc",
        "unset-half-hour",
        "overflow",
    ],
)
def test_human_time(value, zone, shown):
    assert render.human_time(value, Settings(display_timezone=zone).tz) == shown


def test_pages_show_times_in_the_display_zone_inside_time_elements():
    page = render.version_html(sample.history()[0], Settings(display_timezone="America/New_York"))
    times = {t.get("datetime"): text(t) for t in parse(page).iter("time")}
    assert times["2026-11-21T03:00:00Z"] == "Nov 20, 2026, 10:00 PM EST"
    assert times["2026-11-20T21:14:00-05:00"] == "Nov 20, 2026, 9:14 PM EST"


# --- every page -------------------------------------------------------------------------


def test_autoescape_covers_the_project_template_names():
    env = render.environment()
    assert env is render.environment()
    assert env.autoescape("page.html.j2") and env.autoescape("feed.xml.j2")
    assert not env.autoescape("version.txt.j2")


@pytest.mark.parametrize("key", list(site(sample_histories())))
def test_every_page_is_a_complete_accessible_document(key):
    page = site(sample_histories())[key]
    assert page.startswith(b'<!doctype html>\n<html lang="en">')
    doc = parse(page)
    assert doc.find(".//meta[@charset='utf-8']") is not None
    assert "width=device-width" in doc.find(".//meta[@name='viewport']").get("content")
    assert text(doc.find(".//title"))
    for landmark in ("header", "main", "footer", "nav"):
        assert doc.find(f".//{landmark}") is not None, landmark
    assert len(doc.findall(".//h1")) == 1
    assert ":focus-visible" in text(doc.find(".//style"))
    # No JavaScript and nothing loaded from elsewhere: the page stands alone in the bucket.
    assert not doc.findall(".//script") and not doc.xpath("//*[@src]")
    assert not doc.xpath("//link[@rel='stylesheet']")
    feeds = {link.get("type"): link.get("href") for link in doc.xpath("//link[@rel='alternate']")}
    assert set(feeds) == {"application/rss+xml", "application/atom+xml"}


def all_object_keys(histories: dict[str, list[dict]]) -> set[str]:
    """Every key the pipeline publishes for ``histories``, from the real view builders."""
    from releases import integrity, views

    catalog, days = catalog_mod.build(histories, feed_window=50, index_window=100)
    keys = set(integrity.site_views(catalog, days, histories, SETTINGS))
    for records in histories.values():
        keys |= set(views.incident_views(records, SETTINGS))
        for r in records:
            keys |= set(views.renderings(r, SETTINGS))
            keys.add(f"incidents/{r['incident_id']}/v{r['version']}.json")
    return keys


def test_links_are_relative_and_every_one_lands_on_a_published_object():
    histories = sample_histories()
    keys = all_object_keys(histories)
    base = "https://any.example/some/prefix/"
    for key, page in site(histories).items():
        doc = parse(page)
        # Every link but the canonical one, which names the page's one public address.
        for href in doc.xpath("//@href[not(parent::link[@rel='canonical'])]"):
            assert "://" not in href and not href.startswith("/"), (key, href)
            target = urlsplit(urljoin(base + key, href)).path
            assert target.startswith("/some/prefix/"), (key, href)
            assert target.removeprefix("/some/prefix/") in keys, (key, href)
        # The address printed after a link on paper is the link's own, made absolute.
        for a in doc.xpath("//a[@data-url]"):
            assert a.get("data-url") == urljoin(f"{SETTINGS.base_url}/{key}", a.get("href")), (
                key,
                a.get("href"),
            )


def test_every_page_names_its_canonical_address_and_a_version_page_names_its_incident():
    for key, page in site(sample_histories()).items():
        (canonical,) = parse(page).xpath("//link[@rel='canonical']/@href")
        if re.fullmatch(r"incidents/[^/]+/v\d+\.html", key):
            assert canonical == f"{SETTINGS.base_url}/{key.rsplit('/', 1)[0]}/index.html", key
        else:
            assert canonical == f"{SETTINGS.base_url}/{key}", key
        assert parse(page).xpath("//meta[@property='og:url']/@content") == [canonical]


def test_feed_links_point_at_the_right_feeds():
    pages = site(sample_histories())

    def alternates(key):
        return [link.get("href") for link in parse(pages[key]).xpath("//link[@rel='alternate']")]

    assert {"rss.xml", "atom.xml"} <= set(alternates("index.html"))
    assert alternates("incidents/2026-0142/index.html") == [
        "rss.xml",
        "atom.xml",
        "../../rss.xml",
        "../../atom.xml",
    ]
    assert {"../corrections.rss.xml", "../corrections.atom.xml"} <= set(alternates("corrections/index.html"))


@pytest.mark.parametrize("key", list(site(sample_histories())))
def test_rendering_is_deterministic(key):
    first = site(sample_histories())[key]
    render.environment.cache_clear()
    assert site(sample_histories())[key] == first


# --- preliminary ------------------------------------------------------------------------


def test_preliminary_version_states_the_disclaimer_in_html_and_text():
    v1 = sample.history()[0]
    assert render.PRELIMINARY_DISCLAIMER == "This information is preliminary and may change."
    assert render.PRELIMINARY_DISCLAIMER in text(parse(render.version_html(v1, SETTINGS)))
    assert render.PRELIMINARY_DISCLAIMER in render.version_txt(v1, SETTINGS).decode()
    v2 = sample.history()[1]
    assert render.PRELIMINARY_DISCLAIMER not in text(parse(render.version_html(v2, SETTINGS)))
    assert render.PRELIMINARY_DISCLAIMER not in render.version_txt(v2, SETTINGS).decode()


def test_incident_page_has_a_banner_above_the_headline_while_the_latest_is_preliminary():
    doc = parse(render.incident_page(sample.history()[:1], SETTINGS))
    main = doc.find(".//main")
    banner = main[0]
    assert "preliminary" in banner.get("class") and text(banner) == render.PRELIMINARY_DISCLAIMER
    updated = parse(render.incident_page(sample.history()[:2], SETTINGS))
    assert not updated.xpath("//main/*[contains(@class, 'preliminary')]")
    # The preliminary version is still labelled as such in the history.
    assert render.PRELIMINARY_DISCLAIMER in text(updated.get_element_by_id("v1"))


# --- corrections ------------------------------------------------------------------------

# Shown in the offset the statement gives (occurred_at -05:00): no agency zone is set.
NOTICE = f"Corrected on Nov 22, 2026, 10:45 AM UTC-05:00: {sample.CORRECTION['correction_note']}"


def struck(element) -> list[tuple[str, str]]:
    return list(
        zip((text(d) for d in element.iter("del")), (text(i) for i in element.iter("ins")), strict=True)
    )


def test_incident_page_leads_with_the_newest_correction_and_shows_was_and_now():
    doc = parse(render.incident_page(sample.history(), SETTINGS))
    notice = doc.find(".//main")[0]
    assert "correction" in notice.get("class")
    assert NOTICE in text(notice)
    assert struck(notice) == [("5th St and Main St", "6th St and Main St")]


def test_newest_correction_wins_when_there_are_several():
    second = {
        "incident_id": "2026-0142",
        "stage": "corrected",
        "location": "7th St",
        "correction_note": "Again.",
    }
    history = sample.history(
        (sample.PRELIMINARY, sample.UPDATE, sample.CORRECTION, second),
        [*sample.TIMES, "2026-11-23T08:00:00Z"],
    )
    notice = parse(render.incident_page(history, SETTINGS)).find(".//main")[0]
    assert "Corrected on Nov 23, 2026, 3:00 AM UTC-05:00: Again." in text(notice)
    assert "corrected 2 times" in text(notice)


def test_corrected_version_page_shows_the_notice_and_the_struck_value():
    v3 = parse(render.version_html(sample.history()[2], SETTINGS))
    assert NOTICE in text(v3)
    assert struck(v3.find(".//main")) == [("5th St and Main St", "6th St and Main St")]


def test_history_lists_every_version_newest_first_with_changes_and_links():
    doc = parse(render.incident_page(sample.history(), SETTINGS))
    entries = doc.xpath("//ol[contains(@class, 'history')]/li")
    assert [e.get("id") for e in entries] == ["v3", "v2", "v1"]
    for entry, n in zip(entries, (3, 2, 1), strict=True):
        assert entry.xpath(".//a/@href") == [f"v{n}.html", f"v{n}.txt", f"v{n}.json"]
        assert "pio.jones" in text(entry)
    assert [text(h) for h in doc.xpath("//ol//h3")] == [
        "Version 3: Corrected",
        "Version 2: Updated",
        "Version 1: Preliminary",
    ]
    # The summary is long text: only the words that changed are struck and inserted.
    assert struck(entries[1]) == [("transported to", "in stable condition at")]
    assert (
        text(entries[1].find(".//td[@colspan='2']"))
        == "One adult injured; transported toin stable condition at a hospital."
    )
    assert NOTICE in text(entries[0])
    assert not entries[2].findall(".//table")


def test_incident_page_shows_the_current_statement():
    doc = parse(render.incident_page(sample.history(), SETTINGS))
    assert text(doc.find(".//h1")) == sample.PRELIMINARY["headline"]
    paragraphs = [text(p) for p in doc.xpath("//main/p[@dir='auto']")]
    assert paragraphs == [sample.UPDATE["summary"], *sample.PRELIMINARY["body"].split("\n\n")]
    facts = dict(zip(map(text, doc.iter("dt")), map(text, doc.iter("dd")), strict=True))
    assert (
        facts["Location"] == "6th St and Main St" and facts["Media contact"] == sample.PRELIMINARY["contact"]
    )


def test_single_newlines_become_line_breaks_inside_a_paragraph():
    record = {**sample.history()[0], "body": "Line one\nline two\n\n\n  \nNext paragraph"}
    doc = parse(render.version_html(record, SETTINGS))
    paras = doc.xpath("//main/p[@dir='auto'][not(@class)]")
    assert [text(p) for p in paras] == ["Line one line two", "Next paragraph"]
    assert len(paras[0].findall("br")) == 1


def test_incident_page_refuses_an_incomplete_history():
    with pytest.raises(ValueError, match="every version"):
        render.incident_page([sample.history()[0], sample.history()[2]], SETTINGS)
    with pytest.raises(ValueError):
        render.incident_page([], SETTINGS)


def test_version_page_is_self_contained_and_says_it_is_permanent():
    v2 = sample.history()[1]
    doc = parse(render.version_html(v2, SETTINGS))
    body = text(doc.find(".//main"))
    assert "Version 2" in body and "Updated" in body and "Nov 21, 2026, 4:30 AM UTC-05:00" in body
    assert "permanent and never changes" in body
    assert " of " not in text(doc.find(".//main/p[@class='meta']"))
    assert "index.html" in doc.xpath("//main//a/@href")
    assert f"Record fingerprint (SHA-256): {v2['sha256']}" in body
    assert v2["prev_sha256"] in body


# --- site index and changelog page ----------------------------------------------------------


def test_site_index_lists_newest_activity_first_with_correction_counts():
    doc = parse(render.site_index(sample.catalog(), SETTINGS))
    items = doc.xpath("//ol[contains(@class, 'incidents')]/li")
    assert [i.xpath(".//h2/a/@href")[0] for i in items] == [
        "incidents/2026-0150/index.html",
        "incidents/2026-0142/index.html",
    ]
    assert "No corrections." in text(items[0]) and "Preliminary" in text(items[0])
    assert "1 correction." in text(items[1]) and "6th St and Main St" in text(items[1])
    assert (
        "First released Nov 20, 2026, 10:00 PM UTC-05:00; latest release Nov 22, 2026, 10:45 AM UTC-05:00"
        in text(items[1])
    )


def test_empty_catalog_renders_friendly_pages():
    empty = catalog_mod.empty()
    assert "No releases yet." in text(parse(render.site_index(empty, SETTINGS)))
    page = parse(render.corrections_page(empty, [], SETTINGS))
    assert "No corrections have been published." in text(page) and not page.findall(".//table")


def test_changelog_page_rows_match_the_frame():
    histories = sample_histories()
    histories["2026-0666"] = hostile_history()
    catalog = catalog_mod.build(histories, feed_window=50, index_window=100)[0]
    frame = changelog.rows_of(catalog["corrections"], SETTINGS.base_url)
    doc = parse(render.corrections_page(catalog, frame, SETTINGS))
    rows = doc.xpath("//table[caption[@id='changelog']]/tbody/tr")
    assert len(rows) == len(frame) == 2
    for tr, row in zip(rows, frame, strict=True):
        cells = tr.findall("td")
        assert cells[0].find("time").get("datetime") == row["corrected_at"]
        assert cells[1].find("a").get("href") == f"../incidents/{row['incident_id']}/index.html"
        assert cells[2].find("a").get("href") == f"../incidents/{row['incident_id']}/v{row['version']}.html"
        assert text(cells[2]) == str(row["version"])
        assert cells[4].find("del").text_content() == row["was"]
        assert cells[5].find("ins").text_content() == row["now"]
        assert text(cells[3]) == row["field"]
        assert cells[6].text_content() == row["correction_note"]
        assert cells[7].find("time").get("datetime") == row["wrong_since"]
        assert (
            cells[7].find("a").get("href")
            == f"../incidents/{row['incident_id']}/v{row['wrong_since_version']}.html"
        )
        assert float(cells[8].find("data").get("value")) == row["hours_wrong"]
        assert text(cells[8]) == render.duration(row["hours_wrong"])
    hrefs = doc.xpath("//main//a/@href")
    assert {
        "corrections.csv",
        "corrections.excel.csv",
        "corrections.json",
        "../corrections.rss.xml",
        "../corrections.atom.xml",
    } <= set(hrefs)


# --- hostile text -----------------------------------------------------------------------------


def hostile_pages() -> dict[str, bytes]:
    return site({"2026-0666": hostile_history()})


# A month's archive page lists only dates: no submitted text reaches it.
@pytest.mark.parametrize(
    "key", [k for k in hostile_pages() if not re.fullmatch(r"archive/\d{4}-\d{2}\.html", k)]
)
def test_hostile_text_stays_text(key):
    page = hostile_pages()[key]
    doc = parse(page)
    assert not doc.xpath("//script | //img | //iframe | //object | //embed")
    assert not [a for el in doc.iter() for a in el.attrib if a.lower().startswith("on")]
    assert HOSTILE in doc.text_content()
    assert b"<script>" not in page and b"&amp;amp;" in page


def test_every_hostile_field_round_trips_on_the_incident_page():
    records = hostile_history()
    doc = parse(render.incident_page(records, SETTINGS))
    content = doc.text_content()
    for record in records:
        for field in ("headline", "summary", "location", "agency", "contact", "released_by"):
            assert record[field] in content, field
    assert f"{HOSTILE} note" in content
    assert [p.text_content() for p in doc.xpath("//main/p[@dir='auto']")][1:] == [
        f"{HOSTILE} first\nsame paragraph",
        f"{HOSTILE} second",
    ]
    assert text(doc.find(".//title")) == " ".join(
        f"CORRECTED — {HOSTILE} headline — {HOSTILE} agency".split()
    )
    # In the social cards too, as text (the attribute is escaped, never markup).
    for name in ("og:title", "og:description"):
        assert HOSTILE in doc.xpath(f"//meta[@property='{name}']/@content")[0], name


def test_plain_text_is_never_html_escaped():
    records = hostile_history()
    txt = render.version_txt(records[2], SETTINGS).decode("utf-8")
    assert f"{HOSTILE} headline" in txt and f"{HOSTILE} note" in txt
    assert "&amp;amp;" not in txt and "&lt;" not in txt and "&#" not in txt
    assert f"  was: {HOSTILE} location\n  now: {HOSTILE} location 3\n" in txt


def test_plain_text_release_for_wire_services():
    v1, v2, v3 = (render.version_txt(r, SETTINGS).decode() for r in sample.history())
    assert v1.splitlines()[:3] == [
        "PRELIMINARY",
        sample.PRELIMINARY["headline"],
        "Version 1, released Nov 20, 2026, 10:00 PM UTC-05:00",
    ]
    assert v2.startswith("UPDATE\n") and v3.startswith("CORRECTION\n")
    assert NOTICE in v3
    assert "  was: 5th St and Main St\n  now: 6th St and Main St\n" in v3
    assert sample.PRELIMINARY["body"] in v3 and "Location: 6th St and Main St" in v3
    assert f"Record fingerprint (SHA-256): {sample.history()[2]['sha256']}" in v3
    assert not re.search(r"<[a-z]", v3)
    assert v3.endswith("\n") and render.version_txt(sample.history()[2], SETTINGS).decode() == v3


def test_index_is_bounded_and_every_incident_stays_reachable_through_the_archive():
    histories = {
        f"2026-{n:04d}": sample.history(
            [{**sample.PRELIMINARY, "incident_id": f"2026-{n:04d}", "headline": f"Incident {n}"}],
            [f"2026-{10 + n % 2}-{1 + n:02d}T12:00:00Z"],
        )
        for n in range(6)
    }
    catalog, days = catalog_mod.build(histories, feed_window=50, index_window=3)
    index = parse(render.site_index(catalog, SETTINGS))
    listed = [a.get("href") for a in index.xpath("//ol[@class='incidents']//h2/a")]
    # The three with the newest activity, newest first; the archive links to every month.
    assert listed == [f"incidents/2026-{n:04d}/index.html" for n in (5, 3, 1)]
    assert index.xpath("//section[@aria-labelledby='archive']//a/@href") == [
        "archive/2026-11.html",
        "archive/2026-10.html",
    ]
    # Each month's page links to its days, each day's page to its incidents: every incident is reached.
    archived = set()
    for listing in catalog_mod.month_listings(catalog).values():
        month = parse(render.month_page(listing, SETTINGS))
        for href in month.xpath("//ul[@class='days']//a/@href"):
            page = parse(render.day_page(days[href.removesuffix(".html")], SETTINGS))
            archived |= {a.get("href") for a in page.xpath("//ol[@class='incidents']//h2/a")}
    assert archived == {f"../incidents/{iid}/index.html" for iid in histories}


def unescaped(source: str) -> list[str]:
    """``|safe`` filters and ``{% autoescape %}`` blocks in a template, found by Jinja's own lexer.

    So ``|safe``, ``| safe`` and ``|  safe`` in any tag are all found, while the word in a
    comment or in plain page text is not a filter and is not reported.
    """
    tokens = [t for t in render.environment().lex(source) if t[1] != "whitespace"]
    found = []
    for (line, kind, value), (_, next_kind, next_value) in zip(tokens, tokens[1:], strict=False):
        if (kind, value) == ("operator", "|") and (next_kind, next_value) == ("name", "safe"):
            found.append(f"{line}: |safe")
        if kind == "block_begin" and next_kind == "name" and next_value == "autoescape":
            found.append(f"{line}: autoescape block")
    return found


def test_unescaped_finds_safe_filters_and_autoescape_blocks_however_spaced():
    source = "{# |safe #}<p>|safe</p>{{ a|safe }}\n{{ b | safe }}\n{% autoescape false %}{{ c }}{% endautoescape %}"
    assert unescaped(source) == ["1: |safe", "2: |safe", "3: autoescape block"]


def test_no_template_marks_anything_safe_or_turns_autoescape_off():
    templates = sorted(render.TEMPLATES.glob("*.j2"))
    assert len(templates) >= 6
    assert {t.name: unescaped(t.read_text()) for t in templates} == {t.name: [] for t in templates}


@pytest.mark.parametrize(
    ("hours", "shown"),
    [
        (None, ""),
        (0.0, "0 min"),
        (0.33, "20 min"),
        (5.05, "5 h 3 min"),
        (30.25, "1 d 6 h 15 min"),
        (48.0, "2 d 0 h 0 min"),
        (-2.5, "\u22122 h 30 min"),
    ],
)
def test_duration_reads_as_a_person_says_it(hours, shown):
    assert render.duration(hours) == shown


def test_front_page_shows_release_speed_medians_and_each_incident():
    catalog = sample.catalog()
    doc = parse(render.site_index(catalog, SETTINGS))
    figures = dict(
        zip(
            map(text, doc.xpath("//dl[@class='figures']/dt")),
            doc.xpath("//dl[@class='figures']/dd"),
            strict=True,
        )
    )
    # 2026-0142: occurred 02:14 UTC Nov 21, first released 03:00 (0.77 h), corrected Nov 22 15:45 (37.52 h).
    # 2026-0150: same occurred_at, first released Nov 23 12:00 (57.77 h). Median of 0.77 and 57.77: 29.27 h.
    first = figures["Median time from incident to first release"]
    assert first.find(".//data").get("value") == "29.27" and text(first).startswith(
        "1 d 5 h 16 min over 2 incidents"
    )
    fix = figures["Median time from incident to a correction"]
    assert fix.find(".//data").get("value") == "37.52" and text(fix).startswith(
        "1 d 13 h 31 min over 1 correction"
    )
    items = {li.xpath(".//h2/a/@href")[0]: li for li in doc.xpath("//ol[contains(@class, 'incidents')]/li")}
    corrected = items["incidents/2026-0142/index.html"]
    assert (
        "First released 46 min after the incident; corrected 1 d 13 h 31 min after it (version 3)."
        in text(corrected)
    )
    assert "incidents/2026-0142/v3.html" in corrected.xpath(".//a/@href")
    assert "First released 2 d 9 h 46 min after the incident." in text(
        items["incidents/2026-0150/index.html"]
    )


def test_front_page_without_releases_shows_no_speed_figures():
    doc = parse(render.site_index(catalog_mod.empty(), SETTINGS))
    assert "No releases yet." in text(doc) and not doc.xpath("//dl[@class='figures']")


def test_tables_stack_on_a_phone_with_a_label_for_every_cell():
    catalog = sample.catalog()
    doc = parse(
        render.corrections_page(
            catalog, changelog.rows_of(catalog["corrections"], SETTINGS.base_url), SETTINGS
        )
    )
    for table in doc.xpath("//table[contains(@class, 'stack')]"):
        headers = [text(th) for th in table.xpath("thead//th")]
        for tr in table.xpath("tbody/tr"):
            assert [cell.get("data-label") for cell in tr] == headers
    assert "@media (max-width: 40rem)" in text(doc.find(".//style"))


# --- long text, word by word (issue 15) ---------------------------------------------------------

FOUR_PARAGRAPHS = (
    "At about 9:14 p.m. officers responded to a call near 5th St and Main St.\n\n"
    "A witness, Jamie Doe, told officers the man had a weapon.\n\n"
    "One adult was injured and taken to a hospital.\nNo officers were hurt.\n\n"
    "The investigation continues; anyone with information may call the tip line."
)


def name_corrected():
    """A four-paragraph statement; the correction changes one name in it."""
    first = {**sample.PRELIMINARY, "body": FOUR_PARAGRAPHS}
    fix = {
        "incident_id": "2026-0142",
        "stage": "corrected",
        "body": FOUR_PARAGRAPHS.replace("Jamie Doe", "Alex Roe"),
        "correction_note": "The witness was misnamed.",
    }
    return sample.history((first, fix), sample.TIMES[:2])


def test_a_name_corrected_in_a_long_statement_is_struck_alone_with_its_paragraphs_kept():
    doc = parse(render.incident_page(name_corrected(), SETTINGS))
    banner = doc.xpath("//section[contains(@class, 'correction')]")[0]
    # The banner quotes only the changed paragraph, the name struck and the new one inserted.
    assert struck(banner) == [("Jamie Doe", "Alex Roe")]
    (diff,) = banner.xpath(".//div[@class='diff']")
    assert [text(p) for p in diff.findall("p")] == [
        "…",
        "A witness, Jamie DoeAlex Roe, told officers the man had a weapon.",
        "…",
    ]
    # The history shows the whole statement word by word: four paragraphs, one line break kept,
    # and nothing struck or inserted but the name.
    (entry,) = doc.xpath("//li[@id='v2']")
    assert struck(entry) == [("Jamie Doe", "Alex Roe")]
    paragraphs = entry.xpath(".//td[@colspan='2']/div[@class='diff']/p")
    assert len(paragraphs) == 4
    assert (
        paragraphs[2].text_content()
        == "One adult was injured and taken to a hospital.\nNo officers were hurt."
    )
    assert text(paragraphs[0]) == FOUR_PARAGRAPHS.split("\n\n")[0]
    # The version page renders its changes with the same macro.
    v2 = parse(render.version_html(name_corrected()[1], SETTINGS))
    assert struck(v2.find(".//main")) == [("Jamie Doe", "Alex Roe")]


def test_the_changelog_page_shows_a_long_text_correction_word_by_word():
    records = name_corrected()
    catalog = catalog_mod.build({"2026-0142": records}, feed_window=50, index_window=100)[0]
    rows = changelog.rows_of(catalog["corrections"], SETTINGS.base_url)
    doc = parse(render.corrections_page(catalog, rows, SETTINGS))
    (tr,) = doc.xpath("//table[caption[@id='changelog']]/tbody/tr")
    (cell,) = tr.xpath("td[@colspan='2']")
    assert struck(cell) == [("Jamie Doe", "Alex Roe")]
    assert len(cell.xpath("div[@class='diff']/p")) == 4
    # The downloads keep the exact texts.
    assert (rows[0]["was"], rows[0]["now"]) == (records[0]["body"], records[1]["body"])


def test_a_correction_note_of_several_paragraphs_keeps_them_in_the_banner_and_the_feed_summary():
    note = "The witness was misnamed.\n\nHer family asked us to correct it;\nwe apologise."
    records = name_corrected()
    records[1] = sample.history(
        (
            {**sample.PRELIMINARY, "body": FOUR_PARAGRAPHS},
            {
                "incident_id": "2026-0142",
                "stage": "corrected",
                "body": FOUR_PARAGRAPHS.replace("Jamie Doe", "Alex Roe"),
                "correction_note": note,
            },
        ),
        sample.TIMES[:2],
    )[1]
    banner = parse(render.incident_page(records, SETTINGS)).xpath(
        "//section[contains(@class, 'correction')]"
    )[0]
    notes = [p for p in banner.findall("p") if "misnamed" in p.text_content() or "family" in p.text_content()]
    assert notes[0].find("strong").text_content().startswith("Corrected on")
    assert [notes[0].find("span").text_content(), notes[1].text_content()] == [
        "The witness was misnamed.",
        "Her family asked us to correct it;\nwe apologise.",
    ]
    summary = render.feed_summary_html(records[1], SETTINGS)
    assert (
        "Why: The witness was misnamed.<br>\n<br>\nHer family asked us to correct it;<br>\nwe apologise."
        in summary
    )

"""What a reader sees, in real headless Chromium, on a site the real DAG published.

The site is served straight from the S3 endpoint over anonymous plain HTTP
(``<endpoint>/<bucket>/index.html``), so relative links are followed exactly as a
reader's browser would follow them behind any domain. Chromium is Debian's
(``make browser`` installs it); Playwright drives it through ``executable_path``.
Screenshots of every page type go to ``test-artifacts/screenshots/`` (not committed); the screenshot of a
long-text correction goes to ``docs/screenshots/`` (kept, for README readers).
"""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import CHROMIUM, ROOT, wire_bucket
from playwright.sync_api import expect, sync_playwright
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases import render
from releases.settings import load
from releases.storage import Store

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SECOND = {**PRELIMINARY, "incident_id": "2026-0150", "headline": "Death in custody at the county jail"}

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "<svg onload=alert(1)>",
    "'\"--></style></script><script>alert(1)</script>",
)
HOSTILE = " ".join(PAYLOADS)
HOSTILE_ID = "2026-0666"
HOSTILE_DOCS = (
    {
        **{
            f: f"{HOSTILE} {f}"
            for f in ("headline", "summary", "location", "agency", "contact", "released_by")
        },
        "incident_id": HOSTILE_ID,
        "stage": "preliminary",
        "body": f"{HOSTILE} body\n\n{HOSTILE} second paragraph",
        "occurred_at": "2026-11-20T21:14:00-05:00",
    },
    {
        "incident_id": HOSTILE_ID,
        "stage": "updated",
        "summary": f"{HOSTILE} summary 2",
        "released_by": f"{HOSTILE} pio 2",
    },
    {
        "incident_id": HOSTILE_ID,
        "stage": "corrected",
        "location": f"{HOSTILE} location 3",
        "correction_note": f"{HOSTILE} note",
        "released_by": f"{HOSTILE} pio 3",
    },
)


def publish_site(seaweed, dag, docs) -> tuple[str, Store]:
    """A fresh bucket with ``docs`` released through the real DAG; returns its public base URL."""
    with pytest.MonkeyPatch.context() as mp:
        # As the ``bucket`` fixture does, but for a whole module: publishing is the slow part.
        store = wire_bucket(mp, seaweed, prefix="browser")
        for doc in docs:
            assert dag.test(run_conf=doc).state == "success", doc
    return f"{seaweed.endpoint}/{store.bucket}", store


@pytest.fixture(scope="module")
def site(seaweed, release_dag):
    return publish_site(seaweed, release_dag, (PRELIMINARY, UPDATE, CORRECTION, SECOND))


@pytest.fixture(scope="module")
def hostile_site(seaweed, release_dag):
    return publish_site(seaweed, release_dag, HOSTILE_DOCS)


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make browser`"
    with sync_playwright() as p:
        # launch() starts Chromium with a fresh, empty profile directory of its own.
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def record(store: Store, iid: str, n: int) -> dict:
    return json.loads(store.get(f"incidents/{iid}/v{n}.json"))


def shown(value: str) -> str:
    # Every sample statement gives the same occurred_at: its offset is the zone pages use (no agency zone).
    return render.human_time(value, render.zone(load(), PRELIMINARY["occurred_at"]))


def median_time(records: list[dict]) -> str:
    """The median time from ``occurred_at`` to ``released_at`` of ``records``, as the page shows it."""
    hours = sorted(
        round(
            (
                datetime.fromisoformat(r["released_at"]) - datetime.fromisoformat(r["occurred_at"])
            ).total_seconds()
            / 3600,
            2,
        )
        for r in records
    )
    mid = len(hours) // 2
    # Hours are kept to two decimal places, as in the changelog downloads.
    return render.duration(round(hours[mid] if len(hours) % 2 else (hours[mid - 1] + hours[mid]) / 2, 2))


def words(text: str) -> str:
    return " ".join(text.split())


def screenshot(browser, url: str, name: str) -> None:
    """Full page at a desktop width, and at a phone's viewport with JavaScript off."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for suffix, options in (
        ("desktop", {"viewport": {"width": 1280, "height": 900}}),
        ("phone", {"viewport": PHONE, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}),
    ):
        context = browser.new_context(java_script_enabled=False, **options)
        page = context.new_page()
        assert page.goto(url).status == 200
        if suffix == "phone":
            # Nothing wider than the phone: long words and tables wrap or scroll in their own box.
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], (name, url)
        path = SHOTS / f"{name}-{suffix}.png"
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5000
        context.close()


def axe_violations(page) -> list[str]:
    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": WCAG_21_AA}})
    # axe really looked: the rules every page must pass were run and passed.
    passed = {rule["id"] for rule in results.response["passes"]}
    assert {"color-contrast", "html-has-lang", "document-title", "link-name"} <= passed, passed
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
    ]


def no_script(page) -> None:
    assert page.query_selector_all("script") == []


# --- the walk -----------------------------------------------------------------------------------


def test_reader_walks_index_incident_history_version_and_corrections(site, page, browser):
    base, store = site
    v = {n: record(store, "2026-0142", n) for n in (1, 2, 3)}
    second = record(store, "2026-0150", 1)

    # Index: every incident with its stage, headline, first and latest release times, corrections.
    assert page.goto(f"{base}/index.html").status == 200
    no_script(page)
    items = page.locator("ol.incidents > li")
    expect(items).to_have_count(2)
    newest, older = (words(t) for t in items.all_inner_texts())
    assert newest.startswith(SECOND["headline"]) and "PRELIMINARY" in newest and "No corrections." in newest
    assert (
        f"First released {shown(second['released_at'])}; latest release {shown(second['released_at'])}"
        in (newest)
    )
    assert older.startswith(PRELIMINARY["headline"]) and "CORRECTED" in older and "1 correction." in older
    assert (
        f"First released {shown(v[1]['released_at'])}; latest release {shown(v[3]['released_at'])}" in older
    )
    screenshot(browser, page.url, "index")

    # The preliminary incident: the banner comes first.
    page.get_by_role("link", name=SECOND["headline"]).click()
    assert page.url == f"{base}/incidents/2026-0150/index.html"
    banner = page.locator("main > :first-child")
    expect(banner).to_have_class(re.compile(r"\bpreliminary\b"))
    expect(banner).to_have_text(render.PRELIMINARY_DISCLAIMER)
    expect(banner).to_be_visible()
    screenshot(browser, page.url, "incident-preliminary")
    page.go_back()

    # The corrected incident: the notice at the top, the wrong value struck through beside the right one.
    page.get_by_role("link", name=PRELIMINARY["headline"]).click()
    assert page.url == f"{base}/incidents/2026-0142/index.html"
    notice = page.locator("main > :first-child")
    expect(notice).to_have_class(re.compile(r"\bcorrection\b"))
    expect(notice).to_be_visible()
    assert f"Corrected on {shown(v[3]['released_at'])}: {CORRECTION['correction_note']}" in words(
        notice.inner_text()
    )
    was, now = notice.locator("del").first, notice.locator("ins").first
    expect(was).to_have_text(PRELIMINARY["location"])
    expect(now).to_have_text(CORRECTION["location"])
    expect(was).to_be_visible()
    assert "line-through" in was.evaluate("e => getComputedStyle(e).textDecorationLine")
    assert "line-through" not in now.evaluate("e => getComputedStyle(e).textDecorationLine")
    expect(page.locator("main .banner.preliminary")).to_have_count(0)
    screenshot(browser, page.url, "incident-corrected")

    # History: reached by a link, every version with its stage, time, who released it, its changes.
    page.get_by_role("link", name=re.compile(r"^Full history \(3 versions, 1 correction\)")).click()
    assert page.url.endswith("/incidents/2026-0142/index.html#history")
    expect(page.locator("#history")).to_be_in_viewport()
    entries = page.locator("ol.history > li")
    expect(entries).to_have_count(3)
    for entry, n, stage in zip(
        entries.all(), (3, 2, 1), ("Corrected", "Updated", "Preliminary"), strict=True
    ):
        expect(entry.locator("h3")).to_have_text(f"Version {n}: {stage}")
        assert f"Released {shown(v[n]['released_at'])} by {v[n]['released_by']}" in words(entry.inner_text())
    expect(entries.nth(0).locator("del")).to_have_text(PRELIMINARY["location"])
    # The summary is long text: only the words that changed are struck and inserted, in its sentence.
    expect(entries.nth(1).locator("del")).to_have_text("transported to")
    expect(entries.nth(1).locator("ins")).to_have_text("in stable condition at")
    expect(entries.nth(1).locator("div.diff")).to_have_text(
        "One adult injured; transported toin stable condition at a hospital."
    )
    assert render.PRELIMINARY_DISCLAIMER in entries.nth(2).inner_text()
    for feed in ("RSS feed", "Atom feed"):
        href = page.get_by_role("link", name=feed).get_attribute("href")
        with urllib.request.urlopen(f"{base}/incidents/2026-0142/{href}") as resp:
            assert resp.status == 200 and "xml" in resp.headers["Content-Type"]

    # A version's permanent page says which version it is and links back to the current statement.
    page.get_by_role("link", name="Permanent page for version 2").click()
    assert page.url == f"{base}/incidents/2026-0142/v2.html"
    no_script(page)
    meta = words(page.locator("main > p.meta").inner_text())
    assert meta == f"UPDATED Version 2, released {shown(v[2]['released_at'])} by {v[2]['released_by']}"
    assert "This page is permanent and never changes: it shows version 2" in page.locator("main").inner_text()
    expect(page.locator("main del")).to_have_text("transported to")  # the summary, word by word
    expect(page.locator("main ins")).to_have_text("in stable condition at")
    screenshot(browser, page.url, "version")
    page.get_by_role("link", name="the incident page").click()
    assert page.url == f"{base}/incidents/2026-0142/index.html"
    expect(page.locator("h1")).to_have_text(PRELIMINARY["headline"])

    # Version 1 still carries the preliminary disclaimer, after the incident moved on.
    page.get_by_role("link", name="Permanent page for version 1").click()
    assert page.url == f"{base}/incidents/2026-0142/v1.html"
    disclaimer = page.locator("main .banner.preliminary")
    expect(disclaimer).to_have_text(render.PRELIMINARY_DISCLAIMER)
    expect(disclaimer).to_be_visible()

    # The public changelog: one row per corrected field, agreeing with the JSON download.
    page.get_by_role("navigation", name="Site").get_by_role("link", name="Corrections").click()
    assert page.url == f"{base}/corrections/index.html"
    no_script(page)
    rows = page.locator("table:has(caption#changelog) tbody tr")
    expect(rows).to_have_count(1)
    cells = [words(c) for c in rows.first.locator("td").all_inner_texts()]
    assert cells[:7] == [
        # Each row's times in its own incident's statement offset (the rows carry occurred_at).
        shown(v[3]["released_at"]),
        f"{PRELIMINARY['headline']} (2026-0142)",
        "3",
        "Location",
        PRELIMINARY["location"],
        CORRECTION["location"],
        CORRECTION["correction_note"],
    ]
    expect(rows.first.locator("del")).to_be_visible()
    shown_hours = float(rows.first.locator("data").get_attribute("value"))
    page.locator("a[href='corrections.json']").click()
    download = json.loads(page.locator("body").inner_text())
    # The download names the field as the page does, and says since when the value was wrong (v1).
    assert [(r["incident_id"], r["version"], r["field"], r["was"], r["now"]) for r in download] == [
        ("2026-0142", 3, "Location", PRELIMINARY["location"], CORRECTION["location"])
    ]
    assert download[0]["wrong_since"] == v[1]["released_at"]
    assert cells[7] == f"{shown(v[1]['released_at'])} (version 1)"
    assert shown_hours == download[0]["hours_wrong"]
    assert cells[8] == render.duration(shown_hours)
    page.go_back()
    screenshot(browser, page.url, "corrections")

    # The front page says how fast the agency released and corrected.
    page.get_by_role("link", name="All incidents").first.click()
    speed = words(page.locator("dl.figures").inner_text())
    to_first = [record(store, iid, 1) for iid in ("2026-0142", "2026-0150")]
    assert f"Median time from incident to first release {median_time(to_first)} over 2 incidents" in speed
    assert f"Median time from incident to a correction {median_time([v[3]])} over 1 correction" in speed

    # The archive: the month lists its days, the day lists both incidents and links to them.
    month, day = v[1]["released_at"][:7], v[1]["released_at"][:10]
    page.get_by_role("link", name=render.month_name(month)).click()
    assert page.url == f"{base}/archive/{month}.html"
    screenshot(browser, page.url, "archive-month")
    page.get_by_role("link", name=render.day_name(day)).click()
    assert page.url == f"{base}/archive/{day}.html"
    expect(page.locator("ol.incidents > li")).to_have_count(2)
    screenshot(browser, page.url, "archive")
    page.get_by_role("link", name=PRELIMINARY["headline"]).click()
    assert page.url == f"{base}/incidents/2026-0142/index.html"
    assert page.dialogs == []


PAGE_TYPES = {
    "index": "index.html",
    "archive": None,  # the month and day of the first release, found at run time
    "archive-day": None,
    "incident-corrected": "incidents/2026-0142/index.html",
    "incident-preliminary": "incidents/2026-0150/index.html",
    "version-preliminary": "incidents/2026-0142/v1.html",
    "version-corrected": "incidents/2026-0142/v3.html",
    "corrections": "corrections/index.html",
}


@pytest.mark.parametrize("kind", list(PAGE_TYPES))
def test_axe_finds_no_wcag_21_aa_violation(site, page, kind):
    base, store = site
    first = record(store, "2026-0142", 1)["released_at"]
    key = PAGE_TYPES[kind] or f"archive/{first[:10] if kind == 'archive-day' else first[:7]}.html"
    assert page.goto(f"{base}/{key}").status == 200
    assert axe_violations(page) == []
    # And at a phone's width, where the layout differs.
    page.set_viewport_size(PHONE)
    assert axe_violations(page) == []


@pytest.mark.parametrize("key", ["incidents/2026-0142/index.html", "corrections/index.html"])
def test_keyboard_focus_is_visible_on_everything_it_reaches(site, page, key):
    base, _store = site
    page.goto(f"{base}/{key}")
    focusable = page.locator("a[href], [tabindex='0']").count()
    seen = []
    for _ in range(focusable):
        page.keyboard.press("Tab")
        seen.append(
            page.evaluate(
                """() => { const e = document.activeElement, s = getComputedStyle(e);
                    return [e.tagName, s.outlineStyle, s.outlineWidth]; }"""
            )
        )
    assert len(seen) > 10
    assert all(style == ["solid", "3px"] for _tag, *style in seen), seen


# --- hostile text -------------------------------------------------------------------------------


def test_hostile_text_in_every_field_is_shown_as_text(hostile_site, page, browser):
    base, store = hostile_site
    day = record(store, HOSTILE_ID, 1)["released_at"][:10]
    keys = [
        "index.html",
        f"archive/{day}.html",
        f"incidents/{HOSTILE_ID}/index.html",
        *(f"incidents/{HOSTILE_ID}/v{n}.html" for n in (1, 2, 3)),
        "corrections/index.html",
    ]
    injected = """() => ({
        elements: [...document.querySelectorAll('script, img, svg, iframe, object, embed, style:not(head > style)')]
            .map(e => e.outerHTML),
        handlers: [...document.querySelectorAll('*')].flatMap(
            e => [...e.attributes].filter(a => a.name.toLowerCase().startsWith('on')).map(a => a.name)),
        scriptUrls: [...document.querySelectorAll('[href], [src], [action]')]
            .map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))
            .filter(u => /^\\s*javascript:/i.test(u)),
        styles: document.querySelectorAll('style').length,
    })"""
    for key in keys:
        assert page.goto(f"{base}/{key}").status == 200, key
        page.wait_for_timeout(100)  # give an injected onerror/onload a chance to fire
        assert page.dialogs == [], key
        found = page.evaluate(injected)
        assert found == {"elements": [], "handlers": [], "scriptUrls": [], "styles": 1}, key
        text = page.locator("body").inner_text()
        for payload in PAYLOADS:
            assert payload in text, (key, payload)
    page.goto(f"{base}/incidents/{HOSTILE_ID}/index.html")
    incident = page.locator("body").inner_text()
    for field in ("headline", "location", "agency", "contact", "released_by", "body"):
        assert f"{HOSTILE} {field}" in incident, field
    for shown_text in (
        f"{HOSTILE} summary 2",
        f"{HOSTILE} location 3",
        f"{HOSTILE} note",
        f"{HOSTILE} pio 3",
    ):
        assert shown_text in incident, shown_text
    assert page.title().startswith(f"CORRECTED — {HOSTILE} headline — ")
    expect(page.locator("main > .correction del").first).to_have_text(f"{HOSTILE} location")
    screenshot(browser, page.url, "incident-hostile")
    assert page.dialogs == []


def test_whole_xss_corpus_fires_no_dialog_in_the_browser(page, tmp_path):
    """Every payload of the corpus, in every field, on every page type, opened in Chromium."""
    import http.server
    import threading
    from functools import partial

    from test_xss import docs, pages
    from xss_corpus import PAYLOADS

    paths = []
    for n, payload in enumerate(PAYLOADS):
        html_pages, _feeds = pages(docs(payload))
        for kind, body in html_pages.items():
            path = tmp_path / f"p{n}-{kind}.html"
            path.write_bytes(body)
            paths.append(path.name)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in paths:
            page.goto(f"http://127.0.0.1:{server.server_port}/{name}")
            assert page.eval_on_selector_all("script", "els => els.length") == 0, name
            assert (
                page.evaluate(
                    "() => [...document.querySelectorAll('*')].some(el => [...el.attributes].some(a => a.name.startsWith('on')))"
                )
                is False
            ), name
    finally:
        server.shutdown()
    assert len(paths) == len(PAYLOADS) * 7  # test_xss.pages: seven page types
    assert page.dialogs == []


# --- pages the public can trust at a glance (issue 15) ------------------------------------------------

DOCS_SHOTS = ROOT / "docs" / "screenshots"
LONG_ID = "2026-0777"
PARAGRAPHS = [
    "At about 9:14 p.m. on Friday, officers of the Springfield Police Department responded to a call about "
    "a man armed with a knife near the intersection of 5th St and Main St.",
    "Sergeant Ana Ruiz and two officers arrived within four minutes. The officers gave repeated commands to "
    "drop the knife. The man advanced toward them, and one officer fired two shots.",
    "Officers gave first aid until paramedics arrived. The man was taken to Mercy Hospital, where he is in "
    "stable condition. No officers were injured.",
    "The department's Critical Incident Review Board and the county prosecutor's office are investigating. "
    "Body-worn camera video will be released within 45 days, as department policy requires.",
]
LONG_DOCS = (
    {
        **PRELIMINARY,
        "incident_id": LONG_ID,
        "headline": "Officer-involved shooting near 5th St and Main St",
        "body": "\n\n".join(PARAGRAPHS),
    },
    {
        "incident_id": LONG_ID,
        "stage": "corrected",
        # One word of a four-paragraph statement: the sergeant's name.
        "body": "\n\n".join(PARAGRAPHS).replace("Sergeant Ana Ruiz", "Sergeant Ana Ortiz"),
        "correction_note": "The first statement misspelled the sergeant's name: it is Ortiz, not Ruiz.",
    },
)


@pytest.fixture(scope="module")
def long_site(seaweed, release_dag):
    return publish_site(seaweed, release_dag, LONG_DOCS)


def test_a_version_page_says_it_may_have_changed_and_names_the_current_statement(site, page, browser):
    """Issue 15, must-show 3: on a version page served from the store, the canonical link and the notice."""
    base, _store = site
    incident = f"{base}/incidents/2026-0142/index.html"
    assert page.goto(f"{base}/incidents/2026-0142/v1.html").status == 200
    # The canonical link names the incident page, so search engines show the current statement.
    canonical = page.locator("head > link[rel='canonical']")
    expect(canonical).to_have_count(1)
    assert canonical.get_attribute("href") == incident
    assert page.locator("head > link[rel='latest-version']").get_attribute("href") == "index.html"
    expect(page.locator("head > link[rel='predecessor-version']")).to_have_count(0)  # version 1
    # The notice comes first, is seen without scrolling, and says the statement may have changed.
    notice = page.locator("main > :first-child")
    expect(notice).to_have_class(re.compile(r"\bversion-notice\b"))
    expect(notice).to_be_in_viewport()
    expect(notice).to_contain_text("Version 1 of this statement, as released")
    expect(notice).to_contain_text("The statement may have changed since")
    # The version this one follows, and the way to the current statement.
    assert page.goto(f"{base}/incidents/2026-0142/v3.html").status == 200
    assert page.locator("head > link[rel='predecessor-version']").get_attribute("href") == "v2.html"
    assert page.title().startswith(f"CORRECTED — {PRELIMINARY['headline']} (version 3) — ")
    page.locator("main > .version-notice").get_by_role("link", name="the incident page").click()
    assert page.url == incident
    expect(page.locator("h1")).to_have_text(PRELIMINARY["headline"])
    screenshot(browser, f"{base}/incidents/2026-0142/v1.html", "version-notice")
    assert page.dialogs == []


def test_the_notice_and_the_new_head_tags_keep_the_page_accessible(site, page):
    base, _store = site
    for n in (1, 3):
        assert page.goto(f"{base}/incidents/2026-0142/v{n}.html").status == 200
        assert axe_violations(page) == []


def test_printed_a_page_drops_navigation_and_prints_link_addresses(site, page):
    base, _store = site
    assert page.goto(f"{base}/incidents/2026-0142/v2.html").status == 200
    nav = page.locator("nav")
    expect(nav).to_be_visible()
    page.emulate_media(media="print")
    expect(nav).to_be_hidden()
    expect(page.locator("footer .feeds")).to_be_hidden()
    expect(page.locator("header .print-only")).to_have_text(f"{base}/incidents/2026-0142/v2.html")
    after = page.locator("main a[href='v2.txt']").evaluate("a => getComputedStyle(a, '::after').content")
    assert after == f'" <{base}/incidents/2026-0142/v2.txt>"'
    # The statement itself is all there on paper.
    for text in (UPDATE["summary"], *PRELIMINARY["body"].split("\n\n")):
        expect(page.locator("main").get_by_text(text, exact=True).first).to_be_visible()
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF")


def test_a_long_text_correction_on_the_incident_page(long_site, browser, page):
    """Screenshot for docs/screenshots/: one word corrected in a four-paragraph statement."""
    base, _store = long_site
    url = f"{base}/incidents/{LONG_ID}/index.html"
    assert page.goto(url).status == 200
    banner = page.locator("main > .correction")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(LONG_DOCS[1]["correction_note"])
    # The changed word is struck through and its replacement marked inserted, in a <del>/<ins> pair.
    removed = banner.locator("del").filter(has_text="Ruiz")
    added = banner.locator("ins").filter(has_text="Ortiz")
    expect(removed).to_have_count(1)
    expect(added).to_have_count(1)
    assert "line-through" in removed.evaluate("e => getComputedStyle(e).textDecorationLine")
    # Word by word: only the name is struck and inserted, not the paragraphs around it.
    expect(banner.locator("del")).to_have_text(["Ruiz"])
    expect(banner.locator("ins")).to_have_text(["Ortiz"])
    expect(banner.locator("del").filter(has_text="Mercy Hospital")).to_have_count(0)
    # The current statement reads right.
    expect(page.locator("main > p[dir='auto']").filter(has_text="Sergeant Ana")).to_contain_text(
        "Sergeant Ana Ortiz and two officers"
    )
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    path = DOCS_SHOTS / "long-text-correction.png"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, java_script_enabled=False)
    try:
        shot = context.new_page()
        assert shot.goto(url).status == 200
        shot.screenshot(path=str(path), full_page=True)
    finally:
        context.close()
    assert path.stat().st_size > 20_000
    assert page.dialogs == []

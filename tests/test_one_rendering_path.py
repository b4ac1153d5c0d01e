"""One rendering path: the same version rendered as its page, as a feed entry and as wire text shows the
same paragraphs, the same time string and the labels of one table (render.STAGE_LABELS / WIRE_LABELS)."""

from __future__ import annotations

import feedparser
import pytest
from lxml import html
from sample import PRELIMINARY, UPDATE, history

from releases import feeds, render
from releases.settings import Settings

# A whitespace-only line between paragraphs, and a line break inside the second one.
BODY = "First paragraph, about 9:14 p.m.\n   \nSecond paragraph, line one.\nLine two."
PARAGRAPHS = ["First paragraph, about 9:14 p.m.", "Second paragraph, line one.\nLine two."]


def body_paragraphs(fragment_html: str) -> list[str]:
    """Text of the <p> elements that hold the body, line breaks as newlines."""
    tree = html.fromstring(f"<div>{fragment_html}</div>")
    for br in tree.iter("br"):
        br.tail = "\n" + (br.tail or "").lstrip("\n")
    texts = ["".join(p.itertext()) for p in tree.iter("p")]
    return [t for t in texts if t.startswith(("First paragraph", "Second paragraph"))]


# "": no agency zone, each time in the offset the statement gives.
@pytest.mark.parametrize("zone", ["", "UTC", "America/New_York", "Pacific/Kiritimati"])
@pytest.mark.parametrize("n", [1, 2], ids=["preliminary", "updated"])
def test_page_feed_and_wire_text_show_the_same_paragraphs_time_and_labels(zone, n):
    settings = Settings(display_timezone=zone, public_url="https://releases.example.org")
    records = history(({**PRELIMINARY, "body": BODY}, UPDATE))
    record = records[n - 1]
    page = render.version_html(record, settings).decode()
    wire = render.version_txt(record, settings).decode()
    rss, atom = feeds.incident_feeds(records[:n], settings)
    entries = [feedparser.parse(rss).entries[0], feedparser.parse(atom).entries[0]]

    # The same paragraphs: two, the whitespace-only line splits them, the single newline does not.
    assert body_paragraphs(page) == PARAGRAPHS
    for entry in entries:
        assert (
            body_paragraphs(entry.content[0].value if "content" in entry else entry.description) == PARAGRAPHS
        )
    assert "\n\n".join(PARAGRAPHS) in wire

    # The same time string.
    tz = render.zone(settings, record["occurred_at"])
    occurred = render.human_time(record["occurred_at"], tz)
    released = render.human_time(record["released_at"], tz)
    for text in (page, wire, *(e.content[0].value if "content" in e else e.description for e in entries)):
        assert occurred in text and released in text

    # Labels from one table each; the preliminary notice is one text.
    stage = record["stage"]
    assert render.STAGE_LABELS[stage] in page
    assert wire.startswith(render.WIRE_LABELS[stage] + "\n")
    for entry in entries:
        assert entry.title.startswith(render.WIRE_LABELS[stage])
        assert entry.title == render.entry_title(record)
    if stage == "preliminary":
        for text in (page, wire, *(e.content[0].value if "content" in e else e.description for e in entries)):
            assert render.PRELIMINARY_DISCLAIMER in text

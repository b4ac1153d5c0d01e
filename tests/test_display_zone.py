"""The time zone pages show times in: the agency's (RELEASES_TIMEZONE), or else the offset each statement
gives, so that no page contradicts the statement's own time ("about 9:14 p.m." beside "2:14 AM UTC")."""

from __future__ import annotations

import sys
from pathlib import Path

import feedparser
import lxml.html
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import sample  # noqa: E402

from devstack import stack  # noqa: E402
from releases import catalog as catalog_mod  # noqa: E402
from releases import cli, integrity, views  # noqa: E402
from releases import settings as settings_mod  # noqa: E402

# sample.PRELIMINARY: occurred_at 2026-11-20T21:14:00-05:00, first released 2026-11-21T03:00:00Z.
OCCURRED_IN_UTC = "2:14 AM"


def every_view(settings: settings_mod.Settings) -> dict[str, str]:
    """Every page, feed and wire text of a site holding the sample history (a correction included)."""
    histories = {"2026-0142": sample.history()}
    catalog, days = catalog_mod.build(histories, feed_window=50, index_window=100)
    out = dict(integrity.site_views(catalog, days, histories, settings))
    for records in histories.values():
        out.update(views.incident_views(records, settings))
        for record in records:
            out.update(views.renderings(record, settings))
    return {key: body.decode("utf-8") for key, body in out.items() if not key.endswith((".json", ".csv"))}


def test_unset_no_page_feed_or_wire_text_shows_the_incident_in_utc():
    shown = every_view(settings_mod.load({}))
    assert len(shown) >= 12
    for key, text in shown.items():
        assert OCCURRED_IN_UTC not in text, key
        assert "Nov 21, 2026, 3:00 AM UTC" not in text, key  # the first release, in UTC
    # Where the statement is shown, its time is the one it gives, offset and all.
    for key in (
        "incidents/2026-0142/index.html",
        "incidents/2026-0142/v1.html",
        "incidents/2026-0142/v1.txt",
    ):
        assert "Nov 20, 2026, 9:14 PM UTC-05:00" in shown[key], key
    # Release times too, in the same offset: released 03:00 UTC is 10:00 PM the evening before.
    assert "Version 1, released Nov 20, 2026, 10:00 PM UTC-05:00" in shown["incidents/2026-0142/v1.txt"]
    page = lxml.html.document_fromstring(shown["incidents/2026-0142/v1.html"])
    assert page.xpath("string(//footer/p[1])").startswith(
        "Times are shown in the time zone the statement gives for the incident (UTC-05:00)."
    )
    index = lxml.html.document_fromstring(shown["index.html"])
    assert "First released Nov 20, 2026, 10:00 PM UTC-05:00" in index.text_content()


def test_the_agency_zone_shows_every_time_with_its_abbreviation():
    shown = every_view(settings_mod.load({"RELEASES_TIMEZONE": "America/New_York"}))
    for key, text in shown.items():
        assert OCCURRED_IN_UTC not in text and "UTC-05:00" not in text, key
    assert "Nov 20, 2026, 9:14 PM EST" in shown["incidents/2026-0142/index.html"]
    assert "Version 1, released Nov 20, 2026, 10:00 PM EST" in shown["incidents/2026-0142/v1.txt"]
    assert "Times are shown in the America/New_York time zone." in shown["index.html"]
    # Another zone than the statement's is still the same moment, named by its own abbreviation.
    la = every_view(settings_mod.load({"RELEASES_TIMEZONE": "America/Los_Angeles"}))
    assert "Nov 20, 2026, 6:14 PM PST" in la["incidents/2026-0142/v1.html"]


@pytest.mark.parametrize("zone", ["", "America/New_York"])
def test_feeds_keep_machine_times_and_write_text_in_the_zone(zone):
    settings = settings_mod.load({"RELEASES_TIMEZONE": zone} if zone else {})
    incident = views.incident_views(sample.history(), settings)
    rss_bytes, atom_bytes = incident["incidents/2026-0142/rss.xml"], incident["incidents/2026-0142/atom.xml"]
    assert b"<pubDate>Sun, 22 Nov 2026 15:45:00 +0000</pubDate>" in rss_bytes  # RFC 822, in UTC
    assert b"<published>2026-11-22T15:45:00+00:00</published>" in atom_bytes  # RFC 3339
    text = "Corrected on Nov 22, 2026, 10:45 AM " + ("EST" if zone else "UTC-05:00")
    for body in (rss_bytes, atom_bytes):
        entry = feedparser.parse(body).entries[0]
        content = entry.content[0].value if "content" in entry else entry.description
        assert text in lxml.html.fromstring(content).text_content()


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "EST-5", "../etc/passwd", "America/New York"])
def test_an_unknown_zone_is_refused_naming_the_setting(name, monkeypatch, capsys):
    with pytest.raises(ValueError, match=r"^RELEASES_TIMEZONE: .* is not an IANA time zone name"):
        settings_mod.load({"RELEASES_TIMEZONE": name})
    # The command line says so in one line, no traceback, and does nothing.
    monkeypatch.setenv("RELEASES_TIMEZONE", name)
    assert cli.main(["bucket-policy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: RELEASES_TIMEZONE: ") and "Traceback" not in err
    assert stack.main(["demo"]) == 2
    assert "error: RELEASES_TIMEZONE: " in capsys.readouterr().err


def test_make_up_and_make_demo_say_which_zone_and_how_to_set_it(tmp_path):
    unset = stack.zone_line(settings_mod.load({}))
    assert "RELEASES_TIMEZONE is not set" in unset and "offset its statement gives" in unset
    assert "RELEASES_TIMEZONE=America/New_York" in unset
    chosen = settings_mod.load({"RELEASES_TIMEZONE": "America/Chicago"})
    assert stack.zone_line(chosen) == "pages show times in America/Chicago (RELEASES_TIMEZONE)"
    summary = stack.demo_summary(tmp_path, [], chosen)
    assert "Time zone: pages show times in America/Chicago" in summary

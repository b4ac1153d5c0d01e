"""One order everywhere: two corrections released in the same second are listed in the same order by
every view that lists them (feeds, changelog page, CSV, JSON), and so are the incidents on index.html,
index.json and the archive page."""

from __future__ import annotations

import csv
import io
import json
import re

import feedparser
from sample import CORRECTION, PRELIMINARY

from releases import pipeline
from releases.order import by_activity, newest_first
from releases.settings import load

SAME_SECOND = "2026-11-22T15:45:00Z"
IDS = ("2026-0301", "2026-0302")  # the later id is released first: order must not follow arrival


def test_two_corrections_in_the_same_second_are_listed_in_one_order_everywhere(bucket):
    settings = load()
    for n, iid in enumerate(reversed(IDS)):
        pipeline.release(
            {**PRELIMINARY, "incident_id": iid},
            bucket,
            settings,
            key=f"p-{iid}",
            released_by="pio",
            clock=lambda n=n: f"2026-11-21T0{3 + n}:00:00Z",
        )
    for iid in reversed(IDS):
        pipeline.release(
            {**CORRECTION, "incident_id": iid},
            bucket,
            settings,
            key=f"c-{iid}",
            released_by="pio",
            clock=lambda: SAME_SECOND,
        )
    expected = [iid for iid in IDS]  # same instant: incident id A to Z

    def ids_in(text: str) -> list[str]:
        found = re.findall(r"2026-030[12]", text)
        return list(dict.fromkeys(found))  # first appearance of each

    orders = {}
    for name in ("corrections.rss.xml", "corrections.atom.xml"):
        entries = feedparser.parse(bucket.get(name)).entries
        orders[name] = list(dict.fromkeys(re.search(r"2026-030[12]", e.link)[0] for e in entries))
    for name in ("rss.xml", "atom.xml"):
        entries = [e for e in feedparser.parse(bucket.get(name)).entries if "CORRECTION" in e.title]
        orders[name] = list(dict.fromkeys(re.search(r"2026-030[12]", e.link)[0] for e in entries))
    rows = list(csv.DictReader(io.StringIO(bucket.get("corrections/corrections.csv").decode("utf-8-sig"))))
    orders["corrections.csv"] = list(dict.fromkeys(r["incident_id"] for r in rows))
    data = json.loads(bucket.get("corrections/corrections.json"))
    rows = data if isinstance(data, list) else data.get("corrections", data.get("rows", []))
    orders["corrections.json"] = list(dict.fromkeys(r["incident_id"] for r in rows))
    corrections_page = bucket.get("corrections/index.html").decode()
    orders["corrections/index.html"] = ids_in(corrections_page[corrections_page.index("<table") :])
    # Incidents by activity: both were last released in the same second.
    orders["index.json"] = [e["incident_id"] for e in json.loads(bucket.get("index.json"))["incidents"]]
    index_html = bucket.get("index.html").decode()
    orders["index.html"] = ids_in(index_html[index_html.index("<main") :])
    archive = json.loads(bucket.get("archive/2026-11-21.json"))
    orders["archive/2026-11-21.json"] = [e["incident_id"] for e in archive["incidents"]]
    month = json.loads(bucket.get("corrections/2026-11.json"))
    orders["corrections/2026-11.json"] = list(dict.fromkeys(r["incident_id"] for r in month))
    month_page = bucket.get("corrections/2026-11.html").decode()
    orders["corrections/2026-11.html"] = ids_in(month_page[month_page.index("<table") :])
    assert orders == {name: expected for name in orders}


def test_the_order_compares_instants_not_strings():
    # The same instant written with two offsets is a tie; a later instant with a smaller string is later.
    a = {"incident_id": "B", "version": 1, "released_at": "2026-11-22T10:00:00-05:00"}
    b = {"incident_id": "A", "version": 1, "released_at": "2026-11-22T15:00:00Z"}
    c = {"incident_id": "C", "version": 2, "released_at": "2026-11-22T16:00:00+02:00"}  # 14:00 UTC
    assert [r["incident_id"] for r in newest_first([c, a, b])] == ["A", "B", "C"]
    s = [{"incident_id": r["incident_id"], "latest_released_at": r["released_at"]} for r in (c, a, b)]
    assert [r["incident_id"] for r in by_activity(s)] == ["A", "B", "C"]

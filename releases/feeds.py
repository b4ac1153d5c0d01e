"""RSS 2.0 and Atom 1.0 feeds: one per incident, one for the site, one for corrections.

Feeds are views: they are rebuilt from records alone and must come out byte for byte the
same every time, so no date in them comes from the clock (feedgen defaults to now()).

Every entry is one version of one incident. Its id is a tag URI (RFC 4151) that names
the incident and the version, so newsrooms' readers never mistake a correction for the
statement it corrects, and an id is never reused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from feedgen.feed import FeedGenerator
from lxml import etree

from . import render
from .order import instant, newest_first
from .settings import Settings

# An empty feed still needs an "updated" date; a fixed one keeps its bytes stable.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
GENERATOR = "incident-releases"

ATOM_NS = "http://www.w3.org/2005/Atom"
# Re-reads feedgen's own output only; still, nothing in it may reach the network or expand.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

RSS_TYPE = "application/rss+xml"
ATOM_TYPE = "application/atom+xml"


def entry_id(record: dict[str, Any], settings: Settings) -> str:
    """The permanent id of one version: ``tag:<authority>,<release date>:incidents/<id>/v<N>``."""
    return (
        f"tag:{settings.tag_authority},{record['released_at'][:10]}:"
        f"incidents/{record['incident_id']}/v{record['version']}"
    )


def version_url(settings: Settings, incident_id: str, version: int) -> str:
    return f"{settings.base_url}/incidents/{incident_id}/v{version}.html"


def incident_url(settings: Settings, incident_id: str) -> str:
    # Objects are served by plain GET, not a website endpoint: name index.html explicitly.
    return f"{settings.base_url}/incidents/{incident_id}/index.html"


def topics(record: dict[str, Any], settings: Settings) -> list[str]:
    """The URLs of the feeds a release appears in: what a WebSub hub is told changed."""
    iid = record["incident_id"]
    names = [f"incidents/{iid}/rss.xml", f"incidents/{iid}/atom.xml", "rss.xml", "atom.xml"]
    if record["stage"] == "corrected":
        names += ["corrections.rss.xml", "corrections.atom.xml"]
    return [f"{settings.base_url}/{name}" for name in names]


def incident_feeds(records: list[dict[str, Any]], settings: Settings) -> tuple[bytes, bytes]:
    """(rss, atom) for ``incidents/<id>/``: every version of one incident, newest first."""
    if not records:
        raise ValueError("an incident feed needs at least one record")
    latest = max(records, key=lambda r: r["version"])
    iid = latest["incident_id"]
    if any(r["incident_id"] != iid for r in records):
        raise ValueError(f"records of more than one incident given for the feed of {iid}")
    base = f"{settings.base_url}/incidents/{iid}"
    return _render(
        records,
        settings,
        title=f"{settings.site_title}: {iid} — {latest['headline']}",
        description=f"Every statement about incident {iid}, newest first: the preliminary "
        "release, its updates and its corrections.",
        page=incident_url(settings, iid),
        rss_url=f"{base}/rss.xml",
        atom_url=f"{base}/atom.xml",
        author=latest["agency"],
    )


def site_feeds(catalog: dict[str, Any], settings: Settings) -> tuple[bytes, bytes]:
    """(rss, atom) for ``rss.xml`` / ``atom.xml``: the newest releases of every incident."""
    return _render(
        catalog["recent"][: settings.feed_window],
        settings,
        title=settings.site_title,
        description="Every release about every critical incident, newest first.",
        page=f"{settings.base_url}/index.html",
        rss_url=f"{settings.base_url}/rss.xml",
        atom_url=f"{settings.base_url}/atom.xml",
        author=settings.site_title,
    )


def corrections_feeds(catalog: dict[str, Any], settings: Settings) -> tuple[bytes, bytes]:
    """(rss, atom) for ``corrections.rss.xml`` / ``corrections.atom.xml``: corrections only."""
    return _render(
        catalog["corrections"][: settings.feed_window],
        settings,
        title=f"{settings.site_title} — corrections",
        description="Corrections only, newest first: what was wrong, what is right, when and why.",
        page=f"{settings.base_url}/corrections/index.html",
        rss_url=f"{settings.base_url}/corrections.rss.xml",
        atom_url=f"{settings.base_url}/corrections.atom.xml",
        author=settings.site_title,
    )


def _render(records: list[dict[str, Any]], settings: Settings, **channel: str) -> tuple[bytes, bytes]:
    # Sorted here too, so a feed never depends on its input's order.
    entries = newest_first(records)
    # Two generators because the one "self" link must name the RSS file in the RSS feed and
    # the Atom file in the Atom feed.
    # Each entry's content once for both feeds (rendering it is most of a feed's cost).
    texts = [
        (_content_html(record, settings), render.feed_summary_html(record, settings)) for record in entries
    ]
    rss = _generator(entries, texts, settings, self_url=channel["rss_url"], self_type=RSS_TYPE, **channel)
    atom = _generator(entries, texts, settings, self_url=channel["atom_url"], self_type=ATOM_TYPE, **channel)
    languages = [record.get("language") for record in entries]
    return _rss_bytes(rss, entries, settings), _with_languages(
        _atom_bytes(atom), f"{{{ATOM_NS}}}entry", languages
    )


XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _with_languages(data: bytes, path: str, languages: list[str | None]) -> bytes:
    """``xml:lang`` on each entry whose statement names its language (feedgen has no entry language).
    A feed without one is left byte for byte as feedgen wrote it."""
    if not any(languages):
        return data
    root = etree.fromstring(data, _PARSER)
    for element, language in zip(root.iterfind(path), languages, strict=True):
        if language:
            element.set(XML_LANG, language)
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def _rss_bytes(fg: FeedGenerator, entries: list[dict[str, Any]], settings: Settings) -> bytes:
    """Serialize the RSS feed, with the links feedgen 1.0 leaves out of RSS, and plain-text titles.

    feedgen writes only the "self" link into an RSS channel; a WebSub subscriber looks
    for ``atom:link rel="hub"`` next to it, so it is added after the self link here. An RSS
    item has one ``<link>`` (its own version); the version it follows is named as Atom does,
    ``atom:link rel="related"``, which feedparser and other readers that know Atom read.
    """
    root = etree.fromstring(fg.rss_str(pretty=True), _PARSER)
    channel = root.find("channel")
    if settings.websub_hub:
        self_link = next(el for el in channel.iterfind(f"{{{ATOM_NS}}}link") if el.get("rel") == "self")
        hub = etree.Element(f"{{{ATOM_NS}}}link", href=settings.websub_hub, rel="hub")
        hub.tail = self_link.tail  # same indentation as its neighbours
        self_link.addnext(hub)
    for item, record in zip(channel.iterfind("item"), entries, strict=True):
        if record.get("language"):  # feedgen has no entry language
            item.set(XML_LANG, record["language"])
        if record["version"] > 1:
            link = item.find("link")
            previous = etree.Element(f"{{{ATOM_NS}}}link", **_previous_link(record, settings))
            previous.tail = link.tail
            link.addnext(previous)
    data = etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")
    return _TITLE.sub(_plain_title, data)


# RSS titles are plain text (the RSS Board's profile), written with "&" and "<" as the character
# references the profile asks for, so no reader can take an entity in a headline for markup.
_TITLE = re.compile(rb"<title>([^<]*)</title>")


def _plain_title(match: re.Match[bytes]) -> bytes:
    return b"<title>" + match[1].replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;") + b"</title>"


def _previous_link(record: dict[str, Any], settings: Settings) -> dict[str, str]:
    """The link from a version's entry to the version it follows (Atom's and RSS's)."""
    version = record["version"]
    return {
        "href": version_url(settings, record["incident_id"], version - 1),
        "rel": "related",
        "type": "text/html",
        "title": f"Version {version - 1}, which this version follows",
    }


def _atom_bytes(fg: FeedGenerator) -> bytes:
    """Serialize the Atom feed with the entry links feedgen 1.0 writes without attributes.

    feedgen 1.0 drops rel, type and title from entry links (it reads them from the new
    element instead of the link data), so the "related" link to the previous version
    would come out as a second "alternate" link. They are set again here from the data
    feedgen was given; a feedgen that writes them itself gets the same bytes.
    """
    root = etree.fromstring(fg.atom_str(), _PARSER)
    for element, entry in zip(root.iterfind(f"{{{ATOM_NS}}}entry"), fg.entry(), strict=True):
        for link_element, link in zip(element.iterfind(f"{{{ATOM_NS}}}link"), entry.link(), strict=True):
            for name in ("rel", "type", "title"):
                if link.get(name):
                    link_element.set(name, link[name])
    return etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def _generator(
    entries: list[dict[str, Any]],
    texts: list[tuple[str, str]],
    settings: Settings,
    *,
    title: str,
    description: str,
    page: str,
    rss_url: str,
    atom_url: str,
    author: str,
    self_url: str,
    self_type: str,
) -> FeedGenerator:
    fg = FeedGenerator()
    # RSS <author> needs an e-mail address; an agency has a name, which dc:creator carries.
    fg.load_extension("dc", atom=False, rss=True)
    # A feed's id is its own address: it is what a subscriber subscribed to.
    fg.id(atom_url)
    # Plain text, as every title (see _rss_bytes for RSS's character references).
    fg.title(title)
    fg.subtitle(description)  # also the RSS channel description
    fg.author({"name": author})
    # feedgen uses the last link as the RSS channel link, so the page goes last.
    fg.link(href=self_url, rel="self", type=self_type)
    if settings.websub_hub:
        fg.link(href=settings.websub_hub, rel="hub")
    fg.link(href=page, rel="alternate", type="text/html")
    fg.language("en")
    fg.generator(GENERATOR)
    newest = instant(entries[0]["released_at"]).astimezone(UTC) if entries else EPOCH
    fg.updated(newest)  # Atom updated and RSS lastBuildDate
    fg.pubDate(newest)
    for record, (content, summary) in zip(entries, texts, strict=True):
        _add_entry(fg, record, content, summary, settings)
    return fg


def _add_entry(
    fg: FeedGenerator, record: dict[str, Any], content: str, summary: str, settings: Settings
) -> None:
    iid, version = record["incident_id"], record["version"]
    released = instant(record["released_at"]).astimezone(UTC)  # feeds state times in UTC
    # feedgen prepends by default; entries arrive newest first and must stay that way.
    fe = fg.add_entry(order="append")
    fe.id(entry_id(record, settings))  # RSS guid isPermaLink="false": a tag URI is not a page
    # Plain text in both formats: Atom's titles are text by definition, and the RSS Board's profile
    # says RSS titles are plain text. Escaping them as HTML as well made readers (newsboat, feedparser)
    # show "O&#x27;Brien &amp;" for "O'Brien &".
    fe.title(render.entry_title(record))
    fe.link(href=version_url(settings, iid, version), rel="alternate", type="text/html")
    if version > 1:
        fe.link(**_previous_link(record, settings))
    fe.published(released)
    # A version never changes after release (feedgen would say now()), except by a redaction: then the
    # entry says when, so readers that honour "updated" replace the copy they hold.
    removed_at = [r["at"] for r in (record.get("redactions") or {}).values() if r.get("at")]
    fe.updated(max([released, *(instant(at).astimezone(UTC) for at in removed_at)]))
    fe.author({"name": record["agency"]})
    fe.dc.dc_creator(record["agency"])
    fe.category(term=record["stage"])
    # Readers decode summary and content as HTML while feedgen only XML-escapes: both are rendered by
    # the pages' templates, which HTML-escape every piece of submitted text.
    fe.content(content, type="html")
    fe.summary(summary, type="html")


def _content_html(record: dict[str, Any], settings: Settings) -> str:
    # The same templates as the pages (jinja2, autoescaped): readers decode content as HTML while
    # feedgen only XML-escapes, so submitted text must arrive HTML-escaped, as the pages escape it.
    iid, version = record["incident_id"], record["version"]
    previous = version_url(settings, iid, version - 1) if version > 1 else None
    return render.feed_entry_html(record, settings, incident_url(settings, iid), previous)

"""Static pages and wire-service text, rendered from version records and the catalog.

Every function here is a pure function of its arguments: no clock, no randomness, no
storage. Pages link only relatively so the bucket can sit behind any domain.

User text reaches templates only as data; HTML templates are autoescaped and no
template marks user text ``|safe``. The functions that return markup (``when``,
``text_attrs``) escape what they insert.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import tzinfo
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import jinja2
from markupsafe import Markup

from . import checkpoint, privacy, textdiff
from .document import CORRECTION_NOTE, FIELDS, REMOVED
from .order import by_activity, instant
from .records import current_stage
from .settings import Settings


def _templates_folder() -> Path:
    """The templates: inside the installed package (a wheel maps the repository's ``templates/`` to
    ``releases/templates/``, see pyproject.toml), else the checkout's ``templates/`` beside the package
    (where they are edited; a checkout has no ``releases/templates/``)."""
    packaged = resources.files(__package__) / "templates"
    # pip and uv install wheels unpacked, so an installed package's resources are files on disk.
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "templates"
    if not checkout.is_dir():
        raise RuntimeError(
            f"the page templates are missing: neither {packaged} (an installed package) nor {checkout} "
            "(a checkout) exists; reinstall incident-releases"
        )
    return checkout


TEMPLATES = _templates_folder()
PRELIMINARY_DISCLAIMER = "This information is preliminary and may change."
STAGE_LABELS = {
    "preliminary": "Preliminary",
    "updated": "Updated",
    "corrected": "Corrected",
    "redaction": "Redaction",
}
# What wire services expect at the top of a text release.
WIRE_LABELS = {
    "preliminary": "PRELIMINARY",
    "updated": "UPDATE",
    "corrected": "CORRECTION",
    "redaction": "REDACTION",
}
FIELD_TITLES = {f.name: f.title for f in (*FIELDS, CORRECTION_NOTE)} | {"language": "Language"}
# Written right to left (BCP 47 language subtags whose usual script is; a script subtag decides when given).
RTL_LANGUAGES = frozenset(
    "ar arb arz ary arq aeb apc apd acm afb ajp ars ayl he iw fa prs pes ur ps pbt pbu yi ji ydd yih dv ckb "
    "sdh sd ug syr arc ks bal azb lrc mzn glk pnb skr bqi khw bgn uz-Arab nqo".split()
)
RTL_SCRIPTS = frozenset(
    "Arab Aran Hebr Thaa Syrc Syre Syrj Syrn Nkoo Adlm Rohg Mand Samr Mend Yezi Phnx".split()
)
# Long text (several sentences or paragraphs) is shown changed word by word; a short field as was -> now.
LONG_TEXT = frozenset(f.name for f in FIELDS if f.multiline)
# Month names spelled out here because strftime("%b") follows the machine's locale.
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# What rendering raises when a record is not what a release writes (a value missing or of
# the wrong type, a gap in the versions): ``site`` reports the incident and goes on.
FAILURES = (KeyError, TypeError, ValueError, AttributeError, jinja2.TemplateError)


def _normalise(value: str) -> str:
    # RFC 3339 allows "t"/"z" in lower case; HTML's datetime attribute and fromisoformat do not.
    return value.upper()


def zone(settings: Settings, anchor: str | None = None) -> tzinfo | None:
    """The zone a page shows times in: the agency's (``RELEASES_TIMEZONE``) if set; otherwise the UTC
    offset of ``anchor``, the statement's own ``occurred_at`` (so "9:14 p.m." in the text and the time
    shown agree); None when there is neither: each time is then shown in the offset it carries."""
    if settings.tz is not None:
        return settings.tz
    if anchor:
        try:
            return instant(anchor).tzinfo
        except ValueError:
            return None
    return None


def human_time(value: str, tz: tzinfo | None) -> str:
    """``"2026-11-21T03:00:00Z"`` -> ``"Nov 21, 2026, 3:00 AM UTC"`` in the zone ``tz`` (None: the
    offset ``value`` carries). A fixed offset is named as one: ``"Nov 20, 2026, 9:14 PM UTC-05:00"``.

    A time that cannot be shown in the zone (year 1 or 9999: only records published
    before times were limited to 1900-2100 hold one) is shown exactly as recorded, so its
    incident can still be shown, rebuilt and corrected.
    """
    try:
        moment = instant(value)
        moment = moment.astimezone(tz) if tz is not None else moment
    except OverflowError:
        return value
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return (
        f"{_MONTHS[moment.month - 1]} {moment.day}, {moment.year}, "
        f"{hour}:{moment.minute:02d} {half} {moment.tzname()}"
    )


def direction(tag: str) -> str:
    """``"rtl"`` or ``"ltr"``: how text in the BCP 47 language ``tag`` is written (``ar``, ``fa-IR`` and
    ``az-Arab`` right to left; ``ku-Latn``, ``en`` left to right)."""
    subtags = tag.split("-")
    scripts = [s for s in subtags[1:] if len(s) == 4 and s.isalpha()]
    if scripts:
        return "rtl" if scripts[0].title() in RTL_SCRIPTS else "ltr"
    return "rtl" if subtags[0].lower() in RTL_LANGUAGES else "ltr"


def _text_attrs(item: dict) -> Markup:
    """The attributes of an element holding the statement's own text: its language and direction when the
    statement names its language (an Arabic paragraph that starts with a Latin name is still right to
    left), otherwise ``dir="auto"`` (the browser takes the direction from the text)."""
    tag = item.get("language")
    if not tag:
        return Markup(' dir="auto"')
    return Markup(' lang="{}" dir="{}"').format(tag, direction(tag))


# An http(s) URL in statement text; it ends at white space, a quote or an angle bracket, and trailing
# punctuation (the sentence's full stop, a closing bracket) is left outside the link.
URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING = ".,;:!?)]}\u201d\u2019"


def linkify(text: str) -> Markup:
    """Statement text, escaped, with each http(s) URL a link: ``rel="nofollow noopener"`` (no ranking
    credit, no access to the page from the opened one). Only http and https: nothing else becomes a link,
    so no ``javascript:`` or ``data:`` URL can."""
    out, pos = [], 0
    for match in URL.finditer(text):
        url = match.group().rstrip(TRAILING)
        if len(url) <= len("https://"):
            continue
        start = match.start()
        out.append(Markup.escape(text[pos:start]))
        out.append(Markup('<a href="{}" rel="nofollow noopener">{}</a>').format(url, url))
        pos = start + len(url)
    out.append(Markup.escape(text[pos:]))
    return Markup("").join(out)


def _when(value: str, tz: tzinfo | None) -> Markup:
    return Markup('<time datetime="{}">{}</time>').format(_normalise(value), human_time(value, tz))


def _paragraphs(text: str) -> list[list[str]]:
    """Blank lines separate paragraphs; single newlines inside one are kept as line breaks."""
    return [block.split("\n") for block in re.split(r"\n[ \t]*\n\s*", text.strip()) if block.strip()]


def _plain_paragraphs(text: str) -> str:
    """The paragraph rule for plain text: paragraphs separated by one blank line, line breaks kept."""
    return "\n\n".join("\n".join(lines) for lines in _paragraphs(text))


def word_diff(change: dict, only_changed: bool = False) -> list[list[list[textdiff.Segment]] | None] | None:
    """A change of long text laid out word by word (paragraphs, lines, segments); None for a short field,
    or where one side is not text to compare (a value hidden with ``private_fields``).

    ``only_changed``: the paragraphs that changed, each run of unchanged ones left out as one None (a
    banner or a feed entry quotes what changed; the history shows the whole text)."""
    if change["field"] not in LONG_TEXT or REMOVED in (change["was"], change["now"]):
        return None
    paras: list[list[list[textdiff.Segment]] | None] = list(textdiff.paragraphs(change["was"], change["now"]))
    if only_changed:
        kept: list[list[list[textdiff.Segment]] | None] = []
        for para in paras:
            if any(op != textdiff.SAME for line in para for op, _ in line):
                kept.append(para)
            elif not kept or kept[-1] is not None:
                kept.append(None)
        paras = kept
    return paras


def summary_changes(record: dict) -> list[tuple[str, str, str]]:
    """(field as the pages name it, was, now) for a feed summary: a short field whole, long text as each
    changed passage with a few words around it (see :func:`textdiff.excerpts`)."""
    out = []
    for change in record.get("changes") or []:
        label = field_label(change["field"])
        if change["field"] in LONG_TEXT and REMOVED not in (change["was"], change["now"]):
            out += [(label, was, now) for was, now in textdiff.excerpts(change["was"], change["now"])]
        else:
            out.append((label, change["was"], change["now"]))
    return out


def field_label(name: str) -> str:
    """A field as the pages name it ("Statement" for ``body``)."""
    return FIELD_TITLES.get(name, name)


def _hours(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def duration(hours: float | None) -> str:
    """``37.52`` -> ``"1 d 13 h 31 min"``: a length of time as a reader says it (empty when unknown)."""
    if hours is None:
        return ""
    minutes = round(abs(hours) * 60)
    sign = "\u2212" if hours < 0 and minutes else ""
    days, rest = divmod(minutes, 24 * 60)
    parts = [(days, "d"), (rest // 60, "h"), (rest % 60, "min")]
    # Leading zero units are dropped ("5 h 3 min", not "0 d 5 h 3 min"); the minutes always show.
    while len(parts) > 1 and parts[0][0] == 0:
        parts.pop(0)
    return sign + " ".join(f"{n} {unit}" for n, unit in parts)


@functools.cache
def templates_digest() -> str:
    """sha256 over every template: views cached by their inputs must change with these too."""
    digest = hashlib.sha256()
    for path in sorted(TEMPLATES.glob("*.j2")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _redacted_versions(record: dict) -> list[int]:
    return sorted({item["version"] for item in record["redaction"]["removed"]})


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        # select_autoescape's defaults miss "page.html.j2"; list the compound names, and
        # escape anything unrecognised. Only the wire-service text (.txt.j2) is left raw.
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "html.j2", "xml.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates are read once per process, like templates_digest (which every version records): no
        # stat of the template file at every render (a rebuild renders tens of thousands of pages).
        auto_reload=False,
    )
    env.filters.update(
        when=_when,
        human_time=human_time,
        paragraphs=_paragraphs,
        linkify=linkify,
        plain_paragraphs=_plain_paragraphs,
        hours=_hours,
        duration=duration,
    )
    env.globals.update(
        PRELIMINARY_DISCLAIMER=PRELIMINARY_DISCLAIMER,
        stage_labels=STAGE_LABELS,
        wire_labels=WIRE_LABELS,
        field_titles=FIELD_TITLES,
        guard_categories=privacy.CATEGORIES,
        redacted_versions=_redacted_versions,
        text_attrs=_text_attrs,
        word_diff=word_diff,
        summary_changes=summary_changes,
    )
    return env


def zone_note(settings: Settings, tz: tzinfo | None) -> str:
    """The footer's sentence on how times are shown."""
    if settings.tz is not None:
        return f"Times are shown in the {settings.display_timezone} time zone."
    if tz is not None:
        return f"Times are shown in the time zone the statement gives for the incident ({tz.tzname(None)})."
    return (
        "Times are shown in the time zone each statement gives for its incident, or in UTC where marked so."
    )


def describe(text: str, limit: int = 200) -> str:
    """A page's description (meta description, social cards): ``text`` on one line, cut at a word
    boundary to at most ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut).rstrip(",;:") + "\u2026"


def _render(
    name: str,
    settings: Settings,
    *,
    anchor: str | None = None,
    page: str = "",
    canonical: str | None = None,
    description: str = "",
    og_type: str = "website",
    **context: Any,
) -> bytes:
    """Render a template. ``anchor``: the ``occurred_at`` of the statement the page shows (see ``zone``);
    ``page``: the page's key; ``canonical``: the key of the page that stands for it (itself by default)."""
    template = environment().get_template(name)
    tz = zone(settings, anchor)
    page_url = f"{settings.base_url}/{page}"
    text = template.render(
        page_url=page_url,
        canonical_url=f"{settings.base_url}/{canonical or page}",
        # A link's address on paper (the print stylesheet): relative links resolved against this page.
        absolute=functools.partial(urljoin, page_url),
        description=describe(description),
        og_type=og_type,
        site_title=settings.site_title,
        tz=tz,
        tz_note=zone_note(settings, tz),
        # Pages that list many incidents show each one's times in its own statement's zone.
        zone_of=functools.partial(zone, settings),
        log_fingerprint=checkpoint.fingerprint(settings.log_key) if settings.log_key else "",
        **context,
    )
    return text.encode("utf-8")


def _feeds(root: str, *, incident: bool = False, corrections: bool = False) -> list[dict[str, str]]:
    """Feed links for a page; ``root`` is the relative path from the page to the bucket root."""
    feeds = []
    if incident:
        feeds += [
            {"title": "This incident (RSS)", "type": "application/rss+xml", "href": "rss.xml"},
            {"title": "This incident (Atom)", "type": "application/atom+xml", "href": "atom.xml"},
        ]
    if corrections:
        feeds += [
            {
                "title": "Corrections (RSS)",
                "type": "application/rss+xml",
                "href": f"{root}corrections.rss.xml",
            },
            {
                "title": "Corrections (Atom)",
                "type": "application/atom+xml",
                "href": f"{root}corrections.atom.xml",
            },
        ]
    return feeds + [
        {"title": "All releases (RSS)", "type": "application/rss+xml", "href": f"{root}rss.xml"},
        {"title": "All releases (Atom)", "type": "application/atom+xml", "href": f"{root}atom.xml"},
    ]


def feed_entry_html(
    record: dict, settings: Settings, history_url: str, previous_url: str | None = None
) -> str:
    """The HTML content of a feed entry: the page's macros, labels, paragraph rule and time format."""
    return (
        _render(
            "feed_entry.html.j2",
            settings,
            anchor=record.get("occurred_at"),
            record=record,
            history_url=history_url,
            previous_url=previous_url,
        )
        .decode("utf-8")
        .strip()
    )


def feed_summary_html(record: dict, settings: Settings) -> str:
    """A feed entry's summary: what changed and why (an update or a correction), else the statement's summary."""
    return _render("feed_summary.html.j2", settings, record=record).decode("utf-8").strip()


def entry_title(record: dict) -> str:
    """A feed entry's title (plain text): the wire label of its stage, the fields an update or a correction
    changed as the pages name them, and the headline: ``CORRECTION (location): ...``."""
    fields = [field_label(c["field"]).lower() for c in record.get("changes") or []]
    label = WIRE_LABELS[record["stage"]]
    if fields and record["stage"] in ("updated", "corrected"):
        label += f" ({', '.join(fields)})"
    return f"{label}: {record['headline']}"


def _statement_description(record: dict, stage: str, correction: dict | None = None) -> str:
    lead = {"preliminary": f"Preliminary: {record['summary']}", "redaction": record["summary"]}
    if correction is not None:
        return f"Corrected: {correction['correction_note']} {record['summary']}"
    return lead.get(stage, record["summary"])


def version_html(record: dict, settings: Settings) -> bytes:
    """``incidents/<id>/v<N>.html``: written once, so it names nothing that comes later (its notice says
    the statement may have changed since, and links the incident page, which always shows the latest)."""
    iid = record["incident_id"]
    return _render(
        "version.html.j2",
        settings,
        anchor=record.get("occurred_at"),
        page=f"incidents/{iid}/v{record['version']}.html",
        # One statement, one address for search engines: the incident page, where the current version is.
        canonical=f"incidents/{iid}/index.html",
        description=f"Version {record['version']} as released. "
        + _statement_description(record, record["stage"], record if record["stage"] == "corrected" else None),
        og_type="article",
        record=record,
        root="../../",
        feeds=_feeds("../../", incident=True),
    )


def version_txt(record: dict, settings: Settings) -> bytes:
    return _render(
        "version.txt.j2",
        settings,
        anchor=record.get("occurred_at"),
        page=f"incidents/{record['incident_id']}/v{record['version']}.txt",
        canonical=f"incidents/{record['incident_id']}/index.html",
        record=record,
    )


def incident_page(records: list[dict], settings: Settings) -> bytes:
    """``incidents/<id>/index.html`` from every version of one incident, oldest first."""
    if not records:
        raise ValueError("an incident page needs at least one version")
    if {r["incident_id"] for r in records} != {records[0]["incident_id"]}:
        raise ValueError("an incident page is rendered from the versions of one incident")
    # A gap would silently hide a version from the public history.
    if [r["version"] for r in records] != list(range(1, len(records) + 1)):
        raise ValueError("an incident page needs every version, 1 to N, oldest first")
    corrected = [r for r in records if r["stage"] == "corrected"]
    stage = current_stage(records)
    return _render(
        "incident.html.j2",
        settings,
        anchor=records[-1].get("occurred_at"),
        page=f"incidents/{records[0]['incident_id']}/index.html",
        description=_statement_description(
            records[-1], stage, corrected[-1] if stage == "corrected" and corrected else None
        ),
        og_type="article",
        latest=records[-1],
        stage=stage,
        history=list(reversed(records)),
        first=records[0],
        last_correction=corrected[-1] if corrected else None,
        correction_count=len(corrected),
        root="../../",
        feeds=_feeds("../../", incident=True),
    )


def month_name(month: str) -> str:
    """``"2026-11"`` -> ``"November 2026"`` (fixed names: no locale)."""
    year, number = month.split("-")
    return f"{_MONTH_NAMES[int(number) - 1]} {year}"


def _speed(catalog: dict) -> dict[str, Any]:
    # pandas (2+ s to import) only where a table is built: a statement page or a preview never pays it.
    from . import changelog

    frame = changelog.speed_frame(catalog)
    by_incident = {item["incident_id"]: item for item in changelog.speed_by_incident(frame)}
    return {"medians": changelog.speed_medians(frame), "by_incident": by_incident}


def site_index(catalog: dict, settings: Settings) -> bytes:
    """``index.html``: the incidents with the newest activity, how fast they were released, the archive."""
    return _render(
        "index.html.j2",
        settings,
        page="index.html",
        description=f"Statements of {settings.site_title} about critical incidents: what is preliminary, "
        "every update and every correction, with each statement's full history, and feeds.",
        heading=settings.site_title,
        incidents=by_activity(catalog["incidents"].values()),
        months=[{"key": m, "name": month_name(m)} for m in catalog["months"]],
        release_months=[{"key": m, "name": month_name(m)} for m in catalog.get("release_months", [])],
        speed=_speed(catalog),
        root="",
        feeds=_feeds("", corrections=True),
    )


def day_name(day: str) -> str:
    """``"2026-11-05"`` -> ``"5 November 2026"`` (fixed names: no locale)."""
    year, month, number = day.split("-")
    return f"{int(number)} {_MONTH_NAMES[int(month) - 1]} {year}"


def day_page(listing: dict, settings: Settings) -> bytes:
    """``archive/<YYYY-MM-DD>.html``: every incident first released that day (UTC)."""
    return _render(
        "index.html.j2",
        settings,
        page=f"archive/{listing['day']}.html",
        description=f"Every incident first released on {day_name(listing['day'])} (UTC), with its newest release.",
        heading=f"Incidents first released on {day_name(listing['day'])} (UTC)",
        incidents=by_activity(listing["incidents"]),
        months=[],
        release_months=[],
        speed=None,
        root="../",
        feeds=_feeds("../", corrections=True),
    )


def month_page(listing: dict, settings: Settings) -> bytes:
    """``archive/<YYYY-MM>.html``: the days of the month that have incidents, each linking to its page."""
    return _render(
        "archive_month.html.j2",
        settings,
        page=f"archive/{listing['month']}.html",
        description=f"The days of {month_name(listing['month'])} on which incidents were first released.",
        heading=f"Incidents first released in {month_name(listing['month'])}",
        days=[{"key": d, "name": day_name(d)} for d in listing["days"]],
        root="../",
        feeds=_feeds("../", corrections=True),
    )


def corrections_page(catalog: dict, rows: list[dict], settings: Settings) -> bytes:
    """``corrections/index.html``: the newest corrections (the catalog's window) and every month's page."""
    # Each row names its incident by the headline of the corrected version: the page depends on the
    # corrections alone, so only a correction renders it again.
    return _changelog_page(rows, settings, months=catalog["correction_months"])


def corrections_month_page(month: str, rows: list[dict], settings: Settings) -> bytes:
    """``corrections/<YYYY-MM>.html``: every correction released that month (UTC)."""
    return _changelog_page(rows, settings, month=month)


def _changelog_page(rows: list[dict], settings: Settings, *, month: str | None = None, months=()) -> bytes:
    return _render(
        "corrections.html.j2",
        settings,
        page=f"corrections/{month}.html" if month else "corrections/index.html",
        description=(
            f"Every correction released in {month_name(month)}" if month else "The newest corrections"
        )
        + f" of {settings.site_title}: what was wrong, what is right, when and why.",
        rows=rows,
        month={"key": month, "name": month_name(month)} if month else None,
        months=[{"key": m, "name": month_name(m)} for m in months],
        root="../",
        feeds=_feeds("../", corrections=True),
    )

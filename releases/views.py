"""Everything a reader sees besides the records: a pure function of the ``v<N>.json`` records.

A release writes, without reading any of them first:

- its version's pages once (``publish_renderings``: create-once, never replaced);
- its incident's page and feeds (``write_incident``), which change with every version;
- its incident's day in the archive, its month's releases table, and for a correction the month's
  changelog (``fold``: compare-and-swap on the JSON tables, small objects bounded by what one day or
  month brings); the pages rendered from those tables (``TABLE_PAGES``) are left to the site-wide writer;
- the site-wide views (``write_site``: front page, site feeds, and when corrections changed
  the head of the changelog and the corrections feeds), from the catalog, bounded by its windows,
  and the pages of the tables the releases it writes for changed (``tables``).

In Airflow the site-wide views are written by one DAG (``site_views``) that runs once per batch
of releases; tools and tests call :func:`write_site` in the releasing process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from . import catalog as catalog_mod
from . import feeds, ledger, render, tlog
from .errors import StorageFault
from .order import by_activity
from .records import canonical
from .settings import Settings, rendering
from .storage import Store, etag_of

# Bound on re-rendering while other releases keep changing what a view shows: past it, the step fails as a
# fault and Airflow's retry renders again (a burst of releases ends; the loop never spins forever).
MAX_RENDERS = 20
# The rendering settings in force, for readers and verify (written by write_site where they differ).
SITE_JSON = "site.json"


def stamp(settings: Settings) -> dict[str, str]:
    """What a version's pages are rendered with, recorded in the version: the templates and the
    rendering settings (``site.json``), each by its SHA-256."""
    return {"templates": render.templates_digest(), "site": tlog.site_hash(settings)}


def renderings(record: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    iid, n = record["incident_id"], record["version"]
    return {
        ledger.record_key(iid, n, "html"): render.version_html(record, settings),
        ledger.record_key(iid, n, "txt"): render.version_txt(record, settings),
    }


def publish_renderings(store: Store, record: dict[str, Any], settings: Settings) -> None:
    # Create-once. An existing rendering is left as it is, even if today's templates would
    # render it differently: a version page keeps the look of the day it was released
    # (verify reports such a difference; the record stays the source of truth).
    store.create_all(renderings(record, settings))


def incident_view_keys(iid: str) -> tuple[str, str, str]:
    """An incident's views (its page and feeds, rebuilt from its records): the keys of :func:`incident_views`."""
    return f"incidents/{iid}/index.html", f"incidents/{iid}/rss.xml", f"incidents/{iid}/atom.xml"


def incident_views(records: list[dict[str, Any]], settings: Settings) -> dict[str, bytes]:
    page, rss_key, atom_key = incident_view_keys(records[-1]["incident_id"])
    rss, atom = feeds.incident_feeds(records, settings)
    return {page: render.incident_page(records, settings), rss_key: rss, atom_key: atom}


def settings_views(settings: Settings) -> dict[str, bytes]:
    return {SITE_JSON: json.dumps(rendering(settings), indent=1, sort_keys=True).encode() + b"\n"}


def front_views(catalog: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    rss, atom = feeds.site_feeds(catalog, settings)
    return {
        "index.html": render.site_index(catalog, settings),
        "index.json": _listing({"months": catalog["months"]}, catalog["incidents"].values()),
        "rss.xml": rss,
        "atom.xml": atom,
    }


def corrections_views(catalog: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    """The head of the changelog (the newest ``feed_window`` corrections) and the corrections feeds."""
    from . import changelog  # pandas: imported only by a run that builds a table

    crss, catom = feeds.corrections_feeds(catalog, settings)
    rows = changelog.rows_of(catalog["corrections"], settings.base_url)
    table = changelog.to_csv(rows)
    return {
        "corrections.rss.xml": crss,
        "corrections.atom.xml": catom,
        "corrections/index.html": render.corrections_page(catalog, rows, settings),
        "corrections/corrections.csv": table,
        changelog.excel_key("corrections/corrections.csv"): changelog.to_excel_csv(table),
        "corrections/corrections.json": changelog.to_json(rows),
    }


def site_views(catalog: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    return {**front_views(catalog, settings), **corrections_views(catalog, settings)}


def day_views(listing: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    day = listing["day"]
    return {
        catalog_mod.day_key(day): catalog_mod.listing_bytes(listing),
        f"archive/{day}.html": render.day_page(listing, settings),
    }


def month_views(listing: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    month = listing["month"]
    return {
        catalog_mod.month_key(month): catalog_mod.listing_bytes(listing),
        f"archive/{month}.html": render.month_page(listing, settings),
    }


def changelog_month_views(month: str, rows: list[dict[str, Any]], settings: Settings) -> dict[str, bytes]:
    from . import changelog

    table = changelog.to_csv(rows)
    return {
        changelog.month_key(month): changelog.to_json(rows),
        f"corrections/{month}.csv": table,
        changelog.excel_key(f"corrections/{month}.csv"): changelog.to_excel_csv(table),
        f"corrections/{month}.html": render.corrections_month_page(month, rows, settings),
    }


def release_month_views(month: str, rows: list[dict[str, Any]]) -> dict[str, bytes]:
    """``archive/releases-<YYYY-MM>.json`` and ``.csv``: every version released that month (UTC)."""
    from . import changelog

    key = changelog.releases_key(month)
    return {key: changelog.to_json(rows), key.removesuffix(".json") + ".csv": changelog.releases_csv(rows)}


def _table_kind(key: str) -> str:
    from . import changelog

    name = key.rsplit("/", 1)[-1].removesuffix(".json")
    if key.startswith("archive/releases-") and key == changelog.releases_key(name.removeprefix("releases-")):
        return "releases"
    if key.startswith("archive/") and len(name) == 10 and key == catalog_mod.day_key(name):
        return "day"
    if key.startswith("corrections/") and len(name) == 7 and key == changelog.month_key(name):
        return "changelog"
    raise ValueError(f"{key}: not a table whose pages the site-wide writer renders")


def table_pages(key: str, body: bytes, settings: Settings) -> dict[str, bytes]:
    """The pages rendered from one of the JSON tables :func:`fold` keeps (``key``, holding ``body``):
    a day's archive page, a month's releases CSV, a month's changelog page and CSVs. The same bytes as
    :func:`all_views` renders for it (a rebuild)."""
    kind, state = _table_kind(key), json.loads(body)
    name = key.rsplit("/", 1)[-1].removesuffix(".json")
    if kind == "day":
        pages = day_views(state, settings)
    elif kind == "releases":
        pages = release_month_views(name.removeprefix("releases-"), state)
    else:
        pages = changelog_month_views(name, state, settings)
    return {k: v for k, v in pages.items() if k != key}


def _listing(head: dict[str, Any], summaries) -> bytes:
    """Machine-readable incident lists: where ``releases verify`` starts."""
    keep = ("incident_id", "latest_version", "latest_sha256", "stage", "headline", "latest_released_at")
    incidents = by_activity({k: s[k] for k in keep} for s in summaries)
    return (
        json.dumps({**head, "incidents": incidents}, ensure_ascii=False, indent=1, sort_keys=True).encode()
        + b"\n"
    )


# --- writing ------------------------------------------------------------------------------------


def write_incident(
    store: Store, records: list[dict[str, Any]], settings: Settings, *, if_changed: bool = False
) -> list[str]:
    """Render the incident's page and feeds from ``records`` (its history as just read).

    They change with every version, so they are written without asking first. A concurrent
    release of a newer version may have written its own just before: then the history is
    read again and rendered again (one HEAD of the next version's record tells).
    """
    incident_id = records[-1]["incident_id"]
    for _ in range(MAX_RENDERS):
        written = store.put_all(incident_views(records, settings), if_changed=if_changed)
        if store.head_etag(ledger.record_key(incident_id, records[-1]["version"] + 1)) is None:
            return written
        records = ledger.history(store, incident_id)
    raise StorageFault(
        f"incidents/{incident_id}: new versions kept arriving while its views were written "
        f"({MAX_RENDERS} renders); the task's retry renders them again"
    )


def fold(
    store: Store,
    records: list[dict[str, Any]],
    settings: Settings,
    *,
    replace: bool = False,
    if_changed: bool = False,
) -> tuple[dict[str, Any], bool, list[str]]:
    """Fold ``records[-1]`` (with its history before it) into the archive, the changelog and the
    catalog. Returns (the catalog as now stored, whether the corrections views must be rendered,
    the JSON tables changed, whose pages :func:`write_site` renders: ``tables``).

    ``replace``: a redaction rewrote the incident's records; every copy is replaced too.
    ``if_changed`` (and ``replace``): pages are written only where their bytes differ (a re-run).
    """
    if_changed = if_changed or replace
    tables = [_fold_day(store, records, replace=replace), _fold_releases(store, records)]
    # A redaction rewrote every correction of the incident; a correction adds its own rows.
    for n in range(1, len(records) + 1) if replace else [len(records)]:
        if records[n - 1]["stage"] == "corrected":
            tables.append(_fold_changelog(store, records[:n], settings))
    change = catalog_mod.replace_incident if replace else catalog_mod.add
    # What the site-wide views were last rendered with: new templates or settings render the
    # corrections views again too, as new corrections do.
    look = rendering_digest(settings)

    def updated(c: dict[str, Any]) -> dict[str, Any]:
        new = change(c, records, feed_window=settings.feed_window, index_window=settings.index_window)
        new["rendering"] = look
        return new

    def before(old: dict[str, Any], new: dict[str, Any]) -> None:
        # Written before the catalog says they are: a crash in between writes them again on retry.
        for month in sorted({d[:7] for d in set(new["days"]) - set(old["days"])}):
            store.put_all(
                month_views(catalog_mod.month_listing(month, new["days"]), settings), if_changed=if_changed
            )

    old, new = catalog_mod.swap(store, catalog_mod.KEY, catalog_mod.empty(), updated, before=before)
    rerender = old.get("rendering") != look
    corrected = records[-1]["stage"] == "corrected"
    changed = replace or corrected or rerender or old["corrections"] != new["corrections"]
    return new, changed, sorted(set(tables))


# The JSON tables are what releases change (compare-and-swap); the pages rendered from them are written by
# the site-wide writer, which renders each from the table as it reads it after the catalog swap and renders
# again if the catalog changed meanwhile. Each release writing its own rendering raced: an older release's
# page could land after a newer one's and stay stale.


def _fold_day(store: Store, records: list[dict[str, Any]], *, replace: bool) -> str:
    day = catalog_mod.day_of(records)
    catalog_mod.swap(
        store,
        catalog_mod.day_key(day),
        catalog_mod.empty_day(day),
        lambda d: catalog_mod.add_to_day(d, records, replace=replace),
        encode=catalog_mod.listing_bytes,
        public=True,
    )
    return catalog_mod.day_key(day)


def _fold_releases(store: Store, records: list[dict[str, Any]]) -> str:
    """``records[-1]`` into its month's releases table (its row replaces any it had there). Rows hold no
    submitted text, so a redaction, which rewrites earlier records, adds its own row and changes no other."""
    from . import changelog

    month = records[-1]["released_at"][:7]
    catalog_mod.swap(
        store,
        changelog.releases_key(month),
        [],
        lambda rows: changelog.with_releases(rows, records[-1:]),
        encode=changelog.to_json,
        public=True,
    )
    return changelog.releases_key(month)


def _fold_changelog(store: Store, records: list[dict[str, Any]], settings: Settings) -> str:
    """``records[-1]``, a correction, into its month's changelog (its rows replace any it had there)."""
    from . import changelog

    month = records[-1]["released_at"][:7]
    entry = catalog_mod._correction_entry(records)
    catalog_mod.swap(
        store,
        changelog.month_key(month),
        [],
        lambda rows: changelog.with_rows(rows, [entry], settings.base_url),
        encode=changelog.to_json,
        public=True,
    )
    return changelog.month_key(month)


def write_site(
    store: Store,
    settings: Settings,
    *,
    catalog: dict[str, Any] | None = None,
    corrections: bool = True,
    if_changed: bool = False,
    tables: Iterable[str] | None = (),
) -> list[str]:
    """Render the front page, the site feeds and (``corrections``) the changelog head and the
    corrections feeds from the catalog (``catalog``: as just stored by :func:`fold`, else read);
    ``site.json`` where it differs (one replaced in the bucket is put right) when the rendering may have
    changed: ``corrections`` (which :func:`fold` asks for when templates or settings changed) or a re-run.
    ``tables``: the JSON tables the releases changed (:func:`fold`'s), whose pages are rendered from
    them as read here; None: every table the catalog names (a run by hand).

    If another release changed the catalog meanwhile, renders again (a bounded number of
    times), so the last write reflects the newest state. ``if_changed``: write only views whose
    bytes differ (a redaction, whose repeat must change nothing).
    """
    etag = None
    if catalog is None:
        catalog, etag = catalog_mod.load(store)
    keys = sorted(set(every_table(catalog) if tables is None else tables))
    written: list[str] = []
    for attempt in range(MAX_RENDERS):
        if attempt:
            catalog, etag = catalog_mod.load(store)
            corrections = True  # what changed may include corrections
        out = front_views(catalog, settings)
        if corrections:
            out.update(corrections_views(catalog, settings))
        # Read after this catalog was stored: every release folded into it has changed its tables by then.
        for key in keys:
            body = store.get(key)
            if body is None:
                raise StorageFault(f"{key}: a release folded into it, yet it is missing; a rebuild writes it")
            out.update(table_pages(key, body, settings))
        written += store.put_all(out, if_changed=if_changed)
        if store.head_etag(catalog_mod.KEY) == (etag or etag_of(canonical(catalog))):
            if not (corrections or if_changed):
                # site.json changes only with the settings; new settings or templates make fold ask for
                # the corrections views too, and a re-run compares everything, so otherwise it is as written.
                return written
            small = settings_views(settings)
            return written + [k for k, body in small.items() if store.put_if_changed(k, body)]
    raise StorageFault(
        f"{catalog_mod.KEY}: changed by other releases during each of {MAX_RENDERS} renders of the "
        "site views; the task's retry renders them again"
    )


def every_table(catalog: dict[str, Any]) -> list[str]:
    """Every JSON table whose pages the site-wide writer renders, as the catalog names them."""
    from . import changelog

    return (
        [catalog_mod.day_key(day) for day in catalog["days"]]
        + [changelog.releases_key(month) for month in catalog.get("release_months", [])]
        + [changelog.month_key(month) for month in catalog["correction_months"]]
    )


def rendering_digest(settings: Settings) -> str:
    """The catalog's ``rendering``: one digest of the templates and settings the views are rendered with."""
    return sha256(canonical(stamp(settings)))


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def all_views(
    catalog: dict[str, Any],
    days: dict[str, dict[str, Any]],
    correction_rows: dict[str, list[dict[str, Any]]],
    settings: Settings,
    release_rows: dict[str, list[dict[str, Any]]],
) -> dict[str, bytes]:
    """Every site-wide view (what a rebuild writes and verify compares), from the state :func:`fold`
    keeps: the catalog, the day listings, each month's changelog rows and releases table."""
    out = {**settings_views(settings), **site_views(catalog, settings)}
    for month, rows in release_rows.items():
        out.update(release_month_views(month, rows))
    for listing in days.values():
        out.update(day_views(listing, settings))
    for listing in catalog_mod.month_listings(catalog).values():
        out.update(month_views(listing, settings))
    for month, rows in correction_rows.items():
        out.update(changelog_month_views(month, rows, settings))
    return out


def correction_entries(
    records_by_incident: Iterable[list[dict[str, Any]]],
) -> dict[str, list[dict[str, Any]]]:
    """Every correction (its record and when each value it corrects was first published), by the month it
    was released."""
    entries: dict[str, list[dict[str, Any]]] = {}
    for records in records_by_incident:
        for n, record in enumerate(records, 1):
            if record["stage"] == "corrected":
                entries.setdefault(record["released_at"][:7], []).append(
                    catalog_mod._correction_entry(records[:n])
                )
    return entries


def release_rows(records_by_incident: Iterable[list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Each month's releases table (one row per version released that month), from every record."""
    from . import changelog

    found: dict[str, list[dict[str, Any]]] = {}
    for records in records_by_incident:
        for record in records:
            found.setdefault(record["released_at"][:7], []).append(changelog.release_row(record))
    return {month: changelog.sort_releases(rows) for month, rows in sorted(found.items())}


def month_rows(
    entries: dict[str, list[dict[str, Any]]], settings: Settings
) -> dict[str, list[dict[str, Any]]]:
    """Each month's changelog rows, from its corrections."""
    from . import changelog

    return {
        month: changelog.with_rows([], found, settings.base_url) for month, found in sorted(entries.items())
    }

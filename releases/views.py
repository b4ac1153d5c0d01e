"""Everything a reader sees besides the records: a pure function of the ``v<N>.json`` records.

``publish_renderings`` writes a version's immutable pages once; ``refresh_incident`` and
``refresh_site`` rewrite the rebuildable views. Both re-check their input after writing
and render again if a concurrent release changed it meanwhile, so the last write always
reflects the newest state.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import catalog as catalog_mod
from . import feeds, ledger, render, tlog
from .errors import StorageFault
from .order import by_activity
from .records import canonical
from .settings import Settings, rendering
from .storage import Store


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
    for key, body in renderings(record, settings).items():
        store.create(key, body)


def incident_views(records: list[dict[str, Any]], settings: Settings) -> dict[str, bytes]:
    iid = records[-1]["incident_id"]
    rss, atom = feeds.incident_feeds(records, settings)
    return {
        f"incidents/{iid}/index.html": render.incident_page(records, settings),
        f"incidents/{iid}/rss.xml": rss,
        f"incidents/{iid}/atom.xml": atom,
    }


def site_views(catalog: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    return {**front_views(catalog, settings), **corrections_views(catalog, settings)}


def front_views(catalog: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    rss, atom = feeds.site_feeds(catalog, settings)
    return {
        "index.html": render.site_index(catalog, settings),
        "index.json": _listing({"months": catalog["months"]}, catalog["incidents"].values()),
        "site.json": json.dumps(rendering(settings), indent=1, sort_keys=True).encode() + b"\n",
        "rss.xml": rss,
        "atom.xml": atom,
    }


def corrections_views(catalog: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    from . import changelog  # pandas: imported only by a release that rebuilds the changelog

    crss, catom = feeds.corrections_feeds(catalog, settings)
    table = changelog.frame(catalog)
    return {
        "corrections.rss.xml": crss,
        "corrections.atom.xml": catom,
        "corrections/index.html": render.corrections_page(catalog, settings),
        "corrections/corrections.csv": changelog.to_csv(table),
        "corrections/corrections.json": changelog.to_json(table),
    }


CORRECTIONS_INPUTS = "_state/corrections.inputs"
# Bound on re-rendering while other releases keep changing what a view shows: past it, the step fails as a
# fault and Airflow's retry renders again (a burst of releases ends; the loop never spins forever).
MAX_RENDERS = 20


def corrections_inputs(catalog: dict[str, Any], settings: Settings) -> bytes:
    """A fingerprint of everything the corrections views are rendered from.

    These views grow with every correction ever made; most releases do not change them,
    so a release renders them only when this fingerprint changes (templates included).
    """
    used = {
        iid: [s["headline"], s["occurred_at"], s["first_released_at"]]
        for iid, s in catalog["incidents"].items()
    }
    inputs = {
        "corrections": catalog["corrections"],
        "incidents": used,
        "settings": rendering(settings),
        "templates": render.templates_digest(),
    }
    return hashlib.sha256(canonical(inputs)).hexdigest().encode()


def archive_views(shard: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    month = shard["month"]
    return {
        f"archive/{month}.html": render.archive_page(shard, settings),
        f"archive/{month}.json": _listing({"month": month}, shard["incidents"].values()),
    }


def _listing(head: dict[str, Any], summaries) -> bytes:
    """Machine-readable incident lists: where ``releases verify`` starts."""
    keep = ("incident_id", "latest_version", "latest_sha256", "stage", "headline", "latest_released_at")
    incidents = by_activity({k: s[k] for k in keep} for s in summaries)
    return (
        json.dumps({**head, "incidents": incidents}, ensure_ascii=False, indent=1, sort_keys=True).encode()
        + b"\n"
    )


def refresh_incident(store: Store, records: list[dict[str, Any]], settings: Settings) -> list[str]:
    """Render the incident's page and feeds from ``records`` (its history as just read).

    Reads the history again only if a newer version appeared while writing.
    """
    incident_id = records[-1]["incident_id"]
    written: list[str] = []
    for _ in range(MAX_RENDERS):
        for key, body in incident_views(records, settings).items():
            if store.put_if_changed(key, body):
                written.append(key)
        if ledger.version_numbers(store, incident_id)[-1] == records[-1]["version"]:
            return written
        records = ledger.history(store, incident_id)
    raise StorageFault(
        f"incidents/{incident_id}: new versions kept arriving while its views were written "
        f"({MAX_RENDERS} renders); the task's retry renders them again"
    )


def refresh_site(
    store: Store, records: list[dict[str, Any]], settings: Settings, *, replace: bool = False
) -> list[str]:
    """Fold ``records[-1]`` (with its history before it) into the indexes; render from them.

    ``replace``: a redaction rewrote the incident's records; the indexes' copies are replaced too.
    """
    catalog_mod.fold_in(
        store,
        records,
        feed_window=settings.feed_window,
        index_window=settings.index_window,
        replace=replace,
    )

    def catalog_views(catalog: dict[str, Any], settings: Settings) -> dict[str, bytes]:
        fingerprint = corrections_inputs(catalog, settings)
        if store.get(CORRECTIONS_INPUTS) == fingerprint:
            return front_views(catalog, settings)
        # The fingerprint is written last: a crash before it means the next release renders again.
        return {
            **front_views(catalog, settings),
            **corrections_views(catalog, settings),
            CORRECTIONS_INPUTS: fingerprint,
        }

    written = _render_until_stable(store, catalog_mod.KEY, catalog_mod.empty(), catalog_views, settings)
    month = catalog_mod.month_of(records)
    shard_key = catalog_mod.month_key(month)
    return written + _render_until_stable(
        store, shard_key, catalog_mod.empty_month(month), archive_views, settings
    )


def _render_until_stable(store: Store, key: str, default: dict, make, settings: Settings) -> list[str]:
    # Re-render if a concurrent release changed the index while we wrote: the last
    # writer of every view has then seen the newest index.
    written: list[str] = []
    for _ in range(MAX_RENDERS):
        index, etag = catalog_mod.load(store, key, default)
        for view_key, body in make(index, settings).items():
            if store.put_if_changed(view_key, body):
                written.append(view_key)
        if store.head_etag(key) == etag:
            return written
    raise StorageFault(
        f"{key}: changed by other releases during each of {MAX_RENDERS} renders of its views; "
        "the task's retry renders them again"
    )

"""Everything a reader sees besides the records: a pure function of the ``v<N>.json`` records.

``publish_renderings`` writes a version's immutable pages once; ``refresh_incident`` and
``refresh_site`` rewrite the rebuildable views. Both re-check their input after writing
and render again if a concurrent release changed it meanwhile, so the last write always
reflects the newest state.
"""

from __future__ import annotations

import json
from typing import Any

from . import catalog as catalog_mod
from . import changelog, feeds, ledger, render
from .settings import Settings
from .storage import Store


def renderings(record: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    iid, n = record["incident_id"], record["version"]
    return {
        ledger.record_key(iid, n, "html"): render.version_html(record, settings),
        ledger.record_key(iid, n, "txt"): render.version_txt(record, settings),
    }


def publish_renderings(store: Store, record: dict[str, Any], settings: Settings) -> None:
    for key, body in renderings(record, settings).items():
        store.create_same(key, body)


def incident_views(records: list[dict[str, Any]], settings: Settings) -> dict[str, bytes]:
    iid = records[-1]["incident_id"]
    rss, atom = feeds.incident_feeds(records, settings)
    return {
        f"incidents/{iid}/index.html": render.incident_page(records, settings),
        f"incidents/{iid}/rss.xml": rss,
        f"incidents/{iid}/atom.xml": atom,
    }


def site_views(catalog: dict[str, Any], settings: Settings) -> dict[str, bytes]:
    rss, atom = feeds.site_feeds(catalog, settings)
    crss, catom = feeds.corrections_feeds(catalog, settings)
    table = changelog.frame(catalog)
    return {
        "index.html": render.site_index(catalog, settings),
        "index.json": public_index(catalog),
        "rss.xml": rss,
        "atom.xml": atom,
        "corrections.rss.xml": crss,
        "corrections.atom.xml": catom,
        "corrections/index.html": render.corrections_page(catalog, settings),
        "corrections/corrections.csv": changelog.to_csv(table),
        "corrections/corrections.json": changelog.to_json(table),
    }


def public_index(catalog: dict[str, Any]) -> bytes:
    """Machine-readable list of incidents: where ``releases verify`` starts."""
    keep = ("incident_id", "latest_version", "latest_sha256", "stage", "headline", "latest_released_at")
    incidents = sorted(
        ({k: s[k] for k in keep} for s in catalog["incidents"].values()),
        key=lambda s: (s["latest_released_at"], s["incident_id"]),
        reverse=True,
    )
    return json.dumps({"incidents": incidents}, ensure_ascii=False, indent=1, sort_keys=True).encode() + b"\n"


def refresh_incident(store: Store, incident_id: str, settings: Settings) -> list[str]:
    """Render the incident's page and feeds from its records; returns the keys rewritten."""
    written: list[str] = []
    while True:
        records = ledger.history(store, incident_id)
        if not records:
            return written
        for key, body in incident_views(records, settings).items():
            if store.put_view(key, body):
                written.append(key)
        if ledger.version_numbers(store, incident_id)[-1] == records[-1]["version"]:
            return written


def refresh_site(store: Store, record: dict[str, Any], settings: Settings) -> list[str]:
    """Fold ``record`` into the catalog and render the site-wide views from it."""
    prev = (
        ledger.load_record(store, record["incident_id"], record["version"] - 1)
        if record["version"] > 1
        else None
    )
    catalog_mod.fold_in(store, record, prev, settings.feed_window)
    written: list[str] = []
    while True:
        current, etag = catalog_mod.load(store)
        for key, body in site_views(current, settings).items():
            if store.put_view(key, body):
                written.append(key)
        if store.head_etag(catalog_mod.KEY) == etag:
            return written

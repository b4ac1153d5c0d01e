"""The three steps of a release, as the DAG runs them (and as tests and tools can).

Each step takes the submitted document and a :class:`~releases.storage.Store`; each is
safe to run again: ``validate`` writes nothing, ``publish`` writes a version at most once
per ``key``, ``refresh`` rewrites views only where their bytes change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ledger, views
from .document import parse_update
from .settings import Settings
from .storage import Store


def validate(conf: dict[str, Any], store: Store) -> dict[str, Any]:
    update = parse_update(conf)
    planned = ledger.check(update, store)
    return {"incident_id": update.incident_id, "version": planned["version"], "stage": update.stage}


def publish(
    conf: dict[str, Any],
    store: Store,
    settings: Settings,
    *,
    key: str,
    released_by: str,
    clock: Callable[[], str] = ledger.utc_now,
) -> dict[str, Any]:
    record = ledger.publish(parse_update(conf), store, key=key, released_by=released_by, clock=clock)
    views.publish_renderings(store, record, settings)
    return {"incident_id": record["incident_id"], "version": record["version"], "sha256": record["sha256"]}


def refresh(published: dict[str, Any], store: Store, settings: Settings) -> list[str]:
    record = ledger.load_record(store, published["incident_id"], published["version"])
    return views.refresh_incident(store, record["incident_id"], settings) + views.refresh_site(
        store, record, settings
    )


def release(
    conf: dict[str, Any], store: Store, settings: Settings, *, key: str, released_by: str, **kw
) -> dict:
    """All three steps in one process (tests, benchmarks, tools)."""
    validate(conf, store)
    published = publish(conf, store, settings, key=key, released_by=released_by, **kw)
    refresh(published, store, settings)
    return published

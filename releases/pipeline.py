"""The steps of a release; the DAG runs them all in one task (``release``), tests and tools too.

Each step needs only the submitted document and the submission's ``key`` (the DAG run),
never another step's output, so a retried or cleared task redoes only what is missing. Each
is safe to repeat: ``validate`` writes nothing, ``publish`` writes a version at most once
per ``key``, ``refresh`` rewrites views only where their bytes change, ``notify`` only
tells the WebSub hub again (a hub refetches and finds nothing new).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import feeds, ledger, privacy, redaction, sealing, tlog, views, websub
from .document import parse_update
from .errors import StorageFault
from .inbox import INBOX_RUN_PREFIX
from .settings import Settings
from .storage import Store


def releaser(triggering_user: str | None, run_id: str) -> str:
    """Who released a version: the Airflow user who triggered the run.

    It comes from the DAG run, never from the document (whose ``released_by`` is recorded
    as ``on_behalf_of``). A run that no user triggered names what started it: the inbox
    (its file was written by someone holding bucket credentials, whom Airflow does not
    know) or Airflow itself.
    """
    if triggering_user:
        return triggering_user
    return "inbox" if run_id.startswith(INBOX_RUN_PREFIX) else "airflow"


def validate(
    conf: dict[str, Any], store: Store, *, key: str | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    update = parse_update(conf)
    planned = ledger.check(update, store, key, settings.public if settings else privacy.NOTHING_LISTED)
    return {"incident_id": update.incident_id, "version": planned["version"], "stage": update.stage}


def publish(
    conf: dict[str, Any],
    store: Store,
    settings: Settings,
    *,
    key: str,
    released_by: str,
    clock: Callable[[], str] = ledger.utc_now,
    **kw: Any,
) -> dict[str, Any]:
    """Append the version (``kw``: ``salt``, for tests that compare two runs byte for byte)."""
    record = ledger.publish(
        parse_update(conf),
        store,
        key=key,
        released_by=released_by,
        clock=clock,
        public=settings.public,
        rendering=views.stamp(settings),
        **kw,
    )
    views.publish_renderings(store, record, settings)
    return {"incident_id": record["incident_id"], "version": record["version"], "sha256": record["sha256"]}


def _published(conf: dict[str, Any], store: Store, key: str) -> tuple[list[dict], dict[str, Any]]:
    """The incident's records and the one this submission published."""
    update = parse_update(conf)
    records = ledger.history(store, update.incident_id)
    record = ledger.find(records, key)
    if record is None:
        raise StorageFault(
            f"incident {update.incident_id} has no version published by {key}; run publish first"
        )
    return records, record


def refresh(
    conf: dict[str, Any], store: Store, settings: Settings, *, key: str, signer: tlog.Signer | None = None
) -> list[str]:
    """Log the version this run published (with ``signer``: see :mod:`releases.tlog`), then render views."""
    records, record = _published(conf, store, key)
    if signer is not None:
        tlog.append(store, [record], settings, signer)  # this run's own record, never another's
    written = views.refresh_incident(store, records, settings)
    return written + views.refresh_site(store, records[: record["version"]], settings)


def notify(conf: dict[str, Any], store: Store, settings: Settings, *, key: str) -> dict[str, Any] | None:
    """Tell the WebSub hub, in one request, every feed this release appears in.

    Runs after ``refresh``, so the hub fetches feeds that already carry the release. The
    hub's failures are logged, never raised (see ``websub``); None when no hub is set.
    """
    if not settings.websub_hub:
        return None
    _records, record = _published(conf, store, key)
    return websub.publish(settings.websub_hub, feeds.topics(record, settings)).as_dict()


def release(
    conf: dict[str, Any],
    store: Store,
    settings: Settings,
    *,
    key: str,
    released_by: str,
    signer: tlog.Signer | None = None,
    **kw,
) -> dict:
    """Every step in one process: the DAG's one task, the tests, the benchmarks. A failing WebSub hub
    only warns (see ``notify``)."""
    validate(conf, store, key=key, settings=settings)
    published = publish(conf, store, settings, key=key, released_by=released_by, **kw)
    refresh(conf, store, settings, key=key, signer=signer)
    notify(conf, store, settings, key=key)
    return published


def redact(
    conf: dict[str, Any],
    store: Store,
    settings: Settings,
    *,
    key: str,
    released_by: str,
    clock: Callable[[], str] = ledger.utc_now,
    signer: tlog.Signer | None = None,
) -> dict[str, Any]:
    """A redaction, every step (see :mod:`releases.redaction`); safe to repeat."""
    request = redaction.parse_request(conf)
    return redaction.apply(
        request, store, settings, key=key, released_by=released_by, clock=clock, signer=signer
    )


def publish_keys(store: Store, sealing_private: str | None, signer: tlog.Signer | None) -> list[str]:
    """Write ``keys.json`` from the private keys the tasks hold (their public halves), if it differs."""
    if not sealing_private:
        return []
    body = sealing.keys_document(sealing.public_of(sealing_private), signer.vkey if signer else None)
    return [sealing.KEYS_OBJECT] if store.put_if_changed(sealing.KEYS_OBJECT, body) else []

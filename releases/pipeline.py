"""The steps of a release; the DAG runs them all in one task (``release``), tests and tools too.

Each step needs only the submitted document and the submission's ``key`` (the DAG run),
never another step's output, so a retried or cleared task redoes only what is missing. Each
is safe to repeat: ``validate`` writes nothing, ``publish`` writes a version at most once
per ``key``, ``refresh`` rewrites views only where their bytes change, ``notify`` only
tells the WebSub hub again (a hub refetches and finds nothing new).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import approval, checks, feeds, ledger, privacy, redaction, sealing, tlog, views, websub
from .document import parse_update
from .errors import StorageFault
from .inbox import INBOX_RUN_PREFIX
from .records import next_record
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
        checklist=settings.checklist(),
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
    conf: dict[str, Any],
    store: Store,
    settings: Settings,
    *,
    key: str,
    signer: tlog.Signer | None = None,
    site: bool = True,
) -> list[str]:
    """Log the version this run published (with ``signer``: see :mod:`releases.tlog`), then render views.

    As a step of its own it cannot tell a first run from a re-run, so it writes only views whose bytes
    differ (a HEAD first)."""
    records, record = _published(conf, store, key)
    return _after_publish(store, settings, records, record, signer=signer, site=site, if_changed=True)[0]


def _after_publish(
    store: Store,
    settings: Settings,
    records: list[dict[str, Any]],
    record: dict[str, Any],
    *,
    signer: tlog.Signer | None,
    site: bool,
    if_changed: bool,
) -> tuple[list[str], bool, list[str]]:
    """Everything after the record exists: log it, write its incident's views, fold it into the
    archive, changelog and catalog, and (``site``) write the site-wide views. Returns the keys
    written, whether the corrections views changed and the tables whose pages are due (the site-wide
    writer's cues).

    ``if_changed``: a re-run (Airflow's retry, a cleared task): views are written only where their
    bytes differ, so a re-run of a finished release changes no object; a first run writes without
    asking, since its views do change."""
    if signer is not None:
        # This run's own record, never another's; a first run has just created it, so it is not logged yet.
        tlog.append(store, [record], settings, signer, fresh=not if_changed)
    written = views.write_incident(store, records, settings, if_changed=if_changed)
    catalog, corrections, tables = views.fold(
        store, records[: record["version"]], settings, if_changed=if_changed
    )
    # A re-run cannot tell whether the run before it got as far as the corrections views: it compares them.
    corrections = corrections or if_changed
    if site:
        written += views.write_site(
            store, settings, catalog=catalog, corrections=corrections, if_changed=if_changed, tables=tables
        )
    return written, corrections, tables


def notify(conf: dict[str, Any], store: Store, settings: Settings, *, key: str) -> dict[str, Any] | None:
    """Tell the WebSub hub, in one request, every feed this release appears in.

    Runs after ``refresh``, so the hub fetches feeds that already carry the release. The
    hub's failures are logged, never raised (see ``websub``); None when no hub is set.
    """
    if not settings.websub_hub:
        return None
    _records, record = _published(conf, store, key)
    return _notify(record, settings)


def history(conf: dict[str, Any], store: Store) -> list[dict[str, Any]]:
    """The incident's published records, read once for :func:`plan` and :func:`release` of one run."""
    return ledger.history(store, parse_update(conf).incident_id)


def plan(
    conf: dict[str, Any],
    store: Store,
    settings: Settings,
    *,
    key: str,
    records: list[dict[str, Any]] | None = None,
    submitted_at: datetime | None = None,
    submitted_by: str = "preview",
) -> dict[str, Any]:
    """Before anything waits or is written: the document's rules with the incident's history (a refusal
    raises), a ``release_at`` before ``submitted_at`` (when the run was asked for: Airflow's trigger form
    does not run the desk's check) refused as ``release_at.past``, one more than
    ``schedule_max_days`` after it as ``release_at.too_far``, whether the release waits for approval (:mod:`releases.approval`), when it is to be public
    (``release_at``, None: at once) and the preview an approver is shown. ``records``: the history as
    already read. A submission whose version exists already (a retried task that had published) is
    ``published`` and needs neither approval nor a wait: releasing it again writes nothing."""
    update = parse_update(conf)
    history = ledger.history(store, update.incident_id) if records is None else records
    if (mine := ledger.find(history, key)) is not None:
        return {
            "incident_id": mine["incident_id"],
            "version": mine["version"],
            "stage": mine["stage"],
            "headline": mine.get("headline"),
            "approval": False,
            "release_at": None,
            "url": feeds.version_url(settings, mine["incident_id"], mine["version"]),
            "preview": "",
            "published": True,
        }
    # Against the submission's time, not now: a task that starts minutes late (a loaded machine) must not
    # refuse a time that was still to come when the PIO submitted it; that one is simply published now.
    if submitted_at is not None and (
        late := checks.schedule_problem(update.release_at, submitted_at, settings.schedule_max_days)
    ):
        raise late
    previous = history[-1] if history else None
    would_be = next_record(
        update,
        previous,
        released_at="(not yet released)",
        released_by=submitted_by,
        key=key,
        public=settings.public,
        checklist=settings.checklist(),
    )
    page = feeds.version_url(settings, would_be["incident_id"], would_be["version"])
    return {
        "incident_id": would_be["incident_id"],
        "version": would_be["version"],
        "stage": would_be["stage"],
        "headline": would_be["headline"],
        "approval": approval.needs_approval(update.stage, settings),
        "release_at": update.release_at,
        "url": page,
        "preview": approval.preview(dict(would_be), previous, page),
        "published": False,
    }


def _notify(record: dict[str, Any], settings: Settings) -> dict[str, Any] | None:
    if not settings.websub_hub:
        return None
    return websub.publish(settings.websub_hub, feeds.topics(record, settings)).as_dict()


def release(
    conf: dict[str, Any],
    store: Store,
    settings: Settings,
    *,
    key: str,
    released_by: str,
    signer: tlog.Signer | None = None,
    site: bool = True,
    **kw,
) -> dict:
    """Every step in one process, the incident's history read once (``records=``: as :func:`plan` read
    it): the DAG's ``release`` or ``publish`` task, the tests, the benchmarks. ``site=False``: the
    site-wide views are left to their own writer (the ``site_views`` DAG), which the result's
    ``corrections`` tells whether to render the corrections views too, and ``tables`` which tables' pages
    to render. A failing WebSub hub only warns (see ``notify``)."""
    update = parse_update(conf)
    record, records, created = ledger.append(
        update,
        store,
        key=key,
        released_by=released_by,
        public=settings.public,
        rendering=views.stamp(settings),
        checklist=settings.checklist(),
        **kw,
    )
    views.publish_renderings(store, record, settings)
    _written, corrections, tables = _after_publish(
        store, settings, records, record, signer=signer, site=site, if_changed=not created
    )
    _notify(record, settings)
    return {
        "incident_id": record["incident_id"],
        "version": record["version"],
        "sha256": record["sha256"],
        "stage": record["stage"],
        "corrections": corrections,
        "created": created,
        "tables": tables,
    }


def redact(
    conf: dict[str, Any],
    store: Store,
    settings: Settings,
    *,
    key: str,
    released_by: str,
    clock: Callable[[], str] = ledger.utc_now,
    signer: tlog.Signer | None = None,
    approval: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A redaction, every step (see :mod:`releases.redaction`); safe to repeat."""
    request = redaction.parse_request(conf)
    return redaction.apply(
        request,
        store,
        settings,
        key=key,
        released_by=released_by,
        clock=clock,
        signer=signer,
        approval=approval,
    )


def plan_redaction(conf: dict[str, Any], store: Store, settings: Settings) -> dict[str, Any]:
    """Before a redaction waits for approval: the request checked against the incident's records (a
    misspelt text is refused here) and what the approver is shown. Never the text to remove: the request
    is stored in Airflow's database, which viewers read; only the categories, counts and the reason."""
    request = redaction.parse_request(conf)
    history = ledger.history(store, request.incident_id)
    removed = redaction.plan(history, request)
    versions = sorted({item["version"] for item in removed})
    preview = (
        f"**Redaction of incident {request.incident_id}**: remove {len(request.remove)} text(s) "
        f"({', '.join(sorted({i.category for i in request.remove}))}) from {len(removed)} value(s) in "
        f"version(s) {', '.join(map(str, versions))}; recorded as version {len(history) + 1}.\n\n"
        f"Reason (published): {approval.literal(request.reason)}\n"
    )
    return {"approval": approval.needs_approval("redaction", settings), "preview": preview}


def publish_keys(store: Store, sealing_private: str | None, signer: tlog.Signer | None) -> list[str]:
    """Write ``keys.json`` from the private keys the tasks hold (their public halves), if it differs."""
    if not sealing_private:
        return []
    body = sealing.keys_document(sealing.public_of(sealing_private), signer.vkey if signer else None)
    return [sealing.KEYS_OBJECT] if store.put_if_changed(sealing.KEYS_OBJECT, body) else []

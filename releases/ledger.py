"""The version ledger: create-once storage of the records and their hash chain.

What a record is, its canonical encoding and its hash are in :mod:`releases.records`; this module
plans each version on top of the latest one and writes it once (``If-None-Match: *``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from . import privacy
from .approval import ApprovalRefused
from .checklist import Checklist
from .document import Update
from .errors import StorageFault
from .records import canonical, new_salt, next_record
from .stages import plan
from .storage import Store

VERSION_KEY = re.compile(r"^incidents/(?P<id>[A-Za-z0-9-]+)/v(?P<n>[1-9][0-9]*)\.json$")


def record_key(incident_id: str, version: int, ext: str = "json") -> str:
    return f"incidents/{incident_id}/v{version}.{ext}"


def utc_now() -> str:
    return format_time(datetime.now(UTC))


def preview(
    update: Update, records: list[dict[str, Any]], settings: Any, *, released_by: str, checklist=None
) -> dict[str, Any]:
    """The version ``update`` would make now on top of ``records`` (the incident's history), for a preview
    (``releases preview``, the release desk): kept nowhere. ``checklist``: the deployment's unless given."""
    return next_record(
        update,
        records[-1] if records else None,
        released_at=utc_now(),
        released_by=released_by,
        key="preview",
        public=settings.public,
        checklist=checklist or settings.checklist(),
    )


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def version_numbers(store: Store, incident_id: str) -> list[int]:
    """Published version numbers of one incident (lists only that incident's prefix)."""
    numbers = []
    for key in store.list_keys(f"incidents/{incident_id}/v"):
        m = VERSION_KEY.match(key)
        if m and m["id"] == incident_id:
            numbers.append(int(m["n"]))
    return sorted(numbers)


def load_record(store: Store, incident_id: str, version: int) -> dict[str, Any]:
    body = store.get(record_key(incident_id, version))
    if body is None:
        raise StorageFault(f"{record_key(incident_id, version)} is listed but cannot be read")
    return json.loads(body)


def history(store: Store, incident_id: str) -> list[dict[str, Any]]:
    """Every record of one incident, oldest first."""
    return [load_record(store, incident_id, n) for n in version_numbers(store, incident_id)]


def find(records: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    return next((r for r in records if r.get("idempotency_key") == key), None)


def check(
    update: Update, store: Store, key: str | None = None, public: privacy.Public = privacy.NOTHING_LISTED
) -> dict[str, Any]:
    """Dry run: the content the update would publish now, or the refusal. Writes nothing.

    A submission that is already published (a re-run of a finished release) checks out
    as its own published version rather than as a second release.
    """
    records = history(store, update.incident_id)
    if key is not None and (mine := find(records, key)) is not None:
        return mine
    return plan(update, records[-1] if records else None, public)


def publish(update: Update, store: Store, **kw: Any) -> dict[str, Any]:
    """Append the update as the next version, exactly once per ``key``; the record (see :func:`append`)."""
    return append(update, store, **kw)[0]


def append(
    update: Update,
    store: Store,
    *,
    key: str,
    released_by: str,
    clock: Callable[[], str] = utc_now,
    max_attempts: int = 20,
    public: privacy.Public = privacy.NOTHING_LISTED,
    salt: Callable[[str], str] = new_salt,
    rendering: dict[str, str] | None = None,
    records: list[dict[str, Any]] | None = None,
    checklist: Checklist | None = None,
    approval: dict[str, str] | None = None,
    approved_version: int | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]], bool]:
    """Append the update as the next version, exactly once per ``key``; returns it, the incident's
    history up to it (``records``: the history as already read, if it was) and whether this call
    wrote it (False: a re-run found its own version).

    ``key`` identifies the submission (the Airflow DAG run); ``released_by`` is the user
    who triggered it, recorded whatever the document says (see :mod:`releases.records`). If a version with that key
    exists already (a retry, a cleared task, a write whose response was lost), it is
    returned and nothing is written. If another writer takes the version number first,
    the update is planned again on top of the new latest version, except an approved one:
    ``approved_version`` is the version the approver was shown (its preview and field changes, planned
    against the history as it was): when another version has come first, what would be written is not what
    was approved, and it is refused (``approval.stale``), nothing written.
    """
    for _ in range(max_attempts):
        if records is None:
            records = history(store, update.incident_id)
        if (mine := find(records, key)) is not None:
            return mine, records[: mine["version"]], False
        if approved_version is not None and len(records) + 1 != approved_version:
            raise ApprovalRefused(
                "approval",
                f"another version of incident {update.incident_id} was published after this was approved "
                f"(the approver was shown version {approved_version}, the next is now version "
                f"{len(records) + 1}): nothing is published; submit it again",
                "approval.stale",
            )
        record = next_record(
            update,
            records[-1] if records else None,
            released_at=clock(),
            released_by=released_by,
            key=key,
            public=public,
            salt=salt,
            rendering=rendering,
            checklist=checklist,
            approval=approval,
        )
        if store.create(record_key(update.incident_id, record["version"]), canonical(record)):
            return record, [*records, record], True
        records = None
        # Lost the race for this version number (or our own earlier write landed and its
        # answer was lost): look again; the idempotency key tells the two apart.
    # Contention, not a wrong document: a fault, so Airflow's task retry tries again later.
    raise StorageFault(
        f"could not append to incident {update.incident_id} after {max_attempts} attempts; "
        "too many concurrent releases (the release is retried)"
    )

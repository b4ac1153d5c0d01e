"""What a version record is: its fields, its canonical encoding and hash, and how the next one is made.

Canonical encoding (what ``sha256`` is computed over): the record as a JSON object with keys sorted,
UTF-8, no insignificant whitespace (``separators=(",", ":")``), non-ASCII characters written as
themselves. ``sha256`` is the hex digest of the canonical bytes of the record *without* its ``sha256``
key; ``prev_sha256`` is the ``sha256`` of version N-1 (null for version 1). ``v<N>.json`` stores exactly
the canonical bytes of the record *with* its ``sha256`` key, so any changed byte is detectable.

``released_by`` is the authenticated Airflow user whose DAG run published the version (no document can
set it); ``on_behalf_of`` is whom the PIO said the release is made for (the document's ``released_by``),
or null. Records of schema ``incident-release/1`` have no ``on_behalf_of``, and their ``released_by`` may
have come from the document.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypedDict

from . import privacy
from .document import Update
from .stages import plan

SCHEMA = "incident-release/2"


class Change(TypedDict):
    field: str
    was: str
    now: str


class Record(TypedDict, total=False):
    """One version of an incident's statement, as stored in ``incidents/<id>/v<N>.json``."""

    schema: str
    incident_id: str
    version: int
    stage: str
    headline: str
    summary: str
    body: str
    occurred_at: str
    location: str
    agency: str
    contact: str
    changes: list[Change]
    correction_note: str | None
    released_at: str
    released_by: str
    on_behalf_of: str | None
    idempotency_key: str
    prev_sha256: str | None
    sha256: str


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def content_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "sha256"})).hexdigest()


def seal(
    content: dict[str, Any],
    *,
    released_at: str,
    released_by: str,
    key: str,
    prev: str | None,
    on_behalf_of: str | None = None,
) -> Record:
    record = {
        "schema": SCHEMA,
        **content,
        "released_at": released_at,
        "released_by": released_by,
        "on_behalf_of": on_behalf_of,
        "idempotency_key": key,
        "prev_sha256": prev,
    }
    record["sha256"] = content_hash(record)
    return record  # type: ignore[return-value]


def next_record(
    update: Update,
    prev: Record | None,
    *,
    released_at: str,
    released_by: str,
    key: str,
    public: privacy.Public = privacy.NOTHING_LISTED,
) -> Record:
    """The record ``update`` makes on top of ``prev`` (the latest version, or None): the stage rules and
    field carry-over (:func:`releases.stages.plan`), then sealed into the hash chain. The one way a
    record is made: by the ledger, ``releases preview``, the tests and the bench."""
    return seal(
        plan(update, prev, public),
        released_at=released_at,
        released_by=released_by,
        on_behalf_of=update.on_behalf_of,
        key=key,
        prev=prev["sha256"] if prev else None,
    )

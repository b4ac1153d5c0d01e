"""What a version record is: its fields, its canonical encoding and hash, and how the next one is made.

Canonical encoding: a JSON value with object keys sorted, UTF-8, no insignificant whitespace
(``separators=(",", ":")``), non-ASCII characters written as themselves. ``v<N>.json`` stores exactly the
canonical bytes of the record, so any changed byte is detectable; ``prev_sha256`` is the ``sha256`` of
version N-1 (null for version 1).

What ``sha256`` commits to (schema ``incident-release/3``): every *text* value of the record (a string
whose key is one of :data:`TEXT_KEYS`, at any depth) is committed to separately, with a salt of its own,
so that one value can later be removed by a recorded redaction while the hash chain still checks:

- ``commitment(pointer, salt, value) = sha256(canonical([pointer, salt, value]))`` (hex), where
  ``pointer`` is the value's JSON Pointer in the record (RFC 6901: ``/body``, ``/changes/0/was``) and
  ``salt`` is ``salts[pointer]`` (32 random hex digits: without it a short value such as a name could be
  found by trying every candidate against the commitment);
- the *skeleton* is the record without ``sha256``, ``salts`` and ``redactions``, each text value replaced
  by its commitment; for a value removed by a redaction the commitment is read from
  ``redactions[pointer].commitment`` (its salt is gone with it);
- ``sha256 = sha256(canonical(skeleton))``.

A redaction (:mod:`releases.redaction`) replaces a value's text, deletes its salt, keeps its commitment
in ``redactions[pointer] = {"commitment": ..., "by_version": M}``, where version M of the same incident
is the redaction's own record (``stage`` ``redaction``), which lists ``{"version", "pointer"}`` of every
value it removed. Records of schemas ``incident-release/1`` and ``/2`` commit to the record as a whole:
``sha256`` is the hash of the canonical record without its ``sha256`` key; they cannot be redacted.

``released_by`` is the authenticated Airflow user whose DAG run published the version (no document can
set it); ``on_behalf_of`` is whom the PIO said the release is made for (the document's ``released_by``),
or null. Records of schema ``incident-release/1`` have no ``on_behalf_of``, and their ``released_by`` may
have come from the document.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any, TypedDict

from . import privacy
from .checklist import Checklist
from .checklist import read as read_checklist
from .document import Update
from .stages import plan

SCHEMA = "incident-release/3"
# Keys whose string values are free text (committed one by one, redactable); every other value
# (ids, stage, times, field names, categories, hashes) is structural and committed as it is.
TEXT_KEYS = frozenset(
    {
        "headline",
        "summary",
        "body",
        "location",
        "agency",
        "contact",
        "correction_note",
        "released_by",
        "on_behalf_of",
        "was",
        "now",
        "value",
        "justification",
        "reason",
        "approved_by",
        "submitted_by",
        "note",
    }
)
# Not part of what ``sha256`` covers: the hash itself, the salts, and where removed values were.
UNHASHED = ("sha256", "salts", "redactions")


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
    language: str  # BCP 47, only when the document gave one (or an earlier version did)
    changes: list[Change]
    correction_note: str | None
    released_at: str
    released_by: str
    on_behalf_of: str | None
    idempotency_key: str
    prev_sha256: str | None
    salts: dict[str, str]
    redactions: dict[str, dict[str, Any]]
    redaction: dict[str, Any]
    rendering: dict[str, str]
    # Only when the PIO confirmed one: fields kept as they are although they still contain a value the
    # version changes (``{"field", "changed"}``; see :mod:`releases.consistency`).
    kept_unchanged: list[dict[str, str]]
    # Only when the releaser confirmed the pre-release checklist: each item's id and its text as it read
    # then (``{"id", "text"}``, the checklist's order); who confirmed it is ``released_by``.
    checklist: list[dict[str, str]]
    # Only when the version waited for a second person (see releases.approval): who approved it, when,
    # their note, and who submitted it.
    approval: dict[str, str]
    sha256: str


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def strings(record: dict[str, Any], skip: tuple[str, ...] = ()) -> list[tuple[str, str, str | None]]:
    """Each (JSON Pointer, string, the key it is under) of the record, in document order; a list's items
    count as under the list's key. Top-level keys in ``skip`` are left out."""
    out: list[tuple[str, str, str | None]] = []

    def walk(node: Any, pointer: str, key: str | None) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if pointer == "" and k in skip:
                    continue
                walk(v, f"{pointer}/{_escape(k)}", k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{pointer}/{i}", key)
        elif isinstance(node, str):
            out.append((pointer, node, key))

    walk(record, "", None)
    return out


def text_values(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Each (JSON Pointer, text) of the record's text values, in document order."""
    return [(pointer, value) for pointer, value, key in strings(record, UNHASHED) if key in TEXT_KEYS]


def commitment(pointer: str, salt: str, value: str) -> str:
    return hashlib.sha256(canonical([pointer, salt, value])).hexdigest()


def skeleton(record: dict[str, Any]) -> dict[str, Any]:
    """The record as ``sha256`` covers it (schema 3): each text value replaced by its commitment.

    Raises KeyError when a text value has neither a salt nor a redaction's commitment.
    """
    salts = record.get("salts") or {}
    removed = record.get("redactions") or {}
    out = json.loads(canonical({k: v for k, v in record.items() if k not in UNHASHED}))
    for pointer, value in text_values(out):
        if pointer in removed:
            committed = removed[pointer]["commitment"]
        else:
            committed = commitment(pointer, salts[pointer], value)
        pointer_set(out, pointer, committed)
    return out


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def pointer_get(doc: Any, pointer: str) -> Any:
    """The value at a JSON Pointer (RFC 6901)."""
    for token in _tokens(pointer):
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    return doc


def pointer_set(doc: Any, pointer: str, value: Any) -> None:
    *parents, last = _tokens(pointer)
    for token in parents:
        doc = doc[int(token)] if isinstance(doc, list) else doc[token]
    doc[int(last) if isinstance(doc, list) else last] = value


def redactable(record: dict[str, Any]) -> bool:
    return record.get("schema") == SCHEMA


def content_hash(record: dict[str, Any]) -> str:
    """The ``sha256`` a record must carry (see the module's documentation)."""
    if redactable(record):
        return hashlib.sha256(canonical(skeleton(record))).hexdigest()
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "sha256"})).hexdigest()


def new_salt(pointer: str) -> str:
    """A fresh random salt (``pointer`` is for deterministic stand-ins in tests)."""
    return secrets.token_hex(16)


def seal(
    content: dict[str, Any],
    *,
    released_at: str,
    released_by: str,
    key: str,
    prev: str | None,
    on_behalf_of: str | None = None,
    salt: Callable[[str], str] = new_salt,
    approval: dict[str, str] | None = None,
) -> Record:
    record = {
        "schema": SCHEMA,
        **content,
        **({"approval": dict(approval)} if approval else {}),
        "released_at": released_at,
        "released_by": released_by,
        "on_behalf_of": on_behalf_of,
        "idempotency_key": key,
        "prev_sha256": prev,
    }
    record["salts"] = {pointer: salt(pointer) for pointer, _ in text_values(record)}
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
    salt: Callable[[str], str] = new_salt,
    rendering: dict[str, str] | None = None,
    checklist: Checklist | None = None,
    approval: dict[str, str] | None = None,
) -> Record:
    """The record ``update`` makes on top of ``prev`` (the latest version, or None): the stage rules and
    field carry-over (:func:`releases.stages.plan`), the confirmed checklist (``checklist``: the
    deployment's, :meth:`releases.settings.Settings.checklist`; None: the packaged one, not required),
    then sealed into the hash chain. The one way a record is made: by the ledger, ``releases preview``,
    the tests and the bench."""
    content = plan(update, prev, public)
    confirmed = (checklist or read_checklist()).confirmed(update.checklist)
    if confirmed:
        # Only when confirmed: every record without it keeps the bytes it always had. Ids and the agency's
        # own words, not a PIO's text: committed as they are (not redactable), like ``changes[].field``.
        content["checklist"] = confirmed
    if rendering is not None:
        # What its pages were rendered with: a later change of templates or settings is then told
        # apart from tampering (releases verify).
        content["rendering"] = rendering
    return seal(
        content,
        released_at=released_at,
        released_by=released_by,
        on_behalf_of=update.on_behalf_of,
        key=key,
        prev=prev["sha256"] if prev else None,
        salt=salt,
        approval=approval,
    )


REDACTION = "redaction"


def current_stage(records: list[dict[str, Any]]) -> str:
    """The stage of the statement in force: a redaction removes text, it does not change the stage
    (a preliminary statement is still preliminary after one)."""
    return next((r["stage"] for r in reversed(records) if r["stage"] != REDACTION), records[-1]["stage"])

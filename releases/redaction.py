"""Redaction: the one recorded way a published value disappears.

A redaction request names an incident, the text to remove (each with a category: ``name``,
``address``...) and a reason. It is carried out in steps that can each be repeated after a
crash or a retry, and it never breaks the hash chain (see :mod:`releases.records`):

1. **Record the act**: version M (``stage`` ``redaction``) is appended to the incident's chain,
   create-once and once per ``key`` like any release. It lists every value it removes
   (``{"version", "pointer"}``), the categories, the reason, who and when; its own statement
   fields are the latest statement with the text already removed.
2. **Remove the text from the records**: in each listed ``v<k>.json`` every occurrence is
   replaced by ``[removed: <category>, <date>, <reason>]``; the value's salt is deleted and its
   commitment kept under ``redactions[pointer]``, so ``sha256`` is unchanged and the chain still
   checks. This, and step 3, are the only overwrites of a version's objects the product makes.
3. **Render again**: each changed version's ``v<k>.html``/``.txt``, the incident's page and feeds,
   and the site-wide views (front page, feeds, month archive, corrections page and tables) are
   rewritten from the records, the catalog copies of the incident's records replaced.
4. **Purge**: every superseded object version (and delete marker) under the incident's prefix, the
   site-wide keys and the private state is deleted, so the text is in no version of any object.
5. **Prove it**: every object and object version that remains under those prefixes is read and
   searched for the text (as withheld text is matched: case, spacing, accents, "Last, First",
   HTML and JSON escapes); a hit renders and purges again, a few times, then fails naming the key.

The text to remove never enters a record, a page, a log or an error message: refusals name the
item by its number and category.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import ledger, privacy, tlog, views
from .document import INCIDENT_ID_PATTERN, MAX_DOCUMENT_BYTES
from .errors import InvalidUpdate, NoChangeError, StorageFault
from .records import (
    REDACTION,
    TEXT_KEYS,
    canonical,
    commitment,
    content_hash,
    pointer_get,
    pointer_set,
    redactable,
    seal,
    strings,
    text_values,
)
from .settings import Settings
from .storage import IMMUTABLE, Store
from .text import normalize, problem

STAGE = REDACTION
FIELDS = ("incident_id", "remove", "reason")
MIN_REASON, MAX_REASON = 10, 300
PURGE_ROUNDS = 3
# Where a redaction looks: the incident's own objects, the site-wide views and the private state.
SITE_PREFIXES = ("archive/", "corrections/", "_state/")


@dataclass(frozen=True)
class Request:
    incident_id: str
    remove: tuple[privacy.Withheld, ...]
    reason: str


def parse_request(doc: Any) -> Request:
    """Validate a redaction request. Refusals name the field and the rule, never the text."""
    if not isinstance(doc, dict):
        raise InvalidUpdate(None, "the redaction request must be a JSON object")
    if len(json.dumps(doc, ensure_ascii=False, default=str).encode()) > MAX_DOCUMENT_BYTES:
        raise InvalidUpdate(None, f"the redaction request is larger than {MAX_DOCUMENT_BYTES} bytes")
    unknown = sorted(str(k) for k in doc if k not in FIELDS)
    if unknown:
        raise InvalidUpdate(
            unknown[0][:40], f"is not a field of a redaction request (allowed: {', '.join(FIELDS)})"
        )
    iid = doc.get("incident_id")
    if not isinstance(iid, str) or not re.fullmatch(INCIDENT_ID_PATTERN, iid):
        raise InvalidUpdate(
            "incident_id", "is required: 3 to 64 ASCII letters, digits or hyphens, starting with one"
        )
    if not doc.get("remove"):
        raise InvalidUpdate("remove", 'is required: [{"category": "name", "text": "<the text to remove>"}]')
    remove = privacy.parse_withheld(doc["remove"], "remove")
    reason = doc.get("reason")
    if not isinstance(reason, str) or not MIN_REASON <= len(reason.strip()) <= MAX_REASON:
        raise InvalidUpdate(
            "reason",
            f"must say why in {MIN_REASON} to {MAX_REASON} characters (it is published with the redaction)",
        )
    reason = normalize(reason).strip()
    if (rule := problem(reason, multiline=False)) is not None:
        raise InvalidUpdate("reason", rule)
    if "\n" in reason:
        raise InvalidUpdate("reason", "must be one line")
    for n, item in enumerate(remove, 1):
        if privacy.occurrences(reason, item.text):
            raise InvalidUpdate("reason", f"contains the text of remove item {n}: the reason is published")
    if found := privacy.findings(reason):
        category, at, _ = found[0]
        raise InvalidUpdate(
            "reason", f"contains what looks like {privacy.CATEGORIES[category]} (at character {at})"
        )
    return Request(iid.upper(), remove, reason)


def marker(category: str, released_at: str, reason: str) -> str:
    return f"[removed: {category}, {released_at[:10]}, {reason}]"


def _items_in(value: str, items: tuple[privacy.Withheld, ...]) -> list[int]:
    return [n for n, item in enumerate(items, 1) if privacy.occurrences(value, item.text)]


def plan(records: list[dict[str, Any]], request: Request) -> list[dict[str, Any]]:
    """Every value the request removes: ``[{"version", "pointer"}]``. Refuses what cannot be done."""
    if not records:
        raise NoChangeError("incident_id", f"incident {request.incident_id} has no release to redact")
    found: set[int] = set()
    removed: list[dict[str, Any]] = []
    for record in records:
        values = dict(text_values(record))
        for pointer, value, key in strings(record, skip=("sha256",)):
            hits = _items_in(value, request.remove)
            if not hits:
                continue
            if key not in TEXT_KEYS or pointer not in values:
                raise NoChangeError(
                    "remove",
                    f"item {hits[0]} ({request.remove[hits[0] - 1].category}) is in version "
                    f"{record['version']}'s {pointer.lstrip('/')}, which is not text a redaction can remove",
                )
            if not redactable(record):
                raise NoChangeError(
                    "remove",
                    f"item {hits[0]} is in version {record['version']}, written before records committed to "
                    "each value (schema incident-release/3): it cannot be removed with the chain intact",
                )
            found.update(hits)
            removed.append({"version": record["version"], "pointer": pointer})
    missing = [n for n in range(1, len(request.remove) + 1) if n not in found]
    if missing:
        n = missing[0]
        earlier = [r["version"] for r in records if r.get("stage") == STAGE]
        also = (
            f", or it was removed already (by the redaction in version {', '.join(map(str, earlier))})"
            if earlier
            else ""
        )
        raise NoChangeError(
            "remove",
            f"item {n} ({request.remove[n - 1].category}) is not in any version of incident "
            f"{request.incident_id}: check its spelling{also}; nothing was changed",
        )
    return removed


def _mark(value: str, request: Request, released_at: str) -> str:
    return privacy.replace(
        value, request.remove, lambda item: marker(item.category, released_at, request.reason)
    )


def redaction_record(
    records: list[dict[str, Any]],
    request: Request,
    *,
    key: str,
    released_by: str,
    released_at: str,
    salt=None,
    approval: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Version M: the act itself, with the latest statement (text removed) carried over."""
    removed = plan(records, request)
    by_version = {r["version"]: r for r in records}
    for item in removed:
        # The text each value will show once the text is removed: committed to by this (logged) record, so
        # the rest of a redacted value cannot be rewritten later (found by an attack).
        after = _mark(pointer_get(by_version[item["version"]], item["pointer"]), request, released_at)
        item["value_sha256"] = hashlib.sha256(after.encode()).hexdigest()
    latest = json.loads(canonical(records[-1]))
    statement = {
        k: v
        for k, v in latest.items()
        if k
        not in (
            "schema",
            "version",
            "stage",
            "changes",
            "correction_note",
            "released_at",
            "released_by",
            "on_behalf_of",
            "idempotency_key",
            "prev_sha256",
            "sha256",
            "salts",
            "redactions",
            "redaction",
            "privacy_overrides",
            "kept_unchanged",
            "checklist",
            "approval",
        )
    }
    for pointer, value in text_values(statement):
        pointer_set(statement, pointer, _mark(value, request, released_at))
    content = {
        **statement,
        "version": latest["version"] + 1,
        "stage": STAGE,
        "changes": [],
        "correction_note": None,
        "privacy_overrides": [],
        "redaction": {
            "categories": sorted({item.category for item in request.remove}),
            "reason": request.reason,
            "removed": removed,
        },
    }
    kw = {"salt": salt} if salt else {}
    return seal(
        content,
        released_at=released_at,
        released_by=released_by,
        key=key,
        prev=latest["sha256"],
        approval=approval,
        **kw,
    )


def redacted(record: dict[str, Any], pointers: list[str], request: Request, act: dict[str, Any]) -> dict:
    """``record`` with the text removed at ``pointers`` (those already removed are left as they are)."""
    out = json.loads(canonical(record))
    salts = out.setdefault("salts", {})
    removals = out.setdefault("redactions", {})
    for pointer in pointers:
        if pointer in removals:
            continue
        value = pointer_get(out, pointer)
        removals[pointer] = {
            "commitment": commitment(pointer, salts.pop(pointer), value),
            "by_version": act["version"],
            "at": act["released_at"],
        }
        pointer_set(out, pointer, _mark(value, request, act["released_at"]))
    if content_hash(out) != record["sha256"]:  # the whole point: never happens
        raise StorageFault(f"redacting version {record['version']} would change its sha256")
    return out


def apply(
    request: Request,
    store: Store,
    settings: Settings,
    *,
    key: str,
    released_by: str,
    clock: Callable[[], str] = ledger.utc_now,
    max_attempts: int = 20,
    signer: tlog.Signer | None = None,
    approval: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Carry out the redaction (every step; safe to repeat). Returns what was done. ``approval``: the
    second person's approval (:mod:`releases.approval`), recorded in the act's record."""
    act = _record_act(
        request,
        store,
        key=key,
        released_by=released_by,
        clock=clock,
        max_attempts=max_attempts,
        approval=approval,
    )
    if signer is not None:  # the act is logged like any version (no sha256 ever changes)
        tlog.append(store, [act], settings, signer)
    rewritten = _rewrite_records(request, store, settings, act)
    for round_ in range(1, PURGE_ROUNDS + 1):
        _render(store, settings, request.incident_id)
        purged = purge(store, request.incident_id)
        left = scan(store, request)
        if not left:
            return {
                "incident_id": request.incident_id,
                "version": act["version"],
                # Airflow keeps each run's document: the runs that published the text still hold it there.
                "airflow_runs_holding_the_text": _runs(store, request.incident_id, act),
                "sha256": act["sha256"],
                "records_changed": rewritten,
                "values_removed": len(act["redaction"]["removed"]),
                "object_versions_purged": purged,
                "rounds": round_,
            }
    raise StorageFault(
        f"the removed text is still in {', '.join(left[:5])} after {PURGE_ROUNDS} rounds "
        "(a release published during the redaction?); the task's retry tries again"
    )


def _runs(store: Store, incident_id: str, act: dict[str, Any]) -> list[str]:
    versions = sorted({item["version"] for item in act["redaction"]["removed"]})
    return [ledger.load_record(store, incident_id, v)["idempotency_key"] for v in versions]


def _record_act(request, store, *, key, released_by, clock, max_attempts, approval=None) -> dict[str, Any]:
    for _ in range(max_attempts):
        records = ledger.history(store, request.incident_id)
        if (mine := ledger.find(records, key)) is not None:
            return mine
        act = redaction_record(
            records, request, key=key, released_by=released_by, released_at=clock(), approval=approval
        )
        if store.create(ledger.record_key(request.incident_id, act["version"]), canonical(act)):
            return act
    raise StorageFault(
        f"could not append to incident {request.incident_id} after {max_attempts} attempts "
        "(too many concurrent releases; the redaction is retried)"
    )


def _rewrite_records(request: Request, store: Store, settings: Settings, act: dict[str, Any]) -> list[int]:
    by_version: dict[int, list[str]] = {}
    for item in act["redaction"]["removed"]:
        by_version.setdefault(item["version"], []).append(item["pointer"])
    changed = []
    for version, pointers in sorted(by_version.items()):
        record = ledger.load_record(store, request.incident_id, version)
        new = redacted(record, pointers, request, act)
        if new != record:
            store.replace(
                ledger.record_key(request.incident_id, version), canonical(new), cache_control=IMMUTABLE
            )
            changed.append(version)
        for rkey, body in views.renderings(new, settings).items():
            if store.get(rkey) != body:
                store.replace(rkey, body, cache_control=IMMUTABLE)
    for rkey, body in views.renderings(act, settings).items():
        store.create(rkey, body)
    return changed


def _render(store: Store, settings: Settings, incident_id: str) -> None:
    records = ledger.history(store, incident_id)
    views.write_incident(store, records, settings, if_changed=True)
    catalog, _, tables = views.fold(store, records, settings, replace=True)
    views.write_site(store, settings, catalog=catalog, if_changed=True, tables=tables)


def _prefixes(incident_id: str) -> list[tuple[str, str | None]]:
    """(prefix, delimiter) of every place the redaction looks: root keys, site prefixes, the incident."""
    return [("", "/"), *((p, None) for p in SITE_PREFIXES), (f"incidents/{incident_id}/", None)]


def _versions(store: Store, incident_id: str):
    """Every object version and delete marker under the redaction's prefixes."""
    paginator = store.client.get_paginator("list_object_versions")
    for prefix, delimiter in _prefixes(incident_id):
        kw = {"Delimiter": delimiter} if delimiter else {}
        for page in paginator.paginate(Bucket=store.bucket, Prefix=prefix, **kw):
            for v in page.get("Versions", []):
                yield v["Key"], v["VersionId"], v["IsLatest"], False
            for m in page.get("DeleteMarkers", []):
                yield m["Key"], m["VersionId"], m["IsLatest"], True


def purge(store: Store, incident_id: str) -> int:
    """Delete every superseded version and delete marker under the redaction's prefixes."""
    n = 0
    for key, version_id, latest, marker_ in _versions(store, incident_id):
        if latest and not marker_:
            continue
        store.delete_version(key, version_id)
        n += 1
    return n


def readable(body: bytes) -> str:
    """An object's text as a reader sees it: HTML/XML entities and JSON/CSV escapes undone."""
    text = body.decode("utf-8", "replace")
    text = html.unescape(html.unescape(text))
    return text.replace('\\"', '"').replace('""', '"').replace("\\n", "\n").replace("\\\\", "\\")


def scan(store: Store, request: Request) -> list[str]:
    """Every object version under the redaction's prefixes that still contains text to remove."""
    left = []
    for key, version_id, _latest, marker_ in _versions(store, request.incident_id):
        if marker_:
            continue
        body = store.client.get_object(Bucket=store.bucket, Key=key, VersionId=version_id)["Body"].read()
        if _items_in(readable(body), request.remove):
            left.append(key)
    return left


_PLACES = {"was": "the old value in change {}", "now": "the new value in change {}"}


def place(pointer: str) -> str:
    """A value's place in words: ``/body`` -> "body", ``/changes/0/was`` -> "the old value in change 1"."""
    parts = pointer.strip("/").split("/")
    if len(parts) == 3 and parts[0] == "changes" and parts[2] in _PLACES:
        return _PLACES[parts[2]].format(int(parts[1]) + 1)
    if len(parts) == 3 and parts[0] == "privacy_overrides":
        return f"the {parts[2]} of privacy override {int(parts[1]) + 1}"
    return " ".join(parts).replace("_", " ")


def summary(records: list[dict[str, Any]]) -> list[str]:
    """One line per redaction in an incident's chain (for ``releases verify``)."""
    lines = []
    for record in records:
        act = record.get("redaction")
        if record.get("stage") != STAGE or not act:
            continue
        where: dict[int, list[str]] = {}
        for item in act["removed"]:
            where.setdefault(item["version"], []).append(place(item["pointer"]))
        places = "; ".join(f"v{v}: {', '.join(p)}" for v, p in sorted(where.items()))
        lines.append(
            f"incidents/{record['incident_id']}: redaction v{record['version']} on {record['released_at']} "
            f"by {record['released_by']} ({', '.join(act['categories'])}; reason: {act['reason']}) removed {places}"
        )
    return lines


def check(records: list[dict[str, Any]]) -> list[str]:
    """Problems with the redactions of one verified chain: every removed value must be one a later
    redaction record in the same chain lists, and every value it lists must be removed."""
    problems = unlisted(records)
    listed = _listed(records)
    removed = {(r["version"], p) for r in records for p in (r.get("redactions") or {})}
    for (version, pointer), by in sorted(listed.items()):
        if (version, pointer) not in removed:
            problems.append(
                f"{ledger.record_key(records[0]['incident_id'], version)}: redaction v{by} lists "
                f"{pointer.lstrip('/')}, but the value is still there"
            )
    return problems


def _listed(records: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
    return {key: by for key, (by, _) in _listings(records).items()}


def _listings(records: list[dict[str, Any]]) -> dict[tuple[int, str], tuple[int, str | None]]:
    """(version, pointer) -> (the redaction's version, the sha256 of the value it left)."""
    listed: dict[tuple[int, str], tuple[int, str | None]] = {}
    for record in records:
        if record.get("stage") == STAGE:
            for item in (record.get("redaction") or {}).get("removed", []):
                listed[(item["version"], item["pointer"])] = (record["version"], item.get("value_sha256"))
    return listed


def unlisted(records: list[dict[str, Any]]) -> list[str]:
    """Values removed without a redaction record among ``records`` that lists them, or without the mark.

    The witness passes only the records in the signed log, so a redaction the log never saw counts for
    nothing; a redaction still under way (its record logged, values not yet removed) is no problem here."""
    problems = []
    listed = _listed(records)
    listings = _listings(records)
    for record in records:
        for pointer, entry in (record.get("redactions") or {}).items():
            by = listed.get((record["version"], pointer))
            if by is None or by != entry.get("by_version") or by <= record["version"]:
                problems.append(
                    f"{ledger.record_key(record['incident_id'], record['version'])}: {pointer.lstrip('/')} "
                    "was removed without a redaction record that lists it"
                )
    for record in records:
        for pointer in record.get("redactions") or {}:
            try:
                value = pointer_get(record, pointer)
            except (KeyError, IndexError, ValueError, TypeError):
                value = None
            if not isinstance(value, str) or "[removed: " not in value:
                problems.append(
                    f"{ledger.record_key(record['incident_id'], record['version'])}: {pointer.lstrip('/')} "
                    "is listed as redacted but shows no [removed: …] mark where the text was"
                )
                continue
            _, left = listings.get((record["version"], pointer), (None, None))
            if left is not None and hashlib.sha256(value.encode()).hexdigest() != left:
                problems.append(
                    f"{ledger.record_key(record['incident_id'], record['version'])}: {pointer.lstrip('/')} "
                    "was changed after its redaction: it is not the text the redaction left"
                )
    return problems

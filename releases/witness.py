"""A newsroom's witness: proof from public objects alone that the agency never rewrote its history.

``releases witness URL --state DIR`` (from cron) fetches the signed checkpoint, checks it against the key
pinned on the first run (or given with ``--key``), replays the log, checks that it extends the checkpoint
saved last time (the first ``m`` leaves still give the saved root: the consistency proof is recomputed
from the leaves and checked as RFC 9162 describes), that every logged record is still published with the
logged hash, that every logged incident is still listed, and that ``site.json`` holds the settings last
logged. Only then is the new checkpoint saved. Any failure is named in one plain line and the command
exits non-zero; the saved checkpoint is kept, so the evidence stays.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import checkpoint, ledger, merkle, redaction, tlog
from .document import INCIDENT_ID_PATTERN
from .progress import Tick
from .records import canonical, content_hash

Fetch = Callable[[str], bytes | None]


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    state: dict[str, Any] | None = None  # what to save when there is no problem
    size: int = 0
    leaves: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # every logged record, as checked
    before: int | None = None  # the size of the checkpoint this run started from

    @property
    def ok(self) -> bool:
        return not self.problems


def published_key(fetch: Fetch) -> str | None:
    """The log's verifier key that ``keys.json`` names, or None (missing, malformed, no signing key)."""
    raw = fetch("keys.json")
    try:
        return json.loads(raw)["signing"]["vkey"] if raw else None
    except (ValueError, KeyError, TypeError):
        return None


def witness(
    fetch: Fetch, state: dict[str, Any] | None, key: str | None = None, progress: Tick | None = None
) -> Report:
    """The witness's checks (module docstring). Objects that are not in the log's format are findings,
    never a crash: they may be an attack."""
    try:
        return _witness(fetch, state, key, progress)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError, LookupError) as err:
        report = Report()
        report.problems.append(
            f"log: an object is not in the log's format ({type(err).__name__}: {err})"[:300]
        )
        return report


def _witness(fetch: Fetch, state: dict[str, Any] | None, key: str | None, progress: Tick | None) -> Report:
    report = Report()
    published = published_key(fetch)
    pinned = (state or {}).get("vkey") or key or published
    if pinned is None:
        report.problems.append(
            "keys.json: names no signing key, and none is pinned (--key): nothing to check against"
        )
        return report
    if state is None and key is None:
        report.notes.append(
            f"first run: pinned the key keys.json publishes, fingerprint {checkpoint.fingerprint(pinned)}; "
            "compare it with the fingerprint the agency gives out of band (README, its pages)"
        )
    if published is not None and published != pinned:
        report.problems.append(
            f"keys.json: names a signing key (fingerprint {checkpoint.fingerprint(published)}) other than the one "
            f"you pinned ({checkpoint.fingerprint(pinned)}): the key was replaced"
        )
    raw_head = fetch(tlog.HEAD)
    if raw_head is None:
        report.problems.append(f"{tlog.HEAD}: missing: the log is gone")
        return report
    head = json.loads(raw_head)
    try:
        cp = checkpoint.open_signed(head.get("checkpoint", ""), pinned)
    except checkpoint.BadCheckpoint as err:
        report.problems.append(f"{tlog.HEAD}: the checkpoint is not signed by the pinned key ({err})")
        return report
    report.size = cp.size
    try:
        leaves = tlog.leaves(fetch, head, cp.size)
    except LookupError as err:
        report.problems.append(f"log: {err}")
        return report
    report.leaves = leaves
    hashes = [merkle.leaf_hash(tlog.leaf_bytes(leaf)) for leaf in leaves]
    if merkle.root(hashes) != cp.root:
        report.problems.append(
            f"log: the {cp.size} published entries do not give the signed root: entries were changed"
        )
        return report
    if state is not None:
        _consistent(state, cp, hashes, report)
    _records(fetch, leaves, report, progress)
    _listed(fetch, leaves, report)
    _site(fetch, leaves, report)
    if report.ok:
        report.state = {"vkey": pinned, "checkpoint": head["checkpoint"], "size": cp.size}
        report.before = checkpoint.open_signed(state["checkpoint"], state["vkey"]).size if state else None
    return report


def _consistent(
    state: dict[str, Any], cp: checkpoint.Checkpoint, hashes: list[bytes], report: Report
) -> None:
    saved = checkpoint.open_signed(state["checkpoint"], state["vkey"])
    m, n = saved.size, cp.size
    if n < m:
        report.problems.append(
            f"log: truncated: the signed checkpoint now has {n} leaves, the one you saved has {m}"
        )
    elif n == m and cp.root != saved.root:
        report.problems.append(
            f"log: fork: two checkpoints signed for {m} leaves with different roots "
            f"({base64.b64encode(saved.root).decode()} saved, {base64.b64encode(cp.root).decode()} now)"
        )
    elif m and not merkle.verify_consistency(m, n, saved.root, cp.root, merkle.consistency_proof(m, hashes)):
        report.problems.append(
            f"log: fork: the log of {n} leaves does not extend the checkpoint of {m} leaves you saved: "
            "history before it was rewritten"
        )


def _records(
    fetch: Fetch, leaves: list[dict[str, Any]], report: Report, progress: Tick | None = None
) -> None:
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for index, leaf in enumerate(leaves):
        if progress:
            progress(index + 1, len(leaves))
        if not _valid(leaf):
            report.problems.append(f"log: entry {index + 1} is neither a record's nor the settings' entry")
            continue
        if "incident_id" not in leaf:
            continue
        key = ledger.record_key(leaf["incident_id"], leaf["version"])
        raw = fetch(key)
        if raw is None:
            report.problems.append(f"{key}: logged as entry {index + 1}, but no longer published: deleted")
            continue
        try:
            record = json.loads(raw)
            same = raw == canonical(record) and record["sha256"] == leaf["sha256"] == content_hash(record)
        except (ValueError, KeyError, TypeError):
            same = False
        if not same:
            report.problems.append(
                f"{key}: is not the version logged as entry {index + 1} (sha256 {leaf['sha256'][:16]}…): "
                "re-sealed or rewritten"
            )
        else:
            report.records.append(record)
            by_incident.setdefault(leaf["incident_id"], []).append(record)
    # A value removed from a logged record keeps the record's sha256; only a redaction record that is itself
    # in the signed log may have removed it (found by a trial: an unsigned, forged redaction passed).
    for records in by_incident.values():
        report.problems.extend(
            f"{p}: a forged redaction?" for p in redaction.unlisted(sorted(records, key=_version))
        )


_SHA = re.compile(r"^[0-9a-f]{64}$")


def _valid(leaf: Any) -> bool:
    """A record entry names a well-formed incident and version (no path tricks), or it is a settings entry."""
    if isinstance(leaf, dict) and set(leaf) == {"site"}:
        return isinstance(leaf["site"], str) and bool(_SHA.match(leaf["site"]))
    return (
        isinstance(leaf, dict)
        and set(leaf) == {"incident_id", "version", "sha256"}
        and isinstance(leaf["incident_id"], str)
        and re.fullmatch(INCIDENT_ID_PATTERN, leaf["incident_id"]) is not None
        and type(leaf["version"]) is int
        and leaf["version"] >= 1
        and isinstance(leaf["sha256"], str)
        and bool(_SHA.match(leaf["sha256"]))
    )


def _version(record: dict[str, Any]) -> int:
    return record["version"]


def _listed(fetch: Fetch, leaves: list[dict[str, Any]], report: Report) -> None:
    logged = sorted({leaf["incident_id"] for leaf in leaves if _valid(leaf) and "incident_id" in leaf})
    if not logged:
        return
    from .integrity import archive_entries

    raw = fetch("index.json")
    index = json.loads(raw) if raw else {"incidents": [], "months": []}
    listed = {e["incident_id"] for e in index["incidents"]}
    listed.update(e["incident_id"] for e in archive_entries(fetch, index, report.problems))
    for iid in logged:
        if iid not in listed:
            report.problems.append(
                f"incidents/{iid}: logged, but neither index.json nor the archive lists it: dropped"
            )


def _site(fetch: Fetch, leaves: list[dict[str, Any]], report: Report) -> None:
    sites = [leaf["site"] for leaf in leaves if _valid(leaf) and "site" in leaf]
    raw = fetch("site.json")
    if not sites or raw is None:
        return
    try:
        now = hashlib.sha256(canonical(json.loads(raw))).hexdigest()
    except ValueError:
        now = None
    if now != sites[-1]:
        report.problems.append(
            "site.json: holds settings other than the ones last logged: replaced outside a release"
        )

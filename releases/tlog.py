"""The agency's append-only log of every record, kept in the bucket: a Merkle tree with signed checkpoints.

Every version record of every incident is a leaf, appended once, in the order releases reach it; so is
every set of rendering settings (``site.json``) the site is put under. Leaves are canonical JSON::

    {"incident_id": "2026-0142", "sha256": "<the record's sha256>", "version": 3}
    {"site": "<sha256 of the canonical rendering settings>"}

Objects (public, so anyone can replay the log):

- ``log/head.json``: the signed checkpoint (``checkpoint``: C2SP checkpoint text, see
  :mod:`releases.checkpoint`), its ``size``, the ``frontier`` (right-edge subtree roots, hex), ``tail``,
  the leaves after the last full chunk, and ``base``, the frontier before them. Replaced by compare-and-swap on its ETag, so concurrent
  releases append in turn and no append is lost.
- ``log/leaves/<c>.json``: leaves ``256c`` to ``256c + 255``, written once when they are complete.

A record's sha256 does not change when a redaction removes text (see :mod:`releases.records`), so the log
never has to. Each run logs only the record it wrote; appending is safe to repeat, because a retry finds its
leaves among the newest ones (the head's tail and the last complete chunk). The head's unsigned parts are
checked against its signed checkpoint before anything is signed over them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from . import checkpoint, merkle
from .errors import StorageFault
from .records import canonical
from .settings import Settings, log_name, rendering
from .storage import IMMUTABLE, Store

HEAD = "log/head.json"
CHUNK = 256
MAX_ATTEMPTS = 50


def chunk_key(index: int) -> str:
    return f"log/leaves/{index:06d}.json"


@dataclass(frozen=True)
class Signer:
    """The agency's signing key (connection ``releases_signing``) and the log's name."""

    private_key: str
    origin: str

    @property
    def vkey(self) -> str:
        return checkpoint.verifier_key(self.origin, checkpoint.public_of(self.private_key))


def origin(settings: Settings) -> str:
    return log_name(settings.tag_authority)


def site_hash(settings: Settings) -> str:
    return hashlib.sha256(canonical(rendering(settings))).hexdigest()


def record_leaf(record: dict[str, Any]) -> dict[str, Any]:
    return {"incident_id": record["incident_id"], "version": record["version"], "sha256": record["sha256"]}


def leaf_bytes(leaf: dict[str, Any]) -> bytes:
    return canonical(leaf)


def extend(frontier: list[bytes], size: int, leaves: list[dict[str, Any]]) -> list[bytes]:
    """The frontier of a tree of ``size`` leaves with ``leaves`` appended."""
    for n, leaf in enumerate(leaves):
        frontier = merkle.append(frontier, size + n, merkle.leaf_hash(leaf_bytes(leaf)))
    return frontier


def empty_head(signer: Signer) -> dict[str, Any]:
    return {
        "size": 0,
        "base": [],
        "frontier": [],
        "tail": [],
        "site": None,
        "checkpoint": "",
        "key": signer.vkey,
    }


def _load(store: Store) -> tuple[dict[str, Any] | None, str | None]:
    body, etag = store.get_with_etag(HEAD)
    return (json.loads(body) if body is not None else None), etag


def _flush(store: Store, head: dict[str, Any]) -> None:
    """Write the committed tail's complete chunks (create-once; content fixed by the committed head)."""
    first = head["size"] - len(head["tail"])
    done = 0
    while len(head["tail"]) - done >= CHUNK:
        leaves = head["tail"][done : done + CHUNK]
        key = chunk_key((first + done) // CHUNK)
        body = canonical(leaves)
        if not store.create(key, body, cache_control=IMMUTABLE) and store.get(key) != body:
            raise StorageFault(f"{key}: holds other leaves than the log's head says")
        done += CHUNK


def _recent(store: Store, head: dict[str, Any]) -> list[dict[str, Any]]:
    """The committed tail and the last complete chunk: where a retried append finds its own leaves."""
    first = head["size"] - len(head["tail"])
    recent = list(head["tail"])
    if first >= CHUNK:
        raw = store.get(chunk_key(first // CHUNK - 1))
        recent = (json.loads(raw) if raw else []) + recent
    return recent


def _trusted(head: dict[str, Any], signer: Signer) -> dict[str, Any]:
    """The head, if its unsigned parts agree with its signed checkpoint; a StorageFault otherwise.

    ``frontier``, ``tail`` and ``base`` are not signed: someone with the writer's credentials could edit them
    and have the next release sign a rewritten history (found by an attack). The signed root must be the
    frontier's, and the frontier must be what the tail makes of the base (the frontier before the tail).
    """

    def fault(why: str) -> StorageFault:
        return StorageFault(
            f"{HEAD}: {why}; it was altered outside the pipeline, so nothing is signed over it"
        )

    if not head["checkpoint"]:
        if head["size"] or head["tail"] or head["frontier"]:
            raise fault("holds leaves but no signed checkpoint")
        return head
    try:
        cp = checkpoint.open_signed(head["checkpoint"], signer.vkey)
        frontier = [bytes.fromhex(h) for h in head["frontier"]]
        base = [bytes.fromhex(h) for h in head.get("base", [])]
    except (checkpoint.BadCheckpoint, ValueError, TypeError) as err:
        raise fault(f"its checkpoint is not ours ({err})") from None
    if cp.size != head["size"] or merkle.frontier_root(frontier) != cp.root:
        raise fault("its frontier or size is not the signed checkpoint's")
    if extend(base, head["size"] - len(head["tail"]), head["tail"]) != frontier:
        raise fault("its newest leaves are not the ones the signed checkpoint covers")
    return head


def append(
    store: Store,
    records: list[dict[str, Any]],
    settings: Settings,
    signer: Signer,
    *,
    fresh: bool = False,
) -> dict[str, Any]:
    """Log ``records`` (those this run wrote: the pipeline never logs a record it did not make, so a record
    forged in the bucket stays out of the log) and the site settings in force if they changed since they
    were last logged. Returns the head. Safe to repeat: a retry finds its leaves among the newest ones.

    ``fresh``: this run has just created every one of ``records`` (a first run, not a retry), so none can
    be in the log yet and the newest complete chunk is not read to look for them."""
    site = site_hash(settings)
    pending = [record_leaf(r) for r in records]
    for _ in range(MAX_ATTEMPTS):
        head, etag = _load(store)
        head = _trusted(head or empty_head(signer), signer)
        base = head.get("base", [])
        if len(head["tail"]) >= CHUNK:
            _flush(store, head)
            keep = len(head["tail"]) // CHUNK * CHUNK
            # The frontier before the remaining tail: the base with the flushed leaves appended.
            first = head["size"] - len(head["tail"])
            base = [h.hex() for h in extend([bytes.fromhex(h) for h in base], first, head["tail"][:keep])]
            head = {**head, "tail": head["tail"][keep:]}
        recent = head["tail"] if fresh else _recent(store, head)
        seen = {canonical(leaf) for leaf in recent} if pending else set()
        new = [leaf for leaf in pending if canonical(leaf) not in seen]
        if head["site"] != site:
            new.append({"site": site})
        if not new and head["checkpoint"]:
            break
        frontier = extend([bytes.fromhex(h) for h in head["frontier"]], head["size"], new)
        size = head["size"] + len(new)
        note = checkpoint.sign(
            checkpoint.Checkpoint(signer.origin, size, merkle.frontier_root(frontier)),
            signer.private_key,
            signer.origin,
        )
        updated = {
            "size": size,
            "base": base,
            "frontier": [h.hex() for h in frontier],
            "tail": head["tail"] + new,
            "site": site,
            "checkpoint": note,
            "key": signer.vkey,
        }
        body = json.dumps(updated, indent=1, sort_keys=True).encode() + b"\n"
        if store.put_if_match(HEAD, body, etag, public=True):
            head = updated
            break
        # Refused: another append won, or ours landed and its answer was lost (the store's retry then
        # sees 412); from here the leaves may be logged, perhaps already flushed into a chunk.
        fresh = False
    else:
        raise StorageFault(
            f"{HEAD}: changed by other releases during each of {MAX_ATTEMPTS} appends; retried"
        )
    return head


def leaves(fetch, head: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """The first ``size`` leaves, from the complete chunks and the head's tail (anonymous reads)."""
    first = head["size"] - len(head["tail"])  # a multiple of CHUNK: chunks are written whole
    wanted = min(first // CHUNK, -(-size // CHUNK))
    out: list[dict[str, Any]] = []
    for c in range(wanted):
        raw = fetch(chunk_key(c))
        if raw is None:
            raise LookupError(f"{chunk_key(c)}: missing")
        out.extend(json.loads(raw))
    if len(out) < size:
        out += head["tail"]
    if len(out) < size:
        raise LookupError(f"the log's objects hold {len(out)} leaves, its checkpoint says {size}")
    return out[:size]


def logged(store: Store) -> set[tuple[str, int]]:
    """Every (incident, version) in the log: for an operator's catch-up (``releases rebuild --signing-key``)."""
    head, _ = _load(store)
    if head is None:
        return set()
    return {
        (leaf["incident_id"], leaf["version"])
        for leaf in leaves(store.get, head, head["size"])
        if "incident_id" in leaf
    }

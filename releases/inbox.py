"""The inbox: a PIO drops an update document into ``inbox/`` of the (private) bucket.

The ``incident_inbox`` DAG collects what is there, checks each file with the same
validation as every other entry point, triggers one ``incident_release`` run per good
file and files it under ``inbox/processed/``; a bad file goes to ``inbox/rejected/``
with a ``.error.txt`` beside it saying which field broke which rule.

A file that cannot be released, whatever is wrong with it (not JSON, nested too deeply,
too large, not UTF-8, empty, a key given twice...), is filed as rejected with its reason
in the same poll, and the files behind it are checked and released as usual: one bad
file never holds up the others.

The run id is derived from the file's bytes, so a file collected twice (a retry, or the
same file dropped again) triggers one release, never two.

A file may hold text the PIO withheld, so it is kept only until its release is published:
then ``settle`` replaces it with a receipt under ``inbox/released/`` (the run and the version,
no text) and deletes every stored version of its bytes, in ``inbox/processed/`` and where it
was dropped (the bucket is versioned: a plain delete would only hide them).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from . import ledger, privacy, sealing
from .document import MAX_DOCUMENT_BYTES, loads, parse_update, seal_update
from .errors import InvalidUpdate, ReleaseError
from .storage import Store

PREFIX = "inbox/"
# The run ids of the releases the inbox triggers; ``pipeline.releaser`` knows them by it.
INBOX_RUN_PREFIX = "inbox__"
# The DAG the inbox triggers; a version's idempotency key is "<dag id>/<run id>".
RELEASE_DAG = "incident_release"
PROCESSED = "inbox/processed/"  # triggered, waiting for its release to be published
REJECTED = "inbox/rejected/"
RELEASED = "inbox/released/"  # receipts: which run released which file as which version


def pending(store: Store) -> list[str]:
    """Files waiting directly in ``inbox/`` (not in its sub-folders), oldest name first."""
    return sorted(k for k in store.list_keys(PREFIX) if "/" not in k[len(PREFIX) :] and k.endswith(".json"))


def run_id(body: bytes) -> str:
    return f"{INBOX_RUN_PREFIX}{hashlib.sha256(body).hexdigest()[:24]}"


def submission(key: str, body: bytes) -> dict[str, Any]:
    """The run id to trigger and the document of one file, or :class:`InvalidUpdate` if it is not a
    readable JSON document (its rules are checked by :func:`collect`)."""
    doc = loads(body)
    return {
        "key": key,
        "trigger_run_id": run_id(body),
        "conf": doc,
    }


def _size(store: Store, key: str) -> int | None:
    try:
        return store.client.head_object(Bucket=store.bucket, Key=key)["ContentLength"]
    except ClientError as err:
        if err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return None
        raise


def read(store: Store, key: str) -> dict[str, Any] | None:
    """The submission in ``key``; None if it is gone (another poll filed it meanwhile)."""
    size = _size(store, key)
    # Checked before reading: a file of any size may be dropped into the inbox.
    if size is not None and size > MAX_DOCUMENT_BYTES:
        raise InvalidUpdate(None, f"the update document is larger than {MAX_DOCUMENT_BYTES} bytes")
    body = store.get(key) if size is not None else None
    return None if body is None else submission(key, body)


def _move(store: Store, key: str, folder: str) -> str:
    target = folder + posixpath.basename(key)
    # Copied inside the store, never through memory: a rejected file may be huge.
    store.client.copy_object(Bucket=store.bucket, Key=target, CopySource={"Bucket": store.bucket, "Key": key})
    store.client.delete_object(Bucket=store.bucket, Key=key)
    return target


def collect(
    store: Store, public: privacy.Public = privacy.NOTHING_LISTED, *, seal_with: str | None = None
) -> list[dict[str, Any]]:
    """Check every waiting file: good ones are returned, bad ones are filed as rejected.

    What is returned goes to Airflow (XCom, then the triggered run's ``conf``), so withheld text in
    it is sealed with ``seal_with``, the deployment's public sealing key; a file with withheld text
    is refused when there is none.

    A refusal concerns one file only: it is filed with its reason and the next file is
    checked. Storage failing is not a refusal: it fails the task, whose retries run the
    whole poll again.
    """
    accepted = []
    for key in pending(store):
        try:
            found = read(store, key)
            if found is not None:
                # Every rule, the incident's history and the privacy guard included, before a run is
                # triggered: a file that cannot be released is filed as rejected with its reason, never
                # as processed (found by an attack from a fresh clone).
                ledger.check(parse_update(found["conf"]), store, public=public)
                found["conf"] = _sealed(found["conf"], seal_with)
        except ReleaseError as err:
            target = _move(store, key, REJECTED)
            store.put_if_changed(target + ".error.txt", f"refused: {err}\n".encode(), public=False)
            continue
        if found is not None:
            accepted.append(found)
    return accepted


def _sealed(doc: dict[str, Any], public_key: str | None) -> dict[str, Any]:
    if not doc.get("withheld"):
        return doc
    if not public_key:
        raise InvalidUpdate(
            "withheld",
            f"this deployment has no sealing key (Airflow connection {sealing.CONNECTION}), so withheld "
            "text cannot be kept out of Airflow's records: see README",
        )
    return seal_update(doc, public_key)


def archive(store: Store, submissions: list[dict[str, Any]]) -> list[str]:
    return [_move(store, s["key"], PROCESSED) for s in submissions]


def _purge(store: Store, key: str, body: bytes) -> None:
    """Delete every stored version of ``key`` that holds ``body`` (another file dropped under the
    same name later is left alone). Delete markers hold no text and stay."""
    pages = store.client.get_paginator("list_object_versions").paginate(Bucket=store.bucket, Prefix=key)
    for page in pages:
        for version in page.get("Versions", []):
            if version["Key"] != key:
                continue
            got = store.client.get_object(Bucket=store.bucket, Key=key, VersionId=version["VersionId"])
            if got["Body"].read() == body:
                store.client.delete_object(Bucket=store.bucket, Key=key, VersionId=version["VersionId"])


def expire_rejected(store: Store, keep_days: int, now: datetime | None = None) -> list[str]:
    """Delete every refused file older than ``keep_days`` (by when it was refused), with every stored
    version of its bytes, where it was filed and where it was dropped; its ``.error.txt`` (the reason,
    never the text) stays, with a line saying so. Returns the files deleted."""
    now = now or datetime.now(UTC)
    gone = []
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=REJECTED)
    for page in pages:
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith(".error.txt") or now - obj["LastModified"] < timedelta(days=keep_days):
                continue
            body = store.get(key)
            if body is None:
                continue
            note = (store.get(key + ".error.txt") or b"").decode("utf-8", "replace")
            when = now.strftime("%Y-%m-%d")
            store.put_if_changed(
                key + ".error.txt",
                f"{note.rstrip()}\nthe file was deleted on {when}, {keep_days} days after it was refused\n".encode(),
                public=False,
            )
            _purge(store, key, body)
            _purge(store, PREFIX + posixpath.basename(key), body)
            gone.append(key)
    return gone


def settle(store: Store) -> list[str]:
    """Replace each filed file whose release is published by a receipt, and delete its text.

    A file whose release is not published (yet, or its run failed) stays in ``inbox/processed/``
    for the PIO, and is looked at again by the next poll. Safe to repeat: the receipt is written
    before anything is deleted, and writing it again changes nothing.
    """
    receipts = []
    for key in store.list_keys(PROCESSED):
        body = store.get(key)
        if body is None:
            continue
        try:
            incident_id = parse_update(loads(body)).incident_id
        except ReleaseError:
            continue  # checked before it was triggered: only a rule changed since; a person decides
        run = run_id(body)
        record = ledger.find(ledger.history(store, incident_id), f"{RELEASE_DAG}/{run}")
        if record is None:
            continue
        receipt = {
            "file": posixpath.basename(key),
            "dag_run": f"{RELEASE_DAG}/{run}",
            "incident_id": incident_id,
            "version": record["version"],
            "sha256": record["sha256"],
            "released_at": record["released_at"],
        }
        target = f"{RELEASED}{run}.json"
        store.put_if_changed(
            target, json.dumps(receipt, indent=1, sort_keys=True).encode() + b"\n", public=False
        )
        _purge(store, key, body)
        _purge(store, PREFIX + posixpath.basename(key), body)
        receipts.append(target)
    return receipts

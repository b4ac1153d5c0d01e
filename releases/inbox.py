"""The inbox: a PIO drops an update document into ``inbox/`` of the (private) bucket.

The ``incident_inbox`` DAG collects what is there, checks each file with the same
validation as every other entry point, triggers one ``incident_release`` run per good
file and files it under ``inbox/processed/``; a bad file goes to ``inbox/rejected/``
with a ``.error.txt`` beside it saying which field broke which rule.

The run id is derived from the file's bytes, so a file collected twice (a retry, or the
same file dropped again) triggers one release, never two.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from typing import Any

from .document import MAX_DOCUMENT_BYTES, parse_update
from .errors import InvalidUpdate, ReleaseError
from .storage import Store

PREFIX = "inbox/"
PROCESSED = "inbox/processed/"
REJECTED = "inbox/rejected/"


def pending(store: Store) -> list[str]:
    """Files waiting directly in ``inbox/`` (not in its sub-folders), oldest name first."""
    return sorted(k for k in store.list_keys(PREFIX) if "/" not in k[len(PREFIX) :] and k.endswith(".json"))


def read(store: Store, key: str) -> dict[str, Any]:
    """A submission: the run id to trigger and the document, or :class:`InvalidUpdate`."""
    body = store.get(key)
    if body is None:
        raise InvalidUpdate(None, f"{key} disappeared before it could be read")
    if len(body) > MAX_DOCUMENT_BYTES:
        raise InvalidUpdate(None, f"the update document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidUpdate(None, f"the file is not valid UTF-8 JSON ({type(exc).__name__})") from None
    parse_update(doc)
    return {"key": key, "trigger_run_id": f"inbox__{hashlib.sha256(body).hexdigest()[:24]}", "conf": doc}


def _move(store: Store, key: str, folder: str) -> str:
    target = folder + posixpath.basename(key)
    body = store.get(key)
    if body is not None:
        store.put_view(target, body, public=False)
        store.client.delete_object(Bucket=store.bucket, Key=key)
    return target


def collect(store: Store) -> list[dict[str, Any]]:
    """Check every waiting file: good ones are returned, bad ones are filed as rejected."""
    accepted = []
    for key in pending(store):
        try:
            accepted.append(read(store, key))
        except ReleaseError as err:
            target = _move(store, key, REJECTED)
            store.put_view(target + ".error.txt", f"refused: {err}\n".encode(), public=False)
    return accepted


def archive(store: Store, submissions: list[dict[str, Any]]) -> list[str]:
    return [_move(store, s["key"], PROCESSED) for s in submissions]

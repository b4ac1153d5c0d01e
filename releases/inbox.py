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

No clock drives the DAG: :class:`Watch` (polled by the Airflow trigger ``plugins/incident_inbox_watch.py``)
says when there is work for it: a file waiting, a filed file whose release is published, a refused file
past the days it is kept. An idle inbox costs listings, never DAG runs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from . import checks, ledger, privacy, sealing
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


def _top(store: Store) -> tuple[list[dict[str, Any]], set[str]]:
    """The ``.json`` files directly in ``inbox/`` and the sub-folders holding something, in one listing
    that does not descend into them (``inbox/released/`` grows with every file ever released)."""
    files, folders = [], set()
    pages = store.client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket, Prefix=PREFIX, Delimiter="/"
    )
    for page in pages:
        files += [o for o in page.get("Contents", []) if o["Key"].endswith(".json")]
        folders |= {p["Prefix"] for p in page.get("CommonPrefixes", [])}
    return files, folders


def pending(store: Store) -> list[str]:
    """Files waiting directly in ``inbox/`` (not in its sub-folders), oldest name first."""
    return sorted(o["Key"] for o in _top(store)[0])


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
        raise InvalidUpdate(
            None, f"the update document is larger than {MAX_DOCUMENT_BYTES} bytes", "document.too_large"
        )
    body = store.get(key) if size is not None else None
    return None if body is None else submission(key, body)


def _move(store: Store, key: str, folder: str) -> str:
    target = folder + posixpath.basename(key)
    # Copied inside the store, never through memory: a rejected file may be huge.
    store.client.copy_object(Bucket=store.bucket, Key=target, CopySource={"Bucket": store.bucket, "Key": key})
    store.client.delete_object(Bucket=store.bucket, Key=key)
    return target


def collect(
    store: Store, public: privacy.Public | Any = privacy.NOTHING_LISTED, *, seal_with: str | None = None
) -> list[dict[str, Any]]:
    """Check every waiting file: good ones are returned, bad ones are filed as rejected.

    ``public``: the deployment's :class:`releases.settings.Settings` (its public contacts and addresses,
    its checklist), or only what the privacy guard knows to be public (then the packaged checklist).

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
                # triggered (the one check every entry point makes): a file that cannot be released is
                # filed as rejected with its reasons, never as processed (found by an attack from a fresh
                # clone).
                refusals = checks.check(found["conf"], functools.partial(ledger.history, store), public)
                if refusals:
                    _reject(store, key, refusals)
                    continue
                found["conf"] = _sealed(found["conf"], seal_with)
        except ReleaseError as err:
            _reject(store, key, [checks.Refusal.from_error(err)])
            continue
        if found is not None:
            accepted.append(found)
    return accepted


def _reject(store: Store, key: str, refusals: list[checks.Refusal]) -> None:
    """File a refused file under ``inbox/rejected/`` with its reasons beside it, one line each."""
    target = _move(store, key, REJECTED)
    reasons = "".join(f"refused: {refusal}\n" for refusal in refusals)
    store.put_if_changed(target + ".error.txt", reasons.encode(), public=False)


def _sealed(doc: dict[str, Any], public_key: str | None) -> dict[str, Any]:
    if not doc.get("withheld"):
        return doc
    if not public_key:
        raise InvalidUpdate(
            "withheld",
            f"this deployment has no sealing key (Airflow connection {sealing.CONNECTION}), so withheld "
            "text cannot be kept out of Airflow's records: see README",
            "withheld.sealed",
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


def _expired(obj: dict[str, Any], keep_days: int, now: datetime) -> bool:
    """Whether a listed object under ``inbox/rejected/`` is a refused file kept its days (the reasons stay)."""
    return not obj["Key"].endswith(".error.txt") and now - obj["LastModified"] >= timedelta(days=keep_days)


def expire_rejected(store: Store, keep_days: int, now: datetime | None = None) -> list[str]:
    """Delete every refused file older than ``keep_days`` (by when it was refused), with every stored
    version of its bytes, where it was filed and where it was dropped; its ``.error.txt`` (the reason,
    never the text) stays, with a line saying so. Returns the files deleted."""
    now = now or datetime.now(UTC)
    gone = []
    for obj in _listing(store, REJECTED):
        key = obj["Key"]
        if not _expired(obj, keep_days, now):
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


def _filed(body: bytes) -> tuple[str, str] | None:
    """(incident id, run id) of a filed file; None if it no longer passes the rules (checked before it was
    triggered: only a rule changed since; a person decides)."""
    try:
        return parse_update(loads(body)).incident_id, run_id(body)
    except ReleaseError:
        return None


def settle(store: Store) -> list[str]:
    """Replace each filed file whose release is published by a receipt, and delete its text.

    A file whose release is not published (yet, or its run failed) stays in ``inbox/processed/``
    for the PIO, and is looked at again by the next poll. Safe to repeat: the receipt is written
    before anything is deleted, and writing it again changes nothing.
    """
    receipts = []
    for key in store.list_keys(PROCESSED):
        body = store.get(key)
        filed = _filed(body) if body is not None else None
        if filed is None:
            continue
        incident_id, run = filed
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


# -- when the inbox DAG has work ------------------------------------------------------------------------

# The work the inbox DAG does, as :class:`Watch` counts it in the events that start it.
COLLECT, SETTLE, EXPIRE = "collect", "settle", "expire"


@dataclass
class _Release:
    """What a watch knows about one filed file (one key, one stored version): the release it triggered
    and how far the incident's history has been read (records never change: each is read once)."""

    incident_id: str
    key: str
    read: int = 0
    published: bool = False
    next_check: datetime | None = None


class Watch:
    """Whether the inbox DAG has work, from listings of the inbox. The Airflow trigger
    (``plugins/incident_inbox_watch.py``) calls :meth:`poll` every few seconds and starts the DAG when
    it returns something. Work is:

    - ``collect``: a ``.json`` file waiting directly in ``inbox/`` (one listing that does not descend);
    - ``settle``: a file in ``inbox/processed/`` whose release is published (its text must go). Files
      filed in the last ``recent`` are looked at every poll, older ones (a release that failed, waiting
      for someone to run it again) every ``check_old_every``;
    - ``expire``: a refused file kept its ``keep_rejected_days`` (looked for every ``expiry_every``).

    A piece of work is due when first seen, and again after ``refire_after`` (doubling up to
    ``refire_max``) for as long as it is still there: a run that failed is followed by another, and a
    file that a run is collecting right now does not start a second run every poll. A file dropped again
    is new work (another ``LastModified``). Nothing is kept between triggerer restarts: after one,
    whatever is still there is due once more (the DAG's steps are idempotent).
    """

    def __init__(
        self,
        store: Store,
        keep_rejected_days: int,
        *,
        refire_after: timedelta = timedelta(minutes=1),
        refire_max: timedelta = timedelta(hours=1),
        recent: timedelta = timedelta(minutes=15),
        check_old_every: timedelta = timedelta(minutes=5),
        expiry_every: timedelta = timedelta(minutes=5),
    ) -> None:
        self.store = store
        self.keep_rejected_days = keep_rejected_days
        self.refire_after, self.refire_max = refire_after, refire_max
        self.recent, self.check_old_every, self.expiry_every = recent, check_old_every, expiry_every
        self._fired: dict[tuple[str, str, str], tuple[datetime, timedelta]] = {}
        self._releases: dict[tuple[str, str], _Release | None] = {}
        self._expiry_checked: datetime | None = None

    def poll(self, now: datetime | None = None) -> dict[str, int] | None:
        """The work that is due now, counted by kind (no names: the counts go into Airflow's records), or
        None when there is none."""
        now = now or datetime.now(UTC)
        waiting, folders = _top(self.store)
        found = {(COLLECT, o["Key"], _version(o)) for o in waiting}
        found |= self._published(now) if PROCESSED in folders else self._forget_releases()
        looked = {COLLECT, SETTLE}
        if REJECTED not in folders:
            looked.add(EXPIRE)
        elif self._expiry_checked is None or now - self._expiry_checked >= self.expiry_every:
            found |= self._expired(now)
            looked.add(EXPIRE)
            self._expiry_checked = now
        for item in [i for i in self._fired if i[0] in looked and i not in found]:
            del self._fired[item]  # gone: done
        due = [i for i in sorted(found) if i not in self._fired or now >= self._fired[i][0]]
        for item in due:
            wait = (
                min(self._fired[item][1] * 2, self.refire_max) if item in self._fired else self.refire_after
            )
            self._fired[item] = (now + wait, wait)
        if not due:
            return None
        return {kind: sum(1 for i in due if i[0] == kind) for kind in (COLLECT, SETTLE, EXPIRE)}

    def _forget_releases(self) -> set:
        self._releases.clear()
        return set()

    def _published(self, now: datetime) -> set[tuple[str, str, str]]:
        filed = [o for o in _listing(self.store, PROCESSED) if o["Key"].endswith(".json")]
        present = {(o["Key"], _version(o)) for o in filed}
        for gone in set(self._releases) - present:
            del self._releases[gone]
        found = set()
        for obj in filed:
            version = (obj["Key"], _version(obj))
            if version not in self._releases:
                body = self.store.get(obj["Key"])
                if body is None:
                    continue
                known = _filed(body)
                self._releases[version] = known and _Release(known[0], f"{RELEASE_DAG}/{known[1]}")
            release = self._releases[version]
            if release is None:
                continue
            if not release.published and (release.next_check is None or now >= release.next_check):
                self._read_history(release)
                young = now - obj["LastModified"] < self.recent
                release.next_check = None if young else now + self.check_old_every
            if release.published:
                found.add((SETTLE, *version))
        return found

    def _read_history(self, release: _Release) -> None:
        for n in ledger.version_numbers(self.store, release.incident_id):
            if n <= release.read:
                continue
            if ledger.load_record(self.store, release.incident_id, n).get("idempotency_key") == release.key:
                release.published = True
            release.read = n

    def _expired(self, now: datetime) -> set[tuple[str, str, str]]:
        return {
            (EXPIRE, o["Key"], _version(o))
            for o in _listing(self.store, REJECTED)
            if _expired(o, self.keep_rejected_days, now)
        }


def _listing(store: Store, prefix: str) -> list[dict[str, Any]]:
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix)
    return [o for page in pages for o in page.get("Contents", [])]


def _version(obj: dict[str, Any]) -> str:
    """One stored version of a listed object, told apart from the same bytes dropped again."""
    return f"{obj['ETag']}@{obj['LastModified'].isoformat()}"

"""The embedded S3 store of ``make up`` and ``make demo``: moto on loopback, made durable and closed.

How it survives a restart: moto keeps everything in memory, so :class:`Mirror` keeps a copy on disk.
After each successful PUT/POST/DELETE on a key, and before the client gets its answer, the versions of that
key are written to ``<data>/keys/`` (one JSON manifest per key, atomically replaced) and their bytes to
``<data>/blobs/`` (content-addressed, fsynced, written once). On start, every bucket, key version, content
type, cache control and public-read ACL is replayed into the empty moto in its original order.

What it refuses: anonymous callers may only read objects (:class:`DenyAnonymous`), as on S3 by default.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

# moto accepts any credentials; these are the ones its documentation uses.
CREDENTIALS = "testing"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
# Object headers that are kept with each stored version (the ones boto3 returns from get_object).
OBJECT_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")

_STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[releases {time.monotonic() - _STARTED:5.1f}s] {message}", flush=True)


def s3_client(endpoint: str, region: str = "us-east-1"):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=CREDENTIALS,
        aws_secret_access_key=CREDENTIALS,
    )


# -- the on-disk mirror of the embedded store ---------------------------------------------------------


def _write_atomically(path: Path, data: bytes) -> None:
    # fsync before rename: a write the client saw succeed must survive a crash of this process or the OS.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # makes the rename itself durable
    finally:
        os.close(directory)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class Mirror:
    """A copy on disk of every bucket, key and object version of the embedded store.

    Layout under ``root``: ``buckets/<bucket>.json`` (versioning, policy),
    ``keys/<bucket>/<sha256 of key>.json`` (the key's versions, oldest first, with headers and public flag),
    ``blobs/<sha256 of bytes>`` (object bytes; the same bytes are stored once).
    """

    def __init__(self, root: Path, client: Any) -> None:
        self.root = root
        self.client = client
        # One writer at a time: each save reads a manifest, lists the live versions and replaces it.
        self.lock = threading.Lock()

    def _bucket_file(self, bucket: str) -> Path:
        return self.root / "buckets" / f"{bucket}.json"

    def _key_file(self, bucket: str, key: str) -> Path:
        return self.root / "keys" / bucket / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _blob_file(self, digest: str) -> Path:
        return self.root / "blobs" / digest[:2] / digest

    # -- saving (called after every successful change) --
    def save(self, bucket: str, key: str | None, *, all_keys: bool = False) -> None:
        with self.lock:
            if key is not None:
                self._sync_key(bucket, key, self._listed_versions(bucket, key))
            elif self._save_bucket(bucket) and all_keys:
                self._sync_bucket_keys(bucket)

    def save_everything(self) -> None:
        with self.lock:
            for entry in self.client.list_buckets().get("Buckets", []):
                if self._save_bucket(entry["Name"]):
                    self._sync_bucket_keys(entry["Name"])

    def _save_bucket(self, bucket: str) -> bool:
        try:
            versioning = self.client.get_bucket_versioning(Bucket=bucket).get("Status")
        except ClientError as err:
            if _error_code(err) != "NoSuchBucket":
                raise
            self._bucket_file(bucket).unlink(missing_ok=True)
            return False
        try:
            policy = self.client.get_bucket_policy(Bucket=bucket)["Policy"]
        except ClientError as err:
            if _error_code(err) != "NoSuchBucketPolicy":
                raise
            policy = None
        meta = {"bucket": bucket, "versioning": versioning, "policy": policy}
        _write_atomically(self._bucket_file(bucket), json.dumps(meta, indent=1).encode())
        return True

    def _sync_bucket_keys(self, bucket: str) -> None:
        listed = self._listed_versions(bucket, None)
        for key, versions in listed.items():
            self._sync_key(bucket, key, {key: versions})
        # Keys whose every version was deleted no longer exist: drop their manifests.
        for path in (self.root / "keys" / bucket).glob("*.json"):
            if _read_json(path)["key"] not in listed:
                path.unlink()

    def _listed_versions(self, bucket: str, key: str | None) -> dict[str, list[dict[str, Any]]]:
        """Live versions and delete markers per key, oldest first."""
        found: dict[str, list[tuple[Any, int, dict[str, Any]]]] = {}
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=key or ""):
            for kind in ("Versions", "DeleteMarkers"):
                # S3 lists each key's versions newest first; the position breaks ties between equal
                # LastModified values (whole seconds), so reverse it.
                for position, item in enumerate(page.get(kind, [])):
                    if key is not None and item["Key"] != key:
                        continue
                    entry = {
                        "id": f"{item['VersionId']} {item.get('ETag', '')} {item['LastModified'].isoformat()}",
                        "version_id": item["VersionId"],
                        "delete_marker": kind == "DeleteMarkers",
                    }
                    found.setdefault(item["Key"], []).append((item["LastModified"], -position, entry))
        return {k: [entry for *_, entry in sorted(items, key=lambda t: t[:2])] for k, items in found.items()}

    def _sync_key(self, bucket: str, key: str, listed: dict[str, list[dict[str, Any]]]) -> None:
        path = self._key_file(bucket, key)
        live = listed.get(key, [])
        if not live:
            path.unlink(missing_ok=True)
            return
        known = {v["id"]: v for v in _read_json(path)["versions"]} if path.exists() else {}
        # Versions already on disk keep their place; new ones (normally exactly one per write) are
        # appended in listing order, so the order on disk is the order of the writes.
        kept = [v for v in known.values() if v["id"] in {e["id"] for e in live}]
        new = [self._capture(bucket, key, e) for e in live if e["id"] not in known]
        if not new and len(kept) == len(known):
            return
        manifest = {"bucket": bucket, "key": key, "versions": kept + new}
        _write_atomically(path, json.dumps(manifest, indent=1).encode())

    def _capture(self, bucket: str, key: str, entry: dict[str, Any]) -> dict[str, Any]:
        if entry["delete_marker"]:
            return {"id": entry["id"], "delete_marker": True}
        resp = self.client.get_object(Bucket=bucket, Key=key, VersionId=entry["version_id"])
        body = resp["Body"].read()
        digest = hashlib.sha256(body).hexdigest()
        if not self._blob_file(digest).exists():
            _write_atomically(self._blob_file(digest), body)
        grants = self.client.get_object_acl(Bucket=bucket, Key=key, VersionId=entry["version_id"])["Grants"]
        return {
            "id": entry["id"],
            "delete_marker": False,
            "blob": digest,
            "headers": {h: resp[h] for h in OBJECT_HEADERS if resp.get(h)},
            "metadata": resp.get("Metadata", {}),
            "public": any(
                g["Grantee"].get("URI") == ALL_USERS and g["Permission"] in ("READ", "FULL_CONTROL")
                for g in grants
            ),
        }

    # -- restoring (once, into an empty store, before anyone else can write) --
    def restore(self) -> int:
        """Replay everything on disk into the store; returns the number of object versions."""
        count = 0
        for bucket_file in sorted((self.root / "buckets").glob("*.json")):
            meta = _read_json(bucket_file)
            self._restore_bucket(meta)
            for key_file in sorted((self.root / "keys" / meta["bucket"]).glob("*.json")):
                count += self._restore_key(_read_json(key_file))
        return count

    def _restore_bucket(self, meta: dict[str, Any]) -> None:
        bucket = meta["bucket"]
        try:
            self.client.create_bucket(Bucket=bucket)
        except ClientError as err:
            if _error_code(err) != "BucketAlreadyOwnedByYou":
                raise
        if meta.get("versioning"):
            self.client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": meta["versioning"]}
            )
        if meta.get("policy"):
            self.client.put_bucket_policy(Bucket=bucket, Policy=meta["policy"])

    def _restore_key(self, manifest: dict[str, Any]) -> int:
        bucket, key, versions = manifest["bucket"], manifest["key"], manifest["versions"]
        for version in versions:
            if version["delete_marker"]:
                self.client.delete_object(Bucket=bucket, Key=key)
                continue
            args = dict(version["headers"], Metadata=version.get("metadata", {}))
            if version["public"]:
                args["ACL"] = "public-read"
            body = self._blob_file(version["blob"]).read_bytes()
            self.client.put_object(Bucket=bucket, Key=key, Body=body, **args)
        # The store assigned new version ids and times: record them, so later saves of this key
        # recognise the restored versions instead of copying them again.
        live = self._listed_versions(bucket, key).get(key, [])
        restored = versions[len(versions) - len(live) :] if live else []
        for version, entry in zip(restored, live, strict=True):
            version["id"] = entry["id"]
        if not restored:  # e.g. a delete in a bucket without versioning
            self._key_file(bucket, key).unlink()
            return 0
        manifest["versions"] = restored
        _write_atomically(self._key_file(bucket, key), json.dumps(manifest, indent=1).encode())
        return len(restored)


# -- the embedded store: moto's WSGI app behind a write-through layer ---------------------------------

_CHANGES = ("PUT", "POST", "DELETE")


def _target(environ: dict[str, Any]) -> tuple[str, str | None] | None:
    """The (bucket, key) an S3 request addresses; key is None for bucket-level requests."""
    raw = environ.get("REQUEST_URI") or urllib.parse.quote(environ.get("PATH_INFO", "/"))
    path = urllib.parse.urlsplit(raw).path.lstrip("/")
    host = environ.get("HTTP_HOST", "").rsplit(":", 1)[0]
    if host.endswith(".localhost"):  # virtual-hosted style: <bucket>.localhost/<key>
        bucket, key = host.split(".", 1)[0], path
    else:
        bucket, _, key = path.partition("/")
    bucket, key = urllib.parse.unquote(bucket), urllib.parse.unquote(key)
    # "/" is how moto's other services (SQS, STS ...) are called; /moto-api/ is moto's own control API.
    if not bucket or bucket == "moto-api":
        return None
    return bucket, key or None


def _signed(environ: dict[str, Any]) -> bool:
    query = environ.get("QUERY_STRING", "")
    return "HTTP_AUTHORIZATION" in environ or "X-Amz-Signature=" in query or "Signature=" in query


class DenyAnonymous:
    """WSGI middleware: anonymous callers may only read objects, as on S3 by default.

    moto answers an unsigned PUT with 200 (it overwrote a published page in a test), lists
    buckets to anyone, and exposes /moto-api/ (reset wipes everything). On loopback any
    local user could reach them, so the embedded store refuses all of that unless the
    request is signed; whether an unsigned GET of an object succeeds is still moto's
    ACL decision (published: yes; private: 403).
    """

    _DENIED = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        b"<Message>Anonymous requests may only read published objects.</Message></Error>"
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not _signed(environ):
            target = _target(environ)
            path = environ.get("PATH_INFO", "")
            reads_object = environ["REQUEST_METHOD"] in ("GET", "HEAD") and target and target[1]
            if path.startswith("/moto-api") or not reads_object:
                start_response("403 Forbidden", [("Content-Type", "application/xml")])
                return [self._DENIED]
        return self.app(environ, start_response)


class WriteThrough:
    """WSGI middleware: after a successful change, save it to the mirror before answering."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.mirror: Mirror | None = None  # set once the restore is done
        self.failed = False

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = _target(environ)
        if self.mirror is None or environ["REQUEST_METHOD"] not in _CHANGES or target is None:
            return self.app(environ, start_response)
        status: list[int] = []

        def capture(line: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(int(line.split(" ", 1)[0]))
            return start_response(line, headers, exc_info)

        result = self.app(environ, capture)
        try:
            body = b"".join(result)  # the change is applied once the body is produced
        finally:
            getattr(result, "close", lambda: None)()
        if status and status[0] < 300:
            self._save(environ, *target)
        return [body]

    def _save(self, environ: dict[str, Any], bucket: str, key: str | None) -> None:
        if self.failed:
            self.retry()
            return
        # A bucket-level POST is DeleteObjects (?delete): it changes many keys at once.
        all_keys = environ["REQUEST_METHOD"] in ("POST", "DELETE")
        try:
            self.mirror.save(bucket, key, all_keys=all_keys)  # type: ignore[union-attr]
        except (OSError, ClientError) as err:
            # The change is already applied in memory: say so loudly and save everything at the
            # next change (or at shutdown) instead.
            self.failed = True
            log(f"could not save {bucket}/{key or ''} to disk: {err}")

    def retry(self) -> None:
        try:
            self.mirror.save_everything()  # type: ignore[union-attr]
            self.failed = False
            log("saved the whole store to disk after an earlier failure")
        except (OSError, ClientError) as err:
            log(f"still cannot save the store to disk: {err}")


@dataclass
class StoreHandle:
    endpoint: str
    server: Any
    thread: threading.Thread
    app: WriteThrough


def start_store(data_dir: Path | None, port: int, host: str = "127.0.0.1") -> StoreHandle:
    """Serve moto's S3 on ``host:port`` (0 = a free port), restoring and mirroring ``data_dir``.

    moto's state lives in module globals: one store per process, started in a process whose moto
    backends are still empty (``make up``, ``make demo`` and ``stack store`` each are).
    """
    import logging

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    app = WriteThrough(DenyAnonymous(DomainDispatcherApplication(create_backend_app)))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="s3-store", daemon=True)
    thread.start()
    endpoint = f"http://{host}:{server.server_port}"
    if data_dir is not None:
        mirror = Mirror(data_dir, s3_client(endpoint))
        restored = mirror.restore()
        if restored:
            log(f"restored {restored} object versions from {data_dir}")
        app.mirror = mirror
    return StoreHandle(endpoint, server, thread, app)


def stop_store(handle: StoreHandle) -> None:
    if handle.app.mirror is not None and handle.app.failed:
        handle.app.retry()
    handle.server.shutdown()
    handle.thread.join(timeout=10)
    handle.server.server_close()

"""Object storage over the S3 API (boto3): create-once writes, compare-and-swap, views.

Works against AWS S3, SeaweedFS and any store with S3 conditional writes. The client is passed in:
inside Airflow it comes from the amazon provider's connection, outside from :func:`client_from_settings`.

Who may read what is not decided here, object by object: one allow-list bucket policy
(``bucket-policy.json`` beside this module, :func:`bucket_policy`) grants anonymous ``s3:GetObject`` on
the published keys only, and everything else in the bucket stays private.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import time
from concurrent.futures import ThreadPoolExecutor, wait
from importlib import resources
from typing import Any

from botocore.exceptions import ClientError

from .settings import Settings

IMMUTABLE = "public, max-age=31536000, immutable"
VIEW = "public, max-age=60"
PRIVATE = "no-store"
# Independent writes of one step go out together (botocore keeps 10 connections per client by default).
PARALLEL_WRITES = 8

# Never public, whatever a caller asks: the private indexes and what PIOs drop in.
PRIVATE_PREFIXES = ("_state/", "inbox/")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
}


def content_type(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    if name.endswith("atom.xml"):
        return "application/atom+xml"
    if name.endswith("rss.xml"):
        return "application/rss+xml"
    for ext, ctype in CONTENT_TYPES.items():
        if name.endswith(ext):
            return ctype
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


class Store:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    # -- reading -----------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        return self.get_with_etag(key)[0]

    def get_with_etag(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            resp = self._call(self.client.get_object, Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _code(err) in ("NoSuchKey", "404") or _status(err) == 404:
                return None, None
            raise
        return resp["Body"].read(), resp["ETag"]

    def head_etag(self, key: str) -> str | None:
        try:
            return self._call(self.client.head_object, Bucket=self.bucket, Key=key)["ETag"]
        except ClientError as err:
            if _status(err) == 404 or _code(err) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def etags(self, prefix: str, *, start_after: str = "", stop_at: str | None = None) -> dict[str, str]:
        """Every key under ``prefix`` with its ETag (the MD5 of the bytes, for objects written in one PUT):
        one paginated listing tells which objects exist and what they hold. ``start_after``/``stop_at``:
        only keys after the one and before the other (a part of a long listing)."""
        out: dict[str, str] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        kw = {"StartAfter": start_after} if start_after else {}
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, **kw):
            for obj in page.get("Contents", []):
                if stop_at is not None and obj["Key"] >= stop_at:
                    return out
                out[obj["Key"]] = obj["ETag"]
        return out

    def prefixes(self, prefix: str) -> list[str]:
        """The "folders" directly under ``prefix`` (a delimiter listing: one entry per folder, not per key)."""
        out: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, Delimiter="/"):
            out.extend(p["Prefix"] for p in page.get("CommonPrefixes", []))
        return out

    # -- writing -----------------------------------------------------------------
    def _put_args(self, key: str, body: bytes, public: bool, cache_control: str) -> dict[str, Any]:
        public = public and not key.startswith(PRIVATE_PREFIXES)
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": body,
            "ContentType": content_type(key),
            "CacheControl": cache_control if public else PRIVATE,
        }
        return args

    def create(self, key: str, body: bytes, *, public: bool = True, cache_control: str = IMMUTABLE) -> bool:
        """Write ``key`` only if it does not exist (S3 conditional create, ``If-None-Match: *``).

        Returns True if this call created it, False if the key already existed.
        """
        try:
            self._call(
                self.client.put_object, IfNoneMatch="*", **self._put_args(key, body, public, cache_control)
            )
        except ClientError as err:
            if _code(err) == "PreconditionFailed" or _status(err) == 412:
                return False
            raise
        return True

    def put_if_match(self, key: str, body: bytes, etag: str | None, *, public: bool = False) -> bool:
        """Compare-and-swap: replace ``key`` only if it still has ``etag`` (or create it if None)."""
        args = self._put_args(key, body, public, VIEW)
        if etag is None:
            return self.create(key, body, public=public, cache_control=VIEW)
        try:
            self._call(self.client.put_object, IfMatch=etag, **args)
        except ClientError as err:
            if _code(err) in ("PreconditionFailed", "NoSuchKey") or _status(err) in (404, 412):
                return False
            raise
        return True

    def put_if_changed(self, key: str, body: bytes, *, public: bool = True) -> bool:
        """Write ``key`` (a view, or private state such as the inbox's refusal notes); skipped when the stored
        bytes are already identical.

        Skipping keeps ETags stable, so newsrooms' conditional GETs keep answering 304.
        """
        if self.head_etag(key) == etag_of(body):
            return False
        self._call(self.client.put_object, **self._put_args(key, body, public, VIEW))
        return True

    def put(self, key: str, body: bytes, *, public: bool = True) -> None:
        """Write a view that changed (no question asked first: a HEAD would only cost a request)."""
        self._call(self.client.put_object, **self._put_args(key, body, public, VIEW))

    def put_all(self, objects: dict[str, bytes], *, if_changed: bool = False) -> list[str]:
        """:meth:`put` each of ``objects``, in parallel; the keys written. Any failure is raised (after
        the others finished): the caller's retry writes them all again. ``if_changed``: each with
        :meth:`put_if_changed` instead (a HEAD first; only what differs is written)."""
        if if_changed:
            done = self._each(lambda kv: self.put_if_changed(*kv), objects)
            return [key for key, wrote in zip(objects, done, strict=True) if wrote]
        self._each(lambda kv: self.put(*kv), objects)
        return list(objects)

    def create_all(self, objects: dict[str, bytes]) -> list[str]:
        """:meth:`create` each of ``objects``, in parallel; the keys this call created."""
        created = self._each(lambda kv: self.create(*kv), objects)
        return [key for key, made in zip(objects, created, strict=True) if made]

    def _each(self, write, objects: dict[str, bytes]) -> list[Any]:
        items = list(objects.items())
        if len(items) <= 1:
            return [write(kv) for kv in items]
        with ThreadPoolExecutor(max_workers=min(PARALLEL_WRITES, len(items))) as pool:
            futures = [pool.submit(write, kv) for kv in items]
            wait(futures)
        return [f.result() for f in futures]

    def replace(self, key: str, body: bytes, *, cache_control: str = IMMUTABLE) -> None:
        """Overwrite ``key`` unconditionally. Only a redaction does this to a version's objects."""
        self._call(self.client.put_object, **self._put_args(key, body, True, cache_control))

    def delete_version(self, key: str, version_id: str) -> None:
        """Delete one object version for good (a redaction's purge of superseded versions)."""
        self._call(self.client.delete_object, Bucket=self.bucket, Key=key, VersionId=version_id)

    def ensure_bucket(self) -> None:
        """Create the bucket with versioning and the public-read policy (an operator's step, needs the
        store's admin credentials; the pipeline itself only reads and writes objects)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as err:
            if _status(err) != 404 and _code(err) not in ("404", "NoSuchBucket", "NotFound"):
                raise
            self.client.create_bucket(Bucket=self.bucket)
        # Versioning keeps every byte ever written even if someone with credentials
        # overwrites or deletes an object outside this product.
        self.client.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.client.put_bucket_policy(Bucket=self.bucket, Policy=json.dumps(bucket_policy(self.bucket)))

    # -- retries -----------------------------------------------------------------
    def _call(self, fn, /, **kwargs):
        """One S3 call. Transient faults (5xx, SlowDown, timeouts) are retried by botocore alone, up to
        ``RELEASES_S3_MAX_ATTEMPTS`` HTTP attempts in all (:func:`retry_config`), and then by Airflow's task
        retries. The one answer retried here is 409 ConditionalRequestConflict: S3 gives it when two
        conditional writes to one key race, botocore does not retry it, and the write may simply be sent
        again. Bounded: after ``CONFLICT_ATTEMPTS`` it is a fault like any other."""
        for attempt in range(CONFLICT_ATTEMPTS):
            try:
                return fn(**kwargs)
            except ClientError as err:
                if _code(err) != "ConditionalRequestConflict" or attempt == CONFLICT_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover


CONFLICT_ATTEMPTS = 5


def etag_of(body: bytes) -> str:
    """The ETag S3 gives an object written in one PUT: the quoted MD5 of its bytes. Compared with a HEAD's or a
    listing's ETag, it tells whether the stored bytes are these without reading them."""
    return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


def retry_config(settings: Settings):
    """botocore's standard retry mode (exponential backoff with jitter, 5xx, throttling and timeouts):
    at most ``settings.s3_max_attempts`` HTTP attempts per call, the first one included."""
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "total_max_attempts": settings.s3_max_attempts},
        connect_timeout=5,
        read_timeout=30,
    )


DEFAULT_BUCKET = "incident-releases"


def bucket_policy(bucket: str = DEFAULT_BUCKET) -> dict[str, Any]:
    """The one access policy: anonymous ``s3:GetObject`` on the published keys, nothing else.

    An allow-list, not "allow all, deny some": on AWS an explicit Deny for ``*`` also binds the
    pipeline's own credentials, and a new private prefix would be public until someone denied it.
    Object versions other than the current one (``s3:GetObjectVersion``) and listing stay private.
    The one Deny closes a path SeaweedFS serves besides ``?versionId=``: it keeps each version of ``k`` at
    ``k.versions/v_<id>``, which ``incidents/*`` would otherwise match (found by an attack test). No key
    the product writes contains ``.versions/`` (incident ids are letters, digits and hyphens), so on AWS,
    where a Deny for ``*`` binds every principal, it denies the pipeline nothing it uses.
    """
    text = resources.files(__package__).joinpath("bucket-policy.json").read_text(encoding="utf-8")
    return json.loads(text.replace(f"arn:aws:s3:::{DEFAULT_BUCKET}/", f"arn:aws:s3:::{bucket}/"))


def client_from_settings(settings: Settings, **overrides: Any):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=overrides.pop("endpoint_url", settings.s3_endpoint) or None,
        region_name=overrides.pop("region_name", settings.region),
        config=overrides.pop("config", retry_config(settings)),
        **overrides,
    )

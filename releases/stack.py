"""Run the whole product on one machine: ``make up``, ``make demo``.

This is the only module in ``releases/`` that starts processes.

``up``
    An embedded S3-compatible store (moto, served from a thread of this process, on loopback) whose
    contents are written through to ``.data/s3`` on every change, plus ``airflow standalone`` (its own
    process group). Ctrl-C or SIGTERM stops every process it started.
``demo``
    One sample incident through preliminary -> updated -> corrected with the real DAG
    (``airflow dags test``) against a fresh, throw-away store; the public site is copied to ``demo-site/``.
``store``
    Only the embedded store, until Ctrl-C or SIGTERM (tests use it to restart or crash a store for real).

How the store survives a restart: moto keeps everything in memory, so :class:`Mirror` keeps a copy on disk.
After each successful PUT/POST/DELETE on a key, and before the client gets its answer, the versions of that
key are written to ``<data>/keys/`` (one JSON manifest per key, atomically replaced) and their bytes to
``<data>/blobs/`` (content-addressed, fsynced, written once). On start, every bucket, key version, content
type, cache control and public-read ACL is replayed into the empty moto in its original order.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket

# The stack starts Airflow: argv lists only, never a shell.
import subprocess  # nosec B404
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from . import settings as settings_mod
from .storage import Store

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DAG_ID = "incident_release"
# moto accepts any credentials; these are the ones its documentation uses.
CREDENTIALS = "testing"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
FEEDS = ("rss.xml", "atom.xml", "corrections.rss.xml", "corrections.atom.xml")
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


# -- process groups --------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, ppid, pgrp, start time) of a process, from /proc; None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[19])


def _all_processes() -> dict[int, tuple[str, int, int, int]]:
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _proc_stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    return table


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    return [pid for pid, (state, _, pgrp, _) in _all_processes().items() if pgrp == pgid and state != "Z"]


def descendants(pid: int) -> dict[int, int]:
    """Every live descendant of ``pid`` with its start time (to tell a reused pid apart)."""
    table = _all_processes()
    family, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, (state, ppid, _, started) in table.items():
            if ppid == parent and state != "Z" and child not in family:
                family[child] = started
                frontier.append(child)
    return family


def start_group(cmd: list[str], env: dict[str, str], output: Any) -> subprocess.Popen:
    """Start ``cmd`` as the leader of a new session and process group, so it can be stopped whole.

    A signal that is ignored in this process stays ignored in the child (a background job of a
    non-interactive shell ignores SIGINT): :func:`main` installs handlers first, and handled signals
    are reset to their defaults by exec.
    """
    return subprocess.Popen(  # fixed argv, no shell  # noqa: S603  # nosec B603
        cmd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for(done, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def stop_group(leader: int, *, interrupt_wait: float = 15.0, term_wait: float = 5.0, reap=None) -> list[int]:
    """Stop a process group started by :func:`start_group`: SIGINT to the leader, then SIGTERM and
    SIGKILL to the whole group. Returns the pids that were still alive before the SIGKILL.

    SIGINT goes to the leader only: ``airflow standalone`` then stops its components in ~3 s, while
    SIGTERM stops only itself and SIGINT to the whole group leaves it hanging (measured, see FACTS.md).
    Descendants that moved to a session of their own are looked up first and killed last.
    """
    reap = reap or (lambda: None)
    family = descendants(leader)

    def gone() -> bool:
        reap()  # a zombie leader still counts as a group member until it is reaped
        return not group_members(leader)

    _signal(leader, signal.SIGINT, group=False)
    if _wait_for(gone, interrupt_wait):
        return _kill_strays(family)
    _signal(leader, signal.SIGTERM, group=True)
    if _wait_for(gone, term_wait):
        return _kill_strays(family)
    stubborn = group_members(leader)
    _signal(leader, signal.SIGKILL, group=True)
    _wait_for(gone, 5.0)
    return stubborn + _kill_strays(family)


def _signal(pid: int, sig: int, *, group: bool) -> None:
    try:
        os.killpg(pid, sig) if group else os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _kill_strays(family: dict[int, int]) -> list[int]:
    strays = [pid for pid, started in family.items() if _alive_since(pid, started)]
    for pid in strays:
        _signal(pid, signal.SIGKILL, group=False)
    # SIGKILL is delivered asynchronously: wait, so that nothing is left when this returns.
    _wait_for(lambda: not any(_alive_since(pid, family[pid]) for pid in strays), 5.0)
    return strays


# -- Airflow ------------------------------------------------------------------------------------------


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def connection_json(endpoint: str, region: str) -> str:
    extra = {"region_name": region, "endpoint_url": endpoint}
    return json.dumps({"conn_type": "aws", "login": CREDENTIALS, "password": CREDENTIALS, "extra": extra})


def airflow_env(home: Path, cfg: settings_mod.Settings, endpoint: str) -> dict[str, str]:
    """Environment for every Airflow process: this repository's DAGs, the store as connection."""
    api_host, api_port = _host_port(cfg.api_url, 8080)
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API__HOST": api_host,
            "AIRFLOW__API__PORT": str(api_port),
            # The default is http://localhost:8080/execution/; "localhost" may resolve to ::1 first,
            # where nothing listens because the API server binds 127.0.0.1 only.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{api_host}:{api_port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{cfg.api_user}:admin",
            f"AIRFLOW_CONN_{cfg.aws_conn_id.upper()}": connection_json(endpoint, cfg.region),
            "RELEASES_S3_ENDPOINT": endpoint,
            "RELEASES_BUCKET": cfg.bucket,
            # standalone starts its components as `airflow ...`: this venv's must come first.
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    if cfg.public_url:
        env["RELEASES_PUBLIC_URL"] = cfg.public_url
    return env


def migrate(env: dict[str, str], output: Any) -> None:
    subprocess.run(  # fixed argv, no shell  # noqa: S603  # nosec B603
        [str(BIN / "airflow"), "db", "migrate"], env=env, stdout=output, stderr=subprocess.STDOUT, check=True
    )


def password_file(home: Path) -> Path:
    return home / "simple_auth_manager_passwords.json.generated"


def seed_password(home: Path, cfg: settings_mod.Settings) -> None:
    """Use RELEASES_API_PASSWORD as the login if set and Airflow has not generated one yet."""
    path = password_file(home)
    if cfg.api_password and not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({cfg.api_user: cfg.api_password}) + "\n")
        path.chmod(0o600)


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback http URL
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # loopback URL built here  # noqa: S310  # nosec B310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None


def wait_for_api(api: str, proc: subprocess.Popen, timeout: float = 180.0) -> bool:
    return _wait_for(
        lambda: proc.poll() is not None or _http("GET", f"{api}/api/v2/version")[0] == 200, timeout
    )


def api_token(api: str, user: str, password: str) -> str:
    status, body = _http("POST", f"{api}/auth/token", {"username": user, "password": password})
    if status not in (200, 201):
        raise RuntimeError(f"POST /auth/token answered {status}: {body}")
    return body["access_token"]


def unpause_dag(api: str, token: str, timeout: float = 120.0) -> str:
    """Wait until the DAG is parsed, then unpause it (it may exist paused from an earlier run)."""
    url = f"{api}/api/v2/dags/{DAG_ID}"
    if not _wait_for(lambda: _http("GET", url, token=token)[0] == 200, timeout):
        status, errors = _http("GET", f"{api}/api/v2/importErrors", token=token)
        return f"DAG {DAG_ID} did not appear within {timeout:.0f} s; import errors: {errors}"
    status, body = _http("PATCH", url, {"is_paused": False}, token=token)
    return "" if status == 200 else f"could not unpause {DAG_ID}: {status} {body}"


# -- commands -----------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def install_signal_handlers() -> None:
    # Reset SIGINT even if it was ignored when we were started (background job of a script), and make
    # SIGTERM take the same clean-up path.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


def _loopback(url: str, default_port: int, variable: str) -> tuple[str, int]:
    host, port = _host_port(url, default_port)
    host = "127.0.0.1" if host == "localhost" else host
    if not host.startswith("127."):
        raise SystemExit(
            f"{variable}={url}: `make up` serves on loopback only; to serve others, deploy it "
            "(see docker-compose.yml) behind a proxy"
        )
    return host, port


def _require_free(host: str, port: int, what: str) -> None:
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex((host, port)) == 0:
            raise SystemExit(f"{what}: {host}:{port} is already in use (another `make up` still running?)")


def _alive_since(pid: int, started: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z" and stat[3] == started


def _write_pid_file(pid_file: Path, proc: subprocess.Popen) -> None:
    ours, theirs = _proc_stat(os.getpid()), _proc_stat(proc.pid)
    if ours and theirs:
        pid_file.write_text(f"{os.getpid()} {ours[3]} {proc.pid} {theirs[3]}\n")


def _stop_leftovers(pid_file: Path) -> None:
    """Refuse to run twice; stop an `airflow standalone` left by a `make up` that was killed (SIGKILL)."""
    if not pid_file.exists():
        return
    owner, owner_started, leader, leader_started = (int(x) for x in pid_file.read_text().split())
    if _alive_since(owner, owner_started):
        raise SystemExit(f"`make up` is already running (pid {owner}); stop it with Ctrl-C or kill {owner}")
    if _alive_since(leader, leader_started):
        log(f"stopping airflow standalone (pid {leader}) left running by an earlier run that was killed")
        stop_group(leader)
    pid_file.unlink()


def banner(cfg: settings_mod.Settings, endpoint: str, data_dir: Path, home: Path) -> str:
    passwords = json.loads(password_file(home).read_text()) if password_file(home).exists() else {}
    password = passwords.get(cfg.api_user, f"(see {password_file(home)})")
    site = cfg.base_url
    conf = {
        "incident_id": "2026-0001",
        "stage": "preliminary",
        "headline": "Road closed after a collision",
        "summary": "Two vehicles collided; the road is closed.",
        "body": "Officers are on scene.",
        "occurred_at": "2026-11-20T21:14:00-05:00",
        "location": "5th St and Main St",
        "agency": "Springfield Police Department",
        "contact": "Public Information Office, pio@example.org, 555-0100",
    }
    login = json.dumps({"username": cfg.api_user, "password": password})
    run = json.dumps({"logical_date": None, "conf": conf})
    feeds = "\n".join(f"    {site}/{name}" for name in FEEDS)
    return f"""
Incident releases is running. Ctrl-C stops everything.

  Airflow UI + REST API  {cfg.api_url}   login: {cfg.api_user} / {password}
  Public site            {site}/index.html
  Feeds
{feeds}
  Object storage (S3)    {endpoint}  access key / secret: {CREDENTIALS} / {CREDENTIALS}
  Data                   {data_dir} (store), {home} (Airflow); Airflow's log: {home}/standalone.log

Trigger a release through the REST API:
  TOKEN=$(curl -s -X POST {cfg.api_url}/auth/token -H 'Content-Type: application/json' \\
    -d '{login}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -X POST {cfg.api_url}/api/v2/dags/{DAG_ID}/dagRuns -H "Authorization: Bearer $TOKEN" \\
    -H 'Content-Type: application/json' -d '{run}'
"""


def up(data_dir: Path) -> int:
    cfg = settings_mod.load()
    host, port = _loopback(cfg.s3_endpoint, 9000, "RELEASES_S3_ENDPOINT")
    api_host, api_port = _loopback(cfg.api_url, 8080, "RELEASES_API_URL")
    home = Path(os.environ.get("AIRFLOW_HOME", REPO / ".airflow")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    pid_file = home / "standalone.pid"
    _stop_leftovers(pid_file)
    _require_free(host, port, "object storage")
    _require_free(api_host, api_port, "Airflow API")
    store = start_store(data_dir, port, host)
    proc = None
    try:
        Store(s3_client(store.endpoint, cfg.region), cfg.bucket).ensure_bucket()
        log(f"object storage on {store.endpoint}, bucket {cfg.bucket}, data in {data_dir}")
        env = airflow_env(home, cfg, store.endpoint)
        seed_password(home, cfg)
        with open(home / "standalone.log", "ab") as output:
            if not (home / "airflow.db").exists():
                log("creating Airflow's metadata database (first run)")
                migrate(env, output)
            log(f"starting airflow standalone (log: {home / 'standalone.log'})")
            proc = start_group([str(BIN / "airflow"), "standalone"], env, output)
        _write_pid_file(pid_file, proc)
        if not wait_for_api(cfg.api_url, proc):
            return _failed(proc, home)
        if proc.poll() is None:
            log("Airflow's API answers; waiting for the DAG to be parsed")
            password = json.loads(password_file(home).read_text())[cfg.api_user]
            problem = unpause_dag(cfg.api_url, api_token(cfg.api_url, cfg.api_user, password))
            log(problem or f"{DAG_ID} is parsed and unpaused")
            print(banner(cfg, store.endpoint, data_dir, home), flush=True)
        while proc.poll() is None:
            time.sleep(0.5)
        return _failed(proc, home)
    except KeyboardInterrupt:
        log("stopping")
        return 0
    finally:
        _shutdown(proc, store, pid_file)


def _failed(proc: subprocess.Popen, home: Path) -> int:
    tail = (home / "standalone.log").read_text(errors="replace").splitlines()[-30:]
    log("airflow standalone stopped unexpectedly; the end of its log:\n" + "\n".join(tail))
    return 1


def _shutdown(proc: subprocess.Popen | None, store: StoreHandle, pid_file: Path) -> None:
    # Ctrl-C again while stopping must not leave processes behind.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if proc is not None:
        started = time.monotonic()
        killed = stop_group(proc.pid, reap=proc.poll)
        note = f", had to kill {killed}" if killed else ""
        log(f"airflow stopped in {time.monotonic() - started:.1f} s{note}")
    pid_file.unlink(missing_ok=True)
    stop_store(store)
    log("object storage stopped; its data is on disk")


def serve_store(data_dir: Path, port: int) -> int:
    store = start_store(data_dir, port)
    print(f"store ready {store.endpoint}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        stop_store(store)


# -- demo ---------------------------------------------------------------------------------------------

DEMO_ID = "DEMO-0001"
DEMO_RUNS = (
    {
        "incident_id": DEMO_ID,
        "stage": "preliminary",
        "headline": "Officer-involved shooting near 5th St and Main St",
        "summary": "One adult injured; transported to a hospital.",
        "body": "At about 9:14 p.m. officers responded to a call near 5th St and Main St.\n\n"
        "One adult was injured and taken to a hospital. No officers were hurt.",
        "occurred_at": "2026-11-20T21:14:00-05:00",
        "location": "5th St and Main St",
        "agency": "Springfield Police Department",
        "contact": "Public Information Office, pio@example.org, 555-0100",
    },
    {
        "incident_id": DEMO_ID,
        "stage": "updated",
        "summary": "One adult injured; in stable condition at a hospital.",
    },
    {
        "incident_id": DEMO_ID,
        "stage": "corrected",
        "location": "6th St and Main St",
        "correction_note": "The first statement gave the wrong cross street; it was 6th St, not 5th St.",
    },
)


def run_dag_test(env: dict[str, str], conf: dict[str, Any], output: Any) -> bool:
    cmd = [str(BIN / "airflow"), "dags", "test", DAG_ID, "-c", json.dumps(conf)]
    # `dags test` exits non-zero when the run failed ("DagRun failed").
    # A fixed argv, no shell.
    proc = subprocess.run(cmd, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603  # nosec B603
    return proc.returncode == 0


def download_public(endpoint: str, bucket: str, target: Path) -> list[str]:
    """Copy every object an anonymous reader can GET into ``target``, keeping key paths."""
    client = s3_client(endpoint)
    saved = []
    for key in Store(client, bucket).list_keys(""):
        path = (target / key).resolve()
        if not path.is_relative_to(target.resolve()):
            continue  # a key like ../x must not write outside the folder
        try:
            url = f"{endpoint}/{bucket}/{urllib.parse.quote(key)}"
            with urllib.request.urlopen(url, timeout=10) as resp:  # loopback store  # noqa: S310  # nosec B310
                body = resp.read()
        except urllib.error.HTTPError as err:
            if err.code == 403:
                continue  # private (e.g. run bookkeeping): not part of the public site
            raise
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        saved.append(key)
    return saved


def demo(target: Path) -> int:
    cfg = settings_mod.load()
    with tempfile.TemporaryDirectory(prefix="releases-demo-") as tmp:
        store = start_store(None, 0)
        try:
            Store(s3_client(store.endpoint, cfg.region), cfg.bucket).ensure_bucket()
            env = airflow_env(Path(tmp) / "airflow", cfg, store.endpoint)
            log_path = Path(tmp) / "demo.log"
            with open(log_path, "ab") as output:
                log("preparing a throw-away Airflow home and object store")
                migrate(env, output)
                for conf in DEMO_RUNS:
                    started = time.monotonic()
                    ok = run_dag_test(env, conf, output)
                    log(
                        f"{conf['stage']:<12} {'ok' if ok else 'FAILED'} ({time.monotonic() - started:.1f} s)"
                    )
                    if not ok:
                        output.flush()
                        tail = log_path.read_text(errors="replace").splitlines()[-40:]
                        print("\n".join(tail), file=sys.stderr)
                        return 1
            shutil.rmtree(target, ignore_errors=True)
            saved = download_public(store.endpoint, cfg.bucket, target)
        finally:
            stop_store(store)
    print(demo_summary(target, saved), flush=True)
    return 0


def demo_summary(target: Path, saved: list[str]) -> str:
    where = os.path.relpath(target)
    feeds = "\n".join(f"  {where}/{name}" for name in FEEDS)
    return f"""
Published {len(saved)} public objects for incident {DEMO_ID} (preliminary -> updated -> corrected).
Open them in a browser or a feed reader:
  {where}/index.html                        all incidents
  {where}/incidents/{DEMO_ID}/index.html    current statement and full history with field-level changes
  {where}/corrections/index.html            the public changelog of corrections
{feeds}
  {where}/incidents/{DEMO_ID}/v1.json ... v3.json   the version records (the source of truth)
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m releases.stack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="object storage + Airflow on loopback until Ctrl-C")
    p_up.add_argument("--data-dir", type=Path, default=REPO / ".data" / "s3")
    p_demo = sub.add_parser("demo", help="one sample incident through every stage with the real DAG")
    p_demo.add_argument("--out", type=Path, default=REPO / "demo-site")
    p_store = sub.add_parser("store", help="only the embedded object storage, until Ctrl-C")
    p_store.add_argument("--data-dir", type=Path, default=REPO / ".data" / "s3")
    p_store.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    install_signal_handlers()
    if args.command == "up":
        return up(args.data_dir.resolve())
    if args.command == "demo":
        return demo(args.out)
    return serve_store(args.data_dir.resolve(), args.port)


if __name__ == "__main__":
    sys.exit(main())

"""Only published objects are public; nothing can be written or deleted anonymously."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from sample import PRELIMINARY

from releases import pipeline
from releases.settings import load


def anonymous(method: str, url: str, body: bytes | None = None) -> int:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


@pytest.fixture
def site(bucket):
    """The embedded store exactly as ``make up`` serves it (moto behind the stack's guards)."""
    from releases.stack import start_store, stop_store

    handle = start_store(None, 0)
    pipeline.release(PRELIMINARY, bucket, load(), key="run-1", released_by="pio")
    # What an inbox drop and a draft look like: private objects in the same bucket.
    bucket.client.put_object(Bucket=bucket.bucket, Key="inbox/2026-0142-update.json", Body=b"{}")
    bucket.client.put_object(Bucket=bucket.bucket, Key="drafts/2026-0142.json", Body=b"{}")
    yield bucket, f"{handle.endpoint}/{bucket.bucket}"
    stop_store(handle)


def test_private_keys_are_denied_to_anonymous_readers(site):
    store, url = site
    private = [k for k in store.list_keys("") if k.startswith(("_state/", "inbox/", "drafts/"))]
    assert {"inbox/2026-0142-update.json", "drafts/2026-0142.json", "_state/catalog.json"} <= set(private)
    for key in private:
        assert anonymous("GET", f"{url}/{key}") == 403, key
    assert anonymous("GET", f"{url}/incidents/2026-0142/v1.json") == 200
    # Nor can they list the bucket (which would reveal inbox and draft names).
    assert anonymous("GET", f"{url}?list-type=2") == 403
    assert anonymous("GET", url) == 403


def test_moto_control_api_is_closed(site):
    _store, url = site
    base = url.rsplit("/", 1)[0]
    assert anonymous("POST", f"{base}/moto-api/reset") == 403
    assert anonymous("GET", f"{base}/moto-api/data.json") == 403


@pytest.mark.parametrize("key", ["index.html", "incidents/2026-0142/v1.json", "inbox/new.json", "evil.html"])
def test_anonymous_writes_and_deletes_are_denied(site, key):
    store, url = site
    before = store.get(key)
    assert anonymous("PUT", f"{url}/{key}", b"<script>alert(1)</script>") == 403
    assert anonymous("DELETE", f"{url}/{key}") == 403
    assert store.get(key) == before


def test_storage_keeps_private_prefixes_private_even_when_asked_to_publish(site):
    store, url = site
    for key in ("_state/probe.json", "inbox/probe.json"):
        store.put_view(key, b"{}", public=True)
        assert anonymous("GET", f"{url}/{key}") == 403, key
        assert store.client.head_object(Bucket=store.bucket, Key=key)["CacheControl"] == "no-store"

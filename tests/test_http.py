"""What newsrooms' readers and caches see over plain HTTP: types, caching, validators, 304s.

Everything is published by the real pipeline to a real S3 endpoint (moto server on
loopback) and read back with anonymous urllib requests, as a feed reader would.
"""

from __future__ import annotations

import hashlib
import re
import urllib.error
import urllib.request
from email.utils import formatdate, parsedate_to_datetime

import pytest
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases import pipeline
from releases.settings import load

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=60"
# Written out here rather than taken from releases.storage, so a wrong table there fails.
TYPES = [
    (r"atom\.xml$", "application/atom+xml"),
    (r"rss\.xml$", "application/rss+xml"),
    (r"\.html$", "text/html; charset=utf-8"),
    (r"\.json$", "application/json"),
    (r"\.csv$", "text/csv; charset=utf-8"),
    (r"\.txt$", "text/plain; charset=utf-8"),
]
VERSION_OBJECT = re.compile(r"^incidents/[^/]+/v\d+\.(json|html|txt)$")
OTHER = {**PRELIMINARY, "incident_id": "2026-0150", "headline": "Death in custody at the county jail"}


def expected_type(key: str) -> str:
    return next(ctype for pattern, ctype in TYPES if re.search(pattern, key))


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """Anonymous GET; header names lower-cased (moto mixes cases)."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - loopback test server
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def release(store, doc, n):
    pipeline.release(doc, store, load(), key=f"incident_release/run-{n}", released_by="pio")


def public_keys(store) -> list[str]:
    return sorted(k for k in store.list_keys("") if not k.startswith("_state/"))


def snapshot(base: str, keys: list[str]) -> dict[str, dict[str, str]]:
    out = {}
    for key in keys:
        status, headers, _body = get(f"{base}/{key}")
        assert status == 200, key
        out[key] = headers
    return out


@pytest.fixture
def published(bucket, s3_endpoint):
    """Two incidents, one of them with an update: every kind of public object exists."""
    release(bucket, PRELIMINARY, 1)
    release(bucket, OTHER, 2)
    release(bucket, UPDATE, 3)
    return bucket, f"{s3_endpoint}/{bucket.bucket}"


def test_every_public_object_has_its_type_cache_control_and_etag(published):
    store, base = published
    keys = public_keys(store)
    # Every kind the design lists, so the loop below cannot pass by having little to check.
    for needed in ("index.html", "rss.xml", "atom.xml", "corrections.rss.xml", "corrections.atom.xml"):
        assert needed in keys
    assert "incidents/2026-0142/v2.json" in keys and "corrections/corrections.csv" in keys
    for key in keys:
        status, headers, body = get(f"{base}/{key}")
        assert status == 200, key
        assert headers["content-type"] == expected_type(key), key
        assert headers["cache-control"] == (IMMUTABLE if VERSION_OBJECT.match(key) else SHORT), key
        # Single-part uploads: the ETag is the quoted MD5 of the bytes, a strong validator.
        assert headers["etag"] == f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"', key
        assert parsedate_to_datetime(headers["last-modified"]).tzinfo is not None, key


def test_private_state_is_not_served_and_not_cached(published):
    store, base = published
    private = [k for k in store.list_keys("") if k.startswith("_state/")]
    assert private
    for key in private:
        assert get(f"{base}/{key}")[0] == 403, key
        assert store.client.head_object(Bucket=store.bucket, Key=key)["CacheControl"] == "no-store"


@pytest.mark.parametrize(
    "key",
    ["rss.xml", "atom.xml", "incidents/2026-0142/atom.xml", "index.html", "incidents/2026-0142/v1.json"],
)
def test_conditional_get_with_the_etag_is_answered_304_by_the_store(published, key):
    _store, base = published
    status, headers, body = get(f"{base}/{key}")
    assert status == 200 and body
    etag, modified = headers["etag"], headers["last-modified"]

    status, again, body = get(f"{base}/{key}", **{"If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert again["etag"] == etag
    # moto 5.2 leaves Cache-Control out of a 304 (RFC 9110 15.4.5 says to repeat it); a
    # cache keeps the Cache-Control it stored with the 200 (RFC 9111 4.3.4), so readers
    # still revalidate after 60 s.

    assert get(f"{base}/{key}", **{"If-None-Match": '"0123456789abcdef0123456789abcdef"'})[0] == 200
    status, _headers, body = get(f"{base}/{key}", **{"If-Modified-Since": modified})
    assert (status, body) == (304, b"")
    day_before = formatdate(parsedate_to_datetime(modified).timestamp() - 86400, usegmt=True)
    assert get(f"{base}/{key}", **{"If-Modified-Since": day_before})[0] == 200


def test_a_new_release_changes_the_etags_of_changed_feeds_only(published):
    store, base = published
    before = snapshot(base, public_keys(store))

    release(store, CORRECTION, 4)
    keys = public_keys(store)
    after = snapshot(base, keys)

    changed = {
        "rss.xml",
        "atom.xml",
        "corrections.rss.xml",
        "corrections.atom.xml",
        "incidents/2026-0142/rss.xml",
        "incidents/2026-0142/atom.xml",
        "incidents/2026-0142/index.html",
        "index.html",
    }
    for key in changed:
        assert after[key]["etag"] != before[key]["etag"], key
        # A reader holding the old ETag gets the new feed, not a 304.
        status, headers, body = get(f"{base}/{key}", **{"If-None-Match": before[key]["etag"]})
        assert (status, headers["etag"]) == (200, after[key]["etag"]), key
        assert body == store.get(key)
        assert headers["cache-control"] == SHORT

    unchanged = {
        "incidents/2026-0150/rss.xml",
        "incidents/2026-0150/atom.xml",
        "incidents/2026-0150/index.html",
        *(f"incidents/2026-0142/v{n}.{ext}" for n in (1, 2) for ext in ("json", "html", "txt")),
    }
    for key in unchanged:
        assert (after[key]["etag"], after[key]["last-modified"]) == (
            before[key]["etag"],
            before[key]["last-modified"],
        ), key
        assert get(f"{base}/{key}", **{"If-None-Match": before[key]["etag"]})[0] == 304, key
    assert set(before) <= set(keys)
    assert {k for k in keys if k not in before} == {
        *(f"incidents/2026-0142/v3.{ext}" for ext in ("json", "html", "txt")),
        # The site's first correction: the month's changelog page and its downloads.
        *(f"corrections/2026-11.{ext}" for ext in ("json", "csv", "excel.csv", "html")),
    }


def test_views_rendered_again_with_the_same_bytes_keep_their_etag(published):
    """An update is not a correction: the corrections views are rendered again by the
    release but come out identical, so they are not rewritten and readers get 304."""
    store, base = published
    corrections = [k for k in public_keys(store) if k.startswith("corrections")]
    assert sorted(corrections) == [
        "corrections.atom.xml",
        "corrections.rss.xml",
        "corrections/corrections.csv",
        "corrections/corrections.excel.csv",
        "corrections/corrections.json",
        "corrections/index.html",
    ]
    before = snapshot(base, [*corrections, "rss.xml"])

    release(store, {**UPDATE, "summary": "One adult injured; released from the hospital."}, 4)
    after = snapshot(base, [*corrections, "rss.xml"])
    # The release did reach the site views...
    assert after["rss.xml"]["etag"] != before["rss.xml"]["etag"]
    # ...and left the corrections views alone.
    for key in corrections:
        assert after[key]["etag"] == before[key]["etag"], key
        assert after[key]["last-modified"] == before[key]["last-modified"], key
        assert get(f"{base}/{key}", **{"If-None-Match": before[key]["etag"]})[0] == 304, key

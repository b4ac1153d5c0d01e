"""A correction marked private: the value it removes appears in no public object it writes.

Issue 11, must-show 4. v1 names a juvenile; v2 replaces the statement and lists ``body`` under
``private_fields``. The scan covers every object the anonymous user can fetch whose bytes the v2
release created or changed, in full, with one exclusion: the entries *for v1* inside the feeds,
which render v1's own statement. v1's own ``v1.json``/``.html``/``.txt`` are immutable and are not
changed by v2 (asserted below). Taking v1's text out of those is redaction (issue 11, must-show 1),
not a correction's job.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from conftest import all_objects
from sample import PRELIMINARY

NAME = "Jamie Doe"
NAMED = {
    **PRELIMINARY,
    "body": f"At about 9:14 p.m. officers responded to a call near 5th St and Main St.\n\n"
    f"{NAME}, 15, was injured and taken to a hospital. No officers were hurt.",
}
FIXED_BODY = (
    "At about 9:14 p.m. officers responded to a call near 5th St and Main St.\n\n"
    "A juvenile was injured and taken to a hospital. No officers were hurt."
)
CORRECTED = {
    "incident_id": NAMED["incident_id"],
    "stage": "corrected",
    "body": FIXED_BODY,
    "correction_note": "The first statement named a juvenile; the name is removed.",
}
UPDATED = {"incident_id": NAMED["incident_id"], "stage": "updated", "body": FIXED_BODY}
IID = NAMED["incident_id"]
V1_FILES = {f"incidents/{IID}/v1.{ext}" for ext in ("json", "html", "txt")}
# What a correction must rewrite; the scan below must at least cover these.
WRITTEN_BY_EVERY_RELEASE = {
    f"incidents/{IID}/v2.json",
    f"incidents/{IID}/v2.html",
    f"incidents/{IID}/v2.txt",
    f"incidents/{IID}/index.html",
    f"incidents/{IID}/rss.xml",
    f"incidents/{IID}/atom.xml",
    "index.html",
    "index.json",
    "rss.xml",
    "atom.xml",
}
WRITTEN_BY_A_CORRECTION = {
    "corrections/index.html",
    "corrections/corrections.csv",
    "corrections/corrections.excel.csv",
    "corrections/corrections.json",
    "corrections.rss.xml",
    "corrections.atom.xml",
}
ATOM = "{http://www.w3.org/2005/Atom}"


def correction_views(public: dict[str, bytes]) -> set[str]:
    """What a correction writes: the changelog's head, its month's page and downloads, the feeds."""
    month = json.loads(public[f"incidents/{IID}/v2.json"])["released_at"][:7]
    return WRITTEN_BY_A_CORRECTION | {
        f"corrections/{month}.{ext}" for ext in ("html", "csv", "excel.csv", "json")
    }


def anonymous_get(endpoint: str, bucket: str, key: str) -> bytes | None:
    try:
        with urllib.request.urlopen(f"{endpoint}/{bucket}/{key}") as resp:
            return resp.read()
    except urllib.error.HTTPError as err:
        assert err.code == 403, (key, err.code)
        return None


def without_v1_entries(body: bytes) -> bytes:
    """A feed without its entries for v1 of the incident (they render v1's own statement)."""
    root = ET.fromstring(body)
    removed = 0
    for parent in list(root.iter()):
        for child in list(parent):
            ident = child.find("guid") if child.tag == "item" else child.find(f"{ATOM}id")
            if child.tag in ("item", f"{ATOM}entry") and ident is not None:
                if IID in ident.text and ident.text.rsplit("/", 1)[-1] == "v1":
                    parent.remove(child)
                    removed += 1
    assert removed <= 1
    return ET.tostring(root)


def publish_then(release_dag, bucket, s3_endpoint, second: dict) -> tuple[dict, dict[str, bytes]]:
    """Publish v1 (naming NAME), then ``second``; return the v1 objects before, and every public
    object ``second`` created or changed, as the anonymous user fetches it."""
    assert release_dag.test(run_conf=NAMED).state == "success"
    before = all_objects(bucket)
    assert release_dag.test(run_conf=second).state == "success"
    after = all_objects(bucket)
    changed = sorted(k for k in after if before.get(k) != after[k])
    public = {}
    for key in changed:
        body = anonymous_get(s3_endpoint, bucket.bucket, key)
        if body is not None:
            public[key] = body
    return {k: before[k] for k in V1_FILES}, public


def scan(public: dict[str, bytes]) -> dict[str, int]:
    """Occurrences of NAME in each object (feeds without their v1 entries); only keys with any."""
    hits = {}
    for key, body in public.items():
        text = (without_v1_entries(body) if key.endswith(".xml") else body).decode()
        if (n := text.lower().count(NAME.lower())) > 0:
            hits[key] = n
    return hits


@pytest.mark.parametrize("second", [CORRECTED, UPDATED], ids=["corrected", "updated"])
def test_a_private_correction_writes_the_removed_value_into_no_public_object(
    release_dag, bucket, s3_endpoint, second
):
    v1_before, public = publish_then(release_dag, bucket, s3_endpoint, {**second, "private_fields": ["body"]})

    expected = WRITTEN_BY_EVERY_RELEASE | (correction_views(public) if second is CORRECTED else set())
    assert expected <= set(public), expected - set(public)
    assert scan(public) == {}
    # What the scan leaves to redaction: v1's own files, unchanged, still naming the juvenile.
    assert not V1_FILES & set(public)
    assert all(bucket.get(k) == body and NAME.encode() in body for k, body in v1_before.items())

    record = json.loads(public[f"incidents/{IID}/v2.json"])
    assert record["changes"] == [{"field": "body", "was": "[removed]", "now": FIXED_BODY}]
    page = public[f"incidents/{IID}/index.html"].decode()
    if second is CORRECTED:
        assert 'was <del dir="auto">[removed]</del>' in page  # the banner
        rows = json.loads(public["corrections/corrections.json"])
        assert [(r["version"], r["field_key"], r["was"]) for r in rows] == [(2, "body", "[removed]")]


def test_the_same_correction_not_marked_private_republishes_the_name_where_the_scan_looks(
    release_dag, bucket, s3_endpoint
):
    """The control: without ``private_fields`` the scan above finds the name in every view."""
    _, public = publish_then(release_dag, bucket, s3_endpoint, CORRECTED)

    assert set(scan(public)) == {
        f"incidents/{IID}/v2.json",
        f"incidents/{IID}/v2.html",
        f"incidents/{IID}/v2.txt",
        f"incidents/{IID}/index.html",
        f"incidents/{IID}/rss.xml",
        f"incidents/{IID}/atom.xml",
        "rss.xml",
        "atom.xml",
        *correction_views(public),
    }

"""verify and rebuild over a history published by the real pipeline steps."""

from __future__ import annotations

import json

import pytest
from conftest import all_objects, wire_bucket
from sample import CORRECTION, PRELIMINARY, UPDATE
from sample import history as sample_history

from releases import cli, integrity, ledger, pipeline, rebuild
from releases.records import canonical, seal
from releases.settings import load

# Views name the site by this URL rather than by the bucket's own, so a history published once can be
# copied into each test's bucket and still be exactly what its records produce there.
PUBLIC_URL = "https://releases.example.org"


@pytest.fixture(scope="module")
def template(seaweed):
    """The history, released once per module by the real pipeline steps."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RELEASES_PUBLIC_URL", PUBLIC_URL)
        store = wire_bucket(mp, seaweed, prefix="template")
        settings = load()
        second = {
            **PRELIMINARY,
            "incident_id": "2026-0150",
            "headline": "Death in custody at the county jail",
        }
        for n, doc in enumerate([PRELIMINARY, UPDATE, second, CORRECTION]):
            pipeline.release(doc, store, settings, key=f"run-{n}", released_by="pio")
    return store


@pytest.fixture
def published(bucket, s3_endpoint, template, monkeypatch):
    """A fresh bucket holding that history: every object copied inside the store (bytes and headers)."""
    monkeypatch.setenv("RELEASES_PUBLIC_URL", PUBLIC_URL)
    for key in template.list_keys(""):
        bucket.client.copy_object(
            Bucket=bucket.bucket, Key=key, CopySource={"Bucket": template.bucket, "Key": key}
        )
    return bucket, load(), f"{s3_endpoint}/{bucket.bucket}"


def test_untouched_history_verifies_clean_over_anonymous_http(published, capsys):
    store, settings, url = published
    report = integrity.verify(integrity.http_fetcher(url), settings)
    assert report.problems == []
    assert (report.incidents, report.versions) == (2, 4)
    assert cli.main(["verify", url]) == 0
    assert "OK: 2 incidents, 4 versions checked" in capsys.readouterr().out


def tamper(store, key, change):
    args = store._put_args(key, change(store.get(key)), True, "public, max-age=60")
    store.client.put_object(**args)


@pytest.mark.parametrize(
    ("key", "change", "expected"),
    [
        ("incidents/2026-0142/v2.json", lambda b: b.replace(b"stable", b"stabel"), "sha256 does not match"),
        ("incidents/2026-0142/v1.json", lambda b: b + b" ", "not in canonical form"),
        ("incidents/2026-0142/v3.html", lambda b: b.replace(b"6th St", b"7th St"), "v3.html: does not match"),
        (
            "incidents/2026-0142/index.html",
            lambda b: b.replace(b"<del>", b"<span>"),
            "index.html: does not match",
        ),
        (
            "corrections/corrections.csv",
            lambda b: b.splitlines()[0] + b"\n",
            "corrections.csv: does not match",
        ),
    ],
    ids=["record-byte", "record-whitespace", "version-page", "incident-page", "changelog-row-dropped"],
)
def test_tampering_is_detected(published, key, change, expected, capsys):
    store, settings, url = published
    tamper(store, key, change)
    report = integrity.verify(integrity.http_fetcher(url), settings)
    assert any(expected in p for p in report.problems), report.problems
    assert cli.main(["verify", url]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_a_row_dropped_from_the_releases_table_is_detected(published):
    store, settings, url = published
    (key,) = [
        k for k in store.list_keys("archive/") if k.startswith("archive/releases-") and k.endswith(".csv")
    ]
    tamper(store, key, lambda b: b"\n".join(b.splitlines()[:-1]) + b"\n")
    problems = integrity.verify(integrity.http_fetcher(url), settings).problems
    assert f"{key}: does not match what its records produce" in problems


def test_deleted_version_is_detected(published):
    store, settings, url = published
    store.client.delete_object(Bucket=store.bucket, Key="incidents/2026-0142/v2.json")
    problems = integrity.verify(integrity.http_fetcher(url), settings).problems
    assert "incidents/2026-0142/v2.json: missing, but version 3 exists" in problems


def test_rebuild_reproduces_every_view_byte_for_byte(published, capsys):
    store, settings, _url = published
    before = all_objects(store)
    # Records, and the sealing key published when the bucket was set up: nothing a rebuild derives.
    records = {k for k in before if k.endswith(".json") and "/v" in k} | {"keys.json"}
    for key in before:
        if key not in records:
            store.client.delete_object(Bucket=store.bucket, Key=key)
    # What the releases wrote one by one: the releases table of their month, the changelog's Excel copy.
    tables = sorted(k for k in before if k.startswith("archive/releases-"))
    assert [k.rsplit(".", 1)[1] for k in tables] == ["csv", "json"], tables
    assert len(json.loads(before[tables[1]])) == 4  # one row per version
    assert (
        before["corrections/corrections.excel.csv"] == b"\xef\xbb\xbf" + before["corrections/corrections.csv"]
    )
    assert cli.main(["rebuild"]) == 0
    after = all_objects(store)
    # The rebuild's own private note of what it rendered, which no release writes (releases.rebuild).
    assert json.loads(after.pop(rebuild.MANIFEST))["incidents"].keys() == {"2026-0142", "2026-0150"}
    assert after == before
    listed = {i["incident_id"]: i["latest_version"] for i in json.loads(after["index.json"])["incidents"]}
    assert listed == {"2026-0142": 3, "2026-0150": 1}


def test_verify_uses_the_agencys_published_settings_not_the_verifiers(published):
    from dataclasses import replace

    _store, settings, url = published
    stranger = replace(
        settings, site_title="Someone else", tag_authority="other.example", public_url="https://x"
    )
    report = integrity.verify(integrity.http_fetcher(url), stranger)
    assert report.problems == []


def test_swapped_versions_are_detected(published):
    store, settings, url = published
    v1, v2 = store.get("incidents/2026-0142/v1.json"), store.get("incidents/2026-0142/v2.json")
    tamper(store, "incidents/2026-0142/v1.json", lambda _b: v2)
    tamper(store, "incidents/2026-0142/v2.json", lambda _b: v1)
    problems = integrity.verify(integrity.http_fetcher(url), settings).problems
    assert "incidents/2026-0142/v1.json: says it is version 2" in problems


def test_truncated_history_is_detected(published):
    store, settings, url = published
    # The newest version removed: the listings and every view still name version 3.
    store.client.delete_object(Bucket=store.bucket, Key="incidents/2026-0142/v3.json")
    problems = integrity.verify(integrity.http_fetcher(url), settings).problems
    assert any(p.startswith("archive: lists 2026-0142 at version 3") for p in problems), problems


def test_truncated_record_bytes_are_detected(published):
    store, settings, url = published
    tamper(store, "incidents/2026-0150/v1.json", lambda b: b[: len(b) // 2])
    problems = integrity.verify(integrity.http_fetcher(url), settings).problems
    assert "incidents/2026-0150/v1.json: is not valid JSON" in problems


def test_corrections_views_are_rendered_only_when_their_inputs_change(bucket, monkeypatch):
    from releases import render

    settings = load()
    calls = []
    real = render.corrections_page
    monkeypatch.setattr(render, "corrections_page", lambda *a, **k: calls.append(1) or real(*a, **k))
    pipeline.release(PRELIMINARY, bucket, settings, key="run-1", released_by="pio")
    assert len(calls) == 1  # a new incident: its time to first release joins the page
    pipeline.release(UPDATE, bucket, settings, key="run-2", released_by="pio")
    assert len(calls) == 1  # nothing the corrections page shows has changed
    pipeline.release(CORRECTION, bucket, settings, key="run-3", released_by="pio")
    assert len(calls) == 2
    assert CORRECTION["correction_note"] in bucket.get("corrections/index.html").decode()
    # A deploy with other templates renders them again even with the same data.
    monkeypatch.setattr(render, "templates_digest", lambda: "another template set")
    pipeline.release(
        {**UPDATE, "summary": "Still in stable condition."}, bucket, settings, key="run-4", released_by="p"
    )
    assert len(calls) == 3


# -- one incident never stops rebuild or verify for the whole site -------------------------------


def put_record(store, record) -> None:
    """A record as a release would store it, bypassing today's intake (an old or hand-made one)."""
    assert store.create(ledger.record_key(record["incident_id"], record["version"]), canonical(record))


def handmade(iid: str, **changes) -> dict:
    """Version 1 of ``iid``, sealed with the given fields changed or (value None) missing."""
    record = {**sample_history((PRELIMINARY,))[0], "incident_id": iid}
    record.update({k: v for k, v in changes.items() if v is not None})
    for key in [k for k, v in changes.items() if v is None]:
        del record[key]
    del record["sha256"]
    return seal(
        {
            k: v
            for k, v in record.items()
            if k
            not in ("schema", "released_at", "released_by", "idempotency_key", "prev_sha256", "on_behalf_of")
        },
        released_at=record["released_at"],
        released_by="someone",
        key=f"handmade-{iid}",
        prev=None,
    )


def test_rebuild_reports_an_incident_it_cannot_render_and_rebuilds_every_other(published, capsys):
    store, settings, _url = published
    put_record(store, handmade("2026-0900", headline=None))  # a record without a headline
    store.client.put_object(Bucket=store.bucket, Key="incidents/2026-0901/v1.json", Body=b'{"trunc')
    store.client.delete_object(Bucket=store.bucket, Key="incidents/2026-0150/index.html")

    assert cli.main(["rebuild"]) == 1
    out = capsys.readouterr().out
    assert "FAIL incidents/2026-0900: cannot be rendered from its records (UndefinedError: " in out
    assert "FAIL incidents/2026-0901: cannot be rendered from its records (JSONDecodeError: " in out
    assert out.rstrip().endswith("FAILED: 2 incidents could not be rebuilt; every other one was")
    # Every other incident was rebuilt, and the site lists only what it can show.
    assert store.get("incidents/2026-0150/index.html") is not None
    listed = {i["incident_id"] for i in json.loads(store.get("index.json"))["incidents"]}
    assert listed == {"2026-0142", "2026-0150"}
    assert "incidents/2026-0900/index.html" not in store.list_keys("incidents/2026-0900/")


def test_verify_reports_an_incident_it_cannot_render_and_checks_every_other(published, capsys):
    store, settings, url = published
    record = handmade("2026-0900", occurred_at=12)  # a number where a time belongs
    put_record(store, record)
    # Listed, as a release that got as far as the catalog would have left it.
    index = json.loads(store.get("index.json"))
    index["incidents"].append(
        {
            **index["incidents"][0],
            "incident_id": "2026-0900",
            "latest_version": 1,
            "latest_sha256": record["sha256"],
        }
    )
    tamper(store, "index.json", lambda _b: json.dumps(index).encode())
    tamper(store, "incidents/2026-0150/v1.html", lambda b: b.replace(b"county jail", b"county hall"))

    report = integrity.verify(integrity.http_fetcher(url), settings)

    assert report.incidents == 3 and report.versions == 5
    assert any(
        p.startswith("incidents/2026-0900: cannot be rendered from its records (AttributeError: ")
        and p.endswith("its pages and feeds were not checked")
        for p in report.problems
    ), report.problems
    # The incidents after it were still checked.
    assert "incidents/2026-0150/v1.html: does not match what its records produce" in report.problems


def test_verify_of_a_bucket_finds_an_incident_no_listing_names(published, capsys):
    store, settings, _url = published
    # Version 1 written, then the release stopped before its views (as an extreme date once did).
    put_record(store, handmade("2026-0902"))
    assert cli.main(["verify", store.bucket]) == 1
    out = capsys.readouterr().out
    assert (
        "FAIL incidents/2026-0902: has records, but neither index.json nor the archive "
        "lists it (run releases rebuild)"
    ) in out
    assert "FAILED: 3 incidents, 5 versions checked" in out


def test_an_old_record_with_an_extreme_date_is_shown_as_recorded_and_can_be_corrected(published, capsys):
    store, settings, url = published
    # What intake accepted before times were limited to 1900-2100: rendering it used to fail for good.
    put_record(store, handmade("2026-0903", occurred_at="9999-12-31T23:59:59-12:00"))
    fix = {
        "incident_id": "2026-0903",
        "stage": "corrected",
        "occurred_at": "2026-11-20T21:14:00-05:00",
        "correction_note": "The time of the incident was mistyped.",
    }
    pipeline.release(fix, store, settings, key="run-fix", released_by="pio")

    assert cli.main(["rebuild"]) == 0  # also renders the old v1's missing pages
    v1 = store.get("incidents/2026-0903/v1.html").decode()
    assert '<time datetime="9999-12-31T23:59:59-12:00">9999-12-31T23:59:59-12:00</time>' in v1  # as recorded
    page = store.get("incidents/2026-0903/index.html").decode()
    assert "<del>9999-12-31T23:59:59-12:00</del>" in page
    assert "Nov 20, 2026, 9:14 PM UTC-05:00" in page  # the corrected time, in its statement's offset
    assert integrity.verify(integrity.http_fetcher(url), settings).problems == []

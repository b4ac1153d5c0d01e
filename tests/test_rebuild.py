"""``releases rebuild`` in worker processes, what it skips, and how it stops (issue 14)."""

from __future__ import annotations

import json
import pickle

import pytest
from botocore.exceptions import ClientError
from conftest import all_objects, wire_bucket
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases import cli, pipeline, render, storage
from releases import rebuild as rebuild_mod
from releases.settings import load

PUBLIC_URL = "https://releases.example.org"  # so the same records render the same bytes in any bucket
INCIDENTS = ["2026-0142", "2026-0143", "2026-0144", "2026-0145", "2026-0146"]


def _is_record(key: str) -> bool:
    return key.startswith("incidents/") and key.endswith(".json")


@pytest.fixture(scope="module")
def released(seaweed):
    """Five incidents released by the real pipeline steps (3, 2, 1, 1 and 1 versions): the incremental result."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RELEASES_PUBLIC_URL", PUBLIC_URL)
        store = wire_bucket(mp, seaweed, prefix="rebuilt")
        settings = load()
        docs = [PRELIMINARY, UPDATE, CORRECTION]
        docs += [{**PRELIMINARY, "incident_id": iid, "headline": f"Incident {iid}"} for iid in INCIDENTS[1:]]
        docs.append({**UPDATE, "incident_id": "2026-0143"})
        for n, doc in enumerate(docs):
            pipeline.release(doc, store, settings, key=f"run-{n}", released_by="pio")
        return all_objects(store)


@pytest.fixture
def records_only(seaweed, released, monkeypatch):
    """A fresh bucket holding only the records (and keys.json), and a function making another one."""
    monkeypatch.setenv("RELEASES_PUBLIC_URL", PUBLIC_URL)

    def make(prefix: str):
        store = wire_bucket(monkeypatch, seaweed, prefix=prefix)
        for key, body in released.items():
            if _is_record(key) or key == "keys.json":
                store.client.put_object(
                    Bucket=store.bucket, Key=key, Body=body, ContentType=storage.content_type(key)
                )
        return store, load()

    return make


def views_of(objects: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in objects.items() if k != rebuild_mod.MANIFEST}


def test_worker_processes_and_one_process_write_the_same_bytes_as_the_releases(records_only, released):
    one, one_settings = records_only("one")
    out = rebuild_mod.rebuild(one, one_settings, workers=1, chunk=2)
    assert (out.problems, out.rendered, out.unchanged) == ([], 5, 0)
    many, many_settings = records_only("many")
    # Three chunks over two worker processes, each with its own client: the parent counts their requests.
    out = rebuild_mod.rebuild(many, many_settings, workers=2, chunk=2)
    assert (out.problems, out.rendered, out.unchanged) == ([], 5, 0)
    assert out.requests["ListObjectsV2"] == 3 and out.requests["GetObject"] == 8
    one_objects, many_objects = all_objects(one), all_objects(many)
    assert views_of(many_objects) == views_of(one_objects)
    assert views_of(one_objects) == released  # what the releases wrote one by one, byte for byte
    assert many_objects[rebuild_mod.MANIFEST] == one_objects[rebuild_mod.MANIFEST]


def test_an_up_to_date_rebuild_renders_nothing_and_repairs_a_changed_or_deleted_view(
    records_only, monkeypatch
):
    store, settings = records_only("skip")
    rebuild_mod.rebuild(store, settings, workers=1)
    rendered = []
    real = rebuild_mod.views.incident_views
    monkeypatch.setattr(
        rebuild_mod.views,
        "incident_views",
        lambda records, s: rendered.append(records[0]["incident_id"]) or real(records, s),
    )
    out = rebuild_mod.rebuild(store, settings, workers=1)
    assert (out.written, out.rendered, out.unchanged, rendered) == ([], 0, 5, [])

    page = "incidents/2026-0143/index.html"
    good = store.get(page)
    store.put(page, good.replace(b"Incident 2026-0143", b"Incident 2026-0999"))
    store.client.delete_object(Bucket=store.bucket, Key="incidents/2026-0145/atom.xml")
    out = rebuild_mod.rebuild(store, settings, workers=1)
    assert sorted(out.written) == [page, "incidents/2026-0145/atom.xml"]
    assert (out.rendered, out.unchanged, sorted(rendered)) == (2, 3, ["2026-0143", "2026-0145"])
    assert store.get(page) == good

    # A release after the rebuild: its incident's records changed, so it is rendered (and matches).
    pipeline.release({**UPDATE, "incident_id": "2026-0144"}, store, settings, key="later", released_by="pio")
    rendered.clear()
    out = rebuild_mod.rebuild(store, settings, workers=1)
    assert (out.written, rendered) == ([], ["2026-0144"])


def test_new_templates_render_every_incident_again(records_only, monkeypatch):
    store, settings = records_only("templates")
    rebuild_mod.rebuild(store, settings, workers=1)
    monkeypatch.setattr(render, "templates_digest", lambda: "another template set")
    out = rebuild_mod.rebuild(store, settings, workers=1)
    assert (out.rendered, out.unchanged) == (5, 0)


def test_full_renders_every_incident_even_one_the_note_vouches_for(records_only):
    """The default trusts _state/rendered.json: someone who can write the bucket can rewrite a view and
    that note together. --full does not read the note."""
    store, settings = records_only("full")
    rebuild_mod.rebuild(store, settings, workers=1)
    page = "incidents/2026-0142/index.html"
    good = store.get(page)
    store.put(page, good.replace(b"6th St", b"7th St"))
    note = json.loads(store.get(rebuild_mod.MANIFEST))
    records = [k for k in sorted(store.list_keys("incidents/2026-0142/")) if k.endswith(".json")]
    source = rebuild_mod._read(store, "2026-0142", list(range(1, len(records) + 1)))[1]
    etags = store.etags("incidents/2026-0142/")
    note["incidents"]["2026-0142"] = rebuild_mod._digest(
        source, {k: etags[k] for k in rebuild_mod.views.incident_view_keys("2026-0142")}
    )
    store.put(rebuild_mod.MANIFEST, json.dumps(note).encode(), public=False)
    assert rebuild_mod.rebuild(store, settings, workers=1).written == []
    assert cli.main(["rebuild", "--full", "--workers", "1"]) == 0
    assert store.get(page) == good


def test_a_failed_write_stops_the_rebuild_naming_the_incident_before_any_site_view(
    records_only, monkeypatch, capsys
):
    store, settings = records_only("stop")
    real = storage.Store.put

    def put(self, key, body, *, public=True):
        if key == "incidents/2026-0144/rss.xml":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject")
        return real(self, key, body, public=public)

    monkeypatch.setattr(storage.Store, "put", put)
    assert cli.main(["rebuild", "--workers", "1"]) == 3
    out = capsys.readouterr().out
    assert out.startswith(
        "FAILED: rebuild stopped at incidents/2026-0144: writing incidents/2026-0144/rss.xml: ClientError: "
        "An error occurred (AccessDenied) when calling the PutObject operation: Access Denied. "
        "0 of 5 incidents were done; no site-wide view (front page, feeds, archive, changelog) was written; "
        "run releases rebuild again"
    ), out
    left = store.list_keys("")
    assert not [k for k in left if not k.startswith("incidents/") and k != "keys.json"], left
    assert rebuild_mod.MANIFEST not in left


def test_a_worker_process_that_fails_names_its_incidents(records_only, monkeypatch):
    store, settings = records_only("worker")
    # The parent lists with its own client; the workers make theirs from the environment: a wrong secret.
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(rebuild_mod.RebuildStopped) as stopped:
        rebuild_mod.rebuild(store, settings, workers=2, chunk=3)
    assert stopped.value.where in ("incidents/2026-0142 to 2026-0144", "incidents/2026-0145 to 2026-0146")
    assert "SignatureDoesNotMatch" in stopped.value.detail
    assert "no site-wide view (front page, feeds, archive, changelog) was written" in stopped.value.detail
    assert [k for k in store.list_keys("") if not _is_record(k)] == ["keys.json"]


def test_a_stop_crosses_from_a_worker_process_whole():
    stop = pickle.loads(pickle.dumps(rebuild_mod.RebuildStopped("incidents/2026-0142", "writing x: boom")))
    assert (stop.where, stop.detail, str(stop)) == (
        "incidents/2026-0142",
        "writing x: boom",
        "incidents/2026-0142: writing x: boom",
    )

"""A newsroom's witness against a compromised writer (issue 13, must-show 1).

The agency publishes through the real pipeline on SeaweedFS with its log signing key; a witness saves a
checkpoint; then an attacker holding the writer's credentials (and, for the log attacks, the signing key
itself: the agency rewriting its own history) changes the bucket, rebuilds every view so the site looks
consistent, and the witness, reading anonymously, names each change. A legitimate sequence of releases,
corrections and a redaction between two witness runs raises nothing.
"""

from __future__ import annotations

import json

import pytest
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases import checkpoint, cli, integrity, ledger, merkle, pipeline, redaction, tlog
from releases import settings as settings_mod
from releases.records import canonical, content_hash, seal
from releases.witness import witness

SECOND = {**PRELIMINARY, "incident_id": "2026-0150", "headline": "Death in custody at the county jail"}


@pytest.fixture
def site(bucket, s3_endpoint, seaweed, monkeypatch):
    monkeypatch.setenv("RELEASES_LOG_KEY", seaweed.log_vkey(tlog.origin(settings_mod.load())))
    cfg = settings_mod.load()
    signer = tlog.Signer(seaweed.signing_key(), tlog.origin(cfg))
    assert signer.vkey == cfg.log_key

    def release(doc, n):
        return pipeline.release(
            doc, bucket, cfg, key=f"incident_release/run-{n}", released_by="pio", signer=signer
        )

    for n, doc in enumerate((PRELIMINARY, UPDATE, CORRECTION, SECOND)):
        release(doc, n)
    fetch = integrity.http_fetcher(f"{s3_endpoint}/{bucket.bucket}")
    first = witness(fetch, None)
    assert first.ok, first.problems
    assert first.size == 5  # four records and the site's settings
    # Every page names the key's fingerprint, for newsrooms to compare with the one the agency gives them.
    page = fetch("incidents/2026-0142/index.html").decode()
    assert f"Signing key fingerprint: <code>{checkpoint.fingerprint(cfg.log_key)}</code>" in page
    return {
        "store": bucket,
        "cfg": cfg,
        "signer": signer,
        "fetch": fetch,
        "state": first.state,
        "release": release,
    }


def rebuild(site) -> None:
    """What an attacker runs after changing records: every view consistent with the bucket again."""
    integrity.rebuild(site["store"], site["cfg"])


def delete_every_version(store, key: str) -> None:
    pages = store.client.get_paginator("list_object_versions").paginate(Bucket=store.bucket, Prefix=key)
    for page in pages:
        for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
            if v["Key"] == key:
                store.client.delete_object(Bucket=store.bucket, Key=key, VersionId=v["VersionId"])


def forged_head(site, leaves: list[dict]) -> None:
    """A log of exactly ``leaves``, signed with the agency's own key, replacing the real one."""
    frontier = tlog.extend([], 0, leaves)
    signer = site["signer"]
    note = checkpoint.sign(
        checkpoint.Checkpoint(signer.origin, len(leaves), merkle.frontier_root(frontier)),
        signer.private_key,
        signer.origin,
    )
    head = {"size": len(leaves), "frontier": [h.hex() for h in frontier], "tail": leaves, "site": None}
    site["store"].replace(tlog.HEAD, json.dumps({**head, "checkpoint": note, "key": signer.vkey}).encode())


def logged(site) -> list[dict]:
    head = json.loads(site["store"].get(tlog.HEAD))
    return tlog.leaves(site["store"].get, head, head["size"])


def check(site) -> list[str]:
    report = witness(site["fetch"], site["state"])
    assert report.state is None or report.ok
    return report.problems


SEALED_BY_SEAL = (
    "schema",
    "released_at",
    "released_by",
    "on_behalf_of",
    "idempotency_key",
    "prev_sha256",
    "salts",
    "sha256",
)


def reseal(store, version: int, **changes) -> dict:
    """What a writer with the store's credentials can do: rewrite a record of 2026-0142 and seal it again,
    with a consistent sha256 and the same place in the chain. Returns the record it replaced."""
    old = ledger.load_record(store, "2026-0142", version)
    content = {k: v for k, v in old.items() if k not in SEALED_BY_SEAL} | changes
    forged = seal(
        content,
        released_at=old["released_at"],
        released_by=old["released_by"],
        key=old["idempotency_key"],
        prev=old["prev_sha256"],
    )
    store.replace(ledger.record_key("2026-0142", version), canonical(forged))
    return old


def test_a_resealed_version_is_caught(site):
    v2 = reseal(site["store"], 2, body="The suspect fired first.")
    rebuild(site)
    assert check(site) == [
        "incidents/2026-0142/v2.json: is not the version logged as entry 3 "
        f"(sha256 {v2['sha256'][:16]}…): re-sealed or rewritten"
    ]


def test_verify_alone_catches_a_record_rewritten_with_the_writer_s_credentials(site):
    """No saved checkpoint needed: the writer cannot sign a log that matches a rewritten record."""
    v1 = reseal(site["store"], 1, location="Downtown")
    rebuild(site)
    report = integrity.verify(site["fetch"], site["cfg"])
    assert (
        f"incidents/2026-0142/v1.json: is not the version logged as entry 1 (sha256 {v1['sha256'][:16]}…): "
        "re-sealed or rewritten"
    ) in report.problems


@pytest.mark.parametrize("versions", [[3], [2, 3], [2]], ids=["newest", "newest-two", "middle"])
def test_deleted_versions_are_caught(site, versions):
    for n in versions:
        for ext in ("json", "html", "txt"):
            delete_every_version(site["store"], ledger.record_key("2026-0142", n, ext))
    rebuild(site)
    leaf_of = {2: 2, 3: 3}  # leaf 1 is the site settings, logged with v1
    expected = [
        f"incidents/2026-0142/v{n}.json: logged as entry {leaf_of[n] + 1}, but no longer published: deleted"
        for n in versions
    ]
    if versions == [2]:
        # A gap: rebuild cannot render the incident and leaves it out of every listing, which is caught too.
        expected.append(
            "incidents/2026-0142: logged, but neither index.json nor the archive lists it: dropped"
        )
    assert check(site) == expected


def test_an_incident_dropped_from_every_listing_is_caught(site):
    store = site["store"]
    for key in ("index.json", *store.list_keys("archive/")):
        if key.endswith(".json") and "incidents" in (listing := json.loads(store.get(key))):
            listing["incidents"] = [e for e in listing["incidents"] if e["incident_id"] != "2026-0150"]
            store.replace(key, json.dumps(listing).encode())
    assert check(site) == [
        "incidents/2026-0150: logged, but neither index.json nor the archive lists it: dropped"
    ]


def test_a_replaced_site_json_is_caught(site):
    store = site["store"]
    settings = json.loads(store.get("site.json"))
    store.replace("site.json", json.dumps({**settings, "site_title": "Nothing to see here"}).encode())
    assert check(site) == [
        "site.json: holds settings other than the ones last logged: replaced outside a release"
    ]


def test_a_replaced_signing_key_is_caught(site):
    store = site["store"]
    other = tlog.Signer(checkpoint.generate()[0], site["signer"].origin)
    keys = json.loads(store.get("keys.json"))
    keys["signing"] = {
        "algorithm": "Ed25519",
        "vkey": other.vkey,
        "fingerprint": checkpoint.fingerprint(other.vkey),
    }
    store.replace("keys.json", json.dumps(keys).encode())
    site["signer"] = other
    forged_head(site, logged(site))
    problems = check(site)
    assert problems[0].startswith("keys.json: names a signing key (fingerprint ")
    assert problems[0].endswith("): the key was replaced")
    assert problems[1].startswith(
        "log/head.json: the checkpoint is not signed by the pinned key (not signed by the key"
    )


def test_a_forked_log_is_caught(site):
    """Two checkpoints of the same size, both signed by the agency, with different roots."""
    leaves = logged(site)
    leaves[1] = {**leaves[1], "sha256": "0" * 64}
    forged_head(site, leaves)
    assert check(site)[0].startswith("log: fork: two checkpoints signed for 5 leaves with different roots (")


def test_a_rewritten_and_extended_log_is_caught(site):
    leaves = logged(site)
    forged_head(site, [*leaves[:1], *leaves[2:], {"site": "f" * 64}, {"site": "e" * 64}])
    assert check(site)[0] == (
        "log: fork: the log of 6 leaves does not extend the checkpoint of 5 leaves you saved: "
        "history before it was rewritten"
    )


def test_a_truncated_log_is_caught(site):
    forged_head(site, logged(site)[:3])
    assert check(site)[0] == "log: truncated: the signed checkpoint now has 3 leaves, the one you saved has 5"


def test_changed_leaves_under_a_valid_checkpoint_are_caught(site):
    store = site["store"]
    head = json.loads(store.get(tlog.HEAD))
    head["tail"][0] = {**head["tail"][0], "version": 9}
    store.replace(tlog.HEAD, json.dumps(head).encode())
    assert check(site) == ["log: the 5 published entries do not give the signed root: entries were changed"]


def test_legitimate_releases_corrections_and_a_redaction_raise_nothing(site, capsys, tmp_path):
    store, cfg = site["store"], site["cfg"]
    site["release"]({**UPDATE, "summary": "Two adults injured."}, 10)
    site["release"](
        {**CORRECTION, "correction_note": "The location was wrong again.", "location": "7th St"}, 11
    )
    request = redaction.parse_request(
        {
            "incident_id": "2026-0150",
            "remove": [{"category": "place", "text": "county jail"}],
            "reason": "The facility asked that it not be named yet.",
        }
    )
    redaction.apply(
        request, store, cfg, key="incident_redaction/r1", released_by="sup", signer=site["signer"]
    )
    report = witness(site["fetch"], site["state"])
    assert report.ok, report.problems
    assert report.size == 8  # three more records, the redaction's among them
    assert report.state["size"] == 8
    # The same from the command line, twice: the second run extends what the first saved.
    url = f"{cfg.s3_endpoint}/{store.bucket}"
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "state.json").write_text(json.dumps(site["state"]))
    assert cli.main(["witness", url, "--state", str(tmp_path / "w")]) == 0
    assert cli.main(["witness", url, "--state", str(tmp_path / "w")]) == 0
    assert "OK: the log of 8 entries extends your checkpoint of 8 (0 new)" in capsys.readouterr().out
    saved = json.loads((tmp_path / "w" / "state.json").read_text())
    assert checkpoint.open_signed(saved["checkpoint"], cfg.log_key).size == 8
    # verify --checkpoint with the first checkpoint: the log extends it.
    (tmp_path / "old.txt").write_text(site["state"]["checkpoint"])
    assert cli.main(["verify", url, "--checkpoint", str(tmp_path / "old.txt")]) == 0


def test_the_witness_refuses_to_save_after_a_failure(site, tmp_path, capsys):
    store, cfg = site["store"], site["cfg"]
    url = f"{cfg.s3_endpoint}/{store.bucket}"
    state = tmp_path / "w"
    assert cli.main(["witness", url, "--state", str(state)]) == 0
    before = (state / "state.json").read_text()
    forged_head(site, logged(site)[:2])
    assert cli.main(["witness", url, "--state", str(state)]) == 1
    out = capsys.readouterr().out
    assert "FAIL log: truncated" in out and "nothing was saved" in out
    assert (state / "state.json").read_text() == before


def test_every_logged_record_has_an_inclusion_proof(site):
    leaves = logged(site)
    hashes = [merkle.leaf_hash(tlog.leaf_bytes(leaf)) for leaf in leaves]
    cp = checkpoint.open_signed(json.loads(site["store"].get(tlog.HEAD))["checkpoint"], site["cfg"].log_key)
    for index, leaf in enumerate(leaves):
        proof = merkle.inclusion_proof(index, hashes)
        assert merkle.verify_inclusion(hashes[index], index, cp.size, proof, cp.root)
        if "incident_id" in leaf:
            record = ledger.load_record(site["store"], leaf["incident_id"], leaf["version"])
            assert content_hash(record) == leaf["sha256"]


def test_after_a_new_site_title_verify_passes_and_names_the_rendering_difference(site, monkeypatch, capsys):
    """Issue 13, must-show 3: version pages keep the look of their day; that is reported, not failed."""
    store = site["store"]
    monkeypatch.setenv("RELEASES_SITE_TITLE", "Springfield PD: critical incident releases")
    cfg = settings_mod.load()
    pipeline.release(
        {**UPDATE, "summary": "Both adults were released."},
        store,
        cfg,
        key="incident_release/run-20",
        released_by="pio",
        signer=site["signer"],
    )
    url = f"{cfg.s3_endpoint}/{store.bucket}"
    capsys.readouterr()
    assert cli.main(["verify", url]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    for n in (1, 2, 3):
        assert (
            f"RENDERED incidents/2026-0142/v{n}.html: rendered on the day it was released, with other "
            "site settings (site.json) than today's; its record is checked, the page keeps its look"
        ) in out
        # The wire text carries no site title: unchanged, so it is checked exactly, and not listed.
        assert f"RENDERED incidents/2026-0142/v{n}.txt" not in out
    assert (
        "RENDERED incidents/2026-0142/v4.html" not in out
    )  # rendered with today's settings: checked exactly
    # The witness agrees: the new settings were logged with the release that brought them.
    report = witness(site["fetch"], site["state"])
    assert report.ok, report.problems
    # A change no record explains is still a failure: v4's page altered by hand.
    store.replace("incidents/2026-0142/v4.html", b"<p>altered</p>")
    assert cli.main(["verify", url]) == 1
    assert (
        "FAIL incidents/2026-0142/v4.html: does not match what its records produce" in capsys.readouterr().out
    )


def test_a_rebuild_under_new_settings_is_logged_when_given_the_signing_key(
    site, monkeypatch, capsys, tmp_path
):
    """A rebuild keeps the site's published settings, whatever the operator's shell says; applying the
    shell's is explicit, and is logged (so no witness objects) when the rebuild is given the signing key."""
    monkeypatch.setenv("RELEASES_SITE_TITLE", "A new title")
    capsys.readouterr()
    assert cli.main(["rebuild"]) == 0
    assert "rendering with the site's published settings (site.json)" in capsys.readouterr().out
    assert check(site) == []  # a shell that differs changed nothing (found by a newsroom trial)
    assert cli.main(["rebuild", "--apply-settings"]) == 0
    assert "WARN site.json: now holds settings the log has not recorded" in capsys.readouterr().out
    assert check(site) == [
        "site.json: holds settings other than the ones last logged: replaced outside a release"
    ]
    key = tmp_path / "signing.json"
    key.write_text(json.dumps({"private_key": site["signer"].private_key}))
    assert cli.main(["rebuild", "--apply-settings", "--signing-key", str(key)]) == 0
    assert "WARN" not in capsys.readouterr().out
    assert check(site) == []
    assert json.loads(site["store"].get("site.json"))["site_title"] == "A new title"


def test_concurrent_releases_each_log_every_record_exactly_once(site):
    """Eight releases at once (threads, one per incident) all append to one head by compare-and-swap."""
    from concurrent.futures import ThreadPoolExecutor

    docs = [{**PRELIMINARY, "incident_id": f"2026-08{n:02d}"} for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: site["release"](docs[n], 100 + n), range(8)))
    leaves = logged(site)
    records = [(leaf["incident_id"], leaf["version"]) for leaf in leaves if "incident_id" in leaf]
    assert len(records) == len(set(records)) == 4 + 8
    assert {iid for iid, _ in records} >= {d["incident_id"] for d in docs}
    report = witness(site["fetch"], site["state"])
    assert report.ok, report.problems


def test_a_forged_redaction_not_in_the_log_is_caught(site):
    """Found by a newsroom trial: a writer removed a logged value (its commitment kept, so its sha256 too) and
    appended an unsigned redaction record; only a redaction that is itself in the signed log may remove text."""
    store = site["store"]
    key = ledger.record_key("2026-0150", 1)
    v1 = json.loads(store.get(key))
    request = redaction.parse_request(
        {
            "incident_id": "2026-0150",
            "remove": [{"category": "place", "text": "county jail"}],
            "reason": "Nothing to see here at all.",
        }
    )
    act = redaction.redaction_record(
        [v1], request, key="forged", released_by="pio", released_at="2026-11-27T09:00:00Z"
    )
    store.create(ledger.record_key("2026-0150", 2), canonical(act))
    store.replace(
        key,
        canonical(redaction.redacted(v1, [p["pointer"] for p in act["redaction"]["removed"]], request, act)),
    )
    rebuild(site)
    assert check(site) == [
        "incidents/2026-0150/v1.json: headline was removed without a redaction record that lists it: a forged redaction?"
    ]
    report = integrity.verify(site["fetch"], site["cfg"])
    assert check(site)[0] in report.problems


def test_the_witness_keeps_a_copy_of_every_logged_record_and_points_to_it(site, tmp_path, capsys):
    url = f"{site['cfg'].s3_endpoint}/{site['store'].bucket}"
    state = tmp_path / "w"
    assert cli.main(["witness", url, "--state", str(state)]) == 0
    assert "OK: checkpoint saved: the log has 5 entries" in capsys.readouterr().out
    copy = state / "records" / "2026-0142" / "v2.json"
    original = site["store"].get(ledger.record_key("2026-0142", 2))
    assert copy.read_bytes() == original
    reseal(site["store"], 2, body="The suspect fired first.")
    assert cli.main(["witness", url, "--state", str(state)]) == 1
    assert f"  your copy of what was logged: {copy}" in capsys.readouterr().out
    assert copy.read_bytes() == original


def test_the_pipeline_refuses_to_sign_over_a_head_edited_in_the_bucket(site):
    """Found by an attack: the head's frontier and tail are not signed; a writer edited them, and the next
    release signed the rewritten history with the agency's key. Now the release fails instead."""
    from releases.errors import StorageFault

    store = site["store"]
    head = json.loads(store.get(tlog.HEAD))
    forged = [*head["tail"]]
    forged[2] = {**forged[2], "sha256": "0" * 64}
    frontier = tlog.extend([bytes.fromhex(h) for h in head["base"]], 0, forged)
    store.replace(
        tlog.HEAD, json.dumps({**head, "tail": forged, "frontier": [h.hex() for h in frontier]}).encode()
    )
    with pytest.raises(StorageFault, match="altered outside the pipeline, so nothing is signed over it"):
        site["release"]({**UPDATE, "summary": "Later."}, 30)
    assert json.loads(store.get(tlog.HEAD))["tail"] == forged  # nothing was signed


def test_a_record_forged_in_the_bucket_is_never_logged_by_the_next_release(site):
    """Found by an attack: the next release logged every unlogged record of the incident, forged ones too."""
    store = site["store"]
    v3 = ledger.load_record(store, "2026-0142", 3)
    content = {k: v for k, v in v3.items() if k not in SEALED_BY_SEAL} | {
        "version": 4,
        "body": "All is well.",
    }
    forged = seal(content, released_at=v3["released_at"], released_by="pio", key="forged", prev=v3["sha256"])
    store.create(ledger.record_key("2026-0142", 4), canonical(forged))
    site["release"]({**UPDATE, "summary": "Later."}, 31)  # becomes v5, on top of the forgery
    assert ("2026-0142", 4) not in tlog.logged(store)
    assert ("2026-0142", 5) in tlog.logged(store)


@pytest.mark.parametrize(
    "body", [b"{not json", b"[]", b'{"checkpoint": 7}'], ids=["not-json", "a-list", "wrong-type"]
)
def test_a_malformed_head_is_a_finding_not_a_crash(site, body):
    site["store"].replace(tlog.HEAD, body)
    problems = check(site)
    assert len(problems) == 1 and problems[0].startswith("log")


def test_an_entry_naming_another_path_is_a_finding(site):
    leaves = logged(site)
    forged_head(site, [*leaves, {"incident_id": "../../keys", "version": 1, "sha256": "0" * 64}])
    assert "log: entry 6 is neither a record's nor the settings' entry" in check(site)


def test_verify_reports_a_deleted_log_of_a_site_that_says_it_logs(site):
    delete_every_version(site["store"], tlog.HEAD)
    report = integrity.verify(site["fetch"], site["cfg"])
    assert "log/head.json: missing, though the site says its records are logged and signed" in report.problems


def test_verify_reads_each_record_once_though_the_log_checks_them_again(site):
    reads: dict[str, int] = {}

    def counting(key):
        reads[key] = reads.get(key, 0) + 1
        return site["fetch"](key)

    assert integrity.verify(counting, site["cfg"]).ok
    assert {k: n for k, n in reads.items() if n > 1} == {}
    assert reads["incidents/2026-0142/v1.json"] == 1 and reads[tlog.HEAD] == 1


def test_a_first_run_appends_without_reading_a_log_chunk_and_a_lost_answer_still_logs_once(site, monkeypatch):
    """A release that has just created its record cannot find it in the log, so it does not read the newest
    complete chunk to look (one GET fewer per release). A retried append can: when the store applied the
    head's PUT but the answer was lost, the next attempt finds the leaf, here already flushed into a chunk."""
    store = site["store"]
    monkeypatch.setattr(tlog, "CHUNK", 2)  # the fixture's 5 leaves: the next append flushes chunks 0 and 1
    reads: list[str] = []
    real_get = store.get
    monkeypatch.setattr(store, "get", lambda key, *a, **k: reads.append(key) or real_get(key, *a, **k))
    site["release"]({**PRELIMINARY, "incident_id": "2026-0901"}, 901)
    assert store.get(tlog.chunk_key(1)) is not None  # the complete chunks exist
    assert [k for k in reads if k.startswith("log/leaves/")] == [tlog.chunk_key(1)]  # the line above only

    # The head's PUT lands, its answer is lost (the store's retry sees 412): the append tries again.
    real_put = store.put_if_match
    lost: list[dict] = []

    def put_answer_lost(key, body, etag, **kw):
        done = real_put(key, body, etag, **kw)
        if key == tlog.HEAD and not lost:
            lost.append(json.loads(body))
            return False
        return done

    site["release"]({**PRELIMINARY, "incident_id": "2026-0902"}, 902)  # leaves one leaf in the tail
    monkeypatch.setattr(store, "put_if_match", put_answer_lost)
    site["release"]({**PRELIMINARY, "incident_id": "2026-0903"}, 903)
    assert lost[0]["tail"][-1]["incident_id"] == "2026-0903"
    assert len(lost[0]["tail"]) == tlog.CHUNK  # so the next attempt flushes it into a chunk before looking
    records = [(leaf["incident_id"], leaf["version"]) for leaf in logged(site) if "incident_id" in leaf]
    assert records.count(("2026-0903", 1)) == 1
    assert len(records) == len(set(records)) == 7
    assert witness(site["fetch"], site["state"]).ok

"""The command line: offline checks, and what a PIO reads when a run is refused."""

from __future__ import annotations

import json
import re

import pytest
from sample import PRELIMINARY

from releases import cli


def test_validate_accepts_a_good_document_and_names_the_field_of_a_bad_one(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(PRELIMINARY))
    assert cli.main(["validate", str(good)]) == 0
    assert "ok: preliminary release for incident 2026-0142" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**PRELIMINARY, "occurred_at": "2026-11-20T21:14:00"}))
    assert cli.main(["validate", str(bad)]) == 2
    # (The stage rule still needs the history, which is not published here: a note says so first.)
    refused = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note: ")]
    assert refused[0].startswith(
        "refused: occurred_at: give a date and time with its time zone as an offset from UTC, like "
    )
    (tmp_path / "notjson.json").write_text("{nope")
    assert cli.main(["validate", str(tmp_path / "notjson.json")]) == 2
    assert capsys.readouterr().err == (
        "refused: the file is not valid JSON: Expecting property name enclosed in double quotes "
        "(line 1, column 2)\n"
    )


# The files that stalled the inbox, and what the command line says about each: one line,
# never a traceback.
UNREADABLE = [
    pytest.param(
        b"[" * 32768 + b"]" * 32768, "the document is nested more than 8 levels deep", id="too-deep"
    ),
    pytest.param(b"", "the file is empty", id="empty"),
    pytest.param(b" \n\t", "the file is empty", id="blank"),
    pytest.param(
        json.dumps(PRELIMINARY).encode("utf-16"),
        "the file is not UTF-8 text (byte 1 cannot be read); save it as UTF-8",
        id="utf-16",
    ),
    pytest.param(
        b'{"location": "Stra\xdfe"}',  # Latin-1, as an old Windows editor would save it
        "the file is not UTF-8 text (byte 19 cannot be read); save it as UTF-8",
        id="latin-1",
    ),
    pytest.param(
        b'{"a": ' + b"1" * 66000 + b"}", "the update document is larger than 65536 bytes", id="too-big"
    ),
    pytest.param(b" " * 2_000_000, "the update document is larger than 65536 bytes", id="too-big-and-blank"),
    pytest.param(
        b'{"incident_id": "2026-0142", "stage": NaN}',
        "the file is not valid JSON: NaN is not a JSON value",
        id="nan",
    ),
    pytest.param(
        json.dumps(PRELIMINARY)[:-1].encode() + b', "withheld": [{"category": "name", "text": "Jo Doe"}], '
        b'"withheld": []}',
        "withheld: is given twice in the document; give each field once "
        "(JSON readers would silently keep only the last one)",
        id="duplicate-key",
    ),
    pytest.param(
        b'{"a": ' + b"9" * 5000 + b"}",
        "the file is not valid JSON: a number in it is too long",
        id="long-int",
    ),
]


@pytest.mark.parametrize(("body", "message"), UNREADABLE)
def test_unreadable_files_are_refused_in_one_line_without_a_traceback(tmp_path, capsys, body, message):
    path = tmp_path / "update.json"
    path.write_bytes(body)
    assert cli.main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"refused: {message}")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.out == ""


def test_submit_refuses_a_duplicate_key_before_calling_airflow(tmp_path, capsys, monkeypatch):
    # Airflow would parse the JSON itself and keep the last "withheld"; nothing may reach it.
    monkeypatch.setenv("RELEASES_API_URL", "http://127.0.0.1:9")
    path = tmp_path / "update.json"
    path.write_bytes(json.dumps(PRELIMINARY)[:-1].encode() + b', "headline": "Other"}')
    assert cli.main(["submit", str(path)]) == 2
    assert capsys.readouterr().err == (
        "refused: headline: is given twice in the document; give each field once "
        "(JSON readers would silently keep only the last one)\n"
    )


def test_a_utf8_byte_order_mark_is_not_part_of_the_document(tmp_path, capsys):
    path = tmp_path / "notepad.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(PRELIMINARY).encode())
    assert cli.main(["validate", str(path)]) == 0


def test_a_missing_file_is_an_error_not_a_traceback(tmp_path, capsys):
    assert cli.main(["validate", str(tmp_path / "nope.json")]) == 2
    assert (
        capsys.readouterr().err == f"error: cannot read {tmp_path / 'nope.json'}: No such file or directory\n"
    )


def test_refusal_is_taken_from_the_structured_task_log():
    # The shape Airflow 3.3 returns from .../taskInstances/<task>/logs/<try>?full_content=true
    log = {
        "content": [
            {"event": "::group::Log message source details"},
            {
                "event": "Task failed with exception",
                "level": "error",
                "error_detail": [
                    {
                        "exc_type": "AirflowFailException",
                        "exc_value": "StageOrderError: stage: incident 2026-0001 "
                        "already has a preliminary release (version 2 is the latest); use updated or corrected",
                    }
                ],
            },
            {"event": "::endgroup::"},
        ]
    }
    assert cli.refusal_from_log(log) == (
        "StageOrderError: stage: incident 2026-0001 already has a preliminary release "
        "(version 2 is the latest); use updated or corrected"
    )
    assert cli.refusal_from_log({"content": []}) == "see the task's log in Airflow"


def no_store_credentials(monkeypatch, tmp_path) -> None:
    """A PIO's or a journalist's machine: no credentials for the store anywhere boto3 looks."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    import boto3

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it caches the credentials it found first


def test_preview_renders_the_next_version_and_publishes_nothing(bucket, tmp_path, capsys, monkeypatch):
    from sample import UPDATE

    from releases import pipeline
    from releases.settings import load

    pipeline.release(PRELIMINARY, bucket, load(), key="run-1", released_by="pio")
    before = {k: bucket.get(k) for k in bucket.list_keys("")}
    # The history is read from the public site, anonymously, as validate reads it.
    no_store_credentials(monkeypatch, tmp_path)
    doc = tmp_path / "update.json"
    doc.write_text(json.dumps(UPDATE))
    assert cli.main(["preview", str(doc), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "preview of version 2 (updated)" in out and "nothing was published" in out
    assert "summary: " in out
    page = (tmp_path / "out" / "v2.html").read_text()
    # now, and what it was: the summary is long text, shown changed word by word
    assert UPDATE["summary"] in page and "<del>transported to</del><ins>in stable condition at</ins>" in page
    assert {k: bucket.get(k) for k in bucket.list_keys("")} == before


def test_without_store_credentials_a_command_says_what_to_do_not_try_again(
    bucket, tmp_path, capsys, monkeypatch
):
    from sample import UPDATE

    no_store_credentials(monkeypatch, tmp_path)
    assert cli.main(["verify", bucket.bucket]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: no credentials for the store: this command reads or writes the bucket itself."
    )
    assert "give its public URL (http:// or https://) instead of a bucket name" in err
    assert "try again" not in err
    # A preview whose site cannot be read says which setting to give.
    monkeypatch.setenv("RELEASES_PUBLIC_URL", "http://127.0.0.1:9/incident-releases")
    doc = tmp_path / "update.json"
    doc.write_text(json.dumps(UPDATE))
    assert cli.main(["preview", str(doc), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "error: cannot read the published history of incident 2026-0142 from http://127.0.0.1:9/incident-releases"
    )
    assert "Set RELEASES_PUBLIC_URL to the site's public address" in err
    assert not (tmp_path / "out").exists()


def test_keygen_writes_a_key_file_only_its_owner_reads_and_never_overwrites_it(tmp_path, capsys):
    import json

    from releases import checkpoint, sealing

    for flags, module in (([], sealing), (["--signing"], checkpoint)):
        path = tmp_path / f"key{len(flags)}.json"
        assert cli.main(["keygen", "--out", str(path), *flags]) == 0
        keys = json.loads(path.read_text())
        assert path.stat().st_mode & 0o777 == 0o600
        assert module.public_of(keys["private_key"]) == keys["public_key"]
        before = path.read_bytes()
        assert cli.main(["keygen", "--out", str(path), *flags]) == 2
        assert "exists; a key file is never overwritten" in capsys.readouterr().err
        assert path.read_bytes() == before


def test_the_signing_key_is_named_for_the_sites_authority_everywhere(tmp_path, capsys, monkeypatch):
    """The operator's shell reads no .env: keygen is told the authority (or reads RELEASES_TAG_AUTHORITY),
    and a RELEASES_LOG_KEY named for another log is refused at start, saying how to get the right one."""
    import json

    from releases import checkpoint
    from releases.settings import load

    site = "police.example.gov"
    assert cli.main(["keygen", "--signing", "--authority", site, "--out", str(tmp_path / "a.json")]) == 0
    out, err = capsys.readouterr()
    vkey = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Verifier key: "))
    assert vkey.startswith(f"{site}/incident-releases+") and "WARNING" not in err
    public = json.loads((tmp_path / "a.json").read_text())["public_key"]
    assert vkey == checkpoint.verifier_key(f"{site}/incident-releases", public)
    assert load({"RELEASES_TAG_AUTHORITY": site, "RELEASES_LOG_KEY": vkey}).log_key == vkey

    # The same from the environment, as compose's services read it.
    monkeypatch.setenv("RELEASES_TAG_AUTHORITY", site)
    assert cli.main(["keygen", "--signing", "--out", str(tmp_path / "b.json")]) == 0
    assert f"Verifier key: {site}/incident-releases+" in capsys.readouterr().out
    monkeypatch.delenv("RELEASES_TAG_AUTHORITY")

    # Neither: the placeholder name, said loudly. That key under the site's authority is refused at start.
    assert cli.main(["keygen", "--signing", "--out", str(tmp_path / "c.json")]) == 0
    out, err = capsys.readouterr()
    wrong = next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("Verifier key: "))
    assert wrong.startswith("incident-releases.invalid/incident-releases+")
    assert (
        "WARNING: the key is named for the placeholder log 'incident-releases.invalid/incident-releases'"
        in err
    )
    with pytest.raises(ValueError) as refused:
        load({"RELEASES_TAG_AUTHORITY": site, "RELEASES_LOG_KEY": wrong})
    assert str(refused.value) == (
        "RELEASES_LOG_KEY: the key is named 'incident-releases.invalid/incident-releases', but this site's log "
        "is named 'police.example.gov/incident-releases' (from RELEASES_TAG_AUTHORITY): the pages would show "
        "another fingerprint than keys.json. Set RELEASES_LOG_KEY to what `releases log-key --authority "
        "police.example.gov signing-key.json` prints (the same key, under this site's name)"
    )
    monkeypatch.setenv("RELEASES_TAG_AUTHORITY", site)
    monkeypatch.setenv("RELEASES_LOG_KEY", wrong)
    assert cli.main(["verify", "http://127.0.0.1:9/none"]) == 2
    assert capsys.readouterr().err.startswith("error: RELEASES_LOG_KEY: the key is named")
    # ... and log-key, which runs whatever RELEASES_LOG_KEY says, gives the right one for the same key file.
    assert cli.main(["log-key", str(tmp_path / "c.json")]) == 0
    fixed = capsys.readouterr().out.strip()
    assert fixed.startswith(f"{site}/incident-releases+") and fixed.split("+")[2] == wrong.split("+")[2]
    assert load({"RELEASES_TAG_AUTHORITY": site, "RELEASES_LOG_KEY": fixed}).log_key == fixed


def test_setup_bucket_refuses_a_signing_key_that_is_not_the_one_the_pages_show(tmp_path, capsys, monkeypatch):
    for name in ("sealing", "one", "other"):
        flag = [] if name == "sealing" else ["--signing", "--authority", "police.example.gov"]
        assert cli.main(["keygen", *flag, "--out", str(tmp_path / f"{name}.json")]) == 0
    capsys.readouterr()
    assert cli.main(["log-key", "--authority", "police.example.gov", str(tmp_path / "one.json")]) == 0
    monkeypatch.setenv("RELEASES_LOG_KEY", capsys.readouterr().out.strip())
    monkeypatch.setenv("RELEASES_TAG_AUTHORITY", "police.example.gov")
    # An endpoint nothing listens on: the refusal comes before any request.
    monkeypatch.setenv("RELEASES_S3_ENDPOINT", "http://127.0.0.1:9")
    args = ["setup-bucket", "--sealing-key", str(tmp_path / "sealing.json"), "--signing-key"]
    assert cli.main([*args, str(tmp_path / "other.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'other.json'} is not the key RELEASES_LOG_KEY names")
    assert err.rstrip().endswith("nothing was written")


class FakeApi:
    """Airflow's REST API as ``releases submit`` sees it: records what is triggered; each run ends as told."""

    triggered: list = []
    outcome_of_run: dict | None = None

    def __init__(self, *args):
        pass

    run_ids: list = []
    rejected: str | None = None

    def trigger(self, conf, dag_id=cli.DAG_ID, run_id=None):
        FakeApi.triggered.append(conf)
        FakeApi.run_ids.append(run_id)
        return run_id or "manual__1"

    def rejection(self, run_id):
        return FakeApi.rejected

    def wait(self, run_id, timeout, dag_id=cli.DAG_ID):
        return "success"

    def outcome(self, run_id, dag_id=cli.DAG_ID):
        return FakeApi.outcome_of_run


def test_submit_checks_every_rule_first_and_triggers_nothing_it_would_refuse(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "Api", FakeApi)
    monkeypatch.setenv("RELEASES_PUBLIC_URL", "http://127.0.0.1:9/x")  # no history: said, and still checked
    FakeApi.triggered = []
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({**PRELIMINARY, "summary": "Born on March 3, 2011.", "headline": "a\nb"}))
    assert cli.main(["submit", str(path)]) == 2
    # Every refusal at once (issue 16): the privacy finding too, though the headline's own rule failed.
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("note: cannot read the published history of incident 2026-0142")
    assert err[1] == "refused: headline: must be a single line"
    assert err[2].startswith("refused: summary: contains what looks like a date of birth")
    assert len(err) == 3
    path.write_text(json.dumps({**PRELIMINARY, "summary": "Born on March 3, 2011."}))
    assert cli.main(["submit", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("note: cannot read the published history of incident 2026-0142")
    assert err[1].startswith("refused: summary: contains what looks like a date of birth")
    assert FakeApi.triggered == []


def test_submit_reports_a_run_that_ended_refused(tmp_path, capsys, monkeypatch):
    """Another release came first: the run's task refused the document (skipped, outcome in XCom)."""
    monkeypatch.setattr(cli, "Api", FakeApi)
    monkeypatch.setenv("RELEASES_PUBLIC_URL", "http://127.0.0.1:9/x")
    FakeApi.triggered = []
    FakeApi.outcome_of_run = {
        "outcome": "refused",
        "summary": "refused: stage: ...",
        "refusals": [
            {
                "field": "stage",
                "title": "Stage",
                "rule": "stage.second_preliminary",
                "message": "incident 2026-0142 already has a preliminary release (version 1 is the latest); "
                "use updated or corrected",
            }
        ],
    }
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(PRELIMINARY))
    assert cli.main(["submit", str(path)]) == 2
    captured = capsys.readouterr()
    assert "triggered incident_release run 2026-0142-vnext-preliminary-" in captured.out
    assert "published" not in captured.out
    assert captured.err.endswith(
        "refused: stage: incident 2026-0142 already has a preliminary release (version 1 is the latest); "
        "use updated or corrected\n"
    )
    FakeApi.outcome_of_run = {"outcome": "published", "incident_id": "2026-0142", "version": 1}
    assert cli.main(["submit", str(path)]) == 0
    assert "published: " in capsys.readouterr().out


def test_submit_names_the_run_after_the_release_and_says_when_an_approver_rejected_it(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(cli, "Api", FakeApi)
    monkeypatch.setenv("RELEASES_PUBLIC_URL", "http://127.0.0.1:9/x")
    FakeApi.triggered, FakeApi.run_ids = [], []
    FakeApi.outcome_of_run, FakeApi.rejected = (
        None,
        "rejected by approver: wait for the video; nothing was published",
    )
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(PRELIMINARY))
    assert cli.main(["submit", str(path)]) == 2
    captured = capsys.readouterr()
    [run_id] = FakeApi.run_ids
    assert re.fullmatch(r"2026-0142-vnext-preliminary-\d{8}T\d{6}Z", run_id)  # history unreadable: vnext
    assert "published" not in captured.out and "rejected by approver: wait for the video" in captured.err
    FakeApi.rejected = None


def test_release_run_ids_name_incident_version_stage_and_time():
    from datetime import UTC, datetime

    from releases.runs import ALLOWED, release_run_id

    when = datetime(2026, 11, 27, 18, 10, 5, tzinfo=UTC)
    assert release_run_id("2026-0142", 2, "corrected", when) == "2026-0142-v2-corrected-20261127T181005Z"
    assert (
        ALLOWED.match(release_run_id("abc-1", None, "updated", when)).group()
        == "ABC-1-vnext-updated-20261127T181005Z"
    )


def test_submit_reads_the_outcome_from_the_task_that_recorded_it(monkeypatch):
    """``release`` records a refusal or a release published at once; ``publish`` one that waited for its
    approver or its time: the real Api asks ``publish`` first, then ``release`` (redactions: redact, plan)."""
    asked = []
    recorded = {("incident_release", "release"): {"outcome": "published", "version": 1}}

    def xcom(self, run_id, task, key, dag_id=cli.DAG_ID):
        asked.append((dag_id, task, key))
        return recorded.get((dag_id, task))

    monkeypatch.setattr(cli.Api, "xcom", xcom)
    api = cli.Api.__new__(cli.Api)
    assert api.outcome("r1") == {"outcome": "published", "version": 1}
    assert asked == [("incident_release", "publish", "outcome"), ("incident_release", "release", "outcome")]
    recorded[("incident_release", "publish")] = {"outcome": "refused", "refusals": []}
    assert api.outcome("r2")["outcome"] == "refused"
    asked.clear()
    assert api.outcome("r3", cli.REDACTION_DAG_ID) is None
    assert [task for _, task, _ in asked] == ["redact", "plan"]

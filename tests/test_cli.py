"""The command line: offline checks, and what a PIO reads when a run is refused."""

from __future__ import annotations

import json

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
    assert capsys.readouterr().err.startswith(
        "refused: occurred_at: must be an RFC 3339 time with a time zone"
    )
    (tmp_path / "notjson.json").write_text("{nope")
    assert cli.main(["validate", str(tmp_path / "notjson.json")]) == 2
    assert "not valid UTF-8 JSON" in capsys.readouterr().err


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


def test_preview_renders_the_next_version_and_publishes_nothing(bucket, tmp_path, capsys):
    from sample import UPDATE

    from releases import pipeline
    from releases.settings import load

    pipeline.release(PRELIMINARY, bucket, load(), key="run-1", released_by="pio")
    before = {k: bucket.get(k) for k in bucket.list_keys("")}
    doc = tmp_path / "update.json"
    doc.write_text(json.dumps(UPDATE))
    assert cli.main(["preview", str(doc), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "preview of version 2 (updated)" in out and "nothing was published" in out
    assert "summary: " in out
    page = (tmp_path / "out" / "v2.html").read_text()
    assert UPDATE["summary"] in page and PRELIMINARY["summary"] in page  # now, and was
    assert {k: bucket.get(k) for k in bucket.list_keys("")} == before

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

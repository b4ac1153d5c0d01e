"""Long work says how far it is (issue 14: a 10,000-incident rebuild ran 35 minutes in silence)."""

from __future__ import annotations

import io

from sample import PRELIMINARY

from releases import cli, pipeline, progress
from releases import settings as settings_mod


def test_plain_lines_give_done_total_rate_and_time_left():
    out = io.StringIO()
    now = [0.0]
    tick = progress.Lines("rebuild: incidents", out, every=2, clock=lambda: now[0])
    for done in range(1, 6):
        now[0] = done * 0.5  # each item takes half a second
        tick(done, 5)
    assert out.getvalue().splitlines() == [
        "rebuild: incidents: 2/5, 2.0/s, about 2 s left",
        "rebuild: incidents: 4/5, 2.0/s, about 1 s left",
        "rebuild: incidents: 5/5, 2.0/s",
    ]


def test_rebuild_and_verify_report_progress_in_a_log(bucket, capsys):
    cfg = settings_mod.load()
    for n, iid in enumerate(("2026-0142", "2026-0150")):
        pipeline.release(
            {**PRELIMINARY, "incident_id": iid}, bucket, cfg, key=f"incident_release/run-{n}", released_by="p"
        )
    capsys.readouterr()
    assert cli.main(["rebuild"]) == 0
    assert "rebuild: incidents: 2/2, " in capsys.readouterr().err
    assert cli.main(["verify", f"{cfg.s3_endpoint}/{bucket.bucket}"]) == 0
    assert "verify: incidents: 2/2, " in capsys.readouterr().err

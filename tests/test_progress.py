"""Long work says how far it is (issue 14: a 10,000-incident rebuild ran 35 minutes in silence)."""

from __future__ import annotations

import io
import re

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


def test_plain_lines_come_when_chunks_finish_out_of_order_and_when_time_passes():
    out = io.StringIO()
    now = [0.0]
    tick = progress.Lines("rebuild: incidents", out, every=1000, clock=lambda: now[0], seconds=30)
    # Chunks of 250 and a short last one of 10 that finished first: no count lands on a multiple of 1,000.
    for done, at in ((10, 1), (260, 5), (510, 10), (760, 15), (1010, 20), (1260, 60), (1510, 62), (2010, 70)):
        now[0] = at
        tick(done, 2010)
    assert out.getvalue().splitlines() == [
        "rebuild: incidents: 1010/2010, 50.5/s, about 20 s left",
        "rebuild: incidents: 1260/2010, 21.0/s, about 36 s left",  # 40 s since the last line
        "rebuild: incidents: 2010/2010, 28.7/s",
    ]


def test_the_bar_on_a_terminal_shows_done_total_rate_and_time_left():
    from rich.console import Console

    now = [100.0]
    bar = progress.Bar("rebuild: incidents", io.StringIO(), clock=lambda: now[0])
    bar(0, 400)
    now[0] += 10  # ten seconds in
    bar(200, 400)
    shown = Console(file=io.StringIO(), width=120, record=True)
    shown.print(bar.progress.get_renderable())
    line = shown.export_text()
    bar(400, 400)
    assert re.search(r"rebuild: incidents .* 200/400 20\.0/s, about 10 s left", line), line

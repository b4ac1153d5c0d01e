"""What one release costs in S3 requests, and who writes the pages rendered from the archive's tables.

A release (the DAG's task: ``pipeline.release(site=False)``) changes the JSON tables (compare-and-swap);
the pages rendered from them are written by the site-wide writer (``site_views``, once per batch), from
the tables as it reads them, so the last page written is never an older release's rendering.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases import integrity, pipeline, views
from releases.settings import load

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 20  # S3 requests per release (issue 14, must-show 2)


def _counted(store):
    calls: list[str] = []

    def before_send(request, event_name, **kwargs):
        key = request.url.split(f"/{store.bucket}/", 1)[-1].split("?", 1)[0]
        calls.append(f"{event_name.rsplit('.', 1)[-1]} {key}")

    store.client.meta.events.register("before-send.s3.*", before_send)
    return calls


def _release(store, settings, conf, run):
    return pipeline.release(conf, store, settings, key=run, released_by="pio", site=False)


@pytest.mark.parametrize(
    "conf", [PRELIMINARY, UPDATE, CORRECTION], ids=["preliminary", "update", "correction"]
)
def test_a_release_stays_within_its_request_budget_and_leaves_table_pages_to_the_site_writer(bucket, conf):
    settings = load()
    history = [PRELIMINARY, UPDATE, CORRECTION]
    for n, earlier in enumerate(history[: history.index(conf)]):
        _release(bucket, settings, earlier, f"run-{n}")
    calls = _counted(bucket)
    out = _release(bucket, settings, conf, "run-measured")
    assert len(calls) <= BUDGET, f"{len(calls)} requests:\n" + "\n".join(calls)
    # The tables changed, named for the site-wide writer; none of their pages written by the release.
    tables = out["tables"]
    kinds = sorted(t.split("/")[0] + ("/releases" if "/releases-" in t else "") for t in tables)
    assert kinds == ["archive", "archive/releases"] + (["corrections"] if conf is CORRECTION else [])
    for table in tables:
        pages = views.table_pages(table, bucket.get(table), settings)
        assert pages, table
        written = [c for c in calls if c.startswith("PutObject ") and c.split(" ", 1)[1] in pages]
        assert written == []
    # The site-wide writer, given the release's tables, writes their pages: the bytes a rebuild renders.
    views.write_site(bucket, settings, tables=tables)
    assert integrity.rebuild(bucket, settings).written == []


def test_the_site_writer_renders_a_table_as_stored_not_as_one_release_left_it(bucket):
    """Two incidents first released the same day: the site pass cued by the first release alone still shows
    both on the day's page (a release writing its own rendering could leave the older one last)."""
    settings = load()
    first = _release(bucket, settings, PRELIMINARY, "run-1")
    _release(bucket, settings, {**PRELIMINARY, "incident_id": "2026-0143"}, "run-2")
    day = next(t for t in first["tables"] if not t.rsplit("/", 1)[1].startswith("releases-"))
    page = day.removesuffix(".json") + ".html"
    assert bucket.get(page) is None  # the releases wrote the table, not its page
    views.write_site(bucket, settings, tables=first["tables"])
    html = bucket.get(page).decode()
    assert "2026-0142" in html and "2026-0143" in html


def test_a_site_pass_by_hand_renders_every_table_the_catalog_names(bucket):
    settings = load()
    for n, conf in enumerate([PRELIMINARY, UPDATE, CORRECTION]):
        _release(bucket, settings, conf, f"run-{n}")
    views.write_site(bucket, settings, if_changed=True, tables=None)
    assert integrity.rebuild(bucket, settings).written == []


def test_a_release_task_does_not_import_pandas(bucket):
    """pandas costs seconds of CPU to import; only the site-wide writer builds tables (CSVs) with it."""
    settings = load()
    _release(bucket, settings, PRELIMINARY, "run-1")
    code = (
        "import sys\n"
        "from sample import CORRECTION, UPDATE\n"
        "from releases import pipeline\n"
        "from releases.settings import load\n"
        "from releases.storage import Store, client_from_settings\n"
        "s = load(); store = Store(client_from_settings(s), s.bucket)\n"
        "for n, conf in enumerate([UPDATE, CORRECTION]):\n"
        "    pipeline.release(conf, store, s, key=f'run-sub-{n}', released_by='pio', site=False)\n"
        "sys.exit(1 if 'pandas' in sys.modules else 0)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, "the release task imported pandas" + result.stderr[-2000:]
    assert bucket.head_etag("incidents/2026-0142/v3.json") is not None

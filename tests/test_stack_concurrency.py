"""Concurrent writers behind ``make up``: twenty PIOs submit at the same moment through the REST API.

On SQLite (one writer at a time) six simultaneous triggers were answered five times with HTTP 500
(``database is locked``); the stack now keeps Airflow's metadata in PostgreSQL. Speed is not asserted
here (the deadline is generous, for a loaded 2-core machine): only that every submission is accepted
and every release is published."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import psutil
import pytest
from sample import PRELIMINARY
from test_stack import BUCKET, running_up

from devstack import postgres, stack

pytestmark = [pytest.mark.slow, pytest.mark.stack]

SUBMISSIONS = 20
# Generous: 20 releases of ~4 CPU-seconds each, 8 at a time, on a busy 2-core machine took ~5 minutes.
DEADLINE = 1200.0


def _call(method: str, url: str, body=None, token: str | None = None, timeout: float = 180.0):
    request = urllib.request.Request(
        url, data=None if body is None else json.dumps(body).encode(), method=method
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError as err:  # refused, reset, timed out: an API error too
        return 0, repr(err).encode()


def _airflow_database_urls(up) -> dict[str, str]:
    """The metadata database URL in the environment of each Airflow component the stack started
    (``.../bin/airflow <component>``; their children retitle themselves, which hides their environment)."""
    urls = {}
    for proc in up.family:
        try:
            argv = proc.cmdline()
            found = [i for i, arg in enumerate(argv) if arg.endswith("/bin/airflow")]
            if found and len(argv) > found[0] + 1:
                urls[argv[found[0] + 1]] = proc.environ().get(stack.DB_URL_VARIABLE, "")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return urls


@pytest.mark.skipif(bool(postgres.unavailable()), reason=postgres.unavailable() or "available")
def test_twenty_simultaneous_rest_submissions_are_all_accepted_and_published(stack_dir):
    with running_up(stack_dir) as up:
        pg_port = up.s3_port + stack.PG_PORT_OFFSET
        # Every Airflow component of the stack uses the stack's PostgreSQL.
        # (The api-server retitles itself too; the runs it creates are looked for in PostgreSQL below.)
        urls = _airflow_database_urls(up)
        assert {"scheduler", "dag-processor", "triggerer"} <= set(urls), urls
        assert len(set(urls.values())) == 1, urls
        url = urls.popitem()[1]
        assert url.startswith("postgresql+psycopg2://airflow:"), url.split(":")[0]
        assert url.endswith(f"@127.0.0.1:{pg_port}/airflow"), url.split("@")[-1]

        password = json.loads(stack.password_file(up.home).read_text())["admin"]
        status, body = _call("POST", f"{up.api}/auth/token", {"username": "admin", "password": password})
        assert status in (200, 201), body
        token = json.loads(body)["access_token"]

        ids = [f"2026-C{n:03d}" for n in range(SUBMISSIONS)]
        barrier = threading.Barrier(SUBMISSIONS)
        answers: dict[str, tuple[int, bytes]] = {}

        def submit(incident_id: str) -> None:
            conf = {**PRELIMINARY, "incident_id": incident_id, "headline": f"Incident {incident_id}"}
            barrier.wait()
            answers[incident_id] = _call(
                "POST",
                f"{up.api}/api/v2/dags/{stack.DAG_ID}/dagRuns",
                {"logical_date": None, "conf": conf},
                token,
            )

        threads = [threading.Thread(target=submit, args=(iid,)) for iid in ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        errors = {iid: (code, body[:300]) for iid, (code, body) in answers.items() if code != 200}
        assert errors == {}, f"{len(errors)} of {SUBMISSIONS} submissions were not accepted: {errors}"

        # The runs are in PostgreSQL: the API server wrote them there, not to a SQLite file.
        conn = postgres.connect(stack_dir / "pg", pg_port)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM dag_run WHERE dag_id = %s", (stack.DAG_ID,))
                assert cur.fetchone()[0] == SUBMISSIONS
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = 'airflow'")
                assert cur.fetchone()[0] > 1  # Airflow's components are connected, not only this test
        finally:
            conn.close()

        published: set[str] = set()
        deadline = time.monotonic() + DEADLINE
        runs_url = f"{up.api}/api/v2/dags/{stack.DAG_ID}/dagRuns?limit=100&state=failed"
        while published != set(ids) and time.monotonic() < deadline:
            for iid in sorted(set(ids) - published):
                url = f"{up.s3}/{BUCKET}/incidents/{iid}/v1.json"
                status, body = _call("GET", url, timeout=30)
                if status == 200:
                    record = json.loads(body)
                    assert (record["incident_id"], record["version"]) == (iid, 1)
                    published.add(iid)
            status, body = _call("GET", runs_url, token=token, timeout=60)
            failed = json.loads(body)["dag_runs"] if status == 200 else []
            assert failed == [], f"failed runs: {[r['conf']['incident_id'] for r in failed]}"
            time.sleep(2)
        assert published == set(ids), f"not published within {DEADLINE:.0f} s: {sorted(set(ids) - published)}"
    assert up.code == 0, up.output()[-3000:]

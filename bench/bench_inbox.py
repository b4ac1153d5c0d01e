"""Inbox -> public latency on a running stack (``make up``): how long from a file dropped into the
bucket's private ``inbox/`` until its statement is public?

For each of N files (default 10), one at a time on an otherwise idle stack: PUT an update document (a new
incident, stage preliminary) as ``inbox/<id>.json`` with the store's writer identity, then GET
``incidents/<id>/v1.json`` anonymously every 0.25 s until it answers 200; the latency is from just before
the PUT to that 200. Then it waits until the file is settled (its text replaced by a receipt in
``inbox/released/``) and the inbox DAG is idle again (no run queued or running, no event of its watcher
waiting, for 5 s), so each file meets an idle stack: the figure is
the event-driven start (``plugins/incident_inbox_watch.py``) plus the inbox and release DAGs' task starts,
not a queue.

It reads the ``incident_inbox`` DAG runs through the Airflow API (``--api``, as ``make up`` prints it; the
admin password from ``--airflow-home``) to wait for an idle DAG, and counts them: per file, and during
``--idle`` seconds with nothing in the inbox at the end (expected: none).

Example, against ``make up``:

    python bench/bench_inbox.py --endpoint http://127.0.0.1:9000 --data-dir .data/s3 \\
        --api http://127.0.0.1:8080 --airflow-home .airflow

Writes a Markdown section to stdout. Incident ids are ``BENCH-<time>-<n>``: the bench adds statements to
the site it runs against, so run it on a throw-away stack.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devstack.stack import EXAMPLE as DOCUMENT  # noqa: E402 - the document the stack's banner shows
from devstack.stack import _wait_for as wait  # noqa: E402 - polls ``done`` until true or ``timeout``


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - the stack's own endpoint
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


class Api:
    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url.rstrip("/")
        body = json.dumps({"username": user, "password": password}).encode()
        if not self.url.startswith(("http://", "https://")):
            raise SystemExit(f"--api {url}: an http:// or https:// URL")
        req = urllib.request.Request(f"{self.url}/auth/token", body, {"Content-Type": "application/json"})  # noqa: S310
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            self.token = json.load(resp)["access_token"]

    def runs(self, dag_id: str = "incident_inbox") -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=1000")["dag_runs"]

    def get(self, path: str) -> dict:
        req = urllib.request.Request(  # noqa: S310 - checked in __init__
            f"{self.url}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return json.load(resp)

    def busy(self) -> bool:
        """An inbox run queued or running, or an event of the watcher waiting for one."""
        active = [r for r in self.runs() if r["state"] in ("queued", "running")]
        return bool(active or self.get("/api/v2/dags/incident_inbox/assets/queuedEvents")["queued_events"])

    def idle(self, quiet: float = 5.0) -> bool:
        """Not busy, and still not ``quiet`` seconds later (the watcher polls every 2 s)."""
        if self.busy():
            return False
        time.sleep(quiet)
        return not self.busy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--endpoint", required=True, help="S3 endpoint of the stack, e.g. http://127.0.0.1:9000"
    )
    parser.add_argument("--bucket", default="incident-releases")
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="the store's data folder (credentials.json)"
    )
    parser.add_argument("-n", "--files", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for one file")
    parser.add_argument(
        "--api", required=True, help="Airflow API URL (to wait for an idle inbox DAG, count runs)"
    )
    parser.add_argument(
        "--airflow-home", type=Path, required=True, help="for the admin password (simple auth manager)"
    )
    parser.add_argument("--user", default="admin")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of empty inbox to count runs in")
    args = parser.parse_args(argv)

    import boto3

    creds = json.loads((args.data_dir / "credentials.json").read_text())["writer"]
    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
    )
    passwords = args.airflow_home / "simple_auth_manager_passwords.json.generated"
    api = Api(args.api, args.user, json.loads(passwords.read_text())[args.user])
    if not wait(api.idle, args.timeout, 1.0):
        print("the inbox DAG is still running: not an idle stack", file=sys.stderr)
        return 1
    stamp = time.strftime("%H%M%S")
    latencies: list[float] = []
    runs_per_file: list[int] = []
    for n in range(1, args.files + 1):
        incident = f"BENCH-{stamp}-{n:03d}"
        before = len(api.runs())
        started = time.monotonic()
        body = json.dumps({**DOCUMENT, "incident_id": incident}).encode()
        s3.put_object(Bucket=args.bucket, Key=f"inbox/{incident}.json", Body=body)
        url = f"{args.endpoint.rstrip('/')}/{args.bucket}/incidents/{incident}/v1.json"
        if not wait(lambda url=url: status(url) == 200, args.timeout):
            print(f"{incident}: not public within {args.timeout:.0f} s", file=sys.stderr)
            return 1
        latencies.append(time.monotonic() - started)
        text = {f"inbox/{incident}.json", f"inbox/processed/{incident}.json"}

        def settled(text=text) -> bool:
            """The file's text is gone from the inbox (replaced by a receipt) and the inbox DAG idle."""
            listed = s3.list_objects_v2(Bucket=args.bucket, Prefix="inbox/").get("Contents", [])
            return not text & {o["Key"] for o in listed} and api.idle()

        if not wait(settled, args.timeout, 0.5):
            print(f"{incident}: not settled within {args.timeout:.0f} s", file=sys.stderr)
            return 1
        runs_per_file.append(len(api.runs()) - before)
        print(f"{incident}: public after {latencies[-1]:.1f} s", file=sys.stderr, flush=True)

    before = len(api.runs())
    time.sleep(args.idle)
    idle_runs = len(api.runs()) - before
    ordered = sorted(latencies)
    print("# Inbox -> public latency\n")
    print(f"{len(latencies)} files, one at a time on an idle stack ({args.endpoint}):\n")
    print("| p50 | max | min | mean |\n|---|---|---|---|")
    print(
        f"| {statistics.median(ordered):.1f} s | {ordered[-1]:.1f} s | {ordered[0]:.1f} s "
        f"| {statistics.fmean(ordered):.1f} s |"
    )
    print(f"\nEach: {', '.join(f'{x:.1f}' for x in latencies)} s")
    print(f"\nincident_inbox DAG runs per file: {runs_per_file}")
    print(f"incident_inbox DAG runs during {args.idle:.0f} s of empty inbox: {idle_runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

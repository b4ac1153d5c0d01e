"""No credential ends up in a public object or a log line."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import all_objects
from sample import CORRECTION, PRELIMINARY, UPDATE

AIRFLOW_PASSWORD = "airflow-canary-pw-456"  # noqa: S105


def test_no_credential_in_public_objects_or_logs(release_dag, bucket, seaweed, monkeypatch, capfd):
    # The store's credentials are random and distinctive: the connection carries the writer's, the
    # test process the admin's. Neither may leak.
    writer, admin = seaweed.credentials("writer"), seaweed.credentials("admin")
    monkeypatch.setenv("RELEASES_API_PASSWORD", AIRFLOW_PASSWORD)
    for conf in (PRELIMINARY, UPDATE, CORRECTION):
        release_dag.test(run_conf=conf)
    # A refused release logs its refusal: that log line is scanned too.
    release_dag.test(run_conf={**UPDATE, "stage": "preliminary"}, refused=True)
    captured = capfd.readouterr()
    log_files = [p for p in Path(os.environ["AIRFLOW_HOME"]).rglob("*.log") if p.is_file()]
    logs = captured.out + captured.err + "".join(p.read_text(errors="replace") for p in log_files)
    objects = all_objects(bucket)

    # The scan is not vacuous: the runs did log, and did publish.
    assert "incident_release" in logs and "release" in logs
    assert len(objects) > 20
    secrets = (writer["access_key"], writer["secret_key"], admin["access_key"], admin["secret_key"])
    for secret in (*secrets, AIRFLOW_PASSWORD):
        assert secret not in logs
        for key, body in objects.items():
            assert secret.encode() not in body, key

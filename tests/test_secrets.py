"""No credential ends up in a public object or a log line."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import all_objects
from sample import CORRECTION, PRELIMINARY, UPDATE

KEY_ID = "AKIADISTINCTKEY12345"
SECRET = "sEcReT-distinct/xyz+123"  # noqa: S105 - a canary, not a real secret
AIRFLOW_PASSWORD = "airflow-canary-pw-456"  # noqa: S105


def test_no_credential_in_public_objects_or_logs(release_dag, bucket, s3_endpoint, monkeypatch, capfd):
    # moto accepts any credentials: give the connection distinctive ones to look for.
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        f'{{"conn_type": "aws", "login": "{KEY_ID}", "password": "{SECRET}", '
        f'"extra": {{"region_name": "us-east-1", "endpoint_url": "{s3_endpoint}"}}}}',
    )
    monkeypatch.setenv("RELEASES_API_PASSWORD", AIRFLOW_PASSWORD)
    for conf in (PRELIMINARY, UPDATE, CORRECTION, {**UPDATE, "stage": "preliminary"}):
        release_dag.test(run_conf=conf)
    captured = capfd.readouterr()
    log_files = [p for p in Path(os.environ["AIRFLOW_HOME"]).rglob("*.log") if p.is_file()]
    logs = captured.out + captured.err + "".join(p.read_text(errors="replace") for p in log_files)
    objects = all_objects(bucket)

    # The scan is not vacuous: the runs did log, and did publish.
    assert "incident_release" in logs and "refresh_views" in logs
    assert len(objects) > 20
    for secret in (KEY_ID, SECRET, AIRFLOW_PASSWORD):
        assert secret not in logs
        for key, body in objects.items():
            assert secret.encode() not in body, key

"""Airflow's REST API refuses calls without a valid token (what releases submit relies on)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def api(airflow_db):
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    return TestClient(create_app())


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v2/dags"),
        ("POST", "/api/v2/dags/incident_release/dagRuns"),
        ("PATCH", "/api/v2/dags/incident_release"),
    ],
    ids=["list-dags", "trigger-release", "unpause"],
)
@pytest.mark.parametrize(
    "token", [None, "not-a-token", "eyJhbGciOiJIUzI1NiJ9.e30.forged"], ids=["none", "garbage", "forged"]
)
def test_calls_without_a_valid_token_are_refused(api, method, path, token):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"logical_date": None, "conf": {"incident_id": "2026-0142", "stage": "preliminary"}}
    resp = api.request(method, path, headers=headers, json=body if method != "GET" else None)
    assert resp.status_code in (401, 403), resp.text

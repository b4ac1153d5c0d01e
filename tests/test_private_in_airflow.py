"""Withheld text never reaches what Airflow keeps (issue 11, must-show 2), tried against `make up`'s real
stack: a PIO submits with ``releases submit`` a statement that names a juvenile and lists the name under
``withheld``; a user with the viewer role then reads the run, its task instances, every log, every XCom
and the audit log's record of the trigger through the REST API and finds the name 0 times, but sees that
something was withheld and its category. The same for a redaction submitted with ``releases redact``. A document that sends the text
unsealed straight to the REST API is refused before a run (and its conf) exists.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from sample import PRELIMINARY
from test_inbox_stack import make_up

from releases import cli

NAME = "Jamie Doe"
CATEGORY = "juvenile's name"
pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """`make up` (python -m devstack up) on free ports, as a PIO runs it; stopped with Ctrl-C."""
    with make_up(tmp_path_factory.mktemp("stack")) as up:
        passwords = json.loads((up["home"] / "simple_auth_manager_passwords.json.generated").read_text())
        yield {
            "api": up["api"],
            "public": f"{up['s3']}/incident-releases",
            "passwords": passwords,
            "log": up["log"],
        }


def as_pio(monkeypatch, running) -> None:
    monkeypatch.setenv("RELEASES_API_URL", running["api"])
    monkeypatch.setenv("RELEASES_S3_ENDPOINT", running["public"].rsplit("/", 1)[0])
    monkeypatch.delenv("RELEASES_PUBLIC_URL", raising=False)
    monkeypatch.setenv("RELEASES_API_USER", "pio")
    monkeypatch.setenv("RELEASES_API_PASSWORD", running["passwords"]["pio"])


def token(running, user: str) -> str:
    body = json.dumps({"username": user, "password": running["passwords"][user]}).encode()
    req = urllib.request.Request(
        f"{running['api']}/auth/token", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read())["access_token"]


def get(running, auth: str, path: str) -> str:
    req = urllib.request.Request(f"{running['api']}{path}", headers={"Authorization": f"Bearer {auth}"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200, path
        return resp.read().decode()


def what_a_viewer_reads(running, dag_id: str, run_id: str, incident_id: str) -> dict[str, str]:
    """Every answer the REST API gives the viewer about one run: the run, the runs list, the task
    instances, each try's whole log, each XCom entry with its value, and the audit log's entries about
    the incident (Airflow's audit log keeps the body of each REST call, the trigger's conf included)."""
    viewer = token(running, "auditor")
    base = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
    seen = {"run": get(running, viewer, base), "runs": get(running, viewer, f"/api/v2/dags/{dag_id}/dagRuns")}
    audit = json.loads(get(running, viewer, f"/api/v2/eventLogs?dag_id={dag_id}&limit=1000"))["event_logs"]
    about = [e for e in audit if incident_id in (e.get("extra") or "")]
    assert about, "the audit log records the trigger, with its document"
    seen["audit log"] = json.dumps(about)
    tis = json.loads(get(running, viewer, f"{base}/taskInstances"))["task_instances"]
    seen["task instances"] = json.dumps(tis)
    for ti in tis:
        for attempt in range(1, ti["try_number"] + 1):
            path = f"{base}/taskInstances/{ti['task_id']}/logs/{attempt}?full_content=true"
            seen[f"log {ti['task_id']} {attempt}"] = get(running, viewer, path)
        entries = json.loads(get(running, viewer, f"{base}/taskInstances/{ti['task_id']}/xcomEntries"))
        for entry in entries["xcom_entries"]:
            path = f"{base}/taskInstances/{ti['task_id']}/xcomEntries/{entry['key']}?deserialize=true"
            seen[f"xcom {ti['task_id']} {entry['key']}"] = get(running, viewer, path)
    return seen


def mentions(text: str) -> int:
    folded = text.lower()
    return folded.count("jamie doe") + folded.count("doe, jamie") + folded.count("jamie\\u00a0doe")


def run_id_from(out: str, dag_id: str) -> str:
    return re.search(rf"triggered {dag_id} run (\S+)", out)[1]


def test_a_viewer_never_reads_withheld_text_of_a_release(running, monkeypatch, capsys, tmp_path):
    as_pio(monkeypatch, running)
    doc = {
        **PRELIMINARY,
        "incident_id": "2026-7001",
        "summary": f"{NAME}, 15, was injured.",
        "body": f"Officers found {NAME}, 15, injured near 5th St and Main St.\n\nDoe, Jamie was taken to a hospital.",
        "withheld": [{"category": CATEGORY, "text": NAME}],
    }
    (tmp_path / "release.json").write_text(json.dumps(doc))
    assert cli.main(["submit", str(tmp_path / "release.json"), "--timeout", "300"]) == 0
    run_id = run_id_from(capsys.readouterr().out, "incident_release")

    seen = what_a_viewer_reads(running, "incident_release", run_id, "2026-7001")
    assert {k: n for k, text in seen.items() if (n := mentions(text))} == {}
    # What the viewer does see: that text was withheld, and its category, in the run's document.
    conf = json.loads(seen["run"])["conf"]
    assert [item["category"] for item in conf["withheld"]] == [CATEGORY]
    assert all(item["sealed"].startswith("sealed:v1:") for item in conf["withheld"])
    assert f"[withheld: {CATEGORY}]" in conf["body"]
    # The viewer really read the logs: each task's log names the task's work.
    assert all(len(text) > 200 for key, text in seen.items() if key.startswith("log "))
    assert sum(key.startswith("log ") for key in seen) == 1  # one task per release


def test_a_viewer_never_reads_the_text_a_redaction_removes(running, monkeypatch, capsys, tmp_path):
    as_pio(monkeypatch, running)
    published = {**PRELIMINARY, "incident_id": "2026-7002", "summary": f"{NAME}, 15, was injured."}
    (tmp_path / "release.json").write_text(json.dumps(published))
    assert cli.main(["submit", str(tmp_path / "release.json"), "--timeout", "300"]) == 0
    request = {
        "incident_id": "2026-7002",
        "remove": [{"category": "name", "text": NAME}],
        "reason": "The person named is a juvenile; the name may not be published.",
    }
    (tmp_path / "redaction.json").write_text(json.dumps(request))
    capsys.readouterr()
    assert cli.main(["redact", str(tmp_path / "redaction.json"), "--timeout", "300"]) == 0
    out = capsys.readouterr().out
    run_id = run_id_from(out, "incident_redaction")
    # The release that published the name carried it in its run's document: the PIO is told which runs.
    assert "Airflow still holds the text in the documents of the runs that published it" in out
    assert re.search(r"^  incident_release/\S+$", out, re.M)

    seen = what_a_viewer_reads(running, "incident_redaction", run_id, "2026-7002")
    assert {k: n for k, text in seen.items() if (n := mentions(text))} == {}
    assert [item["category"] for item in json.loads(seen["run"])["conf"]["remove"]] == ["name"]
    with urllib.request.urlopen(f"{running['public']}/incidents/2026-7002/v1.json") as resp:
        assert mentions(resp.read().decode()) == 0


def test_unsealed_withheld_text_sent_to_the_rest_api_is_refused_before_a_run_exists(running):
    """Refused before a run exists. Airflow's audit log still keeps the request's body (README says so):
    the way to keep text out of Airflow is to send it sealed."""
    pio = token(running, "pio")
    doc = {**PRELIMINARY, "incident_id": "2026-7003", "withheld": [{"category": CATEGORY, "text": NAME}]}
    req = urllib.request.Request(
        f"{running['api']}/api/v2/dags/incident_release/dagRuns",
        data=json.dumps({"logical_date": None, "conf": doc}).encode(),
        headers={"Authorization": f"Bearer {pio}", "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req)
    assert refused.value.code == 400
    assert "withheld" in refused.value.read().decode()
    runs = json.loads(get(running, token(running, "auditor"), "/api/v2/dags/incident_release/dagRuns"))
    assert not [r for r in runs["dag_runs"] if (r.get("conf") or {}).get("incident_id") == "2026-7003"]

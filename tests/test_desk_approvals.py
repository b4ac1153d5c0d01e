"""Issue 16, items 2 and 3, found by a PIO's trial: the desk offered Approve/Reject to the submitter of a
correction (their approval is refused as ``approval.same_person``, which ended the release) and its outcome
then said "another release may have come first"; the approver could not write a note, and a rejection did
not say who or why. The desk's calls, against a fake of Airflow's REST API (what it answers is the shape
Airflow 3.3's routes answer; the stack tests check the real one). Also the desk's scheduled releases and
their Cancel, and the attack findings on the desk's requests (a body of any size, a forged approval listed
as waiting)."""

from __future__ import annotations

import json

import httpx
import pytest

from releases import approval, checklist
from releases.runs import desk_outcome

RUN = "2026-0142-v2-corrected-20261127T181005Z"


class User:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name

    def get_id(self):
        return self.name


def hitl_detail(run_id=RUN, state="awaiting_input"):
    return {
        "task_instance": {"dag_run_id": run_id, "task_id": "approve", "map_index": -1, "state": state},
        "options": ["Approve", "Reject"],
        "subject": "Approve the release of 2026-0142 v2 (corrected)?",
        "body": "**2026\\-0142 version 2 (corrected)**",
        "response_received": False,
    }


def fake_airflow(runs: dict[str, dict], answers: dict[str, dict] | None = None, outcome=None):
    """Airflow's REST API as the desk calls it: waiting approvals, runs, task states, XComs, answers."""
    seen = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        base = "/api/v2/dags/incident_release/dagRuns"
        if path == f"{base}/~/hitlDetails":
            # As Airflow answers: unanswered requests, whatever their task's state unless asked by state.
            waiting = [
                hitl_detail(r, runs[r].get("approve_state", "awaiting_input"))
                for r in runs
                if runs[r].get("state") == "running"
            ]
            if states := request.url.params.get_list("state"):
                waiting = [d for d in waiting if d["task_instance"]["state"] in states]
            return httpx.Response(200, json={"hitl_details": waiting, "total_entries": len(waiting)})
        if path == f"{base}/~/taskInstances":
            found = [
                {"dag_run_id": r, **t}
                for r in runs
                for t in runs[r]["tasks"]
                if t["task_id"] == request.url.params.get("task_id")
                and t["state"] == request.url.params.get("state")
            ]
            return httpx.Response(200, json={"task_instances": found, "total_entries": len(found)})
        run_id, _, rest = path.removeprefix(base + "/").partition("/")
        if run_id not in runs:
            return httpx.Response(404, json={"detail": "not found"})
        if not rest and request.method == "PATCH":
            runs[run_id]["patched"] = json.loads(request.content)
            return httpx.Response(200, json={"dag_run_id": run_id, **runs[run_id]})
        if not rest:
            return httpx.Response(200, json={"dag_run_id": run_id, **runs[run_id]})
        if rest.startswith("taskInstances/") and rest.count("/") == 1:
            for t in runs[run_id]["tasks"]:
                if t["task_id"] == rest.split("/")[1]:
                    return httpx.Response(200, json=t)
            return httpx.Response(404, json={"detail": "not found"})
        if rest == "taskInstances/release/xcomEntries/plan" and "plan" in runs[run_id]:
            return httpx.Response(200, json={"value": runs[run_id]["plan"]})
        if rest == "taskInstances":
            return httpx.Response(200, json={"task_instances": runs[run_id]["tasks"]})
        if (
            rest.endswith("xcomEntries/outcome")
            and outcome
            and rest.startswith(f"taskInstances/{outcome[0]}/")
        ):
            return httpx.Response(200, json={"value": outcome[1]})
        if rest == "taskInstances/approve/-1/hitlDetails" and answers and run_id in answers:
            return httpx.Response(200, json=answers[run_id])
        return httpx.Response(404, json={"detail": "not found"})

    return handle, seen


@pytest.fixture
def desk(monkeypatch):
    """The desk's app as Airflow mounts it, signed in as ``who`` (Airflow's own dependencies replaced)."""
    import airflow  # noqa: F401 - puts the plugins folder on sys.path, as in every Airflow component
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient
    from release_desk import create_app, desk
    from release_desk.security import may_release

    def client(who: str, handler) -> TestClient:
        app = create_app()
        app.dependency_overrides[may_release.dependency] = lambda: None
        app.dependency_overrides[get_user] = lambda: User(who)
        monkeypatch.setattr(
            desk, "_client", lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler))
        )
        return TestClient(app)

    return client


WAITING = {
    RUN: {
        "state": "running",
        "triggering_user_name": "pio",
        "conf": {"incident_id": "2026-0142", "stage": "corrected", "checklist": list(checklist.read().ids)},
        "tasks": [],
    }
}


def test_the_submitter_is_not_offered_approve_or_reject_and_is_told_why(desk):
    handler, _ = fake_airflow(WAITING)
    answer = desk("pio", handler).get("/api/approvals").json()
    [row] = answer["approvals"]
    assert (row["run_id"], row["submitted_by"], row["options"]) == (RUN, "pio", [])
    assert row["why_not"] == "You submitted this: another person must approve it"


def test_another_person_gets_the_buttons_with_the_submitter_and_the_checklist_s_words(desk):
    handler, _ = fake_airflow(WAITING)
    [row] = desk("approver", handler).get("/api/approvals").json()["approvals"]
    assert row["options"] == ["Approve", "Reject"] and row["why_not"] is None
    assert row["submitted_by"] == "pio"
    assert row["checklist"] == [i.text for i in checklist.read().items]


def test_the_page_sends_the_approver_s_note_and_shows_the_submitter_s_row_without_buttons():
    """The page's part (its script; the browser test at the next merge drives it): the note box's text
    goes into ``params_input.note``, and a row with ``why_not`` shows that sentence and no buttons."""
    from conftest import ROOT

    page = (ROOT / "plugins" / "release_desk" / "page.html").read_text()
    script = page[page.index("async function loadApprovals()") : page.index("async function start()")]
    assert 'openList("approvals", "approval-list"' in script
    assert "params_input: {note: note.value}" in script
    assert (
        'if (d.why_not) { box.append(el("p", {class: "why-not"}, d.why_not)); list.append(box); continue; }'
        in (script)
    )
    assert "Submitted by ${d.submitted_by}" in script


def test_a_run_refused_because_the_submitter_approved_it_says_so(desk):
    runs = {RUN: {"state": "success", "triggering_user_name": "pio", "conf": {}, "tasks": []}}
    refusal = approval.ApprovalRefused("approval", "pio submitted this release ...", "approval.same_person")
    from releases.checks import refused

    handler, _ = fake_airflow(runs, outcome=("publish", refused(refusal)))
    got = desk("pio", handler).get(f"/api/runs/{RUN}").json()
    assert got["outcome"] == "refused"
    assert got["message"] == (
        "Not released: You submitted this: another person must approve it (your own approval does not "
        "count). Nothing was published: submit it again and ask another person to approve it."
    )
    assert "another release may have come first" not in got["message"].lower()


def test_a_run_whose_plan_was_changed_in_airflow_says_so_not_cancelled(desk):
    """A plan changed after ``release`` sealed it fails the task that read it (here the wait, which the
    desk would otherwise read as a cancelled schedule): the desk finds that task's outcome and says what
    happened."""
    runs = {
        RUN: {
            "state": "failed",
            "triggering_user_name": "pio",
            "conf": {},
            "tasks": [
                {"task_id": "release", "state": "success"},
                {"task_id": "approve", "state": "success"},
                {"task_id": "wait_for_release_at", "state": "failed"},
                {"task_id": "publish", "state": "upstream_failed"},
            ],
        }
    }
    refusal = approval.Tampered("approval", "what this release planned ... was changed", "approval.tampered")
    from releases.checks import refused

    handler, _ = fake_airflow(runs, outcome=("wait_for_release_at", refused(refusal)))
    got = desk("pio", handler).get(f"/api/runs/{RUN}").json()
    assert got["outcome"] == "refused", got
    assert got["message"].startswith("Not released: what this release planned (its version, the approver's")
    assert "the operators were alerted" in got["message"]


def test_a_rejection_says_who_rejected_it_and_their_note(desk):
    runs = {
        RUN: {
            "state": "success",
            "triggering_user_name": "pio",
            "conf": {},
            "tasks": [{"task_id": "approve", "state": "success"}, {"task_id": "publish", "state": "skipped"}],
        }
    }
    answer = {
        "chosen_options": ["Reject"],
        "params_input": {"note": "The name in paragraph 2 is a juvenile's."},
        "responded_by_user": {"id": "approver", "name": "approver"},
    }
    handler, seen = fake_airflow(runs, answers={RUN: answer})
    got = desk("pio", handler).get(f"/api/runs/{RUN}").json()
    assert got["outcome"] == "rejected"
    assert (
        got["message"]
        == "Rejected by approver: The name in paragraph 2 is a juvenile's. Nothing was published."
    )


def test_the_desk_s_outcome_words():
    stage = {
        "outcome": "refused",
        "refusals": [
            {
                "field": "stage",
                "title": "Stage",
                "rule": "stage.second_preliminary",
                "message": "2026-0142 already has a preliminary release",
            }
        ],
    }
    assert desk_outcome(stage) == (
        "Not released, nothing was published: the release refused the statement when it ran. Stage: 2026-0142 "
        "already has a preliminary release. Another release may have come first: check it again."
    )
    assert desk_outcome(None, {"chosen_options": ["Reject"], "responded_by_user": {"name": "sgt"}}) == (
        "Rejected by sgt. Nothing was published."
    )
    assert desk_outcome(None, {"chosen_options": ["Approve"]}) is None


def test_the_approval_request_names_the_submitter_and_the_checklist_they_confirmed(bucket):
    from sample import PRELIMINARY

    from releases import pipeline
    from releases.settings import load

    cfg = load()
    doc = {**PRELIMINARY, "checklist": list(cfg.checklist().ids)}
    planned = pipeline.plan(doc, bucket, cfg, key="run-1", submitted_by="pio")
    text = planned["preview"]
    assert "Submitted by pio\n" in text
    expected = "Checklist confirmed by the submitter:\n" + "\n".join(
        f"- {approval.literal(i.text)}" for i in cfg.checklist().items
    )
    assert expected in text
    assert "Checklist: none confirmed." in pipeline.plan(PRELIMINARY, bucket, cfg, key="r2")["preview"]
    json.dumps(planned)  # an XCom: plain JSON


def test_the_hidden_attribute_wins_over_the_page_s_own_display_rules():
    """Issue 16, item 4: ``label { display: block }`` overrode ``hidden``, so every "is right as it is:
    keep it unchanged" row showed on a first statement. The page's stylesheet makes ``hidden`` win over
    every display rule of its own (the browser test checks the rows are not visible)."""
    import re

    from conftest import ROOT

    page = (ROOT / "plugins" / "release_desk" / "page.html").read_text()
    style = page[page.index("<style>") : page.index("</style>")]
    assert re.search(r"\[hidden\]\s*\{\s*display:\s*none\s*!important;?\s*\}", style)
    # The rows it hides are made with the attribute (not a class of their own that could be styled).
    assert 'el("label", {class: "keep-row", hidden: ""' in page


def test_a_privacy_refusal_on_the_desk_says_what_the_pio_can_do_there(desk, bucket, monkeypatch):
    """Issue 16, item 6: the desk said "add a privacy override with category phone ... (at character 97)",
    though it has no override control. On the desk (preview, submit) the refusal names what was found and
    says: remove it or withhold it; an override needs the trigger form or ``releases submit``. No run is
    made. The REST validation endpoint, like ``releases validate``, keeps the full sentence."""
    from release_desk import validation
    from sample import PRELIMINARY

    monkeypatch.setattr(validation, "open_store", lambda cfg: bucket)
    handler, seen = fake_airflow({})
    client = desk("pio", handler)
    doc = {**PRELIMINARY, "body": PRELIMINARY["body"] + "\n\nWitnesses may call 555-867-5309."}
    ids = list(checklist.read().ids)
    for path in ("/api/submit", "/api/preview"):
        answer = client.post(path, json={"document": doc, "checklist": ids}).json()
        assert answer["ok"] is False
        [refusal] = answer["refusals"]
        assert (refusal["field"], refusal["rule"]) == ("body", "privacy.phone")
        assert refusal["message"] == (
            "contains what looks like a phone number other than the agency's, \u201c555-867-5309\u201d: remove "
            "it, or add it under \u201cWithheld from publication\u201d so it is shown as \u201c[withheld: ...]\u201d. "
            "If it must be published as it is, that needs a privacy override with a written reason, which the "
            "desk does not take: submit the statement from Airflow's trigger form or with `releases submit` "
            "instead"
        )
        assert "character" not in refusal["message"]
    assert seen == []  # no run asked for
    [endpoint] = client.post("/api/validate", json={**doc, "checklist": ids}).json()["refusals"]
    assert endpoint["rule"] == "privacy.phone" and "(at character" in endpoint["message"]
    assert "add a privacy override with category phone" in endpoint["message"]


def test_a_request_whose_approve_task_was_marked_done_by_hand_is_not_listed_as_waiting(desk):
    """Attack finding: a run whose approve task was forced to success (its release then refused as
    approval.missing) stayed in "Waiting for approval" with Approve/Reject, though nothing waits on it."""
    runs = {**WAITING, "forged": {**WAITING[RUN], "approve_state": "success"}}
    handler, seen = fake_airflow(runs)
    rows = desk("approver", handler).get("/api/approvals").json()["approvals"]
    assert [r["run_id"] for r in rows] == [RUN]
    assert seen[0].url.params.get_list("state") == ["awaiting_input", "deferred"]


SCHEDULED = "2026-0142-v2-updated-20261127T180000Z"


def scheduled_runs(wait_state="deferred"):
    return {
        SCHEDULED: {
            "state": "running",
            "triggering_user_name": "pio",
            "conf": {"incident_id": "2026-0142", "stage": "updated", "summary": "Stable."},
            "tasks": [
                {"task_id": "release", "state": "success"},
                {"task_id": "wait_for_release_at", "state": wait_state},
            ],
            "plan": {
                "incident_id": "2026-0142",
                "version": 2,
                "stage": "updated",
                "headline": "Officer-involved shooting near 5th St and Main St",
                "release_at": "2026-12-01T14:00:00+00:00",
            },
        }
    }


def test_the_desk_lists_the_releases_waiting_for_their_time_in_the_agency_s_zone(desk, monkeypatch):
    monkeypatch.setenv("RELEASES_TIMEZONE", "America/New_York")
    handler, _ = fake_airflow(scheduled_runs())
    answer = desk("pio", handler).get("/api/scheduled").json()
    assert answer["zone"] == "America/New_York"
    assert answer["scheduled"] == [
        {
            "run_id": SCHEDULED,
            "incident_id": "2026-0142",
            "version": 2,
            "stage": "updated",
            "headline": "Officer-involved shooting near 5th St and Main St",
            "release_at": "2026-12-01T14:00:00+00:00",
            "local_time": "2026-12-01 09:00 EST",
            "submitted_by": "pio",
        }
    ]
    handler, _ = fake_airflow(scheduled_runs("success"))  # its time came: no longer listed
    assert desk("pio", handler).get("/api/scheduled").json()["scheduled"] == []


def test_cancel_marks_a_waiting_release_s_run_failed_as_the_pio_and_nothing_else(desk):
    runs = scheduled_runs()
    handler, seen = fake_airflow(runs)
    client = desk("pio", handler)
    # Not JSON: refused before Airflow is asked (another origin cannot send JSON without a preflight).
    assert client.post(f"/api/scheduled/{SCHEDULED}/cancel", content=b"").status_code == 415
    assert seen == []
    got = client.post(f"/api/scheduled/{SCHEDULED}/cancel", json={})
    assert got.status_code == 200 and got.json() == {"run_id": SCHEDULED, "cancelled": True}
    assert runs[SCHEDULED]["patched"]["state"] == "failed"
    assert "Cancelled on the release desk by pio" in runs[SCHEDULED]["patched"]["note"]
    # A release no longer waiting for its time (published, or waiting for approval) is not touched.
    runs = scheduled_runs("success")
    handler, _ = fake_airflow(runs)
    got = desk("pio", handler).post(f"/api/scheduled/{SCHEDULED}/cancel", json={})
    assert got.status_code == 409 and "not waiting for its release time" in got.json()["detail"]
    assert "patched" not in runs[SCHEDULED]


def test_a_cancelled_run_says_so_on_the_desk(desk):
    runs = scheduled_runs("skipped")
    runs[SCHEDULED]["state"] = "failed"
    handler, _ = fake_airflow(runs)
    assert desk("pio", handler).get(f"/api/runs/{SCHEDULED}").json()["outcome"] == "cancelled"


@pytest.mark.parametrize("path", ["/api/preview", "/api/submit"])
def test_a_desk_request_over_256_kib_is_refused_plainly_and_nothing_is_checked(desk, path, monkeypatch):
    """Attack finding: the preview read a body of any size whole. Both desk requests stop reading past
    256 KiB and say so; the check (which reads the store) is not run."""
    from release_desk import desk as module

    checked = []
    monkeypatch.setattr(module, "verdict", lambda *a: checked.append(a))
    handler, seen = fake_airflow({})
    body = json.dumps({"document": {"body": "x" * (300 * 1024)}}).encode()
    got = desk("pio", handler).post(path, content=body, headers={"Content-Type": "application/json"})
    assert got.status_code == 413
    assert got.json() == {"detail": "the request is larger than 256 KiB: nothing was checked"}
    assert checked == [] and seen == []


def test_a_template_s_placeholder_left_in_is_refused_by_preview_and_submit_and_no_run_is_made(
    desk, bucket, monkeypatch
):
    """Issue 16's PIO trial published "Officer-involved shooting near <location>" from the desk's own
    template. Preview and submit refuse it next to the field; nothing reaches Airflow."""
    from release_desk import validation
    from sample import PRELIMINARY

    monkeypatch.setattr(validation, "open_store", lambda cfg: bucket)
    template = json.loads((validation.TEMPLATES / "officer-involved-shooting.json").read_text())
    handler, seen = fake_airflow({})
    client = desk("pio", handler)
    doc = {**PRELIMINARY, "headline": template["fields"]["headline"], "body": template["fields"]["body"]}
    ids = list(checklist.read().ids)
    for path in ("/api/submit", "/api/preview"):
        answer = client.post(path, json={"document": doc, "checklist": ids}).json()
        assert answer["ok"] is False
        assert [(r["field"], r["rule"]) for r in answer["refusals"]] == [
            ("headline", "text.placeholder"),
            ("body", "text.placeholder"),
        ]
        assert "“<location>”" in answer["refusals"][0]["message"]
    assert seen == []  # no run asked for

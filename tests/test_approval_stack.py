"""Approval and scheduled release through a real `make up` stack (issue 16 must-show 4 and the DAG half of 1):
the PIO submits through Airflow's REST API, a second user answers the human-in-the-loop request through the
same API, and what is public is read anonymously from the store, as a reader would."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sample import CORRECTION, PRELIMINARY
from test_stack import BUCKET, anonymous_get, running_up

from devstack import stack

DAG = "incident_release"


# How long after the request appears the approver answers, as a person would. Airflow 3.3.2 with the
# LocalExecutor: an answer that resumes the task while the worker process that parked it has not yet exited
# (seen 5 s after parking under load) makes the scheduler take that process's late "success" event for the
# resumed try, mark it up for retry and ask again ("executor reported that the task instance finished with
# state success, but the task instance's state attribute is running"): the answer is lost, never counted.
ANSWER_AFTER = 20


class Api:
    def __init__(self, up):
        self.up = up
        passwords = json.loads(stack.password_file(up.home).read_text())
        self.tokens = {
            u: stack.api_token(up.api, u, p) for u, p in passwords.items() if u in ("pio", "approver")
        }

    def call(self, user, method, path, body=None):
        return stack._http(method, f"{self.up.api}/api/v2{path}", body, token=self.tokens[user])

    def desk(self, user, method, path, body=None):
        """The release desk's own API (plugins/release_desk), as its page calls it."""
        return stack._http(method, f"{self.up.api}/release-desk/api{path}", body, token=self.tokens[user])

    def trigger(self, run_id, conf, user="pio"):
        code, answer = self.call(
            user, "POST", f"/dags/{DAG}/dagRuns", {"logical_date": None, "dag_run_id": run_id, "conf": conf}
        )
        assert code == 200, answer
        return run_id

    def task_state(self, run_id, task_id):
        code, answer = self.call("pio", "GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}")
        return (
            answer.get("state") if code == 200 else None
        )  # a slow answer (0) on a loaded machine: ask again

    def wait_task(self, run_id, task_id, states, timeout=240):
        assert stack._wait_for(lambda: self.task_state(run_id, task_id) in states, timeout, 1.0), (
            run_id,
            task_id,
            self.task_state(run_id, task_id),
        )

    def run_state(self, run_id):
        code, answer = self.call("pio", "GET", f"/dags/{DAG}/dagRuns/{run_id}")
        return answer.get("state") if code == 200 else None

    def wait_run(self, run_id, timeout=600):
        """The run's state once it ended, or its state then (the caller's assertion shows why(): each task's
        state). Generous: on a loaded 2-core machine an answered request waits for the triggerer's poll and a
        free worker slot before the task resumes."""
        stack._wait_for(lambda: self.run_state(run_id) in ("success", "failed"), timeout, 1.0)
        return self.run_state(run_id)

    def why(self, run_id):
        """Each task's state, and the log of those that failed (for an assertion's message)."""
        _, tis = self.call("pio", "GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")
        out = []
        for ti in tis.get("task_instances", []) if isinstance(tis, dict) else []:
            out.append(f"{ti['task_id']}: {ti['state']}")
            if ti["state"] == "failed":
                path = f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
                out.append(str(self.call("pio", "GET", path + "?full_content=true")[1])[-3000:])
        return "\n".join(out)

    def note(self, run_id):
        """The run's note, written by the scheduler as the run ends (plugins/release_feedback.py)."""
        answer = {}
        stack._wait_for(
            lambda: (
                (answer.update(self.call("pio", "GET", f"/dags/{DAG}/dagRuns/{run_id}")[1] or {}))
                or answer.get("note")
            ),
            60,
            1.0,
        )
        return answer.get("note") or ""

    def answer(self, run_id, user, option, note=""):
        time.sleep(ANSWER_AFTER)
        return self.call(
            user,
            "PATCH",
            f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
            {"chosen_options": [option], "params_input": {"note": note}},
        )


def record(up, incident, version):
    code, body, _ = anonymous_get(f"{up.s3}/{BUCKET}/incidents/{incident}/v{version}.json")
    return json.loads(body) if code == 200 else None


@pytest.mark.stack
def test_approval_and_scheduled_release_on_a_real_stack(stack_dir, monkeypatch):
    monkeypatch.setenv("RELEASES_APPROVAL_STAGES", "corrected")
    incident = "2026-0916"
    with running_up(stack_dir) as up:
        api = Api(up)
        first = api.trigger("t-v1-preliminary", {**PRELIMINARY, "incident_id": incident})
        assert api.wait_run(first) == "success", api.why(first)
        # A preliminary needs no second person and no wait: published by ``release`` alone (one task start).
        assert api.task_state(first, "release") == "success"
        assert [api.task_state(first, t) for t in ("approve", "wait_for_release_at", "publish")] == [
            "skipped"
        ] * 3
        assert record(up, incident, 1)["released_by"] == "pio"

        # A correction waits for approval; the request shows the preview; the submitter cannot approve it.
        correction = {**CORRECTION, "incident_id": incident}
        own = api.trigger("t-v2-corrected-own", correction)
        api.wait_task(own, "approve", ("awaiting_input",))
        code, detail = api.call(
            "pio", "GET", f"/dags/{DAG}/dagRuns/{own}/taskInstances/approve/-1/hitlDetails"
        )
        assert code == 200 and "6th St and Main St" in detail["body"] and "location" in detail["body"]
        code, answer = api.answer(own, "pio", "Approve")
        assert code == 200, answer
        assert api.wait_run(own) == "success", api.why(own)
        assert api.task_state(own, "publish") == "skipped"
        assert record(up, incident, 2) is None  # refused: the approver was the submitter

        # Rejected by the approver: nothing published.
        rejected = api.trigger("t-v2-corrected-rejected", correction)
        api.wait_task(rejected, "approve", ("awaiting_input",))
        assert api.answer(rejected, "approver", "Reject", "Wait for the video review.")[0] == 200
        assert api.wait_run(rejected) == "success", api.why(rejected)
        assert api.task_state(rejected, "publish") == "skipped"
        assert record(up, incident, 2) is None
        assert api.note(rejected) == "Rejected by approver, nothing published: Wait for the video review."
        assert api.note(own).startswith(
            "Refused, nothing published:\n\n- Approval: pio submitted this release and cannot"
        )

        # An attack from a fresh clone: the PIO forges the approver's answer in the approve task's XComs and
        # marks the task done by hand. The publishing task trusts only the answer the approval step of this
        # run sealed: refused, nothing published.
        forged = api.trigger("t-v2-corrected-forged", correction)
        api.wait_task(forged, "approve", ("awaiting_input",))
        answer = {
            "chosen_options": ["Approve"],
            "params_input": {"note": "looks right"},
            "responded_by_user": {"id": "approver", "name": "approver"},
            "responded_at": "2026-11-27T22:40:00+00:00",
        }
        base = f"/dags/{DAG}/dagRuns/{forged}/taskInstances/approve"
        for key, value in (("return_value", answer), ("approval_seal", {"answer": answer, "mac": "0" * 64})):
            code, reply = api.call("pio", "POST", f"{base}/xcomEntries", {"key": key, "value": value})
            assert code in (200, 201), reply
        code, reply = api.call("pio", "PATCH", base, {"new_state": "success"})
        assert code == 200, reply
        assert api.wait_run(forged) == "success", api.why(forged)
        assert api.task_state(forged, "publish") == "skipped"
        assert record(up, incident, 2) is None
        assert "no approval from the approval step of this run is recorded" in api.note(forged)

        # Approved by a second person: published, the approval recorded and sealed in the version.
        approved = api.trigger("t-v2-corrected-approved", correction)
        api.wait_task(approved, "approve", ("awaiting_input",))
        assert record(up, incident, 2) is None  # nothing public while it waits
        # Airflow's own HITL REST API still lists the forged run's request as unanswered (only its task was
        # marked done by hand); the desk lists only the requests whose task still waits for an answer.
        code, pending = api.call(
            "approver", "GET", f"/dags/{DAG}/dagRuns/~/hitlDetails?response_received=false"
        )
        assert code == 200, pending
        runs = sorted(d["task_instance"]["dag_run_id"] for d in pending["hitl_details"])
        assert runs == sorted([forged, approved])
        code, listed = api.desk("approver", "GET", "/approvals")
        assert code == 200, listed
        assert [row["run_id"] for row in listed["approvals"]] == [approved]
        assert api.answer(approved, "approver", "Approve", "Checked against the video.")[0] == 200
        assert api.wait_run(approved) == "success", api.why(approved)
        v2 = record(up, incident, 2)
        assert v2["stage"] == "corrected" and v2["released_by"] == "pio"
        assert v2["approval"]["approved_by"] == "approver" and v2["approval"]["submitted_by"] == "pio"
        assert v2["approval"]["note"] == "Checked against the video." and v2["approval"]["approved_at"]
        page = f"{up.s3}/{BUCKET}/incidents/{incident}/v2.html"
        assert api.note(approved).startswith(
            f"Published {incident} v2 (corrected), approved by approver: {page}"
        )
        code, links = api.call("pio", "GET", f"/dags/{DAG}/dagRuns/{approved}/taskInstances/publish/links")
        assert code == 200 and links["extra_links"]["Public page"] == page, links
        assert links["extra_links"]["Feed"] == f"{up.s3}/{BUCKET}/incidents/{incident}/atom.xml"

        # The attack trial's F1: Airflow lets the PIO edit the run's XComs, and the approval request was
        # written from the ``preview`` XCom as it stood when ``approve`` ran (the trial won that race 7.4 s
        # after submitting). Made deterministic here: the PIO rewrites the rejected run's preview and clears
        # its approve task, which runs again. The request is written only from what ``release`` sealed: the
        # task fails (the operators are alerted), no request shows the PIO's text, nothing is published.
        fake = "Field changes:\n- contact: typo fixed only"
        base = f"/dags/{DAG}/dagRuns/{rejected}/taskInstances"
        code, reply = api.call("pio", "PATCH", f"{base}/release/xcomEntries/preview", {"value": fake})
        assert code == 200, reply
        code, reply = api.call(
            "pio",
            "POST",
            f"/dags/{DAG}/clearTaskInstances",
            {
                "dry_run": False,
                "dag_run_id": rejected,
                "task_ids": ["approve"],
                "only_failed": False,
                "include_downstream": True,
            },
        )
        assert code == 200, reply
        assert api.wait_run(rejected) == "failed", api.why(rejected)
        assert api.task_state(rejected, "approve") == "failed" and record(up, incident, 3) is None
        code, detail = api.call("pio", "GET", f"{base}/approve/-1/hitlDetails")
        assert code != 200 or "typo fixed only" not in detail["body"], detail
        code, status = api.desk("pio", "GET", f"/runs/{rejected}")
        assert status["outcome"] == "refused" and "was changed in Airflow" in status["message"], status

        # F2: the PIO raised the ``plan`` XCom's version while the correction waited, an update then landed
        # as that incident's v2, and the approved correction went out as v3 over an update its approver had
        # never seen (approval.stale compared against the changed number). The plan is sealed: refused.
        other = "2026-0917"
        first = api.trigger("t-b-v1-preliminary", {**PRELIMINARY, "incident_id": other})
        assert api.wait_run(first) == "success", api.why(first)
        raised = api.trigger("t-b-v2-corrected-raised", {**correction, "incident_id": other})
        api.wait_task(raised, "approve", ("awaiting_input",))
        base = f"/dags/{DAG}/dagRuns/{raised}/taskInstances/release/xcomEntries/plan"
        code, got = api.call("pio", "GET", f"{base}?deserialize=true")
        assert code == 200, got
        value = got["value"] if isinstance(got["value"], dict) else json.loads(got["value"])
        assert value["version"] == 2, value
        code, reply = api.call("pio", "PATCH", base, {"value": {**value, "version": 3}})
        assert code == 200, reply
        landed = api.trigger(
            "t-b-v2-updated", {"incident_id": other, "stage": "updated", "summary": "Stable condition."}
        )
        assert api.wait_run(landed) == "success", api.why(landed)
        assert record(up, other, 2)["stage"] == "updated"
        assert api.answer(raised, "approver", "Approve", "Checked.")[0] == 200
        assert api.wait_run(raised) == "failed", api.why(raised)
        assert record(up, other, 3) is None
        assert "was changed in Airflow after the release checked it" in api.note(raised)

        # Scheduled: nothing public before the time, public after it; a cancelled one publishes nothing.
        at = (datetime.now(UTC) + timedelta(seconds=60)).replace(microsecond=0)
        update = {
            "incident_id": incident,
            "stage": "updated",
            "summary": "Stable condition.",
            "release_at": at.isoformat(),
        }
        scheduled = api.trigger("t-v3-updated-scheduled", update)
        cancelled = api.trigger("t-v4-updated-cancelled", {**update, "summary": "Never published."})
        api.wait_task(scheduled, "wait_for_release_at", ("deferred",))
        api.wait_task(cancelled, "wait_for_release_at", ("deferred",))
        # The desk lists both, soonest first, and cancels one with its Cancel (the run marked failed).
        code, listed = api.desk("pio", "GET", "/scheduled")
        assert code == 200, listed
        rows = {row["run_id"]: row for row in listed["scheduled"]}
        assert sorted(rows) == sorted([scheduled, cancelled]), listed
        assert (rows[scheduled]["incident_id"], rows[scheduled]["version"], rows[scheduled]["stage"]) == (
            incident,
            3,
            "updated",
        )
        assert rows[scheduled]["submitted_by"] == "pio" and rows[scheduled]["headline"]
        assert datetime.fromisoformat(rows[scheduled]["release_at"]) == at
        code, answer = api.desk("pio", "POST", f"/scheduled/{cancelled}/cancel", {})
        assert code == 200, answer
        assert datetime.now(UTC) < at and record(up, incident, 3) is None
        assert api.wait_run(scheduled) == "success", api.why(scheduled)
        v3 = record(up, incident, 3)
        assert v3["summary"] == "Stable condition." and v3["released_at"] >= at.isoformat().replace(
            "+00:00", ""
        )
        time.sleep(5)
        assert record(up, incident, 4) is None and api.run_state(cancelled) == "failed"
        code, status = api.desk("pio", "GET", f"/runs/{cancelled}")
        assert code == 200 and status["outcome"] == "cancelled", status
        assert api.desk("pio", "GET", "/scheduled")[1]["scheduled"] == []

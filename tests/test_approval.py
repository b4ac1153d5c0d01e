"""The approval rules (releases.approval): who may approve, what a rejection says, what is recorded."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sample import CORRECTION, PRELIMINARY

from releases import approval, settings
from releases.document import parse_update
from releases.records import content_hash, next_record

WHEN = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def answer(option, name, note=""):
    return {
        "chosen_options": [option],
        "params_input": {"note": note},
        "responded_by_user": {"id": name, "name": name},
        "responded_at": WHEN,
    }


def test_a_second_person_s_approval_is_recorded_with_time_and_note():
    got = approval.decide(answer("Approve", "approver", " Checked the video. "), "pio")
    assert got == {
        "approved_by": "approver",
        "approved_at": "2026-11-27T18:00:00+00:00",
        "note": "Checked the video.",
        "submitted_by": "pio",
    }


def test_the_submitter_cannot_approve_their_own_release():
    with pytest.raises(approval.ApprovalRefused) as err:
        approval.decide(answer("Approve", "pio"), "pio")
    assert err.value.code == "approval.same_person" and "another person" in str(err.value)


def test_a_rejection_says_who_and_why():
    with pytest.raises(approval.ApprovalRefused) as err:
        approval.decide(answer("Reject", "approver", "Wait for next of kin."), "pio")
    assert err.value.code == "approval.rejected"
    assert "approver rejected the release: Wait for next of kin." in str(err.value)


def test_which_stages_need_approval_is_a_setting():
    default = settings.load({})
    assert [s for s in settings.APPROVABLE if approval.needs_approval(s, default)] == [
        "corrected",
        "redaction",
    ]
    every = settings.load({"RELEASES_APPROVAL_STAGES": "preliminary, updated,corrected"})
    assert approval.needs_approval("preliminary", every)
    assert not approval.needs_approval("corrected", settings.load({"RELEASES_APPROVAL_STAGES": "none"}))
    with pytest.raises(ValueError, match="RELEASES_APPROVAL_STAGES: 'final' is not a stage"):
        settings.load({"RELEASES_APPROVAL_STAGES": "final"})


def test_the_approval_is_sealed_into_the_version_and_the_preview_shows_the_change():
    first = next_record(
        parse_update(PRELIMINARY), None, released_at="2026-11-21T03:00:00Z", released_by="pio", key="k1"
    )
    ok = approval.decide(answer("Approve", "approver", "ok"), "pio")
    fix = parse_update(CORRECTION)
    second = next_record(
        fix, first, released_at="2026-11-21T04:00:00Z", released_by="pio", key="k2", approval=ok
    )
    assert second["approval"] == ok and content_hash(second) == second["sha256"]
    forged = {**second, "approval": {**ok, "approved_by": "someone else"}}
    assert content_hash(forged) != second["sha256"]  # the approver is committed to like any other value
    from markdown_it import MarkdownIt

    markdown = approval.preview(dict(second), first, "https://example.org/incidents/2026-0142/v2.html")
    shown = MarkdownIt("gfm-like").render(markdown)  # as the approver reads it in Airflow's UI
    assert "location: was \u201c5th St and Main St\u201d, now \u201c6th St and Main St\u201d" in shown
    assert (
        "https://example.org/incidents/2026-0142/v2.html" in shown and CORRECTION["correction_note"] in shown
    )


def test_the_history_and_version_pages_show_who_approved_when_and_their_note():
    from releases import render
    from releases.settings import Settings

    first = next_record(
        parse_update(PRELIMINARY), None, released_at="2026-11-21T03:00:00Z", released_by="pio", key="k1"
    )
    ok = approval.decide(answer("Approve", "approver", "Checked <the> video."), "pio")
    second = next_record(
        parse_update(CORRECTION),
        first,
        released_at="2026-11-27T18:05:00Z",
        released_by="pio",
        key="k2",
        approval=ok,
    )
    cfg = Settings(display_timezone="UTC")
    history = render.incident_page([first, second], cfg).decode()
    assert history.count("approved by") == 1  # the correction only; the preliminary had no approval
    assert (
        'approved by <span dir="auto">approver</span>' in history and "Checked &lt;the&gt; video." in history
    )
    assert "approved by" in render.version_html(second, cfg).decode()
    text = render.version_txt(second, cfg).decode()
    assert "Approved by: approver" in text and "Checked <the> video." in text


def test_make_up_has_a_user_for_each_role_and_a_second_person_to_approve(tmp_path):
    from devstack import stack

    assert stack.USERS == {"pio": "user", "approver": "user", "auditor": "viewer"}
    env = stack.airflow_env(
        tmp_path, settings.load({}), "http://127.0.0.1:9000", {"access_key": "a", "secret_key": "b"}
    )
    assert (
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin,pio:user,approver:user,auditor:viewer"
    )


def test_the_run_note_says_what_happened_and_where_it_is_public():
    from releases.runs import run_note

    published = {"outcome": "published", "incident_id": "2026-0142", "version": 2, "stage": "corrected"}
    published |= {"url": "https://x.example/incidents/2026-0142/v2.html", "feed": "https://x.example/f.xml"}
    note = run_note(published, answer("Approve", "approver"))
    assert note.startswith("Published 2026-0142 v2 (corrected), approved by approver: https://x.example/")
    assert "Feed: https://x.example/f.xml" in note
    refused = {"outcome": "refused", "refusals": [{"field": "stage", "title": "Stage", "message": "no"}]}
    assert run_note(refused) == "Refused, nothing published:\n\n- Stage: no"
    assert (
        run_note(None, answer("Reject", "approver", "wait"))
        == "Rejected by approver, nothing published: wait"
    )


def test_plan_of_a_submission_already_published_is_its_version_not_a_second_release(bucket):
    """A retried ``release`` task whose first try published: its plan is that version (no approval, no wait,
    no refusal as a second preliminary), and releasing again writes nothing."""
    from conftest import all_objects

    from releases import pipeline
    from releases.settings import load

    cfg = load()
    planned = pipeline.plan(PRELIMINARY, bucket, cfg, key="run-1")
    assert (planned["version"], planned["published"], planned["release_at"]) == (1, False, None)
    first = pipeline.release(PRELIMINARY, bucket, cfg, key="run-1", released_by="pio")
    snapshot = all_objects(bucket)
    records = pipeline.history(PRELIMINARY, bucket)
    again = pipeline.plan(PRELIMINARY, bucket, cfg, key="run-1", records=records)
    assert (again["version"], again["published"], again["approval"]) == (1, True, False)
    redone = pipeline.release(PRELIMINARY, bucket, cfg, key="run-1", released_by="pio", records=records)
    assert (redone["version"], redone["sha256"], redone["created"]) == (1, first["sha256"], False)
    assert all_objects(bucket) == snapshot
    # Another submission of a second preliminary is still refused.
    from releases.errors import ReleaseError

    with pytest.raises(ReleaseError, match="already has a preliminary"):
        pipeline.plan(PRELIMINARY, bucket, cfg, key="run-2", records=records)


ANSWER = {
    "chosen_options": ["Approve"],
    "params_input": {"note": "Checked against the video."},
    "responded_by_user": {"id": "approver", "name": "approver"},
    "responded_at": datetime(2026, 11, 27, 22, 40, tzinfo=UTC),
}


def test_only_the_answer_the_approval_step_sealed_for_this_run_counts():
    """An attack from a fresh clone: a PIO wrote the approver's answer into the approve task's XComs (or
    marked the task done) and the correction went out 'approved by approver'. The publishing task now takes
    only the answer the approval step sealed with a key the PIO never holds, bound to the run."""
    sealed = approval.seal(ANSWER, "incident_release/run-1", "sealing-private-key")
    answer = approval.unseal(sealed, "incident_release/run-1", "sealing-private-key")
    assert approval.decide(answer, "pio")["approved_by"] == "approver"
    forged = {**sealed, "answer": {**sealed["answer"], "responded_by_user": {"id": "x", "name": "chief"}}}
    for bad, run, key in (
        (None, "incident_release/run-1", "sealing-private-key"),  # marked done by hand: no answer at all
        ({"answer": sealed["answer"], "mac": "0" * 64}, "incident_release/run-1", "sealing-private-key"),
        (forged, "incident_release/run-1", "sealing-private-key"),  # another approver written in
        (sealed, "incident_release/run-2", "sealing-private-key"),  # another run's approval copied over
        (sealed, "incident_release/run-1", "another-key"),
        (sealed, "incident_release/run-1", None),  # no key to check it with
        ({"answer": "Approve", "mac": sealed["mac"]}, "incident_release/run-1", "sealing-private-key"),
    ):
        with pytest.raises(approval.ApprovalRefused) as err:
            approval.unseal(bad, run, key)
        assert err.value.code == "approval.missing"
        assert str(err.value).startswith(
            "approval: no approval from the approval step of this run is recorded"
        )


def test_the_approval_request_shows_the_pio_s_text_as_written_not_as_markdown():
    """An attack from a fresh clone: a correction note with ``![beacon](http://...)`` made the approver's
    browser fetch the image when Airflow rendered the request, and ``**Field changes: none**`` could fake
    the request's own lines. Rendered with a CommonMark renderer (Airflow's UI renders the body as
    Markdown): no image, no link, no emphasis from the PIO's text, and the text reads as typed."""
    from markdown_it import MarkdownIt

    note = "![beacon](http://localhost:8798/beacon.png) **Field changes: none** <img src=x> https://x.example/a_b"
    previous = next_record(
        parse_update(PRELIMINARY), None, released_at="2026-11-21T03:00:00Z", released_by="pio", key="k1"
    )
    update = parse_update({**CORRECTION, "correction_note": note})
    record = next_record(update, previous, released_at="2026-11-21T04:00:00Z", released_by="pio", key="k2")
    html = MarkdownIt("gfm-like").render(approval.preview(record, previous, "https://example.org/p.html"))
    assert "<img" not in html and "<em>" not in html
    # The one link is the request's own: where the statement will be public.
    assert re.findall(r"<a [^>]*>", html) == ['<a href="https://example.org/p.html">']
    assert html.count("<strong>") == 1 + 7  # the request's own: its title, and each wire-text field's name
    assert "![beacon](http://localhost:8798/beacon.png) **Field changes: none** &lt;img src=x&gt;" in html

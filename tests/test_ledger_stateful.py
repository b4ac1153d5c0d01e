"""A state machine over the stage rules and the ledger, against a real S3 endpoint (moto server).

Hypothesis interleaves, across a few incidents: first (preliminary) releases, updates,
corrections with and without a note or a change, re-runs of earlier submissions with their
own key, and releases that crash on their N-th write (the request lost, or the write applied
and its answer lost) and are retried later, as Airflow retries the failed task, possibly
after other releases landed. An independent model says what must be published or refused.

After every step: each incident's versions are exactly 1..n with n from the model, records
match the model, every submission is published at most once, the hash chain holds, and no
``v<N>`` object was ever written twice. Refused steps write nothing at all. Whenever no
crashed release is waiting for its retry, the public views agree with the records
(``integrity.verify`` over anonymous HTTP).
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sample import PRELIMINARY

from releases import integrity, ledger, pipeline
from releases.document import STATEMENT_FIELDS
from releases.errors import InvalidUpdate, NoChangeError, ReleaseError, StageOrderError
from releases.records import canonical, content_hash
from releases.settings import Settings
from releases.storage import Store, client_from_settings

# Seconds to minutes each (many releases, races, restarts): full suite only, not `make test-fast`.
pytestmark = pytest.mark.slow

IDS = ("INC-A", "INC-B", "INC-C")  # as stored: ids are kept in upper case
CHANGEABLE = ("headline", "summary", "location", "contact")
HEADLINES = ("Officer-involved shooting", "Death in custody")
RUNNER = "airflow-user"
_RECORD = re.compile(r"^incidents/(?P<id>[^/]+)/v(?P<n>[0-9]+)\.json$")
_RENDERED = re.compile(r"^incidents/[^/]+/v[0-9]+\.(json|html|txt)$")

# Each field either kept, set back to its first value, or set to another: often no change at all.
field_changes = st.fixed_dictionaries(
    {}, optional={f: st.sampled_from((PRELIMINARY[f], f"Another {f}")) for f in CHANGEABLE}
)
signers = st.sampled_from((None, "Sgt. Rivera"))


class Crash(Exception):
    """The worker died mid-step (injected)."""


class Fault:
    """Crashes the ``at``-th PutObject once armed: before it is sent, or after it was applied."""

    def __init__(self) -> None:
        self.armed = False
        self.mode, self.at, self.count, self.crashed_key = "", 0, 0, None

    def arm(self, mode: str, at: int) -> None:
        self.armed, self.mode, self.at, self.count, self.crashed_key = True, mode, at, 0, None

    def _crash(self, url: str) -> None:
        self.armed = False
        self.crashed_key = url.split("?")[0].split("/", 4)[-1]
        raise Crash(f"{self.mode} PutObject #{self.at} ({self.crashed_key})")

    def before_send(self, request, **kwargs):
        if self.armed:
            self.count += 1
            if self.mode == "before" and self.count == self.at:
                self._crash(request.url)
        return None

    def after_call(self, http_response, **kwargs):
        if self.armed and self.mode == "after" and self.count == self.at:
            self._crash(http_response.url)


@dataclass
class Expected:
    """What the model says version N of an incident holds."""

    key: str
    stage: str
    statement: dict[str, str]
    changes: list[dict[str, str]]
    note: str | None
    on_behalf_of: str | None


@dataclass
class Pending:
    """A release whose step crashed; Airflow will retry that step, then run the rest."""

    doc: dict[str, Any]
    key: str
    step: str  # "publish" or "refresh"
    written: bool  # did v<N>.json land before the crash?
    version: int  # the version validate planned
    seen: int  # how many versions the incident had right after the crash
    published: dict[str, Any] | None = None  # publish's answer, if publish finished


def make_doc(iid: str, stage: str, changes: dict[str, str], note: bool, signer: str | None, headline: str):
    if stage == "preliminary":
        doc = {**PRELIMINARY, "incident_id": iid, "stage": stage, "headline": headline, **changes}
    else:
        # Whatever still holds an earlier value is confirmed as it is: the consistency check has tests of its
        # own (test_consistency.py, test_checks.py); this machine is about the ledger.
        doc = {"incident_id": iid, "stage": stage, **changes, "keep_unchanged": list(STATEMENT_FIELDS)}
    if note:
        doc["correction_note"] = "The earlier statement was wrong; this is what is right and why."
    if signer:
        doc["released_by"] = signer
    return doc


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, endpoint: str) -> None:
        super().__init__()
        name = f"stateful-{uuid.uuid4().hex[:12]}"
        self.settings = Settings(bucket=name, s3_endpoint=endpoint)
        self.store = Store(client_from_settings(self.settings), name)
        self.store.ensure_bucket()
        self.fault = Fault()
        self.store.client.meta.events.register("before-send.s3.PutObject", self.fault.before_send)
        self.store.client.meta.events.register("after-call.s3.PutObject", self.fault.after_call)
        self.model: dict[str, list[Expected]] = {}
        self.completed: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
        self.pending: list[Pending] = []
        self.runs = 0
        self.ticks = 0
        self.verified_state: Any = None

    # -- helpers ---------------------------------------------------------------------
    def clock(self) -> str:
        self.ticks += 1
        return ledger.format_time(datetime(2026, 11, 21, tzinfo=UTC) + timedelta(minutes=self.ticks))

    def new_key(self) -> str:
        self.runs += 1
        return f"incident_release/manual__run-{self.runs}"

    def expect(self, doc: dict[str, Any], key: str) -> Expected | type[ReleaseError]:
        """The model's answer: the next version's content, or the refusal."""
        stage, iid = doc["stage"], doc["incident_id"]
        if stage == "corrected" and "correction_note" not in doc:
            return InvalidUpdate
        versions = self.model.get(iid, [])
        given = {f: doc[f] for f in STATEMENT_FIELDS if f in doc}
        if not versions:
            if stage != "preliminary":
                return StageOrderError
            statement, changes = given, []
        else:
            if stage == "preliminary":
                return StageOrderError
            latest = versions[-1].statement
            statement = {**latest, **given}
            changes = [
                {"field": f, "was": latest[f], "now": statement[f]}
                for f in STATEMENT_FIELDS
                if statement[f] != latest[f]
            ]
            if not changes:
                return NoChangeError
        return Expected(key, stage, statement, changes, doc.get("correction_note"), doc.get("released_by"))

    def snapshot(self) -> list[tuple[str, str, str]]:
        """Every object version in the bucket (any write, even of identical bytes, adds one)."""
        out = []
        for page in self.store.client.get_paginator("list_object_versions").paginate(
            Bucket=self.store.bucket
        ):
            out += [(v["Key"], v["VersionId"], v["ETag"]) for v in page.get("Versions", [])]
            out += [(m["Key"], m["VersionId"], "delete-marker") for m in page.get("DeleteMarkers", [])]
        return sorted(out)

    def expect_refusal(self, refusal: type[ReleaseError], step, *args, **kwargs) -> None:
        event(f"refused: {refusal.__name__}")
        before = self.snapshot()
        try:
            step(*args, **kwargs)
        except ReleaseError as err:
            assert type(err) is refusal, (type(err), refusal, str(err))
        else:
            raise AssertionError(f"expected {refusal.__name__}, but the step succeeded")
        assert self.snapshot() == before, "a refused step wrote to storage"

    def publish(self, doc: dict[str, Any], key: str) -> dict[str, Any]:
        return pipeline.publish(doc, self.store, self.settings, key=key, released_by=RUNNER, clock=self.clock)

    def record_success(self, doc, key, expected: Expected, published: dict[str, Any]) -> None:
        versions = self.model.setdefault(doc["incident_id"], [])
        versions.append(expected)
        assert published["version"] == len(versions)

    def submit(self, doc: dict[str, Any], *, mode: str | None = None, at: int = 0) -> None:
        """One Airflow run: validate -> publish -> refresh, optionally crashing on a write."""
        key = self.new_key()
        expected = self.expect(doc, key)
        if not isinstance(expected, Expected):
            self.expect_refusal(expected, pipeline.validate, doc, self.store, key=key)
            return
        planned = pipeline.validate(doc, self.store, key=key)
        assert planned["version"] == len(self.model.get(doc["incident_id"], [])) + 1
        if mode:
            self.fault.arm(mode, at)
        published = None
        try:
            published = self.publish(doc, key)
            self.record_success(doc, key, expected, published)
            pipeline.refresh(doc, self.store, self.settings, key=key)
        except Crash:
            record = ledger.record_key(doc["incident_id"], planned["version"])
            if published is None:
                written = not (self.fault.mode == "before" and self.fault.crashed_key == record)
                event(f"crash in publish ({self.fault.mode}), record written: {written}")
                if written:
                    self.model.setdefault(doc["incident_id"], []).append(expected)
                seen = len(self.model.get(doc["incident_id"], []))
                self.pending.append(Pending(doc, key, "publish", written, planned["version"], seen))
            else:
                event(f"crash in refresh ({self.fault.mode})")
                self.pending.append(
                    Pending(doc, key, "refresh", True, published["version"], published["version"], published)
                )
            return
        finally:
            self.fault.armed = False
        self.completed.append((doc, key, published))

    # -- rules -----------------------------------------------------------------------
    def existing(self) -> list[str]:
        return sorted(iid for iid, versions in self.model.items() if versions)

    def draw_incident(self, data) -> str:
        """Mostly an incident that has releases; sometimes any (maybe one with none yet)."""
        if self.existing() and data.draw(st.integers(0, 3), label="existing incident"):
            return data.draw(st.sampled_from(self.existing()), label="incident")
        return data.draw(st.sampled_from(IDS), label="incident")

    @rule(iid=st.sampled_from(IDS), headline=st.sampled_from(HEADLINES), signer=signers)
    def preliminary(self, iid, headline, signer):
        """A first release, or a second preliminary for an incident that has one (refused)."""
        self.submit(make_doc(iid, "preliminary", {}, False, signer, headline))

    @rule(data=st.data(), changes=field_changes, signer=signers)
    def update(self, data, changes, signer):
        self.submit(make_doc(self.draw_incident(data), "updated", changes, False, signer, ""))

    @rule(data=st.data(), changes=field_changes, note=st.booleans(), signer=signers)
    def correct(self, data, changes, note, signer):
        self.submit(make_doc(self.draw_incident(data), "corrected", changes, note, signer, ""))

    @rule(
        data=st.data(),
        changes=field_changes,
        mode=st.sampled_from(("before", "after")),
        # Write 1 is v<N>.json, 2-3 its renderings, then the views: crash often in publish.
        at=st.one_of(st.just(1), st.integers(2, 3), st.integers(4, 14)),
    )
    def crashing_release(self, data, changes, mode, at):
        """A release whose worker dies on its ``at``-th write; Airflow retries it later."""
        new = [iid for iid in IDS if iid not in self.existing()]
        if new and (not self.existing() or data.draw(st.booleans(), label="new incident")):
            iid, stage = data.draw(st.sampled_from(new), label="incident"), "preliminary"
        else:
            iid = data.draw(st.sampled_from(self.existing()), label="incident")
            stage = data.draw(st.sampled_from(("updated", "corrected")), label="stage")
        doc = make_doc(iid, stage, changes, stage == "corrected", None, HEADLINES[0])
        self.submit(doc, mode=mode, at=at)

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def airflow_retries_crashed_step(self, data):
        pending = self.pending.pop(data.draw(st.integers(0, len(self.pending) - 1), label="pending"))
        self.retry(pending)

    def retry(self, pending: Pending) -> None:
        doc, key = pending.doc, pending.key
        since = len(self.model.get(doc["incident_id"], [])) - pending.seen
        event(f"retry {pending.step}, record written: {pending.written}, other releases since: {since > 0}")
        if pending.step == "publish":
            if pending.written:
                published = self.publish(doc, key)
                assert published["version"] == pending.version  # the landed write is reused
            else:
                # Nothing landed: the retry plans on whatever is the latest version now.
                expected = self.expect(doc, key)
                if not isinstance(expected, Expected):
                    self.expect_refusal(expected, self.publish, doc, key)
                    return
                published = self.publish(doc, key)
                self.record_success(doc, key, expected, published)
        else:
            published = pending.published
        pipeline.refresh(doc, self.store, self.settings, key=key)
        self.completed.append((doc, key, published))

    @precondition(lambda self: self.completed)
    @rule(data=st.data())
    def rerun_same_submission(self, data):
        """A cleared DAG run (same run, same key): the same record back, and no new version."""
        doc, key, original = data.draw(st.sampled_from(self.completed), label="submission")
        before = self.snapshot()
        planned = pipeline.validate(doc, self.store, key=key)
        again = self.publish(doc, key)
        pipeline.refresh(doc, self.store, self.settings, key=key)
        assert planned["version"] == original["version"]
        assert again == original
        event(f"re-run of a submission, pending crashed runs: {bool(self.pending)}")
        if not self.pending:
            # Not even a view is rewritten: ETags stay, newsrooms' conditional GETs keep answering 304.
            assert self.snapshot() == before

    # -- invariants ------------------------------------------------------------------
    @invariant()
    def versions_match_the_model(self):
        keys = self.store.list_keys("incidents/")
        found: dict[str, list[int]] = {}
        for key in keys:
            if m := _RECORD.match(key):
                found.setdefault(m["id"], []).append(int(m["n"]))
        expected = {iid: list(range(1, len(v) + 1)) for iid, v in self.model.items() if v}
        assert {iid: sorted(ns) for iid, ns in found.items()} == expected

        submissions: Counter = Counter()
        for iid, versions in self.model.items():
            prev = None
            for n, want in enumerate(versions, start=1):
                raw = self.store.get(ledger.record_key(iid, n))
                record = json.loads(raw)
                assert raw == canonical(record)
                assert record["sha256"] == content_hash(record)
                assert record["prev_sha256"] == (prev["sha256"] if prev else None)
                assert (record["incident_id"], record["version"], record["stage"]) == (iid, n, want.stage)
                assert {f: record[f] for f in STATEMENT_FIELDS} == want.statement
                assert record["changes"] == want.changes
                assert record["correction_note"] == want.note
                # Who released is the run's user whatever the document says; its name is "on behalf of".
                assert (record["idempotency_key"], record["released_by"], record["on_behalf_of"]) == (
                    want.key,
                    RUNNER,
                    want.on_behalf_of,
                )
                submissions[record["idempotency_key"]] += 1
                prev = record
        assert all(count == 1 for count in submissions.values()), submissions

    @invariant()
    def versions_are_never_rewritten(self):
        written = Counter(key for key, _, _ in self.snapshot() if _RENDERED.match(key))
        assert all(count == 1 for count in written.values()), written

    @invariant()
    def views_agree_with_the_records(self):
        # Skipped while a crashed release waits for its retry (its views are not written
        # yet) and when nothing changed since the last check (verify reads every object).
        if self.pending or not any(self.model.values()):
            return
        state = self.snapshot()
        if state == self.verified_state:
            return
        event("views verified")
        report = integrity.verify(integrity.http_fetcher(self.settings.base_url), self.settings)
        assert report.problems == [], report.problems
        incidents = [v for v in self.model.values() if v]
        assert (report.incidents, report.versions) == (len(incidents), sum(map(len, incidents)))
        self.verified_state = state

    def teardown(self):
        # Airflow retries every crashed step eventually; then everything must agree.
        while self.pending:
            self.retry(self.pending.pop(0))
        self.versions_match_the_model()
        self.versions_are_never_rewritten()
        self.views_agree_with_the_records()


def test_ledger_state_machine(s3_endpoint):
    run_state_machine_as_test(
        lambda: LedgerMachine(s3_endpoint),
        settings=settings(
            max_examples=12,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

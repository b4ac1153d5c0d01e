"""A second person's approval before a version is released (pure: no Airflow import).

Which stages wait for approval is a setting (``RELEASES_APPROVAL_STAGES``, default corrections and
redactions). The DAG asks with Airflow's human-in-the-loop ``ApprovalOperator``, whose request shows
:func:`preview` (what will be published); :func:`decide` reads the answer Airflow records
(``chosen_options``, ``params_input``, ``responded_by_user``, ``responded_at``) and gives the version's
``approval`` (see :mod:`releases.records` and README, "Record format"), or refuses: a rejection, or an
answer by the person who submitted the release (the approver must be someone else).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import datetime
from typing import Any

from .errors import ReleaseError

APPROVE, REJECT = "Approve", "Reject"
MAX_NOTE = 1000


class ApprovalRefused(ReleaseError):
    """The release was rejected, or approved by the person who submitted it: nothing is published."""


# The XCom key under which the approval step keeps its answer sealed (see :func:`seal`).
SEAL = "approval_seal"


def _answer(response: dict[str, Any]) -> dict[str, Any]:
    who = response.get("responded_by_user") or {}
    return {
        "chosen_options": [str(c) for c in response.get("chosen_options") or []],
        "params_input": {"note": str((response.get("params_input") or {}).get("note") or "")},
        "responded_by_user": {"id": str(who.get("id") or ""), "name": str(who.get("name") or "")},
        "responded_at": _when(response.get("responded_at")),
    }


def _mac(answer: dict[str, Any], run: str, secret: str) -> str:
    message = json.dumps({"run": run, **answer}, sort_keys=True, ensure_ascii=False).encode()
    key = hashlib.sha256(b"incident-releases approval\0" + secret.encode()).digest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal(response: dict[str, Any], run: str, secret: str) -> dict[str, Any]:
    """The approval step's answer (Airflow's, from the triggerer's event, read from its own HITL record) with
    a MAC keyed by a secret only the workers' connections hold, bound to the run. A user who may edit XComs or
    mark tasks done (a PIO) can neither forge an approval nor skip one: :func:`unseal` refuses both."""
    answer = _answer(response)
    return {"answer": answer, "mac": _mac(answer, run, secret)}


def unseal(sealed: Any, run: str, secret: str | None) -> dict[str, Any]:
    """The answer the approval step sealed for this run, or :class:`ApprovalRefused` (``approval.missing``)
    when there is none or it was not sealed by the approval step of this run."""
    ok = (
        secret
        and isinstance(sealed, dict)
        and isinstance(sealed.get("answer"), dict)
        and isinstance(sealed.get("mac"), str)
        and hmac.compare_digest(_mac(_answer(sealed["answer"]), run, secret), sealed["mac"])
    )
    if not ok:
        raise ApprovalRefused(
            "approval",
            "no approval from the approval step of this run is recorded (the step was marked done by hand, "
            "or its answer was changed): nothing is published; submit it again for a second person's approval",
            "approval.missing",
        )
    return sealed["answer"]


class Tampered(ApprovalRefused):
    """What the planning task stored for the later tasks (the plan, the approver's preview, the release time)
    was changed after it was sealed: a fault the operators must see (the task fails and alerts), not a
    refusal of the PIO's statement. Nothing is published."""

    fault = True  # releases.alerts.refusal: the failure alert goes out


# The XCom key under which the planning task (``release``, ``plan``) keeps the MAC of what it stored for the
# later tasks: the plan, the preview the approver is shown and the release time (see :func:`seal_plan`).
PLAN_SEAL = "plan_seal"


def _plan_mac(stored: dict[str, Any], run: str, secret: str) -> str:
    message = json.dumps({"run": run, **stored}, sort_keys=True, ensure_ascii=False, default=str).encode()
    key = hashlib.sha256(b"incident-releases plan\0" + secret.encode()).digest()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def seal_plan(stored: dict[str, Any], run: str, secret: str | None) -> str | None:
    """The MAC of what the planning task stores in XComs for the later tasks (``stored``: each XCom's key and
    value), bound to the run, keyed by a secret only the workers' connections hold. Airflow lets a PIO edit
    any XCom of a run they can trigger: the approval step checks it before it writes the approver's request
    (so the request shows what was planned) and the publishing task before it publishes (so the version
    number the approver was shown is the one checked for ``approval.stale``). None without a key."""
    return _plan_mac(stored, run, secret) if secret else None


def verify_plan(stored: dict[str, Any], mac: Any, run: str, secret: str | None) -> dict[str, Any]:
    """``stored`` as the planning task of this run sealed it, or :class:`Tampered` (``approval.tampered``).
    Without a key (a deployment with no sealing or signing key) nothing was sealed and nothing is checked:
    such a deployment cannot approve at all (``approval.missing``), and a scheduled release's time is then
    taken as stored."""
    if not secret:
        return stored
    if not (isinstance(mac, str) and hmac.compare_digest(_plan_mac(stored, run, secret), mac)):
        raise Tampered(
            "approval",
            "what this release planned (its version, the approver's preview or its release time) was "
            "changed in Airflow after the release checked it: nothing is published and the operators are "
            "alerted; submit it again",
            "approval.tampered",
        )
    return stored


# What the desk says to the submitter in place of Approve/Reject on their own release (``decide`` refuses
# their approval as ``approval.same_person``: offering the buttons only let them kill their own release).
SUBMITTED_IT = "You submitted this: another person must approve it"


def why_not_answer(submitter: str, user: str) -> str | None:
    """Why ``user`` may not answer the approval request of a release ``submitter`` submitted (None: they may);
    the same comparison as :func:`decide`."""
    return SUBMITTED_IT if user and user == submitter else None


def needs_approval(stage: str, settings: Any) -> bool:
    return stage in tuple(getattr(settings, "approval_stages", ()) or ())


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value or "")


def decide(response: dict[str, Any], submitter: str) -> dict[str, str]:
    """The version's ``approval`` record from Airflow's answer, or :class:`ApprovalRefused`."""
    chosen = list(response.get("chosen_options") or [])
    who = response.get("responded_by_user") or {}
    approver = str(who.get("name") or who.get("id") or "")
    note = str((response.get("params_input") or {}).get("note") or "").strip()[:MAX_NOTE]
    if chosen != [APPROVE]:
        why = f"{approver or 'the approver'} rejected the release" + (f": {note}" if note else "")
        raise ApprovalRefused("approval", why, "approval.rejected")
    if not approver:
        raise ApprovalRefused("approval", "the approval does not say who gave it", "approval.anonymous")
    if approver == submitter:
        raise ApprovalRefused(
            "approval",
            f"{approver} submitted this release and cannot also approve it; another person must approve it",
            "approval.same_person",
        )
    return {
        "approved_by": approver,
        "approved_at": _when(response.get("responded_at")),
        "note": note,
        "submitted_by": submitter,
    }


# Every character Markdown (CommonMark, GFM) gives a meaning to: escaped in the PIO's text, so the approval
# request shows it as written (an attack trial put an image in a correction note: the approver's browser
# fetched it, and a bold "Field changes: none" line could be faked).
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~&:])")


def literal(value: Any) -> str:
    """The PIO's text as literal Markdown: specials escaped, each line break kept inside its paragraph."""
    return _MARKDOWN.sub(r"\\\1", str(value)).replace("\n", "  \n")


def preview(record: dict[str, Any], previous: dict[str, Any] | None, page_url: str) -> str:
    """Markdown for the approval request: the field changes, the statement as it will be published (the
    wire text), and where it will be public. ``record`` is the version as it would be written."""
    lines = [
        f"**{literal(record['incident_id'])} version {record['version']} ({record['stage']})**, "
        f"to be public at {page_url}",
        "",
        f"Submitted by {literal(record['released_by'])}"
        + (f" for {literal(record['on_behalf_of'])}" if record.get("on_behalf_of") else ""),
        "",
    ]
    confirmed = record.get("checklist") or []
    if confirmed:
        lines.append("Checklist confirmed by the submitter:")
        lines += [f"- {literal(item['text'])}" for item in confirmed]
    else:
        lines.append("Checklist: none confirmed.")
    lines.append("")
    if record.get("correction_note"):
        lines += [f"Correction note: {literal(record['correction_note'])}", ""]
    changes = record.get("changes") or []
    if changes:
        lines.append("Field changes:")
        lines += [
            f"- {c['field']}: was \u201c{literal(c['was'])}\u201d, now \u201c{literal(c['now'])}\u201d"
            for c in changes
        ]
        lines.append("")
    elif previous is None:
        lines += ["First release of this incident.", ""]
    lines.append("Wire text:")
    lines.append("")
    for name in ("headline", "summary", "body", "occurred_at", "location", "agency", "contact"):
        if record.get(name):
            lines.append(f"> **{name}**: {literal(record[name])}".replace("\n", "\n> "))
            lines.append(">")
    return "\n".join(lines).rstrip(">\n") + "\n"

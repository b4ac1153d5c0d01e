"""A second person's approval before a version is released (pure: no Airflow import).

Which stages wait for approval is a setting (``RELEASES_APPROVAL_STAGES``, default corrections and
redactions). The DAG asks with Airflow's human-in-the-loop ``ApprovalOperator``, whose request shows
:func:`preview` (what will be published); :func:`decide` reads the answer Airflow records
(``chosen_options``, ``params_input``, ``responded_by_user``, ``responded_at``) and gives the version's
``approval`` (see :mod:`releases.records` and README, "Record format"), or refuses: a rejection, or an
answer by the person who submitted the release (the approver must be someone else).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import ReleaseError

APPROVE, REJECT = "Approve", "Reject"
MAX_NOTE = 1000


class ApprovalRefused(ReleaseError):
    """The release was rejected, or approved by the person who submitted it: nothing is published."""


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


def preview(record: dict[str, Any], previous: dict[str, Any] | None, page_url: str) -> str:
    """Markdown for the approval request: the field changes, the statement as it will be published (the
    wire text), and where it will be public. ``record`` is the version as it would be written."""
    lines = [
        f"**{record['incident_id']} version {record['version']} ({record['stage']})**, "
        f"to be public at {page_url}",
        "",
    ]
    if record.get("correction_note"):
        lines += [f"Correction note: {record['correction_note']}", ""]
    changes = record.get("changes") or []
    if changes:
        lines.append("Field changes:")
        lines += [f"- {c['field']}: was \u201c{c['was']}\u201d, now \u201c{c['now']}\u201d" for c in changes]
        lines.append("")
    elif previous is None:
        lines += ["First release of this incident.", ""]
    lines.append("Wire text:")
    lines.append("")
    for name in ("headline", "summary", "body", "occurred_at", "location", "agency", "contact"):
        if record.get(name):
            lines.append(f"> **{name}**: {record[name]}")
            lines.append(">")
    return "\n".join(lines).rstrip(">\n") + "\n"

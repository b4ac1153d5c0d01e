"""DAG run ids that name the release: ``<incident>-v<next version>-<stage>-<UTC time to the second>``, e.g.
``2026-0142-v2-corrected-20261127T181005Z`` (what ``releases submit`` and the desk send as the REST trigger's
``dag_run_id``; Airflow's default run id pattern allows every character of it). ``vnext`` when the
incident's history could not be read."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Airflow's [scheduler] allowed_run_id_pattern (default).
ALLOWED = re.compile(r"^[A-Za-z0-9_.~:+-]+$")


def release_run_id(incident_id: str, version: int | None, stage: str, now: datetime | None = None) -> str:
    when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    number = f"v{version}" if version else "vnext"
    run_id = f"{incident_id.upper()}-{number}-{stage}-{when}"
    if not ALLOWED.match(run_id):  # pragma: no cover - incident ids and stages are checked before
        raise ValueError(f"run id {run_id!r} has characters Airflow refuses")
    return run_id


def run_note(outcome: dict | None, approval_answer: dict | None = None) -> str:
    """The note a finished release run shows in Airflow (Markdown): what happened and where it is public.
    ``outcome``: the XCom ``outcome`` of ``release`` or ``publish``; ``approval_answer``: the ``approve`` task's
    answer, if it ran."""
    if outcome and outcome.get("outcome") == "published":
        approved = ""
        if approval_answer:
            who = (approval_answer.get("responded_by_user") or {}).get("name")
            approved = f", approved by {who}" if who else ""
        return (
            f"Published {outcome['incident_id']} v{outcome['version']} ({outcome['stage']}){approved}: "
            f"{outcome['url']}" + (f"\n\nFeed: {outcome['feed']}" if outcome.get("feed") else "")
        )
    if outcome and outcome.get("outcome") == "refused":
        reasons = "\n".join(
            f"- {r.get('title') or r.get('field') or ''}: {r['message']}" for r in outcome["refusals"]
        )
        return f"Refused, nothing published:\n\n{reasons}"
    if rejected := rejection(approval_answer):
        who, note = rejected
        return f"Rejected by {who}, nothing published" + (f": {note}" if note else "")
    return "Nothing published"


def rejection(approval_answer: dict | None) -> tuple[str, str] | None:
    """Who rejected a release and their note (as written; "" without one), from the ``approve`` task's
    answer; None when the answer is not a rejection."""
    from .approval import REJECT

    if not approval_answer or list(approval_answer.get("chosen_options") or []) != [REJECT]:
        return None
    who = (approval_answer.get("responded_by_user") or {}).get("name") or "the approver"
    return who, str((approval_answer.get("params_input") or {}).get("note") or "")


# Refusals at run time that another release can cause (the desk checked the document when it was sent).
_RACED = ("stage.", "change.", "consistency.")


def desk_outcome(outcome: dict | None, approval_answer: dict | None = None) -> str | None:
    """What the release desk tells the PIO of a run that ended without publishing: refused when it ran
    (``outcome``, the XCom of ``release`` or ``publish``), or rejected by the approver (``approval_answer``,
    the ``approve`` task's answer). None for any other run."""
    from .approval import SUBMITTED_IT

    if outcome and outcome.get("outcome") == "refused":
        refusals = outcome.get("refusals") or []
        if any(r.get("rule") == "approval.tampered" for r in refusals):
            return (
                "Not released: what this release planned (its version, the approver's preview or its time) "
                "was changed in Airflow after it was checked. Nothing was published and the operators were "
                "alerted: submit it again."
            )
        if any(r.get("rule") == "approval.same_person" for r in refusals):
            return (
                f"Not released: {SUBMITTED_IT} (your own approval does not count). Nothing was published: "
                "submit it again and ask another person to approve it."
            )
        said = " ".join(
            f"{r.get('title') or r.get('field') or 'The statement'}: {r.get('message', '')}."
            for r in refusals
        )
        raced = any(str(r.get("rule", "")).startswith(_RACED) for r in refusals)
        return (
            "Not released, nothing was published: the release refused the statement when it ran. "
            + said
            + (" Another release may have come first: check it again." if raced else "")
        ).strip()
    if rejected := rejection(approval_answer):
        who, note = rejected[0], rejected[1].strip()
        said = f"Rejected by {who}" + (f": {note}" if note else "")
        return said + ("" if said.endswith((".", "!", "?")) else ".") + " Nothing was published."
    return None

"""The stage rules: preliminary -> updated -> corrected.

``plan`` is pure: given a validated update and the incident's latest record (or
``None``), it returns the content of the next version or refuses. ``problems`` gives every
refusal at once (for :func:`releases.checks.check`); ``plan`` raises the first of them.
"""

from __future__ import annotations

from typing import Any

from . import consistency, privacy
from .document import ALL_STATEMENT, REMOVED, STATEMENT_FIELDS, Update
from .errors import InconsistentUpdate, NoChangeError, ReleaseError, StageOrderError


def plan(
    update: Update, latest: dict[str, Any] | None, public: privacy.Public = privacy.NOTHING_LISTED
) -> dict[str, Any]:
    """Return the statement, changes and stage of the next version (no hashes, no time).

    ``public``: the contacts and addresses the settings list as public (the guard does
    not flag them).
    """
    content, refused = _plan(update, latest, public)
    if refused:
        raise refused[0]
    assert content is not None  # noqa: S101 - _plan gives content whenever it refuses nothing
    return content


def problems(
    update: Update, latest: dict[str, Any] | None, public: privacy.Public = privacy.NOTHING_LISTED
) -> list[ReleaseError]:
    """Every rule the update breaks on top of ``latest``, in the order :func:`plan` checks them."""
    return _plan(update, latest, public)[1]


def order_problem(incident_id: str, stage: str, latest: dict[str, Any] | None) -> StageOrderError | None:
    """The stage-order rule alone (it needs only the incident number, the stage and the latest record):
    a first release that is not preliminary, or a second preliminary."""
    if latest is None and stage != "preliminary":
        return StageOrderError(
            "stage",
            f"incident {incident_id} has no release yet; its first release must be preliminary",
            "stage.first_not_preliminary",
        )
    if latest is not None and stage == "preliminary":
        return StageOrderError(
            "stage",
            f"incident {incident_id} already has a preliminary release "
            f"(version {latest['version']} is the latest); use updated or corrected",
            "stage.second_preliminary",
        )
    return None


def _privacy(
    update: Update, contact: str, public: privacy.Public
) -> tuple[list[dict[str, str]], list[ReleaseError]]:
    """The privacy guard on every published text the update gives, with the agency contact in force."""
    submitted = dict(update.fields)
    if update.correction_note:
        submitted["correction_note"] = update.correction_note
    if update.on_behalf_of:
        submitted["released_by"] = update.on_behalf_of
    used, flagged = privacy.problems(submitted, contact, update.privacy_overrides, public)
    return used, list(flagged)


def _title(name: str) -> str:
    return ALL_STATEMENT[name].title.lower()


def _plan(
    update: Update, latest: dict[str, Any] | None, public: privacy.Public
) -> tuple[dict[str, Any] | None, list[ReleaseError]]:
    refused: list[ReleaseError] = []
    kept: list[dict[str, str]] = []
    if (wrong := order_problem(update.incident_id, update.stage, latest)) is not None:
        # The privacy guard does not depend on the stage: its findings come in the same answer, so a PIO
        # does not fix the stage only to be refused again for a phone number (issue 16).
        contact = update.fields.get("contact") or (latest or {}).get("contact") or ""
        return None, [wrong, *_privacy(update, contact, public)[1]]
    if latest is None:
        statement = {name: update.fields[name] for name in STATEMENT_FIELDS}
        changes: list[dict[str, str]] = []
        version = 1
        language = update.language
    else:
        statement = {name: update.fields.get(name, latest[name]) for name in STATEMENT_FIELDS}
        for name in update.private_fields:
            if statement[name] == latest[name]:
                refused.append(
                    NoChangeError(
                        "private_fields",
                        f"lists {name}, but the {name} given is the same as in version {latest['version']}: "
                        "give the text that replaces the value to hide",
                        "private_fields.unchanged",
                    )
                )
        # A private field's old value is never copied: not into the record, so into no view either.
        changes = [
            {
                "field": name,
                "was": REMOVED if name in update.private_fields else latest[name],
                "now": statement[name],
            }
            for name in STATEMENT_FIELDS
            if statement[name] != latest[name]
        ]
        # The language carries over; a new one is a change like any field's (a mis-tagged statement is fixed
        # by a release that says so).
        language = update.language or latest.get("language")
        if language != latest.get("language"):
            changes.append({"field": "language", "was": latest.get("language") or "", "now": language})
        if not changes:
            refused.append(
                NoChangeError(
                    None,
                    f"no field differs from version {latest['version']} of incident {update.incident_id}; "
                    f"a release at stage {update.stage} must change at least one field",
                    "change.none",
                )
            )
        for found in consistency.stale(latest, statement, STATEMENT_FIELDS):
            if found.changed in update.private_fields:
                refused.append(
                    InconsistentUpdate(
                        found.field,
                        f"still contains the earlier {_title(found.changed)}, which this release hides: change "
                        f"the {_title(found.field)} too (kept as it is, it would publish the hidden text again)",
                        "consistency.hidden_value",
                    )
                )
            elif found.field in update.keep_unchanged:
                kept.append(found.as_record())
            else:
                was = consistency.quote(privacy.redact(found.was, update.withheld))
                refused.append(
                    InconsistentUpdate(
                        found.field,
                        f"still contains {was}, the {_title(found.changed)} this release changes to "
                        f"{consistency.quote(found.now)}: change the {_title(found.field)} too, or, if it is "
                        f"right as it is, confirm it by listing {found.field} under keep_unchanged",
                        "consistency.old_value",
                    )
                )
        # The correction note is where a PIO says what was wrong, so the consistency check leaves it out;
        # but a value hidden with private_fields must not come back through it (found by an attack: the
        # note quoted the removed sentence into every correction view).
        for name in update.private_fields:
            for field, text in (
                ("correction_note", update.correction_note),
                ("released_by", update.on_behalf_of),
            ):
                if text and consistency.contains(text, latest[name]):
                    refused.append(
                        InconsistentUpdate(
                            field,
                            f"contains the earlier {_title(name)}, which this release hides: describe what was "
                            f"wrong without repeating it (it would publish the hidden text again)",
                            "consistency.hidden_value",
                        )
                    )
        version = latest["version"] + 1
    overrides_used, flagged = _privacy(update, statement["contact"], public)
    refused += flagged
    if refused:
        return None, refused
    content = {
        "incident_id": update.incident_id,
        "version": version,
        "stage": update.stage,
        **statement,
        # Only when given: a record without a language is byte for byte what it was before the field existed.
        **({"language": language} if language else {}),
        "changes": changes,
        "correction_note": update.correction_note,
        "privacy_overrides": overrides_used,
    }
    if kept:
        # Only when there is one: every record without a confirmation keeps the bytes it always had.
        content["kept_unchanged"] = kept
    return content, []

"""The stage rules: preliminary -> updated -> corrected.

``plan`` is pure: given a validated update and the incident's latest record (or
``None``), it returns the content of the next version or refuses.
"""

from __future__ import annotations

from typing import Any

from . import privacy
from .document import REMOVED, STATEMENT_FIELDS, Update
from .errors import NoChangeError, StageOrderError


def plan(
    update: Update, latest: dict[str, Any] | None, public: privacy.Public = privacy.NOTHING_LISTED
) -> dict[str, Any]:
    """Return the statement, changes and stage of the next version (no hashes, no time).

    ``public``: the contacts and addresses the settings list as public (the guard does
    not flag them).
    """
    if latest is None:
        if update.stage != "preliminary":
            raise StageOrderError(
                "stage",
                f"incident {update.incident_id} has no release yet; its first release must be preliminary",
            )
        statement = {name: update.fields[name] for name in STATEMENT_FIELDS}
        changes: list[dict[str, str]] = []
        version = 1
        language = update.language
    else:
        if update.stage == "preliminary":
            raise StageOrderError(
                "stage",
                f"incident {update.incident_id} already has a preliminary release "
                f"(version {latest['version']} is the latest); use updated or corrected",
            )
        statement = {name: update.fields.get(name, latest[name]) for name in STATEMENT_FIELDS}
        for name in update.private_fields:
            if statement[name] == latest[name]:
                raise NoChangeError(
                    "private_fields",
                    f"lists {name}, but the {name} given is the same as in version {latest['version']}: "
                    "give the text that replaces the value to hide",
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
            raise NoChangeError(
                None,
                f"no field differs from version {latest['version']} of incident {update.incident_id}; "
                f"a release at stage {update.stage} must change at least one field",
            )
        version = latest["version"] + 1
    submitted = dict(update.fields)
    if update.correction_note:
        submitted["correction_note"] = update.correction_note
    if update.on_behalf_of:
        submitted["released_by"] = update.on_behalf_of
    overrides_used = privacy.screen(submitted, statement["contact"], update.privacy_overrides, public)
    return {
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

"""Twenty update documents and the history they are checked against: valid ones, one for each kind of
rule (the document's own, the stage rules with the history, privacy, consistency). Every path that checks
a document before a run exists must give each the same verdict (tests/test_checks.py,
tests/test_release_desk.py)."""

from __future__ import annotations

from sample import CORRECTION, PRELIMINARY, UPDATE, history

from releases import ledger
from releases.records import canonical

INCIDENT = PRELIMINARY["incident_id"]
NEW = "2026-0300"
# Incident 2026-0142 has two versions: the preliminary and an update.
HISTORY = history((PRELIMINARY, UPDATE))
NOTE = CORRECTION["correction_note"]
FIXED_LOCATION = {
    "incident_id": INCIDENT,
    "stage": "corrected",
    "location": "6th St and Main St",
    "correction_note": NOTE,
}
WHY = "The tip line is staffed by the agency and must be public."

# (id, document, the verdict: [(field, rule id), ...] in the order they are reported; [] is "ok")
DOCUMENTS: list[tuple[str, dict, list[tuple[str | None, str]]]] = [
    ("ok-preliminary", {**PRELIMINARY, "incident_id": NEW}, []),
    ("ok-update", {**UPDATE, "summary": "One adult injured; released from hospital."}, []),
    (
        "ok-correction-consistent",
        {
            **FIXED_LOCATION,
            "headline": "Officer-involved shooting near 6th St and Main St",
            "body": PRELIMINARY["body"].replace("5th St", "6th St"),
        },
        [],
    ),
    ("ok-correction-confirmed", {**FIXED_LOCATION, "keep_unchanged": ["headline", "body"]}, []),
    (
        "consistency-old-value",
        FIXED_LOCATION,
        [("headline", "consistency.old_value"), ("body", "consistency.old_value")],
    ),
    (
        "consistency-partly-confirmed",
        {**FIXED_LOCATION, "keep_unchanged": ["headline"]},
        [("body", "consistency.old_value")],
    ),
    (
        "consistency-hidden-value",
        {
            **FIXED_LOCATION,
            "body": "Officers responded to a call.",
            "private_fields": ["location"],
            "keep_unchanged": ["headline"],
        },
        [("headline", "consistency.hidden_value")],
    ),
    ("second-preliminary", PRELIMINARY, [("stage", "stage.second_preliminary")]),
    ("unknown-incident", {**UPDATE, "incident_id": "2026-0999"}, [("stage", "stage.first_not_preliminary")]),
    (
        "correction-without-note",
        {k: v for k, v in FIXED_LOCATION.items() if k != "correction_note"},
        [("correction_note", "correction.note_required")],
    ),
    (
        "nothing-changed",
        {**FIXED_LOCATION, "location": PRELIMINARY["location"]},
        [(None, "change.none")],
    ),
    (
        "note-on-update",
        {**UPDATE, "correction_note": NOTE},
        [("correction_note", "correction.note_not_allowed")],
    ),
    (
        "preliminary-missing-fields",
        {k: v for k, v in PRELIMINARY.items() if k not in ("summary", "body")} | {"incident_id": NEW},
        [("summary", "preliminary.field_required"), ("body", "preliminary.field_required")],
    ),
    (
        "several-field-rules",
        {**PRELIMINARY, "incident_id": NEW, "headline": "x" * 201, "occurred_at": "2026-11-20 21:14"},
        [("headline", "text.too_long"), ("occurred_at", "time.format")],
    ),
    (
        "bad-id-and-stage",
        {**UPDATE, "incident_id": "../etc/passwd", "stage": "final"},
        [("incident_id", "incident_id.format"), ("stage", "stage.unknown")],
    ),
    ("unknown-field", {**UPDATE, "victim_name": "x"}, [("'victim_name'", "document.unknown_field")]),
    (
        "privacy-phone",
        {**PRELIMINARY, "incident_id": NEW, "body": "A witness can be reached at 217-555-0199."},
        [("body", "privacy.phone")],
    ),
    (
        "privacy-date-of-birth-in-update",
        {**UPDATE, "summary": "The man injured, DOB 04/12/1990, is in stable condition."},
        [("summary", "privacy.date_of_birth")],
    ),
    (
        "ok-privacy-override",
        {
            **PRELIMINARY,
            "incident_id": NEW,
            "body": "Tips: call 217-555-0199.",
            "privacy_override": [{"category": "phone", "value": "217-555-0199", "justification": WHY}],
        },
        [],
    ),
    ("bidi-control", {**UPDATE, "contact": "555-0100 \u202etxt.exe"}, [("contact", "text.characters")]),
]
assert len(DOCUMENTS) == 20


def seed(store) -> None:
    """Write the history's records into a store, byte for byte as the ledger writes them."""
    for record in HISTORY:
        assert store.create(ledger.record_key(record["incident_id"], record["version"]), canonical(record))

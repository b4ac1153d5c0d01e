"""A realistic incident history built with the real core (no storage), for view tests."""

from __future__ import annotations

import functools
import hashlib

from releases import catalog as catalog_mod
from releases.document import parse_update
from releases.records import next_record

PRELIMINARY = {
    "incident_id": "2026-0142",
    "stage": "preliminary",
    "headline": "Officer-involved shooting near 5th St and Main St",
    "summary": "One adult injured; transported to a hospital.",
    "body": "At about 9:14 p.m. officers responded to a call near 5th St and Main St.\n\n"
    "One adult was injured and taken to a hospital. No officers were hurt.",
    "occurred_at": "2026-11-20T21:14:00-05:00",
    "location": "5th St and Main St",
    "agency": "Springfield Police Department",
    "contact": "Public Information Office, pio@example.org, 555-0100",
}
UPDATE = {
    "incident_id": "2026-0142",
    "stage": "updated",
    "summary": "One adult injured; in stable condition at a hospital.",
}
CORRECTION = {
    "incident_id": "2026-0142",
    "stage": "corrected",
    "location": "6th St and Main St",
    "correction_note": "The first statement gave the wrong cross street; body-camera video shows 6th St.",
    # The headline and the statement still name 5th St: confirmed as they are (the consistency check), so the
    # correction changes one field, as the views' tests expect. tests/test_consistency.py checks the check.
    "keep_unchanged": ["headline", "body"],
}
TIMES = ["2026-11-21T03:00:00Z", "2026-11-21T09:30:00Z", "2026-11-22T15:45:00Z"]


def fixed_salt(key: str, pointer: str) -> str:
    """Salts that are the same on every call, so sample records are too (never for real records)."""
    return hashlib.sha256(f"{key}{pointer}".encode()).hexdigest()[:32]


def history(docs=(PRELIMINARY, UPDATE, CORRECTION), times=TIMES, by="pio.jones"):
    """Return the records (oldest first) that publishing ``docs`` in order would create."""
    records = []
    for n, doc in enumerate(docs):
        update = parse_update(doc)
        key = f"incident_release/manual__sample_{update.incident_id}_{n}"
        records.append(
            next_record(
                update,
                records[-1] if records else None,
                released_at=times[n],
                released_by=by,
                key=key,
                salt=functools.partial(fixed_salt, key),
            )
        )
    return records


def catalog(window: int = 50):
    second = [
        {**PRELIMINARY, "incident_id": "2026-0150", "headline": "Death in custody at the county jail"},
    ]
    return catalog_mod.build(
        {"2026-0142": history(), "2026-0150": history(second, ["2026-11-23T12:00:00Z"])},
        feed_window=window,
        index_window=100,
    )[0]

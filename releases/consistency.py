"""The consistency check: a value a release changes must not still stand elsewhere in the statement.

A correction that changes ``location`` from "5th St and Main St" to "6th St and Main St" while the
headline still says "near 5th St and Main St" publishes the wrong fact again, right under the banner
that corrects it. So when an update or a correction changes a statement field, every other statement
field (the headline included) that still contains the old value is reported before anything is written,
naming the field and quoting the old value. The release goes ahead once each such field is changed too,
or the PIO confirms it is right as it is by listing it under ``keep_unchanged`` (a headline may name the
old street on purpose: "... near 6th St, not 5th St as first reported"); each confirmation is recorded
in the version (``kept_unchanged``) and shown in its history.

How "contains" is read: the old value as a whole, case, accents, dashes and runs of spaces aside (the
privacy guard's folding, :func:`releases.privacy.fold`), and as whole words ("Main St" is not found in
"Main Street"). Not reported:

- a change that only adds to the old value ("Main St" -> "Main St and 5th Ave"): the old text is still
  true, so other fields that repeat it are too;
- the correction note, which is where a PIO says what was wrong.

A field whose old value is hidden (``private_fields``) cannot be confirmed: keeping another field that
still holds it would publish the hidden text again. Such a field must be changed; the refusal does not
quote the hidden value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import privacy

# The longest old value quoted in a refusal (a long statement is named, not repeated).
QUOTE = 120


@dataclass(frozen=True)
class Stale:
    """``field`` still contains the value ``changed`` had before this release."""

    field: str
    changed: str
    was: str
    now: str

    def as_record(self) -> dict[str, str]:
        """What a version records when the PIO confirms it: field names only (the old value is in the
        version's ``changes`` already, or hidden there)."""
        return {"field": self.field, "changed": self.changed}


def contains(text: str, value: str) -> bool:
    """Whether ``text`` contains ``value`` as whole words, folded as the privacy guard folds."""
    needle = privacy.fold(value)[0].strip()
    if not needle:
        return False
    pattern = r"(?<!\w)" + re.escape(needle) + r"(?!\w)"
    return re.search(pattern, privacy.fold(text)[0]) is not None


def stale(latest: dict[str, Any], statement: dict[str, str], fields: tuple[str, ...]) -> list[Stale]:
    """Each (field, changed field) where ``statement`` (the next version's fields) still contains a value
    that this release changes from ``latest``; ``fields`` are the statement fields, in their order."""
    found = []
    for changed in fields:
        was, now = latest[changed], statement[changed]
        if was == now or contains(now, was):
            continue
        for field in fields:
            if field != changed and contains(statement[field], was):
                found.append(Stale(field, changed, was, now))
    return found


def quote(value: str) -> str:
    value = " ".join(value.split())
    return f"“{value if len(value) <= QUOTE else value[: QUOTE - 1] + '…'}”"

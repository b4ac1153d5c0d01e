"""Every refusal a PIO can meet, named so they understand it.

Each error names the field it is about (or ``None`` for the whole release), says what was
wrong in a PIO's words and carries a stable rule id (``code``, listed in
:data:`releases.checks.RULES`); ``str(err)`` is the sentence shown in Airflow, the CLI and logs.
:func:`releases.checks.check` reports the same errors, all at once, as :class:`~releases.checks.Refusal`.
"""

from __future__ import annotations


class ReleaseError(Exception):
    """Base class: a release was refused and nothing was written."""

    def __init__(self, field: str | None, rule: str, code: str = "refused") -> None:
        self.field = field
        self.rule = rule
        self.code = code
        super().__init__(f"{field}: {rule}" if field else rule)


class InvalidUpdate(ReleaseError):
    """The update document breaks a rule of its own (type, length, pattern, time zone...)."""


class StageOrderError(ReleaseError):
    """The stage does not follow from the incident's history (e.g. a second preliminary)."""


class NoChangeError(StageOrderError):
    """An updated/corrected release whose content equals the latest version."""


class InconsistentUpdate(ReleaseError):
    """A field still states a value the release changes (see :mod:`releases.consistency`)."""


class StorageFault(Exception):
    """Object storage failed or answered something the ledger cannot interpret.

    Not a refusal: the document may be fine. Faults are retried (botocore, then Airflow's task
    retries) and reported as faults, never to the PIO as "refused".
    """

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(what)

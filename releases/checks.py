"""One check before a run exists: every rule a release would be refused for, all at once.

The release desk (a Python call), the REST validation endpoint (``plugins/release_desk``),
``releases validate`` and ``releases submit``, and the inbox all call :func:`check`, so they cannot
disagree. It gives every problem at once where the rules do not depend on each other (issue 16: a PIO
fixed one refusal only to meet the next):

1. the document's own rules (:func:`releases.document.read_update`): each field's type, length,
   characters and format, the fields a stage needs, ``withheld``, ``privacy_override``,
   ``private_fields``, ``keep_unchanged``, ``checklist``; every field is checked even when another is
   wrong;
2. whatever those refused, the rules that need only fields that passed: the document's ``checklist``
   against the deployment's (:mod:`releases.checklist`), ``release_at`` (in the future, at most
   ``RELEASES_SCHEDULE_MAX_DAYS`` ahead), the stage order with the incident's history (a first release
   that is not preliminary, a second preliminary) and the privacy guard on every text that passed;
3. once the document's own rules pass, with the history (when the caller could read it), the rules
   that need the whole statement: nothing changed, the consistency check (:mod:`releases.consistency`),
   the privacy guard with the agency contact in force; without it, the privacy guard with the contact
   the document gives.

The release itself checks the same rules again when it runs (a document can race another release); each
refusal there is the same sentence, raised as a :class:`releases.errors.ReleaseError`, and the run ends as
*refused*, not failed (see README, "When a release is refused").

A refusal is a field (a key of the update document, or None for the document as a whole), a stable rule
id from :data:`RULES` and a message in a PIO's words that says what to do.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import checklist, privacy, stages
from .document import ALL_STATEMENT, CORRECTION_NOTE, TEXT_FIELDS, read_field, read_update, release_at_problem
from .errors import InvalidUpdate, ReleaseError

# Every rule id a check can give, and what it means. README's table "Every rule, checked before a run
# exists" lists the same ids (a test keeps them in step).
RULES: dict[str, str] = {
    "document.not_object": "the document is not a JSON object",
    "document.not_plain_json": "the document holds something other than text, numbers, lists and objects",
    "document.too_large": "the document is larger than 64 KiB",
    "document.too_deep": "the document is nested more than 8 levels deep",
    "document.empty": "the file is empty",
    "document.not_utf8": "the file is not UTF-8 text",
    "document.not_json": "the file is not JSON",
    "document.duplicate_field": "a field is given twice",
    "document.unknown_field": "a field the update document does not have",
    "incident_id.required": "no incident number",
    "incident_id.format": "an incident number that is not 3-64 letters, digits or hyphens",
    "stage.required": "no stage",
    "stage.unknown": "a stage other than preliminary, updated or corrected",
    "text.not_text": "a value that is not text",
    "text.too_long": "text longer than the field's maximum",
    "text.single_line": "a line break in a one-line field",
    "text.characters": "a control, invisible or direction character, or a noncharacter",
    "time.format": "a time without a date, a time of day or an offset from UTC",
    "time.offset": "an offset from UTC that does not exist",
    "time.invalid": "a date or time that does not exist (month 13, hour 25...)",
    "time.range": "a time before 1900 or after 2100",
    "preliminary.field_required": "a statement field missing from the first, preliminary release",
    "correction.note_required": "a correction without a correction note",
    "correction.note_not_allowed": "a correction note on a release that is not a correction",
    "withheld.format": "a withheld list that is not a list of category and text",
    "withheld.sealed": "a sealed withheld item that cannot be opened",
    "privacy_override.format": "a privacy override that does not name a category and an exact value",
    "privacy_override.justification": "a privacy override without a justification of 20-1000 characters",
    "private_fields.format": "private_fields that are not statement field names",
    "private_fields.preliminary": "private_fields on a first release",
    "private_fields.not_given": "a field listed in private_fields without its new text",
    "private_fields.unchanged": "a field listed in private_fields whose new text is the same",
    "keep_unchanged.format": "keep_unchanged that are not statement field names",
    "keep_unchanged.preliminary": "keep_unchanged on a first release",
    "language.format": "a language that is not a language tag such as en, es-MX or ar",
    "checklist.format": "a checklist that is not a list of item ids, each once",
    "checklist.unknown": "a checklist naming an item the deployment's checklist does not have",
    "checklist.incomplete": "a checklist that leaves out some of its items",
    "checklist.required": "no checklist, where the deployment requires one",
    "text.placeholder": "a starting template's placeholder, such as <location>, left in the text (desk)",
    "release_at.past": "a scheduled release time that is not in the future",
    "release_at.too_far": "a scheduled release time more than 30 days ahead (RELEASES_SCHEDULE_MAX_DAYS)",
    "stage.first_not_preliminary": "an update or correction of an incident that has no release",
    "stage.second_preliminary": "a second preliminary release of an incident",
    "change.none": "an update or correction that changes nothing",
    "consistency.old_value": "a field that still contains a value the release changes, not confirmed",
    "consistency.hidden_value": "a field that still contains a value the release hides (private_fields)",
    **{
        f"privacy.{category}": f"the privacy guard found {what}"
        for category, what in privacy.CATEGORIES.items()
    },
}

_TITLES = {
    "incident_id": "Incident ID",
    "stage": "Stage",
    **{name: spec.title for name, spec in TEXT_FIELDS.items()},
    "withheld": "Withheld",
    "privacy_override": "Privacy override",
    "private_fields": "Hide the old value of",
    "keep_unchanged": "Right as it is",
    "language": "Language",
    "checklist": "Before release",
    "release_at": "Release at",
    "approval": "Approval",  # refused in the run, after approval (releases.approval)
}


@dataclass(frozen=True)
class Refusal:
    """One rule a document breaks: where, which rule, and what to do, in a PIO's words."""

    field: str | None
    rule: str
    message: str
    # The privacy guard's finding as written (for the desk's wording, :func:`on_desk`); not in as_dict.
    found: str | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def title(self) -> str | None:
        """The field's label on the trigger form and the desk ("Occurred at")."""
        return _TITLES.get(self.field, self.field) if self.field else None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message

    def as_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "title": self.title, "rule": self.rule, "message": self.message}

    @classmethod
    def from_error(cls, err: ReleaseError) -> Refusal:
        return cls(err.field, err.code, err.rule, getattr(err, "found", None))


def on_desk(refusal: Refusal) -> Refusal:
    """A refusal as the release desk shows it: a privacy finding in a statement field says what the PIO can
    do on the desk (remove or withhold it; an override needs the trigger form or the command line) and
    what was found, not where by character. Every other refusal, and the rule, unchanged."""
    category = refusal.rule.removeprefix("privacy.")
    if category == refusal.rule or category not in privacy.CATEGORIES or refusal.field == "privacy_override":
        return refusal
    return Refusal(refusal.field, refusal.rule, privacy.desk_message(category, refusal.found), refusal.found)


def refused(err: ReleaseError) -> dict[str, Any]:
    """The outcome a run records when the release refuses its document (Airflow's XCom ``outcome``)."""
    refusal = Refusal.from_error(err)
    return {"outcome": "refused", "summary": f"refused: {refusal}", "refusals": [refusal.as_dict()]}


History = Sequence[dict[str, Any]] | Callable[[str], Sequence[dict[str, Any]]] | None


def check(doc: Any, history: History = None, settings: Any = None) -> list[Refusal]:
    """Every rule ``doc`` breaks, all at once (issue 16: refusals used to arrive one round at a time);
    empty when it would be released. First the document's own rules, then the rules that do not depend
    on the fields those refused: the checklist, ``release_at``, the stage order and the privacy guard
    (on every text that passed its own rules). The rules that need the whole statement (nothing changed,
    the consistency check) only once the document's own rules pass.

    ``history``: the incident's records, oldest first (empty: it has none yet), or a function that reads
    them given the incident id (called once the incident number and stage pass their own rules); None
    when they cannot be read: then the rules that need them are not checked (the caller says so).
    ``settings``: the deployment's :class:`releases.settings.Settings` (or only its ``public``: the
    contacts and addresses the privacy guard never flags; then the packaged checklist, not required);
    None: nothing listed.
    """
    items = settings.checklist() if hasattr(settings, "checklist") else checklist.read()
    public = settings if isinstance(settings, privacy.Public) else getattr(settings, "public", None)
    public = public or privacy.NOTHING_LISTED
    max_days = getattr(settings, "schedule_max_days", DEFAULT_SCHEDULE_MAX_DAYS)
    update, problems = read_update(doc)
    if update is None:
        # Not a document at all (not an object, not JSON, too large...): no field of it was looked at.
        if not isinstance(doc, dict) or any(p.field is None for p in problems):
            return _refusals(problems)
        return _refusals(problems) + _independent(doc, problems, history, items, public, max_days)
    confirmed = _refusals(items.problems(update.checklist))
    scheduled = _refusals(
        [p] if (p := schedule_problem(update.release_at, datetime.now(UTC), max_days)) else []
    )
    records = history(update.incident_id) if callable(history) else history
    if records is None:
        if update.stage == "preliminary":
            return scheduled + _refusals(stages.problems(update, None, public)) + confirmed
        # The contact in force is the latest version's unless the document gives one: unknown here.
        contact = update.fields.get("contact", "")
        flagged = privacy.problems(_texts(update), contact, update.privacy_overrides, public)[1]
        return scheduled + _refusals(flagged) + confirmed
    latest = records[-1] if records else None
    return scheduled + _refusals(stages.problems(update, latest, public)) + confirmed


def _texts(update) -> dict[str, str]:
    submitted = {**update.fields}
    if update.correction_note:
        submitted["correction_note"] = update.correction_note
    if update.on_behalf_of:
        submitted["released_by"] = update.on_behalf_of
    return submitted


def _independent(
    doc: dict[str, Any], problems: list[ReleaseError], history: History, items, public, max_days: int
) -> list[Refusal]:
    """For a document its own rules refused: the rules that do not depend on the fields refused, on the
    fields that passed (each read as :func:`releases.document.read_update` reads it)."""
    failed = {p.field for p in problems}
    out: list[ReleaseError] = []

    def passed(name: str) -> Any:
        if name in failed or doc.get(name) in (None, ""):
            return None
        try:
            return read_field(name, doc.get(name))
        except ReleaseError:  # refused already: it is in ``failed``
            return None

    if "checklist" not in failed:
        out += items.problems(checklist.parse(doc.get("checklist")))
    if late := schedule_problem(passed("release_at"), datetime.now(UTC), max_days):
        out.append(late)
    incident, stage = passed("incident_id"), passed("stage")
    records = None
    if incident and stage:
        records = history(incident) if callable(history) else history
    latest = records[-1] if records else None
    if records is not None and (wrong := stages.order_problem(incident, stage, latest)):
        out.append(wrong)
    # The privacy guard on every text that passed its own rules; not when the withheld items or the
    # overrides, which decide what it may let through, were refused themselves.
    if not failed & {"withheld", "privacy_override"}:
        texts = {name: value for name in TEXT_FIELDS if (value := passed(name)) is not None}
        withheld = privacy.parse_withheld(doc.get("withheld")) or ()
        overrides = privacy.parse_overrides(doc.get("privacy_override")) or ()
        texts = (
            {name: privacy.redact(value, withheld) for name, value in texts.items()} if withheld else texts
        )
        contact = texts.get("contact") or (latest or {}).get("contact") or ""
        out += privacy.problems(texts, contact, overrides, public)[1]
    return _refusals(out)


# The bound when the settings do not give one (RELEASES_SCHEDULE_MAX_DAYS).
DEFAULT_SCHEDULE_MAX_DAYS = 30


def schedule_problem(release_at: str | None, now: datetime, max_days: int) -> ReleaseError | None:
    """A scheduled time (``release_at``, UTC ISO 8601 as the document reads it) must be in the future and
    at most ``max_days`` ahead of ``now`` (the submission): checked before a run exists and by the release.
    """
    if late := release_at_problem(release_at, now):
        return late
    if release_at and datetime.fromisoformat(release_at) > now + timedelta(days=max_days):
        return InvalidUpdate(
            "release_at",
            f"is more than {max_days} days ahead ({release_at}); give a time within {max_days} days, or "
            "submit the statement closer to the time",
            "release_at.too_far",
        )
    return None


# A placeholder as the desk's starting templates write them: "<location>", "<what is new>".
PLACEHOLDER = re.compile(r"<[^<>\n]{1,40}>")


def template_placeholders(texts: Iterable[str]) -> frozenset[str]:
    """Every placeholder the starting templates' texts hold (``desk_templates/``, files anyone may edit)."""
    return frozenset(p for text in texts for p in PLACEHOLDER.findall(text))


def placeholder_problems(doc: Any, placeholders: frozenset[str]) -> list[Refusal]:
    """A template's placeholder left in a text of ``doc`` (issue 16's PIO trial: "Officer-involved shooting
    near <location>" was published, and a published version stays). Only the templates' own placeholders
    count, so a statement may still quote text in angle brackets that no template uses."""
    if not isinstance(doc, dict) or not placeholders:
        return []
    out = []
    for spec in (*ALL_STATEMENT.values(), CORRECTION_NOTE):
        value = doc.get(spec.name)
        if not isinstance(value, str):
            continue
        left = [p for p in PLACEHOLDER.findall(value) if p in placeholders]
        if left:
            listed = ", ".join(f"“{p}”" for p in dict.fromkeys(left))
            out.append(
                Refusal(
                    spec.name,
                    "text.placeholder",
                    f"still holds the template's placeholder {listed}: replace it with what is known, "
                    "or take it out",
                )
            )
    return out


def _refusals(errors: list[ReleaseError]) -> list[Refusal]:
    return [Refusal.from_error(err) for err in errors]


def history_from_site(fetch: Callable[[str], bytes | None]) -> Callable[[str], list[dict[str, Any]]]:
    """The incident's records read as anyone reads them (``v1.json``, ``v2.json``... until one is missing):
    ``fetch`` is :func:`releases.integrity.http_fetcher` of the public site, or a store's ``get``."""
    import json

    from .ledger import record_key

    def read(incident_id: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        while (raw := fetch(record_key(incident_id, len(records) + 1))) is not None:
            records.append(json.loads(raw))
        return records

    return read

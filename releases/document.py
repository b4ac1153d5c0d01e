"""The update document a PIO submits, and its validation.

One table (``FIELDS``) describes every field; validation, the Airflow trigger form
(``param_schemas``) and the README's field list are all derived from it, so they
cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import checklist, privacy, sealing, text
from .errors import InvalidUpdate

STAGES = ("preliminary", "updated", "corrected")
INCIDENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{2,63}$"
# A date and time with its offset from UTC ("Z" or +hh:mm, mandatory), as RFC 3339 writes it or as a
# person types it: "2026-11-25T23:40:00-05:00", "2026-11-25 23:40 -05:00".
_DATE_TIME_REST = r"-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)? ?([Zz]|[+-]\d{2}:\d{2})$"
TIMESTAMP_PATTERN = r"^\d{4}" + _DATE_TIME_REST
# The trigger form refuses a year outside 1900-2100 before a run exists; parse_timestamp
# says why in words, and checks the exact bounds.
FORM_TIMESTAMP_PATTERN = r"^(19\d{2}|20\d{2}|2100)" + _DATE_TIME_REST
# Every time must be shown in every display time zone. A UTC offset is always less than
# 24 hours (datetime enforces it), so a moment between these bounds is shown without
# error in any zone; a year like 0001 or 9999 is a typo that would fail in some zone.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2101, 1, 1, tzinfo=UTC)  # exclusive
# BCP 47 (RFC 5646) language tag, well-formed: a 2-3 letter language (ISO 639; the grammar's 4-8 letter
# forms are reserved or unregistered, so "english" is refused), then optional extlang, script, region,
# variant, extension and private-use subtags.
LANGUAGE_PATTERN = (
    r"^[A-Za-z]{2,3}(-[A-Za-z]{3}){0,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?"
    r"(-([A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*(-[0-9A-WY-Za-wy-z](-[A-Za-z0-9]{2,8})+)*"
    r"(-[Xx](-[A-Za-z0-9]{1,8})+)?$"
)
LANGUAGE_MAX = 35  # RFC 5646 section 4.4.1: a tag of up to 35 characters must be kept whole
MAX_DOCUMENT_BYTES = 64 * 1024
# The deepest a valid document goes is 3 (document, withheld list, withheld item).
MAX_NESTING = 8


@dataclass(frozen=True)
class Field:
    name: str
    title: str
    description: str
    max_length: int
    multiline: bool = False
    statement: bool = True  # part of the statement: carried over and diffed between versions
    timestamp: bool = False


FIELDS: tuple[Field, ...] = (
    Field("headline", "Headline", "One line that says what happened.", 200),
    Field("summary", "Summary", "Two or three sentences: the facts known now.", 1000, multiline=True),
    Field(
        "body",
        "Statement",
        "The full statement as plain text; separate paragraphs with a blank line. No HTML.",
        20000,
        multiline=True,
    ),
    Field(
        "occurred_at",
        "Occurred at",
        "When the incident happened, with its offset from UTC, e.g. 2026-11-20 21:14 -05:00 "
        "(or 2026-11-20T21:14:00-05:00; years 1900-2100).",
        40,
        timestamp=True,
    ),
    Field("location", "Location", "Where it happened, as precisely as may be published.", 200),
    Field("agency", "Agency", "The agency releasing the statement.", 200),
    Field("contact", "Media contact", "Who newsrooms should contact.", 300),
)
STATEMENT_FIELDS = tuple(f.name for f in FIELDS)
ALL_STATEMENT = {f.name: f for f in FIELDS}
CORRECTION_NOTE = Field(
    "correction_note",
    "Correction note",
    "Required when the stage is corrected: what was wrong and why it changed.",
    2000,
    multiline=True,
    statement=False,
)
RELEASED_BY = Field(
    "released_by",
    "On behalf of",
    "Optional: the person or office this release is made for, e.g. Chief of Police. It is shown as "
    '"on behalf of" next to the Airflow user who released it, never instead of it.',
    200,
    statement=False,
)
# Every free-text field of the document by name: the statement's, the correction note and "on behalf of".
TEXT_FIELDS = {**ALL_STATEMENT, CORRECTION_NOTE.name: CORRECTION_NOTE, RELEASED_BY.name: RELEASED_BY}
ALL_FIELDS = (
    "incident_id",
    "stage",
    *STATEMENT_FIELDS,
    "correction_note",
    "released_by",
    "withheld",
    "privacy_override",
    "private_fields",
    "keep_unchanged",
    "language",
    "checklist",
    "release_at",
)
# Shown instead of the earlier value of a field listed under ``private_fields``.
REMOVED = "[removed]"


@dataclass(frozen=True)
class Update:
    """A validated update. ``fields`` holds only the statement fields that were given."""

    incident_id: str
    stage: str
    fields: dict[str, str]
    correction_note: str | None = None
    # The document's ``released_by``: whom the release is made for. Who released it is the
    # authenticated Airflow user, which no document can set.
    on_behalf_of: str | None = None
    # Withheld text is already replaced in ``fields`` and ``correction_note``; only the
    # overrides travel on, to be checked against the findings and recorded.
    privacy_overrides: tuple[privacy.Override, ...] = ()
    # Statement fields whose earlier value must not be shown again (a name published by mistake):
    # the change is recorded with ``was`` = REMOVED, so the value never enters the new record.
    private_fields: tuple[str, ...] = ()
    # Statement fields the PIO confirms are right as they are although they still contain a value this
    # release changes (the consistency check, :mod:`releases.consistency`); recorded with the version.
    keep_unchanged: tuple[str, ...] = ()
    # The withheld items, to keep their text out of refusals that quote earlier, published values. Never
    # recorded.
    withheld: tuple[privacy.Withheld, ...] = dataclasses.field(default=(), repr=False)
    # BCP 47 tag of the statement's language (None: not given; carried over from the latest version).
    language: str | None = None
    # The ids of the pre-release checklist's items the submitter confirms (None: not given); checked
    # against the deployment's checklist (:mod:`releases.checklist`) and recorded with their text.
    checklist: tuple[str, ...] | None = None
    # When the statement is to be public (scheduled release), UTC ISO 8601; None: at once. That it is in
    # the future is checked before a run exists (:func:`releases.checks.check`), not when the run releases.
    release_at: str | None = None


_TYPE_NAMES = {
    bool: "true or false",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "a group of fields",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), "something else")


def _check_text(spec: Field, value: Any) -> str | None:
    """Return the cleaned text, or ``None`` when the field was left empty."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidUpdate(spec.name, f"must be text in quotes, not {_type_name(value)}", "text.not_text")
    # Browsers submit textareas with CRLF; the record stores LF only, and NFC (see text).
    value = text.normalize(value.replace("\r\n", "\n"))
    if (rule := text.problem(value, multiline=spec.multiline)) is not None:
        code = "text.single_line" if rule == text.SINGLE_LINE else "text.characters"
        raise InvalidUpdate(spec.name, rule, code)
    if not value.strip():
        return None
    if len(value) > spec.max_length:
        raise InvalidUpdate(
            spec.name,
            f"must be at most {spec.max_length} characters (got {len(value)})",
            "text.too_long",
        )
    return value.strip() if not spec.multiline else value.strip("\n ")


TIME_EXAMPLE = "2026-11-25 23:40 -05:00"


def parse_timestamp(field: str, value: str) -> datetime:
    if not re.fullmatch(TIMESTAMP_PATTERN, value):
        raise InvalidUpdate(
            field,
            f"give a date and time with its time zone as an offset from UTC, like {TIME_EXAMPLE} "
            "(or Z for UTC itself)",
            "time.format",
        )
    # "2026-11-25 23:40 -05:00": the space before the offset is how people type it, not part of the time.
    value = re.sub(r" (?=[Zz+-][0-9:]*$)", "", value)
    offset = re.search(r"([+-])(\d{2}):(\d{2})$", value)
    if offset and (int(offset[2]) > 23 or int(offset[3]) > 59):
        raise InvalidUpdate(
            field,
            "has a time zone offset that does not exist; offsets run from -23:59 to +23:59",
            "time.offset",
        )
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise InvalidUpdate(
            field,
            f"is not a date and time that exists ({exc}); check the day, month and hour",
            "time.invalid",
        ) from None
    if parsed.tzinfo is None:  # pragma: no cover - the pattern already requires an offset
        raise InvalidUpdate(field, "must carry a time zone", "time.format")
    # The year as written first: converting year 1 or 9999 to UTC may itself overflow.
    if not (EARLIEST.year <= parsed.year < LATEST.year and EARLIEST <= parsed < LATEST):
        raise InvalidUpdate(
            field,
            "must be between 1900-01-01 and 2100-12-31, both as written and in UTC; a time outside "
            "that range is a typo and cannot be shown in every time zone",
            "time.range",
        )
    return parsed


def _label(key: object) -> str:
    # A field name is untrusted input and goes to logs: ascii() and a length cap.
    return key if key in ALL_FIELDS else ascii(key)[:60]


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidUpdate(
                _label(key),
                "is given twice in the document; give each field once (JSON readers would "
                "silently keep only the last one)",
                "document.duplicate_field",
            )
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise InvalidUpdate(None, f"the file is not valid JSON: {name} is not a JSON value", "document.not_json")


def loads(data: bytes) -> Any:
    """Read an update document from the bytes of a file (command line, inbox).

    Every way a file can fail to be a document is an :class:`InvalidUpdate` saying why:
    empty, too large, not UTF-8, not JSON, nested too deeply, or a key given twice (JSON
    parsers keep the last of duplicate keys, so ``"withheld": []`` at the end of a file
    would silently cancel the real list). Airflow's trigger form and REST API parse the
    JSON themselves before any code of ours sees it; see README.
    """
    if len(data) > MAX_DOCUMENT_BYTES:
        raise InvalidUpdate(
            None, f"the update document is larger than {MAX_DOCUMENT_BYTES} bytes", "document.too_large"
        )
    if not data.strip():
        raise InvalidUpdate(None, "the file is empty", "document.empty")
    try:
        # A UTF-8 byte order mark (Windows Notepad writes one) is not part of the document.
        decoded = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidUpdate(
            None,
            f"the file is not UTF-8 text (byte {exc.start + 1} cannot be read); save it as UTF-8",
            "document.not_utf8",
        ) from None
    try:
        return json.loads(decoded, object_pairs_hook=_object_without_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidUpdate(
            None,
            f"the file is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            "document.not_json",
        ) from None
    except RecursionError:
        raise InvalidUpdate(
            None, f"the document is nested more than {MAX_NESTING} levels deep", "document.too_deep"
        ) from None
    except ValueError:  # the one other failure: an integer longer than Python's 4300-digit limit
        raise InvalidUpdate(
            None, "the file is not valid JSON: a number in it is too long", "document.not_json"
        ) from None


def _nesting(doc: Any) -> int:
    """How deep lists and objects go (1 for a flat object); iterative, so any depth is safe."""
    deepest, todo = 0, [(doc, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                return deepest
            todo.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


def parse_update(doc: Any) -> Update:
    """Validate a submitted document. Raises :class:`InvalidUpdate` naming the field and rule: the first
    of :func:`read_update`'s problems."""
    update, problems = read_update(doc)
    if problems:
        raise problems[0]
    assert update is not None  # noqa: S101 - read_update returns an update whenever it finds no problem
    return update


def _whole(doc: Any) -> InvalidUpdate | None:
    """What makes the document as a whole unreadable: then no field is looked at."""
    if not isinstance(doc, dict):
        return InvalidUpdate(None, "the update must be a JSON object", "document.not_object")
    # Before anything recursive (json.dumps below) looks at it.
    if _nesting(doc) > MAX_NESTING:
        return InvalidUpdate(
            None, f"the document is nested more than {MAX_NESTING} levels deep", "document.too_deep"
        )
    # Refuse oversized input before looking at any of it.
    try:
        size = len(json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    except (TypeError, ValueError):
        return InvalidUpdate(
            None, "the update must be plain JSON (text, lists, objects)", "document.not_plain_json"
        )
    if size > MAX_DOCUMENT_BYTES:
        return InvalidUpdate(
            None,
            f"the update document is larger than {MAX_DOCUMENT_BYTES} bytes ({size}); shorten it",
            "document.too_large",
        )
    return None


def read_update(doc: Any) -> tuple[Update | None, list[InvalidUpdate]]:
    """Every rule of the document alone, each field checked even when another is wrong: the update, or
    None and every problem found (in the order a reader meets them), so a PIO can fix them all at once.

    The rules that need the incident's history are :mod:`releases.stages`' (see :mod:`releases.checks`).
    """
    if (whole := _whole(doc)) is not None:
        return None, [whole]
    problems: list[InvalidUpdate] = []
    failed: set[str] = set()

    def attempt(name: str, check, *args):
        try:
            return check(*args)
        except InvalidUpdate as err:
            problems.append(err)
            failed.add(name)
            return None

    for key in sorted((k for k in doc if k not in ALL_FIELDS), key=str):
        problems.append(
            InvalidUpdate(
                _label(key),
                f"is not a field of the update document (allowed: {', '.join(ALL_FIELDS)})",
                "document.unknown_field",
            )
        )

    incident_id = attempt("incident_id", read_field, "incident_id", doc.get("incident_id"))
    stage = attempt("stage", read_field, "stage", doc.get("stage"))

    fields: dict[str, str] = {}
    for spec in FIELDS:
        if (value := attempt(spec.name, read_field, spec.name, doc.get(spec.name))) is not None:
            fields[spec.name] = value

    if stage == "preliminary":
        for spec in FIELDS:
            if spec.name not in fields and spec.name not in failed:
                problems.append(
                    InvalidUpdate(
                        spec.name,
                        "is required for the first, preliminary release",
                        "preliminary.field_required",
                    )
                )

    note = attempt("correction_note", read_field, "correction_note", doc.get("correction_note"))
    if "correction_note" not in failed:
        if stage == "corrected" and note is None:
            problems.append(
                InvalidUpdate(
                    "correction_note",
                    "is required when stage is corrected: say what was wrong and why",
                    "correction.note_required",
                )
            )
        if stage in ("preliminary", "updated") and note is not None:
            problems.append(
                InvalidUpdate(
                    "correction_note",
                    "is only allowed when stage is corrected",
                    "correction.note_not_allowed",
                )
            )

    on_behalf_of = attempt("released_by", read_field, "released_by", doc.get("released_by"))
    withheld = attempt("withheld", privacy.parse_withheld, doc.get("withheld"))
    overrides = attempt("privacy_override", privacy.parse_overrides, doc.get("privacy_override")) or ()
    if withheld:
        fields = {name: privacy.redact(value, withheld) for name, value in fields.items()}
        note = privacy.redact(note, withheld) if note else note
        on_behalf_of = privacy.redact(on_behalf_of, withheld) if on_behalf_of else on_behalf_of
        # Justifications are published too.
        overrides = tuple(
            privacy.Override(o.category, o.value, privacy.redact(o.justification, withheld))
            for o in overrides
        )
    private = attempt("private_fields", _private_fields, doc.get("private_fields"), stage, fields, failed)
    keep = attempt("keep_unchanged", _keep_unchanged, doc.get("keep_unchanged"), stage)
    language = attempt("language", parse_language, doc.get("language"))
    confirmed = attempt("checklist", checklist.parse, doc.get("checklist"))
    release_at = attempt("release_at", read_field, "release_at", doc.get("release_at"))
    if problems:
        return None, problems
    return Update(
        incident_id,
        stage,
        fields,
        note,
        on_behalf_of,
        overrides,
        private,
        keep,
        withheld or (),
        language=language,
        checklist=confirmed,
        release_at=release_at,
    ), []


def read_field(name: str, value: Any) -> Any:
    """One field of an update document on its own, as :func:`read_update` reads it: its clean value (None
    when left empty), or :class:`InvalidUpdate`. For ``incident_id``, ``stage``, ``release_at`` and every
    text field (:data:`TEXT_FIELDS`; a timestamp as ISO 8601). :mod:`releases.checks` reads the fields that
    passed with it, to run the rules that depend on them alone."""
    if name == "incident_id":
        return _incident_id(value)
    if name == "stage":
        return _stage(value)
    if name == "release_at":
        return parse_release_at(value)
    spec = TEXT_FIELDS[name]
    cleaned = _check_text(spec, value)
    if cleaned is not None and spec.timestamp:
        return parse_timestamp(name, cleaned).isoformat()
    return cleaned


def _incident_id(value: Any) -> str:
    if value is None or value == "":
        raise InvalidUpdate("incident_id", "is required", "incident_id.required")
    if not isinstance(value, str) or not re.fullmatch(INCIDENT_ID_PATTERN, value):
        raise InvalidUpdate(
            "incident_id",
            "must be 3 to 64 ASCII letters, digits or hyphens, starting with a letter or digit",
            "incident_id.format",
        )
    # Case-insensitive: 2026-abc and 2026-ABC are one incident, kept under its upper-case id.
    return value.upper()


def _stage(value: Any) -> str:
    if value is None or value == "":
        raise InvalidUpdate("stage", "is required", "stage.required")
    if value not in STAGES:
        raise InvalidUpdate("stage", f"must be one of {', '.join(STAGES)}", "stage.unknown")
    return value


def parse_release_at(value: Any) -> str | None:
    """The document's ``release_at`` (scheduled release): a date and time with its zone, as UTC ISO 8601."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidUpdate(
            "release_at", f"must be a date and time with its time zone, like {TIME_EXAMPLE}", "time.format"
        )
    return parse_timestamp("release_at", value).astimezone(UTC).isoformat()


def release_at_problem(release_at: str | None, now: datetime) -> InvalidUpdate | None:
    """A scheduled time must be in the future when the run is asked for (checked before a run exists)."""
    if release_at and datetime.fromisoformat(release_at) <= now:
        return InvalidUpdate(
            "release_at",
            f"is in the past ({release_at}); give a time in the future, or leave it empty to release at once",
            "release_at.past",
        )
    return None


def parse_language(value: Any) -> str | None:
    """The document's ``language``: a BCP 47 tag in its conventional case (``ar``, ``zh-Hant-TW``), or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > LANGUAGE_MAX or not re.fullmatch(LANGUAGE_PATTERN, value):
        shown = ascii(value)[:60] if isinstance(value, str) else type(value).__name__
        raise InvalidUpdate(
            "language",
            f"must be a BCP 47 language tag such as en, es-MX, ar or zh-Hant (a 2- or 3-letter language "
            f"code, then optional script, region and variant subtags joined by hyphens), not {shown}",
            "language.format",
        )
    subtags, out = value.split("-"), []
    for n, subtag in enumerate(subtags):
        # RFC 5646 section 2.1.1: scripts in title case, regions in upper case, the rest in lower case;
        # anything after a singleton (extension, private use) stays lower case.
        after_singleton = any(len(s) == 1 for s in subtags[:n])
        if n and not after_singleton and len(subtag) == 4 and subtag.isalpha():
            out.append(subtag.title())
        elif n and not after_singleton and len(subtag) == 2:
            out.append(subtag.upper())
        else:
            out.append(subtag.lower())
    return "-".join(out)


def seal_update(doc: dict[str, Any], public_key: str) -> dict[str, Any]:
    """The document to hand to Airflow, which keeps it (``conf``) where viewers read it: every occurrence
    of withheld text already replaced by ``[withheld: <category>]``, in every field that ``parse_update``
    would replace it in, and the withheld list sealed (:mod:`releases.sealing`). Refuses a malformed list."""
    withheld = privacy.parse_withheld(doc.get("withheld"))
    if not withheld:
        return doc
    out = dict(doc)
    for name in (*STATEMENT_FIELDS, CORRECTION_NOTE.name, RELEASED_BY.name):
        if isinstance(out.get(name), str):
            out[name] = privacy.redact(out[name], withheld)
    if isinstance(out.get("privacy_override"), list):
        out["privacy_override"] = [
            {
                k: privacy.redact(v, withheld) if isinstance(v, str) and k != "category" else v
                for k, v in o.items()
            }
            if isinstance(o, dict)
            else o
            for o in out["privacy_override"]
        ]
    return sealing.seal_document(out, public_key)


def _field_names(name: str, value: Any, example: str) -> list[str]:
    """A list of statement field names (each once), or the refusal."""
    if not isinstance(value, list):
        raise InvalidUpdate(name, f"must be a list of field names, e.g. {example}", f"{name}.format")
    names: list[str] = []
    for item in value:
        if item not in STATEMENT_FIELDS:
            # Untrusted input going to logs: ascii() and a length cap, as _label.
            raise InvalidUpdate(
                name,
                f"{ascii(item)[:60]} is not a statement field (allowed: {', '.join(STATEMENT_FIELDS)})",
                f"{name}.format",
            )
        if item not in names:
            names.append(item)
    return names


def _later_fields(field: str, value: Any, stage: str | None, example: str, why: str) -> list[str]:
    """``field``'s statement field names (none when empty), a list only a later release (updated or
    corrected) may give: a preliminary is refused, saying ``why``."""
    if value is None or value == []:
        return []
    names = _field_names(field, value, example)
    if stage == "preliminary":
        raise InvalidUpdate(
            field, f"is only allowed when stage is updated or corrected: {why}", f"{field}.preliminary"
        )
    return names


def _private_fields(
    value: Any, stage: str | None, fields: dict[str, str], failed: set[str]
) -> tuple[str, ...]:
    """The document's ``private_fields``: statement fields this release changes and whose old
    value must not be repeated. Whether each really changes is checked against the history
    (:func:`releases.stages.plan`)."""
    names = _later_fields(
        "private_fields", value, stage, '["body"]', "a first release has no earlier value to hide"
    )
    for name in names:
        if name not in fields and name not in failed:
            raise InvalidUpdate(
                "private_fields",
                f"lists {name} but gives no new {name}: give the text that replaces the value to hide "
                "(left empty, the field carries over and the old value stays published)",
                "private_fields.not_given",
            )
    return tuple(names)


def _keep_unchanged(value: Any, stage: str | None) -> tuple[str, ...]:
    """The document's ``keep_unchanged``: statement fields the PIO confirms are right as they are although
    they still contain a value this release changes (see :mod:`releases.consistency`)."""
    names = _later_fields(
        "keep_unchanged", value, stage, '["headline"]', "a first release changes no earlier value"
    )
    return tuple(sorted(names, key=STATEMENT_FIELDS.index))


def _optional_param(kind: str, title: str, description: str, **keywords: Any) -> dict[str, Any]:
    """A Param the form may leave empty (None), of JSON type ``kind``, with more JSON-schema ``keywords``."""
    return {"default": None, "type": ["null", kind], "title": title, "description": description, **keywords}


def _field_list_param(title: str, description: str) -> dict[str, Any]:
    """A Param listing statement field names (``private_fields``, ``keep_unchanged``)."""
    return _optional_param(
        "array",
        title,
        description,
        items={"type": "string", "enum": list(STATEMENT_FIELDS)},
        uniqueItems=True,
    )


def param_schemas(items: checklist.Checklist | None = None) -> dict[str, dict[str, Any]]:
    """JSON-schema keyword arguments for one Airflow ``Param`` per field (trigger form).

    The form can only check each field alone; cross-field rules (a correction needs a
    note, a preliminary needs every statement field) are checked by the first task.
    ``items``: the checklist whose ids the form offers (None: the file ``RELEASES_CHECKLIST`` names, read
    now; a file that cannot be read leaves the ids free here, and the release refuses unknown ones).
    """
    if items is None:
        import os

        try:
            items = checklist.read(os.environ.get("RELEASES_CHECKLIST") or None)
        except ValueError:
            items = None
    schemas: dict[str, dict[str, Any]] = {
        "incident_id": {
            "default": None,
            "type": "string",
            "title": "Incident ID",
            "description": "Your incident number, e.g. 2026-0142: 3-64 letters, digits or hyphens. "
            "Upper and lower case name the same incident.",
            "pattern": INCIDENT_ID_PATTERN,
        },
        "stage": {
            "default": "preliminary",
            "type": "string",
            "title": "Stage",
            "description": "preliminary for the first release; updated to add or change facts; "
            "corrected to fix something that was wrong (needs a correction note).",
            "enum": list(STAGES),
        },
    }
    for spec in (*FIELDS, CORRECTION_NOTE, RELEASED_BY):
        schema = _optional_param(
            "string",
            spec.title,
            spec.description
            + (
                " Required for the preliminary release; left empty, it carries over."
                if spec.statement
                else ""
            ),
            maxLength=spec.max_length,
        )
        if spec.multiline:
            schema["format"] = "multiline"
        if spec.timestamp:
            schema["pattern"] = FORM_TIMESTAMP_PATTERN
        schemas[spec.name] = schema
    schemas["withheld"] = _optional_param(
        "array",
        "Withheld",
        "Leave empty here. Withheld text (a juvenile's name...) goes through releases submit or "
        "the inbox, which replace it and seal it so Airflow never stores it. Text typed in this form is "
        "refused, but Airflow's audit log keeps what the form sent (see README, Withheld text and Airflow).",
        maxItems=50,
        items=sealing.items_schema(),
    )
    schemas["privacy_override"] = _optional_param(
        "array",
        "Privacy override",
        "Only to publish something the privacy guard flagged, one exact value at a time: "
        '[{"category": "phone", "value": "1-800-555-0100", "justification": "<why it must be published>"}]; '
        "the value and justification are published with the version. "
        f"Categories: {', '.join(privacy.CATEGORIES)}.",
    )
    schemas["private_fields"] = _field_list_param(
        "Hide the old value of",
        'Only with updated or corrected, e.g. ["body"]: fields you replace whose earlier text must '
        'not be shown again (a name published by mistake). The change is shown as "was [removed]" instead '
        "of repeating it. Earlier versions' own pages still show it until it is redacted.",
    )
    schemas["keep_unchanged"] = _field_list_param(
        "Right as it is, though it names an earlier value",
        'Only with updated or corrected, e.g. ["headline"]: a field that still contains a value this '
        "release changes (the old location in the headline...) is refused until you change it too or list it "
        "here to confirm it is right as it is. The confirmation is published with the version.",
    )
    schemas["language"] = _optional_param(
        "string",
        "Language",
        "Optional: the language of the statement as a BCP 47 tag, e.g. en, es, ar, zh-Hant. "
        "Pages mark the statement with it (and right to left for Arabic, Hebrew, Persian, Urdu...); feeds "
        "mark its entries. Left empty, it carries over.",
        maxLength=LANGUAGE_MAX,
        pattern=LANGUAGE_PATTERN,
    )
    schemas["checklist"] = checklist.schema(items)
    schemas["release_at"] = _optional_param(
        "string",
        "Release at (optional)",
        "Optional: when the statement is to become public, with its time zone, e.g. "
        f"{TIME_EXAMPLE}. Empty: at once. The run waits until then without holding a worker; mark the run "
        "failed before then to cancel it.",
        pattern=FORM_TIMESTAMP_PATTERN,
    )
    return schemas

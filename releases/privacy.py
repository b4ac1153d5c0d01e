"""The privacy guard: what an agency must not publish, checked before anything is written.

Two mechanisms:

- ``withheld``: the PIO lists text that must never appear (a juvenile's or a victim's
  name...), each with a category. Every occurrence in the submitted text is replaced by
  ``[withheld: <category>]`` *before* the version is planned, so the withheld text never
  reaches the record, a page, a feed or a log. The list itself is not recorded.
- findings: patterns that usually mean personal data (social security numbers, dates of
  birth, phone numbers and e-mail addresses other than the agency contact, home
  addresses). A finding refuses the release, naming the field, the category and where,
  never the matched text. A PIO may override one category only with a written
  justification, which is recorded in the version record for everyone to read.

Patterns err on the side of asking: a false alarm costs a PIO one sentence of
justification; a missed juvenile's name cannot be unpublished.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidUpdate
from .text import normalize, problem

CATEGORIES = {
    "ssn": "a social security number",
    "date_of_birth": "a date of birth",
    "phone": "a phone number other than the agency contact",
    "email": "an e-mail address other than the agency contact",
    "home_address": "a street address with a house number (a home address?)",
}
_STREET = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|"
    r"Terrace|Ter|Circle|Cir|Highway|Hwy|Parkway|Pkwy)"
)
_DATE = r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}|[A-Z][a-z]{2,8}\.? \d{1,2},? \d{4})"
PATTERNS: dict[str, re.Pattern[str]] = {
    "ssn": re.compile(r"(?<![\d-])\d{3}[- ]\d{2}[- ]\d{4}(?![\d-])"),
    "date_of_birth": re.compile(
        rf"\b(?:DOB|D\.O\.B\.?|date of birth|birth ?date|born(?: on)?)\b[\s:,(]*{_DATE}", re.IGNORECASE
    ),
    "phone": re.compile(
        r"(?<![\w-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?\d{3}[\s.-]\d{4}|\d{3}[\s.-]\d{3}[\s.-]\d{4}|\d{3}-\d{4})(?![\w-])"
    ),
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "home_address": re.compile(rf"\b\d{{1,6}}\s+(?:[NSEW]\.?\s+)?(?:[A-Z][\w'-]*\s+){{1,3}}{_STREET}\b"),
}
MIN_JUSTIFICATION = 20


@dataclass(frozen=True)
class Withheld:
    category: str
    text: str


def parse_withheld(value: object) -> tuple[Withheld, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 50:
        raise InvalidUpdate("withheld", 'must be a list of at most 50 {"category": ..., "text": ...} objects')
    items = []
    for n, item in enumerate(value, 1):
        if not isinstance(item, dict) or set(item) != {"category", "text"}:
            raise InvalidUpdate("withheld", f'item {n} must be an object with exactly "category" and "text"')
        category, withheld = item["category"], item["text"]
        # NFC as the statement fields are, or a name typed with a combining accent would
        # not match the same name in the statement, and would be published.
        category = normalize(category) if isinstance(category, str) else category
        if not isinstance(category, str) or not re.fullmatch(r"[\w' -]{1,40}", category):
            raise InvalidUpdate("withheld", f"item {n}: category must be 1-40 letters, digits, spaces or ' -")
        if not isinstance(withheld, str) or not 2 <= len(withheld.strip()) <= 200 or "\n" in withheld:
            raise InvalidUpdate("withheld", f"item {n}: text must be one line of 2-200 characters")
        withheld = normalize(withheld)
        if (rule := problem(withheld, multiline=False)) is not None:
            raise InvalidUpdate("withheld", f"item {n}: text {rule}")
        items.append(Withheld(category.strip(), withheld.strip()))
    # Longest first, so "Jamie Lee Doe" is withheld whole before "Jamie" could split it.
    return tuple(sorted(items, key=lambda w: (-len(w.text), w.text)))


def parse_overrides(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidUpdate(
            "privacy_override", "must be an object mapping a finding category to a justification"
        )
    for category, why in value.items():
        if category not in CATEGORIES:
            raise InvalidUpdate(
                "privacy_override",
                f"{ascii(category)[:50]} is not a finding category ({', '.join(CATEGORIES)})",
            )
        if not isinstance(why, str) or len(why.strip()) < MIN_JUSTIFICATION or len(why) > 1000:
            raise InvalidUpdate(
                "privacy_override",
                f"{category}: needs a written justification of {MIN_JUSTIFICATION} to 1000 characters",
            )
        # The justification is published with the version: the same rules as any text.
        if (rule := problem(normalize(why), multiline=True)) is not None:
            raise InvalidUpdate("privacy_override", f"{category}: the justification {rule}")
    return {k: normalize(value[k]).strip() for k in sorted(value)}


def redact(text: str, withheld: tuple[Withheld, ...]) -> str:
    for item in withheld:
        text = re.sub(re.escape(item.text), f"[withheld: {item.category}]", text, flags=re.IGNORECASE)
    return text


def screen(fields: dict[str, str], contact: str, overrides: dict[str, str]) -> list[dict[str, str]]:
    """Refuse on the first finding not overridden; return the overrides that were used.

    ``contact`` is the agency contact in force: its phone numbers and addresses may
    appear anywhere.
    """
    used: set[str] = set()
    for field, text in fields.items():
        if field == "contact":
            continue
        for category, pattern in PATTERNS.items():
            for match in pattern.finditer(text):
                if category in ("phone", "email") and match.group(0) in contact:
                    continue
                if category in overrides:
                    used.add(category)
                    continue
                raise InvalidUpdate(
                    field,
                    f"contains what looks like {CATEGORIES[category]} (at character {match.start() + 1}); "
                    f"remove it, list it under withheld, or set privacy_override.{category} "
                    "to a written justification",
                )
    return [{"category": c, "justification": overrides[c]} for c in sorted(used)]

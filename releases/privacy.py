"""The privacy guard: what an agency must not publish, checked before anything is written.

Two mechanisms:

- ``withheld``: the PIO lists text that must never appear (a juvenile's or a victim's
  name...), each with a category. Every occurrence in the submitted text is replaced by
  ``[withheld: <category>]`` *before* the version is planned, so the withheld text never
  reaches the record, a page, a feed or a log. The list itself is not recorded.
- findings: patterns that usually mean personal data (social security numbers, dates of
  birth, phone numbers and e-mail addresses other than the agency's, home addresses). A
  finding refuses the release, naming the field, the category and where, never the
  matched text. A PIO may override one exact value (this phone number, not every phone
  number) with a written justification, which is recorded in the version for everyone
  to read.

Both match on a folded copy of the text (:func:`fold`): compatibility forms (NFKC:
fullwidth digits and "＠"), accents, case, invisible characters, every kind of dash and
minus, and every run of spaces, no-break spaces and line breaks are made alike, so a
zero-width space inside a number or a double space inside a name does not hide it.
Positions are reported, and withheld text replaced, in the original text.

Patterns err on the side of asking: a false alarm costs a PIO one sentence of
justification; a missed juvenile's name cannot be unpublished. What is known to be
public is not asked about: 911, toll-free numbers (800, 888, 877, 866, 855, 844, 833),
the agency contact's own numbers and addresses (exactly those values), the contacts and
public addresses listed in the settings, a number labelled as a case or report number,
and an address labelled as a courthouse's, a jail's or a police station's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidUpdate
from .text import normalize, problem

CATEGORIES = {
    "ssn": "a social security number",
    "date_of_birth": "a date of birth",
    "phone": "a phone number other than the agency's",
    "email": "an e-mail address other than the agency's",
    "home_address": "a street address with a house number (a home address?)",
}
MIN_JUSTIFICATION = 20
MAX_OVERRIDES = 20
TOLL_FREE = ("800", "888", "877", "866", "855", "844", "833")
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\ufe58\ufe63\uff0d")
# Letters that look like Latin ones (Unicode TR39 confusables, the common lower-case ones after casefold):
# Cyrillic, Greek and the Turkish dotless i. A name typed with one of them is the same name to a reader,
# so it is the same name to the guard (found by an attack: "AYŞE IŞIK" slipped past "Ayşe Işık").
_LOOKALIKES = str.maketrans(
    {
        "\u0131": "i",  # ı dotless i (Turkish): casefold keeps it
        "\u0430": "a",  # а
        "\u0435": "e",  # е
        "\u0451": "e",  # ё
        "\u043e": "o",  # о
        "\u0440": "p",  # р
        "\u0441": "c",  # с
        "\u0443": "y",  # у
        "\u0445": "x",  # х
        "\u0456": "i",  # і
        "\u0458": "j",  # ј
        "\u0455": "s",  # ѕ
        "\u0501": "d",  # ԁ
        "\u04bb": "h",  # һ
        "\u04cf": "l",  # ӏ
        "\u043a": "k",  # к
        "\u043c": "m",  # м
        "\u043d": "h",  # н
        "\u0442": "t",  # т
        "\u0432": "b",  # в
        "\u03bf": "o",  # ο
        "\u03b1": "a",  # α
        "\u03b5": "e",  # ε
        "\u03b9": "i",  # ι
        "\u03ba": "k",  # κ
        "\u03bd": "v",  # ν
        "\u03c1": "p",  # ρ
        "\u03c4": "t",  # τ
        "\u03c5": "u",  # υ
        "\u03c7": "x",  # χ
    }
)


def fold(value: str) -> tuple[str, list[int]]:
    """The text as the guard reads it, and for each of its characters the index in ``value``.

    NFKC, then accents and case dropped (casefold), Cyrillic and Greek letters that look like
    Latin ones and the dotless i made Latin, format characters (zero-width space, soft hyphen,
    joiners...) removed, dashes and minus signs made "-", and every run of whitespace one space.
    """
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(value):
        if unicodedata.category(ch) == "Cf":
            continue
        if ch in _DASHES:
            ch = "-"
        for part in unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", ch)):
            if unicodedata.combining(part):
                continue
            for c in part.casefold().translate(_LOOKALIKES):
                if c.isspace():
                    if out and out[-1] == " ":
                        continue
                    c = " "
                elif c in _DASHES:
                    c = "-"
                out.append(c)
                origin.append(i)
    return "".join(out), origin


def _key(category: str, matched: str) -> str:
    """The value a finding is compared on: what makes two spellings the same value."""
    if category == "phone":
        digits = re.sub(r"\D", "", matched)
        return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits
    if category == "ssn":
        return re.sub(r"\D", "", matched)
    if category == "email":
        matched = re.sub(r"\s*(?:\[at\]|\(at\)|\{at\}|\bat\b)\s*", "@", matched)
        matched = re.sub(r"\s*(?:\[dot\]|\(dot\)|\{dot\}|\bdot\b)\s*", ".", matched)
        return matched.replace(" ", "")
    return re.sub(r"[^\w]+", " ", matched).strip()


def key(category: str, value: str) -> str:
    """The comparison key of a value as a PIO or an operator writes it (override, setting)."""
    return _key(category, fold(value)[0])


# --- patterns, on folded text (lower case, "-" for every dash, single spaces) ---------
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (
    rf"(?:\d{{1,2}} ?[/.-] ?\d{{1,2}} ?[/.-] ?\d{{2,4}}|\d{{4}}-\d{{2}}-\d{{2}}"
    rf"|{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}|\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH},? \d{{4}})"
)
_STREET = (
    r"(?:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|ter|"
    r"circle|cir|highway|hwy|parkway|pkwy|trail|trl|square|sq|loop|alley|aly|crossing|xing|pike|path|"
    r"plaza|plz|crescent|cres|expressway|expy|freeway|fwy|turnpike|tpke)"
)
# Words that are not part of a street's name: "the 1400 block of Elm Street", "3 officers
# drove to Main St", "a 2015 Toyota drove down Elm Street".
_NOT_NAME = (
    r"(?:of|the|a|an|and|or|at|on|in|near|to|from|by|for|with|block|blocks|hundred|years?|year-old|"
    r"people|persons?|officers?|deputies|units?|calls?|miles?|minutes?|hours?|shots?|rounds?|vehicles?|"
    r"cars?|down|up|along|onto|into|past|toward|towards|across|off|through|over|between|was|were|is|"
    r"are|drove|ran|fled|walked|went|traveling|travelling|heading|headed|responded|westbound|eastbound|"
    r"northbound|southbound|p\.?m\.?|a\.?m\.?|pm|am)"
)
_NAME_WORD = rf"(?!{_NOT_NAME}\b)[a-z0-9][\w'.-]*"
_DIRECTION = r"(?:[nsew]\.?|north|south|east|west|ne|nw|se|sw) "
_ROUTE = r"(?:(?:state|county|us|u\.s\.|farm to market) )?(?:route|rte|highway|hwy|road|rd|sr|cr|fm|us)"
PATTERNS: dict[str, re.Pattern[str]] = {
    "ssn": re.compile(r"(?<![\w-])\d{3}(?:[- .]?)\d{2}(?:[- .]?)\d{4}(?![\w-]|\.\d)"),
    "date_of_birth": re.compile(
        rf"\b(?:dob|d\. ?o\. ?b\.?|date of birth|birth ?date|birthday|born(?: on)?)[ :,(]*(?:on )?{_DATE}"
    ),
    "phone": re.compile(
        r"(?<![\w-])(?:"
        r"\+(?:\d[ .-]?(?:\(\d{1,4}\) ?)?){7,14}\d"  # international: + country code and at least 8 digits
        r"|(?:1[ .-]?)?(?:\(\d{3}\) ?|\d{3}[ .-]?)\d{3}[ .-]?\d{4}"  # North American, 10 digits
        r"|\d{3}[-.]\d{4}"  # local, 7 digits
        r")(?![\w-])"
    ),
    "email": re.compile(
        r"[\w.+-]+ ?@ ?[\w-]+(?: ?\. ?[\w-]+)+"
        r"|[\w.+-]+ ?(?:\[at\]|\(at\)|\{at\}) ?[\w-]+(?: ?(?:\[dot\]|\(dot\)|\{dot\}|\.|\bdot\b) ?[\w-]+)+"
        r"|\b[\w.+-]+ at [\w-]+(?: dot [\w-]+)+\b"
    ),
    "home_address": re.compile(
        rf"(?<![\w-])\d{{1,6}}[a-z]? (?:{_DIRECTION})?(?:"
        rf"(?:{_NAME_WORD} ){{1,4}}{_STREET}\b\.?"
        rf"|(?:calle|avenida|camino|carrera|rue|via|paseo) {_NAME_WORD}"
        rf"|{_ROUTE} \d{{1,4}}\b"
        r")"
    ),
}
# A number labelled as the agency's own reference: "case number 202-61-1234", "report #".
_LABEL = re.compile(
    r"(?:case|report|incident|file|reference|ref|docket|cad|event|complaint|citation|warrant|call|"
    r"tracking|arrest|booking)(?: (?:no\.?|number|num\.?|nos?\.?|numbers|id))? ?(?:#|:)? ?(?:[\w-]+,? )?$"
)
# An address labelled as a public building's: "the county jail, 500 Main St".
_PUBLIC_PLACE = re.compile(
    r"(?:courthouse|court house|jail|detention (?:center|facility)|correctional (?:center|facility)|"
    r"police (?:department|headquarters|station|hq)|headquarters|precinct|sheriff's office|city hall|"
    r"justice center|hall of justice|fire station|station|district court|county court|public safety building)"
    r"(?: \([^)]{0,20}\))?(?:,| is| located| at| on| is located at| are at|:)*(?: at)? ?$"
)
_COURT = re.compile(
    r"\b(?:district|circuit|superior|municipal|supreme|county|juvenile|family|appeals?|appellate|"
    r"magistrate|traffic|federal|probate|drug|housing|criminal|civil|bankruptcy|claims|justice) (?:court|ct)\b\.?$"
)


@dataclass(frozen=True)
class Withheld:
    category: str
    text: str


@dataclass(frozen=True)
class Override:
    """Permission to publish one exact value the guard flags, and the published reason."""

    category: str
    value: str
    justification: str

    @property
    def key(self) -> str:
        return key(self.category, self.value)

    def as_record(self) -> dict[str, str]:
        return {"category": self.category, "value": self.value, "justification": self.justification}


@dataclass(frozen=True)
class Public:
    """What is known to be public and never flagged: from the settings and the agency contact."""

    numbers: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()

    @classmethod
    def listed(cls, contacts: Iterable[str] = (), addresses: Iterable[str] = ()) -> Public:
        numbers, emails = set(), set()
        for value in contacts:
            (emails if "@" in value else numbers).add(key("email" if "@" in value else "phone", value))
        return cls(
            frozenset(numbers), frozenset(emails), frozenset(key("home_address", a) for a in addresses)
        )

    def with_contact(self, contact: str) -> Public:
        """Add the contact field's numbers and e-mail addresses, unless contacts are listed.

        With contacts listed (``RELEASES_PUBLIC_CONTACTS``) the list is the only source, so a
        private number typed into ``contact`` is flagged there and everywhere else.
        """
        if self.numbers or self.emails:
            return self
        folded = fold(contact)[0]
        return Public(
            frozenset(_key("phone", m.group(0)) for m in PATTERNS["phone"].finditer(folded)),
            frozenset(_key("email", m.group(0)) for m in PATTERNS["email"].finditer(folded)),
            self.addresses,
        )


NOTHING_LISTED = Public()


def parse_withheld(value: object, field: str = "withheld") -> tuple[Withheld, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 50:
        raise InvalidUpdate(
            field,
            "must be a list of at most 50 items, each a category (such as juvenile's name) and the text to "
            "withhold",
            "withheld.format",
        )
    items = []
    for n, item in enumerate(value, 1):
        if not isinstance(item, dict) or set(item) != {"category", "text"}:
            raise InvalidUpdate(
                field,
                f"item {n} must have exactly two parts: a category and the text to withhold",
                "withheld.format",
            )
        category, withheld = item["category"], item["text"]
        category = normalize(category) if isinstance(category, str) else category
        if not isinstance(category, str) or not re.fullmatch(r"[\w' -]{1,40}", category):
            raise InvalidUpdate(
                field,
                f"item {n}: the category must be 1 to 40 letters, digits, spaces, apostrophes or hyphens",
                "withheld.format",
            )
        if not isinstance(withheld, str) or not 2 <= len(withheld.strip()) <= 200 or "\n" in withheld:
            raise InvalidUpdate(
                field, f"item {n}: the text must be one line of 2 to 200 characters", "withheld.format"
            )
        withheld = normalize(withheld)
        if (rule := problem(withheld, multiline=False)) is not None:
            raise InvalidUpdate(field, f"item {n}: text {rule}", "text.characters")
        items.append(Withheld(category.strip(), withheld.strip()))
    # Longest first, so "Jamie Lee Doe" is withheld whole before "Jamie" could split it.
    return tuple(sorted(items, key=lambda w: (-len(w.text), w.text)))


_OVERRIDE_SHAPE = (
    "each naming the category the guard gave, the exact text it flagged and why it must be published"
)


def parse_overrides(value: object) -> tuple[Override, ...]:
    if value is None:
        return ()
    if isinstance(value, dict):
        # The first shape ({"phone": "why"}) allowed every phone number once one was
        # justified; it is refused rather than read, so no old document keeps that hole.
        raise InvalidUpdate(
            "privacy_override",
            f"must be a list of overrides, {_OVERRIDE_SHAPE}: an override allows one exact value, "
            "not a whole category",
            "privacy_override.format",
        )
    if not isinstance(value, list) or len(value) > MAX_OVERRIDES:
        raise InvalidUpdate(
            "privacy_override",
            f"must be a list of at most {MAX_OVERRIDES} overrides, {_OVERRIDE_SHAPE}",
            "privacy_override.format",
        )
    items = []
    for n, item in enumerate(value, 1):
        if not isinstance(item, dict) or set(item) != {"category", "value", "justification"}:
            raise InvalidUpdate(
                "privacy_override",
                f"item {n} must have exactly three parts: the category, the exact value and the justification",
                "privacy_override.format",
            )
        category, allowed, why = item["category"], item["value"], item["justification"]
        if not isinstance(category, str) or category not in CATEGORIES:
            raise InvalidUpdate(
                "privacy_override",
                f"item {n}: {ascii(category)[:50]} is not a category the privacy guard uses "
                f"({', '.join(CATEGORIES)})",
                "privacy_override.format",
            )
        if not isinstance(allowed, str) or not 2 <= len(allowed.strip()) <= 200 or "\n" in allowed:
            raise InvalidUpdate(
                "privacy_override",
                f"item {n}: the value must be one line of 2 to 200 characters",
                "privacy_override.format",
            )
        if not isinstance(why, str) or len(why.strip()) < MIN_JUSTIFICATION or len(why) > 1000:
            raise InvalidUpdate(
                "privacy_override",
                f"item {n}: needs a written justification of {MIN_JUSTIFICATION} to 1000 characters",
                "privacy_override.justification",
            )
        # Value and justification are published with the version: the same rules as any text.
        for name, text in (("value", allowed), ("justification", why)):
            if (rule := problem(normalize(text), multiline=name == "justification")) is not None:
                raise InvalidUpdate("privacy_override", f"item {n}: the {name} {rule}", "text.characters")
        items.append(Override(category, normalize(allowed).strip(), normalize(why).strip()))
    return tuple(sorted(items, key=lambda o: (o.category, o.value)))


def _withheld_pattern(text: str) -> re.Pattern[str]:
    folded = fold(text)[0].strip()
    if folded.count(",") == 1 and all(part.strip() for part in folded.split(",")):
        # Given as "Doe, Jamie": matched as "Jamie Doe" and as "Doe, Jamie".
        last, first = (part.strip() for part in folded.split(","))
        folded = f"{first} {last}"
    words = [re.escape(w) for w in folded.split(" ")]
    sep = r"(?: ?- ?| )?"  # "Jamie Doe", "Jamie-Doe", "JamieDoe", "Jamie - Doe", "Jamie -Doe"
    forms = [sep.join(words)]
    if len(words) >= 2:  # "Doe, Jamie" and "Doe, Jamie Lee"
        forms.append(words[-1] + r" ?, ?" + sep.join(words[:-1]))
    return re.compile("|".join(forms))


def occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    """Where ``needle`` occurs in ``text`` as withheld text is matched: (start, end) in ``text``.

    Tolerant of case, accents, NFD spelling, invisible characters, dashes, every run of
    spaces and line breaks, and "Last, First" for a name of two or more words.
    """
    folded, origin = fold(text)
    return [
        (origin[m.start()], origin[m.end() - 1] + 1)
        for m in _withheld_pattern(needle).finditer(folded)
        if m.end() > m.start()
    ]


def replace(text: str, items: Iterable[Withheld], marker) -> str:
    """``text`` with every occurrence of each item's text replaced by ``marker(item)``."""
    for item in items:
        for start, end in reversed(occurrences(text, item.text)):
            text = f"{text[:start]}{marker(item)}{text[end:]}"
    return text


def redact(text: str, withheld: tuple[Withheld, ...]) -> str:
    return replace(text, withheld, lambda item: f"[withheld: {item.category}]")


def _public(category: str, value: str, before: str, public: Public) -> bool:
    if category == "phone":
        digits = _key("phone", value)
        return digits in public.numbers or digits == "911" or (len(digits) == 10 and digits[:3] in TOLL_FREE)
    if category == "email":
        return _key("email", value) in public.emails
    if category == "ssn":
        return bool(_LABEL.search(before[-40:]))
    if category == "home_address":
        return (
            _key("home_address", value) in public.addresses
            or bool(_PUBLIC_PLACE.search(before[-60:]))
            or bool(_COURT.search(value))
        )
    return False


def findings(text: str, public: Public = NOTHING_LISTED) -> list[tuple[str, int, str]]:
    """Each (category, position in ``text`` from 1, comparison key) the guard would ask about."""
    return [(category, at, key) for category, at, key, _ in _findings(text, public)]


def _findings(text: str, public: Public) -> list[tuple[str, int, str, str]]:
    """:func:`findings`, each with the text found as it is written in ``text``."""
    folded, origin = fold(text)
    found = []
    for category, pattern in PATTERNS.items():
        for match in pattern.finditer(folded):
            if _public(category, match.group(0), folded[: match.start()], public):
                continue
            start, end = origin[match.start()], origin[match.end() - 1] + 1
            found.append((category, start + 1, _key(category, match.group(0)), text[start:end]))
    return sorted(found, key=lambda f: f[1])


def screen(
    fields: dict[str, str], contact: str, overrides: tuple[Override, ...], public: Public = NOTHING_LISTED
) -> list[dict[str, str]]:
    """Refuse on the first finding not overridden (see :func:`problems`); return the overrides that were used."""
    used, refused = problems(fields, contact, overrides, public)
    if refused:
        raise refused[0]
    return used


# What a PIO is asked to do about a finding, in their words (README, "privacy guard", says how to write
# an override).
_FINDING_FIX = (
    "remove it, list it as withheld text, or, if it must be published, add a privacy override with "
    "category {category}, exactly this {what} and a written reason"
)
_WHAT = {
    "ssn": "number",
    "date_of_birth": "date",
    "phone": "number",
    "email": "address",
    "home_address": "address",
}


# The same finding, said on the release desk, which has no override control (issue 16: the desk told
# PIOs to "add a privacy override ... (at character 97)").
DESK_FIX = (
    "remove it, or add it under \u201cWithheld from publication\u201d so it is shown as \u201c[withheld: ...]\u201d. "
    "If it must be published as it is, that needs a privacy override with a written reason, which the desk "
    "does not take: submit the statement from Airflow's trigger form or with `releases submit` instead"
)


def desk_message(category: str, found: str | None) -> str:
    """What the release desk says of a finding next to its field: what was found, and what the PIO can do
    there."""
    what = CATEGORIES[category] + (f", \u201c{found}\u201d" if found else "")
    return f"contains what looks like {what}: {DESK_FIX}"


def problems(
    fields: dict[str, str], contact: str, overrides: tuple[Override, ...], public: Public = NOTHING_LISTED
) -> tuple[list[dict[str, str]], list[InvalidUpdate]]:
    """Every finding not overridden, one refusal each, and the overrides that were used.

    ``fields`` is every submitted text that is published (the statement fields given,
    ``correction_note``, ``released_by``); the override justifications are screened too.
    ``contact`` is the agency contact in force: its phone numbers and e-mail addresses,
    exactly, may appear anywhere. Its other findings (an SSN, a date of birth, a home
    address) are refused like any other field's.
    """
    public = public.with_contact(contact)
    allowed = {(o.category, o.key): o for o in overrides}
    # (field, how the message begins, text): an override's justification is published too.
    texts = [(field, "", text) for field, text in fields.items()]
    texts += [
        ("privacy_override", f"item {n}: the justification ", o.justification)
        for n, o in enumerate(overrides, 1)
    ]
    used: dict[tuple[str, str], Override] = {}
    refused: list[InvalidUpdate] = []
    for field, where, text in texts:
        for category, at, value, written in _findings(text, public):
            if (category, value) in allowed:
                used[(category, value)] = allowed[(category, value)]
                continue
            err = InvalidUpdate(
                field,
                f"{where}contains what looks like {CATEGORIES[category]} (at character {at}): "
                + _FINDING_FIX.format(category=category, what=_WHAT[category]),
                f"privacy.{category}",
            )
            # For the release desk's own wording (releases.checks.on_desk): the PIO's own text, returned
            # only to the PIO who sent it; never in a run's records.
            err.found = written
            refused.append(err)
    return [used[k].as_record() for k in sorted(used)], refused

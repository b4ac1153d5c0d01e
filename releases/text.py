"""What submitted text may contain, so that what a reader sees is what the record says.

One rule for every piece of text a PIO submits and the public reads (the statement
fields, the correction note, "on behalf of", withheld categories, privacy
justifications):

- it is stored in Unicode NFC, so the same words are always the same bytes (diffs, the
  changelog, searches and hashes do not depend on how a keyboard composed "é");
- no control characters except tab, and newline in multi-line fields (XML cannot
  carry most of them, and they have no place in a public statement);
- no invisible characters that change what a reader sees without being seen ("Trojan
  Source", CVE-2021-42574): the bidi controls U+202A–U+202E and U+2066–U+2069, and every
  other format character (Unicode category Cf: direction marks, zero-width space, soft
  hyphen, word joiner, byte order mark, the tag characters U+E0000–U+E007F...);
- the one exception: ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER between two letters,
  marks or symbols outside ASCII, where a script needs them to spell a word (Persian
  "می‌خواهم", Devanagari and other Indic conjuncts) or an emoji sequence is joined (👮‍♀️).
  Between ASCII letters or at the edge of a word no script needs them, so they are refused;
- no line or paragraph separators (U+2028, U+2029): not every reader shows them as a
  break; a newline is what a multi-line field uses;
- no noncharacters (U+FDD0–U+FDEF and every code point ending in FFFE or FFFF) and no
  lone surrogates.

Right-to-left statements need none of these characters: every page marks submitted
text ``dir="auto"``, so a browser takes the direction from the text itself.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Direction marks: invisible, and what a reader sees never needs them here (see above).
DIRECTION_MARKS = frozenset("\u200e\u200f\u061c")
JOINERS = frozenset("\u200c\u200d")
TAGS = range(0xE0000, 0xE0080)


def normalize(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def _name(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}" if name else f"U+{ord(ch):04X}"


def _noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _joins(before: str, after: str) -> bool:
    """Whether a ZWJ/ZWNJ sits inside a word of a script (or an emoji sequence) that needs it."""
    return all(ch and not ch.isascii() and unicodedata.category(ch)[0] in "LMS" for ch in (before, after))


def problem(value: str, *, multiline: bool) -> str | None:
    """The rule ``value`` breaks, in words a PIO understands, or None if it breaks none.

    ``value`` must already be normalised (:func:`normalize`).
    """
    for n, ch in enumerate(value):
        if ch == "\t" or (ch == "\n" and multiline):
            continue
        if ch == "\n":
            return "must be a single line"
        code, cat = ord(ch), unicodedata.category(ch)
        at = f"at character {n + 1}"
        if cat in ("Cc", "Cs"):
            # Wording kept from before these rules: PIOs and tests know it.
            return f"contains a control character U+{code:04X}; only newline and tab are allowed"
        if ch in BIDI_CONTROLS or ch in DIRECTION_MARKS:
            return (
                f"contains an invisible direction control ({_name(ch)}) {at}: it can make the text "
                "show differently from what is recorded; remove it (right-to-left text needs no such "
                "character)"
            )
        if ch in JOINERS:
            if _joins(value[n - 1] if n else "", value[n + 1] if n + 1 < len(value) else ""):
                continue
            return (
                f"contains an invisible joiner ({_name(ch)}) {at} that is not inside a word of a script "
                "that needs it; remove it"
            )
        if cat == "Cf" or code in TAGS:
            return (
                f"contains an invisible formatting character ({_name(ch)}) {at}: readers would not "
                "see it, but it would be part of the record; remove it"
            )
        if cat in ("Zl", "Zp"):
            fix = "use an ordinary line break" if multiline else "this field is a single line"
            kind = "line" if cat == "Zl" else "paragraph"
            return f"contains a {kind} separator ({_name(ch)}) {at}; {fix}"
        if _noncharacter(code):
            return f"contains U+{code:04X} {at}, which is not a character (a Unicode noncharacter); remove it"
    return None

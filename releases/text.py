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
- the one exception: ZERO WIDTH NON-JOINER and ZERO WIDTH JOINER between two letters or
  marks of a script that needs them to spell a word (Arabic script such as Persian
  "می‌خواهم", Syriac, N'Ko, Mongolian, the Indic scripts and their neighbours), or between
  two symbols of an emoji sequence (👮‍♀️). Latin, Greek, Cyrillic and other scripts never
  need them, so there, and at the edge of a word, they are refused;
- no other invisible characters that are not "format" characters but show as nothing or
  change nothing a reader sees: the Hangul fillers (U+115F, U+1160, U+3164, U+FFA0), the
  braille blank U+2800, the combining grapheme joiner U+034F, the Khmer inherent vowels
  U+17B4–U+17B5, the Mongolian variation selectors U+180B–U+180F, and variation selectors
  (U+FE00–U+FE0F, U+E0100–U+E01EF) except one directly after a character outside ASCII that it
  can vary (an emoji's U+FE0F, a CJK ideograph's variant): a run of selectors can carry hidden
  data, and "Shooting" plus selectors would look like "Shooting";
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
# Invisible, but not in category Cf (Unicode's Default_Ignorable_Code_Point and blank look-alikes).
BLANKS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f")
# Scripts whose words need ZWJ/ZWNJ (first word of the Unicode character name).
JOINING_SCRIPTS = frozenset(
    "ARABIC SYRIAC NKO MONGOLIAN DEVANAGARI BENGALI GURMUKHI GUJARATI ORIYA TAMIL TELUGU KANNADA MALAYALAM "
    "SINHALA TIBETAN MYANMAR KHMER LAO THAI JAVANESE BALINESE".split()
)


SINGLE_LINE = "must be a single line"


def _variation_selector(code: int) -> bool:
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def normalize(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def _name(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}" if name else f"U+{ord(ch):04X}"


def _noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _script(ch: str) -> str:
    return unicodedata.name(ch, "").split(" ", 1)[0]


def _joins(before: str, after: str) -> bool:
    """Whether a ZWJ/ZWNJ sits inside a word of a script that needs it, or inside an emoji sequence."""
    if not before or not after or before.isascii() or after.isascii():
        return False
    kinds = unicodedata.category(before)[0] + unicodedata.category(after)[0]
    if kinds == "SS" or (kinds[0] == "S" and _variation_selector(ord(after))):
        return True  # emoji: 👮 ZWJ ♀ (the selector after it belongs to the sequence)
    if before and _variation_selector(ord(before)):
        return unicodedata.category(after)[0] == "S"  # ❤️ ZWJ 🔥: the selector closes the first emoji
    return all(
        unicodedata.category(ch)[0] in "LM" and _script(ch) in JOINING_SCRIPTS for ch in (before, after)
    )


def problem(value: str, *, multiline: bool) -> str | None:
    """The rule ``value`` breaks, in words a PIO understands, or None if it breaks none.

    ``value`` must already be normalised (:func:`normalize`).
    """
    for n, ch in enumerate(value):
        if ch == "\t" or (ch == "\n" and multiline):
            continue
        if ch == "\n":
            return SINGLE_LINE
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
        if ch in BLANKS:
            return (
                f"contains an invisible character ({_name(ch)}) {at}: it shows as nothing or as a blank, "
                "so readers would not see it, but it would be part of the record; remove it"
            )
        if _variation_selector(code):
            before = value[n - 1] if n else ""
            if (
                before
                and not before.isascii()
                and not _variation_selector(ord(before))
                and before not in BLANKS
            ):
                continue
            return (
                f"contains a variation selector ({_name(ch)}) {at} that does not follow a character it can "
                "vary: invisible, it would be part of the record; remove it"
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

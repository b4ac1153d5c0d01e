"""Word-level differences between two versions of a text, with its paragraphs kept.

A correction that changes one name in a four-paragraph statement should show that one name
struck and the new one inserted, not four paragraphs struck and four printed again. This
module computes the difference once, as data; the templates render it (autoescaped, so no
submitted text ever becomes markup) and the feeds' summaries quote it.

difflib (the standard library) does the matching: its SequenceMatcher over word tokens is
what a reader expects of a word diff, and no kept library would do it better for text this
size (at most 20,000 characters). ``autojunk`` is off: with it, frequent words such as "the"
in a long statement are ignored as junk and the diff comes out in needlessly large pieces.

Pure functions of their arguments: no clock, no settings, no storage.
"""

from __future__ import annotations

import difflib
import functools
import re

# (op, text): "=" in both versions, "-" only in the old one, "+" only in the new one.
Segment = tuple[str, str]
SAME, REMOVED, ADDED = "=", "-", "+"

# Words, runs of other visible characters, and runs of whitespace: every character of the text
# is in exactly one token, so joining the tokens gives the text back.
_TOKEN = re.compile(r"\w+|[^\w\s]+|\s+")
# The pages' paragraph rule (render._paragraphs): a blank line separates paragraphs, a single
# newline is a line break inside one.
_BREAKS = re.compile(r"(\n[ \t]*\n\s*|\n)")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


@functools.lru_cache(maxsize=512)
def diff(old: str, new: str) -> tuple[Segment, ...]:
    """The segments that turn ``old`` into ``new``, adjacent ones of the same kind joined.

    ``before(diff(a, b)) == a`` and ``after(diff(a, b)) == b`` for any two texts. Cached: an
    incident page renders the changes of every version of its history, each time it is written.
    """
    out: list[Segment] = []

    def add(op: str, text: str) -> None:
        if not text:
            return
        if out and out[-1][0] == op:
            out[-1] = (op, out[-1][1] + text)
        else:
            out.append((op, text))

    for was, now, equal in _chunks(tokens(old), tokens(new)):
        if equal:
            add(SAME, now)
        else:
            # A removal is shown before what replaces it, as a reader expects: "5th 6th".
            add(REMOVED, was)
            add(ADDED, now)
    return tuple(out)


def _chunks(a: list[str], b: list[str]) -> list[tuple[str, str, bool]]:
    """(old text, new text, whether they are equal) pieces. A space alone between two changes
    joins them into one ("Jamie Doe" struck, "Alex Roe" inserted), rather than "Jamie Alex Doe Roe"."""
    pieces = [
        ["".join(a[i1:i2]), "".join(b[j1:j2]), tag == "equal"]
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    ]
    out: list[list] = []
    for n, piece in enumerate(pieces):
        was, now, equal = piece
        between = 0 < n < len(pieces) - 1 and not pieces[n - 1][2] and not pieces[n + 1][2]
        if equal and between and not now.strip() and "\n" not in now:
            equal = False
        if out and not equal and not out[-1][2]:
            out[-1][0] += was
            out[-1][1] += now
        else:
            out.append([was, now, equal])
    return [(was, now, equal) for was, now, equal in out]


def before(segments: tuple[Segment, ...] | list[Segment]) -> str:
    """The old text, from its diff."""
    return "".join(text for op, text in segments if op != ADDED)


def after(segments: tuple[Segment, ...] | list[Segment]) -> str:
    """The new text, from its diff."""
    return "".join(text for op, text in segments if op != REMOVED)


def paragraphs(old: str, new: str) -> list[list[list[Segment]]]:
    """The diff laid out as the pages lay out text: paragraphs, each a list of lines, each a list of
    segments. A break that either version has is kept, so neither version's paragraphs run together;
    whitespace at the start and end of a paragraph or line is dropped, as the pages drop it."""
    paras: list[list[list[Segment]]] = [[[]]]
    for op, text in diff(old, new):
        for n, piece in enumerate(_BREAKS.split(text)):
            if n % 2:  # a separator
                if piece.count("\n") > 1:  # a blank line: a new paragraph
                    paras.append([[]])
                else:
                    paras[-1].append([])
            elif piece:
                paras[-1][-1].append((op, piece))
    out = []
    for para in paras:
        lines = [_trim(line) for line in para]
        lines = [line for line in lines if line]
        if lines:
            out.append(lines)
    return out


def _trim(line: list[Segment]) -> list[Segment]:
    """A line without leading and trailing whitespace (which no reader sees) and without empty segments."""
    line = [(op, text) for op, text in line if text]
    while line and not line[0][1].strip():
        line.pop(0)
    while line and not line[-1][1].strip():
        line.pop()
    if line:
        line[0] = (line[0][0], line[0][1].lstrip())
        line[-1] = (line[-1][0], line[-1][1].rstrip())
    return line


def excerpts(old: str, new: str, context: int = 4) -> list[tuple[str, str]]:
    """Each changed passage as (was, now), with ``context`` words either side and "…" where text is left
    out, on one line: what a feed summary or a list view quotes. Whitespace runs become one space.
    Changes fewer than ``2 * context`` words apart are one passage."""
    a, b = tokens(old), tokens(new)
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    changes = [[i1, i2, j1, j2] for tag, i1, i2, j1, j2 in opcodes if tag != "equal"]
    merged: list[list[int]] = []
    for change in changes:
        if merged and _words(a[merged[-1][1] : change[0]]) < 2 * context:
            merged[-1][1], merged[-1][3] = change[1], change[3]
        else:
            merged.append(change)
    out = []
    for i1, i2, j1, j2 in merged:
        # The text around a change is the same in both versions: extend both sides alike.
        back = _extend(a, i1, -1, context)
        ahead = _extend(a, i2, 1, context)
        out.append((_quote(a, i1 - back, i2 + ahead), _quote(b, j1 - back, j2 + ahead)))
    return out


def _words(run: list[str]) -> int:
    return sum(1 for token in run if token[0].isalnum() or token[0] == "_")


def _extend(words: list[str], at: int, step: int, context: int) -> int:
    """How many tokens from ``at`` (backwards for ``step`` -1) hold ``context`` words."""
    n, seen = 0, 0
    while 0 <= (at - 1 - n if step < 0 else at + n) < len(words):
        token = words[at - 1 - n if step < 0 else at + n]
        if _words([token]):
            if seen == context:
                break
            seen += 1
        n += 1
    return n


def _quote(words: list[str], start: int, end: int) -> str:
    text = " ".join("".join(words[start:end]).split())
    if start > 0 and text:
        text = "…" + text
    if end < len(words) and text:
        text = text + "…"
    return text

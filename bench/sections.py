"""bench/results.md is one file with a top-level section (``# ...``) per benchmark; each script replaces its own."""

from __future__ import annotations

from pathlib import Path


def _top_headings(lines: list[str]) -> list[int]:
    """Indexes of the ``# `` lines outside fenced code blocks (profile listings hold ``#``-free code, but be safe)."""
    found, fenced = [], False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            found.append(i)
    return found


def write_section(path: Path, text: str) -> None:
    """Put ``text`` (which starts with its ``# `` heading) into ``path``: in place of an earlier section with
    the same heading, up to the next top-level heading, or else at the end. Other sections are kept."""
    heading = text.splitlines()[0]
    old = path.read_text().splitlines() if path.exists() else []
    starts = _top_headings(old)
    new = text.rstrip("\n").splitlines()
    for n, start in enumerate(starts):
        if old[start] == heading:
            end = starts[n + 1] if n + 1 < len(starts) else len(old)
            tail = old[end:]
            lines = old[:start] + new + ([""] + tail if tail else [])
            break
    else:
        while old and not old[-1].strip():
            old.pop()
        lines = old + ([""] if old else []) + new
    path.write_text("\n".join(lines) + "\n")

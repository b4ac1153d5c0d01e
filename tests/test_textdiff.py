"""Word-level differences: exact on both sides, small where the change is small, paragraphs kept."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from releases import textdiff
from releases.render import _paragraphs

STATEMENT = (
    "At about 9:14 p.m. officers responded to a call near 5th St and Main St.\n\n"
    "A witness, Jamie Doe, told officers the man had a weapon.\n\n"
    "One adult was injured and taken to a hospital.\nNo officers were hurt.\n\n"
    "The investigation continues; anyone with information may call the tip line."
)

# Text as PIOs write it: words, punctuation, accents, other scripts, spaces, line breaks and blank lines.
texts = st.lists(
    st.sampled_from(
        [
            "the",
            "officer",
            "Seán",
            "O'Brien",
            "5th",
            "St.",
            ",",
            ";",
            "—",
            "Nguyễn",
            "عربي",
            "🚓",
            " ",
            " ",
            "  ",
            "\n",
            "\n\n",
            "\n \n",
            "\t",
        ]
    ),
    max_size=60,
).map("".join)


@given(texts, texts)
@settings(max_examples=300, deadline=None)
def test_the_diff_gives_back_both_texts_exactly(old, new):
    segments = textdiff.diff(old, new)
    assert textdiff.before(segments) == old
    assert textdiff.after(segments) == new
    assert all(text for _op, text in segments)
    # Adjacent segments never share a kind (they are joined).
    assert all(a[0] != b[0] for a, b in zip(segments, segments[1:], strict=False))


@given(st.text(max_size=80), st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_any_unicode_text_round_trips(old, new):
    segments = textdiff.diff(old, new)
    assert (textdiff.before(segments), textdiff.after(segments)) == (old, new)


@given(texts)
@settings(max_examples=200, deadline=None)
def test_the_same_text_is_one_unchanged_segment(text):
    assert textdiff.diff(text, text) == ((("=", text),) if text else ())


@given(texts, texts)
@settings(max_examples=200, deadline=None)
def test_the_layout_keeps_the_new_texts_paragraphs_and_lines(old, new):
    """The unchanged and inserted parts of each laid-out paragraph are the new text's paragraphs, as
    the pages lay them out (apart from the breaks only the old text had, which add a break)."""
    laid_out = textdiff.paragraphs(old, new)
    shown_new = "".join(text for para in laid_out for line in para for op, text in line if op != "-")
    expected = "".join(text for para in _paragraphs(new) for line in para for text in [line.strip()])
    assert "".join(shown_new.split()) == "".join(expected.split())
    if old == new:
        assert [[["".join(t for _op, t in line)] for line in para] for para in laid_out] == [
            [[line.strip()] for line in para if line.strip()] for para in _paragraphs(new)
        ]


def test_one_name_changed_in_four_paragraphs_strikes_only_that_name():
    new = STATEMENT.replace("Jamie Doe", "Alex Roe")
    laid_out = textdiff.paragraphs(STATEMENT, new)
    assert len(laid_out) == 4
    changed = [(op, text) for para in laid_out for line in para for op, text in line if op != "="]
    assert changed == [("-", "Jamie Doe"), ("+", "Alex Roe")]
    assert laid_out[1] == [
        [
            ("=", "A witness, "),
            ("-", "Jamie Doe"),
            ("+", "Alex Roe"),
            ("=", ", told officers the man had a weapon."),
        ]
    ]
    # The line break inside the third paragraph stays a line break.
    assert laid_out[2] == [
        [("=", "One adult was injured and taken to a hospital.")],
        [("=", "No officers were hurt.")],
    ]


def test_a_paragraph_added_is_one_inserted_paragraph():
    new = STATEMENT + "\n\nUpdate: the man was arrested."
    laid_out = textdiff.paragraphs(STATEMENT, new)
    assert len(laid_out) == 5
    assert laid_out[-1] == [[("+", "Update: the man was arrested.")]]
    assert all(op == "=" for para in laid_out[:-1] for line in para for op, _ in line)


def test_one_word_changed_is_struck_and_inserted_alone():
    assert textdiff.diff("near 5th St and Main St", "near 6th St and Main St") == (
        ("=", "near "),
        ("-", "5th"),
        ("+", "6th"),
        ("=", " St and Main St"),
    )


def test_excerpts_quote_each_change_with_a_few_words_around_it_on_one_line():
    new = STATEMENT.replace("Jamie Doe", "Alex Roe").replace("tip line", "tip line, 555-0100")
    assert textdiff.excerpts(STATEMENT, new) == [
        (
            "…Main St. A witness, Jamie Doe, told officers the man…",
            "…Main St. A witness, Alex Roe, told officers the man…",
        ),
        ("…call the tip line.", "…call the tip line, 555-0100."),
    ]
    assert textdiff.excerpts("5th St", "6th St") == [("5th St", "6th St")]
    assert textdiff.excerpts("same", "same") == []


def test_a_long_statement_diffs_quickly_enough_to_render():
    # 20,000 characters (the body's limit) with one word changed: the page renders it on every release.
    long = " ".join(f"word{n}" for n in range(2800))[:20000]
    changed = long.replace("word1400", "changed", 1)
    segments = textdiff.diff(long, changed)
    assert [s for s in segments if s[0] != "="] == [("-", "word1400"), ("+", "changed")]

"""The privacy guard against a labelled corpus: no personal data missed, few false alarms.

Run with ``-s`` to see the figures (they are printed for the issue's closing note).
"""

from __future__ import annotations

from privacy_corpus import CASES, CONTACT, FALSE_ALARMS, MISSES, PUBLIC_ADDRESSES, PUBLIC_CONTACTS

from releases import privacy

PUBLIC = privacy.Public.listed(PUBLIC_CONTACTS, PUBLIC_ADDRESSES).with_contact(CONTACT)


def outcome(text: str) -> set[str]:
    return {category for category, _, _ in privacy.findings(text, PUBLIC)}


def test_corpus_no_misses_and_few_false_alarms():
    missed = [(text, want) for text, want in CASES if want is not None and want not in outcome(text)]
    alarms = [(text, outcome(text)) for text, want in CASES if want is None and outcome(text)]
    clean = sum(1 for _, want in CASES if want is None)
    print(
        f"\nprivacy corpus: {len(CASES)} cases ({len(CASES) - clean} with personal data, {clean} without); "
        f"misses {len(missed)}; false alarms {len(alarms)} ({100 * len(alarms) / clean:.1f}% of clean cases)"
    )
    for text, got in alarms:
        print(f"  false alarm {sorted(got)}: {text!r}")
    assert len(CASES) >= 150
    assert missed == []
    assert len(alarms) <= 0.05 * clean


def test_corpus_is_labelled_as_its_sections_say():
    assert all(want is not None for _, want in MISSES[:40])
    assert all(want is None for _, want in FALSE_ALARMS)

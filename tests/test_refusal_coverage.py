"""Issue 16, must-show 2, for every rule: each rule id the check can give (releases.checks.RULES, the one
registry README's rule table is kept in step with) is either a case of the desk's browser refusal test or
named, with its reason, as one a PIO cannot produce from the desk form. A rule added later without
either fails here."""

from __future__ import annotations

from test_desk_browser import CASES, NOT_FROM_THE_FORM

from releases import checks, privacy


def test_every_rule_is_a_browser_case_or_said_impossible_from_the_form():
    tested = {rule for *_, rule in CASES}
    neither = set(checks.RULES) - tested - set(NOT_FROM_THE_FORM)
    assert neither == set(), f"rules neither shown in the browser test nor said impossible: {sorted(neither)}"
    both = tested & set(NOT_FROM_THE_FORM)
    assert both == set(), f"rules said impossible from the form yet a browser case: {sorted(both)}"
    # Each entry names a rule the check really gives, with a one-line reason.
    assert set(NOT_FROM_THE_FORM) <= set(checks.RULES), set(NOT_FROM_THE_FORM) - set(checks.RULES)
    assert tested <= set(checks.RULES), tested - set(checks.RULES)
    assert all(reason.strip() and "\n" not in reason for reason in NOT_FROM_THE_FORM.values())


def test_the_registry_holds_every_privacy_category_the_guard_uses():
    # The privacy rules are derived from the guard's categories: a new category is a new rule to cover.
    assert {f"privacy.{c}" for c in privacy.CATEGORIES} <= set(checks.RULES)
    assert {f"privacy.{c}" for c in privacy.CATEGORIES} <= {rule for *_, rule in CASES}

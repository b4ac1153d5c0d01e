"""The release desk's starting templates and checklist (``desk_templates/``), files anyone may edit: each
is a form the desk can load, and README's screenshots of the desk are the ones its browser test takes."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ROOT

from releases import checks
from releases.document import ALL_STATEMENT

FOLDER = ROOT / "desk_templates"
TEMPLATES = sorted(p for p in FOLDER.glob("*.json") if p.name != "checklist.json")
TYPES = {
    "officer-involved-shooting",
    "death-in-custody",
    "use-of-force",
    "pursuit",
    "critical-incident-update",
}


def test_a_template_for_each_common_incident_type():
    assert TYPES <= {p.stem for p in TEMPLATES}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_each_template_fills_statement_fields_within_their_limits(path):
    spec = json.loads(path.read_text(encoding="utf-8"))
    assert spec["title"] and spec["stage"] in ("preliminary", "updated", "corrected")
    assert set(spec["fields"]) <= set(ALL_STATEMENT)
    for name, text in spec["fields"].items():
        assert len(text) <= ALL_STATEMENT[name].max_length, name
    # Filled in as a first release, the template's text breaks no rule of its own.
    doc = {
        "incident_id": "2026-0001",
        "stage": "preliminary",
        "headline": "h",
        "summary": "s",
        "body": "b",
        "occurred_at": "2026-11-20T21:14:00-05:00",
        "location": "l",
        "agency": "a",
        "contact": "Public Information Office",
        **spec["fields"],
    }
    assert checks.check(doc, []) == []


def test_the_checklist_names_what_a_pio_confirms():
    items = json.loads((FOLDER / "checklist.json").read_text(encoding="utf-8"))["items"]
    text = " ".join(items).lower()
    assert "juvenile" in text and "victim" in text and "next of kin" in text


def test_readme_s_desk_screenshots_are_taken_by_the_browser_test():
    readme = (ROOT / "README.md").read_text()
    test = (ROOT / "tests" / "test_desk_browser.py").read_text()
    shots = re.findall(r"\(docs/screenshots/(desk-[\w-]+\.png)\)", readme)
    assert len(shots) >= 4
    for name in shots:
        assert f'"{name}"' in test, name

"""README stays in step with the code: every command, setting and field is documented."""

from __future__ import annotations

import pytest
from conftest import ROOT

from releases import alerts
from releases.cli import parser
from releases.document import ALL_FIELDS, CORRECTION_NOTE, FIELDS, RELEASED_BY
from releases.settings import ENV

README = (ROOT / "README.md").read_text()


def commands():
    sub = next(a for a in parser()._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", commands())
def test_every_cli_command_is_in_readme(command):
    assert f"`releases {command}" in README


@pytest.mark.parametrize("variable", sorted([*ENV.values(), *alerts.ENV.values()]))
def test_every_setting_is_in_readme(variable):
    assert f"| `{variable}` |" in README


@pytest.mark.parametrize("field", ALL_FIELDS)
def test_every_field_is_in_readme(field):
    assert f"| `{field}` |" in README


@pytest.mark.parametrize("spec", [*FIELDS, CORRECTION_NOTE, RELEASED_BY], ids=lambda s: s.name)
def test_field_limits_in_readme_match_the_code(spec):
    row = next(line for line in README.splitlines() if line.startswith(f"| `{spec.name}` |"))
    assert row.rstrip().endswith(f"| {spec.max_length} |")


def test_make_targets_in_readme_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("up", "test", "demo", "test-distributed", "redis"):
        assert f"make {target}" in README
        assert f"\n{target}:" in makefile

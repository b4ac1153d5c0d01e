"""The pre-release checklist: what the submitter confirms before a release goes out (no juvenile or victim
names, next of kin notified...), and the rules the update document's ``checklist`` follows.

The items come from one file, ``RELEASES_CHECKLIST`` (default: ``checklist.json`` in this package, so an
installed wheel has it too); the release desk shows them, :func:`releases.checks.check` and the release
itself check against them, and the version records the confirmed ones with their text as it read then::

    {"items": [{"id": "next-of-kin", "text": "Next of kin have been notified"}, ...]}

An id is what a document names (``"checklist": ["next-of-kin", ...]``) and never changes meaning; the text
may be reworded (a version keeps the words the releaser confirmed). Neither is private: they are the
agency's own words, published with every version that confirms them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import text
from .errors import InvalidUpdate

DEFAULT_PATH = Path(__file__).with_name("checklist.json")
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
TEXT_MAX = 300
FIELD = "checklist"


@dataclass(frozen=True)
class Item:
    id: str
    text: str


@dataclass(frozen=True)
class Checklist:
    """The deployment's items, in the order the desk shows them, and whether every document must confirm
    them (``RELEASES_REQUIRE_CHECKLIST``)."""

    items: tuple[Item, ...]
    required: bool = False

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    def problems(self, confirmed: tuple[str, ...] | None) -> list[InvalidUpdate]:
        """What is wrong with the ids a document confirms (None: the document has no ``checklist``)."""
        if confirmed is None:
            if not self.required:
                return []
            return [
                InvalidUpdate(
                    FIELD,
                    "is required by this deployment: confirm each item of the pre-release checklist "
                    f"({_said(self.items)}) before releasing",
                    "checklist.required",
                )
            ]
        out = []
        unknown = [c for c in confirmed if c not in self.ids]
        if unknown:
            out.append(
                InvalidUpdate(
                    FIELD,
                    f"names {', '.join(ascii(u)[:60] for u in unknown)}, which is not an item of the "
                    f"checklist (its items: {', '.join(self.ids)})",
                    "checklist.unknown",
                )
            )
        missing = [i for i in self.items if i.id not in confirmed]
        if missing:
            out.append(
                InvalidUpdate(
                    FIELD,
                    f"must confirm every item of the checklist; not confirmed: {_said(missing)}",
                    "checklist.incomplete",
                )
            )
        return out

    def confirmed(self, ids: tuple[str, ...] | None) -> list[dict[str, str]]:
        """What a version records: each confirmed item's id and text as they read now, in the
        checklist's order. Raises the first refusal of :meth:`problems`."""
        if problems := self.problems(ids):
            raise problems[0]
        return [{"id": i.id, "text": i.text} for i in self.items if ids and i.id in ids]


def _said(items) -> str:
    """Items as a PIO reads them on the desk and the trigger form: their words, not their ids (a PIO's
    trial, issue 16, met \"not confirmed: no-juvenile-names, ...\"); quoted, as a text may hold a comma."""
    return "; ".join(f"\u201c{i.text}\u201d" for i in items)


def parse(value: Any) -> tuple[str, ...] | None:
    """The document's ``checklist``: a list of item ids, each once (None when not given)."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidUpdate(
            FIELD,
            'must be a list of the checklist\'s item ids, e.g. ["no-juvenile-names", "next-of-kin"]',
            "checklist.format",
        )
    if len(set(value)) != len(value):
        raise InvalidUpdate(FIELD, "names an item more than once; confirm each item once", "checklist.format")
    return tuple(value)


def read(
    path: str | Path | None = None, *, required: bool = False, setting: str = "RELEASES_CHECKLIST"
) -> Checklist:
    """The checklist in ``path`` (None: the packaged file). A file that is not a checklist is refused
    naming the setting, the item and the rule (at start-up, not mid-release)."""
    where = Path(path) if path else DEFAULT_PATH

    def bad(rule: str) -> ValueError:
        return ValueError(f"{setting}: {where}: {rule}")

    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except OSError as err:
        raise bad(f"cannot be read ({err.strerror})") from None
    except ValueError as err:
        raise bad(f"is not a JSON file ({err})") from None
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise bad('must be {"items": [{"id": ..., "text": ...}, ...]} with at least one item')
    out: list[Item] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or set(item) != {"id", "text"}:
            raise bad(f"item {n} must have exactly an id and a text")
        iid, words = item["id"], item["text"]
        if not isinstance(iid, str) or not re.fullmatch(ID_PATTERN, iid):
            raise bad(f"item {n}: id must be 1-64 lower-case letters, digits or hyphens")
        if iid in (i.id for i in out):
            raise bad(f"item {n}: id {iid} is given twice")
        if not isinstance(words, str) or not words.strip() or len(words) > TEXT_MAX:
            raise bad(f"item {n}: text must be 1-{TEXT_MAX} characters")
        words = text.normalize(words).strip()
        if (rule := text.problem(words, multiline=False)) is not None:
            raise bad(f"item {n}: text {rule}")
        out.append(Item(iid, words))
    return Checklist(tuple(out), required)


def schema(checklist: Checklist | None) -> dict[str, Any]:
    """The Airflow trigger form's ``checklist`` Param (the ids to choose from, when the file reads)."""
    items: dict[str, Any] = {"type": "string"}
    listed = ""
    shown: dict[str, Any] = {}
    if checklist is not None:
        items["enum"] = list(checklist.ids)
        listed = " Items: " + "; ".join(f"{i.id}: {i.text}" for i in checklist.items) + "."
        # Airflow's form shows an array Param with ``examples`` as a multi-select, each option labelled by
        # ``values_display`` (its example_params_ui_tutorial): the PIO picks the items' words, the ids are sent.
        shown = {"examples": list(checklist.ids), "values_display": {i.id: i.text for i in checklist.items}}
    return {
        "default": None,
        "type": ["null", "array"],
        "items": items,
        "uniqueItems": True,
        "title": "Checked before release",
        "description": "The pre-release checklist you confirm, by item id: all of them or none (left empty, "
        "nothing is recorded; a deployment may require it). The confirmed items are published with the "
        "version, with you as the releaser who confirmed them." + listed,
        **shown,
    }

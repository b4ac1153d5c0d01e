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
    "location": "County detention center, 100 Court St",
    "correction_note": "The facility was misnamed.",
}


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
    df = changelog.frame(sample.catalog())
    assert list(df.columns) == list(changelog.COLUMNS)
    assert df.to_dict(orient="records") == [
        {
            "incident_id": "2026-0142",
            "version": 3,
            "field": "location",
            "was": "5th St and Main St",
            "now": "6th St and Main St",
            "correction_note": sample.CORRECTION["correction_note"],
            "corrected_at": "2026-11-22T15:45:00Z",
            "previous_release_at": "2026-11-21T09:30:00Z",
            "hours_since_previous": 30.25,
        }
    ]


def test_one_row_per_corrected_field_newest_correction_first_fields_in_record_order():
    df = changelog.frame(two_corrected())
    assert list(zip(df["incident_id"], df["version"], df["field"], strict=True)) == [
        ("2026-0150", 2, "headline"),
        ("2026-0150", 2, "location"),
        ("2026-0142", 3, "location"),
    ]
    assert list(df["hours_since_previous"]) == [6.5, 6.5, 30.25]


def test_order_does_not_depend_on_the_catalog_order():
    catalog = two_corrected()
    shuffled = {**catalog, "corrections": list(reversed(catalog["corrections"]))}
    assert changelog.to_csv(changelog.frame(shuffled)) == changelog.to_csv(changelog.frame(catalog))


def test_ties_on_release_time_fall_back_to_incident_id():
    catalog = two_corrected(("2026-11-22T09:00:00Z", "2026-11-22T15:45:00Z"))
    df = changelog.frame(catalog)
    assert list(df["incident_id"]) == ["2026-0142", "2026-0150", "2026-0150"]


def test_hours_are_rounded_to_two_places():
    catalog = two_corrected(("2026-11-23T12:00:00Z", "2026-11-23T12:20:00Z"))
    assert changelog.frame(catalog)["hours_since_previous"].iloc[0] == 0.33


def test_empty_catalog_has_the_same_columns_and_types():
    empty, full = changelog.frame(catalog_mod.empty()), changelog.frame(sample.catalog())
    assert len(empty) == 0
    assert list(empty.columns) == list(full.columns)
    assert list(empty.dtypes) == list(full.dtypes)
    assert changelog.to_csv(empty) == (",".join(changelog.COLUMNS) + "\n").encode()
    assert changelog.to_json(empty) == b"[]\n"


def test_csv_agrees_with_the_frame():
    df = changelog.frame(two_corrected())
    data = changelog.to_csv(df)
    assert b"\r" not in data
    parsed = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [list(r) for r in parsed][0] == list(changelog.COLUMNS)
    expected = [{k: str(v) for k, v in row.items()} for row in changelog.rows(df)]
    assert parsed == expected


def test_json_agrees_with_the_frame_and_keeps_text_as_is():
    catalog = two_corrected()
    catalog["corrections"][0]["correction_note"] = "Fixed \u00e9t\u00e9 / 🚓 <b>"
    data = changelog.to_json(changelog.frame(catalog))
    assert "Fixed \u00e9t\u00e9 / 🚓 <b>".encode() in data  # not ASCII-escaped, "/" not escaped
    assert json.loads(data) == changelog.rows(changelog.frame(catalog))


def test_missing_previous_release_is_null_not_nan():
    catalog = sample.catalog()
    catalog["corrections"][0]["prev_released_at"] = None
    df = changelog.frame(catalog)
    assert math.isnan(df["hours_since_previous"].iloc[0])
    row = json.loads(changelog.to_json(df))[0]
    assert row["previous_release_at"] is None and row["hours_since_previous"] is None
    assert changelog.to_csv(df).decode().splitlines()[1].endswith(",,")


@pytest.mark.parametrize("write", [changelog.to_csv, changelog.to_json], ids=["csv", "json"])
def test_downloads_are_deterministic(write):
    assert write(changelog.frame(two_corrected())) == write(changelog.frame(two_corrected()))

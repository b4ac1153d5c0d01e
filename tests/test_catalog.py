"""The private indexes are a function of the set of records, whatever order releases came in."""

from __future__ import annotations

import sample
from hypothesis import given, settings
from hypothesis import strategies as st

from releases import catalog as catalog_mod
from releases.records import canonical


def histories(count: int) -> dict[str, list[dict]]:
    out = {}
    for n in range(count):
        iid = f"2026-{n:04d}"
        docs = [{**sample.PRELIMINARY, "incident_id": iid, "headline": f"Incident {n}"}]
        if n % 3 == 0:
            docs.append({**sample.CORRECTION, "incident_id": iid, "location": f"Corrected place {n}"})
        if n % 4 == 0:
            docs.append({**sample.UPDATE, "incident_id": iid, "summary": f"Update {n}"})
        times = [f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}T{h:02d}:00:{n % 60:02d}Z" for h in range(len(docs))]
        out[iid] = sample.history(docs, times)
    return out


HISTORIES = histories(40)
WINDOWS = {"feed_window": 5, "index_window": 7}


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=0, max_value=3))
def test_incremental_updates_in_any_order_equal_a_rebuild(rnd, repeats):
    catalog, days = catalog_mod.build(HISTORIES, **WINDOWS)
    # Any interleaving of incidents that keeps each incident's versions in order, with some
    # releases folded in again (a retried task): same bytes as the rebuild.
    order = [iid for iid, records in HISTORIES.items() for _ in records]
    rnd.shuffle(order)
    position = dict.fromkeys(HISTORIES, 0)
    inc, shards = catalog_mod.empty(), {}
    for iid in order:
        position[iid] += 1
        records = HISTORIES[iid][: position[iid]]
        for _ in range(1 + (repeats if rnd.random() < 0.2 else 0)):
            inc = catalog_mod.add(inc, records, **WINDOWS)
            day = records[0]["released_at"][:10]
            shards[day] = catalog_mod.add_to_day(shards.get(day) or catalog_mod.empty_day(day), records)
    assert canonical(inc) == canonical(catalog)
    assert {d: canonical(s) for d, s in shards.items()} == {d: canonical(s) for d, s in days.items()}


def test_catalog_is_bounded_whatever_the_history():
    catalog, days = catalog_mod.build(HISTORIES, **WINDOWS)
    assert len(catalog["incidents"]) == 7 and len(catalog["recent"]) == 5
    corrected = sum(1 for records in HISTORIES.values() for r in records if r["stage"] == "corrected")
    assert corrected > 5 and len(catalog["corrections"]) == 5  # the window, not every correction
    # Every incident is in exactly one day's listing, and the month listings name every day.
    assert sorted(s["incident_id"] for d in days.values() for s in d["incidents"]) == sorted(HISTORIES)
    listed_days = {d for m in catalog_mod.month_listings(catalog).values() for d in m["days"]}
    assert listed_days == set(days)


def test_the_catalog_does_not_grow_with_the_history():
    small, _ = catalog_mod.build(histories(40), **WINDOWS)
    large, _ = catalog_mod.build(histories(400), **WINDOWS)
    # Only the lists of days and months that have incidents grow (one entry a day at most).
    trim = {"days": [], "months": [], "correction_months": []}
    assert abs(len(canonical({**large, **trim})) - len(canonical({**small, **trim}))) < 0.2 * len(
        canonical({**small, **trim})
    )


@settings(max_examples=20, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=6))
def test_catalogs_of_disjoint_chunks_merge_into_the_catalog_of_all(rnd, chunks):
    """What ``releases rebuild`` relies on to build in parallel: any split of the incidents gives the same bytes."""
    ids = list(HISTORIES)
    rnd.shuffle(ids)
    parts = [
        catalog_mod.build({iid: HISTORIES[iid] for iid in ids[n::chunks]}, **WINDOWS) for n in range(chunks)
    ]
    catalog, days = catalog_mod.build(HISTORIES, **WINDOWS)
    assert canonical(catalog_mod.merge([c for c, _ in parts], **WINDOWS)) == canonical(catalog)
    merged = catalog_mod.merge_days([d for _, d in parts])
    assert {d: canonical(s) for d, s in merged.items()} == {d: canonical(s) for d, s in days.items()}

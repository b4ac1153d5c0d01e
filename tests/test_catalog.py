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
    catalog, months = catalog_mod.build(HISTORIES, **WINDOWS)
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
            month = records[0]["released_at"][:7]
            shards[month] = catalog_mod.add_to_month(
                shards.get(month) or catalog_mod.empty_month(month), records
            )
    assert canonical(inc) == canonical(catalog)
    assert {m: canonical(s) for m, s in shards.items()} == {m: canonical(s) for m, s in months.items()}


def test_catalog_is_bounded_whatever_the_history():
    catalog, months = catalog_mod.build(HISTORIES, **WINDOWS)
    assert len(catalog["incidents"]) == 7 and len(catalog["recent"]) == 5
    corrected = sum(1 for records in HISTORIES.values() for r in records if r["stage"] == "corrected")
    assert len(catalog["corrections"]) == corrected
    # Only the corrections inside the feed window keep the full statement.
    assert all("body" in e for e in catalog["corrections"][:5])
    assert not any("body" in e for e in catalog["corrections"][5:])
    assert sum(len(s["incidents"]) for s in months.values()) == len(HISTORIES)

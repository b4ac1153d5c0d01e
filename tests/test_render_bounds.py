"""Re-rendering while other releases keep changing an index is bounded: past MAX_RENDERS the step fails
as a storage fault (Airflow retries it) rather than spinning forever."""

from __future__ import annotations

import pytest
from sample import PRELIMINARY

from releases import ledger, pipeline, views
from releases.errors import ReleaseError, StorageFault
from releases.settings import load


def test_site_views_stop_after_a_bounded_number_of_renders_under_endless_change(bucket, monkeypatch):
    settings = load()
    pipeline.release(PRELIMINARY, bucket, settings, key="run-1", released_by="pio")
    renders = []
    real_load = views.catalog_mod.load

    def load_and_count(*args, **kwargs):
        renders.append(1)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(views.catalog_mod, "load", load_and_count)
    # Another release changes the index during every render.
    monkeypatch.setattr(bucket, "head_etag", lambda key: '"changed-by-someone-else"')
    with pytest.raises(StorageFault, match="20 renders") as err:
        views.write_site(bucket, settings)
    assert len(renders) == views.MAX_RENDERS
    assert not isinstance(err.value, ReleaseError)  # a fault, retried; never shown as a refusal


def test_incident_views_stop_after_a_bounded_number_of_renders_under_endless_new_versions(
    bucket, monkeypatch
):
    settings = load()
    pipeline.release(PRELIMINARY, bucket, settings, key="run-1", released_by="pio")
    records = ledger.history(bucket, PRELIMINARY["incident_id"])
    # A newer version appears every time the views have been written.
    monkeypatch.setattr(bucket, "head_etag", lambda key: '"v2-exists"')
    monkeypatch.setattr(views.ledger, "history", lambda store, iid: records)
    with pytest.raises(StorageFault, match="20 renders"):
        views.write_incident(bucket, records, settings)

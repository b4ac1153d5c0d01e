"""Fault injection over every S3 write a release makes, each followed by Airflow's retry.

For each PutObject of a three-stage release history, two faults are injected in turn:
- ``lost-request``: the request never reaches storage (botocore ``before-send``);
- ``lost-response``: storage applied the write, the answer never came back (``after-call``).
The failed step is then run again, as an Airflow task retry would. In every case: no
version lost, none duplicated, and every object byte-identical to a fault-free run.
"""

from __future__ import annotations

import functools
import threading
import uuid

import pytest
from conftest import all_objects
from sample import CORRECTION, PRELIMINARY, fixed_salt

from releases import pipeline
from releases.settings import Settings
from releases.storage import Store, client_from_settings

# Seconds to minutes each (many releases, races, restarts): full suite only, not `make test-fast`.
pytestmark = pytest.mark.slow

# A preliminary and a correction: together they make every kind of write a release makes
# (record, renderings, incident views, catalog, site views, changelog and corrections feeds).
DOCS = [PRELIMINARY, CORRECTION]
TIMES = ["2026-11-21T03:00:00Z", "2026-11-22T15:45:00Z"]


class InjectedFault(Exception):
    pass


class Faults:
    """Counts PutObject requests; fails the ``at``-th one in the chosen way, once."""

    def __init__(self, mode: str | None = None, at: int = 0) -> None:
        self.mode, self.at, self.count, self.fired = mode, at, 0, False
        self.keys: list[str] = []
        # A release writes independent objects in parallel: each request's number is kept by the
        # thread that sends it (a call's before-send and after-call run on one thread).
        self.lock, self.mine = threading.Lock(), threading.local()

    def before_send(self, request, **kwargs):
        with self.lock:
            self.count += 1
            self.mine.n = self.count
            self.keys.append(request.url.split("?")[0])
        if self.mode == "lost-request" and self.mine.n == self.at:
            self.fired = True
            raise InjectedFault(f"request {self.mine.n} lost before it reached storage")

    def after_call(self, **kwargs):
        if self.mode == "lost-response" and getattr(self.mine, "n", None) == self.at and not self.fired:
            self.fired = True
            raise InjectedFault(f"response to request {self.mine.n} lost after the write")


def retried(step, *args, **kwargs):
    """Run a step; on failure run it once more, as Airflow's task retry would."""
    try:
        return step(*args, **kwargs)
    except InjectedFault:
        return step(*args, **kwargs)


def run_history(store: Store, settings: Settings) -> None:
    for n, doc in enumerate(DOCS):
        retried(pipeline.validate, doc, store, key=f"run-{n}")
        retried(
            pipeline.publish,
            doc,
            store,
            settings,
            key=f"run-{n}",
            released_by="pio",
            clock=lambda n=n: TIMES[n],
            # Byte-identical to the fault-free run: the same salts (real releases draw random ones).
            salt=functools.partial(fixed_salt, f"run-{n}"),
        )
        retried(pipeline.refresh, doc, store, settings, key=f"run-{n}")


def fresh_store(endpoint: str, faults: Faults) -> tuple[Store, Settings]:
    name = f"faults-{uuid.uuid4().hex[:12]}"
    # A fixed public URL: feeds carry absolute links, and each case has its own bucket.
    settings = Settings(bucket=name, s3_endpoint=endpoint, public_url="https://releases.example.org")
    store = Store(client_from_settings(settings), name)
    store.ensure_bucket()
    store.client.meta.events.register("before-send.s3.PutObject", faults.before_send)
    store.client.meta.events.register("after-call.s3.PutObject", faults.after_call)
    return store, settings


def metadata(store: Store) -> dict[str, tuple[str, str]]:
    out = {}
    for key in store.list_keys(""):
        head = store.client.head_object(Bucket=store.bucket, Key=key)
        out[key] = (head["ContentType"], head.get("CacheControl"))
    return out


@pytest.fixture(scope="module")
def baseline(s3_endpoint):
    counter = Faults()
    store, settings = fresh_store(s3_endpoint, counter)
    run_history(store, settings)
    return {"objects": all_objects(store), "metadata": metadata(store), "writes": counter.count}


def test_fault_matrix_over_every_write(s3_endpoint, baseline):
    cases = [
        (mode, at) for mode in ("lost-request", "lost-response") for at in range(1, baseline["writes"] + 1)
    ]
    failures = []
    for mode, at in cases:
        faults = Faults(mode, at)
        store, settings = fresh_store(s3_endpoint, faults)
        run_history(store, settings)
        assert faults.fired, (mode, at)
        objects = all_objects(store)
        versions = sorted(k for k in objects if "/v" in k and k.endswith(".json"))
        if objects != baseline["objects"] or metadata(store) != baseline["metadata"]:
            differing = sorted(
                k
                for k in set(objects) | set(baseline["objects"])
                if objects.get(k) != baseline["objects"].get(k)
            )
            failures.append((mode, at, faults.keys[at - 1], differing))
        assert versions == ["incidents/2026-0142/v1.json", "incidents/2026-0142/v2.json"]
    print(f"fault matrix: {len(cases)} cases over {baseline['writes']} writes, {len(failures)} differing")
    assert failures == []
    # Every kind of object a release writes was hit by a fault at least once.
    hit = {url.split("/", 4)[-1] for url in faults.keys}
    assert {"incidents/2026-0142/v1.json", "incidents/2026-0142/v2.html", "_state/catalog.json"} <= hit
    assert {"rss.xml", "index.html", "corrections/corrections.csv", "corrections.atom.xml"} <= hit

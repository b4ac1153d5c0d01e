"""Release information about a critical incident: validate -> publish -> refresh views.

Trigger it from the Airflow form, the REST API, ``releases submit`` or the inbox. The
trigger form shows one field per part of the update document (see README); the Params
refuse a malformed field before a run exists. The tasks read the submitted document
itself (``dag_run.conf``), not the Params merged with defaults, so an unknown field is
refused rather than silently dropped. All rules live in the ``releases`` package.
"""

from __future__ import annotations

from datetime import datetime, timezone

from airflow.sdk import Param, chain, dag, task

from releases.document import param_schemas

PARAMS = {name: Param(**schema) for name, schema in param_schemas().items()}


def _store():
    # Connection look-up happens only here, at task run time, never at parse time.
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from releases import settings
    from releases.storage import Store

    cfg = settings.load()
    client = S3Hook(aws_conn_id=cfg.aws_conn_id).get_conn()
    return cfg, Store(client, cfg.bucket, public_access=cfg.public_access)


@dag(
    dag_id="incident_release",
    description="Publish a versioned, correctable statement about a critical incident",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 - as Airflow's own examples
    catchup=False,
    max_active_runs=16,
    tags=["releases"],
    params=PARAMS,
    doc_md=__doc__,
    render_template_as_native_obj=False,
)
def incident_release():
    @task(retries=0)
    def validate(dag_run=None) -> dict:
        """Refuse bad input before anything is written (field and rule in the error)."""
        from releases import ledger
        from releases.document import parse_update

        update = parse_update(dict(dag_run.conf or {}))
        _cfg, store = _store()
        planned = ledger.check(update, store)
        return {"incident_id": update.incident_id, "version": planned["version"], "stage": update.stage}

    @task(retries=3)
    def publish(plan: dict, dag_run=None) -> dict:
        """Append the next version exactly once for this run (retries reuse it)."""
        from releases import ledger, views
        from releases.document import parse_update

        update = parse_update(dict(dag_run.conf or {}))
        cfg, store = _store()
        record = ledger.publish(
            update,
            store,
            key=f"{dag_run.dag_id}/{dag_run.run_id}",
            released_by=getattr(dag_run, "triggering_user_name", None) or "airflow",
        )
        views.publish_renderings(store, record, cfg)
        return {
            "incident_id": record["incident_id"],
            "version": record["version"],
            "sha256": record["sha256"],
        }

    @task(retries=3)
    def refresh_views(published: dict) -> list[str]:
        """Rebuild the incident page, the feeds, the changelog and the site index."""
        from releases import ledger, views

        cfg, store = _store()
        record = ledger.load_record(store, published["incident_id"], published["version"])
        return views.refresh_incident(store, record["incident_id"], cfg) + views.refresh_site(
            store, record, cfg
        )

    planned = validate()
    published = publish(planned)
    chain(planned, published, refresh_views(published))


incident_release()

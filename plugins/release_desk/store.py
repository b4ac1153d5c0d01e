"""The store and the sealing key, from the Airflow connections the DAGs use (read in the API server)."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4)
def _client(conn_id: str):
    # One client per API server process and connection: building it costs a connection look-up and
    # botocore's set-up (~0.3 s). A changed connection takes effect when the API server restarts.
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from releases import settings
    from releases.storage import retry_config

    return S3Hook(aws_conn_id=conn_id, config=retry_config(settings.load())).get_conn()


def open_store(cfg):
    from releases.storage import Store

    return Store(_client(cfg.aws_conn_id), cfg.bucket)


def sealing_key() -> str | None:
    """The deployment's private sealing key (connection ``releases_sealing``), or None."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    from releases import sealing

    try:
        return Connection.get_connection_from_secrets(sealing.CONNECTION).password
    except AirflowNotFoundException:
        return None

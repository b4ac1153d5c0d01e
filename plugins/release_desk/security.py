"""Who may use the desk: Airflow decides, with the dependencies its own REST API uses.

``get_user`` accepts a bearer token (``POST /auth/token``) or the UI's session cookie and answers 401
without either and 403 for a token Airflow did not sign (another key, altered, expired).
``requires_access_dag`` asks the auth manager whether that user may do what a route does on the DAG
``incident_release``: validating a document is part of releasing one, so it needs what triggering a
release needs (create a run of ``incident_release``); a viewer gets 403.
"""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends

RELEASE_DAG = "incident_release"

# Routes that a PIO uses to prepare a release: the same permission as triggering one.
may_release = Depends(
    requires_access_dag(method="POST", access_entity=DagAccessEntity.RUN, param_dag_id=RELEASE_DAG)
)

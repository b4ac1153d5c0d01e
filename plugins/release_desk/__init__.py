"""The release desk: a FastAPI app that Airflow's API server mounts at ``/release-desk`` (see
``plugins/incident_releases.py``), behind Airflow's own authentication and permissions.

- ``app.py``: the app; every route is added from a module of its own.
- ``security.py``: who may call what, with Airflow's own FastAPI dependencies (a valid token or session
  cookie; permission on the ``incident_release`` DAG).
- ``validation.py``: ``POST /release-desk/api/validate``, the one check before a run exists
  (:func:`releases.checks.check`), with the incident's history read from the store.
- ``store.py``: the store and the sealing key, from the Airflow connections the DAGs use.

Pages for PIOs (the form, the preview, the approval) belong here too, each in a module of its own that
``app.py`` includes. Business rules stay in ``releases``.
"""

from __future__ import annotations

from .app import URL_PREFIX, create_app

__all__ = ["URL_PREFIX", "create_app"]

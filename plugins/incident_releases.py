"""The project's Airflow plugin: links from the Airflow UI to what the public sees (the site and the
corrections changelog), and the release desk, a FastAPI app mounted in Airflow's API server at
``/release-desk`` behind Airflow's own authentication (``plugins/release_desk``).

A PIO who has just triggered a release can open the published result from the same
navigation bar. Settings are read when the API server loads plugins, not per DAG parse.
"""

from __future__ import annotations

import functools

from airflow.plugins_manager import AirflowPlugin

from releases import settings


def external_views() -> list[dict[str, str]]:
    base = settings.load().base_url
    return [
        # The desk's page inside Airflow's UI (same origin: the page reads Airflow's session cookie).
        {
            "name": "Release desk",
            "href": "/release-desk/",
            "url_route": "release-desk",
            "destination": "nav",
            "category": "Releases",
        },
        {"name": "Public site", "href": f"{base}/index.html", "destination": "nav", "category": "Releases"},
        {
            "name": "Corrections changelog",
            "href": f"{base}/corrections/index.html",
            "destination": "nav",
            "category": "Releases",
        },
    ]


class IncidentReleasesPlugin(AirflowPlugin):
    name = "incident_releases"
    external_views = external_views()

    @property
    def fastapi_apps(self) -> list[dict]:
        """Built when the API server asks for it, not when a task or the scheduler loads plugins: the desk
        imports Airflow's API security (seconds of imports that every task start would pay)."""
        return release_desk_apps()


@functools.cache
def release_desk_apps() -> list[dict]:
    # plugins/ is on sys.path (Airflow puts it there); .airflowignore keeps Airflow from loading the
    # package's files as plugins of their own.
    from release_desk import URL_PREFIX, create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Release desk"}]

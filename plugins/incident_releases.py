"""Links from the Airflow UI to what the public sees: the site and the corrections changelog.

A PIO who has just triggered a release can open the published result from the same
navigation bar. Settings are read when the API server loads plugins, not per DAG parse.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from releases import settings


def external_views() -> list[dict[str, str]]:
    base = settings.load().base_url
    return [
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

"""The Airflow UI links to the public site the settings point at."""

from __future__ import annotations

import importlib.util

import pytest
from conftest import ROOT


def load_plugin_module():
    spec = importlib.util.spec_from_file_location(
        "incident_releases_plugin", ROOT / "plugins" / "incident_releases.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # imports Airflow's plugin machinery (~5 s)
def test_plugin_links_to_public_site_from_settings(monkeypatch):
    monkeypatch.setenv("RELEASES_PUBLIC_URL", "https://releases.example.org/")
    module = load_plugin_module()
    views = module.IncidentReleasesPlugin.external_views
    assert [v["href"] for v in views] == [
        "/release-desk/",  # the desk, on Airflow's own address (the plugin's FastAPI app)
        "https://releases.example.org/index.html",
        "https://releases.example.org/corrections/index.html",
    ]
    assert module.IncidentReleasesPlugin.name == "incident_releases"


def test_plugin_is_discovered_by_airflow(airflow_db):
    from airflow import plugins_manager

    names = [p.name for p in plugins_manager._get_plugins()[0]]
    assert "incident_releases" in names

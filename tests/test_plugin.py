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


# Where Airflow 3.3's navigation bar shows the desk (nav views with a category go under its Plugins
# menu): tests/test_desk_browser.py clicks exactly this path in Chromium.
NAV_PATH = ("Plugins", "Releases", "Release desk")


def test_make_up_prints_the_desk_s_address_and_readme_names_the_navigation_as_airflow_shows_it(tmp_path):
    from types import SimpleNamespace

    from devstack import seaweed, stack
    from releases.settings import load

    cfg = load({"RELEASES_API_URL": "http://127.0.0.1:8080"})
    store = SimpleNamespace(
        credentials=lambda identity: {"access_key": "a", "secret_key": "s"},
        endpoint="http://127.0.0.1:9000",
        data_dir=tmp_path / "s3",
        ports=seaweed.Ports.from_s3(9000),
    )
    [line] = [line for line in stack.banner(cfg, store, tmp_path).splitlines() if "/release-desk/" in line]
    assert line.split()[:3] == ["Release", "desk", "http://127.0.0.1:8080/release-desk/"]
    assert line.endswith(f"(in Airflow: {' → '.join(NAV_PATH)})")
    assert f"**{' → '.join(NAV_PATH)}**" in (ROOT / "README.md").read_text()

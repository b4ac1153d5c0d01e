"""The release desk's FastAPI app."""

from __future__ import annotations

from fastapi import FastAPI

from . import desk, validation

URL_PREFIX = "/release-desk"


def create_app() -> FastAPI:
    # No docs pages of its own: README documents the API, and Airflow's /docs covers Airflow's.
    app = FastAPI(title="Release desk", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(validation.router, prefix="/api")
    app.include_router(desk.router)
    return app

"""DAG run ids that name the release: ``<incident>-v<next version>-<stage>-<UTC time to the second>``, e.g.
``2026-0142-v2-corrected-20261127T181005Z`` (what ``releases submit`` and the desk send as the REST trigger's
``dag_run_id``; Airflow's default run id pattern allows every character of it). ``vnext`` when the
incident's history could not be read."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Airflow's [scheduler] allowed_run_id_pattern (default).
ALLOWED = re.compile(r"^[A-Za-z0-9_.~:+-]+$")


def release_run_id(incident_id: str, version: int | None, stage: str, now: datetime | None = None) -> str:
    when = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    number = f"v{version}" if version else "vnext"
    run_id = f"{incident_id.upper()}-{number}-{stage}-{when}"
    if not ALLOWED.match(run_id):  # pragma: no cover - incident ids and stages are checked before
        raise ValueError(f"run id {run_id!r} has characters Airflow refuses")
    return run_id

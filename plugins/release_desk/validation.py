"""``POST /release-desk/api/validate``: every rule a release would refuse the document for, before a run
exists (:func:`releases.checks.check`, the check ``releases validate``, ``releases submit`` and the
inbox run), with the incident's history read from the store through the DAGs' own connection.

Request: the update document as the body, ``Content-Type: application/json``; withheld text may be sent
as text (nothing here keeps it) or sealed. Response (200 either way)::

    {"ok": false, "incident_id": "2026-0142", "stage": "corrected", "next_version": 3, "history": "read",
     "refusals": [{"field": "headline", "title": "Headline", "rule": "consistency.old_value",
                   "message": "still contains “5th St and Main St”, ..."}]}

``history`` is ``"read"``, or ``"not read: <why>"`` (the store could not be reached, or the incident
number or the stage was refused); without it the stage rules and the consistency check were not run. Other
answers: 401 without a valid token or session, 403 for a token Airflow did not sign or a user who may not
trigger ``incident_release``, 415 for a body that is not sent as JSON (so a page on another origin cannot
send one without a CORS preflight, which Airflow does not grant).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from releases import checks, ledger, sealing, settings
from releases.document import INCIDENT_ID_PATTERN, MAX_DOCUMENT_BYTES, loads
from releases.errors import InvalidUpdate, StorageFault

from .security import may_release
from .store import open_store, sealing_key

router = APIRouter()


@router.post("/validate", dependencies=[may_release])
async def validate(request: Request) -> JSONResponse:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        return JSONResponse(
            {"detail": "send the update document as JSON, with Content-Type: application/json"},
            status_code=415,
        )
    body = await read_capped(request, MAX_DOCUMENT_BYTES)
    return JSONResponse(await run_in_threadpool(verdict, body))


async def read_capped(request: Request, limit: int) -> bytes:
    """The request's body, read no further than one byte past ``limit`` (the caller refuses it then)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            break
    return bytes(body)


def verdict(body: bytes, desk: bool = False) -> dict[str, Any]:
    """The answer for one document (runs in a worker thread: it reads the store). ``desk``: worded for the
    release desk's form (:func:`releases.checks.on_desk`); the rules are the same."""
    from airflow.exceptions import AirflowNotFoundException

    cfg = settings.load()
    read: dict[str, Any] = {
        "note": "not read: the incident number and the stage must pass their own rules first",
        "records": None,
    }

    def history(incident_id: str) -> list[dict[str, Any]] | None:
        try:
            read["records"] = ledger.history(open_store(cfg), incident_id)
        except (StorageFault, BotoCoreError, ClientError, OSError, AirflowNotFoundException) as err:
            # Said, not hidden: without the history the stage rules and the consistency check do not run.
            read["note"] = f"not read: the store could not be read ({type(err).__name__})"
            return None
        read["note"] = "read"
        return read["records"]

    doc: Any = None
    try:
        doc = _unsealed(loads(body))
        refusals = checks.check(doc, history, cfg)
    except InvalidUpdate as err:  # not a document at all, or a sealed item that cannot be opened
        refusals = [checks.Refusal.from_error(err)]
    if desk:
        # The starting templates are the desk's: their placeholders must not reach a release.
        refusals = [checks.on_desk(r) for r in refusals] + checks.placeholder_problems(doc, placeholders())
    fields = doc if isinstance(doc, dict) else {}
    incident, stage = fields.get("incident_id"), fields.get("stage")
    return {
        "ok": not refusals,
        "incident_id": incident.upper()
        if isinstance(incident, str) and re.fullmatch(INCIDENT_ID_PATTERN, incident)
        else None,
        "stage": stage if isinstance(stage, str) else None,
        "next_version": len(read["records"]) + 1 if read["records"] is not None else None,
        "history": read["note"],
        "refusals": [r.as_dict() for r in refusals],
    }


TEMPLATES = Path(__file__).resolve().parents[2] / "desk_templates"


def placeholders() -> frozenset[str]:
    """The placeholders of the starting templates as they are now (read each time: files anyone may edit)."""
    texts = []
    for path in sorted(TEMPLATES.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        texts += [v for v in spec.get("fields", {}).values() if isinstance(v, str)]
    return checks.template_placeholders(texts)


def _unsealed(doc: Any) -> Any:
    """Withheld items sent sealed (as ``releases submit`` sends them) are opened in memory to be checked."""
    items = doc.get("withheld") if isinstance(doc, dict) else None
    if isinstance(items, list) and items and all(isinstance(i, dict) and "sealed" in i for i in items):
        return sealing.unseal_document(doc, sealing_key())
    return doc

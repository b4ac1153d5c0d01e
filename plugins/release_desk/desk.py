"""The release desk's page and the calls it makes: a PIO's form (``GET /release-desk/``), the incidents
and their current statements, the starting templates (``desk_templates/``) and the pre-release checklist
(``RELEASES_CHECKLIST``, :mod:`releases.checklist`), a preview
and a submit that runs the one check first (:func:`validation.verdict`) and triggers ``incident_release``
only when nothing is refused.

The page sends ``{"document": {...}, "local_times": {"occurred_at": "2026-11-25T23:40"}}``: a time picked
in the agency's zone (``RELEASES_TIMEZONE``; UTC when unset) is turned into the document's RFC 3339 time
here, so the PIO never types an offset. Withheld text is sealed here, before Airflow keeps anything.
The request's ``checklist`` (the ids of the ticked items) becomes the document's ``checklist``: the one
check refuses a submit until every item is ticked, and the version records them (issue 16).
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool

from releases import approval, ledger, settings
from releases.document import CORRECTION_NOTE, FIELDS, INCIDENT_ID_PATTERN, RELEASED_BY
from releases.runs import desk_outcome

from .security import RELEASE_DAG, may_release
from .store import open_store, sealing_key
from .validation import verdict

router = APIRouter()
ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "desk_templates"
PAGE = Path(__file__).with_name("page.html")


def _zone_name(cfg) -> str:
    return cfg.display_timezone or "UTC"


@router.get("/", response_class=HTMLResponse, dependencies=[may_release])
def page() -> HTMLResponse:
    # The page's own security headers: it is framed by Airflow's UI (same origin) and by nothing else.
    return HTMLResponse(
        PAGE.read_text(encoding="utf-8"),
        headers={"Content-Security-Policy": "frame-ancestors 'self'", "Cache-Control": "no-store"},
    )


@router.get("/api/form", dependencies=[may_release])
def form() -> dict[str, Any]:
    """What the form is made of: fields (label, help, maximum length), templates, checklist, zone."""
    cfg = settings.load()
    templates = []
    for path in sorted(TEMPLATES.glob("*.json")):
        spec = json.loads(path.read_text(encoding="utf-8"))
        templates.append({"id": path.stem, **spec})
    checklist = [{"id": i.id, "text": i.text} for i in cfg.checklist().items]
    fields = [
        {
            "name": f.name,
            "title": f.title,
            "help": f.description,
            "max": f.max_length,
            "multiline": f.multiline,
            "time": f.timestamp,
        }
        for f in (*FIELDS, CORRECTION_NOTE, RELEASED_BY)
    ]
    # Scheduled release (the document's ``release_at``): picked in the agency's zone like occurred_at.
    fields.append(
        {
            "name": "release_at",
            "title": "Release at (optional)",
            "help": "Leave empty to release at once. Or pick when the statement is to become public, in the "
            f"agency's time zone ({_zone_name(cfg)}): the release waits until then, and can be cancelled "
            "before it by marking its run failed in Airflow.",
            "max": None,
            "multiline": False,
            "time": True,
        }
    )
    return {
        "fields": fields,
        "templates": templates,
        "checklist": checklist,
        "zone": _zone_name(cfg),
        "public_url": cfg.base_url,
    }


@router.get("/api/incidents", dependencies=[may_release])
def incidents() -> list[dict[str, Any]]:
    """The incidents the catalog lists, newest activity first."""
    from releases import catalog

    cfg = settings.load()
    current, _ = catalog.load(open_store(cfg), default=catalog.empty())
    rows = [
        {
            "incident_id": iid,
            "headline": s.get("headline"),
            "stage": s.get("stage"),
            "version": s.get("latest_version"),
        }
        for iid, s in (current or {}).get("incidents", {}).items()
    ]
    return rows


@router.get("/api/incidents/{incident_id}", dependencies=[may_release])
def incident(incident_id: str) -> JSONResponse:
    """The incident's current statement, to prefill an update or a correction."""
    cfg = settings.load()
    # Only an incident number the rules allow is looked up (it becomes part of a key in the store).
    valid = re.fullmatch(INCIDENT_ID_PATTERN, incident_id)
    records = ledger.history(open_store(cfg), incident_id.upper()) if valid else []
    if not records:
        return JSONResponse({"detail": f"incident {incident_id} has no release"}, status_code=404)
    latest = records[-1]
    fields = {f.name: latest.get(f.name) for f in FIELDS if latest.get(f.name) is not None}
    tz = ZoneInfo(_zone_name(cfg))
    local = {}
    if fields.get("occurred_at"):
        when = datetime.fromisoformat(fields["occurred_at"].upper().replace("Z", "+00:00"))
        local["occurred_at"] = when.astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    return JSONResponse(
        {
            "incident_id": latest["incident_id"],
            "version": latest["version"],
            "stage": latest["stage"],
            "fields": fields,
            "local_times": local,
            "link": f"{cfg.base_url}/incidents/{latest['incident_id']}/index.html",
        }
    )


def _document(body: Any) -> tuple[Any, dict[str, Any]]:
    """The update document from the desk's request, its picked times given the agency's offset."""
    if not isinstance(body, dict) or not isinstance(body.get("document"), dict):
        return body, {}
    doc = dict(body["document"])
    cfg = settings.load()
    tz = ZoneInfo(_zone_name(cfg))
    for name, value in (body.get("local_times") or {}).items():
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d", value):
            doc[name] = datetime.fromisoformat(value).replace(tzinfo=tz).isoformat()
    return doc, body


async def _json(request: Request) -> Any:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        return None
    try:
        return json.loads(await request.body())
    except ValueError:
        return None


def _unsupported() -> JSONResponse:
    return JSONResponse(
        {"detail": "send the desk's request as JSON, with Content-Type: application/json"}, status_code=415
    )


@router.post("/api/preview", dependencies=[may_release])
async def preview(request: Request) -> JSONResponse:
    body = await _json(request)
    if body is None:
        return _unsupported()
    doc, raw = _document(body)
    # The checklist is confirmed at submit; a preview shows it only once every item is ticked.
    ticked = _ticked(raw)
    if isinstance(doc, dict):
        doc.pop("checklist", None)
    if (
        isinstance(doc, dict)
        and isinstance(ticked, list)
        and sorted(map(str, ticked)) == sorted(settings.load().checklist().ids)
    ):
        doc["checklist"] = ticked
    answer = await run_in_threadpool(verdict, json.dumps(doc).encode(), True)
    answer["refusals"] = [r for r in answer["refusals"] if r["field"] != "checklist"]
    answer["ok"] = not answer["refusals"]
    if answer["ok"]:
        answer["preview"] = await run_in_threadpool(_render_preview, doc)
    return JSONResponse(answer)


def _ticked(raw: Any) -> Any:
    """The ids of the checklist items the PIO ticked (the request's ``checklist``), as sent."""
    return raw.get("checklist") if isinstance(raw, dict) else None


def _render_preview(doc: dict[str, Any]) -> dict[str, Any]:
    """What the release would publish, rendered by the pages' and feeds' own templates; kept nowhere."""
    from releases import render, sealing
    from releases.document import parse_update
    from releases.records import next_record

    cfg = settings.load()
    if doc.get("withheld"):
        doc = sealing.unseal_document(doc, sealing_key()) if _sealed(doc) else doc
    update = parse_update(doc)
    records = ledger.history(open_store(cfg), update.incident_id)
    record = next_record(
        update,
        records[-1] if records else None,
        released_at=ledger.utc_now(),
        released_by="PREVIEW",
        key="preview",
        public=cfg.public,
        # Shown when all are ticked; not yet required: they are confirmed at submit.
        checklist=dataclasses.replace(cfg.checklist(), required=False),
    )
    history = f"{cfg.base_url}/incidents/{record['incident_id']}/index.html"
    return {
        "version": record["version"],
        "stage": record["stage"],
        "page": render.version_html(record, cfg).decode("utf-8"),
        "wire": render.version_txt(record, cfg).decode("utf-8"),
        "feed_title": render.entry_title(record),
        "feed_entry": render.feed_entry_html(record, cfg, history),
        "changes": record["changes"],
    }


def _sealed(doc: dict[str, Any]) -> bool:
    items = doc.get("withheld")
    return isinstance(items, list) and any(isinstance(i, dict) and "sealed" in i for i in items)


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    return request.cookies.get("_token")


def _origin(request: Request) -> str:
    """Airflow's own REST API, at the address this API server listens on: the socket's, never the request's
    ``Host`` header (an attack trial pointed the desk's calls, the PIO's token with them, at its own
    listener by sending another ``Host``). TLS ends before the API server, so plain HTTP."""
    host, port = request.scope.get("server") or ("127.0.0.1", 8080)
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def _client() -> httpx.AsyncClient:
    """The desk's client for Airflow's REST API (one per request; the tests give it a fake transport)."""
    return httpx.AsyncClient(timeout=60)


# Airflow's run ids (``airflow.models.dagrun``'s pattern): anything else is not a run of the desk's.
RUN_ID = re.compile(r"[A-Za-z0-9_.~:+-]{1,250}")


@router.post("/api/submit", dependencies=[may_release])
async def submit(request: Request) -> JSONResponse:
    """Check, seal, trigger: a run exists only for a document the check accepts, with every checklist item
    confirmed (the ticked ids go into the document's ``checklist``: the check refuses any left unticked,
    and the version records them). The run is triggered through Airflow's own REST API as the PIO (their
    token), so Airflow records who released it and applies its own permissions."""
    from releases import sealing
    from releases.document import seal_update

    body = await _json(request)
    if body is None:
        return _unsupported()
    doc, raw = _document(body)
    # Only what was ticked, and always a list: nothing ticked is refused as "not confirmed: ...", even
    # where the deployment does not require a checklist of every document.
    ticked = _ticked(raw)
    if isinstance(doc, dict):
        doc["checklist"] = ticked if ticked is not None else []
    answer = await run_in_threadpool(verdict, json.dumps(doc).encode(), True)
    if not answer["ok"]:
        return JSONResponse(answer)
    key = sealing_key()
    if doc.get("withheld") and not _sealed(doc):
        if not key:
            return JSONResponse(
                {"detail": "withheld items cannot be sealed: no sealing key"}, status_code=503
            )
        doc = seal_update(doc, sealing.public_of(key))
    # As releases submit names it (releases.runs on flow16): <incident>-v<next version>-<stage>-<UTC time>.
    when = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{answer['incident_id']}-v{answer['next_version']}-{answer['stage']}-{when}"
    items = settings.load().checklist().items
    note = "Checklist confirmed by the submitter:\n" + "\n".join(f"- {i.text}" for i in items)
    async with _client() as client:
        resp = await client.post(
            f"{_origin(request)}/api/v2/dags/{RELEASE_DAG}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": None, "conf": doc, "note": note[:1000]},
            headers={"Authorization": f"Bearer {_token(request)}"},
        )
    if resp.status_code not in (200, 201):
        return JSONResponse({"detail": f"Airflow refused the run: {resp.text[:500]}"}, status_code=502)
    return JSONResponse({**answer, "run_id": run_id})


# The tasks that record a release's outcome (XCom ``outcome``): ``publish`` after a wait for approval or
# ``release_at``, else ``release`` (a refusal, or a release published at once). Written once the statement,
# its page and its feeds are public, so the desk's link is never one a reader would find missing.
OUTCOME_TASKS = ("publish", "release")


async def _outcome(client: httpx.AsyncClient, base: str, headers: dict[str, str]) -> dict[str, Any] | None:
    for task_id in OUTCOME_TASKS:
        got = await client.get(
            f"{base}/taskInstances/{task_id}/xcomEntries/outcome",
            params={"deserialize": "true"},
            headers=headers,
        )
        if got.status_code == 200 and isinstance(value := got.json().get("value"), dict):
            return value
    return None


@router.get("/api/runs/{run_id}", dependencies=[may_release])
async def run(run_id: str, request: Request) -> JSONResponse:
    """Where a release stands: queued, running, waiting for approval, public (with its link), refused."""
    if not RUN_ID.fullmatch(run_id) or set(run_id) == {"."}:
        return JSONResponse({"detail": "no such release run"}, status_code=404)
    headers = {"Authorization": f"Bearer {_token(request)}"}
    base = f"{_origin(request)}/api/v2/dags/{RELEASE_DAG}/dagRuns/{run_id}"
    async with _client() as client:
        got = await client.get(base, headers=headers)
        if got.status_code != 200:
            return JSONResponse({"detail": got.text[:500]}, status_code=got.status_code)
        dag_run = got.json()
        tis = (await client.get(f"{base}/taskInstances", headers=headers)).json().get("task_instances", [])
        outcome = await _outcome(client, base, headers)
        answer = None
        if dag_run["state"] == "success" and not outcome:
            got = await client.get(f"{base}/taskInstances/approve/-1/hitlDetails", headers=headers)
            answer = got.json() if got.status_code == 200 else None
    conf = dag_run.get("conf") or {}
    states = {t["task_id"]: t["state"] for t in tis}
    out: dict[str, Any] = {"run_id": run_id, "state": dag_run["state"], "tasks": states}
    if any(s == "awaiting_input" for s in states.values()):
        out["outcome"] = "awaiting approval"
    if outcome and outcome.get("outcome") == "published":
        cfg = settings.load()
        iid, version = outcome["incident_id"], int(outcome["version"])
        published = await run_in_threadpool(open_store(cfg).get, ledger.record_key(iid, version))
        out["outcome"] = "public"
        out["link"] = f"{cfg.base_url}/incidents/{iid}/index.html"
        out["version_link"] = outcome.get("url") or f"{cfg.base_url}/incidents/{iid}/v{version}.html"
        if published is not None:
            out["record"] = json.loads(published)
    elif outcome and outcome.get("outcome") == "refused":
        out["outcome"] = "refused"  # by the rules when it ran, or an approval by the submitter
        out["refusals"] = outcome.get("refusals") or []
        out["message"] = desk_outcome(outcome)
    elif dag_run["state"] == "success" and states.get("approve") == "success":
        # The approver chose Reject: the rest was skipped, nothing written. Who and why, from Airflow's
        # record of the answer.
        out["outcome"] = "rejected"
        out["message"] = desk_outcome(None, answer or {"chosen_options": ["Reject"]})
    elif dag_run["state"] == "failed":
        out["outcome"] = "failed"
    out["incident_id"] = conf.get("incident_id")
    return JSONResponse(out)


@router.get("/api/approvals", dependencies=[may_release])
async def approvals(request: Request, user: GetUserDep) -> JSONResponse:
    """The releases waiting for a second person, as the desk lists them: the request (its preview), who
    submitted it, the checklist they confirmed, and whether this user may answer it. The submitter may
    not (their approval is refused as ``approval.same_person``, which ended the release): their row says
    so instead of offering Approve and Reject. Airflow still decides who may answer (its PATCH)."""
    me = str(user.get_name() or "")
    headers = {"Authorization": f"Bearer {_token(request)}"}
    runs_url = f"{_origin(request)}/api/v2/dags/{RELEASE_DAG}/dagRuns"
    async with _client() as client:
        got = await client.get(
            f"{runs_url}/~/hitlDetails", params={"response_received": "false"}, headers=headers
        )
        if got.status_code != 200:
            return JSONResponse({"detail": got.text[:500]}, status_code=got.status_code)
        rows = []
        for detail in got.json().get("hitl_details", []):
            ti = detail["task_instance"]
            found = await client.get(f"{runs_url}/{ti['dag_run_id']}", headers=headers)
            rows.append((detail, found.json() if found.status_code == 200 else {}))
    from releases.pipeline import releaser

    items = {i.id: i.text for i in settings.load().checklist().items}
    out = []
    for detail, dag_run in rows:
        ti = detail["task_instance"]
        conf = dag_run.get("conf") or {}
        submitter = releaser(dag_run.get("triggering_user_name"), ti["dag_run_id"])
        ticked = conf.get("checklist") if isinstance(conf.get("checklist"), list) else []
        why_not = approval.why_not_answer(submitter, me)
        out.append(
            {
                "run_id": ti["dag_run_id"],
                "task_id": ti["task_id"],
                "map_index": ti.get("map_index", -1),
                "subject": detail.get("subject"),
                "body": detail.get("body"),
                "submitted_by": submitter,
                "on_behalf_of": conf.get("released_by") if isinstance(conf.get("released_by"), str) else None,
                "checklist": [items.get(str(i), str(i)) for i in ticked],
                "options": [] if why_not else list(detail.get("options") or []),
                "why_not": why_not,
            }
        )
    return JSONResponse({"user": me, "approvals": out})

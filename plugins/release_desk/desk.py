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
from .validation import TEMPLATES, read_capped, verdict

router = APIRouter()
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
            "before it with Cancel under Scheduled releases below.",
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


# The most a desk request (the document, its picked times and ticked items) may be: four times the
# document's own limit (64 KiB, refused by the check as document.too_large), so a form at every field's
# maximum fits and a body of any size is never read whole (an attack trial sent megabytes to preview).
MAX_REQUEST_BYTES = 256 * 1024


def _kind(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _desk_request(request: Request) -> tuple[Any, Any] | JSONResponse:
    """The document and the ticked checklist ids from a desk request (preview, submit), or the refusal
    to send: 415 for a body not sent as JSON, 413 for one over :data:`MAX_REQUEST_BYTES`."""
    body = await read_capped(request, MAX_REQUEST_BYTES) if _kind(request) == "application/json" else None
    if body is not None and len(body) > MAX_REQUEST_BYTES:
        return JSONResponse(
            {"detail": f"the request is larger than {MAX_REQUEST_BYTES // 1024} KiB: nothing was checked"},
            status_code=413,
        )
    try:
        raw = json.loads(body) if body is not None else None
    except ValueError:
        raw = None
    if raw is None:
        return JSONResponse(
            {"detail": "send the desk's request as JSON, with Content-Type: application/json"},
            status_code=415,
        )
    doc, raw = _document(raw)
    return doc, _ticked(raw)


@router.post("/api/preview", dependencies=[may_release])
async def preview(request: Request) -> JSONResponse:
    if isinstance(sent := await _desk_request(request), JSONResponse):
        return sent
    doc, ticked = sent
    # The checklist is confirmed at submit; a preview shows it only once every item is ticked.
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

    cfg = settings.load()
    if doc.get("withheld"):
        doc = sealing.unseal_document(doc, sealing_key()) if _sealed(doc) else doc
    update = parse_update(doc)
    records = ledger.history(open_store(cfg), update.incident_id)
    # The checklist is shown when all are ticked; not yet required: they are confirmed at submit.
    unrequired = dataclasses.replace(cfg.checklist(), required=False)
    record = ledger.preview(update, records, cfg, released_by="PREVIEW", checklist=unrequired)
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

    if isinstance(sent := await _desk_request(request), JSONResponse):
        return sent
    doc, ticked = sent
    # Only what was ticked, and always a list: nothing ticked is refused as "not confirmed: ...", even
    # where the deployment does not require a checklist of every document.
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
# The tasks that record an outcome, the latest first: a plan changed in Airflow after ``release`` sealed it
# is refused (approval.tampered) by whichever later task read it first.
OUTCOME_TASKS = ("publish", "wait_for_release_at", "approve", "release")


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
    runs_url, headers = _airflow(request)
    base = f"{runs_url}/{run_id}"
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
    elif dag_run["state"] == "failed" and states.get(WAIT_TASK) in ("failed", "skipped", "upstream_failed"):
        # Marked failed while it waited (for its time: the desk's Cancel, or by hand in Airflow): planned,
        # its wait ended without firing, never published.
        out["outcome"] = "cancelled"
    elif dag_run["state"] == "failed":
        out["outcome"] = "failed"
    out["incident_id"] = conf.get("incident_id")
    return JSONResponse(out)


# The states of a human-in-the-loop task that waits for its answer (Airflow 3.3: parked, or deferred).
WAITING_FOR_ANSWER = ("awaiting_input", "deferred")


@router.get("/api/approvals", dependencies=[may_release])
async def approvals(request: Request, user: GetUserDep) -> JSONResponse:
    """The releases waiting for a second person, as the desk lists them: the request (its preview), who
    submitted it, the checklist they confirmed, and whether this user may answer it. The submitter may
    not (their approval is refused as ``approval.same_person``, which ended the release): their row says
    so instead of offering Approve and Reject. Airflow still decides who may answer (its PATCH)."""
    me = str(user.get_name() or "")
    runs_url, headers = _airflow(request)
    async with _client() as client:
        # Only requests whose task still waits for the answer: one whose approve task was marked done by
        # hand (its release is then refused as approval.missing) is unanswered too, but nothing waits on it.
        params = [("response_received", "false"), *(("state", s) for s in WAITING_FOR_ANSWER)]
        got = await client.get(f"{runs_url}/~/hitlDetails", params=params, headers=headers)
        if got.status_code != 200:
            return JSONResponse({"detail": got.text[:500]}, status_code=got.status_code)
        rows = []
        for detail in got.json().get("hitl_details", []):
            ti = detail["task_instance"]
            if ti.get("state") not in WAITING_FOR_ANSWER:
                continue
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


# The task a scheduled release waits in (deferred to the triggerer) until its ``release_at``.
WAIT_TASK = "wait_for_release_at"


def _airflow(request: Request) -> tuple[str, dict[str, str]]:
    """The runs of ``incident_release`` in Airflow's REST API, and the PIO's own credentials for it."""
    return (
        f"{_origin(request)}/api/v2/dags/{RELEASE_DAG}/dagRuns",
        {"Authorization": f"Bearer {_token(request)}"},
    )


@router.get("/api/scheduled", dependencies=[may_release])
async def scheduled(request: Request) -> JSONResponse:
    """The releases waiting for their ``release_at`` (their ``wait_for_release_at`` task deferred): the
    incident, the version and stage planned, the headline, when it becomes public (UTC and in the agency's
    zone) and who submitted it, soonest first."""
    from releases.pipeline import releaser

    runs_url, headers = _airflow(request)
    rows = []
    async with _client() as client:
        got = await client.get(
            f"{runs_url}/~/taskInstances", params={"task_id": WAIT_TASK, "state": "deferred"}, headers=headers
        )
        if got.status_code != 200:
            return JSONResponse({"detail": got.text[:500]}, status_code=got.status_code)
        for ti in got.json().get("task_instances", []):
            run_id = ti["dag_run_id"]
            found = await client.get(f"{runs_url}/{run_id}", headers=headers)
            plan = await client.get(
                f"{runs_url}/{run_id}/taskInstances/release/xcomEntries/plan",
                params={"deserialize": "true"},
                headers=headers,
            )
            value = plan.json().get("value") if plan.status_code == 200 else None
            rows.append((run_id, found.json() if found.status_code == 200 else {}, value or {}))
    tz = ZoneInfo(_zone_name(settings.load()))
    out = []
    for run_id, dag_run, plan in rows:
        conf = dag_run.get("conf") or {}
        when = plan.get("release_at")
        local = datetime.fromisoformat(when).astimezone(tz) if isinstance(when, str) else None
        out.append(
            {
                "run_id": run_id,
                "incident_id": plan.get("incident_id") or conf.get("incident_id"),
                "version": plan.get("version"),
                "stage": plan.get("stage") or conf.get("stage"),
                "headline": plan.get("headline") or conf.get("headline"),
                "release_at": when,
                "local_time": local.strftime("%Y-%m-%d %H:%M %Z") if local else None,
                "submitted_by": releaser(dag_run.get("triggering_user_name"), run_id),
            }
        )
    out.sort(key=lambda row: row["release_at"] or "")
    return JSONResponse({"zone": str(tz), "scheduled": out})


@router.post("/api/scheduled/{run_id}/cancel", dependencies=[may_release])
async def cancel(run_id: str, request: Request, user: GetUserDep) -> JSONResponse:
    """Cancel a release still waiting for its ``release_at``, the way README says to by hand: the run
    marked failed through Airflow's REST API, as the PIO (Airflow applies its own permissions), so its
    ``publish`` never runs. Refused (409) for a run that is not waiting for its time any more."""
    if _kind(request) != "application/json":
        # As every POST of the desk's: a page on another origin cannot send JSON without a CORS preflight,
        # which Airflow does not grant, so it cannot cancel with the PIO's session cookie.
        return JSONResponse(
            {"detail": "send it as JSON, with Content-Type: application/json"}, status_code=415
        )
    if not RUN_ID.fullmatch(run_id) or set(run_id) == {"."}:
        return JSONResponse({"detail": "no such release run"}, status_code=404)
    runs_url, headers = _airflow(request)
    async with _client() as client:
        got = await client.get(f"{runs_url}/{run_id}/taskInstances/{WAIT_TASK}", headers=headers)
        if got.status_code != 200 or got.json().get("state") != "deferred":
            return JSONResponse(
                {
                    "detail": "this release is not waiting for its release time: it was published, refused or "
                    "cancelled already, or is still waiting for approval"
                },
                status_code=409,
            )
        note = (
            f"Cancelled on the release desk by {user.get_name()} before its release time: nothing published."
        )
        done = await client.patch(
            f"{runs_url}/{run_id}", json={"state": "failed", "note": note[:1000]}, headers=headers
        )
    if done.status_code != 200:
        return JSONResponse({"detail": f"Airflow refused: {done.text[:500]}"}, status_code=done.status_code)
    return JSONResponse({"run_id": run_id, "cancelled": True})

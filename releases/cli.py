"""``releases``: the command line for PIOs, operators and journalists."""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from . import checks
from . import settings as settings_mod
from .document import MAX_DOCUMENT_BYTES, loads, parse_update
from .errors import ReleaseError, StorageFault
from .progress import reporter
from .runs import release_run_id

DAG_ID = "incident_release"
REDACTION_DAG_ID = "incident_redaction"
# The tasks that record a run's outcome (XCom ``outcome``): in incident_release, ``release`` (a refusal, or
# a release published at once) or ``publish`` (one that waited for approval or its time).
TASKS = {DAG_ID: ("publish", "release"), REDACTION_DAG_ID: ("redact", "plan")}


class CannotRead(Exception):
    """The file could not be opened at all (missing, a directory, no permission)."""


def read_document(path: str) -> Any:
    """The document in ``path`` (or standard input): the same reading as the inbox's."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        else:
            with Path(path).open("rb") as file:
                # Never more than one byte past the limit, however large the file is.
                data = file.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise CannotRead(f"cannot read {path}: {exc.strerror or exc}") from None
    return loads(data)


class Api:
    """The Airflow 3 REST API (token from ``POST /auth/token``)."""

    def __init__(self, base_url: str, user: str, password: str) -> None:
        self.base = base_url.rstrip("/")
        self.token = self._request(
            "POST", "/auth/token", {"username": user, "password": password}, auth=False
        )["access_token"]

    def _request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        if not self.base.startswith(("http://", "https://")):
            raise ValueError(f"RELEASES_API_URL must be an http(s) URL, not {self.base!r}")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)  # noqa: S310
        with urllib.request.urlopen(req, timeout=30) as resp:  # http(s) checked above  # noqa: S310
            raw = resp.read()
        return json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw.decode()

    def trigger(self, conf: dict[str, Any], dag_id: str = DAG_ID, run_id: str | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None, "conf": conf}
        if run_id:
            body["dag_run_id"] = run_id  # a run id that names the release (releases.runs)
        run = self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)
        return run["dag_run_id"]

    def wait(self, run_id: str, timeout: float, dag_id: str = DAG_ID) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(1)
        return "timeout"

    def outcome(self, run_id: str, dag_id: str = DAG_ID) -> dict[str, Any] | None:
        """What the run recorded as its outcome (XCom ``outcome``: published or refused, by ``release`` or,
        after a wait, by ``publish``), if any."""
        for task in TASKS[dag_id]:
            if (value := self.xcom(run_id, task, "outcome", dag_id)) is not None:
                return value
        return None

    def xcom(self, run_id: str, task: str, key: str, dag_id: str = DAG_ID) -> Any:
        path = (
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task}/xcomEntries/{key}?deserialize=true"
        )
        try:
            return self._request("GET", path).get("value")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    def task_state(self, run_id: str, task: str, dag_id: str = DAG_ID) -> str | None:
        try:
            return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task}").get(
                "state"
            )
        except urllib.error.HTTPError:
            return None

    def rejection(self, run_id: str) -> str | None:
        """Why a release's approver rejected it (Airflow's human-in-the-loop answer), or None."""
        answer = self.xcom(run_id, "approve", "return_value")
        if not answer or list(answer.get("chosen_options") or []) != ["Reject"]:
            return None
        who = (answer.get("responded_by_user") or {}).get("name") or "the approver"
        note = (answer.get("params_input") or {}).get("note")
        return f"rejected by {who}" + (f": {note}" if note else "") + "; nothing was published"

    def failure_reason(self, run_id: str, dag_id: str = DAG_ID) -> str:
        tis = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        for ti in tis:
            if ti["state"] != "failed":
                continue
            log = self._request(
                "GET",
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
                "?full_content=true",
            )
            return f"task {ti['task_id']} failed: {refusal_from_log(log)}"
        return "the run failed"


def refusal_from_log(log: Any) -> str:
    """The refusal a PIO needs from an Airflow 3 task log (structured events)."""
    events = log.get("content", []) if isinstance(log, dict) else []
    for event in reversed(events):
        for detail in event.get("error_detail") or []:
            if detail.get("exc_value"):
                return str(detail["exc_value"])[:1000]
    return "see the task's log in Airflow"


def check(doc: Any, cfg, seen: dict[str, Any] | None = None) -> list[checks.Refusal]:
    """Every rule the release would refuse ``doc`` for (:func:`releases.checks.check`), with the incident's
    history read from the public site, as anyone reads it. Prints what could not be checked, if anything."""
    from .integrity import http_fetcher

    read = checks.history_from_site(http_fetcher(cfg.base_url))

    def history(incident_id: str):
        try:
            records = read(incident_id)
            if seen is not None:
                seen["records"] = records
            return records
        except (OSError, ValueError) as err:  # unreachable, refused, not http(s), not a record
            print(
                f"note: cannot read the published history of incident {incident_id} from {cfg.base_url} "
                f"({err}); checked without it: the stage rules and the consistency check were not run, "
                "and the privacy guard knows only the contact this document gives. The release checks "
                "them when it runs.",
                file=sys.stderr,
            )
            return None

    return checks.check(doc, history, cfg)


def refused_by_run(api: Api, run_id: str, dag_id: str) -> list[checks.Refusal]:
    """The refusals of a run that ended refused (a rule broken only by the time it ran: another release
    came first); nothing was written. Empty for any other outcome."""
    outcome = api.outcome(run_id, dag_id) or {}
    if outcome.get("outcome") != "refused":
        return []
    return [checks.Refusal(r["field"], r["rule"], r["message"]) for r in outcome.get("refusals", [])]


def refuse(refusals: list[checks.Refusal]) -> int:
    for refusal in refusals:
        print(f"refused: {refusal}", file=sys.stderr)
    return 2


def cmd_validate(args, cfg) -> int:
    doc = read_document(args.file)
    if refusals := check(doc, cfg):
        return refuse(refusals)
    update = parse_update(doc)
    print(f"ok: {update.stage} release for incident {update.incident_id}")
    return 0


def _run(api: Api, conf: dict[str, Any], dag_id: str, args, done: str, run_id: str | None = None) -> int:
    run_id = api.trigger(conf, dag_id, run_id)
    print(f"triggered {dag_id} run {run_id}")
    if conf.get("release_at"):
        print(
            f"scheduled: public at {conf['release_at']}; to cancel before then, mark the run failed "
            f'(UI, or PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id} {{"state": "failed"}})'
        )
    if args.no_wait:
        return 0
    state = api.wait(run_id, args.timeout, dag_id)
    if state == "success":
        if refused := refused_by_run(api, run_id, dag_id):
            return refuse(refused)
        if dag_id == DAG_ID and (api.outcome(run_id, dag_id) or {}).get("outcome") != "published":
            print(api.rejection(run_id) or "not published: see the run in Airflow", file=sys.stderr)
            return 2
        print(done)
        return 0
    if state == "timeout" and dag_id == DAG_ID and api.task_state(run_id, "approve") == "awaiting_input":
        print(
            f"waiting for approval: another person approves or rejects run {run_id} in Airflow "
            "(Browse > Required Actions); it is published when approved",
            file=sys.stderr,
        )
        return 1
    reason = api.failure_reason(run_id, dag_id) if state == "failed" else "no outcome yet"
    print(f"{state}: {reason}", file=sys.stderr)
    return 1


def cmd_submit(args, cfg) -> int:
    from . import sealing
    from .document import seal_update

    doc = read_document(args.file)
    # Every rule first, here: the PIO sees each refusal at once and no run is made for a document the
    # release would refuse. Airflow parses the JSON itself and would keep the last of duplicate keys;
    # read_document refused them already.
    seen: dict[str, Any] = {}
    if refusals := check(doc, cfg, seen):
        return refuse(refusals)
    update = parse_update(doc)
    known = seen.get("records")
    run_id = release_run_id(update.incident_id, len(known) + 1 if known is not None else None, update.stage)
    if doc.get("withheld"):
        # Airflow keeps the document where viewers read it: withheld text never goes there as text.
        doc = seal_update(doc, sealing.fetch_public_key(cfg.base_url, cfg.sealing_public_key))
    api = Api(cfg.api_url, cfg.api_user, cfg.api_password)
    return _run(
        api, doc, DAG_ID, args, f"published: {cfg.base_url}/incidents/{update.incident_id}/index.html", run_id
    )


def cmd_redact(args, cfg) -> int:
    """Trigger a redaction: checked first against the public records, the text sent to Airflow sealed."""
    from . import ledger, redaction, sealing
    from .integrity import http_fetcher

    doc = read_document(args.file)
    request = redaction.parse_request(doc)
    # The same check the task makes, on the public records: a misspelt name is refused here, before a run.
    fetch = http_fetcher(cfg.base_url)
    records = []
    while (raw := fetch(ledger.record_key(request.incident_id, len(records) + 1))) is not None:
        records.append(json.loads(raw))
    redaction.plan(records, request)
    doc = sealing.seal_document(doc, sealing.fetch_public_key(cfg.base_url, cfg.sealing_public_key))
    api = Api(cfg.api_url, cfg.api_user, cfg.api_password)
    run_id = api.trigger(doc, REDACTION_DAG_ID)
    print(f"triggered {REDACTION_DAG_ID} run {run_id}")
    if args.no_wait:
        return 0
    state = api.wait(run_id, args.timeout, REDACTION_DAG_ID)
    if state != "success":
        reason = api.failure_reason(run_id, REDACTION_DAG_ID) if state == "failed" else "no outcome yet"
        print(f"{state}: {reason}", file=sys.stderr)
        return 1
    if refused := refused_by_run(api, run_id, REDACTION_DAG_ID):
        return refuse(refused)
    print(f"redacted: {cfg.base_url}/incidents/{request.incident_id}/index.html (releases verify lists it)")
    path = f"/api/v2/dags/{REDACTION_DAG_ID}/dagRuns/{run_id}/taskInstances/redact/xcomEntries/return_value?deserialize=true"
    done = api._request("GET", path).get("value") or {}
    runs = done.get("airflow_runs_holding_the_text") if isinstance(done, dict) else None
    if runs:
        print(
            "Airflow still holds the text in the documents of the runs that published it, and in its audit log.\n"
            "An administrator deletes them (UI: the run's Delete button; or DELETE /api/v2/dags/<dag>/dagRuns/<run>)"
            " and cleans the audit log (airflow db clean --tables log --clean-before-timestamp <now>):"
        )
        for run in runs:
            print(f"  {run}")
    return 0


def _authority(args, cfg):
    """The settings with ``--authority`` as ``RELEASES_TAG_AUTHORITY`` when given: the log's name (and so
    the signing key's, and its fingerprint) is ``<authority>/incident-releases``, and must be the one the
    deployment's tasks sign with."""
    from dataclasses import replace

    if not args.authority:
        return cfg
    return replace(cfg, tag_authority=args.authority)


def _placeholder_warning(cfg) -> None:
    if cfg.tag_authority == settings_mod.Settings.tag_authority:
        print(
            f"WARNING: the key is named for the placeholder log {settings_mod.log_name(cfg.tag_authority)!r}: "
            "neither --authority nor RELEASES_TAG_AUTHORITY was given. A deployment signs under its own "
            "RELEASES_TAG_AUTHORITY; give the same value here (--authority), or its pages and keys.json "
            "will name different keys.",
            file=sys.stderr,
        )


def cmd_keygen(args, cfg) -> int:
    """A new sealing (or, with --signing, log signing) key pair, written to a file only its owner can read."""

    from . import checkpoint, sealing, tlog

    if args.authority and not args.signing:
        raise CannotRead("--authority names the log's signing key: use it with --signing")
    cfg = _authority(args, cfg)
    private, public = (checkpoint if args.signing else sealing).generate()
    try:
        sealing.write_key_file(args.out, private, public)
    except FileExistsError:
        raise CannotRead(f"{args.out} exists; a key file is never overwritten") from None
    if args.signing:
        vkey = checkpoint.verifier_key(tlog.origin(cfg), public)
        print(f"signing key written to {args.out} (mode 0600), for the log {tlog.origin(cfg)}.")
        print(f"Verifier key: {vkey}")
        print(f"Fingerprint, for newsrooms to pin: {checkpoint.fingerprint(vkey)}")
        print(f"Give Airflow the private key as connection {checkpoint.CONNECTION} (its password), set")
        print(f"RELEASES_LOG_KEY={vkey} and RELEASES_TAG_AUTHORITY={cfg.tag_authority}")
        print(f"and publish it: releases setup-bucket --signing-key {args.out}")
        _placeholder_warning(cfg)
        return 0
    print(f"sealing key written to {args.out} (mode 0600). Public key: {public}")
    print(f"Give Airflow the private key as connection {sealing.CONNECTION} (its password), e.g.")
    print(
        f'  AIRFLOW_CONN_{sealing.CONNECTION.upper()}=\'{{"conn_type": "generic", "password": "<private_key>"}}\''
    )
    print(f"and publish the public key: releases setup-bucket --sealing-key {args.out}")
    return 0


def cmd_log_key(args, cfg) -> int:
    """The verifier key of an existing signing key file under this site's log name: what RELEASES_LOG_KEY
    must be (a key made under another name is the same key with another name and fingerprint)."""
    from . import checkpoint, tlog

    cfg = _authority(args, cfg)
    vkey = checkpoint.verifier_key(tlog.origin(cfg), _key_file(args.key_file))
    print(vkey)
    print(f"Fingerprint: {checkpoint.fingerprint(vkey)} (log {tlog.origin(cfg)})", file=sys.stderr)
    _placeholder_warning(cfg)
    return 0


def _store(cfg):
    from .storage import Store, client_from_settings

    return Store(client_from_settings(cfg), cfg.bucket)


def cmd_preview(args, cfg) -> int:
    """Render what the update would publish, without publishing it."""
    from . import ledger, render
    from .integrity import http_fetcher

    update = parse_update(read_document(args.file))
    # The published history as anyone reads it, anonymously over HTTP (as validate reads it): a PIO's
    # machine holds no store credentials, and a preview needs none.
    try:
        records = checks.history_from_site(http_fetcher(cfg.base_url))(update.incident_id)
    except (OSError, ValueError) as err:  # unreachable, refused, not http(s), not a record
        raise CannotRead(
            f"cannot read the published history of incident {update.incident_id} from {cfg.base_url} ({err}); "
            "a preview renders the next version against it. Set RELEASES_PUBLIC_URL to the site's public "
            "address (e.g. https://news.agency.example/incident-releases) and try again"
        ) from None
    record = ledger.preview(update, records, cfg, released_by="preview")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"v{record['version']}.html").write_bytes(render.version_html(record, cfg))
    (out / f"v{record['version']}.txt").write_bytes(render.version_txt(record, cfg))
    print(
        f"preview of version {record['version']} ({record['stage']}) written to {out}/ — nothing was published"
    )
    for change in record["changes"]:
        print(f"  {change['field']}: {change['was']!r} -> {change['now']!r}")
    return 0


def cmd_verify(args, cfg) -> int:
    from .integrity import http_fetcher, verify

    target = args.target
    if args.checkpoint:
        from .witness import published_key, witness

        note = Path(args.checkpoint).read_text()
        fetch = _fetcher(target, cfg)
        key = args.key or published_key(fetch)
        if not key:
            raise CannotRead("no signing key: give --key, or the site publishes none in keys.json")
        if _print_witness(witness(fetch, {"vkey": key, "checkpoint": note}, key)):
            return 1
    if target.startswith(("http://", "https://")):
        report = verify(http_fetcher(target), cfg, progress=reporter("verify: incidents"))
    else:
        from dataclasses import replace

        store = _store(replace(cfg, bucket=target))
        # With the bucket itself, incidents that no listing names are found too.
        report = verify(store.get, cfg, list_keys=store.list_keys, progress=reporter("verify: incidents"))
    for line in report.redactions:
        print(f"REDACTED {line}")
    for line in report.renderings:
        print(f"RENDERED {line}")
    for line in report.notes:
        print(f"NOTE {line}")
    for problem in report.problems:
        print(f"FAIL {problem}")
    count = len(report.redactions)
    redacted = f", {count} {'redaction' if count == 1 else 'redactions'}" if count else ""
    print(
        f"{'OK' if report.ok else 'FAILED'}: {report.incidents} incidents, {report.versions} versions checked"
        + redacted
    )
    return 0 if report.ok else 1


def _fetcher(target: str, cfg):
    from dataclasses import replace

    from .integrity import http_fetcher

    if target.startswith(("http://", "https://")):
        return http_fetcher(target)
    return _store(replace(cfg, bucket=target)).get


def _print_witness(report) -> int:
    for line in report.notes:
        print(f"NOTE {line}")
    for problem in report.problems:
        print(f"FAIL {problem}")
    if report.ok:
        if report.before is None:
            print(
                f"OK: checkpoint saved: the log has {report.size} entries; every logged record is published"
            )
        else:
            print(
                f"OK: the log of {report.size} entries extends your checkpoint of {report.before} "
                f"({report.size - report.before} new); every logged record is published"
            )
        return 0
    print("FAILED: the history does not match the checkpoint you hold (nothing was saved)")
    return 1


def cmd_witness(args, cfg) -> int:
    """Check the agency's log against the checkpoint saved last time; save the new one if it holds."""
    from .records import canonical
    from .witness import witness

    state_file = Path(args.state) / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else None
    report = witness(_fetcher(args.url, cfg), state, args.key, progress=reporter("witness: log entries"))
    code = _print_witness(report)
    copies = Path(args.state) / "records"
    for problem in report.problems:
        copy = copies / problem.split(":", 1)[0].removeprefix("incidents/")
        if problem.startswith("incidents/") and copy.is_file():
            print(f"  your copy of what was logged: {copy}")
    if report.state is not None:
        # Every record as it was logged: what a later rewrite or deletion changed, in the newsroom's hands.
        for record in report.records:
            copy = copies / record["incident_id"] / f"v{record['version']}.json"
            if not copy.exists():
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes(canonical(record))
        state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(report.state, indent=1) + "\n")
        tmp.replace(state_file)
        # Every checkpoint seen stays: the evidence if a later one forks.
        (state_file.parent / f"checkpoint-{report.size}.txt").write_text(report.state["checkpoint"])
    return code


def cmd_rebuild(args, cfg) -> int:
    from .integrity import rebuild

    signer = None
    if args.signing_key:
        from . import tlog

        signer = tlog.Signer(_key_file(args.signing_key, "private_key"), tlog.origin(cfg))
    store = _store(cfg)
    published = store.get("site.json")
    if published is not None and not args.apply_settings:
        from dataclasses import replace

        from .settings import RENDERING

        # The site's own settings, not this shell's: a rebuild never changes the title or time zone by accident.
        cfg = replace(cfg, **{k: v for k, v in json.loads(published).items() if k in RENDERING})
        print("rendering with the site's published settings (site.json); --apply-settings uses this shell's")
    from .rebuild import RebuildStopped

    try:
        result = rebuild(
            store, cfg, signer, progress=reporter("rebuild: incidents"), workers=args.workers, full=args.full
        )
    except RebuildStopped as stop:
        print(f"FAILED: rebuild stopped at {stop}")
        return 3
    for problem in result.problems:
        print(f"FAIL {problem}")
    for warning in result.warnings:
        print(f"WARN {warning}")
    print(f"rebuilt: {len(result.written)} views rewritten (the others were already identical)")
    print(
        f"incidents: {result.rendered} rendered, {result.unchanged} not rendered again: their records and "
        "views are as the last rebuild left them (--full renders every one)"
    )
    if result.problems:
        print(f"FAILED: {len(result.problems)} incidents could not be rebuilt; every other one was")
        return 1
    return 0


def cmd_bucket_policy(args, cfg) -> int:
    from .storage import bucket_policy

    print(json.dumps(bucket_policy(cfg.bucket), indent=2))
    return 0


def cmd_setup_bucket(args, cfg) -> int:
    """Create the bucket with versioning and the allow-list policy (store administrator's credentials)."""
    from . import checkpoint, sealing, tlog

    # The key files are read and checked before anything is written.
    public = _key_file(args.sealing_key) if args.sealing_key else None
    vkey = (
        checkpoint.verifier_key(tlog.origin(cfg), _key_file(args.signing_key)) if args.signing_key else None
    )
    if vkey and cfg.log_key and vkey != cfg.log_key:
        # Named alike (settings.load checked the name), so another key: the pages would pin the wrong one.
        raise CannotRead(
            f"{args.signing_key} is not the key RELEASES_LOG_KEY names (fingerprints "
            f"{checkpoint.fingerprint(vkey)} and {checkpoint.fingerprint(cfg.log_key)}); nothing was written"
        )
    store = _store(cfg)
    store.ensure_bucket()
    print(f"bucket {cfg.bucket}: versioning on, public read of published keys only (releases bucket-policy)")
    if public:
        store.put_if_changed(sealing.KEYS_OBJECT, sealing.keys_document(public, vkey))
        print(f"published {sealing.KEYS_OBJECT}: the public sealing key {public}")
        if vkey:
            print(
                f"and the log's verifier key {vkey} (log {tlog.origin(cfg)}, "
                f"fingerprint {checkpoint.fingerprint(vkey)})"
            )
    return 0


def _key_file(path: str, half: str = "public_key") -> str:
    """One half of a key file written by ``releases keygen``."""
    try:
        return json.loads(Path(path).read_text())[half]
    except (OSError, ValueError, KeyError) as err:
        raise CannotRead(f"cannot read a key file from {path}: {err}") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="releases", description="Versioned, correctable incident releases.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("submit", help="trigger incident_release through the Airflow REST API and wait")
    s.add_argument("file", help="update document (JSON), or - for standard input")
    s.add_argument("--no-wait", action="store_true", help="return once the run is triggered")
    s.add_argument("--timeout", type=float, default=300, help="seconds to wait for the outcome")
    s.set_defaults(func=cmd_submit)
    s = sub.add_parser("redact", help="remove published text (a recorded redaction) through the REST API")
    s.add_argument("file", help='redaction request (JSON): {"incident_id", "remove": [...], "reason"}')
    s.add_argument("--no-wait", action="store_true", help="return once the run is triggered")
    s.add_argument("--timeout", type=float, default=600, help="seconds to wait for the outcome")
    s.set_defaults(func=cmd_redact)
    s = sub.add_parser("keygen", help="make the deployment's sealing key pair (for withheld text)")
    s.add_argument("--out", default="sealing-key.json", help="file for the key pair (never overwritten)")
    s.add_argument("--signing", action="store_true", help="make the log's Ed25519 signing key instead")
    s.add_argument(
        "--authority",
        help="with --signing: the deployment's RELEASES_TAG_AUTHORITY (default: that variable), which names the log",
    )
    s.set_defaults(func=cmd_keygen)
    s = sub.add_parser(
        "log-key", help="print RELEASES_LOG_KEY: a signing key file's verifier key under this site's log name"
    )
    s.add_argument("key_file", help="key file from releases keygen --signing")
    s.add_argument("--authority", help="the deployment's RELEASES_TAG_AUTHORITY (default: that variable)")
    s.set_defaults(func=cmd_log_key)
    s = sub.add_parser("validate", help="check an update document offline; writes nothing")
    s.add_argument("file")
    s.set_defaults(func=cmd_validate)
    s = sub.add_parser("preview", help="render the next version locally against the published history")
    s.add_argument("file")
    s.add_argument("--out", default="preview")
    s.set_defaults(func=cmd_preview)
    s = sub.add_parser("verify", help="check every incident's history from the public objects alone")
    s.add_argument("target", help="public URL (e.g. http://127.0.0.1:9000/incident-releases) or bucket name")
    s.add_argument("--checkpoint", help="a checkpoint you saved (text): the log must extend it")
    s.add_argument("--key", help="the log's verifier key to check it with (default: the one keys.json names)")
    s.set_defaults(func=cmd_verify)
    s = sub.add_parser("witness", help="check the agency's signed log against your last checkpoint (cron)")
    s.add_argument("url", help="public URL of the site, e.g. http://127.0.0.1:9000/incident-releases")
    s.add_argument(
        "--state", required=True, help="folder where the last good checkpoint and pinned key are kept"
    )
    s.add_argument("--key", help="verifier key to pin on the first run (default: what keys.json names)")
    s.set_defaults(func=cmd_witness)
    s = sub.add_parser("rebuild", help="regenerate every view from the v<N>.json records")
    s.add_argument(
        "--signing-key", help="key file (releases keygen --signing): log the settings now in force"
    )
    s.add_argument(
        "--apply-settings",
        action="store_true",
        help="render with this shell's RELEASES_* settings, not site.json's",
    )
    s.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes reading and rendering incidents (default: one per core; 1: this process only)",
    )
    s.add_argument(
        "--full",
        action="store_true",
        help="render every incident, even one whose records and views are as the last rebuild left them",
    )
    s.set_defaults(func=cmd_rebuild)
    s = sub.add_parser("bucket-policy", help="print the bucket policy: anonymous read of published keys only")
    s.set_defaults(func=cmd_bucket_policy)
    s = sub.add_parser(
        "setup-bucket", help="create the bucket with versioning and that policy (admin credentials)"
    )
    s.add_argument("--sealing-key", help="key file from releases keygen: publish its public key at keys.json")
    s.add_argument(
        "--signing-key", help="key file from releases keygen --signing: publish its verifier key too"
    )
    s.set_defaults(func=cmd_setup_bucket)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        # The commands that make or name the log's key run whatever RELEASES_LOG_KEY says: they fix it.
        cfg = settings_mod.load(log_key_check=args.func not in (cmd_keygen, cmd_log_key))
    except ValueError as err:  # a setting that cannot be used: its message names the variable
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        return args.func(args, cfg)
    except ReleaseError as err:
        print(f"refused: {err}", file=sys.stderr)
        return 2
    except CannotRead as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except urllib.error.URLError as err:
        print(f"error: cannot reach {getattr(err, 'url', '') or cfg.api_url}: {err}", file=sys.stderr)
        return 3
    except NoCredentialsError:
        # Not a passing fault: trying again changes nothing.
        print(
            "error: no credentials for the store: this command reads or writes the bucket itself. Give the "
            "store's credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), or, to check a "
            "published site, give its public URL (http:// or https://) instead of a bucket name: "
            "verify, witness, validate and preview read the site anonymously",
            file=sys.stderr,
        )
        return 2
    except (StorageFault, BotoCoreError, ClientError) as err:
        # A fault, not a refusal: the document may be fine; try again later.
        print(f"storage fault (nothing was refused; try again): {err}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())

"""The release desk's validation endpoint on a real Airflow API server (`make up`'s stack): Airflow's own
authentication and permissions guard it, tried as an attacker would (no token, a token signed with another
key, a viewer, a page on another origin holding the PIO's session), and it gives the same verdict as the
Python check, ``releases validate`` and the inbox on the same twenty documents (issue 16, must-show 3)."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import threading
from pathlib import Path

import jwt
import pytest
from check_corpus import DOCUMENTS, HISTORY, INCIDENT, seed
from desk_stack import call, running_desk, token
from test_stack import BUCKET

from releases import checks, cli, inbox

pytestmark = pytest.mark.stack
VALIDATE = "/release-desk/api/validate"


@pytest.fixture(scope="module")
def desk():
    """`make up` on free ports, its store holding the corpus's history; stopped with Ctrl-C at the end."""
    with running_desk("releases-desk-") as up:
        yield up


def validate(desk, doc, auth: str | None = None, **headers) -> tuple[int, dict | bytes]:
    sent = {"Content-Type": "application/json", **headers}
    if auth:
        sent["Authorization"] = f"Bearer {auth}"
    status, body = call(f"{desk.api}{VALIDATE}", json.dumps(doc).encode(), sent)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body


def forged(real: str) -> dict[str, str]:
    """The PIO's own token with its claims kept: re-signed with another key, unsigned, and altered."""
    header = jwt.get_unverified_header(real)
    claims = jwt.decode(real, options={"verify_signature": False})
    head, payload, signature = real.split(".")
    admin = base64.urlsafe_b64encode(json.dumps({**claims, "sub": "1", "role": "admin"}).encode()).rstrip(
        b"="
    )
    return {
        "another key": jwt.encode(claims, "not-the-deployment-s-secret-" * 3, algorithm=header["alg"]),
        "no signature (alg none)": jwt.encode(claims, None, algorithm="none"),
        "claims altered": f"{head}.{admin.decode()}.{signature}",
    }


def test_only_a_user_who_may_release_can_validate(desk):
    doc = dict(DOCUMENTS[0][1])
    pio, viewer = token(desk, "pio"), token(desk, "auditor")
    assert validate(desk, doc)[0] == 401  # no token
    assert validate(desk, doc, "not-a-token")[0] == 403
    for name, fake in forged(pio).items():
        status, answer = validate(desk, doc, fake)
        assert status in (401, 403), (name, answer)
    assert validate(desk, doc, viewer)[0] == 403  # may read runs, may not release
    status, answer = validate(desk, doc, pio)
    assert (status, answer["ok"]) == (200, True), answer
    # The UI's session cookie is as good as the token (the desk's pages will use it).
    status, body = call(
        f"{desk.api}{VALIDATE}",
        json.dumps(doc).encode(),
        {"Content-Type": "application/json", "Cookie": f"_token={pio}"},
    )
    assert status == 200 and json.loads(body)["ok"] is True
    # Not JSON: refused before any check, so a cross-origin "simple" request cannot use it.
    assert (
        call(
            f"{desk.api}{VALIDATE}", b"{}", {"Content-Type": "text/plain", "Authorization": f"Bearer {pio}"}
        )[0]
        == 415
    )


def test_the_desk_the_endpoint_validate_and_the_inbox_give_the_same_verdict_on_twenty_documents(
    desk, bucket, tmp_path, capsys, monkeypatch
):
    """The endpoint reads the history from the stack's store through Airflow's connection; ``releases
    validate`` reads it from the stack's public site; the inbox from its own store, seeded with the same
    records; the desk's Python call is given it."""
    pio = token(desk, "pio")
    desk_verdicts = {
        name: [str(r) for r in checks.check(doc, lambda iid: HISTORY if iid == INCIDENT else [])]
        for name, doc, _ in DOCUMENTS
    }

    by_endpoint = {}
    for name, doc, expected in DOCUMENTS:
        status, answer = validate(desk, doc, pio)
        assert status == 200, (name, answer)
        refusals = [checks.Refusal(r["field"], r["rule"], r["message"]) for r in answer["refusals"]]
        assert answer["ok"] == (not refusals)
        assert [(r.field, r.rule) for r in refusals] == expected, name
        if refusals and refusals[0].rule.startswith(("stage.", "change.", "consistency.", "privacy.")):
            assert answer["history"] == "read", (name, answer)
        by_endpoint[name] = [str(r) for r in refusals]

    monkeypatch.setenv("RELEASES_S3_ENDPOINT", desk.s3)
    monkeypatch.setenv("RELEASES_BUCKET", BUCKET)
    by_validate = {}
    for name, doc, _ in DOCUMENTS:
        (tmp_path / f"{name}.json").write_text(json.dumps(doc))
        cli.main(["validate", str(tmp_path / f"{name}.json")])
        err = capsys.readouterr().err
        assert not err.startswith("note:"), err
        by_validate[name] = [line.removeprefix("refused: ") for line in err.splitlines()]

    seed(bucket)
    for name, doc, _ in DOCUMENTS:
        bucket.put_if_changed(f"inbox/{name}.json", json.dumps(doc).encode(), public=False)
    by_inbox = {Path(s["key"]).stem: [] for s in inbox.collect(bucket)}
    for key in bucket.list_keys("inbox/rejected/"):
        if key.endswith(".error.txt"):
            lines = bucket.get(key).decode().splitlines()
            by_inbox[Path(key.removesuffix(".error.txt")).stem] = [
                line.removeprefix("refused: ") for line in lines
            ]

    assert by_endpoint == desk_verdicts
    assert by_validate == desk_verdicts
    assert by_inbox == desk_verdicts
    assert sum(1 for v in desk_verdicts.values() if not v) == 5  # valid documents are in the corpus too


ATTACK_PAGE = """<!doctype html><meta charset="utf-8"><title>another origin</title>
<script>
const target = %(target)s, doc = %(doc)s;
async function attempt(name, init) {
  try {
    const resp = await fetch(target, {method: "POST", credentials: "include", body: JSON.stringify(doc), ...init});
    return {name, ok: true, status: resp.status, text: await resp.text()};
  } catch (err) {
    return {name, ok: false, error: String(err)};
  }
}
(async () => {
  window.results = [
    await attempt("json with the session cookie", {headers: {"Content-Type": "application/json"}}),
    await attempt("text/plain with the session cookie", {headers: {"Content-Type": "text/plain"}}),
    await attempt("no-cors with the session cookie", {mode: "no-cors", headers: {"Content-Type": "text/plain"}}),
    await attempt("a stolen-looking bearer header", {headers: {"Authorization": "Bearer x", "Content-Type": "application/json"}}),
  ];
})();
</script>"""


@pytest.mark.browser
def test_a_page_on_another_origin_cannot_use_the_pio_s_session(desk, tmp_path):
    """Chromium holds the PIO's Airflow session cookie. A page on another origin of the same site (another
    port of 127.0.0.1: the cookie is sent to it) tries the endpoint every way a page can; it reads nothing,
    and the one request the browser lets through without a preflight is refused before any check (415).
    The same fetch from Airflow's own origin works: the cookie is valid."""
    from playwright.sync_api import sync_playwright
    from test_browser import CHROMIUM, CHROMIUM_ARGS

    pio = token(desk, "pio")
    doc = dict(DOCUMENTS[0][1])
    target = f"{desk.api}{VALIDATE}"
    (tmp_path / "attack.html").write_text(
        ATTACK_PAGE % {"target": json.dumps(target), "doc": json.dumps(doc)}
    )
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    seen: list[tuple[str, str, int]] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context()
            context.add_cookies([{"name": "_token", "value": pio, "url": desk.api}])
            page = context.new_page()
            page.on("response", lambda r: seen.append((r.request.method, r.url, r.status)))
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/attack.html")
            page.wait_for_function("window.results !== undefined", timeout=120_000)
            results = {r["name"]: r for r in page.evaluate("window.results")}
            attack = list(seen)
            # Control: Airflow's own origin, same cookie.
            page.goto(f"{desk.api}/api/v2/version")
            own = page.evaluate(
                """async ([target, doc]) => {
                  const resp = await fetch(target, {method: "POST", credentials: "include",
                    headers: {"Content-Type": "application/json"}, body: JSON.stringify(doc)});
                  return {status: resp.status, body: await resp.json()};
                }""",
                [target, doc],
            )
            browser.close()
    finally:
        httpd.shutdown()
    assert own["status"] == 200 and own["body"]["ok"] is True, own
    read = {name: r for name, r in results.items() if r["ok"] and r.get("text")}
    assert read == {}, read  # no answer reached the page
    posts = [status for method, url, status in attack if method == "POST" and url == target]
    # Only the requests that need no preflight reach the endpoint, and both are refused unread.
    assert posts and set(posts) == {415}, attack


def test_the_desk_records_the_ticked_checklist_in_the_document_and_refuses_until_every_item_is_ticked(desk):
    """Issue 16: the desk's form lists the checklist from its one file; submit puts the ticked ids into the
    document's ``checklist`` and refuses, next to the checklist, naming what is not ticked (or an item
    that is not on it), with no run made; all ticked, the run's document carries them for the version."""
    from releases import checklist

    pio = token(desk, "pio")
    auth = {"Authorization": f"Bearer {pio}"}
    status, body = call(f"{desk.api}/release-desk/api/form", None, auth, method="GET")
    assert status == 200, body
    items = [(i.id, i.text) for i in checklist.read().items]
    assert [(i["id"], i["text"]) for i in json.loads(body)["checklist"]] == items
    ids = [i for i, _ in items]

    def runs() -> int:
        admin = {"Authorization": f"Bearer {token(desk, 'admin')}"}
        url = f"{desk.api}/api/v2/dags/incident_release/dagRuns?limit=1"
        status, body = call(url, None, admin, method="GET")
        assert status == 200, body
        return json.loads(body)["total_entries"]

    def submit(ticked):
        doc = {**DOCUMENTS[0][1], "incident_id": "2026-0616"}
        body = json.dumps({"document": doc, "checklist": ticked}).encode()
        status, answer = call(
            f"{desk.api}/release-desk/api/submit", body, {"Content-Type": "application/json", **auth}
        )
        assert status == 200, answer
        return json.loads(answer)

    before = runs()
    refused = submit(ids[:2])
    assert refused["ok"] is False
    assert [(r["field"], r["title"], r["rule"], r["message"]) for r in refused["refusals"]] == [
        (
            "checklist",
            "Before release",
            "checklist.incomplete",
            "must confirm every item of the checklist; not confirmed: "
            + "; ".join(f"\u201c{text}\u201d" for _, text in items[2:]),
        )
    ]
    assert [r["rule"] for r in submit([*ids, "victims-named"])["refusals"]] == ["checklist.unknown"]
    assert [r["rule"] for r in submit(None)["refusals"]] == ["checklist.incomplete"]
    assert runs() == before

    accepted = submit(ids)
    assert accepted["ok"] is True, accepted
    status, body = call(
        f"{desk.api}/api/v2/dags/incident_release/dagRuns/{accepted['run_id']}", None, auth, method="GET"
    )
    assert status == 200, body
    assert json.loads(body)["conf"]["checklist"] == ids


def test_the_desk_calls_airflow_at_its_own_address_whatever_host_the_request_names(desk):
    """An attack from a fresh clone: a signed-in user sent ``Host: 127.0.0.1:<their port>`` and the desk sent
    its call to Airflow, the PIO's token with it, to their listener, and returned its answer. The desk now
    calls the address it listens on; odd run ids are not passed on at all."""
    caught: list[str] = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            caught.append(f"{self.path} {self.headers.get('Authorization', '')[:12]}")
            self.send_response(418)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    pio = token(desk, "pio")
    try:
        other = f"127.0.0.1:{httpd.server_address[1]}"
        status, answer = call(
            f"{desk.api}/release-desk/api/runs/abc",
            None,
            {"Authorization": f"Bearer {pio}", "Host": other},
            method="GET",
        )
        assert caught == [] and status == 404, (status, answer, caught)  # Airflow's own: no such run
        for odd in ("..", "%2e%2e", "x%3Forder_by%3Dfoo", "a%2Fb"):
            status, answer = call(
                f"{desk.api}/release-desk/api/runs/{odd}",
                None,
                {"Authorization": f"Bearer {pio}"},
                method="GET",
            )
            assert status == 404 and b"Traceback" not in answer, (odd, status, answer)
    finally:
        httpd.shutdown()
    assert caught == []

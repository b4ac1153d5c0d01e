"""WebSub push: feeds name the hub, each release tells it once, a bad hub never fails a release.

The hub is a small HTTP server on loopback that records what it is sent.
"""

from __future__ import annotations

import http.server
import logging
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import pytest
from lxml import etree
from sample import CORRECTION, PRELIMINARY, UPDATE

from releases import pipeline, websub
from releases.settings import load

ATOM = "{http://www.w3.org/2005/Atom}"
STRICT = etree.XMLParser(recover=False, resolve_entities=False, no_network=True)
VERSIONS = [f"incidents/2026-0142/v1.{ext}" for ext in ("json", "html", "txt")]


@dataclass
class Hub:
    url: str
    status: int = 204
    delay: float = 0.0
    received: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)


@pytest.fixture
def hub():
    """A hub on loopback that answers ``hub.status`` and records (method, content type, form)."""
    state = Hub(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(
                ("POST", self.headers["Content-Type"], parse_qsl(body.decode("ascii"), strict_parsing=True))
            )
            time.sleep(state.delay)
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hub"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hub"


def release(store, doc, n, monkeypatch, hub_url):
    if hub_url:
        monkeypatch.setenv("RELEASES_WEBSUB_HUB", hub_url)
    else:
        monkeypatch.delenv("RELEASES_WEBSUB_HUB", raising=False)
    settings = load()
    return pipeline.release(doc, store, settings, key=f"incident_release/run-{n}", released_by="pio")


def feed_names(iid="2026-0142", corrections=False):
    names = [f"incidents/{iid}/rss.xml", f"incidents/{iid}/atom.xml", "rss.xml", "atom.xml"]
    return names + (["corrections.rss.xml", "corrections.atom.xml"] if corrections else [])


def test_a_release_notifies_the_hub_once_naming_every_feed_it_changed(bucket, s3_endpoint, hub, monkeypatch):
    base = f"{s3_endpoint}/{bucket.bucket}"
    release(bucket, PRELIMINARY, 1, monkeypatch, hub.url)
    expected = [f"{base}/{name}" for name in feed_names()]
    assert hub.received == [
        (
            "POST",
            "application/x-www-form-urlencoded",
            [("hub.mode", "publish"), *(("hub.url", url) for url in expected)],
        )
    ]
    # Each topic is a public feed that names itself and the hub, as WebSub discovery needs.
    for url in expected:
        with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback test server
            root = etree.fromstring(resp.read(), STRICT)
        scope = root if root.tag == f"{ATOM}feed" else root.find("channel")
        links = {el.get("rel"): el.get("href") for el in scope.findall(f"{ATOM}link")}
        assert (links["self"], links["hub"]) == (url, hub.url)


def test_each_release_notifies_once_and_corrections_name_the_corrections_feeds(
    bucket, s3_endpoint, hub, monkeypatch
):
    base = f"{s3_endpoint}/{bucket.bucket}"
    for n, doc in enumerate((PRELIMINARY, UPDATE, CORRECTION)):
        release(bucket, doc, n, monkeypatch, hub.url)
        assert len(hub.received) == n + 1
    topics = [[v for k, v in form if k == "hub.url"] for _m, _t, form in hub.received]
    assert topics == [
        [f"{base}/{name}" for name in feed_names()],
        [f"{base}/{name}" for name in feed_names()],
        [f"{base}/{name}" for name in feed_names(corrections=True)],
    ]


@pytest.mark.parametrize("status", [500, 404, 429])
def test_a_hub_answering_an_error_does_not_fail_the_release(bucket, hub, monkeypatch, caplog, status):
    hub.status = status
    with caplog.at_level(logging.WARNING, logger="releases.websub"):
        result = release(bucket, PRELIMINARY, 1, monkeypatch, hub.url)
    assert (result["incident_id"], result["version"]) == ("2026-0142", 1)
    assert len(hub.received) == 1
    for key in [*VERSIONS, *feed_names(), "index.html"]:
        assert bucket.get(key), key
    (warning,) = [r for r in caplog.records if r.name == "releases.websub"]
    assert warning.levelno == logging.WARNING
    assert f"WebSub hub {hub.url} was not told of this release (hub answered HTTP {status}" in (
        warning.getMessage()
    )


def test_a_hub_that_is_not_listening_does_not_fail_the_release(bucket, monkeypatch, caplog):
    url = closed_port_url()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="releases.websub"):
        result = release(bucket, PRELIMINARY, 1, monkeypatch, url)
    assert time.monotonic() - started < websub.TIMEOUT_SECONDS + 10
    assert result["version"] == 1
    for key in [*VERSIONS, *feed_names(), "index.html"]:
        assert bucket.get(key), key
    (warning,) = [r for r in caplog.records if r.name == "releases.websub"]
    assert f"WebSub hub {url} was not told of this release (hub not reachable: " in warning.getMessage()
    assert "Connection refused" in warning.getMessage()


def test_a_slow_hub_is_given_up_on_after_the_timeout(hub):
    hub.delay = 2.0
    started = time.monotonic()
    notice = websub.publish(hub.url, ["http://example.org/rss.xml"], timeout=0.3)
    assert time.monotonic() - started < 1.5
    assert (notice.delivered, notice.status) == (False, None)
    assert "timed out" in notice.error


def test_notify_reports_what_the_hub_answered(bucket, s3_endpoint, hub, monkeypatch):
    base = f"{s3_endpoint}/{bucket.bucket}"
    release(bucket, PRELIMINARY, 1, monkeypatch, hub.url)
    again = pipeline.notify(PRELIMINARY, bucket, load(), key="incident_release/run-1")
    assert again == {
        "hub": hub.url,
        "topics": [f"{base}/{name}" for name in feed_names()],
        "status": 204,
        "error": None,
    }
    # Notifying again is harmless (the hub refetches and finds nothing new); it is one more POST.
    assert len(hub.received) == 2 and hub.received[0] == hub.received[1]


def test_no_hub_configured_means_no_notification_and_no_hub_link(bucket, hub, monkeypatch):
    release(bucket, PRELIMINARY, 1, monkeypatch, None)
    assert pipeline.notify(PRELIMINARY, bucket, load(), key="incident_release/run-1") is None
    assert hub.received == []
    for name in feed_names():
        root = etree.fromstring(bucket.get(name), STRICT)
        assert [el for el in root.iter(f"{ATOM}link") if el.get("rel") == "hub"] == [], name


def test_the_publish_form_repeats_hub_url_and_encodes_it():
    assert websub.body(["https://x.example/a b.xml", "https://x.example/r?x=1&y=2"]) == (
        b"hub.mode=publish&hub.url=https%3A%2F%2Fx.example%2Fa+b.xml"
        b"&hub.url=https%3A%2F%2Fx.example%2Fr%3Fx%3D1%26y%3D2"
    )


@pytest.mark.parametrize("value", ["file:///etc/passwd", "ftp://hub.example.org/", "hub.example.org"])
def test_a_hub_setting_that_is_not_an_http_url_is_refused_at_start_up(value):
    with pytest.raises(ValueError, match="^RELEASES_WEBSUB_HUB: must be an http:// or https:// URL$"):
        load({"RELEASES_WEBSUB_HUB": value})
    assert load({"RELEASES_WEBSUB_HUB": "https://hub.example.org/"}).websub_hub == "https://hub.example.org/"


@pytest.mark.parametrize("answer", ["ok", "error", "refused"])
def test_the_real_dag_notifies_once_and_a_bad_hub_does_not_fail_the_run(
    release_dag, bucket, hub, monkeypatch, answer
):
    hub.status = 500 if answer == "error" else 204
    monkeypatch.setenv("RELEASES_WEBSUB_HUB", closed_port_url() if answer == "refused" else hub.url)
    run = release_dag.test(run_conf=PRELIMINARY)
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {  # one task start: the release needs no approval and no later time
        "release": "success",
        "approve": "skipped",
        "wait_for_release_at": "skipped",
        "publish": "skipped",
    }
    assert len(hub.received) == (0 if answer == "refused" else 1)
    for key in [*VERSIONS, *feed_names()]:
        assert bucket.get(key), key

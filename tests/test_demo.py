"""`make demo` leaves a site whose every link works once its throw-away store is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import lxml.etree
import lxml.html
import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # three real DAG runs (airflow dags test) and a SeaweedFS of its own


def local(url: str) -> Path:
    parts = urlsplit(url)
    assert parts.scheme == "file", url
    return Path(unquote(parts.path))


def test_make_demo_leaves_a_site_whose_links_work_when_opened(tmp_path):
    out = tmp_path / "demo site"  # a space: file URLs must be quoted
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASES_", "AIRFLOW__DATABASE"))}
    proc = subprocess.run(  # fixed argv, no shell  # noqa: S603
        [sys.executable, "-m", "devstack", "demo", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # It says how the links work and which time zone the pages use.
    assert f"feeds and canonical links name these files\n({out.as_uri()}/...)" in proc.stdout
    assert "python3 -m http.server" in proc.stdout and "Ctrl-C stops it" in proc.stdout
    assert "Time zone: RELEASES_TIMEZONE is not set" in proc.stdout
    # The correction did not wait for an approver who is not there, and the summary says why.
    assert "Approval was off for the demo" in proc.stdout

    # Every link of every feed (entries, the feed's own address, its page) names a file that is there.
    # Read with lxml: feedparser rewrites file:/// as file:// (a host), which no reader here does.
    linked = 0
    for feed in (
        "rss.xml",
        "atom.xml",
        "corrections.rss.xml",
        "corrections.atom.xml",
        "incidents/DEMO-0001/rss.xml",
    ):
        root = lxml.etree.fromstring((out / feed).read_bytes())
        urls = [*root.xpath("//link[not(@href)]/text()"), *root.xpath("//*[local-name()='link']/@href")]
        assert len(urls) >= 3, feed
        for url in urls:
            assert local(url).is_file(), (feed, url)
        linked += len(urls)
    assert linked >= 15
    # Every page's links, the canonical one included, land on a saved file.
    pages = sorted(out.rglob("*.html"))
    assert len(pages) >= 8
    for page in pages:
        doc = lxml.html.document_fromstring(page.read_text())
        for href in doc.xpath("//@href"):
            target = local(urljoin(page.as_uri(), href))
            assert target.is_file(), (page, href)
        assert local(doc.xpath("//link[@rel='canonical']/@href")[0]).is_file()

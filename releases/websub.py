"""WebSub push: tell the hub which feeds a release changed, so subscribers hear at once.

The W3C WebSub Recommendation leaves how a publisher tells its hub open ("the hub and
the publisher can agree on any mechanism"). Every public hub (Google's, Superfeedr,
websub.rocks) takes the PubSubHubbub form: a POST, form-encoded, ``hub.mode=publish``
and ``hub.url=<feed URL>``, with ``hub.url`` repeated when several feeds changed. So a
release sends exactly one request, naming all the feeds it appears in.

Telling the hub is a courtesy on top of the feeds, not part of the release: the record
and every view are already public when this runs, and readers that poll find them. So a
hub that is down, slow or refuses is logged as a warning and never fails the release.
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

log = logging.getLogger(__name__)

# Short: a PIO is waiting for the run to finish, and a hub does its own fetching later.
TIMEOUT_SECONDS = 5.0
USER_AGENT = "incident-releases (WebSub publisher)"


@dataclass(frozen=True)
class Notice:
    """What happened when the hub was told: for the task log and the run's XCom."""

    hub: str
    topics: tuple[str, ...]
    status: int | None = None  # the hub's HTTP status; None when no answer came
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict:
        return {"hub": self.hub, "topics": list(self.topics), "status": self.status, "error": self.error}


def body(topics: Sequence[str]) -> bytes:
    """The form a hub expects: ``hub.mode=publish`` then one ``hub.url`` per changed feed."""
    return urlencode([("hub.mode", "publish"), *(("hub.url", t) for t in topics)]).encode("ascii")


def publish(hub: str, topics: Sequence[str], *, timeout: float = TIMEOUT_SECONDS) -> Notice:
    """POST one publish notification to ``hub``. Never raises for the hub's failures."""
    topics = tuple(topics)
    # The hub URL is the operator's setting; settings.load refuses all but http and https.
    request = urllib.request.Request(  # noqa: S310
        hub,
        data=body(topics),
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", "User-Agent": USER_AGENT},
    )
    try:
        # The hub URL must be http(s): settings.load refuses anything else.
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            status = resp.status
    except urllib.error.HTTPError as err:
        # Hubs answer 204 (PubSubHubbub 0.3) or 202; 4xx/5xx land here.
        notice = Notice(hub, topics, err.code, f"hub answered HTTP {err.code} {err.reason}")
    except (OSError, http.client.HTTPException) as err:
        # Refused, unreachable, timed out (all OSError) or a garbled answer.
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        notice = Notice(hub, topics, None, f"hub not reachable: {reason!r}")
    else:
        log.info("WebSub hub %s told of %d changed feeds (HTTP %s)", hub, len(topics), status)
        return Notice(hub, topics, status)
    log.warning(
        "WebSub hub %s was not told of this release (%s); the feeds are published and readers "
        "that poll will find it",
        hub,
        notice.error,
    )
    return notice

"""The site's one order: newest first.

Every view that lists releases (feeds, the changelog page, CSV and JSON) or incidents (index.html and
index.json, the monthly archives) sorts with these two functions, so two corrections released in the same
second appear in the same order everywhere. Ties on the instant: incident id A to Z, then the newer
version first. Instants are compared as instants, not as strings, so offsets cannot reorder them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any


def instant(stamp: str) -> datetime:
    """The one parser of stored RFC 3339 times (lower-case "t"/"z" allowed, as RFC 3339 allows)."""
    return datetime.fromisoformat(stamp.upper().replace("Z", "+00:00"))


def newest_first(releases: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Releases (records or their catalog entries) by ``released_at``, newest first."""
    tie_broken = sorted(releases, key=lambda r: (r["incident_id"], -r["version"]))
    return sorted(tie_broken, key=lambda r: instant(r["released_at"]), reverse=True)


def by_activity(incidents: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Incident summaries by their latest release (``latest_released_at``), newest first."""
    tie_broken = sorted(incidents, key=lambda s: s["incident_id"])
    return sorted(tie_broken, key=lambda s: instant(s["latest_released_at"]), reverse=True)

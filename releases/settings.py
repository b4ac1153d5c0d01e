"""Typed settings, read once from the environment at run time (never at DAG parse time)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import checklist as checklists
from . import privacy


@dataclass(frozen=True)
class Settings:
    bucket: str = "incident-releases"
    # Used outside Airflow (CLI verify/rebuild, tests); inside Airflow the endpoint and
    # credentials come from the Airflow connection named by ``aws_conn_id``.
    s3_endpoint: str = "http://127.0.0.1:9000"
    region: str = "us-east-1"
    aws_conn_id: str = "aws_default"
    # Absolute base for links that leave the site (feeds, WebSub). Pages use relative links.
    public_url: str = ""
    site_title: str = "Critical incident releases"
    # Authority of the feed entry ids (RFC 4151 tag URIs). Set it once, to a domain the
    # agency owns, and never change it: newsrooms' readers key entries on these ids.
    tag_authority: str = "incident-releases.invalid"
    # The agency's time zone (IANA name): pages show every time in it, with its abbreviation. Empty: each
    # time is shown in the UTC offset the statement itself gives (its ``occurred_at``), so no page says
    # "2:14 AM UTC" of an incident its statement puts at 9:14 p.m.
    display_timezone: str = ""
    feed_window: int = 50
    # Incidents listed on index.html (newest activity first); all others are on the
    # monthly archive pages. Bounds the work of a release however long the history.
    index_window: int = 100
    # WebSub hub (https://www.w3.org/TR/websub/) announced in every feed and told after
    # each release which feeds changed. Empty: no hub, readers poll as usual.
    websub_hub: str = ""
    # HTTP attempts per S3 call, the first included (botocore's standard retry mode); after that the
    # task fails as a fault and Airflow's task retries take over.
    s3_max_attempts: int = 4
    # Days a refused inbox file is kept for the PIO to read beside its reason; then every stored
    # version of its bytes is deleted (it may hold withheld text).
    inbox_keep_rejected_days: int = 7
    # The verifier key of the agency's log signing key (``<name>+<id>+<key>``, public): its fingerprint is
    # shown on every page, for newsrooms to pin (releases witness). Empty: pages show none.
    log_key: str = ""
    # For ``releases submit``/``redact``: the deployment's public sealing key, given by the operator. When
    # set, a keys.json naming another key is refused rather than used (someone may have replaced it).
    sealing_public_key: str = ""
    api_url: str = "http://127.0.0.1:8080"
    api_user: str = "admin"
    api_password: str = field(default="", repr=False)
    # Known public contacts the privacy guard never flags: the agency's listed phone numbers
    # and e-mail addresses and a partner agency's (joint statements). When set, it is the
    # only source: numbers typed into the contact field are checked against it too.
    public_contacts: tuple[str, ...] = ()
    # Public buildings' street addresses (courthouse, jail, headquarters) the guard never flags.
    public_addresses: tuple[str, ...] = ()
    # The pre-release checklist (``RELEASES_CHECKLIST``, a JSON file; empty: the one packaged with
    # ``releases``, see :mod:`releases.checklist`).
    checklist_path: str = ""
    # Whether every document must confirm the checklist (``RELEASES_REQUIRE_CHECKLIST``). Off by default:
    # turned on, every path that sends documents (CLI files, the inbox, REST callers, the trigger form) must
    # send ``checklist`` too, and documents written before it existed are refused; an agency turns it on
    # once its PIOs send it everywhere. The release desk always sends it, all items ticked.
    require_checklist: bool = False
    # Stages whose release waits for a second person's approval (RELEASES_APPROVAL_STAGES, comma
    # separated; "none" for no approval at all).
    approval_stages: tuple[str, ...] = ("corrected", "redaction")
    # How far ahead a scheduled release (``release_at``) may be, in days (RELEASES_SCHEDULE_MAX_DAYS): a
    # typo in the year must not park a statement, and its worker-free wait, for years.
    schedule_max_days: int = 30

    @property
    def base_url(self) -> str:
        return (self.public_url or f"{self.s3_endpoint.rstrip('/')}/{self.bucket}").rstrip("/")

    @property
    def public(self) -> privacy.Public:
        """What the privacy guard knows to be public, from these settings."""
        return privacy.Public.listed(self.public_contacts, self.public_addresses)

    def checklist(self) -> checklists.Checklist:
        """The checklist as its file reads now (the desk reads it each time its form opens)."""
        return checklists.read(self.checklist_path or None, required=self.require_checklist)

    @property
    def tz(self) -> ZoneInfo | None:
        """The agency's zone, or None: each time in the offset its statement gives (see render.zone)."""
        return zone(self.display_timezone)


def zone(name: str) -> ZoneInfo | None:
    """``RELEASES_TIMEZONE`` as a zone (None when unset); an unknown name is refused naming the setting."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ZoneInfo also refuses paths and malformed keys with ValueError; the name goes to logs: ascii().
        raise ValueError(
            f"RELEASES_TIMEZONE: {ascii(name)[:60]} is not an IANA time zone name; give one such as "
            "America/New_York, America/Chicago, Europe/London or UTC, or leave it unset to show each "
            "time in the UTC offset its statement gives"
        ) from None


# The settings that shape the public views. They are published as ``site.json`` so that
# ``releases verify`` reproduces the views exactly as the agency renders them.
RENDERING = (
    "public_url",
    "site_title",
    "tag_authority",
    "display_timezone",
    "feed_window",
    "index_window",
    "websub_hub",
    "log_key",
)


def rendering(settings: Settings) -> dict[str, object]:
    values = {name: getattr(settings, name) for name in RENDERING}
    values["public_url"] = settings.base_url
    return values


ENV = {
    "bucket": "RELEASES_BUCKET",
    "s3_endpoint": "RELEASES_S3_ENDPOINT",
    "region": "RELEASES_S3_REGION",
    "aws_conn_id": "RELEASES_AWS_CONN_ID",
    "public_url": "RELEASES_PUBLIC_URL",
    "site_title": "RELEASES_SITE_TITLE",
    "tag_authority": "RELEASES_TAG_AUTHORITY",
    "display_timezone": "RELEASES_TIMEZONE",
    "feed_window": "RELEASES_FEED_WINDOW",
    "inbox_keep_rejected_days": "RELEASES_INBOX_KEEP_REJECTED_DAYS",
    "log_key": "RELEASES_LOG_KEY",
    "sealing_public_key": "RELEASES_SEALING_PUBLIC_KEY",
    "index_window": "RELEASES_INDEX_WINDOW",
    "websub_hub": "RELEASES_WEBSUB_HUB",
    "s3_max_attempts": "RELEASES_S3_MAX_ATTEMPTS",
    "api_url": "RELEASES_API_URL",
    "api_user": "RELEASES_API_USER",
    "public_contacts": "RELEASES_PUBLIC_CONTACTS",
    "public_addresses": "RELEASES_PUBLIC_ADDRESSES",
    "checklist_path": "RELEASES_CHECKLIST",
    "require_checklist": "RELEASES_REQUIRE_CHECKLIST",
    "approval_stages": "RELEASES_APPROVAL_STAGES",
    "schedule_max_days": "RELEASES_SCHEDULE_MAX_DAYS",
}
# Lists: contacts are separated by commas; addresses, which contain commas, by semicolons.
_SEPARATORS = {"public_contacts": ",", "public_addresses": ";", "approval_stages": ","}
APPROVABLE = ("preliminary", "updated", "corrected", "redaction")


# The name of a variable, not a password.
ENV["api_password"] = "RELEASES_API_PASSWORD"  # noqa: S105


def load(environ: dict[str, str] | None = None, *, log_key_check: bool = True) -> Settings:
    """The settings from the environment; a value that cannot be used is refused naming the variable.
    ``log_key_check=False`` only for the commands that make or name the log's key (keygen, log-key)."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for attr, var in ENV.items():
        if env.get(var):
            if attr in _SEPARATORS:
                values[attr] = tuple(v.strip() for v in env[var].split(_SEPARATORS[attr]) if v.strip())
            elif attr == "require_checklist":
                flag = env[var].strip().lower()
                if flag not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(f"{var}: must be true or false, not {ascii(env[var])[:40]}")
                values[attr] = flag in ("true", "1", "yes")
            elif attr.endswith(("_window", "_attempts", "_days")):
                if not env[var].strip().isdigit():
                    raise ValueError(f"{var}: must be a whole number, not {ascii(env[var])[:40]}")
                values[attr] = int(env[var])
            else:
                values[attr] = env[var]
    if values.get("approval_stages") == ("none",):
        values["approval_stages"] = ()
    settings = Settings(**values)
    if unknown := [s for s in settings.approval_stages if s not in APPROVABLE]:
        raise ValueError(
            f"RELEASES_APPROVAL_STAGES: {ascii(unknown[0])[:40]} is not a stage; give some of "
            f"{', '.join(APPROVABLE)} separated by commas, or none"
        )
    if settings.websub_hub and urlsplit(settings.websub_hub).scheme not in ("http", "https"):
        # urllib would also open file: and ftp: URLs; a hub is an HTTP endpoint.
        raise ValueError("RELEASES_WEBSUB_HUB: must be an http:// or https:// URL")
    settings.tz  # noqa: B018 - fail at start-up on an unknown zone, not mid-release
    settings.checklist()  # and on a checklist file that cannot be read
    if settings.log_key and log_key_check:
        check_log_key(settings.log_key, settings.tag_authority)
    return settings


def log_name(tag_authority: str) -> str:
    """The name of the agency's log, and of its signing key: ``<RELEASES_TAG_AUTHORITY>/incident-releases``."""
    return f"{tag_authority}/incident-releases"


def check_log_key(vkey: str, tag_authority: str) -> None:
    """Refuse a ``RELEASES_LOG_KEY`` named for another log than this site's. The tasks sign as
    ``<RELEASES_TAG_AUTHORITY>/incident-releases`` and publish that name in keys.json; a verifier key made
    under another name (``releases keygen --signing`` run where the authority was not set) is the same key
    with another fingerprint, so the pages would show one key and keys.json another, and every
    ``releases verify`` would fail."""
    name = vkey.split("+", 1)[0]
    expected = log_name(tag_authority)
    if "+" not in vkey or name != expected:
        raise ValueError(
            f"RELEASES_LOG_KEY: the key is named {ascii(name)[:80]}, but this site's log is named {expected!r} "
            f"(from RELEASES_TAG_AUTHORITY): the pages would show another fingerprint than keys.json. Set "
            f"RELEASES_LOG_KEY to what `releases log-key --authority {tag_authority} signing-key.json` prints "
            "(the same key, under this site's name)"
        )

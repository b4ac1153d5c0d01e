"""Sealed text: how withheld text reaches a release without entering Airflow's records.

A PIO's ``withheld`` list (and a redaction's ``remove`` list) holds the very text that must never be
published. Airflow keeps every run's document (``conf``) in its metadata database, where any user with
the viewer role reads it in the UI and through the REST API. So the text is sealed before it is handed
to Airflow: each item's ``text`` becomes ``sealed``, a value only the release tasks can open.

- The deployment has one X25519 key pair. The private key lives only in the Airflow connection
  ``releases_sealing`` (its password), read by the tasks at run time; the public key is published at
  ``keys.json`` in the bucket, where ``releases submit`` and the inbox find it.
- ``seal``: an ephemeral X25519 key agreement with the public key, HKDF-SHA256, ChaCha20-Poly1305 (the
  "sealed box" construction). ``sealed:v1:`` + base64url(ephemeral public key | nonce | ciphertext).
  Each sealing is different, so equal texts cannot be told apart.
- The Params of both DAGs accept sealed items only, so a document with a plain ``text`` is refused by
  Airflow's REST API and trigger form before a run (and its ``conf``) exists.

What a viewer sees of a withheld item: that it exists and its category.
"""

from __future__ import annotations

import base64
import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import InvalidUpdate

PREFIX = "sealed:v1:"
SEALED_PATTERN = r"^sealed:v1:[A-Za-z0-9_-]{80,2000}$"
CONNECTION = "releases_sealing"
KEYS_OBJECT = "keys.json"
_INFO = b"incident-releases sealed text v1"
# The lists whose items carry text to keep out of Airflow, per document kind.
SEALED_LISTS = ("withheld", "remove")


def write_key_file(path, private_key: str, public_key: str) -> None:
    """A key pair as ``releases keygen`` and ``make up`` keep it: JSON, mode 0600, never overwritten
    (FileExistsError if the file exists)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump({"private_key": private_key, "public_key": public_key}, out)


def items_schema() -> dict[str, Any]:
    """JSON schema of a sealed list's items, for the DAGs' Params: plain ``text`` is not accepted."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["category", "sealed"],
        "properties": {
            "category": {"type": "string", "minLength": 1, "maxLength": 40},
            "sealed": {"type": "string", "pattern": SEALED_PATTERN},
        },
    }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate() -> tuple[str, str]:
    """A new key pair: (private, public), each as base64url of the raw 32 bytes."""
    return _new_pair(X25519PrivateKey)


def public_of(private_key: str) -> str:
    return _public_of(X25519PrivateKey, private_key)


def _new_pair(kind: type[X25519PrivateKey] | type[Ed25519PrivateKey]) -> tuple[str, str]:
    """(private, public) of a new ``kind`` key (X25519 here, Ed25519 in checkpoint), in the keys' text form."""
    raw = kind.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return _b64(raw), _public_of(kind, _b64(raw))


def _public_of(kind: type[X25519PrivateKey] | type[Ed25519PrivateKey], private_key: str) -> str:
    public = kind.from_private_bytes(_unb64(private_key)).public_key()
    return _b64(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)


def seal(public_key: str, text: str) -> str:
    recipient = _unb64(public_key)
    ephemeral = X25519PrivateKey.generate()
    eph_pub = ephemeral.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = _key(ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient)), eph_pub, recipient)
    nonce = os.urandom(12)
    return PREFIX + _b64(eph_pub + nonce + ChaCha20Poly1305(key).encrypt(nonce, text.encode(), _INFO))


def unseal(private_key: str, token: str) -> str:
    """The text in ``token``; ValueError if it was not sealed for this key or was changed."""
    if not isinstance(token, str) or not re.fullmatch(SEALED_PATTERN, token):
        raise ValueError("not a sealed value")
    raw = _unb64(token[len(PREFIX) :])
    eph_pub, nonce, ciphertext = raw[:32], raw[32:44], raw[44:]
    private = X25519PrivateKey.from_private_bytes(_unb64(private_key))
    recipient = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    key = _key(private.exchange(X25519PublicKey.from_public_bytes(eph_pub)), eph_pub, recipient)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, _INFO).decode()
    except (InvalidTag, UnicodeDecodeError):
        raise ValueError("sealed for another key, or changed") from None


def seal_document(doc: Any, public_key: str) -> Any:
    """``doc`` with each withheld/remove item's ``text`` replaced by ``sealed`` (a copy; the rest kept)."""
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    for name in SEALED_LISTS:
        items = doc.get(name)
        if isinstance(items, list):
            out[name] = [
                {k: v for k, v in item.items() if k != "text"} | {"sealed": seal(public_key, item["text"])}
                if isinstance(item, dict) and isinstance(item.get("text"), str)
                else item
                for item in items
            ]
    return out


def unseal_document(doc: Any, private_key: str | None) -> Any:
    """``doc`` as the core reads it: each sealed item opened back to ``text``.

    A plain ``text`` is refused here too (the Params refuse it first): text that reached Airflow
    unsealed is in its records already, and the PIO must know.
    """
    if not isinstance(doc, dict):
        return doc
    out = dict(doc)
    for name in SEALED_LISTS:
        items = doc.get(name)
        if not isinstance(items, list):
            continue
        opened = []
        for n, item in enumerate(items, 1):
            if isinstance(item, dict) and "text" in item:
                raise InvalidUpdate(
                    name,
                    f"item {n}: the text was sent unsealed, so Airflow has stored it; send it sealed "
                    "(releases submit seals it) and ask an administrator to delete this run",
                    "withheld.sealed",
                )
            if not isinstance(item, dict) or set(item) != {"category", "sealed"}:
                raise InvalidUpdate(
                    name,
                    f"item {n} must have exactly two parts: a category and the sealed text",
                    "withheld.sealed",
                )
            if not private_key:
                raise InvalidUpdate(
                    name,
                    f"this deployment has no sealing key (Airflow connection {CONNECTION}): see README",
                    "withheld.sealed",
                )
            try:
                text = unseal(private_key, item["sealed"])
            except ValueError as err:
                raise InvalidUpdate(
                    name, f"item {n}: cannot be opened ({err}); seal it again", "withheld.sealed"
                ) from None
            opened.append({"category": item["category"], "text": text})
        out[name] = opened
    return out


def keys_document(public_key: str, log_vkey: str | None = None) -> bytes:
    """``keys.json``: the public key anyone sealing text for this deployment uses, and the verifier key of
    the log's signed checkpoints (``releases witness`` pins it)."""
    doc: dict[str, Any] = {
        "sealing": {"algorithm": "X25519-HKDF-SHA256-ChaCha20Poly1305", "public_key": public_key}
    }
    if log_vkey:
        from .checkpoint import fingerprint

        doc["signing"] = {"algorithm": "Ed25519", "vkey": log_vkey, "fingerprint": fingerprint(log_vkey)}
    return json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"


def fetch_public_key(base_url: str, pinned: str = "") -> str:
    """The deployment's sealing key from ``<public site>/keys.json``; with ``pinned`` (the operator's
    RELEASES_SEALING_PUBLIC_KEY), keys.json must name that key."""
    found = _fetch_public_key(base_url)
    if pinned and found != pinned:
        raise InvalidUpdate(
            "withheld",
            "keys.json names another sealing key than RELEASES_SEALING_PUBLIC_KEY: it may have been replaced "
            "to read what you seal; nothing was sent. Tell the operator.",
            "withheld.sealed",
        )
    return found


def _fetch_public_key(base_url: str) -> str:
    url = f"{base_url.rstrip('/')}/{KEYS_OBJECT}"
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # http(s) checked above  # noqa: S310
            return json.loads(resp.read())["sealing"]["public_key"]
    except (urllib.error.HTTPError, KeyError, ValueError) as err:
        raise InvalidUpdate(
            "withheld",
            f"cannot seal the text: {url} gives no sealing key ({err}); "
            "the operator publishes it with releases setup-bucket",
            "withheld.sealed",
        ) from None

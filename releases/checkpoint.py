"""Signed checkpoints of the log: the C2SP ``tlog-checkpoint`` text in a C2SP ``signed-note``.

A checkpoint says "the log named <origin> has <size> leaves and this root hash", signed with the agency's
Ed25519 key::

    <origin>
    <size>
    <base64 root hash>

    — <key name> <base64(key id || Ed25519 signature of the three lines above, newlines included)>

The key id is the first 4 bytes of SHA-256(key name || "\\n" || 0x01 || public key). The verifier key is
written ``<name>+<key id in hex>+<base64(0x01 || public key)>``, the form C2SP tools (and Go's
``golang.org/x/mod/sumdb/note``) read. The private key lives only in the Airflow connection
``releases_signing``; the verifier key is published in ``keys.json`` and its fingerprint on every page.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .sealing import _new_pair, _public_of, _unb64  # base64url without padding: the keys' one text form

CONNECTION = "releases_signing"
_ED25519 = b"\x01"
_NAME = re.compile(r"^[^\s+]{1,200}$")


def generate() -> tuple[str, str]:
    """(private, public) Ed25519 key, each base64url of the raw 32 bytes."""
    return _new_pair(Ed25519PrivateKey)


def public_of(private_key: str) -> str:
    return _public_of(Ed25519PrivateKey, private_key)


def key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public).digest()[:4]


def verifier_key(name: str, public_key: str) -> str:
    """``<name>+<key id hex>+<base64(0x01 || public key)>``."""
    public = _unb64(public_key)
    return f"{name}+{key_id(name, public).hex()}+{base64.b64encode(_ED25519 + public).decode()}"


def fingerprint(vkey: str) -> str:
    """A short, stable fingerprint of a verifier key for pinning out of band: SHA-256, first 16 bytes, hex."""
    return hashlib.sha256(vkey.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def sign(checkpoint: Checkpoint, private_key: str, name: str) -> str:
    """The signed note: the checkpoint's body, a blank line, one signature line."""
    if not _NAME.match(name):
        raise ValueError("a key name has no spaces or '+'")
    key = Ed25519PrivateKey.from_private_bytes(_unb64(private_key))
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    body = checkpoint.body()
    signature = key.sign(body.encode())
    return f"{body}\n\u2014 {name} {base64.b64encode(key_id(name, public) + signature).decode()}\n"


class BadCheckpoint(ValueError):
    """The text is not a checkpoint signed by the given key; the message says why."""


def open_signed(note: str, vkey: str) -> Checkpoint:
    """The checkpoint in ``note`` if ``vkey`` signed it; :class:`BadCheckpoint` otherwise."""
    try:
        name, hex_id, key_b64 = vkey.split("+", 2)  # base64 may contain "+"; name and id never do
        raw = base64.b64decode(key_b64, validate=True)
    except ValueError:
        raise BadCheckpoint(f"not a verifier key: {vkey[:80]!r}") from None
    if raw[:1] != _ED25519 or len(raw) != 33 or key_id(name, raw[1:]).hex() != hex_id:
        raise BadCheckpoint("not an Ed25519 verifier key whose id matches its name and key")
    body, sep, signatures = note.partition("\n\n")
    if not sep or not body:
        raise BadCheckpoint("not a signed note: no blank line between the text and its signatures")
    body += "\n"
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    for line in signatures.splitlines():
        m = re.fullmatch(r"\u2014 (\S+) ([A-Za-z0-9+/=]+)", line)
        if not m or m[1] != name:
            continue
        blob = base64.b64decode(m[2])
        if blob[:4].hex() != hex_id:
            continue
        try:
            public.verify(blob[4:], body.encode())
        except InvalidSignature:
            raise BadCheckpoint(f"the signature of {name} does not match the checkpoint") from None
        lines = body.split("\n")
        try:
            return Checkpoint(lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True))
        except (IndexError, ValueError):
            raise BadCheckpoint("signed, but not a checkpoint (origin, size, root hash)") from None
    raise BadCheckpoint(f"not signed by the key {name}+{hex_id}")

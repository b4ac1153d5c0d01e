"""Signed checkpoints (C2SP signed-note): what the witness trusts."""

from __future__ import annotations

import base64

import pytest

from releases import checkpoint

ORIGIN = "incident-releases.invalid/incident-releases"


@pytest.mark.parametrize("attempt", range(20))  # keys whose base64 holds "+" and "/" included
def test_a_signed_checkpoint_opens_with_its_key_only(attempt):
    private, public = checkpoint.generate()
    vkey = checkpoint.verifier_key(ORIGIN, public)
    cp = checkpoint.Checkpoint(ORIGIN, 42 + attempt, bytes(range(32)))
    note = checkpoint.sign(cp, private, ORIGIN)
    assert checkpoint.open_signed(note, vkey) == cp
    other = checkpoint.verifier_key(ORIGIN, checkpoint.generate()[1])
    with pytest.raises(checkpoint.BadCheckpoint, match="not signed by the key"):
        checkpoint.open_signed(note, other)
    with pytest.raises(checkpoint.BadCheckpoint, match="does not match"):
        checkpoint.open_signed(note.replace(f"\n{42 + attempt}\n", f"\n{43 + attempt}\n"), vkey)


def test_the_note_has_the_c2sp_shape():
    private, public = checkpoint.generate()
    note = checkpoint.sign(checkpoint.Checkpoint(ORIGIN, 7, b"\x01" * 32), private, ORIGIN)
    body, signature = note.split("\n\n")
    root = base64.b64encode(b"\x01" * 32).decode()
    assert body == f"{ORIGIN}\n7\n{root}"
    name, blob = signature.rstrip("\n").removeprefix("\u2014 ").split(" ")
    assert name == ORIGIN
    raw = base64.b64decode(blob)
    assert len(raw) == 4 + 64 and raw[:4] == checkpoint.key_id(ORIGIN, base64.urlsafe_b64decode(public + "="))
    vkey = checkpoint.verifier_key(ORIGIN, public)
    assert vkey.startswith(f"{ORIGIN}+{raw[:4].hex()}+")


@pytest.mark.parametrize("vkey", ["nonsense", "a+b+c", f"{ORIGIN}+00000000+AQ=="])
def test_a_malformed_verifier_key_is_refused_in_words(vkey):
    with pytest.raises(checkpoint.BadCheckpoint):
        checkpoint.open_signed("x\n1\nAA==\n\n\u2014 x AAAA\n", vkey)

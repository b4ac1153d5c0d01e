"""Sealed text: only the deployment's key opens it, and a replaced keys.json cannot capture it."""

from __future__ import annotations

import json

import pytest
from sample import PRELIMINARY

from releases import pipeline, sealing
from releases.document import seal_update
from releases.errors import InvalidUpdate


def test_sealed_text_opens_with_its_key_only_and_is_different_every_time():
    private, public = sealing.generate()
    one, two = sealing.seal(public, "Jamie Doe"), sealing.seal(public, "Jamie Doe")
    assert one != two and "Jamie" not in one
    assert sealing.unseal(private, one) == "Jamie Doe"
    with pytest.raises(ValueError, match="sealed for another key"):
        sealing.unseal(sealing.generate()[0], one)
    tampered = one[:-4] + ("AAAA" if not one.endswith("AAAA") else "BBBB")
    with pytest.raises(ValueError):
        sealing.unseal(private, tampered)


def test_a_sealed_document_holds_no_withheld_text_and_opens_to_the_same_statement():
    private, public = sealing.generate()
    doc = {
        **PRELIMINARY,
        "body": "Jamie Doe, 15, was injured.",
        "withheld": [{"category": "juvenile's name", "text": "Jamie Doe"}],
    }
    sealed = seal_update(doc, public)
    assert "Jamie" not in json.dumps(sealed)
    assert sealed["body"] == "[withheld: juvenile's name], 15, was injured."
    opened = sealing.unseal_document(sealed, private)
    assert opened["withheld"] == doc["withheld"] and opened["body"] == sealed["body"]


def test_a_plain_text_item_reaching_a_task_is_refused_in_words():
    with pytest.raises(InvalidUpdate) as err:
        sealing.unseal_document({"withheld": [{"category": "name", "text": "Jamie Doe"}]}, "unused")
    assert err.value.field == "withheld" and "sent unsealed" in err.value.rule


def test_a_pinned_key_refuses_a_replaced_keys_json_and_the_next_release_puts_it_right(
    bucket, s3_endpoint, seaweed
):
    """Found by an attack: with the writer's credentials, keys.json was pointed at the attacker's key, and
    releases submit sealed a juvenile's name for it."""
    url = f"{s3_endpoint}/{bucket.bucket}"
    ours = sealing.public_of(seaweed.sealing_key())
    assert sealing.fetch_public_key(url, ours) == ours
    _, theirs = sealing.generate()
    bucket.replace(sealing.KEYS_OBJECT, sealing.keys_document(theirs))
    with pytest.raises(
        InvalidUpdate, match="keys.json names another sealing key than RELEASES_SEALING_PUBLIC_KEY"
    ):
        sealing.fetch_public_key(url, ours)
    assert pipeline.publish_keys(bucket, seaweed.sealing_key(), None) == ["keys.json"]
    assert sealing.fetch_public_key(url, ours) == ours
    assert pipeline.publish_keys(bucket, seaweed.sealing_key(), None) == []

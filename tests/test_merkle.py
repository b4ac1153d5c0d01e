"""The log's Merkle tree against an independent, literal reading of RFC 6962 section 2.1 written here
(issue 13, must-show 2): roots, inclusion proofs (PATH) and consistency proofs (PROOF) round-trip, and
every tampered proof is refused. Plus the RFC's own structure: known answers for small trees."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from releases import merkle

# --- RFC 6962, section 2.1, transcribed as literally as Python allows ------------------------------


def H(data: bytes) -> bytes:  # noqa: N802 - the RFC's name
    return hashlib.sha256(data).digest()


def MTH(D: list[bytes]) -> bytes:  # noqa: N802, N803
    n = len(D)
    if n == 0:
        return H(b"")
    if n == 1:
        return H(b"\x00" + D[0])
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
    return H(b"\x01" + MTH(D[:k]) + MTH(D[k:]))


def PATH(m: int, D: list[bytes]) -> list[bytes]:  # noqa: N802, N803
    n = len(D)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return PATH(m, D[:k]) + [MTH(D[k:])]
    return PATH(m - k, D[k:]) + [MTH(D[:k])]


def SUBPROOF(m: int, D: list[bytes], b: bool) -> list[bytes]:  # noqa: N802, N803
    n = len(D)
    if m == n:
        return [] if b else [MTH(D)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return SUBPROOF(m, D[:k], b) + [MTH(D[k:])]
    return SUBPROOF(m - k, D[k:], False) + [MTH(D[:k])]


def PROOF(m: int, D: list[bytes]) -> list[bytes]:  # noqa: N802, N803
    return SUBPROOF(m, D, True)


# ---------------------------------------------------------------------------------------------------

leaves_st = st.lists(st.binary(max_size=12), min_size=1, max_size=70, unique=True)


def hashed(data: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(d) for d in data]


def test_known_answers():
    # The empty tree and a one-leaf tree, as RFC 6962 defines them.
    assert merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert (
        merkle.root(hashed([b""])).hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    # Two leaves: H(0x01 || H(0x00 || a) || H(0x00 || b)).
    a, b = H(b"\x00a"), H(b"\x00b")
    assert merkle.root(hashed([b"a", b"b"])) == H(b"\x01" + a + b)


@given(leaves_st)
def test_root_and_frontier_agree_with_the_rfc(data):
    frontier: list[bytes] = []
    for size, leaf in enumerate(hashed(data)):
        frontier = merkle.append(frontier, size, leaf)
        assert merkle.frontier_root(frontier) == MTH(data[: size + 1])
    assert merkle.root(hashed(data)) == MTH(data)


@given(leaves_st, st.data())
def test_inclusion_proofs_round_trip(data, draw):
    index = draw.draw(st.integers(0, len(data) - 1))
    proof = merkle.inclusion_proof(index, hashed(data))
    assert proof == PATH(index, data)
    leaf = merkle.leaf_hash(data[index])
    assert merkle.verify_inclusion(leaf, index, len(data), PATH(index, data), MTH(data))
    assert not merkle.verify_inclusion(
        merkle.leaf_hash(data[index] + b"!"), index, len(data), proof, MTH(data)
    )
    if proof:
        bad = [*proof[:-1], H(proof[-1])]
        assert not merkle.verify_inclusion(leaf, index, len(data), bad, MTH(data))
    if len(data) > 1:
        assert not merkle.verify_inclusion(leaf, (index + 1) % len(data), len(data), proof, MTH(data))


@given(leaves_st, st.data())
def test_consistency_proofs_round_trip(data, draw):
    m = draw.draw(st.integers(1, len(data)))
    n = len(data)
    proof = merkle.consistency_proof(m, hashed(data))
    assert proof == PROOF(m, data)
    assert merkle.verify_consistency(m, n, MTH(data[:m]), MTH(data), PROOF(m, data))
    if m < n:
        # A fork: the first m leaves changed (one byte of one leaf), same sizes.
        forked = [*data[: m - 1], data[m - 1] + b"!", *data[m:]]
        assert not merkle.verify_consistency(m, n, MTH(forked[:m]), MTH(data), proof)
        assert not merkle.verify_consistency(m, n, MTH(data[:m]), MTH(forked), proof)
        assert not merkle.verify_consistency(m, n, MTH(data[:m]), MTH(data), proof[:-1])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 255, 256, 257])
def test_every_proof_of_trees_at_power_of_two_edges(n):
    data = [str(i).encode() for i in range(n)]
    for m in range(1, n + 1):
        assert merkle.verify_consistency(m, n, MTH(data[:m]), MTH(data), PROOF(m, data))
    for i in range(n):
        assert merkle.verify_inclusion(merkle.leaf_hash(data[i]), i, n, PATH(i, data), MTH(data))

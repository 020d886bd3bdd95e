"""Plain-Python pieces of the library's documented hash definitions, for the tests that check the vectorised
versions against them (stable hashing, dataset dedup keys)."""

from __future__ import annotations

MASK = 2**64 - 1
"""Keeps a Python integer to 64 bits."""


def fmix64(h: int) -> int:
    """MurmurHash3's 64-bit finaliser: every input bit reaches every output bit."""
    h ^= h >> 33
    h = h * 0xFF51AFD7ED558CCD & MASK
    h ^= h >> 33
    h = h * 0xC4CEB9FE1A85EC53 & MASK
    return h ^ (h >> 33)

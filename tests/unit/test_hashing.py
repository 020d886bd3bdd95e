"""Stable 64-bit hashing: pinned values, the scalar reference, every storage layout of a string column."""

from __future__ import annotations

import io

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from tests.support.reference_hash import fmix64
from tracewatch.errors import DataContractError
from tracewatch.hashing import _stored_fixed_width, stable_hash64, unit_interval

MASK = 2**64 - 1
P1, P2 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F

texts_with_nulls = st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=30)


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK


def reference_hash(text: str | None, key: int = 0) -> int:
    """The documented algorithm, one string at a time in plain Python: the vectorised version must agree."""
    data = b"" if text is None else text.encode()
    state = fmix64(key ^ P2)
    for at in range(0, len(data), 8):
        chunk = int.from_bytes(data[at : at + 8].ljust(8, b"\0"), "little")
        chunk = _rotl(chunk * P1 & MASK, 31) * P2 & MASK
        state = (_rotl(state ^ chunk, 27) * 5 + 0x52DCE729) & MASK
    state ^= len(data) ^ ((1 << 63) if text is None else 0)
    return fmix64(state)


def test_hash_values_are_pinned() -> None:
    # Sampling picks and stored signatures depend on these exact numbers across versions and machines.
    values = pl.Series(["", None, "a", "abcdefgh", "abcdefghi", "héllo wörld", "trace-0001"])
    assert stable_hash64(values).tolist() == [
        17478533492502668705,
        3025060294916425181,
        4562959735558063784,
        3818347852331061545,
        8291137811128472928,
        1662009039443687695,
        2288413446677769429,
    ]
    assert stable_hash64(values, key=42)[6] == 12092398588850461374


@settings(max_examples=60, deadline=None)
@given(texts_with_nulls, st.integers(0, MASK))
def test_vectorised_hash_matches_the_scalar_reference(texts: list[str | None], key: int) -> None:
    hashes = stable_hash64(pl.Series(texts, dtype=pl.String), key=key)
    assert hashes.tolist() == [reference_hash(t, key) for t in texts]


@settings(max_examples=40, deadline=None)
@given(texts_with_nulls, st.integers(0, 30))
def test_hash_of_a_row_does_not_depend_on_its_neighbours(texts: list[str | None], cut: int) -> None:
    whole = pl.Series(texts, dtype=pl.String)
    cut = min(cut, len(texts))
    parts = [stable_hash64(whole.slice(0, cut)), stable_hash64(whole.slice(cut))]
    assert np.concatenate(parts).tolist() == stable_hash64(whole).tolist()
    chunked = pl.concat([whole.slice(0, cut), whole.slice(cut)], rechunk=False)
    assert stable_hash64(chunked).tolist() == stable_hash64(whole).tolist()


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([8, 16, 24, 32]), st.lists(st.binary(min_size=1, max_size=4), min_size=1, max_size=30))
def test_equal_width_strings_hash_like_the_scalar_reference(width: int, seeds: list[bytes]) -> None:
    # Ids of one width (hex trace ids) take a path that reads words in place; it must give the same numbers.
    texts = [(seed.hex() * width)[:width] for seed in seeds]
    whole = pl.Series(texts, dtype=pl.String)
    assert stable_hash64(whole).tolist() == [reference_hash(t) for t in texts]
    assert stable_hash64(whole.slice(1)).tolist() == [reference_hash(t) for t in texts[1:]]


@settings(max_examples=25, deadline=None)
@given(
    st.sampled_from([16, 24, 32, 40]),
    st.lists(st.binary(min_size=1, max_size=4), min_size=2, max_size=60),
    st.integers(1, 20),
)
def test_equal_width_strings_read_from_parquet_hash_like_the_scalar_reference(
    width: int, seeds: list[bytes], row_group: int
) -> None:
    # Read from Parquet, polars points its string views into the decoded pages (a length before each value,
    # a buffer per page): the hash reads the words there, for whole, sliced, gathered and chunked columns.
    texts = [(seed.hex() * width)[:width] for seed in seeds]
    buffer = io.BytesIO()
    pl.DataFrame({"id": texts}).write_parquet(buffer, row_group_size=row_group, compression="uncompressed")
    read = pl.read_parquet(buffer.getvalue()).get_column("id")
    expected = [reference_hash(t) for t in texts]
    assert stable_hash64(read).tolist() == expected
    assert stable_hash64(read.slice(1)).tolist() == expected[1:]
    assert stable_hash64(read.gather([len(texts) - 1, 0])).tolist() == [expected[-1], expected[0]]
    chunked = pl.concat([read, pl.Series("id", texts)], rechunk=False)
    assert stable_hash64(chunked).tolist() == expected + expected


def test_distinct_ids_read_from_parquet_are_hashed_where_they_lie() -> None:
    ids = [f"{i:032x}" for i in range(0, 5_000_000, 997)]
    buffer = io.BytesIO()
    pl.DataFrame({"id": ids}).write_parquet(buffer, row_group_size=1000)
    read = pl.read_parquet(buffer.getvalue()).get_column("id")
    expected = [reference_hash(t) for t in ids]
    chunked = pl.concat([read, read.slice(7)], rechunk=False)
    for column, hashes in (
        (read, expected),
        (read.slice(7), expected[7:]),
        (chunked, expected + expected[7:]),
    ):
        assert _stored_fixed_width(column) is not None  # no copy of a million ids a night
        assert stable_hash64(column).tolist() == hashes
    assert stable_hash64(read.reverse()).tolist() == expected[::-1]
    assert _stored_fixed_width(pl.Series([f"{i:08x}" for i in range(100)])) is None  # held in the views


def test_hash_rejects_non_strings() -> None:
    with pytest.raises(DataContractError, match="String"):
        stable_hash64(pl.Series([1, 2]))


def test_hashes_of_many_ids_are_distinct_and_uniform() -> None:
    ids = pl.Series([f"{i:032x}" for i in range(200_000)])
    hashes = stable_hash64(ids, key=7)
    assert len(np.unique(hashes)) == len(ids)
    u = unit_interval(hashes)
    assert u.min() > 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4

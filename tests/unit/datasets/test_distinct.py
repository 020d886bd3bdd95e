"""Factorising a column into its distinct values: every row maps back to its own value, nulls included."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.datasets.distinct import Distinct, map_distinct


@settings(max_examples=30, deadline=None)
@given(st.lists(st.none() | st.text(max_size=8), min_size=1, max_size=40), st.integers(0, 1000))
def test_a_repetitive_column_is_its_distinct_values_by_code(values: list[str | None], shift: int) -> None:
    column = pl.Series("v", (values * (25_000 // len(values) + 1))[shift : shift + 25_000], dtype=pl.String)
    distinct = Distinct.of(column)
    assert distinct.codes is not None
    assert distinct.values.n_unique() == distinct.values.len() == column.n_unique()
    assert distinct.values.gather(distinct.codes).eq_missing(column).all()
    assert distinct.expand(distinct.values.to_frame()).to_series().eq_missing(column).all()


def test_small_or_mostly_distinct_columns_are_not_factorised() -> None:
    small = pl.Series("v", ["a", "a", None])
    unique = pl.Series("v", [f"id-{i}" for i in range(30_000)])
    for column in (small, unique):
        distinct = Distinct.of(column)
        assert distinct.codes is None and distinct.values is column


def test_a_repeated_long_prompt_among_distinct_questions_is_worth_factorising() -> None:
    prompt = "You are a helpful research assistant. " * 8
    column = pl.Series("v", [prompt if i % 2 else f"question {i}?" for i in range(40_000)])
    distinct = Distinct.of(column)  # most values are distinct, but most bytes are the prompt's
    assert distinct.codes is not None and distinct.values.len() == 20_001
    assert distinct.values.gather(distinct.codes).equals(column)


def test_map_distinct_calls_the_function_once_per_value() -> None:
    column = pl.Series("v", ["x", "y", None] * 10_000)
    seen: list[int] = []

    def upper(values: pl.Series) -> pl.DataFrame:
        seen.append(values.len())
        return values.str.to_uppercase().to_frame()

    assert map_distinct(column, upper).to_series().to_list() == ["X", "Y", None] * 10_000
    assert seen == [3]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.none() | st.text(max_size=6), max_size=60))
def test_factorised_strings_are_their_distinct_values_by_code(values: list[str | None]) -> None:
    column = pl.Series("v", values, dtype=pl.String)
    distinct = Distinct.factorise(column)
    assert distinct.codes is not None and len(distinct.codes) == column.len()
    assert distinct.values.name == "v" and distinct.values.dtype == pl.String
    assert distinct.values.len() == distinct.values.n_unique() == column.n_unique()
    assert distinct.values.gather(distinct.codes).eq_missing(column).all()


def test_other_types_factorise_too() -> None:
    column = pl.Series("n", [3, None, 3, 7, None, 1])
    distinct = Distinct.factorise(column)
    assert distinct.codes is not None
    assert distinct.values.gather(distinct.codes).eq_missing(column).all()
    assert distinct.values.len() == 4


def test_codes_are_numbered_from_zero_when_the_mapping_has_other_strings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mapping that holds other strings first gives physical codes with gaps; nulls stay their own value."""
    shared = pl.Categories.random()
    pl.Series(["zz", "a", "yy", "c"]).cast(pl.Categorical(shared))
    monkeypatch.setattr(pl.Categories, "random", staticmethod(lambda *args, **kwargs: shared))
    column = pl.Series("v", ["a", "c", None, "a", None])
    distinct = Distinct.factorise(column)
    assert distinct.codes is not None and sorted(set(distinct.codes.tolist())) == [0, 1, 2]
    assert distinct.values.gather(distinct.codes).eq_missing(column).all()

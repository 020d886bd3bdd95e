"""Exact and near de-duplication against the dataset and within the batch, with every drop accounted for."""

from __future__ import annotations

import logging

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.datasets.dedup import (
    EXACT,
    IN_BATCH,
    IN_DATASET,
    ExactCheck,
    deduplicate,
    dropped_schema,
    exact_duplicates,
    near_duplicates,
    near_reason,
)
from tracewatch.datasets.minhash import MINHASH, with_signatures
from tracewatch.errors import ConfigError

QUESTION = (
    "Which of the five most populous countries in the world has the largest capital city by area and what "
    "is its current estimated population according to the latest census figures"
)
ONE_WORD_CHANGED = QUESTION.replace("largest", "biggest")
UNRELATED = (
    "Write a short poem about autumn leaves falling slowly in a quiet park at dusk while children play",
    "How many episodes were there in the first season of the television series Wednesday on Netflix",
)


def _items(texts: list[str], hashes: list[str | None] | None = None) -> pl.DataFrame:
    return with_signatures(
        pl.DataFrame(
            {
                "item_id": [f"itm_{i}" for i in range(len(texts))],
                "content_hash": hashes or [f"h-{t}" for t in texts],
                "input_text": texts,
            },
            schema={"item_id": pl.String, "content_hash": pl.String, "input_text": pl.String},
        ),
        "input_text",
    )


def _candidates(rows: list[tuple[str, str | None, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"trace_id": pl.String, "content_hash": pl.String, "input_text": pl.String},
        orient="row",
    )


# ---- exact ----------------------------------------------------------------------------------------------------


def test_exact_duplicates_of_the_dataset_and_within_the_batch_are_dropped_with_their_original() -> None:
    existing = _items(["known text"], ["h-known"])
    candidates = _candidates(
        [
            ("t3", "h-new", "new text"),
            ("t1", "h-known", "known text"),
            ("t2", "h-new", "new text"),
            ("t4", None, "no hash"),
            ("t5", None, "no hash either"),
        ]
    )
    result = exact_duplicates(candidates, existing)
    assert sorted(result.kept["trace_id"]) == ["t2", "t4", "t5"]
    assert result.counts == {EXACT: 2}
    dropped = {row["trace_id"]: row for row in result.dropped.iter_rows(named=True)}
    assert dropped["t1"] == {
        "trace_id": "t1",
        "reason": EXACT,
        "duplicate_in": IN_DATASET,
        "duplicate_of": "itm_0",
        "jaccard": None,
    }
    assert (dropped["t3"]["duplicate_in"], dropped["t3"]["duplicate_of"]) == (IN_BATCH, "t2")
    assert result.dropped.schema == pl.Schema(dropped_schema("trace_id"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", None]), max_size=40), st.integers(0, 1000))
def test_exact_dedup_accounts_for_every_candidate_whatever_the_order(
    hashes: list[str | None], seed: int
) -> None:
    candidates = _candidates([(f"t{i:03d}", h, "text") for i, h in enumerate(hashes)])
    existing = _items(["x", "y"], ["a", "z"])
    result = exact_duplicates(candidates, existing)
    assert result.kept.height + result.dropped.height == candidates.height
    assert result.counts[EXACT] == result.dropped.height
    kept_hashes = result.kept["content_hash"].drop_nulls()
    assert kept_hashes.n_unique() == kept_hashes.len()
    assert "a" not in set(kept_hashes)
    shuffled = candidates.sample(fraction=1.0, shuffle=True, seed=seed)
    again = exact_duplicates(shuffled, existing)
    assert sorted(again.kept["trace_id"]) == sorted(result.kept["trace_id"])


def test_a_lossy_key_match_counts_only_when_the_exact_identity_agrees(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Key 2 is shared by two items (a collision inside the dataset) and by t2, whose content is itm_c's.
    # Key 3 collides: t4's content is none of the dataset's, so t4 must stay a candidate.
    existing = pl.DataFrame(
        {"item_id": ["itm_a", "itm_b", "itm_c", "itm_d"], "key": [1, 2, 2, 3], "content_hash": list("ABCD")}
    )
    identity = {"t1": "A", "t2": "C", "t3": "A", "t4": "X", "t5": "Y"}
    candidates = pl.DataFrame({"trace_id": list(identity), "key": [1, 2, 1, 3, 4]})
    asked: list[list[str]] = []

    def of(ids: pl.Series) -> pl.Series:
        asked.append(ids.to_list())
        return ids.replace_strict(identity, return_dtype=pl.String)

    with caplog.at_level(logging.WARNING):
        result = exact_duplicates(
            candidates, existing, hash_column="key", check=ExactCheck("content_hash", of), within=False
        )
    assert sorted(result.kept["trace_id"]) == ["t4", "t5"]
    assert dict(result.dropped.select("trace_id", "duplicate_of").iter_rows()) == {
        "t1": "itm_a",
        "t3": "itm_a",
        "t2": "itm_c",
    }
    assert sorted(asked[0]) == ["t1", "t2", "t4"]  # one candidate per matched key, none for the others
    assert "1 candidate content(s) share a key with a dataset item but not its content_hash" in caplog.text


def test_unknown_hash_column_is_a_config_error_listing_columns() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown column\(s\) 'hash'; available: content_hash, input_text, trace_id"
    ):
        exact_duplicates(_candidates([]), _items([]), hash_column="hash")


# ---- near -----------------------------------------------------------------------------------------------------


def test_a_one_word_paraphrase_of_an_item_is_a_near_duplicate_and_unrelated_texts_are_kept() -> None:
    existing = _items([QUESTION, UNRELATED[0]])
    candidates = _candidates([("t1", "h1", ONE_WORD_CHANGED), ("t2", "h2", UNRELATED[1])])
    result = near_duplicates(candidates, existing)
    assert result.kept["trace_id"].to_list() == ["t2"]
    reason = "duplicate: near (jaccard>=0.8)"
    assert result.counts == {reason: 1}
    row = result.dropped.row(0, named=True)
    assert (row["trace_id"], row["reason"], row["duplicate_in"], row["duplicate_of"]) == (
        "t1",
        reason,
        IN_DATASET,
        "itm_0",
    )
    assert row["jaccard"] >= 0.8
    assert result.kept.schema["minhash"] == MINHASH.dtype


def test_near_duplicates_within_the_batch_keep_the_smallest_id() -> None:
    third = QUESTION.replace("census", "official")
    candidates = _candidates(
        [
            ("t9", "h9", ONE_WORD_CHANGED),
            ("t2", "h2", QUESTION),
            ("t5", "h5", third),
            ("t7", "h7", UNRELATED[0]),
        ]
    )
    result = near_duplicates(candidates, _items([]))
    assert result.kept["trace_id"].to_list() == ["t2", "t7"]
    assert dict(result.dropped.select("trace_id", "duplicate_of").iter_rows()) == {"t9": "t2", "t5": "t2"}
    assert set(result.dropped["duplicate_in"]) == {IN_BATCH}


def test_threshold_is_configurable_and_named_in_the_reason() -> None:
    existing = _items([QUESTION])
    candidates = _candidates([("t1", "h1", ONE_WORD_CHANGED)])
    # A one-word change of this 30-word question keeps bigram Jaccard at 27/31 = 0.87.
    assert near_duplicates(candidates, existing, threshold=0.8).kept.is_empty()
    strict = near_duplicates(candidates, existing, threshold=0.95)
    assert strict.kept["trace_id"].to_list() == ["t1"]
    assert strict.counts == {near_reason(0.95): 0}
    assert near_reason(0.95) == "duplicate: near (jaccard>=0.95)"


def test_missing_stored_signatures_are_computed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    stored = _items([QUESTION, UNRELATED[0]])
    candidates = _candidates([("t1", "h1", ONE_WORD_CHANGED), ("t2", "h2", UNRELATED[1])])
    with caplog.at_level(logging.WARNING):
        computed = near_duplicates(candidates, stored.drop("minhash"))
    assert "no 'minhash' column" in caplog.text
    assert computed.dropped.equals(near_duplicates(candidates, stored).dropped)


def test_texts_can_come_from_an_expression() -> None:
    existing = _items([QUESTION.lower()])
    candidates = _candidates([("t1", "h1", ONE_WORD_CHANGED.upper())])
    result = near_duplicates(candidates, existing, text=pl.col("input_text").str.to_lowercase())
    assert result.kept.is_empty()


# ---- both -----------------------------------------------------------------------------------------------------


def test_deduplicate_runs_exact_then_near_and_counts_every_reason() -> None:
    existing = _items([QUESTION], ["h-q"])
    candidates = _candidates(
        [
            ("t1", "h-q", QUESTION),
            ("t2", "h-p", ONE_WORD_CHANGED),
            ("t3", "h-u", UNRELATED[0]),
            ("t4", "h-u", UNRELATED[0]),
        ]
    )
    result = deduplicate(candidates, existing)
    assert result.kept["trace_id"].to_list() == ["t3"]
    assert result.counts == {EXACT: 2, near_reason(0.8): 1}
    assert result.kept.height + result.dropped.height == candidates.height
    exact_only = deduplicate(candidates, existing, near_threshold=None)
    assert exact_only.counts == {EXACT: 2}
    assert sorted(exact_only.kept["trace_id"]) == ["t2", "t3"]

"""MinHash estimates and LSH near-duplicate pairs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.datasets.lsh import SignatureIndex, band_slots, lsh_bands, similar_pairs
from tracewatch.datasets.minhash import (
    EMPTY,
    MINHASH,
    MinHashScheme,
    estimate_jaccard,
    signature_matrix,
    signature_series,
    signatures,
    with_signatures,
)
from tracewatch.errors import ConfigError, DataContractError

# ---- MinHash --------------------------------------------------------------------------------------------------


def _word_sets(rng: np.random.Generator, pairs: int) -> tuple[list[str], list[str], np.ndarray]:
    """Pairs of texts over distinct words with a known word-set Jaccard."""
    left, right, truth = [], [], []
    for _ in range(pairs):
        n = int(rng.integers(20, 150))
        shared = int(rng.integers(0, n + 1))
        words = rng.choice(100_000, size=2 * n - shared, replace=False)
        left.append(" ".join(f"w{i}" for i in words[:n]))
        right.append(" ".join(f"w{i}" for i in np.concatenate([words[:shared], words[n:]])))
        truth.append(shared / (2 * n - shared))
    return left, right, np.array(truth)


def test_jaccard_estimate_is_unbiased_with_binomial_error() -> None:
    scheme = MinHashScheme(shingle_size=1)
    left, right, truth = _word_sets(np.random.default_rng(1), 600)
    estimate = estimate_jaccard(signatures(pl.Series(left), scheme), signatures(pl.Series(right), scheme))
    error = estimate - truth
    assert abs(error.mean()) < 0.01
    assert np.abs(error).mean() < 0.04
    # 128 independent slots: the standard error is sqrt(J(1-J)/128); z-scores should have spread ~1.
    z = error / np.sqrt(np.maximum(truth * (1 - truth), 1e-12) / 128)
    inner = (truth > 0.05) & (truth < 0.95)
    assert 0.8 < z[inner].std() < 1.2


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_jaccard_estimate_is_within_tolerance_for_128_permutations(seed: int) -> None:
    scheme = MinHashScheme(shingle_size=1)
    left, right, truth = _word_sets(np.random.default_rng(seed), 1)
    estimate = estimate_jaccard(signatures(pl.Series(left), scheme), signatures(pl.Series(right), scheme))
    # 0.2 is > 4.5 standard errors at the worst case J = 0.5.
    assert abs(estimate[0] - truth[0]) <= 0.2


def test_signature_values_are_pinned() -> None:
    # Stored signatures are compared with new ones night after night; a change here invalidates every dataset's
    # `minhash` column, so it needs a new scheme name instead.
    sig = signatures(pl.Series(["The quick brown fox jumps over the lazy dog"]))
    assert sig[0, :4].tolist() == [
        2206137696915675063,
        719679979077112223,
        538780696013911221,
        3812749334593492420,
    ]
    assert sig[0, -1] == 993402504606878058


def test_signatures_ignore_case_and_punctuation_but_not_word_order() -> None:
    sig = signatures(
        pl.Series(["Hello, World!  How are you?", "hello world how are you", "you are how world hello"])
    )
    assert (sig[0] == sig[1]).all()
    assert not (sig[0] == sig[2]).all()


def test_empty_and_null_texts_get_empty_signatures_that_never_pair() -> None:
    sig = signatures(pl.Series(["", None, "  ,;  ", "", "real words here"]))
    assert (sig[:4] == EMPTY).all()
    assert (sig[4] != EMPTY).all()
    assert similar_pairs(sig, None, 0.8).is_empty()
    assert estimate_jaccard(sig[[0]], sig[[3]]).tolist() == [0.0]


def test_signatures_are_stable_across_batches() -> None:
    texts = pl.Series(["alpha beta gamma", "delta epsilon", "zeta eta theta iota"])
    whole = signatures(texts)
    assert (np.vstack([signatures(texts[:1]), signatures(texts[1:])]) == whole).all()


# ---- near duplicates ------------------------------------------------------------------------------------------

PARAPHRASE = (
    "Which of the five most populous countries in the world has the largest capital city by area and "
    "what is its current estimated population according to the latest census figures"
)


def test_one_word_change_is_a_near_duplicate_and_unrelated_text_is_not() -> None:
    changed = PARAPHRASE.replace("largest", "biggest")
    unrelated = [
        "How many episodes were there in the first season of the television series Wednesday?",
        "Write a short poem about autumn leaves falling slowly in a quiet park at dusk.",
        "Which countries border the Black Sea and what are their capital cities?",
    ]
    sig = signatures(pl.Series([PARAPHRASE, changed, *unrelated]))
    pairs = similar_pairs(sig, None, 0.8)
    assert pairs.select("query", "reference").rows() == [(0, 1)]
    assert pairs["jaccard"][0] >= 0.8


def _random_text(rng: np.random.Generator, words: int) -> list[str]:
    return [f"tok{i}" for i in rng.choice(50_000, size=words, replace=False)]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(60, 120))
def test_near_duplicate_detection_finds_edits_and_ignores_strangers(seed: int, length: int) -> None:
    # A one-word substitution in 60+ words keeps word-bigram Jaccard >= 0.93, far above 0.8.
    rng = np.random.default_rng(seed)
    words = _random_text(rng, length)
    edited = list(words)
    edited[int(rng.integers(0, length))] = "replacement"
    stranger = _random_text(rng, length)
    sig = signatures(pl.Series([" ".join(words), " ".join(edited), " ".join(stranger)]))
    found = similar_pairs(sig[[1, 2]], sig[[0]], 0.8)
    assert found.select("query", "reference").rows() == [(0, 0)]


def test_pairs_against_a_reference_report_row_numbers_of_both_sides() -> None:
    changed = PARAPHRASE.replace("census", "official")
    reference = signatures(pl.Series(["unrelated words entirely", PARAPHRASE]))
    query = signatures(pl.Series(["nothing alike at all", changed]))
    pairs = similar_pairs(query, reference, 0.8)
    assert pairs.select("query", "reference").rows() == [(1, 1)]


def test_an_index_remembers_pairs_and_answers_like_a_fresh_one() -> None:
    rng = np.random.default_rng(5)
    bases = [_random_text(rng, 30) for _ in range(40)]
    edits = [[*words[:-3], "one", "two", "three"] for words in bases]  # Jaccard ~0.8 to their base
    reference = signatures(pl.Series([" ".join(w) for w in bases]))
    query = signatures(pl.Series([" ".join(w) for w in [*edits[:25], *bases[30:]]]))
    index = SignatureIndex(reference)
    for threshold in (0.5, 0.8, 0.5):
        for rows in (slice(0, 20), slice(10, 35), slice(0, 35)):  # partly remembered, then all
            fresh = similar_pairs(query[rows], reference, threshold)
            assert similar_pairs(query[rows], index, threshold).equals(fresh)
    assert similar_pairs(query, index, 0.5).height > similar_pairs(query, index, 0.8).height > 0


def test_an_index_of_stored_slots_finds_exactly_the_pairs_of_full_signatures() -> None:
    rng = np.random.default_rng(6)
    bases = [_random_text(rng, 30) for _ in range(60)]
    edits = [[*words[:-3], "one", "two", "three"] for words in bases]
    texts = pl.Series([" ".join(w) for w in bases] + ["", "   "])  # texts without words never pair
    reference = signatures(texts)
    query = signatures(pl.Series([" ".join(w) for w in [*edits[:40], *bases[50:]]] + [""]))
    slots = SignatureIndex.from_slots(band_slots(reference), texts)
    assert slots.matrix is None and len(slots) == len(reference)
    for threshold in (0.5, 0.8, 0.9):
        assert similar_pairs(query, slots, threshold).equals(similar_pairs(query, reference, threshold))
    assert np.array_equal(slots.full(np.array([3, 1, 3])), reference[[3, 1, 3]])


def test_an_index_of_slots_needs_one_text_per_signature() -> None:
    with pytest.raises(DataContractError, match="2 stored signatures for 1 texts"):
        SignatureIndex.from_slots(band_slots(signatures(pl.Series(["a b", "c d"]))), pl.Series(["a b"]))
    later = SignatureIndex.from_slots(band_slots(signatures(pl.Series(["a b", "c d"]))))
    with pytest.raises(DataContractError, match="2 stored signatures for 3 texts"):
        later.attach_texts(pl.Series(["a b", "c d", "e f"]))


def test_an_index_of_slots_builds_its_tables_before_its_texts_arrive() -> None:
    rng = np.random.default_rng(7)
    texts = pl.Series([" ".join(_random_text(rng, 20)) for _ in range(30)])
    reference = signatures(texts)
    index = SignatureIndex.from_slots(band_slots(reference))
    index.prepare([0.5, 0.8])  # while the texts are still being read
    with pytest.raises(DataContractError, match="attach_texts"):
        index.full(np.array([0]))
    index.attach_texts(texts)
    assert similar_pairs(reference[:5], index, 0.8).equals(similar_pairs(reference[:5], reference, 0.8))


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8, 0.9, 0.95])
def test_lsh_bands_catch_pairs_at_the_threshold(threshold: float) -> None:
    bands, rows = lsh_bands(threshold, 128)
    assert bands * rows <= 128
    assert 1 - (1 - threshold**rows) ** bands >= 0.9
    # One more row per band would miss the recall target: the layout is the tightest allowed.
    more = rows + 1
    assert 1 - (1 - threshold**more) ** (128 // more) < 0.9


def test_lsh_bands_reject_a_threshold_outside_0_1() -> None:
    with pytest.raises(ConfigError, match="threshold"):
        lsh_bands(0.0, 128)


# ---- stored signatures ----------------------------------------------------------------------------------------


def test_signature_column_round_trips_through_parquet(tmp_path: pytest.TempPathFactory) -> None:
    frame = with_signatures(pl.DataFrame({"text": ["a b c", "d e f", None]}), "text")
    assert frame.schema["minhash"] == MINHASH.dtype
    path = f"{tmp_path}/items.parquet"
    frame.write_parquet(path)
    back = pl.read_parquet(path)
    assert (signature_matrix(back["minhash"]) == signatures(frame["text"])).all()


def test_signature_matrix_accepts_lists_and_rejects_other_widths() -> None:
    matrix = signatures(pl.Series(["one two three"]))
    as_list = signature_series(matrix).cast(pl.List(pl.UInt64))
    assert (signature_matrix(as_list) == matrix).all()
    with pytest.raises(DataContractError, match="128"):
        signature_matrix(pl.Series("minhash", [[1, 2, 3]], dtype=pl.List(pl.UInt64)))
    with pytest.raises(DataContractError, match="null"):
        signature_matrix(pl.Series("minhash", [None], dtype=MINHASH.dtype))


def test_scheme_rejects_unusable_settings_and_names_itself() -> None:
    assert MINHASH.name == "minhash-v1-p128-k2-s1"
    with pytest.raises(ConfigError, match="num_perm"):
        MinHashScheme(num_perm=4)
    with pytest.raises(ConfigError, match="shingle_size"):
        MinHashScheme(shingle_size=0)

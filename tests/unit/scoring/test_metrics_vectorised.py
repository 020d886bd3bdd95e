"""The column-at-once machinery behind the overlap metrics, against plain per-row references: token ids, clipped
n-gram counts, the numpy bit-parallel LCS (one word, several words, chunked, and the per-row fallback), batching."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

import polars as pl
import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz
from rouge_score import rouge_scorer

# pytest puts this directory on sys.path (rootdir-relative test modules, no packages): the shared references.
from test_metrics_reference import frame_values, lcs_table, squad_f1

from tracewatch.scoring.metrics import Bleu, LevenshteinRatio, RougeL, TokenF1, _lcs
from tracewatch.scoring.metrics._base import ArrayMetric
from tracewatch.scoring.metrics._lcs import lcs_length, lcs_lengths
from tracewatch.scoring.metrics._ngrams import clipped_matches
from tracewatch.scoring.metrics._symbols import char_sequences, token_sequences

ROUGE = rouge_scorer.RougeScorer(["rougeL"])

# Few distinct tokens, so texts repeat them (clipping) and share long subsequences (multi-word LCS columns).
REPEATED = st.lists(
    st.sampled_from(["a", "the", "x", "x", "Y", "é", "東京", "1,0", "3.14", "cat", "Cat!", "--"]), max_size=90
).map(" ".join)
# Any text, including empty strings, every Unicode category and odd whitespace.
ANY_TEXT = st.text(max_size=60)
PAIRS = st.lists(
    st.tuples(st.one_of(REPEATED, ANY_TEXT), st.one_of(REPEATED, ANY_TEXT)), min_size=1, max_size=12
)


@contextmanager
def lcs_path(path: str) -> Iterator[None]:
    """Force the numpy path (in small chunks) or the per-row big-integer path of `lcs_lengths`."""
    rows_per_word = 0 if path == "numpy" else 10**9
    with (
        mock.patch.object(_lcs, "_ROWS_PER_WORD", rows_per_word),
        mock.patch.object(_lcs, "_TABLE_CELLS", 50),
    ):
        yield


def small_batches(metric: ArrayMetric) -> ArrayMetric:
    metric.batch_rows = 3  # type: ignore[misc]  # several batches even for a handful of rows
    return metric


@pytest.mark.parametrize("path", ["numpy", "python"])
@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text("ab c", max_size=200), st.text("ab c", max_size=200)), max_size=10))
def test_lcs_lengths_equal_the_dynamic_programming_table(path: str, pairs: list[tuple[str, str]]) -> None:
    a = char_sequences(pl.Series([x for x, _ in pairs], dtype=pl.String))
    b = char_sequences(pl.Series([y for _, y in pairs], dtype=pl.String))
    with lcs_path(path):
        got = lcs_lengths(a, b)
    assert got.tolist() == [lcs_table(x, y) for x, y in pairs]


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 127, 128, 129, 300])
def test_lcs_lengths_at_word_boundaries(size: int) -> None:
    # Identical, shifted and disjoint texts around the 64-bit word edges, many rows so numpy takes them.
    texts = [("ab" * size)[:size], ("ba" * size)[:size], "c" * size, ("abc" * size)[: size // 2]]
    pairs = [(x, y) for x in texts for y in texts] * 40
    got = lcs_lengths(
        char_sequences(pl.Series([x for x, _ in pairs])), char_sequences(pl.Series([y for _, y in pairs]))
    )
    assert got.tolist() == [lcs_length(x, y) for x, y in pairs]
    assert got[0] == size  # identical text: the whole text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(REPEATED, ANY_TEXT), st.one_of(REPEATED, ANY_TEXT)), max_size=8))
def test_token_ids_are_equal_exactly_for_equal_tokens(pairs: list[tuple[str, str]]) -> None:
    left, right = (pl.Series([p[i] for p in pairs], dtype=pl.String) for i in (0, 1))
    a, b = token_sequences(left, right)
    tokens = [t for text in left.to_list() + right.to_list() for t in text.split()]
    ids = [*a.codes.tolist(), *b.codes.tolist()]
    assert a.lengths.tolist() == [len(t.split()) for t in left.to_list()]
    assert b.lengths.tolist() == [len(t.split()) for t in right.to_list()]
    assert len(ids) == len(tokens)
    assert len(set(zip(tokens, ids, strict=True))) == len(set(tokens)) == len(set(ids))


def reference_matches(hyp: list[str], ref: list[str], order: int) -> int:
    grams = [Counter(zip(*[words[i:] for i in range(order)], strict=False)) for words in (hyp, ref)]
    return sum((grams[0] & grams[1]).values())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(REPEATED, REPEATED), max_size=10))
def test_clipped_matches_equal_counter_intersections(pairs: list[tuple[str, str]]) -> None:
    hyp, ref = token_sequences(*(pl.Series([p[i] for p in pairs], dtype=pl.String) for i in (0, 1)))
    got = clipped_matches(hyp, ref, 4)
    assert got.shape == (len(pairs), 4)
    expected = [[reference_matches(h.split(), r.split(), n) for n in range(1, 5)] for h, r in pairs]
    assert got.tolist() == expected


@pytest.mark.parametrize("path", ["numpy", "python"])
@settings(max_examples=150, deadline=None)
@given(PAIRS)
def test_overlap_metrics_equal_their_references_in_small_batches(
    path: str, pairs: list[tuple[str, str]]
) -> None:
    with lcs_path(path):
        assert frame_values(small_batches(LevenshteinRatio()), pairs) == pytest.approx(
            [fuzz.ratio(o, e) / 100 for o, e in pairs], abs=1e-12
        )
        assert frame_values(small_batches(RougeL()), pairs) == pytest.approx(
            [ROUGE.score(e, o)["rougeL"].fmeasure for o, e in pairs], abs=1e-12
        )
    assert frame_values(small_batches(TokenF1()), pairs) == pytest.approx(
        [squad_f1(o, e) for o, e in pairs], abs=1e-12
    )
    assert frame_values(small_batches(Bleu()), pairs) == pytest.approx(
        [sacrebleu.sentence_bleu(o, [e]).score / 100 for o, e in pairs], abs=1e-12
    )


def test_tokens_split_on_exactly_the_characters_python_splits_on() -> None:
    # Every code point between two letters: one token or two, as str.split() says (surrogates cannot be text).
    texts = [f"a{chr(c)}b" for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    (tokens,) = token_sequences(pl.Series(texts))
    assert tokens.lengths.tolist() == [len(t.split()) for t in texts]

"""Overlap metrics between output and expected: token F1, BLEU, ROUGE-L and the Levenshtein (indel) ratio.

Tokenisation is vectorised where the reference tokenizer allows; the counting runs per row in Python.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, TypeVar

import polars as pl

from tracewatch.scoring.metrics._base import TEXT, RowMetric
from tracewatch.scoring.metrics._lcs import lcs_length
from tracewatch.scoring.metrics._text import bleu_text, rouge_text, squad_normalise

_T = TypeVar("_T", bound=Hashable)

_TEXT_PAIR: Mapping[str, pl.DataType] = {"output": TEXT, "expected": TEXT}


def _clipped_overlap(found: Counter[_T], reference: Counter[_T]) -> int:
    """Size of the multiset intersection: each found item counted at most as often as the reference has it."""
    return sum(map(min, found.values(), map(reference.__getitem__, found)))


def _f1(overlap: int, predicted: int, reference: int) -> float:
    if overlap == 0:
        return 0.0
    precision, recall = overlap / predicted, overlap / reference
    return 2 * precision * recall / (precision + recall)


class TokenF1(RowMetric):
    """SQuAD v1.1 token F1: bag-of-words overlap of the normalised output and expected (0.0 if either is empty)."""

    name = "token_f1"
    fields = _TEXT_PAIR

    def prepare(self) -> Sequence[pl.Expr]:
        return [squad_normalise(pl.col(f)).alias(f) for f in self.fields]

    def score_values(self, *values: Any) -> tuple[float, str]:
        output, expected = values[0].split(), values[1].split()
        overlap = _clipped_overlap(Counter(output), Counter(expected))
        return _f1(overlap, len(output), len(expected)), (
            f"{overlap} shared of {len(output)} output / {len(expected)} expected tokens"
        )


class RougeL(RowMetric):
    """ROUGE-L F-measure as rouge_score's RougeScorer(['rougeL']) computes it (its tokenizer, no stemming)."""

    name = "rouge_l"
    fields = _TEXT_PAIR

    def prepare(self) -> Sequence[pl.Expr]:
        return [rouge_text(pl.col(f)).alias(f) for f in self.fields]

    def score_values(self, *values: Any) -> tuple[float, str]:
        output, expected = values[0].split(), values[1].split()
        lcs = lcs_length(output, expected)
        return _f1(lcs, len(output), len(expected)), (
            f"LCS {lcs} of {len(output)} output / {len(expected)} expected tokens"
        )


class LevenshteinRatio(RowMetric):
    """Normalised indel similarity 1 - indel_distance / (len(a) + len(b)) over characters, i.e. rapidfuzz's
    `fuzz.ratio / 100`; two empty strings are identical (1.0)."""

    name = "levenshtein_ratio"
    fields = _TEXT_PAIR

    def score_values(self, *values: Any) -> tuple[float, str]:
        output, expected = values
        total = len(output) + len(expected)
        if total == 0:
            return 1.0, "both empty"
        lcs = lcs_length(output, expected)
        return 2 * lcs / total, f"indel distance {total - 2 * lcs} over {total} characters"


_MAX_ORDER = 4


def _ngram_matches(hyp: Sequence[str], ref: Sequence[str]) -> list[int]:
    """Clipped n-gram matches for n = 1..4. An n-gram can only match where its (n-1)-gram prefix matched, so
    each order looks only at the surviving start positions: cheap when outputs and references differ."""
    # One table for every order: unigrams are str keys and longer n-grams tuples, so orders never collide.
    ref_grams: Counter[Hashable] = Counter(ref)
    for n in range(2, _MAX_ORDER + 1):
        ref_grams.update(zip(*[ref[i:] for i in range(n)], strict=False))
    correct = [0] * _MAX_ORDER
    starts = [i for i, token in enumerate(hyp) if token in ref_grams]
    grams: list[Hashable] = [hyp[i] for i in starts]
    for n in range(1, _MAX_ORDER + 1):
        if n > 1:
            starts = [i for i in starts if i + n <= len(hyp)]
            candidates = [tuple(hyp[i : i + n]) for i in starts]
            starts = [i for i, gram in zip(starts, candidates, strict=True) if gram in ref_grams]
            grams = [gram for gram in candidates if gram in ref_grams]
        if not grams:
            break
        correct[n - 1] = _clipped_overlap(Counter(grams), ref_grams)
    return correct


def sentence_bleu(hyp: Sequence[str], ref: Sequence[str]) -> float:
    """sacrebleu's `sentence_bleu(output, [expected]).score / 100` from 13a tokens, with its defaults:
    case kept, exp smoothing (mteval's NIST method 3), effective order."""
    correct = _ngram_matches(hyp, ref)
    if not any(correct):
        return 0.0
    brevity = 1.0 if len(hyp) >= len(ref) else math.exp(1 - len(ref) / len(hyp))
    log_sum, order, smooth = 0.0, 0, 1.0
    for n in range(_MAX_ORDER):
        total = len(hyp) - n
        if total <= 0:
            break
        order = n + 1
        if correct[n] == 0:
            smooth *= 2
            log_sum += math.log(1 / (smooth * total))
        else:
            log_sum += math.log(correct[n] / total)
    return brevity * math.exp(log_sum / order)


class Bleu(RowMetric):
    """Sentence-level BLEU in [0, 1], equal to sacrebleu's default `sentence_bleu` score / 100."""

    name = "bleu"
    fields = _TEXT_PAIR

    def prepare(self) -> Sequence[pl.Expr]:
        return [bleu_text(pl.col(f)).alias(f) for f in self.fields]

    def score_values(self, *values: Any) -> tuple[float, str]:
        output, expected = values[0].split(), values[1].split()
        return sentence_bleu(output, expected), f"{len(output)} output / {len(expected)} expected 13a tokens"

"""Overlap metrics between output and expected: token F1, BLEU, ROUGE-L and the Levenshtein (indel) ratio.

All four run over whole columns: polars normalises and tokenises the text (`_text`), tokens become exact integer
ids (`_symbols`), and numpy counts clipped n-gram matches (`_ngrams`) or runs the bit-parallel LCS (`_lcs`) for
every row at once.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import polars as pl

from tracewatch.scoring.metrics._base import TEXT, ArrayMetric
from tracewatch.scoring.metrics._lcs import lcs_lengths
from tracewatch.scoring.metrics._ngrams import clipped_matches
from tracewatch.scoring.metrics._symbols import WORD_TOKEN, Sequences, char_sequences, token_sequences
from tracewatch.scoring.metrics._text import ROUGE_TOKEN, bleu_text, rouge_text, squad_words

_TEXT_PAIR: Mapping[str, pl.DataType] = {"output": TEXT, "expected": TEXT}


def _f1(overlap: np.ndarray, predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Harmonic mean of overlap/predicted and overlap/reference, 0.0 where nothing overlaps (as the references)."""
    some = overlap > 0
    precision = np.divide(overlap, predicted, out=np.zeros(overlap.size), where=some)
    recall = np.divide(overlap, reference, out=np.zeros(overlap.size), where=some)
    return np.asarray(
        np.divide(2 * precision * recall, precision + recall, out=np.zeros(overlap.size), where=some)
    )


def _explain(template: str, **counts: np.ndarray) -> pl.Series:
    """`template` ("{} of {}") filled row by row from integer columns, in polars."""
    return pl.DataFrame(counts).select(pl.format(template, *counts)).to_series()


class _TokenPairMetric(ArrayMetric):
    """Output and expected as tokens: the text after `prepare`, split into the matches of `token`."""

    fields = _TEXT_PAIR
    token: ClassVar[str] = WORD_TOKEN

    @abstractmethod
    def prepare(self, text: pl.Expr) -> pl.Expr:
        """The reference's normalisation of one text column, up to its tokenisation."""

    def tokens(self, inputs: pl.DataFrame) -> tuple[Sequences, Sequences]:
        prepared = inputs.select(self.prepare(pl.col(f)).alias(f) for f in self.fields)
        output, expected = token_sequences(prepared["output"], prepared["expected"], token=self.token)
        return output, expected

    def f1_scores(
        self, overlap: np.ndarray, output: Sequences, expected: Sequences, what: str
    ) -> tuple[np.ndarray, pl.Series]:
        """F1 of `overlap` tokens against both sides; the explanation is `what` (a "{}" for the overlap) and
        " of <n> output / <m> expected tokens"."""
        return _f1(overlap, output.lengths, expected.lengths), _explain(
            f"{what} of {{}} output / {{}} expected tokens",
            overlap=overlap,
            output=output.lengths,
            expected=expected.lengths,
        )


class TokenF1(_TokenPairMetric):
    """SQuAD v1.1 token F1: bag-of-words overlap of the normalised output and expected (0.0 if either is empty)."""

    name = "token_f1"

    def prepare(self, text: pl.Expr) -> pl.Expr:
        return squad_words(text)

    def score_columns(self, inputs: pl.DataFrame) -> tuple[np.ndarray, pl.Series]:
        output, expected = self.tokens(inputs)
        return self.f1_scores(clipped_matches(output, expected, 1)[:, 0], output, expected, "{} shared")


class RougeL(_TokenPairMetric):
    """ROUGE-L F-measure as rouge_score's RougeScorer(['rougeL']) computes it (its tokenizer, no stemming)."""

    name = "rouge_l"
    token = ROUGE_TOKEN

    def prepare(self, text: pl.Expr) -> pl.Expr:
        return rouge_text(text)

    def score_columns(self, inputs: pl.DataFrame) -> tuple[np.ndarray, pl.Series]:
        output, expected = self.tokens(inputs)
        return self.f1_scores(lcs_lengths(output, expected), output, expected, "LCS {}")


class LevenshteinRatio(ArrayMetric):
    """Normalised indel similarity 1 - indel_distance / (len(a) + len(b)) over characters, i.e. rapidfuzz's
    `fuzz.ratio / 100`; two empty strings are identical (1.0)."""

    name = "levenshtein_ratio"
    fields = _TEXT_PAIR

    def score_columns(self, inputs: pl.DataFrame) -> tuple[np.ndarray, pl.Series]:
        output, expected = char_sequences(inputs["output"]), char_sequences(inputs["expected"])
        lcs = lcs_lengths(output, expected)
        total = output.lengths + expected.lengths
        ratio = np.divide(2 * lcs, total, out=np.ones(total.size), where=total > 0)
        explanation = pl.DataFrame({"distance": total - 2 * lcs, "total": total}).select(
            pl.when(pl.col("total") == 0)
            .then(pl.lit("both empty"))
            .otherwise(pl.format("indel distance {} over {} characters", "distance", "total"))
        )
        return ratio, explanation.to_series()


_MAX_ORDER = 4


def sentence_bleu(matches: np.ndarray, hyp_len: np.ndarray, ref_len: np.ndarray) -> np.ndarray:
    """sacrebleu's `sentence_bleu(output, [expected]).score / 100` per row, from the clipped n-gram matches
    (rows x 4) and the 13a token counts, with its defaults: exp smoothing (mteval's NIST method 3), effective
    order. The same arithmetic, in the same order, as sacrebleu's, over arrays."""
    hyp = hyp_len.astype(np.float64)
    safe_hyp = np.maximum(hyp, 1.0)
    brevity = np.where(hyp >= ref_len, 1.0, np.exp(1 - ref_len / safe_hyp))
    log_sum, smooth = np.zeros(hyp.size), np.ones(hyp.size)
    order = np.zeros(hyp.size)
    for n in range(_MAX_ORDER):
        total = hyp - n
        active = total > 0
        safe_total = np.where(active, total, 1.0)
        correct = matches[:, n]
        zero = correct == 0
        smooth = np.where(active & zero, smooth * 2, smooth)
        term = np.where(zero, np.log(1 / (smooth * safe_total)), np.log(np.maximum(correct, 1) / safe_total))
        log_sum = np.where(active, log_sum + term, log_sum)
        order = np.where(active, n + 1, order)
    score = brevity * np.exp(log_sum / np.maximum(order, 1))
    return np.where(matches.any(axis=1), score, 0.0)


class Bleu(_TokenPairMetric):
    """Sentence-level BLEU in [0, 1], equal to sacrebleu's default `sentence_bleu` score / 100."""

    name = "bleu"

    def prepare(self, text: pl.Expr) -> pl.Expr:
        return bleu_text(text)

    def score_columns(self, inputs: pl.DataFrame) -> tuple[np.ndarray, pl.Series]:
        output, expected = self.tokens(inputs)
        matches = clipped_matches(output, expected, _MAX_ORDER)
        return sentence_bleu(matches, output.lengths, expected.lengths), _explain(
            "{} output / {} expected 13a tokens", output=output.lengths, expected=expected.lengths
        )

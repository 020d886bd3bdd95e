"""Every overlap/normalisation metric against its reference implementation, on fixed and random text."""

from __future__ import annotations

import polars as pl
import pytest
import sacrebleu
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz import fuzz
from rouge_score import rouge_scorer

from tests.support.squad_official import f1_score as squad_f1
from tests.support.squad_official import normalize_answer as squad_normalize_answer
from tracewatch.scoring.metrics import Bleu, ExactMatch, LevenshteinRatio, RougeL, TokenF1
from tracewatch.scoring.metrics._base import Metric
from tracewatch.scoring.metrics._lcs import lcs_length

ROUGE = rouge_scorer.RougeScorer(["rougeL"])

PAIRS: list[tuple[str, str]] = [
    ("The cat sat on the mat.", "the cat sat on the mat"),
    ("Paris", "paris, France"),
    ("An apple a day", "apple day"),
    ("", ""),
    ("", "something"),
    ("something", ""),
    ("   ", "the a an"),
    ("It's 3.14, not 3,14!", "its 3.14 not 314"),
    ("Hello-world & <tags> &amp; more", "hello world and tags more"),
    ("naïve café résumé", "naive cafe resume"),
    ("ΣΊΣΥΦΟΣ ran", "σίσυφος ran"),
    ("line one\nline two\n", "line one line two"),
    ("1,000 people in 2-3 days", "1000 people in 2 - 3 days"),
    ("The quick brown fox jumps over the lazy dog", "A quick brown dog jumps over the lazy fox"),
    ("the the the the", "the cat"),
    ("Answer: 42", "42"),
    ("東京は日本の首都です", "東京は首都"),
    ("tabs\tand\x1cfile\x1fseparators", "tabs and file separators"),
    ("snake_case and under_score", "snake case and under score"),
    ("Dr. Smith's 2nd-floor office (room #12).", "dr smiths 2ndfloor office room 12"),
]

WORDS = st.sampled_from(
    [
        "the",
        "a",
        "An",
        "cat",
        "Cat",
        "sat",
        "mat",
        "on",
        "dog",
        "3.14",
        "1,000",
        "2-3",
        "x",
        "é",
        "naïve",
        "東京",
    ]
)
SEPARATORS = st.sampled_from([" ", "  ", ", ", ". ", "-", "\n", "!", "'", "&amp;", "\t", "(", ")"])
SENTENCES = st.lists(st.tuples(WORDS, SEPARATORS), max_size=25).map(lambda p: "".join(w + s for w, s in p))


def frame_values(metric: Metric, pairs: list[tuple[str, str]]) -> list[float | None]:
    frame = pl.DataFrame({"output": [o for o, _ in pairs], "expected": [e for _, e in pairs]})
    scores = metric.score_frame(frame)
    assert scores["status"].to_list() == ["scored"] * len(pairs)
    return scores["value"].to_list()


def test_exact_match_equals_squad_on_fixed_pairs() -> None:
    expected = [float(squad_normalize_answer(o) == squad_normalize_answer(e)) for o, e in PAIRS]
    assert frame_values(ExactMatch(), PAIRS) == expected


def test_token_f1_equals_squad_on_fixed_pairs() -> None:
    expected = [squad_f1(o, e) for o, e in PAIRS]
    assert frame_values(TokenF1(), PAIRS) == pytest.approx(expected, abs=1e-12)


def test_bleu_equals_sacrebleu_sentence_bleu_on_fixed_pairs() -> None:
    expected = [sacrebleu.sentence_bleu(o, [e]).score / 100 for o, e in PAIRS]
    assert frame_values(Bleu(), PAIRS) == pytest.approx(expected, abs=1e-12)


def test_rouge_l_equals_rouge_score_on_fixed_pairs() -> None:
    expected = [ROUGE.score(e, o)["rougeL"].fmeasure for o, e in PAIRS]
    assert frame_values(RougeL(), PAIRS) == pytest.approx(expected, abs=1e-12)


def test_levenshtein_ratio_equals_rapidfuzz_ratio_on_fixed_pairs() -> None:
    expected = [fuzz.ratio(o, e) / 100 for o, e in PAIRS]
    assert frame_values(LevenshteinRatio(), PAIRS) == pytest.approx(expected, abs=1e-12)


def test_published_values() -> None:
    # Hand-checkable anchors besides the libraries: identical text is perfect, disjoint text is zero.
    assert frame_values(Bleu(), [("the cat sat on the mat", "the cat sat on the mat")]) == pytest.approx(
        [1.0]
    )
    assert frame_values(Bleu(), [("dog", "the cat sat on the mat")]) == [0.0]
    # SQuAD F1 example: 2 shared of 3 predicted and 4 gold tokens -> P=2/3, R=1/2, F1=4/7.
    assert frame_values(TokenF1(), [("big red car", "the big red fast bus")]) == pytest.approx([4 / 7])
    # rapidfuzz's documented example: fuzz.ratio("this is a test", "this is a test!") == 96.55...
    assert frame_values(LevenshteinRatio(), [("this is a test", "this is a test!")]) == pytest.approx(
        [0.9655172413793104]
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(SENTENCES, SENTENCES), min_size=1, max_size=5))
def test_text_metrics_match_their_references_on_random_sentences(pairs: list[tuple[str, str]]) -> None:
    assert frame_values(ExactMatch(), pairs) == [
        float(squad_normalize_answer(o) == squad_normalize_answer(e)) for o, e in pairs
    ]
    assert frame_values(TokenF1(), pairs) == pytest.approx([squad_f1(o, e) for o, e in pairs], abs=1e-12)
    assert frame_values(Bleu(), pairs) == pytest.approx(
        [sacrebleu.sentence_bleu(o, [e]).score / 100 for o, e in pairs], abs=1e-12
    )
    assert frame_values(RougeL(), pairs) == pytest.approx(
        [ROUGE.score(e, o)["rougeL"].fmeasure for o, e in pairs], abs=1e-12
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=40), st.text(max_size=40)), min_size=1, max_size=4))
def test_text_metrics_match_their_references_on_any_text(pairs: list[tuple[str, str]]) -> None:
    # Any Unicode: whitespace kinds, case mapping and regex classes must agree with Python's.
    assert frame_values(ExactMatch(), pairs) == [
        float(squad_normalize_answer(o) == squad_normalize_answer(e)) for o, e in pairs
    ]
    assert frame_values(TokenF1(), pairs) == pytest.approx([squad_f1(o, e) for o, e in pairs], abs=1e-12)
    assert frame_values(Bleu(), pairs) == pytest.approx(
        [sacrebleu.sentence_bleu(o, [e]).score / 100 for o, e in pairs], abs=1e-12
    )
    assert frame_values(RougeL(), pairs) == pytest.approx(
        [ROUGE.score(e, o)["rougeL"].fmeasure for o, e in pairs], abs=1e-12
    )


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_levenshtein_ratio_equals_rapidfuzz_on_any_text(a: str, b: str) -> None:
    assert frame_values(LevenshteinRatio(), [(a, b)]) == pytest.approx([fuzz.ratio(a, b) / 100], abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(alphabet="abc ", max_size=150), st.text(alphabet="abc ", max_size=150)), max_size=6
    )
)
def test_levenshtein_ratio_equals_rapidfuzz_on_long_repetitive_text(pairs: list[tuple[str, str]]) -> None:
    # A small alphabet makes long common subsequences: the multi-word carries of the bit-parallel LCS.
    assert frame_values(LevenshteinRatio(), pairs) == pytest.approx(
        [fuzz.ratio(a, b) / 100 for a, b in pairs], abs=1e-12
    )


def lcs_table(a: str, b: str) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        previous_diagonal = 0
        for j, y in enumerate(b, start=1):
            current = row[j]
            row[j] = previous_diagonal + 1 if x == y else max(row[j], row[j - 1])
            previous_diagonal = current
    return row[-1]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="xyz", max_size=100), st.text(alphabet="xyz", max_size=100))
def test_bit_parallel_lcs_equals_the_dynamic_programming_table(a: str, b: str) -> None:
    assert lcs_length(a, b) == lcs_table(a, b)

"""SQuAD exact match and token F1 against the official v1.1 script on Unicode text: Python `re`'s word class
decides where `\\b(a|an|the)\\b` matches, so marks, joiners, variation selectors, superscripts, fractions, circled
forms, CJK, right-to-left text and decomposed (NFD) letters must not move an article boundary.

Reference: the official script, `tests/support/squad_official.py` (https://rajpurkar.github.io/SQuAD-explorer/)."""

from __future__ import annotations

import re
import sys
import unicodedata

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.squad_official import exact_match_score, f1_score
from tracewatch.scoring.metrics import ExactMatch, TokenF1
from tracewatch.scoring.metrics._text import python_word_class

WORDS = ["Antonín", "Dvořák", "Ångström", "café", "naïve", "Ωmega", "Søren", "Zoë", "crème brûlée", "cat"]
ARTICLES = st.sampled_from(["a", "an", "the", "A", "An", "THE", "The"])
SPECIAL = st.sampled_from(
    [
        "\u0301",  # combining acute
        "\u030a",  # combining ring above
        "\u20dd",  # combining enclosing circle (Me)
        "\u0903",  # Devanagari visarga (Mc)
        "\u200d",  # zero-width joiner
        "\u200c",  # zero-width non-joiner
        "\u2060",  # word joiner
        "\ufe0f",  # variation selector 16
        "\U000e0100",  # variation selector 17
        "¹²³",  # superscript digits (No)
        "ⁿⁱ",  # modifier letters (Lm)
        "₂",  # subscript
        "½¼⅓",  # vulgar fractions (No)
        "Ⅻ",  # roman numeral (Nl)
        "ⓐⒶ",  # circled letters (So)
        "①⑳⓪",  # circled digits (No)
        "東京",  # CJK
        "日本の首都",
        "שלום",  # Hebrew
        "مرحبا",  # Arabic
        "\u200f",  # right-to-left mark
        "\u202e",  # right-to-left override
        "٣",  # Arabic-Indic digit (Nd)
        "_",
        "👍🏽",  # emoji with skin-tone modifier
        "İ",  # lowercases to two code points
    ]
)
SEPARATORS = st.sampled_from(["", " ", "  ", "-", ".", ",", "\u00a0", "\t", "\u3000", "\n", "'"])


def nfc_and_nfd() -> st.SearchStrategy[str]:
    """The same words composed and decomposed: NFD puts a combining mark after the base letter."""
    return st.builds(unicodedata.normalize, st.sampled_from(["NFC", "NFD"]), st.sampled_from(WORDS))


PIECES = st.one_of(ARTICLES, ARTICLES, SPECIAL, nfc_and_nfd(), st.characters(categories=["Mn", "Mc", "Me"]))
TEXT = st.lists(st.tuples(PIECES, SEPARATORS), max_size=12).map(lambda p: "".join(w + s for w, s in p))


def scores(metric: ExactMatch | TokenF1, pairs: list[tuple[str, str]]) -> list[float | None]:
    frame = pl.DataFrame({"output": [o for o, _ in pairs], "expected": [e for _, e in pairs]})
    result = metric.score_frame(frame)
    assert result["status"].to_list() == ["scored"] * len(pairs)
    return result["value"].to_list()


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=6))
def test_exact_match_and_token_f1_equal_the_official_script_on_unicode_text(
    pairs: list[tuple[str, str]],
) -> None:
    assert scores(ExactMatch(), pairs) == [exact_match_score(o, e) for o, e in pairs]
    assert scores(TokenF1(), pairs) == pytest.approx([f1_score(o, e) for o, e in pairs], abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(nfc_and_nfd(), nfc_and_nfd()), min_size=1, max_size=6), st.data())
def test_nfc_and_nfd_pairs_with_articles_equal_the_official_script(
    pairs: list[tuple[str, str]], data: st.DataObject
) -> None:
    articled = [(f"{data.draw(ARTICLES)} {o}", f"{e} {data.draw(ARTICLES)}") for o, e in pairs]
    assert scores(ExactMatch(), articled) == [exact_match_score(o, e) for o, e in articled]
    assert scores(TokenF1(), articled) == pytest.approx([f1_score(o, e) for o, e in articled], abs=1e-12)


def test_the_reported_pairs() -> None:
    # The cases: SQuAD drops the "a" between the combining marks of NFD "Dvořák" ("a\u0301" is a word of
    # its own for Python's \w), and keeps articles that touch superscripts or circled digits.
    nfd = unicodedata.normalize("NFD", "Antonín Dvořák"), unicodedata.normalize("NFD", "Dvořák")
    assert f1_score(*nfd) == pytest.approx(0.8)
    assert scores(TokenF1(), [nfd]) == pytest.approx([0.8])
    pairs = [("a²", "²"), ("①the", "①"), ("ⓐ a", "ⓐ"), ("a\u200db", "\u200db"), ("a an the", "")]
    assert (
        scores(ExactMatch(), pairs)
        == [exact_match_score(o, e) for o, e in pairs]
        == [0.0, 0.0, 1.0, 1.0, 1.0]
    )


def test_the_word_class_is_pythons_on_every_code_point() -> None:
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    ours = pl.Series(chars).str.contains(f"^[{python_word_class()}]$").to_list()
    theirs = [re.fullmatch(r"\w", c) is not None for c in chars]
    assert ours == theirs

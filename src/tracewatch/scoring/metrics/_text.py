"""Text normalisation and tokenisation, each matching the reference implementation its metric is checked against.

The regex work is vectorised in polars; each returns text whose whitespace-separated tokens (as Python's
`str.split()` makes them) are the reference's tokens, except ROUGE's, which are the runs of `ROUGE_TOKEN`."""

from __future__ import annotations

import re
import sys
from functools import cache

import polars as pl

# string.punctuation as a regex class; Python's str.split() also splits on \x1c-\x1f, which Rust's \s does not.
_PUNCTUATION = r"[!-/:-@\[-`{-~]"
_WHITESPACE = r"[\s\x1c-\x1f]+"
# Surrogates cannot occur in polars strings (UTF-8) and Python cannot join them into text, so they are left out.
_CODE_POINT_BLOCKS = ((0, 0xD800), (0xE000, sys.maxunicode + 1))


@cache
def python_word_class() -> str:
    """Python `re`'s `\\w` for str patterns (`str.isalnum()` or "_", in the running Python's Unicode version) as
    the body of a Rust-regex class: code-point ranges.

    Rust's `\\w` is not Python's (it counts combining marks, joiners, variation selectors and circled letters;
    Python counts superscripts, fractions and circled digits), so SQuAD's `\\b` is rebuilt on this class. The
    ranges are read off Python's own regex engine, one pass over every code point, once a process."""
    ranges: list[str] = []
    for start, stop in _CODE_POINT_BLOCKS:
        block = "".join(map(chr, range(start, stop)))
        ranges.extend(
            rf"\x{{{start + m.start():X}}}-\x{{{start + m.end() - 1:X}}}" for m in re.finditer(r"\w+", block)
        )
    return "".join(ranges)


@cache
def _article() -> str:
    """`\\b(a|an|the)\\b` without look-around (Rust regex has none): the article with the non-word character or
    text edge on each side captured, to be put back around the replacing space."""
    separator = f"[^{python_word_class()}]"
    return f"(^|{separator})(?:a|an|the)({separator}|$)"


def squad_words(text: pl.Expr) -> pl.Expr:
    """SQuAD v1.1 `normalize_answer` up to its whitespace fix: lowercase, drop ASCII punctuation, drop a/an/the.
    Its whitespace-separated tokens are those of the normalised answer.

    Word boundaries are Python's (`python_word_class`). Lowercasing is polars' (Rust's Unicode tables, 16 in
    the polars we ship) where the reference uses Python's (Unicode 14 in Python 3.11): about 55 letters added
    since have case mappings only one side knows, so text with them can normalise differently."""
    lowered = text.str.to_lowercase().str.replace_all(_PUNCTUATION, "")
    # Adjacent articles share the separator between them and a match consumes it, so one pass removes every
    # other article of a run ("a an the"); the second removes the rest. The separators are kept, so the second
    # pass sees the same neighbours the reference's single pass saw.
    return lowered.str.replace_all(_article(), "${1} ${2}").str.replace_all(_article(), "${1} ${2}")


def squad_normalise(text: pl.Expr) -> pl.Expr:
    """SQuAD v1.1 `normalize_answer`: lowercase, drop ASCII punctuation, drop a/an/the, collapse whitespace.
    The same caveat on newer letters' case mapping as `squad_words`."""
    return squad_words(text).str.replace_all(_WHITESPACE, " ").str.strip_chars(" ")


ROUGE_TOKEN = r"[a-z0-9]+"


def rouge_text(text: pl.Expr) -> pl.Expr:
    """rouge_score's default tokenizer without stemming, up to the split: lowercase. Its tokens are then the runs
    of `ROUGE_TOKEN` (it turns every other run into a space and splits on whitespace)."""
    return text.str.to_lowercase()


# sacrebleu's first rule pads every char of [{-~ [-` space-& (-+ :-@ /] with spaces. We leave the space itself out
# of the class (10x faster: spaces are the commonest match); padding a space only adds spaces, which neither the
# later rules (a space is a non-digit either way) nor the final whitespace split can see.
_13A_RULES = (
    (r"([\{-\~\[-\`!-\&\(-\+\:-\@\/])", " ${1} "),
    (r"([^0-9])([\.,])", "${1} ${2} "),
    (r"([\.,])([^0-9])", " ${1} ${2}"),
    (r"([0-9])(-)", "${1} ${2} "),
)
_13A_LITERALS = (
    ("<skipped>", ""),
    ("-\n", ""),
    ("\n", " "),
    ("&quot;", '"'),
    ("&amp;", "&"),
    ("&lt;", "<"),
    ("&gt;", ">"),
)


def bleu_text(text: pl.Expr) -> pl.Expr:
    """sacrebleu's default `13a` tokenizer (mteval-v13a), applied as BLEU.sentence_score does (after rstrip),
    as polars string operations up to the final whitespace split: the same rules in the same order."""
    line = text.str.replace(_WHITESPACE + r"\z", "")
    for old, new in _13A_LITERALS:
        line = line.str.replace_all(old, new, literal=True)
    line = pl.concat_str([pl.lit(" "), line, pl.lit(" ")])
    for pattern, replacement in _13A_RULES:
        line = line.str.replace_all(pattern, replacement)
    return line

"""Text normalisation and tokenisation, each matching the reference implementation its metric is checked against.

The regex work is vectorised in polars; each returns text whose Python `str.split()` gives the reference's
tokens (splitting in Python is far cheaper than converting a polars list column to Python lists)."""

from __future__ import annotations

import polars as pl

# string.punctuation as a regex class; Python's str.split() also splits on \x1c-\x1f, which Rust's \s does not.
_PUNCTUATION = r"[!-/:-@\[-`{-~]"
_ARTICLES = r"\b(a|an|the)\b"
_WHITESPACE = r"[\s\x1c-\x1f]+"


def squad_normalise(text: pl.Expr) -> pl.Expr:
    """SQuAD v1.1 `normalize_answer`: lowercase, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
    return (
        text.str.to_lowercase()
        .str.replace_all(_PUNCTUATION, "")
        .str.replace_all(_ARTICLES, " ")
        .str.replace_all(_WHITESPACE, " ")
        .str.strip_chars(" ")
    )


def rouge_text(text: pl.Expr) -> pl.Expr:
    """rouge_score's default tokenizer without stemming, up to the split: lowercase, non-[a-z0-9] runs to spaces."""
    return text.str.to_lowercase().str.replace_all(r"[^a-z0-9]+", " ")


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

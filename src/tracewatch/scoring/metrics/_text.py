"""Text normalisation and tokenisation, each matching the reference implementation its metric is checked against.

The regex work is vectorised in polars; each returns text whose whitespace-separated tokens (as Python's
`str.split()` makes them) are the reference's tokens, except ROUGE's, which are the runs of `ROUGE_TOKEN`."""

from __future__ import annotations

import polars as pl

# string.punctuation as a regex class; Python's str.split() also splits on \x1c-\x1f, which Rust's \s does not.
_PUNCTUATION = r"[!-/:-@\[-`{-~]"
_ARTICLES = r"\b(a|an|the)\b"
_WHITESPACE = r"[\s\x1c-\x1f]+"


def squad_words(text: pl.Expr) -> pl.Expr:
    """SQuAD v1.1 `normalize_answer` up to its whitespace fix: lowercase, drop ASCII punctuation, drop a/an/the.
    Its whitespace-separated tokens are those of the normalised answer."""
    return text.str.to_lowercase().str.replace_all(_PUNCTUATION, "").str.replace_all(_ARTICLES, " ")


def squad_normalise(text: pl.Expr) -> pl.Expr:
    """SQuAD v1.1 `normalize_answer`: lowercase, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
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

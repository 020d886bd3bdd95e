"""Text normalisation: what makes two inputs "the same question" for content hashes and de-duplication.

NFKC, case folding, every run of Unicode whitespace to one space, stripped. `normalise_text` is the definition,
one string at a time; `normalise_series` computes the same vectorised in polars, once per distinct value, and is
what a night of a million traces runs.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import polars as pl

from tracewatch.datasets.distinct import map_distinct

WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000"
)
"""The Unicode White_Space characters: spelled out so Python and polars agree on what whitespace is."""

_WHITESPACE_RUN = f"[{WHITESPACE}]+"
_NOT_SPACE = WHITESPACE.replace(" ", "")
_NEEDS_COLLAPSE = f"[{_NOT_SPACE}]|  |^ | $"
_COLLAPSIBLE = f"[{_NOT_SPACE}][{WHITESPACE}]*| [{WHITESPACE}]+"
"""Whitespace runs other than a single space: the only ones collapsing changes, so the only ones matched."""


def normalise_text(text: str) -> str:
    """NFKC, casefold, whitespace runs to one space, stripped: what makes two inputs "the same question"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _whitespace_re().sub(" ", folded).strip(WHITESPACE)


def normalise_text_expr(text: pl.Expr | str) -> pl.Expr:
    """`normalise_text` as a polars expression (nulls stay null); see `normalise_series`."""
    expr = pl.col(text) if isinstance(text, str) else text
    return expr.map_batches(normalise_series, return_dtype=pl.String, is_elementwise=True)


def normalise_series(values: pl.Series) -> pl.Series:
    """`normalise_text` of every value, vectorised.

    ASCII text only needs lowercasing, so the costly steps run on the rows that need them: NFKC and case
    folding on rows with non-ASCII characters, whitespace collapsing on rows with a run, a tab or a newline.
    polars lowercases rather than casefolds, so the characters whose case fold differs from their lowercase
    (ß -> ss, final ς -> σ, ...) are mapped afterwards. This agrees with `normalise_text` on every character
    assigned in Python's Unicode database; polars may know newer characters that Python leaves alone.
    """
    return map_distinct(values, lambda v: _normalise_rows(v).to_frame()).to_series().alias(values.name)


def _normalise_rows(values: pl.Series) -> pl.Series:
    out = values.str.to_lowercase()
    unicode_rows = values.str.contains(r"[^\x00-\x7F]").fill_null(False).arg_true()
    if unicode_rows.len():
        old, new = _casefold_extras()
        folded = (
            values.gather(unicode_rows).str.normalize("NFKC").str.to_lowercase().str.replace_many(old, new)
        )
        out = out.scatter(unicode_rows, folded)
    spaced_rows = out.str.contains(_NEEDS_COLLAPSE).fill_null(False).arg_true()
    if spaced_rows.len():
        collapsed = out.gather(spaced_rows).str.replace_all(_COLLAPSIBLE, " ").str.strip_chars(WHITESPACE)
        out = out.scatter(spaced_rows, collapsed)
    return out


@lru_cache(maxsize=1)
def _whitespace_re() -> re.Pattern[str]:
    return re.compile(_WHITESPACE_RUN)


CASEFOLD_EXTRAS = (
    "\xb5\xdf\u0149\u017f\u01f0\u0345\u0390\u03b0\u03c2\u03d0\u03d1\u03d5\u03d6\u03f0\u03f1\u03f5"
    "\u0587\u13f8\u13f9\u13fa\u13fb\u13fc\u13fd\u1c80\u1c81\u1c82\u1c83\u1c84\u1c85\u1c86\u1c87\u1c88"
    "\u1e96\u1e97\u1e98\u1e99\u1e9a\u1e9b\u1f50\u1f52\u1f54\u1f56\u1f80\u1f81\u1f82\u1f83\u1f84\u1f85"
    "\u1f86\u1f87\u1f90\u1f91\u1f92\u1f93\u1f94\u1f95\u1f96\u1f97\u1fa0\u1fa1\u1fa2\u1fa3\u1fa4\u1fa5"
    "\u1fa6\u1fa7\u1fb2\u1fb3\u1fb4\u1fb6\u1fb7\u1fbe\u1fc2\u1fc3\u1fc4\u1fc6\u1fc7\u1fd2\u1fd3\u1fd6"
    "\u1fd7\u1fe2\u1fe3\u1fe4\u1fe6\u1fe7\u1ff2\u1ff3\u1ff4\u1ff6\u1ff7\uab70\uab71\uab72\uab73\uab74"
    "\uab75\uab76\uab77\uab78\uab79\uab7a\uab7b\uab7c\uab7d\uab7e\uab7f\uab80\uab81\uab82\uab83\uab84"
    "\uab85\uab86\uab87\uab88\uab89\uab8a\uab8b\uab8c\uab8d\uab8e\uab8f\uab90\uab91\uab92\uab93\uab94"
    "\uab95\uab96\uab97\uab98\uab99\uab9a\uab9b\uab9c\uab9d\uab9e\uab9f\uaba0\uaba1\uaba2\uaba3\uaba4"
    "\uaba5\uaba6\uaba7\uaba8\uaba9\uabaa\uabab\uabac\uabad\uabae\uabaf\uabb0\uabb1\uabb2\uabb3\uabb4"
    "\uabb5\uabb6\uabb7\uabb8\uabb9\uabba\uabbb\uabbc\uabbd\uabbe\uabbf\ufb00\ufb01\ufb02\ufb03\ufb04"
    "\ufb05\ufb06\ufb13\ufb14\ufb15\ufb16\ufb17"
)
"""The characters that are their own lowercase but fold to something else: all in the Basic Multilingual Plane,
listed here because finding them takes a scan of 65,536 characters (70 ms) in every process. A unit test
checks the list against the running Python's Unicode tables."""


@lru_cache(maxsize=1)
def _casefold_extras() -> tuple[list[str], list[str]]:
    old = list(CASEFOLD_EXTRAS)
    return old, [c.casefold() for c in old]

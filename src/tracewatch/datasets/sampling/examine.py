"""What selection learns about a candidate only when it examines it: usable input, the exact key, the text.

Ranking runs on cheap columns over every candidate. Examining is the costly part (PII redaction, content keys,
MinHash), so selection examines a shortlist only (see `pipeline`), and the examiner is the caller's: the nightly
build redacts and keys the raw input, a frame that already holds keys and texts just looks them up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from tracewatch.datasets.dedup import ExactCheck, require_columns
from tracewatch.datasets.sampling.spec import SamplingSpec

USABLE = "usable"


@dataclass(frozen=True)
class Examined:
    """Examined candidates: `frame` has the id, `USABLE` (Boolean), the spec's exact key column and the text it
    compares (as items would store them: redacted); `check` confirms key matches with the dataset (None: the key
    is exact)."""

    frame: pl.DataFrame
    check: ExactCheck | None = None


Examine = Callable[[pl.DataFrame], Examined]
"""Examines some rows of the candidate frame (all its columns), in any order; the same row always gives the
same answer."""


def as_given(spec: SamplingSpec, id_column: str, check: ExactCheck | None) -> Examine:
    """For candidates that carry their key and text already: every one is usable, the columns are looked up."""
    wanted = tuple(dict.fromkeys((id_column, *spec.dedup.columns())))

    def examine(rows: pl.DataFrame) -> Examined:
        require_columns(wanted, rows.columns, "traces")
        return Examined(rows.select(wanted).with_columns(pl.lit(True).alias(USABLE)), check)

    return examine

"""The nightly selection: new traces -> de-duplicated picks, with every candidate accounted for.

Order matters for cost. The strategies rank every candidate on cheap columns (status, feedback, strata, a seeded
hash of the id); only an oversampled shortlist (`oversample` x the budget, by the same shares and rankings) is
examined: usable input, PII redaction, content keys, and exact + near de-duplication against the dataset. The
picks are then drawn again without the rejected candidates; picks that duplicate each other are rejected too, and
whenever the picks reach past what was examined, the next-ranked candidates are examined (a shortlist twice as
long each round) until the picks are all examined and clean, or the candidates run out. The result is a function
of the candidate set and the seed alone.

Accounting follows what was examined: duplicates and unusable inputs are counted among the examined traces, every
other candidate that is not picked is `not sampled`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.datasets.dedup import (
    EXACT,
    SIGNATURE_COLUMN,
    ExactCheck,
    dropped_schema,
    near_reason,
    reference_index,
)
from tracewatch.datasets.distinct import Distinct
from tracewatch.datasets.items import NO_USABLE_INPUT, has_text
from tracewatch.datasets.lsh import SignatureIndex
from tracewatch.datasets.minhash import MINHASH, MinHashScheme
from tracewatch.datasets.sampling._horizon import Horizon
from tracewatch.datasets.sampling._pool import ROW
from tracewatch.datasets.sampling._verdicts import Verdicts
from tracewatch.datasets.sampling.engine import Sampler, id_hashes, materialise, prepare
from tracewatch.datasets.sampling.examine import Examine, as_given
from tracewatch.datasets.sampling.novelty import Novelty
from tracewatch.datasets.sampling.spec import SamplingSpec
from tracewatch.errors import ConfigError

log = logging.getLogger(__name__)

CANDIDATES = "candidates"
PICKED = "picked"
NOT_SAMPLED = "not sampled"
GROUP_KEY = "_same_input"
INPUT_TEXT = "input_text"
OVERSAMPLE = 5
"""Shortlist length in budgets: examining is cheap next to a round over every candidate, so a night where most
traces repeat the dataset or each other should rarely need a second round."""


@dataclass(frozen=True)
class Selection:
    """`picked` traces (input columns with the examined key and text, `strategy`, `stratum`, and `minhash` when
    near de-duplication ran), `dropped` duplicates among the examined traces (`dedup.dropped_schema`), and
    `counts`: candidates = picked + each duplicate reason + no usable input + not sampled."""

    picked: pl.DataFrame
    dropped: pl.DataFrame
    counts: dict[str, int]


@dataclass(frozen=True)
class Ranked:
    """The candidates ready for ranking (`traces` with `GROUP_KEY`, `frame` from `engine.prepare`): what
    selection computes before it needs the dataset, so a caller can do it while the dataset is still read."""

    traces: pl.DataFrame
    frame: pl.DataFrame
    distinct_on: str | None


def rank(
    traces: pl.DataFrame, spec: SamplingSpec, *, id_column: str = "trace_id", grouped: bool | None = None
) -> Ranked:
    """Hash the ids (and look for repeats) and group equal inputs once per night (see `competing_groups`), the
    two at once: numpy and polars both work outside the GIL. `grouped` is the night's grouping verdict when
    `traces` are only part of it."""
    string_ids = traces.schema.get(id_column) == pl.String  # else `prepare` says what is wrong
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="id-hashes") as pool:
        hashes = pool.submit(id_hashes, traces.get_column(id_column)) if string_ids else None
        groups = competing_groups(traces, spec, grouped=grouped)
        traces = traces if groups is None else traces.with_columns(groups)
        distinct_on = None if groups is None else groups.name
        frame = prepare(traces, spec, distinct_on=distinct_on, id_column=id_column, hashes=hashes)
    return Ranked(traces, frame, distinct_on)


def select_new_traces(
    traces: pl.DataFrame | Ranked,
    existing: pl.DataFrame,
    spec: SamplingSpec,
    *,
    id_column: str = "trace_id",
    existing_id_column: str = "item_id",
    signature_column: str = SIGNATURE_COLUMN,
    scheme: MinHashScheme = MINHASH,
    oversample: int = OVERSAMPLE,
    check: ExactCheck | None = None,
    examine: Examine | None = None,
    index: SignatureIndex | None = None,
    candidate_count: int | None = None,
    horizon: Horizon | None = None,
) -> Selection:
    """Pick up to `spec.budget` traces that are new to `existing` (the dataset's items) and to each other.

    `traces` needs the id and the strategies' columns (or is their `rank`, made with the same spec and id
    column). `examine` gives a shortlisted trace's usable input, exact
    key and text (see `examine`); without it, `traces` must hold `spec.dedup.hash_column` (equal values must mean
    equal content) and, for near de-duplication, the text, and `check` confirms key matches against the dataset
    when the key is lossy (see `dedup.ExactCheck`). `existing` needs the hash column, `existing_id_column` and
    ideally stored signatures in `signature_column`. `index` is `reference_for(existing, spec)` when the caller
    built it already (e.g. while reading the candidates).

    Two-phase selection (`datasets.two_phase`) passes merged per-file shortlists as `traces`, with the night's
    `candidate_count` and the shortlists' `horizon`; the result is then the whole night's, or
    `ShortlistTooShort` is raised.
    """
    if oversample < 1:
        raise ConfigError(f"oversample={oversample} must be >= 1")
    ranked = traces if isinstance(traces, Ranked) else rank(traces, spec, id_column=id_column)
    traces, frame, distinct_on = ranked.traces, ranked.frame, ranked.distinct_on
    if index is None:
        index = reference_for(existing, spec, signature_column=signature_column, scheme=scheme)
    sampler = Sampler(
        frame,
        traces,
        spec,
        existing_signatures=index,
        distinct_on=distinct_on,
        id_column=id_column,
        scheme=scheme,
        horizon=horizon,
    )
    candidates = traces.height if candidate_count is None else candidate_count
    verdicts = Verdicts(
        traces,
        existing,
        spec,
        examine or as_given(spec, id_column, check),
        index,
        scheme,
        id_column,
        existing_id_column,
        sampler.groups,
    )
    shortlist = min(spec.budget * oversample, candidates)
    verdicts.look_at(sampler.with_other_representatives(sampler.choose(verdicts.rejected, shortlist)[ROW]))
    for round_number in itertools.count(1):
        chosen = sampler.choose(verdicts.rejected)
        if not verdicts.look_at(chosen[ROW]):
            break
        # The picks reached past what was examined: examine the next-ranked candidates too.
        log.info(
            "selection round %d: %d rejected so far, examining more", round_number, verdicts.rejected.sum()
        )
        shortlist = min(2 * shortlist, candidates)
        verdicts.look_at(
            sampler.with_other_representatives(sampler.choose(verdicts.rejected, shortlist)[ROW])
        )
    found = verdicts.picked(chosen)
    picked = _with_examined(materialise(traces, chosen).drop(GROUP_KEY, strict=False), found, id_column)
    dropped = pl.concat([pl.DataFrame(schema=dropped_schema(id_column)), *verdicts.dropped])
    return Selection(picked, dropped, _counts(candidates, picked.height, dropped, verdicts, spec))


def reference_for(
    existing: pl.DataFrame,
    spec: SamplingSpec,
    *,
    signature_column: str = SIGNATURE_COLUMN,
    scheme: MinHashScheme = MINHASH,
    index: SignatureIndex | None = None,
) -> SignatureIndex | None:
    """The dataset's signatures, indexed once for novelty and every near-duplicate round (the LSH tables of the
    spec's thresholds built here, so a caller can build them in the background); None if unused. `index` is the
    index of the stored signatures when the caller read them."""
    if not needs_signatures(spec):
        return None
    if index is None:
        index = reference_index(
            existing, text=spec.dedup.text, signature_column=signature_column, scheme=scheme
        )
    index.prepare(similarity_thresholds(spec))
    return index


def similarity_thresholds(spec: SamplingSpec) -> list[float]:
    """The similarity thresholds selection looks up in the dataset's index (novelty, near duplicates): each
    has its LSH band tables, which `SignatureIndex.prepare` builds ahead of the lookups."""
    thresholds = [s.max_similarity for s in spec.strategies if isinstance(s, Novelty)]
    near = spec.dedup.near_threshold
    return [*thresholds, *([near] if near is not None else [])]


def needs_signatures(spec: SamplingSpec) -> bool:
    """Whether selection compares texts with the dataset's MinHash signatures (near duplicates or novelty)."""
    return bool(similarity_thresholds(spec))


def group_column(columns: Collection[str], spec: SamplingSpec) -> str | None:
    """The column of `columns` equal inputs are grouped on (`competing_groups`); None: no grouping possible."""
    column = spec.dedup.hash_column if spec.dedup.hash_column in columns else INPUT_TEXT
    return column if column in columns else None


def competing_groups(
    traces: pl.DataFrame, spec: SamplingSpec, *, grouped: bool | None = None
) -> pl.Series | None:
    """Which candidates compete as one (`GROUP_KEY` codes; null: on its own), so that a question asked a thousand
    times is one candidate and the shortlist is not spent on its repeats: the exact key where the candidates
    carry it already, else the raw text (blank texts compete on their own: their input may be in messages).
    `grouped` overrides the verdict on `traces` (whether they repeat enough) with the whole night's."""
    column = group_column(traces.columns, spec)
    if column is None or grouped is False:
        return None
    values = traces.get_column(column)
    distinct = Distinct.factorise(values) if grouped else Distinct.of(values)
    if distinct.codes is None:  # barely repeats: examining the few repeats costs less than grouping
        return None
    values = distinct.values
    if values.dtype == pl.String:  # blank is judged once per distinct text, not on a million rows
        blank = ~values.to_frame().select(has_text(pl.col(column))).to_series().to_numpy()
    else:
        blank = values.is_null().to_numpy()
    return pl.Series(GROUP_KEY, distinct.codes).scatter(np.flatnonzero(blank[distinct.codes]), None)


def _with_examined(chosen: pl.DataFrame, kept: pl.DataFrame, id_column: str) -> pl.DataFrame:
    """The picked rows with what examining them found (redacted text, key, signature) in place of the raw."""
    found = kept.drop(ROW)
    if id_column not in found.columns:  # nothing was examined (a budget of 0): nothing was picked either
        return chosen
    return chosen.drop([c for c in found.columns if c != id_column], strict=False).join(
        found, on=id_column, how="left", maintain_order="left"
    )


def _counts(
    candidates: int, picked: int, dropped: pl.DataFrame, verdicts: Verdicts, spec: SamplingSpec
) -> dict[str, int]:
    near = spec.dedup.near_threshold
    reasons = [EXACT, *((near_reason(near),) if near is not None else ())]
    per_reason = dict(dropped.group_by("reason").len().iter_rows())
    counts = {CANDIDATES: candidates, PICKED: picked, **{r: int(per_reason.get(r, 0)) for r in reasons}}
    counts[NO_USABLE_INPUT] = verdicts.unusable
    counts[NOT_SAMPLED] = candidates - picked - verdicts.unusable - sum(counts[r] for r in reasons)
    return counts

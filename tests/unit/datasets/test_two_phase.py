"""Two-phase selection (per-part shortlists, then one selection over them) against selection over the whole
night at once: the same picks, strategies, strata, examined texts and keys, duplicates and counts, for random
nights, specs and splits into parts. The one-pass selection (`select_new_traces` over all candidates) is the
reference: it is what the nightly build ran before it went part by part."""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracewatch.datasets.candidates import examiner
from tracewatch.datasets.distinct import Distinct
from tracewatch.datasets.pii_rules import RedactionConfig
from tracewatch.datasets.sampling import SamplingSpec, reference_for, select_new_traces
from tracewatch.datasets.sampling._horizon import Horizon, ShortlistTooShort
from tracewatch.datasets.sampling.pipeline import group_column
from tracewatch.datasets.shortlist import PART_ROW, part_representatives, representatives
from tracewatch.datasets.two_phase import (
    GROUPS_MAX_ROWS,
    PARTS_PER_ROUND,
    frame_part,
    night_representatives,
    select_in_parts,
)
from tracewatch.hash_spill import SCRATCH_PREFIX, HashRows, Spill
from tracewatch.part_map import in_process
from tracewatch.store import Store
from tracewatch.traces.schema import FEEDBACK, MESSAGE

COLUMNS = ("trace_id", "input_text", "input_messages", "status", "feedback", "route", "model")
ROUTES = ("qa/single-fact", "qa/multi-hop", "chat/followup", "rare/route")
MODELS = ("gpt-4o-mini", "claude-3-5-haiku", "llama-3.1-8b-instruct")
REDACTION = RedactionConfig.from_dict({"kinds": ["email", "phone"]})


def night(n: int, *, seed: int, questions: int, prefix: str = "t") -> pl.DataFrame:
    """Traces as the nightly build reads them: questions repeat (`questions` distinct ones), some carry an
    e-mail address, some are blank with the question in the messages only, some fail or are thumbed down."""
    rng = np.random.default_rng(seed)
    asked = rng.integers(0, questions, n)
    texts = [f"question {q} about topic {q % 13} and detail {q * 7 % 29}" for q in asked]
    texts = [
        f"{t} mail me at user{q}@example.com" if q % 11 == 0 else t for t, q in zip(texts, asked, strict=True)
    ]
    blank = rng.random(n) < 0.03
    messages = [
        [{"role": "user", "content": f"only in messages {q}"}] if b else []
        for q, b in zip(asked, blank, strict=True)
    ]
    thumbs = rng.choice([-1, 0, 1], size=n, p=[0.6, 0.15, 0.25])
    return pl.DataFrame(
        {
            "trace_id": [f"{prefix}{seed}-{i:06d}" for i in rng.permutation(n)],
            "input_text": ["" if b else t for t, b in zip(texts, blank, strict=True)],
            "input_messages": messages,
            "status": np.where(rng.random(n) < 0.06, "error", "ok"),
            "feedback": [
                [] if t < 0 else [{"name": "thumbs", "value": float(t), "source": "user"}] for t in thumbs
            ],
            "route": rng.choice(ROUTES, size=n, p=(0.55, 0.3, 0.14, 0.01)),
            "model": rng.choice(MODELS, size=n),
        },
        schema={
            "trace_id": pl.String(),
            "input_text": pl.String(),
            "input_messages": pl.List(MESSAGE),
            "status": pl.String(),
            "feedback": pl.List(FEEDBACK),
            "route": pl.String(),
            "model": pl.String(),
        },
    )


def dataset_items(traces: pl.DataFrame) -> pl.DataFrame:
    """The dataset's items as the build reads them: examined (redacted, keyed) traces of an earlier night."""
    examined = examiner(REDACTION)(traces).frame
    return examined.select(pl.col("trace_id").alias("item_id"), "dedup_key", "content_hash", "input_text")


def split(traces: pl.DataFrame, cuts: list[int]) -> list[pl.DataFrame]:
    bounds = [0, *sorted(c % (traces.height + 1) for c in cuts), traces.height]
    return [traces.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def both(
    traces: pl.DataFrame,
    parts: list[pl.DataFrame],
    existing: pl.DataFrame,
    spec: SamplingSpec,
    spill: Store | None = None,
    groups_max_rows: int = GROUPS_MAX_ROWS,
    parts_per_round: int = PARTS_PER_ROUND,
) -> Any:
    index = reference_for(existing, spec)
    examine = examiner(REDACTION)
    whole = select_new_traces(traces, existing, spec, examine=examine, index=index)
    split_up = select_in_parts(
        frame_part,
        parts,
        COLUMNS,
        spec,
        reference=lambda: (existing, index),
        examine=examine,
        scratch_store=spill,
        groups_max_rows=groups_max_rows,
        parts_per_round=parts_per_round,
    )
    return whole, split_up


def assert_same(whole: Any, split_up: Any) -> None:
    assert split_up.selection is not None
    assert split_up.selection.counts == whole.counts
    assert split_up.selection.picked.equals(whole.picked)
    assert split_up.selection.dropped.sort("trace_id").equals(whole.dropped.sort("trace_id"))


SPEC_STRATEGIES = [
    {"kind": "failure", "share": 0.5, "error_weight": 10, "low_feedback": {"thumbs": 0.5}, "pii_weight": 200},
    {"kind": "stratified", "share": 0.3, "by": ["route", "model"], "min_per_stratum": 1},
    {"kind": "novelty", "share": 0.2, "text": "input_text", "max_similarity": 0.5},
]


def shipped_like(budget: int, seed: int, near: float | None = 0.8) -> SamplingSpec:
    return SamplingSpec.from_dict(
        {
            "budget": budget,
            "seed": seed,
            "strategies": SPEC_STRATEGIES,
            "dedup": {"hash_column": "dedup_key", "text": "input_text", "near_threshold": near},
        }
    )


def _strategy_dicts() -> st.SearchStrategy[list[dict[str, Any]]]:
    share = st.floats(0.05, 5.0)
    options = [
        st.builds(
            lambda s, c: {"kind": "uniform", "share": s, "count": c}, share, st.none() | st.integers(0, 40)
        ),
        st.builds(lambda s, r: {"kind": "uniform", "share": s, "rate": r}, share, st.floats(0.0, 1.0)),
        st.builds(
            lambda s, by, m: {"kind": "stratified", "share": s, "by": by, "min_per_stratum": m},
            share,
            st.sampled_from([["route"], ["route", "model"], ["model", "status"]]),
            st.integers(0, 4),
        ),
        st.builds(
            lambda s, b, p: {
                "kind": "failure",
                "share": s,
                "base_weight": b,
                "low_feedback": {"thumbs": 0},
                "pii_weight": p,
            },
            share,
            st.sampled_from([0.0, 1.0]),
            st.sampled_from([0.0, 50.0]),
        ),
        st.builds(lambda s, f: {"kind": "novelty", "share": s, "pool_factor": f}, share, st.integers(1, 5)),
    ]
    return st.lists(st.one_of(options), min_size=1, max_size=4).map(
        lambda items: [{**d, "name": f"{d['kind']}-{i}"} for i, d in enumerate(items)]
    )


specs = st.builds(
    lambda strategies, budget, seed, near: SamplingSpec.from_dict(
        {"strategies": strategies, "budget": budget, "seed": seed, "dedup": {"near_threshold": near}}
    ),
    _strategy_dicts(),
    st.integers(0, 60),
    st.integers(0, 2**32 - 1),
    st.sampled_from([None, 0.8]),
)


SPLIT_NIGHTS = {
    "spec": specs,
    "n": st.integers(1, 1500),
    "questions": st.integers(1, 800),
    "seed": st.integers(0, 10_000),
    "cuts": st.lists(st.integers(0, 10_000), max_size=6),
}
"""A random night, spec and split into parts (up to 7)."""


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**SPLIT_NIGHTS, known=st.integers(0, 300), per_round=st.integers(1, 8))
def test_any_split_of_any_night_selects_what_the_whole_night_selects(
    spec: SamplingSpec, n: int, questions: int, seed: int, cuts: list[int], known: int, per_round: int
) -> None:
    """Any split, and the shortlisted inputs' representatives reduced after any number of parts."""
    traces = night(n, seed=seed, questions=questions)
    existing = dataset_items(night(known, seed=seed + 1, questions=questions, prefix="old"))
    whole, split_up = both(traces, split(traces, cuts), existing, spec, parts_per_round=per_round)
    assert_same(whole, split_up)
    assert split_up.candidates == n


@pytest.mark.parametrize(("questions", "per_round"), [(300, 3), (300, PARTS_PER_ROUND), (30_000, 3)])
def test_a_large_night_in_ten_parts_is_grouped_and_selected_as_a_whole(
    questions: int, per_round: int
) -> None:
    """30,000 traces: past the size where `Distinct.of` samples rows for its grouping verdict, so the verdict
    comes from the parts' samples; 300 distinct questions group, 30,000 do not. Grouped, the representatives
    of the shortlisted inputs come back in rounds of `per_round` parts, reduced after each."""
    traces = night(30_000, seed=3, questions=questions)
    existing = dataset_items(traces.sample(400, seed=1).with_columns(pl.lit("x").alias("_")).drop("_"))
    parts = split(traces, [3000 * i for i in range(1, 10)])
    whole, split_up = both(
        traces, parts, existing, shipped_like(budget=40, seed=11), parts_per_round=per_round
    )
    assert_same(whole, split_up)
    grouped = Distinct.of(traces.get_column("input_text")).codes is not None
    assert grouped == (questions == 300)
    if questions == 30_000:  # few duplicates: the first shortlists suffice (the merge never held the night)
        assert split_up.factor == 1


@pytest.mark.parametrize("questions", [300, 3_000])
def test_shared_inputs_past_the_budget_go_through_the_store_and_select_the_same(
    file_store: Store, monkeypatch: pytest.MonkeyPatch, questions: int
) -> None:
    """The stratified strategy's rows of shared inputs (32 bytes per distinct input of a part) past a part's
    share of the budget are written to the store's scratch and counted a range of the hash space at a time:
    the same strata, picks and counts as the whole night, nothing left in the scratch."""
    kept: list[HashRows] = []
    keep = Spill.keep

    def recorded(self: Spill, frame: pl.DataFrame, column: str, name: str) -> HashRows:
        kept.append(keep(self, frame, column, name))
        return kept[-1]

    monkeypatch.setattr(Spill, "keep", recorded)
    traces = night(6_000, seed=7, questions=questions)
    existing = dataset_items(traces.sample(200, seed=2))
    parts = split(traces, [1000 * i for i in range(1, 6)])
    whole, split_up = both(traces, parts, existing, shipped_like(budget=30, seed=5), file_store, 600)
    assert_same(whole, split_up)
    assert any(rows.spilled for rows in kept) and all(
        rows.rows <= 100 for rows in kept if rows.frame is not None
    )
    assert not list(file_store.list_objects(SCRATCH_PREFIX))


def test_a_night_of_duplicates_needs_longer_shortlists_and_still_matches() -> None:
    """Every question but a few is in the dataset already: the picks reach far past the first shortlists,
    so phase one runs again with longer ones, and the result is still the whole night's."""
    traces = night(4000, seed=5, questions=4000)
    existing = dataset_items(traces.slice(0, 3900))
    parts = split(traces, [1000, 2000, 3000])
    whole, split_up = both(traces, parts, existing, shipped_like(budget=20, seed=2, near=None))
    assert_same(whole, split_up)
    assert split_up.factor > 1


def test_one_part_is_the_whole_night() -> None:
    traces = night(2000, seed=9, questions=700)
    existing = dataset_items(night(200, seed=10, questions=700, prefix="old"))
    whole, split_up = both(traces, [traces], existing, shipped_like(budget=30, seed=4))
    assert_same(whole, split_up)


def test_no_candidates_selects_nothing() -> None:
    empty = night(0, seed=1, questions=1)
    result = select_in_parts(
        frame_part,
        [empty, empty],
        COLUMNS,
        shipped_like(5, 1),
        reference=lambda: (dataset_items(empty), None),
    )
    assert (result.selection, result.candidates) == (None, 0)


def test_a_choice_past_the_horizon_is_refused() -> None:
    horizon = Horizon({("uniform", ""): 0.5}, {})
    horizon.certify("uniform", pl.Series([0.1, 0.4]), 2)  # both below: the whole night's choice
    horizon.certify("uniform", pl.Series([0.1]), 2, bound=0.3)  # everything below 0.3 is shortlisted
    with pytest.raises(ShortlistTooShort, match="1 of 2 pick"):
        horizon.certify("uniform", pl.Series([0.1]), 2)
    with pytest.raises(ShortlistTooShort, match=r"horizon 0\.5"):
        horizon.certify("uniform", pl.Series([0.1, 0.7]), 2)
    with pytest.raises(ShortlistTooShort, match="ran out"):
        horizon.require_complete("uniform")
    Horizon({("uniform", ""): float("inf")}, {}).require_complete("uniform")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**SPLIT_NIGHTS, per_round=st.integers(1, 5))
def test_representatives_reduced_round_by_round_are_the_whole_nights(
    spec: SamplingSpec, n: int, questions: int, seed: int, cuts: list[int], per_round: int
) -> None:
    """The merge never holds every part's representatives: it reduces them after each round of parts. The rows
    it keeps are exactly the ones the whole night's ranking keeps for the same inputs (each input's best in
    every strategy, ties included), whatever the split and the round size."""
    traces = night(n, seed=seed, questions=questions)
    parts = split(traces, cuts)
    column = group_column(COLUMNS, spec)
    assert column is not None
    values = traces.get_column(column).unique()
    step = functools.partial(part_representatives, frame_part, COLUMNS, spec, values)
    found = night_representatives(step, parts, spec, in_process, per_round)
    starts = itertools.accumulate((p.height for p in parts[:-1]), initial=0)
    rows = [f.get_column(PART_ROW).cast(pl.Int64) + start for f, start in zip(found, starts, strict=True)]
    whole = representatives(traces.with_row_index(PART_ROW), spec)
    assert sorted(pl.concat(rows).to_list()) == whole.get_column(PART_ROW).cast(pl.Int64).to_list()

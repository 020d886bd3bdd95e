"""Sampling strategies, budget sharing, spec parsing and the nightly selection pipeline."""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.datasets.dedup import EXACT, near_reason
from tracewatch.datasets.items import NO_USABLE_INPUT
from tracewatch.datasets.minhash import MINHASH, signature_series, signatures, with_signatures
from tracewatch.datasets.sampling import (
    CANDIDATES,
    NOT_SAMPLED,
    PICKED,
    FailureSeeking,
    SamplingSpec,
    Stratified,
    Uniform,
    rank,
    sample,
    select_new_traces,
)
from tracewatch.datasets.sampling._allocate import allocate_strata, apportion
from tracewatch.datasets.sampling.engine import Sampler, materialise, prepare
from tracewatch.datasets.sampling.examine import USABLE, Examined
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.traces.schema import FEEDBACK

ROUTES = ("qa/single-fact", "qa/multi-hop", "chat/followup", "rare/route")
ROUTE_P = (0.55, 0.3, 0.14, 0.01)
MODELS = ("gpt-4o-mini", "claude-3-5-haiku", "llama-3.1-8b-instruct")
TAGS = (["film"], ["geography", "multi-hop"], ["multi-hop", "geography"], [], ["sport"])


TEST_SCHEMA: dict[str, pl.DataType] = {
    "trace_id": pl.String(),
    "route": pl.String(),
    "model": pl.String(),
    "tags": pl.List(pl.String()),
    "status": pl.String(),
    "feedback": pl.List(FEEDBACK),
    "judge_score": pl.Float64(),
    "input_text": pl.String(),
    "content_hash": pl.String(),
}


def make_traces(n: int, *, seed: int = 0, error_rate: float = 0.05, prefix: str = "t") -> pl.DataFrame:
    """Traces with the columns sampling reads; contents repeat (as production questions do)."""
    rng = np.random.default_rng(seed)
    texts = [
        f"question number {q} about topic {q % 17} and detail {q * 7 % 31}" for q in rng.integers(0, n + 1, n)
    ]
    thumbs = rng.choice([-1, 0, 1], size=n, p=[0.6, 0.1, 0.3])
    feedback = [[] if t < 0 else [{"name": "thumbs", "value": float(t), "source": "user"}] for t in thumbs]
    return pl.DataFrame(
        {
            "trace_id": [f"{prefix}{seed}-{i:06d}" for i in range(n)],
            "route": rng.choice(ROUTES, size=n, p=ROUTE_P),
            "model": rng.choice(MODELS, size=n),
            "tags": [TAGS[i] for i in rng.integers(0, len(TAGS), n)],
            "status": np.where(rng.random(n) < error_rate, "error", "ok"),
            "feedback": feedback,
            "judge_score": rng.random(n),
            "input_text": texts,
            "content_hash": [hashlib.sha256(t.encode()).hexdigest() for t in texts],
        },
        schema=TEST_SCHEMA,
    )


def _strategy_dicts() -> st.SearchStrategy[list[dict[str, Any]]]:
    share = st.floats(0.05, 5.0)
    options = [
        st.builds(
            lambda s, c: {"kind": "uniform", "share": s, "count": c}, share, st.none() | st.integers(0, 50)
        ),
        st.builds(lambda s, r: {"kind": "uniform", "share": s, "rate": r}, share, st.floats(0.0, 1.0)),
        st.builds(
            lambda s, by, m: {"kind": "stratified", "share": s, "by": by, "min_per_stratum": m},
            share,
            st.sampled_from([["route"], ["route", "model"], ["tags"], ["model", "tags"]]),
            st.integers(0, 5),
        ),
        st.builds(
            lambda s, b: {"kind": "failure", "share": s, "base_weight": b, "low_feedback": {"thumbs": 0}},
            share,
            st.sampled_from([0.0, 1.0]),
        ),
        st.builds(lambda s: {"kind": "novelty", "share": s}, share),
    ]
    return st.lists(st.one_of(options), min_size=1, max_size=4).map(
        lambda items: [{**d, "name": f"{d['kind']}-{i}"} for i, d in enumerate(items)]
    )


specs = st.builds(
    lambda strategies, budget, seed: SamplingSpec.from_dict(
        {"strategies": strategies, "budget": budget, "seed": seed}
    ),
    _strategy_dicts(),
    st.integers(0, 120),
    st.integers(0, 2**32 - 1),
)


def _shuffled(frame: pl.DataFrame, seed: int) -> pl.DataFrame:
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


# ---- determinism ----------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(specs, st.integers(0, 400), st.integers(0, 1000))
def test_picks_do_not_depend_on_row_order(spec: SamplingSpec, n: int, shuffle_seed: int) -> None:
    traces = make_traces(n, seed=n)
    picked = sample(traces, spec)
    assert picked.equals(sample(_shuffled(traces, shuffle_seed), spec))
    assert picked.equals(sample(traces, spec))


@settings(max_examples=40, deadline=None)
@given(specs, st.integers(0, 400), st.integers(0, 1000))
def test_budget_is_never_exceeded_and_no_trace_is_picked_twice(spec: SamplingSpec, n: int, seed: int) -> None:
    traces = make_traces(n, seed=seed)
    picked = sample(traces, spec)
    assert picked.height <= spec.budget
    assert picked["trace_id"].n_unique() == picked.height
    assert picked.columns == [*traces.columns, "strategy", "stratum"]
    assert set(picked["strategy"]) <= {s.name for s in spec.strategies}


@settings(max_examples=30, deadline=None)
@given(specs, st.integers(1, 300))
def test_budget_is_filled_when_strategies_can_take_anything(spec: SamplingSpec, n: int) -> None:
    # A trailing uniform strategy with no rate or count inherits whatever the others could not use.
    open_ended = SamplingSpec(strategies=(*spec.strategies, Uniform(name="rest")), budget=spec.budget, seed=1)
    traces = make_traces(n, seed=n)
    assert sample(traces, open_ended).height == min(spec.budget, n)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 0.5), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_rate_sampling_of_parts_equals_sampling_of_the_whole(rate: float, parts: int, seed: int) -> None:
    traces = make_traces(600, seed=3)
    spec = SamplingSpec(strategies=(Uniform(rate=rate),), budget=10_000, seed=seed)
    whole = sample(traces, spec)
    cuts = np.linspace(0, traces.height, parts + 1).astype(int)
    pieces = [sample(traces.slice(a, b - a), spec) for a, b in itertools.pairwise(cuts)]
    assert set(pl.concat(pieces)["trace_id"]) == set(whole["trace_id"])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1))
def test_a_different_seed_picks_differently(seed: int, offset: int) -> None:
    traces = make_traces(1000, seed=5)
    spec = SamplingSpec.from_dict({"budget": 50, "seed": seed, "strategies": [{"kind": "uniform"}]})
    other = SamplingSpec.from_dict(
        {"budget": 50, "seed": (seed + offset) % 2**32, "strategies": [{"kind": "uniform"}]}
    )
    first, second = set(sample(traces, spec)["trace_id"]), set(sample(traces, other)["trace_id"])
    # Two independent 5% samples share about 2.5 of 50 picks.
    assert len(first & second) < 25


def test_a_renamed_strategy_draws_a_different_sample() -> None:
    traces = make_traces(1000, seed=5)
    a = sample(traces, SamplingSpec(strategies=(Uniform(name="a"),), budget=50))
    b = sample(traces, SamplingSpec(strategies=(Uniform(name="b"),), budget=50))
    assert set(a["trace_id"]) != set(b["trace_id"])


def test_uniform_count_takes_the_same_traces_as_a_larger_count_starts_with() -> None:
    traces = make_traces(500, seed=2)
    small = sample(traces, SamplingSpec(strategies=(Uniform(count=10),), budget=100))
    large = sample(traces, SamplingSpec(strategies=(Uniform(count=40),), budget=100))
    assert small["trace_id"].to_list() == large["trace_id"].head(10).to_list()


@settings(max_examples=30, deadline=None)
@given(specs, st.integers(1, 400), st.integers(0, 2**32 - 1))
def test_resampling_without_some_contents_equals_sampling_the_rest_from_scratch(
    spec: SamplingSpec, n: int, seed: int
) -> None:
    # The near-duplicate refill reuses memoised keys; it must not change what a fresh run would pick.
    traces = make_traces(n, seed=seed)
    sampler = Sampler(
        prepare(traces, spec, distinct_on="content_hash", id_column="trace_id"),
        traces,
        spec,
        existing_signatures=None,
        distinct_on="content_hash",
        id_column="trace_id",
        scheme=MINHASH,
    )
    first = materialise(traces, sampler.choose())
    dropped = set(first["content_hash"].head(3))
    excluded = traces["content_hash"].is_in(list(dropped)).to_numpy()
    again = materialise(traces, sampler.choose(excluded))
    fresh = sample(traces.filter(~pl.Series(excluded)), spec, distinct_on="content_hash")
    assert again.equals(fresh)


# ---- budget sharing -------------------------------------------------------------------------------------------


@given(st.integers(0, 10_000), st.lists(st.integers(0, 1000), min_size=1, max_size=12))
def test_apportion_adds_up_and_stays_within_one_of_the_exact_share(total: int, weights: list[int]) -> None:
    parts = apportion(total, weights)
    if sum(weights) == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        assert abs(part - total * weight / sum(weights)) < 1


@given(st.lists(st.integers(0, 500), min_size=1, max_size=20), st.integers(0, 2000), st.integers(0, 30))
def test_strata_minimum_is_honoured_whenever_the_budget_allows(
    sizes: list[int], budget: int, minimum: int
) -> None:
    parts = allocate_strata(sizes, budget, minimum)
    assert sum(parts) == min(budget, sum(sizes))
    assert all(0 <= p <= s for p, s in zip(parts, sizes, strict=True))
    floors = [min(s, minimum) for s in sizes]
    if sum(floors) <= budget:
        assert all(p >= f for p, f in zip(parts, floors, strict=True))
    else:
        # Level filling: nobody gets more than the minimum, and no stratum short of its minimum has two
        # fewer picks than any other stratum.
        assert all(p <= f for p, f in zip(parts, floors, strict=True))
        short = [p for p, f in zip(parts, floors, strict=True) if p < f]
        assert all(max(parts) <= p + 1 for p in short)


def test_rest_of_stratified_budget_is_proportional_to_stratum_size() -> None:
    # One each, then 107 split by remaining rows 999:99:9:0 = 96.56, 9.57, 0.87, 0 -> 96+1, 9+1, 0+1 (largest
    # remainders .87 and .57 round up).
    assert allocate_strata([1000, 100, 10, 1], 111, 1) == [97, 11, 2, 1]
    # Not even one each: the smallest stratum first, then the earliest label.
    assert allocate_strata([3, 3, 3, 1], 2, 2) == [1, 0, 0, 1]


def test_spec_shares_split_the_budget_and_unused_quota_moves_on() -> None:
    spec = SamplingSpec.from_dict(
        {
            "budget": 100,
            "strategies": [
                {"kind": "failure", "share": 3, "base_weight": 0},
                {"kind": "uniform", "share": 1},
            ],
        }
    )
    assert spec.quotas() == [75, 25]
    traces = make_traces(2000, seed=4, error_rate=0.01)
    errors = int((traces["status"] == "error").sum())
    picked = sample(traces, spec)
    counts = dict(picked.group_by("strategy").len().iter_rows())
    assert counts == {"failure": errors, "uniform": 100 - errors}


# ---- strategies -----------------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(50, 800), st.integers(1, 6), st.integers(0, 150), st.integers(0, 10**6))
def test_stratified_gives_every_stratum_its_minimum(n: int, minimum: int, budget: int, seed: int) -> None:
    traces = make_traces(n, seed=seed)
    spec = SamplingSpec(
        strategies=(Stratified(by=("route", "model"), min_per_stratum=minimum),), budget=budget
    )
    picked = sample(traces, spec)
    sizes = traces.group_by("route", "model").len()
    floors = sizes.with_columns(floor=pl.min_horizontal("len", pl.lit(minimum)))
    assert picked.height == min(budget, n)
    if floors["floor"].sum() <= budget:
        got = picked.group_by("route", "model").len().rename({"len": "got"})
        check = floors.join(got, on=["route", "model"], how="left").fill_null(0)
        assert (check["got"] >= check["floor"]).all()


def test_stratum_labels_are_readable_and_list_columns_are_sorted() -> None:
    traces = make_traces(400, seed=9)
    spec = SamplingSpec(strategies=(Stratified(by=("route", "tags"), min_per_stratum=1),), budget=400)
    picked = sample(traces, spec)
    expected = picked.select(
        pl.format("route={},tags={}", "route", pl.col("tags").list.sort().list.join("|")).alias("label")
    )["label"]
    assert picked["stratum"].to_list() == expected.to_list()
    assert "route=qa/multi-hop,tags=geography|multi-hop" in set(picked["stratum"])


def test_stratifying_by_a_struct_column_is_a_config_error() -> None:
    traces = make_traces(10).with_columns(pl.struct("route", "model").alias("both"))
    with pytest.raises(ConfigError, match="cannot stratify by 'both'"):
        sample(traces, SamplingSpec(strategies=(Stratified(by=("both",)),), budget=5))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_failure_seeking_over_samples_errors(seed: int) -> None:
    traces = make_traces(20_000, seed=seed, error_rate=0.05)
    base_rate = float((traces["status"] == "error").mean())
    failure = sample(traces, SamplingSpec(strategies=(FailureSeeking(),), budget=1000, seed=seed))
    uniform = sample(traces, SamplingSpec(strategies=(Uniform(),), budget=1000, seed=seed))
    # Weight 10 against 1 with 10% of the rows picked gives about 5.5x the base rate; demand 3x.
    assert float((failure["status"] == "error").mean()) > 3 * base_rate
    assert float((uniform["status"] == "error").mean()) < 2 * base_rate
    labels = failure.select((pl.col("status") == "error") == pl.col("stratum").str.contains("error"))
    assert labels.to_series().all()


def test_failure_seeking_uses_feedback_and_judge_score_thresholds() -> None:
    traces = make_traces(5000, seed=8, error_rate=0.0)
    spec = SamplingSpec.from_dict(
        {
            "budget": 200,
            "strategies": [
                {
                    "kind": "failure",
                    "base_weight": 0,
                    "low_feedback": {"thumbs": 0},
                    "low_scores": {"judge_score": 0.1},
                }
            ],
        }
    )
    picked = sample(traces, spec)
    low_thumbs = (
        pl.col("feedback").list.eval(pl.element().struct.field("value") <= 0).list.any().fill_null(False)
    )
    low = picked.select(low_thumbs | (pl.col("judge_score") <= 0.1)).to_series()
    assert picked.height == 200
    assert low.all()
    assert {"failure=feedback:thumbs", "failure=score:judge_score"} <= set(picked["stratum"])


def test_distinct_on_never_picks_the_same_content_twice() -> None:
    traces = make_traces(3000, seed=6)
    assert traces["content_hash"].n_unique() < traces.height
    spec = SamplingSpec.from_dict(
        {
            "budget": 300,
            "strategies": [{"kind": "failure"}, {"kind": "stratified", "by": ["route"]}, {"kind": "uniform"}],
        }
    )
    picked = sample(traces, spec, distinct_on="content_hash")
    assert picked["content_hash"].n_unique() == picked.height == 300


def test_novelty_skips_texts_the_dataset_already_has() -> None:
    known = [f"a long question about subject {i} with many shared words in it" for i in range(50)]
    fresh = [f"completely different wording {i} {i + 1} {i + 2} here today" for i in range(50)]
    traces = pl.DataFrame({"trace_id": [f"t{i:03d}" for i in range(100)], "input_text": known + fresh})
    spec = SamplingSpec.from_dict({"budget": 30, "strategies": [{"kind": "novelty", "pool_factor": 4}]})
    existing = signature_series(signatures(pl.Series(known)))
    picked = sample(traces, spec, existing_signatures=existing)
    assert picked.height == 30
    assert set(picked["input_text"]) <= set(fresh)
    assert set(picked["stratum"]) == {"jaccard<0.5"}
    # Without a dataset every text is novel.
    assert set(sample(traces, spec)["input_text"]) & set(known)


# ---- spec parsing and errors ----------------------------------------------------------------------------------

FULL_SPEC: dict[str, Any] = {
    "budget": 500,
    "seed": 20260101,
    "strategies": [
        {
            "kind": "failure",
            "share": 0.4,
            "low_feedback": {"thumbs": 0, "rating": 2},
            "low_scores": {"judge_score": 0.5},
        },
        {"kind": "stratified", "share": 0.3, "by": ["route", "model"], "min_per_stratum": 5},
        {"kind": "uniform", "share": 0.2, "count": 100},
        {"kind": "novelty", "share": 0.1, "text": "input_text", "max_similarity": 0.5},
    ],
    "dedup": {"hash_column": "content_hash", "text": "input_text", "near_threshold": 0.8},
}


def test_spec_round_trips_through_a_plain_dict() -> None:
    spec = SamplingSpec.from_dict(FULL_SPEC, columns=make_traces(1).columns)
    assert SamplingSpec.from_dict(spec.to_dict()) == spec
    assert spec.quotas() == [200, 150, 100, 50]
    assert [s.name for s in spec.strategies] == ["failure", "stratified", "uniform", "novelty"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"strategies": [{"kind": "random"}]},
            "unknown strategy kind 'random'; allowed: failure, novelty, stratified, uniform",
        ),
        (
            {"strategies": [{"kind": "uniform", "rat": 0.1}]},
            "unknown key(s) rat; allowed: count, name, rate, share",
        ),
        ({"strategies": [{"kind": "stratified"}]}, "missing required key(s) by"),
        (
            {"strategies": [{"kind": "uniform", "rate": "high"}]},
            "sampling.strategies[0] (uniform).rate: expected a number",
        ),
        ({"strategies": [{"kind": "uniform"}, {"kind": "uniform"}]}, "names must be unique, uniform repeats"),
        ({"budget": -1}, "budget=-1 must be >= 0"),
        ({"budget": "many"}, "sampling.budget: expected an integer"),
        ({"bugdet": 3}, "unknown key(s) bugdet; allowed: budget, dedup, seed, strategies"),
        ({"dedup": {"near_threshold": 1.5}}, "near_threshold=1.5 must be in (0, 1]"),
        ({"dedup": {"exact": True}}, "allowed: hash_column, near_threshold, text"),
        ({"strategies": [{"kind": "uniform", "share": 0}]}, "share=0.0 must be > 0"),
        ({"strategies": []}, "add at least one of: failure, novelty, stratified, uniform"),
    ],
)
def test_config_errors_name_the_problem_and_what_is_allowed(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        SamplingSpec.from_dict({**FULL_SPEC, **change})
    assert message in str(error.value)


def test_unknown_column_lists_the_available_columns() -> None:
    spec = {"budget": 5, "strategies": [{"kind": "stratified", "by": ["route", "region"]}]}
    columns = make_traces(1).columns
    with pytest.raises(ConfigError) as error:
        SamplingSpec.from_dict(spec, columns=columns)
    assert "strategy 'stratified': unknown column(s) 'region'; available: " + ", ".join(
        sorted(columns)
    ) in str(error.value)
    with pytest.raises(ConfigError, match="unknown column"):
        sample(make_traces(5), SamplingSpec.from_dict(spec))


def test_repeated_or_null_trace_ids_are_a_data_contract_error() -> None:
    spec = SamplingSpec(strategies=(Uniform(),), budget=5)
    traces = make_traces(10)
    with pytest.raises(DataContractError, match="occur more than once"):
        sample(pl.concat([traces, traces.head(2)]), spec)
    with pytest.raises(DataContractError, match="null 'trace_id'"):
        sample(
            traces.with_columns(
                trace_id=pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise("trace_id")
            ),
            spec,
        )


# ---- the nightly selection ------------------------------------------------------------------------------------


def _dataset(traces: pl.DataFrame, n: int) -> pl.DataFrame:
    """Items made from the first `n` distinct contents of `traces`, plus a paraphrase of one more."""
    contents = traces.unique("content_hash", keep="first", maintain_order=True)
    items = contents.head(n).select(
        pl.format("itm_{}", pl.int_range(pl.len())).alias("item_id"), "content_hash", "input_text"
    )
    return with_signatures(items, "input_text")


def test_selection_accounts_for_every_candidate_and_skips_known_content() -> None:
    traces = make_traces(4000, seed=12)
    existing = _dataset(traces, 150)
    spec = SamplingSpec.from_dict({**FULL_SPEC, "budget": 120})
    selection = select_new_traces(traces, existing, spec)
    picked, counts = selection.picked, selection.counts
    assert picked.height <= 120
    assert counts[CANDIDATES] == traces.height
    assert counts[PICKED] == picked.height
    assert (
        counts[CANDIDATES]
        == counts[PICKED]
        + counts[EXACT]
        + counts[near_reason(0.8)]
        + counts[NO_USABLE_INPUT]
        + counts[NOT_SAMPLED]
    )
    assert selection.dropped.height == counts[EXACT] + counts[near_reason(0.8)]
    assert not set(picked["content_hash"]) & set(existing["content_hash"])
    assert picked["content_hash"].n_unique() == picked.height
    assert picked.schema["minhash"] == pl.Array(pl.UInt64, 128)
    shuffled = select_new_traces(_shuffled(traces, 1), existing, spec)
    assert shuffled.picked.equals(picked)
    assert shuffled.counts == counts


def test_selection_replaces_near_duplicate_picks_from_the_candidates() -> None:
    # Every trace is a one-word variant of an existing item except the "fresh" ones.
    base = " ".join(f"word{i}" for i in range(40))
    variants = [base.replace("word20", f"other{i}") for i in range(30)]
    fresh = [" ".join(f"fresh{i}x{j}" for j in range(30)) for i in range(30)]
    texts = variants + fresh
    traces = pl.DataFrame(
        {
            "trace_id": [f"t{i:03d}" for i in range(len(texts))],
            "input_text": texts,
            "content_hash": [hashlib.sha256(t.encode()).hexdigest() for t in texts],
        }
    )
    existing = with_signatures(
        pl.DataFrame({"item_id": ["itm_0"], "content_hash": ["x"], "input_text": [base]}), "input_text"
    )
    spec = SamplingSpec.from_dict(
        {"budget": 20, "strategies": [{"kind": "uniform"}], "dedup": {"hash_column": "content_hash"}}
    )
    selection = select_new_traces(traces, existing, spec)
    assert selection.picked.height == 20
    assert set(selection.picked["input_text"]) <= set(fresh)
    near = selection.dropped.filter(pl.col("reason") == near_reason(0.8))
    assert set(near["duplicate_of"]) == {"itm_0"}


# ---- the shortlist: examining only what may be picked --------------------------------------------------------


class _CountingExamine:
    """Looks keys and texts up, declares traces whose text mentions `unusable` unusable, and records every row."""

    def __init__(self, spec: SamplingSpec, unusable: str = "topic 3 ") -> None:
        self.spec = spec
        self.unusable = unusable
        self.seen: list[str] = []

    def __call__(self, rows: pl.DataFrame) -> Examined:
        self.seen += rows["trace_id"].to_list()
        frame = rows.select("trace_id", *self.spec.dedup.columns()).with_columns(
            (~pl.col("input_text").str.contains(self.unusable, literal=True)).alias(USABLE)
        )
        return Examined(frame)


def _accounted(counts: dict[str, int]) -> int:
    parts = (PICKED, EXACT, near_reason(0.8), NO_USABLE_INPUT, NOT_SAMPLED)
    return sum(counts.get(name, 0) for name in parts)


def test_only_a_shortlist_is_examined_and_every_candidate_is_accounted_for() -> None:
    traces = make_traces(5000, seed=21)
    existing = _dataset(traces, 200)
    spec = SamplingSpec.from_dict({**FULL_SPEC, "budget": 50})
    examine = _CountingExamine(spec)
    selection = select_new_traces(traces, existing, spec, examine=examine, oversample=2)
    counts = selection.counts

    assert counts[PICKED] == selection.picked.height == 50
    assert _accounted(counts) == counts[CANDIDATES] == traces.height
    assert len(examine.seen) == len(set(examine.seen)) < traces.height // 5  # each row at most once, few
    assert counts[NO_USABLE_INPUT] > 0 and counts[NOT_SAMPLED] > 0
    assert not selection.picked["input_text"].str.contains("topic 3 ", literal=True).any()
    assert set(selection.dropped["trace_id"]) <= set(examine.seen)
    assert not set(selection.picked["content_hash"]) & set(existing["content_hash"])


def test_rejected_picks_are_refilled_from_the_next_ranked_candidates() -> None:
    # 90% of the night repeats the dataset: a shortlist of one budget cannot fill it in one round.
    traces = make_traces(3000, seed=22)
    known = traces.sample(fraction=0.9, seed=1)
    existing = with_signatures(
        known.unique("content_hash").select(
            pl.format("itm_{}", pl.int_range(pl.len())).alias("item_id"), "content_hash", "input_text"
        ),
        "input_text",
    )
    spec = SamplingSpec.from_dict(
        {"budget": 40, "strategies": [{"kind": "uniform"}], "dedup": {"hash_column": "content_hash"}}
    )
    selection = select_new_traces(traces, existing, spec, oversample=1)

    assert selection.picked.height == 40
    assert not set(selection.picked["content_hash"]) & set(existing["content_hash"])
    assert selection.counts[EXACT] >= 40  # far more than one round's worth were examined and rejected
    assert _accounted(selection.counts) == traces.height


def test_the_shortlist_selection_is_deterministic_and_ignores_row_order() -> None:
    traces = make_traces(4000, seed=23)
    existing = _dataset(traces, 100)
    spec = SamplingSpec.from_dict({**FULL_SPEC, "budget": 60})
    first = select_new_traces(traces, existing, spec, examine=_CountingExamine(spec))
    again = select_new_traces(_shuffled(traces, 5), existing, spec, examine=_CountingExamine(spec))

    assert first.picked.equals(again.picked)
    assert first.counts == again.counts
    assert first.dropped.sort("trace_id").equals(again.dropped.sort("trace_id"))


def test_ranking_ahead_of_the_dataset_gives_the_same_selection() -> None:
    traces = make_traces(3000, seed=24)
    existing = _dataset(traces, 100)
    spec = SamplingSpec.from_dict({**FULL_SPEC, "budget": 40})
    direct = select_new_traces(traces, existing, spec)
    ranked = select_new_traces(rank(traces, spec), existing, spec)

    assert ranked.picked.equals(direct.picked)
    assert ranked.counts == direct.counts


def test_a_question_asked_many_times_is_one_candidate_and_the_budget_is_filled() -> None:
    # 400 distinct questions, each asked by 50 traces (enough rows for selection to group equal inputs). Each
    # strategy ranks a question by its own best trace, so several traces of one question get examined; they
    # must not reject each other (and so the question) as duplicates within the night.
    traces = make_traces(20_000, seed=25)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
    questions = [f"why does {words[q % 10]} {words[q // 10 % 10]} matter for team {q}" for q in range(400)]
    texts = [questions[i % 400] for i in range(traces.height)]
    traces = traces.with_columns(
        pl.Series("input_text", texts),
        pl.Series("content_hash", [hashlib.sha256(t.encode()).hexdigest() for t in texts]),
    )
    spec = SamplingSpec.from_dict({**FULL_SPEC, "budget": 200})
    examine = _CountingExamine(spec, unusable="nothing is unusable")
    selection = select_new_traces(traces, _dataset(traces, 0), spec, examine=examine)

    assert selection.picked.height == 200
    assert selection.picked["input_text"].n_unique() == 200
    assert len(set(examine.seen) - set(selection.picked["trace_id"])) > 0  # other traces of picked questions
    assert selection.counts[EXACT] == 0
    assert _accounted(selection.counts) == traces.height

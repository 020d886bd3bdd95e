"""Score statistics pinned against scipy / hand-computed references: bootstrap, paired tests, Holm, agreement."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.scoring import stats
from tracewatch.scoring.aggregation import aggregate, compare_with_baseline
from tracewatch.scoring.agreement import cohen_kappa, spearman
from tracewatch.scoring.stats import (
    Interval,
    bootstrap_mean_ci,
    compare_paired,
    holm,
    sign_flip_test,
    verdict,
    wilcoxon_signed_rank,
)

# Paired differences with the awkward cases: ties in |d|, zeros, tiny n, binary scores, all one sign.
DIFFERENCE_SETS = [
    [1.0, 2.0, -1.0, 0.0, 3.0, 3.0, -2.0, 0.0, 1.5],
    [1.0, -1.0, 1.0, 1.0, 0.0, 0.0, 1.0, -1.0, 1.0, 1.0, 1.0, 0.0],  # 0/1 scores: all |d| tied
    [0.5],
    [0.2, -0.3],
    [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0],
    [-0.1, -0.2, -0.05, -0.3, -0.25, 0.01, -0.4],
    list(np.random.default_rng(7).normal(0.3, 1.0, size=14).round(1)),
]
finite_floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
small_ints = st.integers(min_value=-4, max_value=4).map(float)


# --- bootstrap -------------------------------------------------------------------------------------------


def test_no_values_give_no_interval_rather_than_a_number() -> None:
    assert bootstrap_mean_ci([], seed=0) == Interval(mean=None, low=None, high=None, n=0)


def test_one_value_gives_the_documented_degenerate_interval() -> None:
    assert bootstrap_mean_ci([0.7], seed=0) == Interval(mean=0.7, low=0.7, high=0.7, n=1)


def test_constant_values_have_a_zero_width_interval() -> None:
    assert bootstrap_mean_ci([1.0] * 30, seed=3) == Interval(mean=1.0, low=1.0, high=1.0, n=30)


@pytest.mark.parametrize("seed", [1, 2, 99])
@pytest.mark.parametrize("confidence", [0.9, 0.95])
def test_bootstrap_matches_scipy_percentile_bootstrap(seed: int, confidence: float) -> None:
    values = np.random.default_rng(seed).exponential(size=57)
    ours = bootstrap_mean_ci(values, confidence=confidence, resamples=5000, seed=seed)
    reference = scipy.stats.bootstrap(
        (values,), np.mean, confidence_level=confidence, n_resamples=5000, method="percentile", rng=seed
    ).confidence_interval
    assert ours.mean == pytest.approx(values.mean(), rel=1e-12)
    assert ours.low == pytest.approx(reference.low, rel=1e-9)
    assert ours.high == pytest.approx(reference.high, rel=1e-9)


def test_the_same_seed_gives_the_same_interval_and_another_seed_another() -> None:
    values = np.random.default_rng(0).normal(size=40)
    first = bootstrap_mean_ci(values, seed=11)
    assert bootstrap_mean_ci(values, seed=11) == first
    assert bootstrap_mean_ci(values, seed=12) != first


@pytest.mark.parametrize("n", [50, 51])
def test_memory_blocks_do_not_change_the_interval(n: int, monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(n).normal(size=n)
    whole = bootstrap_mean_ci(values, seed=5)
    monkeypatch.setattr(stats, "_BLOCK_ELEMENTS", 7 * n)  # blocks of 7 resamples
    assert bootstrap_mean_ci(values, seed=5) == whole


def test_bootstrap_intervals_cover_the_true_mean_about_as_often_as_promised() -> None:
    data = np.random.default_rng(2024)
    covered = 0
    trials = 300
    for seed in range(trials):
        sample = data.normal(loc=2.0, scale=1.5, size=40)
        interval = bootstrap_mean_ci(sample, resamples=1000, seed=seed)
        assert interval.low is not None and interval.high is not None
        covered += interval.low <= 2.0 <= interval.high
    # The percentile bootstrap under-covers slightly at n=40; 95% nominal, allow sampling noise.
    assert 0.88 <= covered / trials <= 0.99


def test_nan_in_scores_is_refused_because_a_failed_score_is_never_a_number() -> None:
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean_ci([1.0, float("nan")], seed=0)


@given(st.lists(finite_floats, min_size=2, max_size=40), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_the_interval_lies_within_the_data_and_is_ordered(values: list[float], seed: int) -> None:
    interval = bootstrap_mean_ci(values, resamples=200, seed=seed)
    assert interval.low is not None and interval.high is not None and interval.mean is not None
    slack = 1e-9 * (1 + max(abs(v) for v in values))
    assert min(values) - slack <= interval.low <= interval.high <= max(values) + slack
    assert interval.n == len(values)


# --- paired tests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("differences", DIFFERENCE_SETS)
def test_wilcoxon_matches_scipy_normal_approximation(differences: list[float]) -> None:
    reference = scipy.stats.wilcoxon(differences, zero_method="wilcox", correction=False, method="asymptotic")
    result = wilcoxon_signed_rank(differences)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert result.n == len(differences)


@given(st.lists(small_ints, min_size=1, max_size=30).filter(lambda d: any(x != 0 for x in d)))
@settings(max_examples=80, deadline=None)
def test_wilcoxon_matches_scipy_on_heavily_tied_differences(differences: list[float]) -> None:
    reference = scipy.stats.wilcoxon(differences, zero_method="wilcox", correction=False, method="asymptotic")
    assert wilcoxon_signed_rank(differences).p_value == pytest.approx(reference.pvalue, rel=1e-9)


def test_wilcoxon_is_undefined_when_every_difference_is_zero() -> None:
    result = wilcoxon_signed_rank([0.0, 0.0, 0.0])
    assert result.p_value is None and result.reason is not None and "non-zero" in result.reason


def scipy_sign_flip_p(differences: list[float]) -> float:
    if len(differences) == 1:
        return 1.0  # scipy needs two observations; with one, both sign patterns have the same |mean|
    return float(
        scipy.stats.permutation_test(
            (np.asarray(differences),),
            lambda d, axis: np.mean(d, axis=axis),
            permutation_type="samples",
            n_resamples=np.inf,
            vectorized=True,
        ).pvalue
    )


@pytest.mark.parametrize("differences", DIFFERENCE_SETS)
def test_exact_sign_flip_test_matches_scipy_permutation_test(differences: list[float]) -> None:
    result = sign_flip_test(differences, seed=0)
    assert result.method == "sign-flip permutation (exact)"
    assert result.p_value == pytest.approx(scipy_sign_flip_p(differences), rel=1e-12)


@given(st.lists(small_ints, min_size=1, max_size=10))
@settings(max_examples=60, deadline=None)
def test_exact_sign_flip_matches_scipy_with_ties_and_zeros(differences: list[float]) -> None:
    assert sign_flip_test(differences, seed=0).p_value == pytest.approx(scipy_sign_flip_p(differences))


def test_the_smallest_exact_p_value_is_two_over_two_to_the_n() -> None:
    assert sign_flip_test([1.0] * 6, seed=0).p_value == pytest.approx(2 / 2**6)


def test_all_zero_differences_give_p_one_and_no_pairs_give_no_p() -> None:
    assert sign_flip_test([0.0, 0.0], seed=0).p_value == 1.0
    empty = sign_flip_test([], seed=0)
    assert empty.p_value is None and empty.reason == "no paired items"


def test_monte_carlo_sign_flip_is_seeded_and_close_to_the_exact_p() -> None:
    differences = np.random.default_rng(3).normal(0.35, 1.0, size=18)
    exact = sign_flip_test(differences, seed=0, exact_max_n=18).p_value
    first = sign_flip_test(differences, seed=1, exact_max_n=10, resamples=40_000)
    assert first.method.startswith("sign-flip permutation (Monte Carlo")
    assert sign_flip_test(differences, seed=1, exact_max_n=10, resamples=40_000) == first
    assert exact is not None and first.p_value is not None
    assert first.p_value == pytest.approx(exact, abs=0.01)


def test_monte_carlo_p_value_is_never_zero() -> None:
    result = sign_flip_test([5.0] * 40, seed=0, resamples=999)
    assert result.p_value == pytest.approx(1 / 1000)


def test_paired_comparison_uses_only_items_both_configs_scored() -> None:
    nan = float("nan")
    candidate = [0.9, 0.8, nan, 0.7, 1.0, 0.6]
    baseline = [0.5, nan, 0.4, 0.6, 0.8, 0.6]
    result = compare_paired(candidate, baseline, seed=4)
    kept = np.array([0.9 - 0.5, 0.7 - 0.6, 1.0 - 0.8, 0.0])
    assert result.n == 4
    assert result.mean_difference == pytest.approx(kept.mean())
    interval = bootstrap_mean_ci(kept, seed=4)
    assert (result.ci_low, result.ci_high) == (interval.low, interval.high)
    assert result.p_value == pytest.approx(scipy_sign_flip_p(list(kept)))
    wilcoxon = compare_paired(candidate, baseline, test="wilcoxon", seed=4)
    assert wilcoxon.p_value == pytest.approx(
        scipy.stats.wilcoxon(kept, zero_method="wilcox", correction=False, method="asymptotic").pvalue
    )


def test_paired_comparison_without_common_items_has_no_numbers() -> None:
    nan = float("nan")
    result = compare_paired([1.0, nan], [nan, 1.0], seed=0)
    assert (result.n, result.mean_difference, result.ci_low, result.p_value) == (0, None, None, None)
    assert result.reason == "no paired items"


def test_paired_comparison_refuses_misaligned_inputs_and_unknown_tests() -> None:
    with pytest.raises(ValueError, match="aligned"):
        compare_paired([1.0, 2.0], [1.0], seed=0)
    with pytest.raises(ConfigError, match="unknown paired test"):
        compare_paired([1.0], [1.0], test="t-test", seed=0)  # type: ignore[arg-type]


# --- Holm ------------------------------------------------------------------------------------------------


def holm_by_formula(pvalues: list[float]) -> list[float]:
    """statsmodels' definition: k-th smallest p times (m - k + 1), running maximum, capped at 1."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for k, index in enumerate(order):
        running = max(running, (m - k) * pvalues[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def holm_step_down_rejects(pvalues: list[float], alpha: float) -> set[int]:
    """Holm's procedure itself: reject from the smallest p while p_(k) <= alpha / (m - k + 1)."""
    m = len(pvalues)
    rejected: set[int] = set()
    for k, index in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        if pvalues[index] > alpha / (m - k):
            break
        rejected.add(index)
    return rejected


HOLM_SETS = [
    [0.01, 0.04, 0.03, 0.005],
    [0.5],
    [0.02, 0.02, 0.02],
    [0.001, 0.9, 0.6, 0.04, 0.04],
    [0.3, 0.4, 0.8],
]


def test_holm_published_style_example_by_hand() -> None:
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


@pytest.mark.parametrize("pvalues", HOLM_SETS)
def test_holm_matches_the_formula_and_the_step_down_procedure(pvalues: list[float]) -> None:
    adjusted = holm(pvalues)
    assert adjusted == pytest.approx(holm_by_formula(pvalues))
    for alpha in (0.01, 0.03, 0.05, 0.1, 0.5):
        # rejecting where adjusted p <= alpha is exactly Holm's step-down at level alpha
        assert {i for i, p in enumerate(adjusted) if p <= alpha + 1e-12} == holm_step_down_rejects(
            pvalues, alpha
        )


def test_holm_of_nothing_is_nothing() -> None:
    assert holm([]).size == 0


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=25))
def test_holm_is_monotone_at_least_the_raw_p_and_capped_at_one(pvalues: list[float]) -> None:
    adjusted = holm(pvalues)
    assert adjusted == pytest.approx(holm_by_formula(pvalues))
    assert np.all(adjusted >= np.asarray(pvalues)) and np.all(adjusted <= 1.0)
    order = np.argsort(pvalues, kind="mergesort")
    assert np.all(np.diff(adjusted[order]) >= 0)


def test_holm_refuses_values_that_are_not_p_values() -> None:
    with pytest.raises(ValueError):
        holm([0.2, 1.5])
    with pytest.raises(ValueError):
        holm([float("nan")])


# --- verdict ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adjusted_p", "difference", "higher_is_better", "expected"),
    [
        (0.01, 0.2, True, "better"),
        (0.01, -0.2, True, "worse"),
        (0.01, 0.2, False, "worse"),  # e.g. latency or cost: up is bad
        (0.01, -0.2, False, "better"),
        (0.05, 0.2, True, "no detectable difference"),  # alpha itself is not below alpha
        (0.2, -0.5, True, "no detectable difference"),
        (None, 0.3, True, "no detectable difference"),
        (None, None, True, "no data"),  # nothing paired: no verdict at all
        (0.001, 0.0, True, "no detectable difference"),
    ],
)
def test_verdict(
    adjusted_p: float | None, difference: float | None, higher_is_better: bool, expected: str
) -> None:
    assert verdict(adjusted_p, difference, higher_is_better=higher_is_better) == expected


def test_verdict_respects_a_custom_alpha() -> None:
    assert verdict(0.03, 1.0, alpha=0.01) == "no detectable difference"
    assert verdict(0.03, 1.0, alpha=0.1) == "better"


# --- judge agreement -------------------------------------------------------------------------------------


def kappa_like_sklearn(judge: list[str], human: list[str]) -> float:
    """sklearn.metrics.cohen_kappa_score's formula: 1 - sum(w * confusion) / sum(w * expected), w = 1 - I."""
    labels = sorted(set(judge) | set(human))
    confusion = np.array(
        [
            [sum(1 for a, b in zip(judge, human, strict=True) if (a, b) == (x, y)) for y in labels]
            for x in labels
        ]
    )
    expected = np.outer(confusion.sum(axis=1), confusion.sum(axis=0)) / confusion.sum()
    weights = 1 - np.eye(len(labels))
    return float(1 - (weights * confusion).sum() / (weights * expected).sum())


def from_counts(yes_yes: int, yes_no: int, no_yes: int, no_no: int) -> tuple[list[str], list[str]]:
    pairs = [("y", "y")] * yes_yes + [("y", "n")] * yes_no + [("n", "y")] * no_yes + [("n", "n")] * no_no
    return [a for a, _ in pairs], [b for _, b in pairs]


@pytest.mark.parametrize(
    ("counts", "published"),
    [
        ((20, 5, 10, 15), 0.4),  # Wikipedia "Cohen's kappa", worked example
        ((45, 15, 25, 15), 0.1304),  # Wikipedia, same agreement with different marginals
        ((25, 35, 5, 35), 0.2593),
    ],
)
def test_kappa_matches_published_examples(counts: tuple[int, int, int, int], published: float) -> None:
    judge, human = from_counts(*counts)
    result = cohen_kappa(judge, human)
    assert result.statistic == pytest.approx(published, abs=5e-5)
    assert result.n == sum(counts)


@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("abcd")), min_size=2, max_size=60).filter(
        lambda pairs: len({a for a, _ in pairs} | {b for _, b in pairs}) > 1
    )
)
def test_kappa_matches_the_sklearn_formula_on_categorical_labels(pairs: list[tuple[str, str]]) -> None:
    judge = [a for a, _ in pairs]
    human = [b for _, b in pairs]
    assert cohen_kappa(judge, human).statistic == pytest.approx(kappa_like_sklearn(judge, human))


def test_kappa_is_one_for_perfect_agreement_and_undefined_without_variation() -> None:
    assert cohen_kappa([1, 0, 1, 1], [1, 0, 1, 1]).statistic == pytest.approx(1.0)
    constant = cohen_kappa(["pass"] * 5, ["pass"] * 5)
    assert constant.statistic is None and constant.reason is not None and constant.n == 5
    tiny = cohen_kappa(["pass"], ["fail"])
    assert tiny.statistic is None and tiny.n == 1
    with pytest.raises(ValueError, match="length"):
        cohen_kappa([1, 0], [1])


SPEARMAN_SETS = [
    ([1.0, 2.0, 2.0, 3.0], [1.0, 1.0, 2.0, 3.0]),
    ([0.1, 0.9, 0.4, 0.4, 0.7, 0.2], [1.0, 5.0, 3.0, 2.0, 4.0, 1.0]),  # judge score vs 1-5 stars
    ([1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0], [5.0, 1.0, 4.0, 4.0, 2.0, 3.0, 3.0]),
    ([3.0, 2.0, 1.0], [1.0, 2.0, 3.0]),
]


@pytest.mark.parametrize(("judge", "human"), SPEARMAN_SETS)
def test_spearman_matches_scipy_with_ties(judge: list[float], human: list[float]) -> None:
    result = spearman(judge, human)
    assert result.statistic == pytest.approx(scipy.stats.spearmanr(judge, human).statistic, rel=1e-12)
    assert result.n == len(judge)


@given(
    st.lists(st.tuples(small_ints, small_ints), min_size=3, max_size=40).filter(
        lambda pairs: len({a for a, _ in pairs}) > 1 and len({b for _, b in pairs}) > 1
    )
)
def test_spearman_matches_scipy_on_random_tied_data(pairs: list[tuple[float, float]]) -> None:
    x = [a for a, _ in pairs]
    y = [b for _, b in pairs]
    assert spearman(x, y).statistic == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-12)


def test_spearman_is_none_with_a_reason_for_tiny_or_constant_input() -> None:
    tiny = spearman([1.0, 2.0], [2.0, 1.0])
    assert tiny.statistic is None and tiny.reason is not None and "at least 3" in tiny.reason
    constant = spearman([1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0])
    assert constant.statistic is None and constant.reason is not None and "constant" in constant.reason
    assert spearman([1.0, 2.0, 3.0], [1.0, 3.0, 2.0]).statistic == pytest.approx(0.5)


# --- frames ----------------------------------------------------------------------------------------------


def score_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "config": ["a", "a", "a", "a", "b", "b", "b", "c"],
            "route": ["x", "x", "y", "y", "x", "x", "x", "x"],
            "value": [1.0, 0.5, 0.25, None, None, 2.0, 4.0, None],
            "status": ["scored", "scored", "scored", "unscored", "error", "scored", "scored", "error"],
        }
    )


def test_aggregate_averages_only_scored_rows_and_counts_the_rest() -> None:
    result = aggregate(score_frame(), ["config"], seed=3)
    assert result.columns == ["config", "mean", "n_scored", "n_unscored", "n_error", "ci_low", "ci_high"]
    rows = {row["config"]: row for row in result.iter_rows(named=True)}
    assert rows["a"]["mean"] == pytest.approx((1.0 + 0.5 + 0.25) / 3)
    assert (rows["a"]["n_scored"], rows["a"]["n_unscored"], rows["a"]["n_error"]) == (3, 1, 0)
    expected = bootstrap_mean_ci([1.0, 0.5, 0.25], seed=3)
    assert (rows["a"]["ci_low"], rows["a"]["ci_high"]) == (expected.low, expected.high)
    assert (rows["b"]["mean"], rows["b"]["n_scored"], rows["b"]["n_error"]) == (3.0, 2, 1)
    # a group that never scored has no mean, not a zero
    assert rows["c"] == {
        "config": "c", "mean": None, "n_scored": 0, "n_unscored": 0, "n_error": 1, "ci_low": None, "ci_high": None
    }  # fmt: skip


def test_aggregate_by_several_columns_is_sorted_and_deterministic() -> None:
    result = aggregate(score_frame(), ["config", "route"], seed=1)
    assert result.select("config", "route").rows() == [("a", "x"), ("a", "y"), ("b", "x"), ("c", "x")]
    assert result.equals(aggregate(score_frame().reverse(), ["config", "route"], seed=1))


def test_aggregate_without_groups_is_one_overall_row() -> None:
    overall = aggregate(score_frame(), [], seed=0).row(0, named=True)
    assert overall["mean"] == pytest.approx((1.0 + 0.5 + 0.25 + 2.0 + 4.0) / 5)
    assert (overall["n_scored"], overall["n_unscored"], overall["n_error"]) == (5, 1, 2)


def test_aggregate_of_an_empty_frame_is_an_empty_frame_with_the_columns() -> None:
    result = aggregate(score_frame().clear(), ["config"])
    assert result.height == 0 and result.columns[-2:] == ["ci_low", "ci_high"]


def test_aggregate_refuses_broken_score_frames() -> None:
    with pytest.raises(ConfigError, match="segment"):
        aggregate(score_frame(), ["segment"])
    with pytest.raises(DataContractError, match="unknown score statuses"):
        aggregate(score_frame().with_columns(pl.lit("failed").alias("status")), ["config"])
    no_status = score_frame().with_columns(pl.lit(None, dtype=pl.String).alias("status"))
    with pytest.raises(DataContractError, match="unknown score statuses"):
        aggregate(no_status, ["config"])
    broken = score_frame().with_columns(pl.lit("scored").alias("status"))
    with pytest.raises(DataContractError, match="no value"):
        aggregate(broken, ["config"])


def experiment_scores() -> pl.DataFrame:
    """20 items: 'good' beats the baseline on every item, 'same' equals it, 'partial' failed half the items."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, size=20)
    rows: list[dict[str, object]] = []
    for index, score in enumerate(base):
        item = f"i{index}"
        rows.append({"config": "base", "item_id": item, "metric": "f1", "value": score, "status": "scored"})
        rows.append(
            {"config": "good", "item_id": item, "metric": "f1", "value": score + 0.2, "status": "scored"}
        )
        rows.append({"config": "same", "item_id": item, "metric": "f1", "value": score, "status": "scored"})
        failed = index % 2 == 0
        rows.append(
            {
                "config": "partial",
                "item_id": item,
                "metric": "f1",
                "value": None if failed else score - 0.1,
                "status": "error" if failed else "scored",
            }
        )
        # latency: lower is better, 'good' is slower
        rows.append(
            {"config": "base", "item_id": item, "metric": "latency", "value": 1.0, "status": "scored"}
        )
        rows.append(
            {"config": "good", "item_id": item, "metric": "latency", "value": 1.5, "status": "scored"}
        )
        rows.append(
            {"config": "same", "item_id": item, "metric": "latency", "value": 1.0, "status": "scored"}
        )
    return pl.DataFrame(rows)


def test_compare_with_baseline_gives_holm_adjusted_verdicts_per_metric() -> None:
    frame = experiment_scores()
    result = compare_with_baseline(
        frame, baseline="base", higher_is_better={"f1": True, "latency": False}, seed=2
    )
    rows = {(row["metric"], row["config"]): row for row in result.iter_rows(named=True)}
    assert set(rows) == {
        ("f1", "good"),
        ("f1", "partial"),
        ("f1", "same"),
        ("latency", "good"),
        ("latency", "partial"),
        ("latency", "same"),
    }
    assert rows["f1", "good"]["verdict"] == "better"
    assert rows["f1", "good"]["mean_difference"] == pytest.approx(0.2)
    assert rows["f1", "partial"]["n_pairs"] == 10  # only the items both configs scored
    assert rows["f1", "partial"]["verdict"] == "worse"
    assert rows["f1", "same"]["verdict"] == "no detectable difference"
    assert rows["latency", "good"]["verdict"] == "worse"
    assert rows["latency", "same"]["p_value"] == 1.0
    # a config with no scores on a metric still gets a row, with nothing paired, no numbers and no verdict
    unpaired = rows["latency", "partial"]
    assert (unpaired["n_pairs"], unpaired["p_value"], unpaired["verdict"]) == (0, None, "no data")
    assert unpaired["verdict_reason"].startswith("no item was scored by both partial (0 scored) and base (")
    f1 = [rows["f1", name] for name in ("good", "partial", "same")]
    assert [row["p_adjusted"] for row in f1] == pytest.approx(list(holm([row["p_value"] for row in f1])))


def test_trials_of_an_item_are_averaged_before_pairing() -> None:
    frame = pl.DataFrame(
        {
            "config": ["base", "new", "new"],
            "item_id": ["i1", "i1", "i1"],
            "metric": ["m", "m", "m"],
            "value": [0.0, 1.0, 0.0],
            "status": ["scored"] * 3,
        }
    )
    result = compare_with_baseline(frame, baseline="base", higher_is_better={"m": True})
    assert result.row(0, named=True)["n_pairs"] == 1
    assert result.row(0, named=True)["mean_difference"] == pytest.approx(0.5)


def test_compare_with_baseline_names_what_is_misconfigured() -> None:
    frame = experiment_scores()
    with pytest.raises(ConfigError, match="baseline config 'missing'"):
        compare_with_baseline(frame, baseline="missing", higher_is_better={"f1": True, "latency": False})
    with pytest.raises(ConfigError, match="latency"):
        compare_with_baseline(frame, baseline="base", higher_is_better={"f1": True})


def test_stats_module_needs_no_scipy_at_run_time() -> None:
    source = Path(stats.__file__).read_text(encoding="utf-8").splitlines()
    imports = [line for line in source if line.startswith(("import ", "from "))]
    assert imports and not any("scipy" in line for line in imports)


def test_permutation_comparison_covers_every_sign_pattern_once() -> None:
    # sanity on the enumeration: with n = 3 distinct |d| the 8 sums are all distinct
    differences = [1.0, 2.0, 4.0]
    sums = sorted(abs(sum(s * d for s, d in zip(signs, differences, strict=True)))
                  for signs in itertools.product((1, -1), repeat=3))  # fmt: skip
    expected = sum(1 for value in sums if value >= 7.0) / 8
    assert sign_flip_test(differences, seed=0).p_value == pytest.approx(expected)

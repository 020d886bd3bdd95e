"""The `drift_distributions` rows of one night: each tested feature's reference and current shares, on the
buckets its test compared, so a report reader (the dashboard, a BI tool) can draw what moved without the
profiles.

A numeric feature is bucketed as its test bucketed it (`checks._numeric`): at the pooled reference's deciles
(`stats.quantile_edges` with `psi_bins`), or value by value when both sides have at most
`categorical_max_values` distinct values (then it was tested as categories). A categorical feature keeps
its `TOP_CATEGORIES` categories of largest share on either side plus one `OTHER` bucket carrying the rest,
so a feature of thousands of categories stays a few rows and every count is still in some bucket.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from tracewatch.drift import stats
from tracewatch.drift.checks import _as_categories
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.counts import NumericCounts
from tracewatch.drift.profile import DayProfile
from tracewatch.reports import DRIFT_DISTRIBUTIONS

TOP_CATEGORIES = 10
"""Categories kept by name per categorical feature; the rest are summed into `OTHER`."""
OTHER = "(other)"
_Buckets = tuple[list[str], np.ndarray, np.ndarray]


def distribution_frame(
    reference: DayProfile, current: DayProfile, features: Sequence[str], config: DriftConfig
) -> pl.DataFrame:
    """The rows of `features` (those the night tested; vectors have no buckets and are left out) present on
    both sides with values, in feature then bucket order."""
    rows: list[tuple[object, ...]] = []
    for name in sorted(set(features)):
        if name in reference.numeric and name in current.numeric:
            kind, buckets = (
                "numeric",
                numeric_buckets(name, reference.numeric[name], current.numeric[name], config),
            )
        elif name in reference.categorical and name in current.categorical:
            kind = "categorical"
            buckets = categorical_buckets(reference.categorical[name], current.categorical[name])
        else:
            continue
        labels, a, b = buckets
        if not a.sum() or not b.sum():
            continue
        for order, (label, ref, cur) in enumerate(zip(labels, a.tolist(), b.tolist(), strict=True)):
            rows.append((name, kind, label, order, ref / a.sum(), cur / b.sum(), ref, cur))
    schema = [(c, t) for c, t in DRIFT_DISTRIBUTIONS.schema.items() if c != "run_id"]
    return pl.DataFrame(rows, schema=schema, orient="row")


def numeric_buckets(name: str, ref: NumericCounts, cur: NumericCounts, config: DriftConfig) -> _Buckets:
    """Each side's counts on the buckets the feature's test used, labelled by their value or value range."""
    distinct = np.union1d(ref.values, cur.values)
    pinned = config.methods.get(name)
    if pinned is None and len(distinct) <= config.categorical_max_values:
        return [f"{v:.6g}" for v in distinct.tolist()], _on(ref, distinct), _on(cur, distinct)
    if pinned in ("chisquare", "jensenshannon"):  # tested as categories however many values it has
        return categorical_buckets(_as_categories(ref), _as_categories(cur))
    edges = stats.quantile_edges(ref, config.psi_bins)
    bounds = [f"{e:.4g}" for e in edges.tolist()]
    # A value equal to an edge falls in the bucket below it (`stats.bucket_counts`): (low, high].
    labels = [f"≤ {bounds[0]}"] if bounds else ["all"]
    labels += [f"({low}, {high}]" for low, high in itertools.pairwise(bounds)]
    labels += [f"> {bounds[-1]}"] if bounds else []
    return labels, stats.bucket_counts(ref, edges), stats.bucket_counts(cur, edges)


def categorical_buckets(ref: Mapping[str, int], cur: Mapping[str, int]) -> _Buckets:
    """The `TOP_CATEGORIES` categories of largest share on either side (by that share, then name), then
    `OTHER` with the rest when there is a rest."""
    keys, a, b = stats.aligned_categories(ref, cur)
    share = np.maximum(a / max(a.sum(), 1), b / max(b.sum(), 1))
    ranked = sorted(range(len(keys)), key=lambda i: (-share[i], keys[i]))
    kept, rest = ranked[:TOP_CATEGORIES], ranked[TOP_CATEGORIES:]
    labels = [keys[i] for i in kept]
    ref_counts, cur_counts = [int(a[i]) for i in kept], [int(b[i]) for i in kept]
    if rest:
        labels.append(OTHER)
        ref_counts.append(int(a[rest].sum()))
        cur_counts.append(int(b[rest].sum()))
    return labels, np.array(ref_counts, np.int64), np.array(cur_counts, np.int64)


def _on(table: NumericCounts, values: np.ndarray) -> np.ndarray:
    """The table's counts at each of `values` (0 where it has none)."""
    counts = dict(zip(table.values.tolist(), table.counts.tolist(), strict=True))
    return np.array([counts.get(v, 0) for v in values.tolist()], np.int64)

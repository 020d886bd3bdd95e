"""Exact percentiles of a day's values with bounded memory: radix selection over the files, a few key bits a pass.

Polars' "linear" quantile of a group needs two order statistics of its values, and a day's values do not fit
one process. Each value has an order key (`float_keys`: 64 bits that sort like the floats). Pass 1 (made with
the rest of the monitoring parts, per file) keeps per group a histogram of the keys' top `FIRST_WIDTH` bits;
the merged histograms say which bucket holds each rank a quantile needs and how many values lie below it. Each
further pass reads the files again and returns, for the values in the wanted buckets only, a histogram of more
key bits (`refine_frame`): all 64 (the values themselves, with their counts) when the wanted buckets hold at most
`VALUE_BUDGET` values in all, else `STEP` more bits. So a process holds histograms of at most 2**8 sub-buckets
per wanted bucket or at most `VALUE_BUDGET` values, never the day (a 1,000,000-trace day takes one further
pass, a 10,000,000-trace day two), and the answer is exact: the order statistics a sort of the group gives.

The interpolation is polars' own, to the bit, for a group whose `k` values are null (unknown) besides its `n`
known ones: f = q*(n-1) + k (polars sorts the nulls first and offsets the index by them), the order statistics
at floor(f)-k and ceil(f)-k, and a + (b-a)*(f - floor(f)) between them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.errors import DataContractError
from tracewatch.monitoring.exact_sum import list_column
from tracewatch.monitoring.float_keys import floats_from_keys, order_keys

FIRST_WIDTH = 16
"""Key bits of pass 1's histograms: sign, exponent and 4 mantissa bits (16 buckets a power of two)."""
STEP = 8
"""Key bits a further pass adds when the wanted buckets hold more than `VALUE_BUDGET` values."""
VALUE_BUDGET = 500_000
"""At most this many values (as distinct values with counts, keyed by group) cross to the merge in one pass:
about 40 MB in the flow's process."""
QUANTILES: tuple[float, ...] = (0.50, 0.90, 0.99)
BUCKET = pl.Struct({"bucket": pl.UInt64(), "count": pl.Int64()})
HISTOGRAM = pl.List(BUCKET)
_POSITION = 1 << 40
"""Ranks and positions within a group are below this (a trillion values a group), so gid * _POSITION +
position orders every group's positions in one Int64 column."""


def histogram_lists_by_id(ids: np.ndarray, values: pl.Series, groups: int) -> pl.Series:
    """Pass 1 of one part: per group id 0..`groups`-1, the `HISTOGRAM` of its finite `values`' top
    `FIRST_WIDTH` key bits (`ids`: each value's group id)."""
    finite = values.is_finite().fill_null(False).to_numpy()
    buckets = order_keys(values.filter(finite)).to_numpy() >> np.uint64(64 - FIRST_WIDTH)
    found, counts = np.unique(
        (ids[finite].astype(np.uint64) << np.uint64(FIRST_WIDTH)) | buckets, return_counts=True
    )
    fields = {"bucket": found & np.uint64((1 << FIRST_WIDTH) - 1), "count": counts.astype(np.int64)}
    return list_column(found >> np.uint64(FIRST_WIDTH), groups, fields, HISTOGRAM)


def merged_histograms(frame: pl.DataFrame, key: str, column: str) -> pl.DataFrame:
    """Per `key`, the `HISTOGRAM` lists of `column` added up, as rows (key, bucket, count)."""
    return (
        frame.select(key, column)
        .explode(column, keep_nulls=False, empty_as_null=False)
        .unnest(column)
        .group_by(key, "bucket")
        .agg(pl.col("count").sum())
    )


@dataclass(frozen=True)
class Grouping:
    """One grouping of the values (per hour, per day), as pass 1 left it.

    `index`: the group keys and a group id `gid` (UInt32). `sizes`: per gid the `values` (known) and `nulls`
    (unknown) it holds. `histogram`: per gid and `bucket` (the top `FIRST_WIDTH` key bits) the `count`."""

    index: pl.DataFrame
    sizes: pl.DataFrame
    histogram: pl.DataFrame

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(c for c in self.index.columns if c != "gid")


@dataclass(frozen=True)
class RadixQuery:
    """One further pass: per grouping, the buckets (`keys` + `prefix`, the top `width` key bits) whose values
    are wanted, counted by their top `next_width` bits."""

    width: int
    next_width: int
    wanted: Mapping[str, pl.DataFrame]


Refine = Callable[[RadixQuery], Mapping[str, pl.DataFrame]]
"""Runs a `RadixQuery` over every part of the day (`refine_frame` on each) and adds up the counts
(`combine_counts`)."""


def refine_frame(frame: pl.DataFrame, query: RadixQuery, column: str) -> dict[str, pl.DataFrame]:
    """A part's answer to `query`: per grouping, (keys, `sub`: the top `next_width` key bits, `count`) of its
    values in the wanted buckets. `frame` has `column` and every grouping's key columns."""
    finite = frame.filter(pl.col(column).is_finite())
    keys = order_keys(finite.get_column(column)).to_numpy()
    keyed = finite.with_columns(
        pl.Series("prefix", keys >> np.uint64(64 - query.width), dtype=pl.UInt64),
        pl.Series("sub", keys >> np.uint64(64 - query.next_width), dtype=pl.UInt64),
    )
    out = {}
    for name, wanted in query.wanted.items():
        group = [c for c in wanted.columns if c != "prefix"]
        prefixes = wanted.get_column("prefix").unique().implode()
        inside = (  # most rows are in no wanted bucket: a cheap test on the prefix first, then the exact match
            keyed.select(*group, "prefix", "sub")
            .filter(pl.col("prefix").is_in(prefixes))
            .join(wanted, on=[*group, "prefix"], how="semi", nulls_equal=True)
        )
        out[name] = inside.group_by(*group, "sub").agg(pl.len().cast(pl.Int64).alias("count"))
    return out


def combine_counts(answers: list[Mapping[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    """The answers of several parts to one `RadixQuery`, added up per grouping, keys and `sub`."""
    names = {name for answer in answers for name in answer}
    out = {}
    for name in names:
        frames = [answer[name] for answer in answers if name in answer]
        keys = [c for c in frames[0].columns if c not in ("sub", "count")]
        out[name] = pl.concat(frames).group_by(*keys, "sub").agg(pl.col("count").sum())
    return out


def rank_plan(sizes: pl.DataFrame) -> pl.DataFrame:
    """Per gid with a known value and quantile `q`: the ranks `lo` and `hi` (0-based among the known values)
    and the fraction `frac` between them, as polars computes them (see the module docstring)."""
    plans = []
    for q in QUANTILES:
        f = pl.lit(q, dtype=pl.Float64) * (pl.col("values") - 1).cast(pl.Float64) + pl.col("nulls").cast(
            pl.Float64
        )
        plans.append(
            sizes.filter(pl.col("values") > 0).select(
                "gid",
                pl.lit(q, dtype=pl.Float64).alias("q"),
                (f.floor().cast(pl.Int64) - pl.col("nulls")).alias("lo"),
                (f.ceil().cast(pl.Int64) - pl.col("nulls")).alias("hi"),
                (f - f.floor()).alias("frac"),
            )
        )
    return pl.concat(plans)


def _locate(ranks: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """Per (gid, rank): the candidate bucket holding that order statistic, with the values `below` it.

    `candidates`: (gid, parent, bucket, count, base), where `base` is the number of the group's values below
    the parent bucket; a parent's buckets hold all its values."""
    positioned = (
        candidates.sort("gid", "bucket")
        .with_columns(
            (pl.col("base") + pl.col("count").cum_sum().over("gid", "parent", order_by="bucket")).alias("end")
        )
        .with_columns(
            (pl.col("gid").cast(pl.Int64) * _POSITION + pl.col("end")).alias("pos"),
            (pl.col("end") - pl.col("count")).alias("below"),
        )
        .sort("pos")
    )
    wanted = ranks.with_columns(
        (pl.col("gid").cast(pl.Int64) * _POSITION + pl.col("rank") + 1).alias("pos")
    ).sort("pos")
    found = wanted.join_asof(
        positioned.select("pos", pl.col("gid").alias("found_gid"), "bucket", "below", "count"),
        on="pos",
        strategy="forward",
    )
    lost = found.filter(pl.col("found_gid").is_null() | (pl.col("found_gid") != pl.col("gid")))
    if lost.height:
        raise DataContractError(
            f"monitoring: {lost.height} latency order statistic(s) not found in the values read again "
            "(a trace file changed between the passes over the day?); run the monitoring step again"
        )
    return found.select("gid", "rank", pl.col("bucket").alias("prefix"), "below", "count")


def _refined(state: pl.DataFrame, counts: pl.DataFrame, shift: int) -> pl.DataFrame:
    """The sub-buckets of the located buckets (`state`), as `_locate` candidates; checks that they hold every
    value the previous pass counted in them."""
    buckets = state.select("gid", "prefix", "below", "count").unique()
    subs = counts.with_columns((pl.col("sub") // pl.lit(1 << shift, dtype=pl.UInt64)).alias("prefix")).join(
        buckets.select("gid", "prefix", pl.col("below").alias("base")),
        on=["gid", "prefix"],
        how="inner",
    )
    got = subs.group_by("gid", "prefix").agg(pl.col("count").sum())
    short = buckets.join(got, on=["gid", "prefix"], how="left").filter(
        pl.col("count_right").fill_null(0) != pl.col("count")
    )
    if short.height:
        raise DataContractError(
            f"monitoring: the latencies read again do not match the first pass in {short.height} bucket(s) "
            "(a trace file changed or became unreadable between the passes over the day?); run the "
            "monitoring step again"
        )
    return subs.select(
        "gid", pl.col("prefix").alias("parent"), pl.col("sub").alias("bucket"), "count", "base"
    )


def percentiles(
    groupings: Mapping[str, Grouping], refine: Refine, column: str, *, value_budget: int = VALUE_BUDGET
) -> dict[str, pl.DataFrame]:
    """Per grouping: (gid, `<column>_p50`, `_p90`, `_p99`) for every gid, null where it has no known value."""
    plans = {name: rank_plan(g.sizes) for name, g in groupings.items()}
    states = {}
    for name, g in groupings.items():
        ranks = pl.concat(
            [plans[name].select("gid", pl.col(end).alias("rank")) for end in ("lo", "hi")]
        ).unique()
        first = g.histogram.select(
            "gid",
            pl.lit(0, dtype=pl.UInt64).alias("parent"),
            "bucket",
            "count",
            pl.lit(0, pl.Int64).alias("base"),
        )
        states[name] = (ranks, _locate(ranks, first))
    width = FIRST_WIDTH
    while width < 64:
        live = {name: s for name, s in states.items() if s[1].height}
        if not live:
            break
        wanted_values = sum(
            int(s.select("gid", "prefix", "count").unique().get_column("count").sum())
            for _, s in live.values()
        )
        next_width = 64 if wanted_values <= value_budget else min(64, width + STEP)
        wanted = {
            name: s.select("gid", "prefix")
            .unique()
            .join(groupings[name].index, on="gid")
            .select(*groupings[name].keys, "prefix")
            for name, (_, s) in live.items()
        }
        answers = refine(RadixQuery(width, next_width, wanted))
        for name, (ranks, state) in live.items():
            answer = answers.get(name)
            if answer is None:  # no part answered (no file left): `_refined` reports the values as missing
                answer = (
                    wanted[name]
                    .clear()
                    .rename({"prefix": "sub"})
                    .with_columns(pl.lit(0, pl.Int64).alias("count"))
                )
            counts = answer.join(groupings[name].index, on=list(groupings[name].keys), nulls_equal=True)
            candidates = _refined(state, counts.select("gid", "sub", "count"), next_width - width)
            states[name] = (ranks, _locate(ranks, candidates))
        width = next_width
    return {
        name: _interpolated(groupings[name].sizes, plans[name], states[name][1], column) for name in groupings
    }


def _interpolated(
    sizes: pl.DataFrame, plan: pl.DataFrame, located: pl.DataFrame, column: str
) -> pl.DataFrame:
    """The quantiles from the exact order statistics (`located` at 64 bits: `prefix` is the value's key)."""
    values = located.select("gid", "rank", floats_from_keys(located.get_column("prefix")).alias("value"))
    lo = values.rename({"rank": "lo", "value": "a"})
    hi = values.rename({"rank": "hi", "value": "b"})
    joined = plan.join(lo, on=["gid", "lo"], how="left").join(hi, on=["gid", "hi"], how="left")
    result = joined.select(
        "gid",
        "q",
        pl.when(pl.col("lo") == pl.col("hi"))
        .then(pl.col("a"))
        .otherwise(pl.col("a") + (pl.col("b") - pl.col("a")) * pl.col("frac"))
        .alias("value"),
    )
    out = sizes.select("gid")
    for q in QUANTILES:
        per_q = result.filter(pl.col("q") == q).select(
            "gid", pl.col("value").alias(f"{column}_p{round(q * 100)}")
        )
        out = out.join(per_q, on="gid", how="left")
    return out

"""Daily profiles in the object store: one Parquet object per day at `warehouse/profiles/date=YYYY-MM-DD/`.

Long format (one row per value or category) so any number of features and bins fits one small schema, and
a rerun of a date replaces its single object atomically. Text-vector moments are rows too: `vector_meta`
(count = vectors, value = dimensions) and `vector` (category `sum` or `cross`, count = the position in the sum
vector or in the row-major upper triangle of the cross-products, value = the number). Per-segment tables
(`DayProfile.segments`) are `meta` (`rows`), `numeric_meta`, `numeric` and `categorical` rows whose `segment`
holds the segment's label; the day's own rows have a null `segment`. A profile written before segments has no
`segment` column and reads back with none.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping

import numpy as np
import polars as pl

from tracewatch.drift.counts import NumericCounts
from tracewatch.drift.profile import DayProfile
from tracewatch.drift.segments import SegmentTables
from tracewatch.drift.vectors import VectorMoments, from_upper_triangle, upper_triangle
from tracewatch.errors import DataContractError
from tracewatch.store import Store

PROFILES_PREFIX = "warehouse/profiles"
PROFILE_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),  # numeric | numeric_meta | categorical | meta | vector_meta | vector
    "feature": pl.String(),
    "value": pl.Float64(),
    "category": pl.String(),
    "count": pl.Int64(),
    "exact": pl.Boolean(),
    "segment": pl.String(),
}


def profile_key(day: dt.date) -> str:
    """The one object holding the profile of `day`."""
    return f"{PROFILES_PREFIX}/date={day.isoformat()}/profile.parquet"


def profile_frame(profile: DayProfile) -> pl.DataFrame:
    """The long-format table of a one-day profile."""
    if len(profile.dates) != 1:
        raise ValueError("only one-day profiles are stored; windows are merged when read")
    parts = [
        pl.DataFrame(
            {
                "kind": "meta",
                "feature": ["rows", "version", "text_version"],
                "count": [profile.rows, profile.version, profile.text_version],
            }
        ),
        *_tables_frames(profile.numeric, profile.categorical),
    ]
    for name, moments in profile.vectors.items():
        parts.append(_vector_frame(name, moments))
    for label, tables in profile.segments.items():
        segment = [pl.DataFrame({"kind": "meta", "feature": "rows", "count": [tables.rows]})]
        segment.extend(_tables_frames(tables.numeric, tables.categorical))
        parts.extend(p.with_columns(pl.lit(label).alias("segment")) for p in segment)
    aligned = [
        p.with_columns(pl.lit(None).alias(c) for c in PROFILE_SCHEMA if c not in p.columns) for p in parts
    ]
    return pl.concat([p.select(list(PROFILE_SCHEMA)).cast(PROFILE_SCHEMA) for p in aligned])  # type: ignore[arg-type]


def _tables_frames(
    numeric: Mapping[str, NumericCounts], categorical: Mapping[str, Mapping[str, int]]
) -> list[pl.DataFrame]:
    parts = []
    for name, table in numeric.items():
        parts.append(
            pl.DataFrame(
                {"kind": "numeric_meta", "feature": name, "count": table.nulls, "exact": table.exact}
            )
        )
        parts.append(
            pl.DataFrame({"kind": "numeric", "feature": name, "value": table.values, "count": table.counts})
        )
    for name, counts in categorical.items():
        parts.append(
            pl.DataFrame(
                {
                    "kind": "categorical",
                    "feature": name,
                    "category": list(counts),
                    "count": list(counts.values()),
                },
                schema={"kind": pl.String, "feature": pl.String, "category": pl.String, "count": pl.Int64},
            )
        )
    return parts


def _vector_frame(name: str, moments: VectorMoments) -> pl.DataFrame:
    upper = upper_triangle(moments.cross)
    dimensions = len(moments.total)
    return pl.DataFrame(
        {
            "kind": ["vector_meta"] + ["vector"] * (dimensions + len(upper)),
            "feature": name,
            "value": [float(dimensions), *moments.total.tolist(), *upper.tolist()],
            "category": [None] + ["sum"] * dimensions + ["cross"] * len(upper),
            "count": [moments.n, *range(dimensions), *range(len(upper))],
        },
        schema={
            "kind": pl.String,
            "feature": pl.String,
            "value": pl.Float64,
            "category": pl.String,
            "count": pl.Int64,
        },
    )


def _vectors_from_frame(frame: pl.DataFrame) -> dict[str, VectorMoments]:
    out = {}
    rows = frame.filter(pl.col("kind") == "vector").sort("feature", "category", "count")
    parts = rows.partition_by("feature", "category", as_dict=True)
    for name, dimensions, n in (
        frame.filter(pl.col("kind") == "vector_meta").select("feature", "value", "count").iter_rows()
    ):
        size = int(dimensions)
        total = (
            parts[(name, "sum")].get_column("value").to_numpy() if (name, "sum") in parts else np.zeros(size)
        )
        cross = parts[(name, "cross")].get_column("value").to_numpy() if (name, "cross") in parts else None
        out[name] = VectorMoments(
            int(n),
            total.astype(np.float64),
            from_upper_triangle(cross, size) if cross is not None else np.zeros((size, size)),
        )
    return dict(sorted(out.items()))


def profile_from_frame(frame: pl.DataFrame, day: dt.date) -> DayProfile:
    """Rebuild a profile from its stored table."""
    if "segment" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("segment"))
    own = frame.filter(pl.col("segment").is_null())
    meta = dict(own.filter(pl.col("kind") == "meta").select("feature", "count").iter_rows())
    if "rows" not in meta:
        raise DataContractError(f"the profile of {day} has no row count; rebuild it")
    segments = {}
    segmented = frame.filter(pl.col("segment").is_not_null())
    for (label,), part in segmented.partition_by("segment", as_dict=True).items():
        rows = part.filter((pl.col("kind") == "meta") & (pl.col("feature") == "rows")).get_column("count")
        segments[str(label)] = SegmentTables(int(rows.sum()), *_tables_from_frame(part))
    numeric, categorical = _tables_from_frame(own)
    return DayProfile(
        dates=(day,),
        rows=int(meta["rows"]),
        numeric=numeric,
        categorical=categorical,
        vectors=_vectors_from_frame(own),
        version=int(meta.get("version", 0)),
        text_version=int(meta.get("text_version", 0)),
        segments=dict(sorted(segments.items())),
    )


def _tables_from_frame(frame: pl.DataFrame) -> tuple[dict[str, NumericCounts], dict[str, dict[str, int]]]:
    numeric = {}
    values = frame.filter(pl.col("kind") == "numeric").partition_by("feature", as_dict=True)
    for name, nulls, exact in (
        frame.filter(pl.col("kind") == "numeric_meta").select("feature", "count", "exact").iter_rows()
    ):
        part = values.get((name,))
        numeric[name] = NumericCounts(
            part.get_column("value").to_numpy().astype(np.float64) if part is not None else np.empty(0),
            part.get_column("count").to_numpy().astype(np.int64)
            if part is not None
            else np.empty(0, np.int64),
            exact=bool(exact),
            nulls=int(nulls),
        )
    categorical: dict[str, dict[str, int]] = {}
    for name, category, count in (
        frame.filter(pl.col("kind") == "categorical").select("feature", "category", "count").iter_rows()
    ):
        categorical.setdefault(name, {})[category] = count
    return dict(sorted(numeric.items())), {k: dict(sorted(v.items())) for k, v in sorted(categorical.items())}


def write_profile(store: Store, profile: DayProfile) -> str:
    """Replace the stored profile of its day; returns the key."""
    key = profile_key(profile.day)
    store.write_parquet(key, profile_frame(profile))
    return key


def read_profile(store: Store, day: dt.date) -> DayProfile | None:
    """The stored profile of `day`, or None when that day was never profiled."""
    key = profile_key(day)
    if not store.exists(key):
        return None
    return profile_from_frame(store.read_parquet(key), day)


def read_profiles(store: Store, days: list[dt.date]) -> dict[dt.date, DayProfile]:
    """The stored profiles among `days`, fetched together; days never profiled are simply absent."""
    keys = {profile_key(day): day for day in days}
    blobs = store.read_many(list(keys))
    return {
        keys[key]: profile_from_frame(pl.read_parquet(io.BytesIO(blob)), keys[key])
        for key, blob in blobs.items()
    }

"""Stratified sampling: a minimum per stratum so rare routes, models or tags are represented, the rest proportional."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import BeforeValidator, Field, Strict, WithJsonSchema, field_validator

from tracewatch.datasets.config import Range
from tracewatch.datasets.sampling._allocate import allocate_strata
from tracewatch.datasets.sampling._pool import GROUP, KEY, POS, STRATUM, Pool, StrategyBase, picks
from tracewatch.errors import ConfigError
from tracewatch.traces import TRACE_SCHEMA

LIST_SEPARATOR = "|"
_AT = "_at"

Column = Annotated[str, WithJsonSchema({"enum": list(TRACE_SCHEMA), "type": "string"})]
"""A column of the traces sampled. Any name is accepted (the frame sampled decides); the form offers the trace
columns, which are what a dataset spec samples."""


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


class Stratified(StrategyBase):
    """Group candidates by the values of `by` and sample each group in hash-draw order.

    Each stratum first gets `min_per_stratum` picks (all of its rows when it has fewer); what is left of the
    budget goes to strata in proportion to their remaining rows. A list column (tags) counts as one value: its
    sorted elements joined by `|`, so a trace lands in exactly one stratum.
    """

    label: ClassVar[str] = "stratified strategy"

    kind: Literal["stratified"] = "stratified"
    """stratified: every group of `by` represented"""
    by: Annotated[tuple[Column, ...], BeforeValidator(_one_or_many), Field(json_schema_extra={"minItems": 1})]
    """trace columns to group by, e.g. route, model (required)"""
    min_per_stratum: Annotated[int, Strict(), Range(ge=0)] = 1
    """picks every group gets first"""

    @field_validator("by")
    @classmethod
    def _some_column(cls, by: tuple[str, ...]) -> tuple[str, ...]:
        if not by:
            raise ValueError("`by` needs at least one column")
        return by

    def key_columns(self) -> tuple[str, ...]:
        return self.by

    def pick(self, pool: Pool, quota: int) -> pl.DataFrame:
        competing = pool.competing(self)
        # Strata of the competing rows only: with repeated inputs, a few thousand rows instead of a million.
        everyone = competing.height == pool.frame.height  # then `competing` is `frame`, in order
        ids, labels = pool.remember(
            f"{self.name}/strata",
            lambda: stratum_ids(pool.frame if everyone else pool.at(competing[POS], *self.by), self.by),
        )
        available = pool.availability.at(competing[POS].to_numpy())
        keyed, group = competing.filter(pl.Series(available)), ids[available]
        if pool.horizon is not None:
            return self._pick_shortlisted(pool, quota, keyed, ids, labels, available)
        sizes = np.bincount(group, minlength=len(labels))
        quotas = np.array(allocate_strata(sizes.tolist(), quota, self.min_per_stratum), dtype=np.int64)
        chosen = pool.smallest_per_group(keyed, group, quotas)
        return picks(chosen, labels.gather(chosen[GROUP]))

    def _pick_shortlisted(
        self,
        pool: Pool,
        quota: int,
        keyed: pl.DataFrame,
        ids: NDArray[np.int64],
        labels: pl.Series,
        available: NDArray[np.bool_],
    ) -> pl.DataFrame:
        """`pick` over merged shortlists: the allocation uses the whole night's stratum sizes (less the
        candidates taken, which are all shortlisted), and each stratum's picks are certified below its horizon."""
        assert pool.horizon is not None
        strata = pool.horizon.strata[self.name]
        index = {label: at for at, label in enumerate(strata.labels.to_list())}
        missing = [label for label in labels.to_list() if label not in index]
        if missing:
            raise AssertionError(f"strategy {self.name!r}: shortlisted strata {missing} are not the night's")
        everywhere = np.array([index[label] for label in labels.to_list()], dtype=np.int64)[ids]
        taken = np.bincount(everywhere[~available], minlength=strata.labels.len())
        sizes = strata.sizes - taken
        quotas = np.array(allocate_strata(sizes.tolist(), quota, self.min_per_stratum), dtype=np.int64)
        group = everywhere[available]
        shortlisted = np.bincount(group, minlength=strata.labels.len())
        chosen = pool.smallest_per_group(keyed, group, np.minimum(quotas, shortlisted))
        found = chosen.group_by(GROUP).agg(pl.col(KEY))
        keys = dict(zip(found[GROUP].to_list(), found[KEY].to_list(), strict=True))
        for at in np.flatnonzero(quotas):
            stratum = strata.labels[int(at)]
            got = pl.Series(KEY, keys.get(int(at), []), dtype=pl.Float64)
            pool.horizon.certify(self.name, got, int(quotas[at]), stratum=stratum)
        return picks(chosen, strata.labels.gather(chosen[GROUP]))


def stratum_ids(frame: pl.DataFrame, by: tuple[str, ...]) -> tuple[NDArray[np.int64], pl.Series]:
    """Per row, the index of its stratum in the sorted labels, and the labels (e.g.
    `route=qa,model=gpt-4o-mini,tags=film|followup`).

    Labels are built once per distinct combination (group, label, scatter back), which is much cheaper than
    building a string per row when a list column is involved.
    """
    label = pl.concat_str([_label_part(c, frame.schema[c]) for c in by], separator=",").alias(STRATUM)
    grouped = frame.select(by).with_row_index(_AT).group_by(list(by)).agg(_AT).with_columns(label)
    grouped = grouped.with_columns((pl.col(STRATUM).rank("dense").cast(pl.Int64) - 1).alias(GROUP))
    flat = grouped.select(GROUP, _AT).explode(_AT)
    ids = np.zeros(frame.height, dtype=np.int64)
    ids[flat[_AT].to_numpy()] = flat[GROUP].to_numpy()
    return ids, grouped[STRATUM].unique().sort()


def _label_part(column: str, dtype: pl.DataType) -> pl.Expr:
    value = pl.col(column)
    inner = dtype.inner if isinstance(dtype, pl.List | pl.Array) else None
    if (dtype.is_nested() and inner is None) or (inner is not None and inner.is_nested()):
        raise ConfigError(
            f"cannot stratify by {column!r} of type {dtype}: use scalar or list-of-scalar columns"
        )
    if inner is not None:
        elements = value.cast(pl.List(inner)).list.eval(pl.element().cast(pl.String))
        text = elements.list.sort().list.join(LIST_SEPARATOR)
    else:
        text = value.cast(pl.String)
    return pl.concat_str([pl.lit(f"{column}="), text.fill_null("null")])

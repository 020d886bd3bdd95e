"""Run real Great Expectations on a bounded sample of a day: the cross-check and the Data Docs.

This is the only module of tracewatch that imports `great_expectations`, and it does so lazily inside
`run_suite`: GX takes seconds to import and is needed once a night, while `sample_for_gx` and the result
types are cheap. Every run uses a fresh in-memory (ephemeral) context: nothing is written to the working
directory, no project folder is needed, analytics are off and nothing is fetched from the network. GX's
Data Docs pages load their styles and scripts from CDNs when viewed; `offline_docs` rewrites the built site so it
needs none. GX's own INFO logging is quieted (`gx_logging`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import polars as pl

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.validation.gx_logging import quiet_gx_loggers
from tracewatch.validation.offline_docs import make_site_offline
from tracewatch.validation.suite import Suite, day_parameters, load_suite

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_ROWS = 20_000
_LARGE_FRAME_ROWS = 200_000  # GX through pandas: ~3-5 s and ~350 MB per million rows (polars: ~0.15 s)
_SITE_NAME = "local_site"


@dataclass(frozen=True)
class GxExpectationResult:
    """What GX said about one expectation. Counts are GX's own (`unexpected_count` excludes nulls except
    for not-null expectations; `element_count` is every row of the sample)."""

    type: str
    column: str
    id: str
    success: bool
    element_count: int
    unexpected_count: int
    missing_count: int
    partial_unexpected_list: tuple[Any, ...]
    exception: str | None = None


@dataclass(frozen=True)
class GxRunResult:
    """A GX validation of one sample: overall success, one entry per expectation in suite order, and the
    Data Docs index page when docs were built."""

    success: bool
    row_count: int
    expectations: tuple[GxExpectationResult, ...]
    docs_index: Path | None = None

    def by_id(self) -> dict[str, GxExpectationResult]:
        """Results keyed by the expectation's stable id."""
        return {r.id: r for r in self.expectations}

    def to_json_dict(self) -> dict[str, Any]:
        """This result as JSON-ready data (datetimes in ISO form, paths as text), for storing next to the docs."""
        return {
            "success": self.success,
            "row_count": self.row_count,
            "docs_index": None if self.docs_index is None else str(self.docs_index),
            "expectations": [
                {
                    "type": r.type,
                    "column": r.column,
                    "id": r.id,
                    "success": r.success,
                    "element_count": r.element_count,
                    "unexpected_count": r.unexpected_count,
                    "missing_count": r.missing_count,
                    "partial_unexpected_list": [_json_value(v) for v in r.partial_unexpected_list],
                    "exception": r.exception,
                }
                for r in self.expectations
            ],
        }


def sample_for_gx(
    frame: pl.DataFrame,
    failing_row_nrs: Iterable[int] | pl.Series,
    *,
    max_rows: int = DEFAULT_SAMPLE_ROWS,
    seed: int = 0,
    max_failing: int | None = None,
    unique_columns: Sequence[str] = (),
) -> pl.DataFrame:
    """A bounded, deterministic slice of a day that still shows its failures to GX.

    Takes the failing rows (at most `max_failing`, default half of `max_rows`, a seeded sample if there are
    more), then fills up to `max_rows` with a seeded sample of passing rows (and, if those run out, of the
    failing rows left over). For each column in `unique_columns` the first occurrence of every sampled
    duplicate is added too, so GX sees the duplicate pair and not a lone, apparently unique value; these
    can take the sample past `max_rows` by at most `max_failing` rows per column. Rows keep their order in
    `frame`, so "first occurrence" means the same in the sample as in the day.
    """
    if max_rows <= 0:
        raise ConfigError(f"max_rows must be positive, got {max_rows}")
    cap = max_rows // 2 if max_failing is None else max_failing
    height = frame.height
    rng = np.random.default_rng(seed)
    failing = np.unique(np.asarray(list(failing_row_nrs), dtype=np.int64))
    failing = failing[(failing >= 0) & (failing < height)]
    picked = failing if failing.size <= cap else np.sort(rng.choice(failing, size=cap, replace=False))
    keep = np.zeros(height, dtype=bool)
    keep[picked] = True
    keep[_first_occurrences(frame, picked, unique_columns)] = True
    is_failing = np.zeros(height, dtype=bool)
    is_failing[failing] = True
    room = max_rows - int(keep.sum())
    for pool in (np.flatnonzero(~is_failing & ~keep), np.flatnonzero(is_failing & ~keep)):
        if room <= 0:
            break
        taken = pool if pool.size <= room else rng.choice(pool, size=room, replace=False)
        keep[taken] = True
        room -= taken.size
    return frame.filter(pl.Series(keep, dtype=pl.Boolean))


def run_suite(
    frame: pl.DataFrame,
    suite_path_or_obj: Path | str | Mapping[str, Any] | Suite,
    *,
    day: date,
    docs_dir: Path | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> GxRunResult:
    """Validate `frame` (a bounded sample; see `sample_for_gx`) with real Great Expectations.

    Suite parameters are `day_start`/`day_end` for `day`, plus `parameters`. With `docs_dir`, a static
    Data Docs site (index.html, suite and validation pages) is built there, readable offline
    (`offline_docs.make_site_offline`). Only the columns the suite reads
    are converted to pandas; the rest (lists, structs) are never needed by an expectation. The row-only
    expectations (`ROW_ONLY_TYPES`: finiteness, which pandas cannot tell from null) are left out.
    """
    suite = load_suite(suite_path_or_obj).for_gx()
    if frame.height > _LARGE_FRAME_ROWS:
        logger.warning(
            "running GX on %d rows: pass a sample (sample_for_gx), GX is slow on whole days", frame.height
        )
    missing = [c for c in suite.columns if c not in frame.schema]
    if missing:
        raise DataContractError(f"suite {suite.name!r} reads columns {missing} that the frame does not have")
    data = frame.select(suite.columns).to_pandas()
    expectation_parameters: dict[str, Any] = {**day_parameters(day), **(parameters or {})}

    gx = _import_gx()
    context = _ephemeral_context(gx, docs_dir)
    gx_suite = context.suites.add(_gx_suite(gx, suite))
    batch_definition = (
        context.data_sources.add_pandas("tracewatch")
        .add_dataframe_asset(name=suite.name)
        .add_batch_definition_whole_dataframe("sample")
    )
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{suite.name}-{day.isoformat()}", data=batch_definition, suite=gx_suite)
    )
    raw = validation.run(
        batch_parameters={"dataframe": data},
        expectation_parameters=expectation_parameters,
        # The run name is the day, so each day's page in the Data Docs index is labelled by its partition.
        run_id=_run_id(day),
    )
    results = tuple(_expectation_result(r) for r in raw.results)
    docs_index = _build_docs(context) if docs_dir is not None else None
    logger.info(
        "GX suite %s on %d rows: success=%s, failed=%s",
        suite.name,
        frame.height,
        raw.success,
        [r.id for r in results if not r.success],
    )
    return GxRunResult(
        success=bool(raw.success), row_count=frame.height, expectations=results, docs_index=docs_index
    )


def _import_gx() -> Any:
    # GX 1.24 has no analytics client, but older/newer releases read this; never phone home.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    quiet_gx_loggers()  # before the import: importing GX logs ~200 INFO lines
    import great_expectations as gx  # here, not at the top: seconds to import, needed only when GX runs

    quiet_gx_loggers()  # after it too: some GX modules set their own logger to INFO when imported
    return gx


def _run_id(day: date) -> Any:
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=day.isoformat(), run_time=datetime.now(UTC))


def _ephemeral_context(gx: Any, docs_dir: Path | None) -> Any:
    """An in-memory context; its only on-disk output is the Data Docs site, and only into `docs_dir`."""
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites: dict[str, Any] = {}
    if docs_dir is not None:
        docs_dir.mkdir(parents=True, exist_ok=True)
        sites[_SITE_NAME] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _gx_suite(gx: Any, suite: Suite) -> Any:
    gx_suite = gx.ExpectationSuite(**suite.to_gx_dict())
    # GX logs and *drops* an expectation whose configuration it rejects; refuse to validate a partial suite.
    if len(gx_suite.expectations) != len(suite.expectations):
        kept = {e.meta.get("id") for e in gx_suite.expectations}
        dropped = [e.id for e in suite.expectations if e.id not in kept]
        raise ConfigError(f"Great Expectations rejected expectations {dropped} of suite {suite.name!r}")
    return gx_suite


def _expectation_result(r: Any) -> GxExpectationResult:
    config = r.expectation_config
    result: Mapping[str, Any] = r.result or {}
    info: Mapping[str, Any] = r.exception_info or {}
    exception = str(info.get("exception_message")) if info.get("raised_exception") else None
    if exception:
        logger.warning("GX expectation %s raised: %s", config.meta.get("id"), exception)
    return GxExpectationResult(
        type=str(config.type),
        column=str(config.kwargs.get("column")),
        id=str(config.meta.get("id")),
        success=bool(r.success),
        element_count=int(result.get("element_count") or 0),
        unexpected_count=int(result.get("unexpected_count") or 0),
        missing_count=int(result.get("missing_count") or 0),
        partial_unexpected_list=tuple(_plain(v) for v in result.get("partial_unexpected_list") or ()),
        exception=exception,
    )


def _plain(value: Any) -> Any:
    """pandas/numpy scalars -> plain Python (Timestamp -> datetime, NaN/NaT -> None), so results compare
    and serialize without pandas."""
    if isinstance(value, np.generic):
        value = value.item()
    try:
        if value != value:  # noqa: PLR0124  (NaN and NaT are the only values unequal to themselves)
            return None
    except (TypeError, ValueError):  # array-likes: leave as they are
        return value
    if hasattr(value, "to_pydatetime"):
        converted: datetime = value.to_pydatetime()
        return converted
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # an infinity GX saw, as text: strict JSON readers refuse `Infinity`
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _build_docs(context: Any) -> Path:
    urls: dict[str, str] = context.build_data_docs(site_names=[_SITE_NAME])
    index = Path(unquote(urlparse(urls[_SITE_NAME]).path))
    make_site_offline(index.parent)
    # DEBUG: the folder is often temporary; the caller logs where the site is published (ingest.data_docs).
    logger.debug("Data Docs built at %s", index)
    return index


def _first_occurrences(
    frame: pl.DataFrame, rows: np.ndarray[Any, Any], columns: Sequence[str]
) -> np.ndarray[Any, Any]:
    """Row numbers of the first occurrence of each value that `rows` hold in each of `columns`."""
    found: list[np.ndarray[Any, Any]] = [np.zeros(0, dtype=np.int64)]
    for column in columns if rows.size else ():
        if column not in frame.schema:
            raise ConfigError(f"unique column {column!r} is not in the frame")
        values = frame.get_column(column).gather(rows).drop_nulls().unique()
        firsts = (
            frame.lazy()
            .select(column)
            .with_row_index("__tw_row")
            .filter(pl.col(column).is_in(pl.lit(values).implode()))
            .group_by(column)
            .agg(pl.col("__tw_row").min())
            .collect()
        )
        found.append(firsts.get_column("__tw_row").cast(pl.Int64).to_numpy())
    return np.concatenate(found)

"""Demo production traces of an LLM question-answering app, with injected drift and planted bad input.

The demo, the tests and the benchmarks need traces that look like production: real questions with real
answers of varying correctness, plausible tokens, latency, cost, errors and user feedback, a known day on
which the traffic drifts, and a few known-bad rows and files that validation must quarantine. Everything is
deterministic in (seed, day) and vectorised, so a million traces take seconds.

Two opt-in extensions serve the alerting benchmark (`bench/alerts_bench.py`); by default the frames are exactly
those of the demo: `DayVariation` gives undrifted days the day-to-day wobble of real traffic (route and model
mix, volume), and `DriftSpec.single` injects one kind of drift (`DRIFT_KINDS`) at a graded magnitude
(`DRIFT_MAGNITUDES`).

Corpus: the questions, answers, decompositions and evidence titles come from the FanOutQA dev set
(Zhu et al., 2024, https://github.com/zhudotexe/fanoutqa), licensed CC-BY-SA-4.0; the generated traces
are an adaptation of it and carry the same licence.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import logging
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.store import Store
from tracewatch.traces._defects import (
    BAD_ROW_DAYS,
    CORRUPT_FILE_DAY,
    PlantedFile,
    PlantedRow,
    partition,
    plant_bad_rows,
    plant_corrupt_file,
)
from tracewatch.traces._pii_plant import PlantedPII
from tracewatch.traces._pii_plant import plant_pii as _plant_pii
from tracewatch.traces._synth import generate
from tracewatch.traces._synth_types import Effects
from tracewatch.traces.drift_spec import DEFAULT_DRIFT, DayVariation, DriftSpec
from tracewatch.traces.schema import empty_traces

log = logging.getLogger(__name__)

CORPUS_ATTRIBUTION = (
    "Questions, answers and evidence titles: FanOutQA dev set (Zhu et al., 2024, "
    "https://github.com/zhudotexe/fanoutqa), licensed CC-BY-SA-4.0 "
    "(https://creativecommons.org/licenses/by-sa/4.0/)."
)


@dataclass(frozen=True)
class DemoSummary:
    """What `write_demo_traces` wrote, so tests and demos can check every good and every planted row."""

    start: dt.date
    days: tuple[dt.date, ...]
    rows_per_day: dict[dt.date, int]
    """Good (generated) rows per day; planted rows are not counted here."""
    trace_keys: tuple[str, ...]
    """The files of good rows, sorted."""
    planted_rows: tuple[PlantedRow, ...]
    planted_files: tuple[PlantedFile, ...]
    seed: int
    drift: DriftSpec | None
    planted_pii: tuple[PlantedPII, ...] = ()
    """PII planted in good rows (see `generate_day`); none of it may reach a dataset."""

    @property
    def good_rows(self) -> int:
        return sum(self.rows_per_day.values())

    @property
    def drifted_days(self) -> tuple[dt.date, ...]:
        drift = self.drift
        return tuple(d for i, d in enumerate(self.days, 1) if drift is not None and drift.active_on(i))

    @property
    def keys(self) -> tuple[str, ...]:
        """Every object written, good and planted, sorted."""
        planted = {r.key for r in self.planted_rows} | {f.key for f in self.planted_files}
        return tuple(sorted({*self.trace_keys, *planted}))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (dates as ISO strings), e.g. for a run artifact."""
        out = asdict(self)
        out["rows_per_day"] = {d.isoformat(): n for d, n in self.rows_per_day.items()}
        converted: dict[str, Any] = _iso_dates(out)
        return converted


def generate_day(
    day: dt.date,
    *,
    seed: int,
    traces: int,
    day_index: int,
    drift: DriftSpec | None,
    plant_pii: bool = True,
    variation: DayVariation | None = None,
) -> pl.DataFrame:
    """One day of traces in the canonical schema, sorted by start time.

    The same (seed, day, traces, day_index, drift, variation) always gives the same frame; `day_index`
    (1-based) only decides whether `drift` is active, so without `variation` undrifted days are draws from one
    stationary process; with it, each day has its own mix of routes and models and `traces` is the day's
    median volume. With `plant_pii`, a few traces (`_pii_plant.PII_TRACES_PER_DAY`) carry planted PII, see
    `planted_pii_of_day`.
    """
    return _generate_day(
        day,
        seed=seed,
        traces=traces,
        day_index=day_index,
        drift=drift,
        plant_pii=plant_pii,
        variation=variation,
    )[0]


def planted_pii_of_day(
    day: dt.date,
    *,
    seed: int,
    traces: int,
    day_index: int,
    drift: DriftSpec | None,
    variation: DayVariation | None = None,
) -> tuple[PlantedPII, ...]:
    """The PII `generate_day` plants with these arguments: trace ids, kinds and the raw values."""
    return _generate_day(
        day,
        seed=seed,
        traces=traces,
        day_index=day_index,
        drift=drift,
        plant_pii=True,
        variation=variation,
    )[1]


def write_demo_traces(
    store: Store,
    *,
    start: dt.date,
    days: int,
    traces_per_day: int,
    seed: int = 7,
    drift: DriftSpec | None = DEFAULT_DRIFT,
    plant_bad_input: bool = True,
    files_per_day: int = 1,
    plant_pii: bool = True,
    variation: DayVariation | None = None,
) -> DemoSummary:
    """Write `days` days of demo traces from `start` as `traces/date=YYYY-MM-DD/part-NNNN.parquet`.

    With `plant_bad_input`, days `BAD_ROW_DAYS` also get `part-bad.parquet` (one malformed row per `DEFECTS`
    entry, canonical schema) and day `CORRUPT_FILE_DAY` gets `part-corrupt.parquet` (random bytes). With
    `plant_pii`, good rows carry planted PII, listed in `DemoSummary.planted_pii`. With `variation`, each day
    has its own route and model mix and volume (see `DayVariation`). Keys are overwritten, so a rerun with the
    same arguments writes the same objects.
    """
    _require(days >= 1, f"days={days} must be >= 1")
    _require(traces_per_day >= 1, f"traces_per_day={traces_per_day} must be >= 1")
    _require(
        1 <= files_per_day <= traces_per_day,
        f"files_per_day={files_per_day} must be between 1 and traces_per_day={traces_per_day}",
    )
    dates = tuple(start + dt.timedelta(days=i) for i in range(days))
    rows: dict[dt.date, int] = {}
    trace_keys: list[str] = []
    planted_rows: list[PlantedRow] = []
    planted_files: list[PlantedFile] = []
    planted_pii: list[PlantedPII] = []
    for index, day in enumerate(dates, 1):
        frame, pii = _generate_day(
            day,
            seed=seed,
            traces=traces_per_day,
            day_index=index,
            drift=drift,
            plant_pii=plant_pii,
            variation=variation,
        )
        planted_pii.extend(pii)
        keys = _write_parts(store, day, frame, files_per_day)
        trace_keys.extend(keys)
        rows[day] = frame.height
        if plant_bad_input and index in BAD_ROW_DAYS:
            planted_rows.extend(plant_bad_rows(store, day, frame, seed=seed, first_key=keys[0]))
        if plant_bad_input and index == CORRUPT_FILE_DAY:
            planted_files.append(plant_corrupt_file(store, day, seed=seed))
        log.info("wrote %d demo traces for %s in %d file(s)", frame.height, day, len(keys))
    return DemoSummary(
        start=start,
        days=dates,
        rows_per_day=rows,
        trace_keys=tuple(sorted(trace_keys)),
        planted_rows=tuple(planted_rows),
        planted_files=tuple(planted_files),
        seed=seed,
        drift=drift,
        planted_pii=tuple(planted_pii),
    )


# ---- internals ---------------------------------------------------------------------------------------------


def _generate_day(
    day: dt.date,
    *,
    seed: int,
    traces: int,
    day_index: int,
    drift: DriftSpec | None,
    plant_pii: bool,
    variation: DayVariation | None = None,
) -> tuple[pl.DataFrame, tuple[PlantedPII, ...]]:
    _require(seed >= 0, f"seed={seed} must be >= 0")
    _require(traces >= 0, f"traces={traces} must be >= 0")
    _require(day_index >= 1, f"day_index={day_index} must be a 1-based day index (>= 1)")
    mix = None
    if variation is not None:
        mix, volume = variation.mix(seed, day)
        traces = max(1, round(traces * volume)) if traces else 0
    if traces == 0:
        return empty_traces(), ()
    frame = generate(day, seed=seed, traces=traces, effects=_effects(drift, day_index), mix=mix)
    return _plant_pii(frame, seed=seed, day=day) if plant_pii else (frame, ())


def _effects(drift: DriftSpec | None, day_index: int) -> Effects:
    if drift is None or not drift.active_on(day_index):
        return Effects()
    return Effects(**{f.name: getattr(drift, f.name) for f in dataclasses.fields(Effects)})


def _write_parts(store: Store, day: dt.date, frame: pl.DataFrame, files: int) -> list[str]:
    """Split the day by time into `files` contiguous parts, as an app flushing its buffer would."""
    bounds = [i * frame.height // files for i in range(files + 1)]
    keys = []
    for part, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        key = f"{partition(day)}/part-{part:04d}.parquet"
        store.write_parquet(key, frame.slice(lo, hi - lo))
        keys.append(key)
    return keys


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(f"demo traces: {message}")


def _iso_dates(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _iso_dates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_iso_dates(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value

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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.store import Store
from tracewatch.traces._pii_plant import PlantedPII
from tracewatch.traces._pii_plant import plant_pii as _plant_pii
from tracewatch.traces._synth import Effects, Mix, generate
from tracewatch.traces.schema import empty_traces

log = logging.getLogger(__name__)

CORPUS_ATTRIBUTION = (
    "Questions, answers and evidence titles: FanOutQA dev set (Zhu et al., 2024, "
    "https://github.com/zhudotexe/fanoutqa), licensed CC-BY-SA-4.0 "
    "(https://creativecommons.org/licenses/by-sa/4.0/)."
)

BAD_ROW_DAYS: tuple[int, ...] = (3, 7)
"""1-based day indices that get an extra `part-bad.parquet` of malformed rows (when the run is that long)."""
CORRUPT_FILE_DAY = 5
"""1-based day index that gets an unreadable `part-corrupt.parquet`."""
CORRUPT_FILE_BYTES = 4096

DEFECTS: tuple[str, ...] = (
    "null_trace_id",
    "duplicate_trace_id",
    "negative_latency_ms",
    "negative_output_tokens",
    "start_time_wrong_date",
    "unknown_status",
)
"""One planted row per defect, in this order, in every bad file."""


DRIFT_KINDS: dict[str, str] = {
    "topic_mix": "topic_shift",
    "output_length": "output_growth",
    "latency": "latency_growth",
    "model_mix": "model_shift",
    "feedback_drop": "feedback_drop",
    "language": "language_shift",
    "refusals": "refusal_factor",
}
"""Single drift kind -> the `DriftSpec` field holding its magnitude."""

DRIFT_MAGNITUDES: dict[str, dict[str, float]] = {
    "topic_mix": {"small": 0.05, "medium": 0.10, "large": 0.20},
    "output_length": {"small": 0.10, "medium": 0.25, "large": 0.50},
    "latency": {"small": 0.10, "medium": 0.25, "large": 0.50},
    "model_mix": {"small": 0.05, "medium": 0.15, "large": 0.30},
    "feedback_drop": {"small": 0.15, "medium": 0.30, "large": 0.45},
    "language": {"small": 0.05, "medium": 0.10, "large": 0.20},
    "refusals": {"small": 2.0, "medium": 3.0, "large": 5.0},
}
"""Each kind's small / medium / large magnitude, in its field's unit (see `DriftSpec`): 5, 10 or 20 points of
traffic moved to sports questions; answers 10, 25 or 50% longer; latency 10, 25 or 50% higher; 5, 15 or 30
points of traffic moved from gpt-4o-mini to claude-3-5-haiku; thumbs-up share down 15, 30 or 45 points (from
about 66%); 5, 10 or 20% of the inputs in Russian, Chinese or Japanese; refusals x2, x3 or x5 (from about 6%)."""

MAGNITUDE_LEVELS: tuple[str, ...] = ("small", "medium", "large")


@dataclass(frozen=True, kw_only=True)
class DriftSpec(Effects):
    """Which drifts the demo injects, from day `from_day` (1-based) on; the days before are stationary,
    so a drift detector must stay silent on them and fire from `from_day`.

    The fields are the generator's `Effects`, active from `from_day`: the switches are the demo's drift (all
    on by default here), the graded fields inject one kind of drift each at a magnitude (0, or 1 for
    `refusal_factor`, is off); `single` builds a spec with only one of them on.
    """

    from_day: int
    topic_mix: bool = True
    longer_outputs: bool = True
    latency_regression: bool = True
    falling_feedback: bool = True
    new_model_version: bool = True

    def __post_init__(self) -> None:
        if self.from_day < 1:
            raise ConfigError(f"DriftSpec.from_day={self.from_day} must be a 1-based day index (>= 1)")
        for name in ("topic_shift", "model_shift", "feedback_drop", "language_shift"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"DriftSpec.{name}={getattr(self, name)} must be a share between 0 and 1")
        for name in ("output_growth", "latency_growth"):
            if getattr(self, name) < 0:
                raise ConfigError(f"DriftSpec.{name}={getattr(self, name)} must be >= 0")
        if self.refusal_factor < 1:
            raise ConfigError(f"DriftSpec.refusal_factor={self.refusal_factor} must be >= 1")

    @classmethod
    def single(cls, kind: str, magnitude: str | float = "small", *, from_day: int) -> DriftSpec:
        """Only the drift `kind` (one of `DRIFT_KINDS`), at a level of `DRIFT_MAGNITUDES` or a number in its
        field's unit; the demo's switches are off."""
        if kind not in DRIFT_KINDS:
            raise ConfigError(f"drift kind {kind!r} is not one of {sorted(DRIFT_KINDS)}")
        if isinstance(magnitude, str):
            if magnitude not in DRIFT_MAGNITUDES[kind]:
                raise ConfigError(f"drift magnitude {magnitude!r} is not one of {MAGNITUDE_LEVELS}")
            magnitude = DRIFT_MAGNITUDES[kind][magnitude]
        off = cls(
            from_day=from_day,
            topic_mix=False,
            longer_outputs=False,
            latency_regression=False,
            falling_feedback=False,
            new_model_version=False,
        )
        graded: dict[str, Any] = {DRIFT_KINDS[kind]: float(magnitude)}
        return dataclasses.replace(off, **graded)

    def active_on(self, day_index: int) -> bool:
        """Whether day `day_index` (1-based) is drifted."""
        return day_index >= self.from_day


@dataclass(frozen=True, kw_only=True)
class DayVariation:
    """Day-to-day variation of undrifted traffic: what a week of a real application looks like without drift.

    Production days are not draws from one stationary process: weekdays and weekends, a team's demo, a batch
    job, an outage of one provider's region move the mix of routes and models by a few points of share from
    day to day, and the volume by tens of percent. Each day (per seed and date, from a random stream of its
    own, separate from the per-trace draws) multiplies every route's and every model's share by a log-normal
    factor exp(N(0, sigma^2)) before they are renormalised, and the day's trace count by exp(N(0,
    volume_sigma^2)). With the defaults (0.15) the multi-hop route's share (50%) moves by about 4.7 points
    (one standard deviation over days) and gpt-4o-mini's (50%) by about 4.6, the smallest route's (15%) by
    about 2.4, and the volume by about 15%: the size of weekday/weekend swings, several times the sampling
    noise of a 2,000-trace day (1.1 points for a 50% share). Within a route, the topics and questions keep
    their weights, and latency, errors and feedback keep their per-model behaviour.
    """

    route_sigma: float = 0.15
    model_sigma: float = 0.15
    volume_sigma: float = 0.15

    def __post_init__(self) -> None:
        for name in ("route_sigma", "model_sigma", "volume_sigma"):
            if getattr(self, name) < 0:
                raise ConfigError(f"DayVariation.{name}={getattr(self, name)} must be >= 0")

    def mix(self, seed: int, day: dt.date) -> tuple[Mix, float]:
        """The day's route and model share multipliers, and its volume multiplier."""
        rng = np.random.default_rng([seed, day.toordinal(), _VARIATION_STREAM])
        route, model = rng.normal(0.0, 1.0, 3), rng.normal(0.0, 1.0, 3)
        volume = float(np.exp(self.volume_sigma * rng.normal()))
        return (
            Mix(
                route=tuple(float(f) for f in np.exp(self.route_sigma * route)),
                model=tuple(float(f) for f in np.exp(self.model_sigma * model)),
            ),
            volume,
        )


_VARIATION_STREAM = 0x7A41


DEFAULT_DRIFT = DriftSpec(from_day=10)


@dataclass(frozen=True)
class PlantedRow:
    """One malformed row written on purpose: validation must quarantine it for `defect`."""

    day: dt.date
    key: str
    row_index: int
    """Position of the row in the file at `key`."""
    trace_id: str | None
    defect: str
    detail: str


@dataclass(frozen=True)
class PlantedFile:
    """One unreadable file written on purpose: ingestion must quarantine it whole."""

    day: dt.date
    key: str
    defect: str
    size: int


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
            planted_rows.extend(_plant_bad_rows(store, day, frame, seed=seed, first_key=keys[0]))
        if plant_bad_input and index == CORRUPT_FILE_DAY:
            planted_files.append(_plant_corrupt_file(store, day, seed=seed))
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


def _partition(day: dt.date) -> str:
    return f"traces/date={day.isoformat()}"


def _write_parts(store: Store, day: dt.date, frame: pl.DataFrame, files: int) -> list[str]:
    """Split the day by time into `files` contiguous parts, as an app flushing its buffer would."""
    bounds = [i * frame.height // files for i in range(files + 1)]
    keys = []
    for part, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        key = f"{_partition(day)}/part-{part:04d}.parquet"
        store.write_parquet(key, frame.slice(lo, hi - lo))
        keys.append(key)
    return keys


def _plant_bad_rows(
    store: Store, day: dt.date, good: pl.DataFrame, *, seed: int, first_key: str
) -> list[PlantedRow]:
    """Copies of good rows, each broken in exactly one way, written as `part-bad.parquet`."""
    rng = np.random.default_rng([seed, day.toordinal(), 0xBAD])
    sources = rng.integers(0, good.height, len(DEFECTS))
    fresh_ids = [rng.bytes(16).hex() for _ in DEFECTS]
    duplicated = str(good["trace_id"][0])  # the first row of the day lives in the first part
    breakers: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {
        "null_trace_id": lambda r: r.with_columns(trace_id=pl.lit(None, pl.String)),
        "duplicate_trace_id": lambda r: r.with_columns(trace_id=pl.lit(duplicated)),
        "negative_latency_ms": lambda r: r.with_columns(latency_ms=-pl.col("latency_ms").abs() - 1.0),
        "negative_output_tokens": lambda r: r.with_columns(output_tokens=-pl.col("output_tokens").abs() - 1),
        "start_time_wrong_date": lambda r: r.with_columns(
            start_time=pl.col("start_time") - dt.timedelta(days=1)
        ),
        "unknown_status": lambda r: r.with_columns(status=pl.lit("weird")),
    }
    details = {
        "duplicate_trace_id": f"same trace_id as the first row of {first_key}",
        "start_time_wrong_date": f"start_time on {day - dt.timedelta(days=1)}, file partition is {day}",
        "unknown_status": "status 'weird' is not one of the allowed values",
    }
    parts = [
        breakers[defect](good[int(src) : int(src) + 1].with_columns(trace_id=pl.lit(fresh_id)))
        for defect, src, fresh_id in zip(DEFECTS, sources, fresh_ids, strict=True)
    ]
    bad = pl.concat(parts).cast(good.schema)
    key = f"{_partition(day)}/part-bad.parquet"
    store.write_parquet(key, bad)
    return [
        PlantedRow(
            day=day,
            key=key,
            row_index=i,
            trace_id=bad["trace_id"][i],
            defect=defect,
            detail=details.get(defect, defect.replace("_", " ")),
        )
        for i, defect in enumerate(DEFECTS)
    ]


def _plant_corrupt_file(store: Store, day: dt.date, *, seed: int) -> PlantedFile:
    """Random bytes with a `.parquet` name: what a crashed writer or a bad upload leaves behind."""
    data = bytearray(np.random.default_rng([seed, day.toordinal(), 0xC0]).bytes(CORRUPT_FILE_BYTES))
    data[:4] = b"\x00BAD"  # never the Parquet magic, whatever the seed
    key = f"{_partition(day)}/part-corrupt.parquet"
    store.write_bytes(key, bytes(data))
    return PlantedFile(day=day, key=key, defect="unreadable: not a Parquet file", size=len(data))


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

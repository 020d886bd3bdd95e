"""Alerts a person can trust (issue 17): how often a no-drift night pages someone, and how often a real drift
does, for the nightly decision rule, today's per-test rule and Evidently's DataDriftPreset.

The days come from the demo generator (`tracewatch.traces.demo.generate_day`) with its drift off and realistic
day-to-day variation (`DayVariation`: each day's route and model shares and volume wobble by a few points, as
weekdays and weekends do), at 300 and 2,000 traces a day, one independent sequence of days per seed.

- **False alarms.** Per seed and size: 7 reference days, then `NIGHTS` nights judged in date order, so the
  quality CUSUMs and the reference hygiene carry over (a night that alerted under the nightly rule is left
  out of the next nights' reference: the 7 most recent days that did not alert; the mix-adjusted and the
  pooled nightly rule each keep their own). The primary figure is the
  share of seeds whose **last** night raised at least one alert (independent across seeds, so a Wilson 95%
  interval holds); the share over all nights is reported too (nights of one seed share days, so its
  interval is only indicative). Today's rule runs its own chain: a plain rolling 7-day window.
- **Power.** Per seed and size, the first night (day 8, against days 1-7) again with one drift kind injected
  alone (`DriftSpec.single`) at each of three magnitudes; the drifted day shares its randomness with the
  undrifted one, so each seed is a paired comparison. Detection rate = share of seeds whose night alerted.
- **Evidently** (`DataDriftPreset`, default settings) gets the same frames as plain tables: the 7 reference
  days concatenated against the day, with the columns our profile sees as numeric or categorical (latency,
  tokens, cost, model, route, project, status, input/output characters, script, refusal); text columns are
  left out. A night "alerts" when any column drifted. It takes ~0.7 s a night, so it runs on fewer seeds.

The rules: the nightly rule as shipped (mix-adjusted), the same rule pooled (`mix_adjusted=False`, the rule
before the mix adjustment), today's per-test rule and Evidently (`alerts_report` says more). The decision API
is called in one place, `judge`; today's rule is `old_rule` on the same results, and it reuses the nightly
rule's judgement of a night when both had the same reference days and CUSUMs.

Speed (`alerts_memo`): each worker memoises the text embedding per text and the reference-only work of a night
(the reference days' swings and dispersion) by the content of its arguments, so the 21 drifted copies of a
seed's first night pay for their reference once, with every number unchanged; BLAS runs on one thread.
Module layout: this one simulates, `alerts_report` summarises and writes the tables, `alerts_checkpoint`
keeps finished simulations in bench/work so a run stopped (or cut by `ALERTS_BENCH_MAX_MINUTES`) resumes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from itertools import zip_longest
from pathlib import Path
from typing import Any

import polars as pl

from bench import alerts_checkpoint, alerts_oracle
from bench.alerts_memo import clear_memos, memoise_embed, memoise_reference_work
from bench.alerts_report import summarise, to_markdown, write_runs
from bench.common import REPO, machine_info

log = logging.getLogger(__name__)
__all__ = ["run_benchmark", "simulate", "to_markdown"]
"""What bench.run reads (`to_markdown` lives in `alerts_report`)."""

SIZES: tuple[int, ...] = (300, 2_000)
REFERENCE_DAYS = 7
EARLIER_DAYS = 2
"""Usable days before the reference handed to the sustained test (its pool of 3 nights takes 2 out)."""
NIGHTS = 4
START = dt.date(2026, 3, 2)
DEFAULT_SEEDS = 200
POWER_SEEDS = 100
"""Seeds for the power simulation (at most the no-drift seeds)."""
EVIDENTLY_SEEDS = 100
"""Seeds for Evidently's false-alarm rate (last night only)."""
EVIDENTLY_POWER_SEEDS = 10
"""Seeds for Evidently's power per kind and magnitude."""
WORKERS = 2
RUNS_FILE = REPO / "bench" / "results" / "alerts-runs.jsonl"
MAX_MINUTES_VARIABLE = "ALERTS_BENCH_MAX_MINUTES"
OLD_METHODS: tuple[str, ...] = ("ks", "chisquare", "wasserstein", "jensenshannon")
OLD_QUALITY_Z = 3.5
OLD_MMD_ALPHA = 0.05
EVIDENTLY_NUMERIC: tuple[str, ...] = ("latency_ms", "input_tokens", "output_tokens", "cost_usd")
EVIDENTLY_CATEGORICAL: tuple[str, ...] = ("model", "route", "project", "status")


def day_of(index: int) -> dt.date:
    """The date of day `index` (1-based) of every seed's sequence."""
    return START + dt.timedelta(days=index - 1)


# ---- the decision API, in one place ------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    """One night judged by one nightly rule: whether it alerted and on what, today's per-test rule read off
    the same rows, and the CUSUM states to carry into the next night."""

    new: bool
    old: bool
    new_why: tuple[str, ...]
    old_why: tuple[str, ...]
    states: Mapping[Any, Any]


def judge(
    reference_days: Sequence[Any],
    current: Any,
    previous: Mapping[Any, Any] | None,
    *,
    pooled: bool = False,
    earlier: Sequence[Any] = (),
) -> Judgement:
    """The adapter to the decision API: `assess_night` decides the nightly rule (as shipped, or with
    `mix_adjusted=False` when `pooled`); today's per-test rule is read off its rows. `earlier`: the usable days
    before the reference, which the sustained test's reference reaches into (as `detect_drift` gives them)."""
    from tracewatch.drift import DriftConfig, assess_night

    config = DriftConfig(mix_adjusted=False) if pooled else DriftConfig()
    night = assess_night(reference_days, current, config, previous=previous, earlier=earlier)
    new_why = tuple(sorted({f"{a.kind}:{a.feature}" for a in night.alerts}))
    old_why = old_rule(night.results, night.quality)
    return Judgement(bool(night.alerts), bool(old_why), new_why, old_why, night.cusum_states())


def old_rule(results: Sequence[Any], quality: Sequence[Any]) -> tuple[str, ...]:
    """What today's code would have alerted on: any size-aware test's own verdict (KS / chi-square /
    Wasserstein / Jensen-Shannon), the text vectors' MMD at p < 0.05, a quality z-score at -3.5 or below, or a
    CUSUM above its threshold. Those verdicts sit in the rows that are not the nightly rule's family."""
    roles = {r.role for r in results}
    role = "evidently" if "evidently" in roles else "extra"
    why = {f"drift:{r.feature}" for r in results if r.role == role and r.method in OLD_METHODS and r.drifted}
    why |= {
        f"drift:{r.feature}"
        for r in results
        if r.method == "mmd" and r.p_value is not None and r.p_value < OLD_MMD_ALPHA
    }
    for p in quality:
        cusum_hit = p.cusum is not None and p.cusum_threshold is not None and p.cusum > p.cusum_threshold
        if (p.z_score is not None and p.z_score <= -OLD_QUALITY_Z) or cusum_hit:
            why.add(f"quality:{p.name}")
    return tuple(sorted(why))


# ---- one seed at one size ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    seed: int
    size: int
    power: bool
    evidently: bool
    evidently_power: bool


def frame_of(seed: int, size: int, index: int, drift: Any = None) -> pl.DataFrame:
    """Day `index` of seed `seed`: the demo generator with day-to-day variation, drift only if given."""
    from tracewatch.traces import DayVariation, generate_day

    return generate_day(
        day_of(index), seed=seed, traces=size, day_index=index, drift=drift, variation=DayVariation()
    )


def evidently_table(frame: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """The columns our profile sees as numeric or categorical, as plain columns, no text."""
    from tracewatch.drift.features import categorical_features

    derived = categorical_features(frame.select("input_text", "output_text"), day, topics=False)
    return frame.select(
        *EVIDENTLY_NUMERIC,
        *EVIDENTLY_CATEGORICAL,
        input_chars=pl.col("input_text").str.len_chars().cast(pl.Int64),
        output_chars=pl.col("output_text").str.len_chars().cast(pl.Int64),
    ).with_columns(script=derived["script"], refusal=derived["refusal"])


def evidently_alert(reference: Sequence[pl.DataFrame], current: pl.DataFrame) -> tuple[str, ...]:
    """The columns Evidently's preset calls drifted (any one makes the night alert)."""
    from bench.drift_cases import evidently_decisions

    decisions = evidently_decisions(pl.concat(reference), current)
    return tuple(sorted(column for column, (_, _, drifted) in decisions.items() if drifted))


def _sample_texts() -> list[str]:
    """A real day's inputs, for the embedding memo's check."""
    texts: list[str] = frame_of(99_999, 2_000, 1)["input_text"].to_list()
    return texts


def hygiene_chain(
    profiles: Mapping[int, Any], nights: Sequence[int], *, pooled: bool
) -> tuple[list[dict[str, Any]], dict[int, Judgement]]:
    """One nightly rule's nights in date order, CUSUMs carried over, each night's reference the 7 most recent
    days that did not alert under that rule. Also the judgements made while no night had alerted yet: those
    had the plain rolling window, which today's rule shares."""
    chain: list[dict[str, Any]] = []
    alerted: set[int] = set()
    previous: Mapping[Any, Any] | None = None
    rolling: dict[int, Judgement] = {}
    for night in nights:
        usable = [i for i in range(1, night) if i not in alerted]
        clean, before = usable[-REFERENCE_DAYS:], usable[:-REFERENCE_DAYS][-EARLIER_DAYS:]
        verdict = judge(
            [profiles[i] for i in clean],
            profiles[night],
            previous,
            pooled=pooled,
            earlier=[profiles[i] for i in before],
        )
        previous = verdict.states
        if not alerted:
            rolling[night] = verdict
        if verdict.new:
            alerted.add(night)
        chain.append({"night": night, "alert": verdict.new, "why": verdict.new_why, "reference": clean})
    return chain, rolling


def rolling_chain(
    profiles: Mapping[int, Any], nights: Sequence[int], known: Mapping[int, Judgement]
) -> list[dict[str, Any]]:
    """Today's per-test rule on a plain rolling 7-day window (it had no hygiene), reusing `known` judgements
    of the same window and CUSUMs."""
    chain: list[dict[str, Any]] = []
    previous: Mapping[Any, Any] | None = None
    for night in nights:
        window = list(range(night - REFERENCE_DAYS, night))
        verdict = known.get(night) or judge([profiles[i] for i in window], profiles[night], previous)
        previous = verdict.states
        chain.append({"night": night, "alert": verdict.old, "why": verdict.old_why})
    return chain


def power_cell(reference: Sequence[Any], drifted: Any) -> dict[str, Any]:
    """One drifted first night under the three rules read off `assess_night` (no CUSUM carried in)."""
    adjusted = judge(reference, drifted, None)
    pooled = judge(reference, drifted, None, pooled=True)
    return {
        "new": adjusted.new,
        "pooled": pooled.new,
        "old": adjusted.old,
        "new_why": adjusted.new_why,
        "pooled_why": pooled.new_why,
        "old_why": adjusted.old_why,
    }


def simulate(task: Task) -> dict[str, Any]:
    """Every night of one seed at one size: the no-drift chains, and the drifted first nights if asked."""
    from tracewatch.drift import build_day_profile
    from tracewatch.traces import DRIFT_KINDS, MAGNITUDE_LEVELS, DriftSpec

    memoise_embed(_sample_texts)
    memoise_reference_work()
    clear_memos()
    started = time.perf_counter()
    last = REFERENCE_DAYS + NIGHTS
    frames = {i: frame_of(task.seed, task.size, i) for i in range(1, last + 1)}
    profiles = {i: build_day_profile(frames[i], day_of(i)) for i in frames}
    nights = range(REFERENCE_DAYS + 1, last + 1)
    new_chain, rolling = hygiene_chain(profiles, nights, pooled=False)
    pooled_chain, _ = hygiene_chain(profiles, nights, pooled=True)
    chains = {"new": new_chain, "pooled": pooled_chain, "old": rolling_chain(profiles, nights, rolling)}

    tables: dict[int, pl.DataFrame] = {}
    if task.evidently or task.evidently_power:
        tables = {i: evidently_table(frames[i], day_of(i)) for i in frames}
    evidently_last = None
    if task.evidently:
        drifted = evidently_alert([tables[i] for i in range(last - REFERENCE_DAYS, last)], tables[last])
        evidently_last = {"alert": bool(drifted), "why": drifted}

    power: dict[str, dict[str, dict[str, Any]]] = {}
    first = REFERENCE_DAYS + 1
    # The power nights' control: the same night without drift (the chains' first night, same reference).
    control: dict[str, Any] = {rule: chain[0]["alert"] for rule, chain in chains.items()}
    if task.evidently_power:
        control["evidently"] = bool(evidently_alert([tables[i] for i in range(1, first)], tables[first]))
    if task.power:
        reference = [profiles[i] for i in range(1, first)]
        counts = {
            k: [alerts_oracle.shifted_counts(frames[i], k) for i in range(1, first)]
            for k in alerts_oracle.KINDS
        }
        control["one_test"] = {
            k: alerts_oracle.one_test_alerts(counts[k], alerts_oracle.shifted_counts(frames[first], k), k)
            for k in alerts_oracle.KINDS
        }
        for kind in DRIFT_KINDS:
            power[kind] = {}
            for level in MAGNITUDE_LEVELS:
                frame = frame_of(task.seed, task.size, first, DriftSpec.single(kind, level, from_day=first))
                cell = power_cell(reference, build_day_profile(frame, day_of(first)))
                if kind in alerts_oracle.KINDS:
                    current = alerts_oracle.shifted_counts(frame, kind)
                    cell["one_test"] = alerts_oracle.one_test_alerts(counts[kind], current, kind)
                if task.evidently_power:
                    drifted = evidently_alert(
                        [tables[i] for i in range(1, first)], evidently_table(frame, day_of(first))
                    )
                    cell["evidently"], cell["evidently_why"] = bool(drifted), drifted
                power[kind][level] = cell
    return {
        **asdict(task),
        "rows": {i: f.height for i, f in frames.items()},
        "chains": chains,
        "evidently_last": evidently_last,
        "power": power,
        "control": control,
        "seconds": round(time.perf_counter() - started, 2),
    }


# ---- the parent --------------------------------------------------------------------------------------------


def run_order(tasks: Sequence[Task]) -> list[Task]:
    """Heavy and light simulations alternately (a power seed, then a no-drift-only seed), the Evidently power
    seeds last: a run stopped by its time limit then holds as many no-drift seeds as power seeds, rather than
    only the heaviest ones."""
    heavy = [t for t in tasks if t.power and not t.evidently_power]
    light = [t for t in tasks if not t.power]
    interleaved = [t for pair in zip_longest(heavy, light) for t in pair if t is not None]
    return interleaved + [t for t in tasks if t.evidently_power]


def time_limit() -> float | None:
    """Seconds the run may take (`ALERTS_BENCH_MAX_MINUTES`, unset: no limit). On a shared machine a full run
    can outlast its slot; past the limit the finished simulations are summarised (the table says how many of
    how many) and kept, so a later run with the same code finishes the rest."""
    raw = os.environ.get(MAX_MINUTES_VARIABLE)
    if raw is None or not raw.strip():
        return None
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"{MAX_MINUTES_VARIABLE}={raw!r}: expected a number of minutes, e.g. 50") from None
    if not minutes > 0:
        raise ValueError(f"{MAX_MINUTES_VARIABLE}={raw!r}: expected a positive number of minutes")
    return minutes * 60


def run_benchmark(
    *,
    seeds: int = DEFAULT_SEEDS,
    power_seeds: int | None = None,
    evidently_seeds: int | None = None,
    evidently_power_seeds: int | None = None,
    workers: int = WORKERS,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Simulate every (seed, size) on `workers` processes; the summary. `work_dir` (default bench/work) keeps
    the finished simulations, so a stopped run resumes (`alerts_checkpoint`)."""
    power_seeds = min(seeds, POWER_SEEDS if power_seeds is None else power_seeds)
    evidently_seeds = min(seeds, EVIDENTLY_SEEDS if evidently_seeds is None else evidently_seeds)
    evidently_power_seeds = min(
        power_seeds, EVIDENTLY_POWER_SEEDS if evidently_power_seeds is None else evidently_power_seeds
    )
    tasks = [
        Task(seed, size, seed < power_seeds, seed < evidently_seeds, seed < evidently_power_seeds)
        for seed in range(seeds)
        for size in SIZES
    ]
    checkpoint = (work_dir or REPO / "bench" / "work") / "alerts-checkpoint.jsonl"
    code = alerts_checkpoint.fingerprint()
    results = alerts_checkpoint.load(checkpoint, code, [asdict(t) for t in tasks])
    done = {(r["seed"], r["size"]) for r in results}
    todo = run_order([t for t in tasks if (t.seed, t.size) not in done])
    log.info("alerts: %d of %d simulations already in %s", len(results), len(tasks), checkpoint)
    limit = time_limit()
    wall = alerts_checkpoint.run_resumable(
        "alerts",
        simulate,
        todo,
        workers=workers,
        checkpoint=checkpoint,
        code=code,
        task_fields=[f.name for f in fields(Task)],
        results=results,
        total=len(tasks),
        limit_s=limit,
    )
    write_runs(RUNS_FILE, results)
    settings = {
        "seeds": seeds,
        "power_seeds": power_seeds,
        "evidently_seeds": evidently_seeds,
        "evidently_power_seeds": evidently_power_seeds,
        "workers": workers,
        "wall_s": round(wall, 1),
        "resumed": len(done),
        "planned": len(tasks),
        "completed": len(results),
        "time_limit_min": None if limit is None else round(limit / 60, 1),
        "machine": machine_info(),
        "runs_file": str(RUNS_FILE.relative_to(REPO)),
    }
    return summarise(results, sizes=SIZES, reference_days=REFERENCE_DAYS, nights=NIGHTS, settings=settings)

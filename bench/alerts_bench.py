"""Alerts a person can trust (issue 17): how often a no-drift night pages someone, and how often a real drift
does, for the nightly decision rule, today's per-test rule and Evidently's DataDriftPreset.

The days come from the demo generator (`tracewatch.traces.demo.generate_day`) with its drift off and realistic
day-to-day variation (`DayVariation`: each day's route and model shares and volume wobble by a few points, as
weekdays and weekends do), at 300 and 2,000 traces a day, one independent sequence of days per seed.

- **False alarms.** Per seed and size: 7 reference days, then `NIGHTS` nights judged in date order, so the
  quality CUSUMs and the reference hygiene carry over (a night that alerted under the nightly rule is left
  out of the next nights' reference: the 7 most recent days that did not alert). The primary figure is the
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

The decision API is called in one place, `judge`; today's rule is `old_rule` on the same results.

Speed: profiling a day is mostly hashing its inputs' words into text vectors (`tracewatch.drift.text.embed`),
and the demo asks the same ~4,000 questions every day. Each worker process memoises the vector of each
distinct text (`_memoise_embed`); a text's vector does not depend on the other texts of its batch, and the
worker checks on a real day that the memoised embedding equals the original bit for bit before using it.
Today's rule reuses the nightly rule's judgement of a night when both had the same reference days and CUSUMs.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import REPO, VERDICT, machine_info

log = logging.getLogger(__name__)

SIZES: tuple[int, ...] = (300, 2_000)
REFERENCE_DAYS = 7
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
MAX_FALSE_ALARM = 0.05
SMALL_SHIFTS: tuple[str, ...] = ("topic_mix", "language", "refusals", "feedback_drop")
"""The small shifts the issue wants kept detected."""
MIN_SMALL_POWER = 0.8
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
    """One night judged: whether the nightly rule and today's rule alerted, on what, and the CUSUM states."""

    new: bool
    old: bool
    new_why: tuple[str, ...]
    old_why: tuple[str, ...]
    states: Mapping[Any, Any]


def judge(reference_days: Sequence[Any], current: Any, previous: Mapping[Any, Any] | None) -> Judgement:
    """The adapter to the decision API: `assess_night` decides the nightly rule; today's is read off its rows."""
    from tracewatch.drift import DriftConfig, assess_night

    night = assess_night(reference_days, current, DriftConfig(), previous=previous)
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


_EMBED_CACHE: dict[str | None, Any] = {}


def _memoise_embed() -> bool:
    """Swap the profile's text embedding for a per-text memo of it, if it proves identical on a real day."""
    import numpy as np

    from tracewatch.drift import features

    original = getattr(features, "embed", None)
    if original is None or getattr(original, "memoised", False):
        return original is not None

    def embed(texts: list[str | None]) -> Any:
        missing = list(dict.fromkeys(t for t in texts if t not in _EMBED_CACHE))
        if missing:
            _EMBED_CACHE.update(zip(missing, original(missing), strict=True))
        if not texts:
            return original(texts)
        return np.stack([_EMBED_CACHE[t] for t in texts])

    embed.memoised = True  # type: ignore[attr-defined]
    texts = frame_of(99_999, 2_000, 1)["input_text"].to_list()
    texts = [*texts[:1000], None, "", *texts[:50]]
    same = np.array_equal(original(texts), embed(list(reversed(texts)))[::-1])
    if same:
        setattr(features, "embed", embed)  # noqa: B010 (the module does not export it)
    else:
        log.warning("text embedding is not per-text: profiling without the memo (slower)")
    return same


def simulate(task: Task) -> dict[str, Any]:
    """Every night of one seed at one size: the no-drift chains, and the drifted first nights if asked."""
    from tracewatch.drift import build_day_profile
    from tracewatch.traces import DRIFT_KINDS, MAGNITUDE_LEVELS, DriftSpec

    _memoise_embed()
    started = time.perf_counter()
    last = REFERENCE_DAYS + NIGHTS
    frames = {i: frame_of(task.seed, task.size, i) for i in range(1, last + 1)}
    profiles = {i: build_day_profile(frames[i], day_of(i)) for i in frames}
    nights = range(REFERENCE_DAYS + 1, last + 1)

    new_chain: list[dict[str, Any]] = []
    alerted: set[int] = set()
    previous: Mapping[Any, Any] | None = None
    same_so_far: dict[int, Judgement] = {}  # nights judged on the plain rolling window with its own CUSUMs
    for night in nights:
        clean = [i for i in range(1, night) if i not in alerted][-REFERENCE_DAYS:]
        verdict = judge([profiles[i] for i in clean], profiles[night], previous)
        previous = verdict.states
        if not alerted:
            same_so_far[night] = verdict
        if verdict.new:
            alerted.add(night)
        new_chain.append({"night": night, "alert": verdict.new, "why": verdict.new_why, "reference": clean})

    old_chain: list[dict[str, Any]] = []
    previous = None
    for night in nights:
        window = list(range(night - REFERENCE_DAYS, night))
        verdict = same_so_far.get(night) or judge([profiles[i] for i in window], profiles[night], previous)
        previous = verdict.states
        old_chain.append({"night": night, "alert": verdict.old, "why": verdict.old_why})

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
    control: dict[str, Any] = {"new": new_chain[0]["alert"], "old": old_chain[0]["alert"]}
    if task.evidently_power:
        drifted = evidently_alert([tables[i] for i in range(1, first)], tables[first])
        control["evidently"] = bool(drifted)
    if task.power:
        reference = [profiles[i] for i in range(1, first)]
        for kind in DRIFT_KINDS:
            power[kind] = {}
            for level in MAGNITUDE_LEVELS:
                frame = frame_of(task.seed, task.size, first, DriftSpec.single(kind, level, from_day=first))
                verdict = judge(reference, build_day_profile(frame, day_of(first)), None)
                cell: dict[str, Any] = {
                    "new": verdict.new,
                    "old": verdict.old,
                    "new_why": verdict.new_why,
                    "old_why": verdict.old_why,
                }
                if task.evidently_power:
                    drifted = evidently_alert(
                        [tables[i] for i in range(1, first)], evidently_table(frame, day_of(first))
                    )
                    cell["evidently"], cell["evidently_why"] = bool(drifted), drifted
                power[kind][level] = cell
    return {
        **asdict(task),
        "rows": {i: f.height for i, f in frames.items()},
        "new_chain": new_chain,
        "old_chain": old_chain,
        "evidently_last": evidently_last,
        "power": power,
        "control": control,
        "seconds": round(time.perf_counter() - started, 2),
    }


# ---- the parent --------------------------------------------------------------------------------------------


def run_benchmark(
    *,
    seeds: int = DEFAULT_SEEDS,
    power_seeds: int | None = None,
    evidently_seeds: int | None = None,
    evidently_power_seeds: int | None = None,
    workers: int = WORKERS,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Simulate every (seed, size) on `workers` processes; the summary. `work_dir` is unused (no store)."""
    del work_dir
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
    # The heaviest tasks first, so the two workers finish together.
    tasks.sort(key=lambda t: (-t.evidently_power, -t.power, -t.evidently, -t.size, t.seed))
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    saved = os.environ.get("POLARS_MAX_THREADS")
    os.environ["POLARS_MAX_THREADS"] = "1"  # one process per core; polars' own threads would fight them
    try:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for done in pool.imap_unordered(simulate, tasks, chunksize=1):
                results.append(done)
                if len(results) % max(1, len(tasks) // 20) == 0 or len(results) == len(tasks):
                    log.info(
                        "alerts: %d/%d simulations in %.0f s",
                        len(results),
                        len(tasks),
                        time.perf_counter() - started,
                    )
    finally:
        if saved is None:
            os.environ.pop("POLARS_MAX_THREADS", None)
        else:
            os.environ["POLARS_MAX_THREADS"] = saved
    wall = time.perf_counter() - started
    write_runs(RUNS_FILE, results)
    return summarise(
        results,
        seeds=seeds,
        power_seeds=power_seeds,
        evidently_seeds=evidently_seeds,
        evidently_power_seeds=evidently_power_seeds,
        workers=workers,
        wall_s=wall,
    )


def compact_run(run: Mapping[str, Any]) -> dict[str, Any]:
    """One simulation as one short record: alert flags per night ("0010": the third night alerted), what
    the nightly rule and Evidently alerted on, and the power flags per kind ("nightly today's Evidently" per
    magnitude, "-" where Evidently did not run)."""

    def flag(value: bool | None) -> str:
        return "-" if value is None else str(int(value))

    out: dict[str, Any] = {
        "seed": run["seed"],
        "size": run["size"],
        "seconds": run["seconds"],
        "traces": list(run["rows"].values()),
        "new": "".join(flag(n["alert"]) for n in run["new_chain"]),
        "new_why": {str(n["night"]): list(n["why"]) for n in run["new_chain"] if n["alert"]},
        "old": "".join(flag(n["alert"]) for n in run["old_chain"]),
    }
    if run["evidently_last"] is not None:
        out["evidently_last"] = list(run["evidently_last"]["why"])
    control = run["control"]
    out["control"] = flag(control["new"]) + flag(control["old"]) + flag(control.get("evidently"))
    if run["power"]:
        out["power"] = {
            kind: " ".join(
                flag(c["new"]) + flag(c["old"]) + flag(c.get("evidently")) for c in levels.values()
            )
            for kind, levels in run["power"].items()
        }
    return out


def write_runs(path: Path, results: Sequence[Mapping[str, Any]]) -> None:
    """Every simulation, one compact JSON line each, sorted (the summary holds only the aggregates)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(results, key=lambda r: (r["size"], r["seed"]))
    path.write_text("".join(json.dumps(compact_run(r), separators=(",", ":")) + "\n" for r in ordered))


def wilson(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score 95% interval of a binomial share."""
    if trials == 0:
        return (math.nan, math.nan)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(flags: Sequence[bool]) -> dict[str, Any]:
    """k of n, the share and its Wilson interval."""
    k, n = sum(bool(f) for f in flags), len(flags)
    low, high = wilson(k, n)
    return {"alerts": k, "nights": n, "rate": k / n if n else None, "ci95": [low, high]}


def top_reasons(whys: Sequence[Sequence[str]], count: int = 8) -> dict[str, int]:
    """How many alerted nights each feature or score took part in, most frequent first."""
    counter = Counter(reason for why in whys for reason in why)
    return dict(counter.most_common(count))


def quiet_rate(runs: Sequence[Mapping[str, Any]], kind: str, level: str, rule: str) -> dict[str, Any]:
    """Detection on nights that are otherwise quiet: among the seeds whose same night without drift raised no
    alert under `rule`, the share whose drifted night did. A rule that pages on most quiet nights "detects"
    anything; this is what the drift itself added."""
    return rate([r["power"][kind][level][rule] for r in runs if not r["control"][rule]])


def summarise(
    results: list[dict[str, Any]],
    *,
    seeds: int,
    power_seeds: int,
    evidently_seeds: int,
    evidently_power_seeds: int,
    workers: int,
    wall_s: float,
) -> dict[str, Any]:
    """False-alarm rates with intervals, the power table and the verdicts, per size."""
    from tracewatch.traces import DRIFT_KINDS, DRIFT_MAGNITUDES, MAGNITUDE_LEVELS

    sizes: dict[str, Any] = {}
    for size in SIZES:
        runs = sorted((r for r in results if r["size"] == size), key=lambda r: r["seed"])
        last_new = [r["new_chain"][-1] for r in runs]
        last_old = [r["old_chain"][-1] for r in runs]
        every_new = [n for r in runs for n in r["new_chain"]]
        every_old = [n for r in runs for n in r["old_chain"]]
        evidently = [r["evidently_last"] for r in runs if r["evidently_last"] is not None]
        false_alarms = {
            "new": rate([n["alert"] for n in last_new]),
            "old": rate([n["alert"] for n in last_old]),
            "evidently": rate([e["alert"] for e in evidently]),
            "new_all_nights": rate([n["alert"] for n in every_new]),
            "old_all_nights": rate([n["alert"] for n in every_old]),
            "new_per_night": {
                str(REFERENCE_DAYS + i + 1): rate([r["new_chain"][i]["alert"] for r in runs])
                for i in range(NIGHTS)
            },
        }
        reasons = {
            "new": top_reasons([n["why"] for n in every_new]),
            "old": top_reasons([n["why"] for n in every_old]),
            "evidently": top_reasons([e["why"] for e in evidently]),
        }
        with_power = [r for r in runs if r["power"]]
        power: dict[str, dict[str, Any]] = {
            "none": {
                "same night": {
                    "magnitude": 0.0,
                    "new": rate([r["control"]["new"] for r in with_power]),
                    "old": rate([r["control"]["old"] for r in with_power]),
                    "evidently": rate(
                        [r["control"]["evidently"] for r in with_power if "evidently" in r["control"]]
                    ),
                }
            }
        }
        for kind in DRIFT_KINDS:
            power[kind] = {}
            for level in MAGNITUDE_LEVELS:
                cells = [r["power"][kind][level] for r in with_power]
                theirs = [c["evidently"] for c in cells if "evidently" in c]
                power[kind][level] = {
                    "magnitude": DRIFT_MAGNITUDES[kind][level],
                    "new": rate([c["new"] for c in cells]),
                    "old": rate([c["old"] for c in cells]),
                    "evidently": rate(theirs),
                    "new_quiet": quiet_rate(with_power, kind, level, "new"),
                    "old_quiet": quiet_rate(with_power, kind, level, "old"),
                    "new_why": top_reasons([c["new_why"] for c in cells], 4),
                    "old_why": top_reasons([c["old_why"] for c in cells], 4),
                }
        mean_rows = sum(sum(r["rows"].values()) for r in runs) / max(1, sum(len(r["rows"]) for r in runs))
        sizes[str(size)] = {
            "traces_per_day": size,
            "mean_traces_per_day": round(mean_rows, 1),
            "false_alarms": false_alarms,
            "false_alarm_reasons": reasons,
            "power": power,
            "simulation_s": round(sum(r["seconds"] for r in runs), 1),
        }
    passed = {
        f"false_alarms_{size}": bool(sizes[str(size)]["false_alarms"]["new"]["rate"] <= MAX_FALSE_ALARM)
        for size in SIZES
    }
    for size in SIZES:
        for kind in SMALL_SHIFTS:
            small = sizes[str(size)]["power"][kind]["small"]["new"]["rate"]
            passed[f"small_{kind}_{size}"] = small is not None and small >= MIN_SMALL_POWER
    return {
        "benchmark": "alerts",
        "api": "tracewatch.drift.assess_night (nightly rule); today's rule from its evidently/extra rows",
        "seeds": seeds,
        "power_seeds": power_seeds,
        "evidently_seeds": evidently_seeds,
        "evidently_power_seeds": evidently_power_seeds,
        "reference_days": REFERENCE_DAYS,
        "nights": NIGHTS,
        "workers": workers,
        "wall_s": round(wall_s, 1),
        "sizes": sizes,
        "targets": {"max_false_alarm": MAX_FALSE_ALARM, "min_small_shift_power": MIN_SMALL_POWER},
        "passed": passed,
        "machine": machine_info(),
        "runs_file": str(RUNS_FILE.relative_to(REPO)),
    }


# ---- the tables --------------------------------------------------------------------------------------------


def _pct(cell: Mapping[str, Any], *, interval: bool = True) -> str:
    if not cell["nights"]:
        return "n/a"
    text = f"{100 * cell['rate']:.1f}%"
    if interval:
        low, high = cell["ci95"]
        text += f" [{100 * low:.1f}, {100 * high:.1f}] ({cell['alerts']}/{cell['nights']})"
    return text


def _quiet(cell: Mapping[str, Any]) -> str:
    return "n/a" if not cell["nights"] else f"{100 * cell['rate']:.0f}% of {cell['nights']}"


_LEVEL_TEXT = {
    "none": "no drift, same night (control)",
    "topic_mix": "{:.0%} of traffic to sports",
    "output_length": "+{:.0%} characters",
    "latency": "+{:.0%}",
    "model_mix": "{:.0%} of traffic to another model",
    "feedback_drop": "thumbs-up share down {points} points",
    "language": "{:.0%} non-Latin inputs",
    "refusals": "refusals x{:g}",
}


def to_markdown(summary: dict[str, Any]) -> str:
    """The README tables: nightly false-alarm rates with intervals, then detection rates per kind and size."""
    sizes = summary["sizes"]
    labels = [f"{int(s):,}/day" for s in sizes]
    lines = [
        "| no-drift nights with >= 1 alert (95% CI) | " + " | ".join(labels) + " |",
        "|---|" + "---:|" * len(sizes),
        "| **nightly rule**, last night of each seed | "
        + " | ".join(f"**{_pct(s['false_alarms']['new'])}**" for s in sizes.values())
        + " |",
        "| today's rule, last night | "
        + " | ".join(_pct(s["false_alarms"]["old"]) for s in sizes.values())
        + " |",
        "| Evidently DataDriftPreset, last night | "
        + " | ".join(_pct(s["false_alarms"]["evidently"]) for s in sizes.values())
        + " |",
        f"| nightly rule, all {summary['nights']} nights | "
        + " | ".join(_pct(s["false_alarms"]["new_all_nights"]) for s in sizes.values())
        + " |",
        f"| today's rule, all {summary['nights']} nights | "
        + " | ".join(_pct(s["false_alarms"]["old_all_nights"]) for s in sizes.values())
        + " |",
        "",
        "| drift detected (share of seeds) | magnitude | "
        + " | ".join(f"nightly / today's / Evidently, {label}" for label in labels)
        + " |",
        "|---|---|" + "---:|" * len(sizes),
    ]
    first = next(iter(sizes.values()))
    for kind, levels in first["power"].items():
        for level, cell in levels.items():
            row = [
                kind.replace("_", " ") if level in ("small", "same night") else "",
                _LEVEL_TEXT[kind].format(cell["magnitude"], points=round(100 * cell["magnitude"])),
            ]
            for s in sizes.values():
                c = s["power"][kind][level]
                parts = [_pct(c["new"], interval=False), _pct(c["old"], interval=False)]
                parts.append(_pct(c["evidently"], interval=False))
                row.append(" / ".join(parts))
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "| small shift, on nights otherwise quiet (the same night without drift raised no alert) | "
        + " | ".join(f"nightly / today's, {label}" for label in labels)
        + " |",
        "|---|" + "---:|" * len(sizes),
    ]
    for kind in SMALL_SHIFTS:
        cell = first["power"][kind]["small"]
        row = [_LEVEL_TEXT[kind].format(cell["magnitude"], points=round(100 * cell["magnitude"]))]
        for s in sizes.values():
            c = s["power"][kind]["small"]
            row.append(" / ".join(_quiet(c[rule]) for rule in ("new_quiet", "old_quiet")))
        lines.append("| " + " | ".join(row) + " |")
    m, ok = summary["machine"], summary["passed"]
    lines += [
        "",
        f"{summary['seeds']} seeds x {len(sizes)} sizes, each 7 reference days then {summary['nights']} no-drift "
        f"nights in date order (demo generator with day-to-day variation of the route and model mix and volume); "
        f"the last night of each seed is independent of the others. Power: the first night with one drift "
        f"injected, {summary['power_seeds']} seeds per cell (Evidently: {summary['evidently_power_seeds']}; its "
        f"false-alarm rate on {summary['evidently_seeds']} seeds). Today's rule: any size-aware test's own "
        f"verdict, the MMD at p < 0.05, a quality z <= -3.5 or CUSUM alarm, on the same profiles. "
        f"{m['nproc']} CPUs, {summary['workers']} worker processes, {summary['wall_s']:.0f} s, Python "
        f"{m['python']}, {m['date'][:10]}, commit {m['git']}.",
        "",
    ]
    for size in sizes:
        rate_new = sizes[size]["false_alarms"]["new"]
        lines.append(
            f"- nightly false-alarm rate <= {MAX_FALSE_ALARM:.0%} at {int(size):,}/day: "
            f"{100 * rate_new['rate']:.1f}% (upper 95% bound {100 * rate_new['ci95'][1]:.1f}%), "
            f"{VERDICT[ok[f'false_alarms_{size}']]}"
        )
    for size in sizes:
        smalls = ", ".join(
            f"{kind.replace('_', ' ')} {100 * sizes[size]['power'][kind]['small']['new']['rate']:.0f}%"
            for kind in SMALL_SHIFTS
        )
        verdict = all(ok[f"small_{kind}_{size}"] for kind in SMALL_SHIFTS)
        lines.append(
            f"- small shifts detected (>= {MIN_SMALL_POWER:.0%}) at {int(size):,}/day: {smalls}, {VERDICT[verdict]}"
        )
    return "\n".join(lines) + "\n"

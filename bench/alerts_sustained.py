"""Alerts bench, sustained shifts (issue 17): nights to detection of a small shift that lasts, and the nightly
false-alarm rate with the sustained (multi-night) test in the night's family.

The days come from the demo generator with day-to-day variation (`alerts_bench.frame_of`), at 300 and 2,000
traces a day, one independent sequence per seed.

- **False alarms.** Per seed and size: the night after 9 no-drift days, judged by the nightly rule as shipped
  (`DriftConfig()`: the night's own tests and the sustained ones in one Benjamini-Hochberg family) against the
  7 days before it, with the 2 days before those passed as `earlier`, as `detect_drift` does: a full three-night
  pool and a seven-day reference outside it. One night per seed, so nights are independent across seeds and the
  share with any alert gets a Wilson 95% interval. (The nights before it are not judged: reference hygiene
  would only change this night's reference after a false alarm on them, and judging them would double the
  run.)
- **Nights to detection.** Per seed and size, a small shift of one kind (`SHIFTS`) injected from night 1 (day 8)
  on and lasting, judged night by night (up to `DRIFT_NIGHTS`) by the nightly rule and by the single-night rule
  (`sustained_nights=1`, the rule before this test), each with its own hygiene; a chain stops at its first
  alert. Reported: the share of seeds alerted within 1, 3 and 5 nights.

`python -m bench.run --only alerts_sustained`; `ALERTS_BENCH_MAX_MINUTES` cuts a run short and finished
simulations are kept in bench/work (`alerts_checkpoint`), so a later run with the same code resumes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from bench import alerts_checkpoint
from bench.alerts_bench import _sample_texts, day_of, frame_of, time_limit
from bench.alerts_memo import clear_memos, memoise_embed, memoise_reference_work
from bench.alerts_report import rate
from bench.common import REPO, VERDICT, machine_info

log = logging.getLogger(__name__)

SIZES: tuple[int, ...] = (300, 2_000)
REFERENCE_DAYS = 7
QUIET_DAYS = 9
"""No-drift days before the judged quiet night."""
DRIFT_NIGHTS = 5
WITHIN: tuple[int, ...] = (1, 3, 5)
SHIFTS: dict[str, str] = {
    "topic_mix": "5% of traffic to sports",
    "language": "5% non-Latin inputs",
    "refusals": "refusals x2",
    "feedback_drop": "thumbs-up share down 15 points",
}
"""The issue's small shifts (`DRIFT_MAGNITUDES[kind]["small"]`)."""
DEFAULT_SEEDS = 200
DRIFT_SEEDS = 40
WORKERS = 2
TARGET_RATE = 0.05
TARGET_DETECTION = 0.8
RULES: tuple[str, ...] = ("nightly", "single")


@dataclass(frozen=True)
class Task:
    seed: int
    size: int
    drift: bool


def _config(rule: str) -> Any:
    from tracewatch.drift import DriftConfig

    return DriftConfig() if rule == "nightly" else DriftConfig(sustained_nights=1)


def chain(
    profiles: Mapping[int, Any], nights: Sequence[int], rule: str, *, stop: bool
) -> list[dict[str, Any]]:
    """One rule's nights in date order: CUSUMs carried, alerted nights left out of later references (and so of
    later pools), the usable days before the reference passed as `earlier`. `stop`: end at the first alert."""
    from tracewatch.drift import assess_night

    config = _config(rule)
    out: list[dict[str, Any]] = []
    alerted: set[int] = set()
    previous: Mapping[Any, Any] | None = None
    for night in nights:
        usable = [i for i in range(1, night) if i not in alerted]
        reference, earlier = (
            usable[-REFERENCE_DAYS:],
            usable[:-REFERENCE_DAYS][-(config.sustained_nights - 1) :],
        )
        judged = assess_night(
            [profiles[i] for i in reference],
            profiles[night],
            config,
            previous=previous,
            earlier=[profiles[i] for i in earlier] if config.sustained_nights > 1 else [],
        )
        previous = judged.cusum_states()
        sustained = {r.feature for r in judged.report.sustained if r.alert} if judged.report else set()
        why = sorted(
            {
                f"{a.kind}:{a.feature}" + ("(sustained)" if a.feature in sustained else "")
                for a in judged.alerts
            }
        )
        out.append({"night": night, "alert": bool(judged.alerts), "why": why})
        if judged.alerts:
            alerted.add(night)
            if stop:
                break
    return out


def simulate(task: Task) -> dict[str, Any]:
    """One seed at one size: the quiet chain, and the sustained-shift chains if asked."""
    from tracewatch.drift import build_day_profile
    from tracewatch.traces import DriftSpec

    memoise_embed(_sample_texts)
    memoise_reference_work()
    clear_memos()
    started = time.perf_counter()
    first = REFERENCE_DAYS + 1
    last = QUIET_DAYS + 1
    quiet = {i: build_day_profile(frame_of(task.seed, task.size, i), day_of(i)) for i in range(1, last + 1)}
    # Only the last night is judged: days 8 and 9 count as quiet days that did not alert (module docstring).
    result: dict[str, Any] = {
        **asdict(task),
        "quiet": chain(quiet, [last], "nightly", stop=False),
        "shifts": {},
    }
    if task.drift:
        for kind in SHIFTS:
            spec = DriftSpec.single(kind, "small", from_day=first)
            days = {i: quiet[i] for i in range(1, first)}
            days |= {
                i: build_day_profile(frame_of(task.seed, task.size, i, spec), day_of(i))
                for i in range(first, first + DRIFT_NIGHTS)
            }
            nights = range(first, first + DRIFT_NIGHTS)
            result["shifts"][kind] = {rule: chain(days, nights, rule, stop=True) for rule in RULES}
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result


def nights_to_detection(nights: Sequence[Mapping[str, Any]]) -> int | None:
    """1-based night of the first alert, None when none alerted."""
    return next((i for i, n in enumerate(nights, 1) if n["alert"]), None)


def summarise(results: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> dict[str, Any]:
    """False-alarm rates and detection within 1/3/5 nights, per size, kind and rule."""
    sizes: dict[str, Any] = {}
    for size in SIZES:
        runs = [r for r in results if r["size"] == size]
        last = [r["quiet"][-1]["alert"] for r in runs]
        sustained_last = [any("(sustained)" in w for w in r["quiet"][-1]["why"]) for r in runs]
        detection: dict[str, dict[str, Any]] = {}
        for kind in SHIFTS:
            shifted = [r["shifts"][kind] for r in runs if r["shifts"]]
            detection[kind] = {
                rule: {
                    str(k): rate(
                        [(d := nights_to_detection(s[rule])) is not None and d <= k for s in shifted]
                    )
                    for k in WITHIN
                }
                for rule in RULES
            }
        sizes[str(size)] = {
            "false_alarms_last": rate(last),
            "last_nights_alerting_on_a_sustained_test": sum(sustained_last),
            "detection": detection,
        }
    return {"benchmark": "alerts_sustained", "sizes": sizes, "settings": dict(settings)}


def _pct(cell: Mapping[str, Any]) -> str:
    if not cell["nights"]:
        return "-"
    return f"{cell['rate']:.0%}"


def to_markdown(summary: dict[str, Any]) -> str:
    """The docs/benchmarks.md block: false alarms with the sustained test, nights to detection, verdicts."""
    sizes = summary["sizes"]
    lines = [
        "| no-drift nights with >= 1 alert (95% CI), sustained test in the family | 300/day | 2,000/day |",
        "|---|---:|---:|",
    ]
    cells = []
    for size in SIZES:
        c = sizes[str(size)]["false_alarms_last"]
        cells.append(
            f"{c['rate']:.1%} [{c['ci95'][0]:.1%}, {c['ci95'][1]:.1%}] ({c['alerts']}/{c['nights']})"
        )
    lines.append(f"| nightly rule (own and sustained tests), one night per seed | {' | '.join(cells)} |")
    alerted = [str(sizes[str(size)]["last_nights_alerting_on_a_sustained_test"]) for size in SIZES]
    lines.append(f"| of which a sustained test paged | {' | '.join(alerted)} |")
    lines += [
        "",
        "| sustained small shift from night 1 on: seeds alerted within 1 / 3 / 5 nights | rule | 300/day | 2,000/day |",
        "|---|---|---:|---:|",
    ]
    for kind, label in SHIFTS.items():
        for rule, rule_label in (
            ("nightly", "nightly (with sustained test)"),
            ("single", "single-night only"),
        ):
            cells = []
            for size in SIZES:
                d = sizes[str(size)]["detection"][kind][rule]
                n = d["1"]["nights"]
                cells.append(" / ".join(_pct(d[str(k)]) for k in WITHIN) + f" (of {n})")
            lines.append(f"| {label if rule == 'nightly' else ''} | {rule_label} | {' | '.join(cells)} |")
    s = summary["settings"]
    m = s["machine"]
    lines += [
        "",
        f"Seeds per size: {s['seeds']} no-drift (night {QUIET_DAYS + 1} after {QUIET_DAYS} quiet days), "
        f"{s['drift_seeds']} with each shift (up to {DRIFT_NIGHTS} nights, a chain stops at its first alert); "
        f"{s['completed']} of {s['planned']} simulations. Nightly rule: `DriftConfig()` (sustained_nights 3); "
        f"single-night: `sustained_nights=1`. {m.get('nproc')} CPUs shared, {s['workers']} workers, "
        f"{s['wall_s']} s, {m.get('date', '')[:10]}, commit {m.get('git')}.",
        "",
        *verdict_lines(summary),
    ]
    return "\n".join(lines) + "\n"


def verdict_lines(summary: Mapping[str, Any]) -> list[str]:
    """Pass/fail against the issue: <= 5% of quiet nights alert; the small shifts detected (>= 80%)."""
    out = []
    for size in SIZES:
        c = summary["sizes"][str(size)]["false_alarms_last"]
        ok = c["rate"] is not None and c["rate"] <= TARGET_RATE
        out.append(
            f"- nightly false-alarm rate <= 5% at {size:,}/day (sustained test included): {c['rate']:.1%} of "
            f"{c['nights']} seeds (upper 95% bound {c['ci95'][1]:.1%}), {VERDICT[ok]}"
        )
    for k in (1, 3):
        for size in SIZES:
            detection = summary["sizes"][str(size)]["detection"]
            shares = {kind: detection[kind]["nightly"][str(k)] for kind in SHIFTS}
            ok = all(c["rate"] is not None and c["rate"] >= TARGET_DETECTION for c in shares.values())
            listed = ", ".join(f"{kind} {_pct(c)}" for kind, c in shares.items())
            out.append(
                f"- small shifts detected (>= 80%) within {k} night{'s' if k > 1 else ''} at {size:,}/day: "
                f"{listed}, {VERDICT[ok]}"
            )
    return out


def run_benchmark(
    *,
    seeds: int = DEFAULT_SEEDS,
    drift_seeds: int | None = None,
    workers: int = WORKERS,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Simulate every (seed, size) on `workers` processes; the summary."""
    drift_seeds = min(seeds, DRIFT_SEEDS if drift_seeds is None else drift_seeds)
    tasks = [Task(seed, size, seed < drift_seeds) for seed in range(seeds) for size in SIZES]
    checkpoint = (work_dir or REPO / "bench" / "work") / "alerts-sustained-checkpoint.jsonl"
    code = alerts_checkpoint.fingerprint() + "-sustained-" + _own_digest()
    results = alerts_checkpoint.load(checkpoint, code, [asdict(t) for t in tasks])
    done = {(r["seed"], r["size"]) for r in results}
    # Drift seeds (heavy) and quiet ones alternate, so a run cut short holds both.
    todo = sorted(
        (t for t in tasks if (t.seed, t.size) not in done),
        key=lambda t: (t.seed % max(drift_seeds, 1), t.seed),
    )
    wall = alerts_checkpoint.run_resumable(
        "alerts_sustained",
        simulate,
        todo,
        workers=workers,
        checkpoint=checkpoint,
        code=code,
        task_fields=[f.name for f in fields(Task)],
        results=results,
        total=len(tasks),
        limit_s=time_limit(),
    )
    settings = {
        "seeds": seeds,
        "drift_seeds": drift_seeds,
        "workers": workers,
        "wall_s": round(wall, 1),
        "planned": len(tasks),
        "completed": len(results),
        "resumed": len(done),
        "machine": machine_info(),
    }
    return summarise(results, settings)


def _own_digest() -> str:
    import hashlib

    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]

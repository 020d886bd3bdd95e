"""Every heuristic metric over 100,000 experiment items, against a bare polars read of the same items.

The requirement: all heuristic metrics over 100,000 items take at most 20 s on this 2-core machine; the bare
polars read of the same items (`output`, `expected`, `latency_ms`, `cost_usd` from one local Parquet file) is
measured in the same run as the baseline and the ratio is reported beside it.

The items are synthetic but shaped like experiment outputs: expected answers of 3-15 words, outputs that repeat
the expected answer and add 10-50 words, a tenth of them JSON, one in twenty a refusal. Every metric runs once
with one typical config (`METRIC_CONFIGS`), through `score_frame`, as a scoring step would run it.

As in the other benchmarks, every repetition runs in a fresh process (`python -m bench.scoring_bench <kind>
...`), the sides are interleaved, and wall times are measured in the child around the work only.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import QUIET_ENV, VERDICT, machine_info, median_phase, spawn, timed, write_result

KINDS = ("baseline", "scoring")
MAX_SECONDS = 20.0
COLUMNS = ["output", "expected", "latency_ms", "cost_usd"]
METRIC_CONFIGS: list[dict[str, Any]] = [
    {"metric": "exact_match"},
    {"metric": "contains"},
    {"metric": "regex", "pattern": r"\d+"},
    {"metric": "is_json"},
    {"metric": "json_schema", "schema": {"type": "object", "required": ["answer"]}},
    {"metric": "levenshtein_ratio"},
    {"metric": "token_f1"},
    {"metric": "bleu"},
    {"metric": "rouge_l"},
    {"metric": "length", "min": 1, "max": 400},
    {"metric": "refusal"},
    {"metric": "latency", "max_ms": 1000},
    {"metric": "cost", "max_usd": 0.005},
]


def write_items(path: Path, n: int, seed: int = 7) -> None:
    """`n` synthetic experiment items as one Parquet file."""
    import polars as pl

    rng = random.Random(seed)
    words = [
        "the",
        "a",
        "of",
        "and",
        "to",
        "in",
        "is",
        "was",
        "for",
        "on",
        "that",
        "with",
        "as",
        "by",
        "at",
        "from",
        "capital",
        "river",
        "city",
        "population",
    ]
    vocab = words + [f"w{i}" for i in range(2000)]

    def sentence(length: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(length)).capitalize() + "."

    expected = [sentence(rng.randint(3, 15)) for _ in range(n)]
    outputs = []
    for answer in expected:
        draw = rng.random()
        if draw < 0.1:
            outputs.append(json.dumps({"answer": answer}))
        elif draw < 0.15:
            outputs.append("I'm sorry, but I can't help with that.")
        else:
            outputs.append(f"{answer[:-1]} {sentence(rng.randint(10, 50))}")
    pl.DataFrame(
        {
            "output": outputs,
            "expected": expected,
            "latency_ms": [rng.uniform(50, 3000) for _ in range(n)],
            "cost_usd": [rng.uniform(0, 0.01) for _ in range(n)],
        }
    ).write_parquet(path)


def run_benchmark(*, items: int = 100_000, repeats: int = 3, work_dir: Path) -> dict[str, Any]:
    """Write the items once, run both sides `repeats` times (interleaved, fresh processes); the summary."""
    import os

    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="scoring-", dir=work_dir) as tmp:
        path = Path(tmp) / "items.parquet"
        write_items(path, items)
        env = {**os.environ, **QUIET_ENV}
        for _ in range(repeats):
            for kind in KINDS:
                runs[kind].append(spawn("bench.scoring_bench", kind, ["--items", str(path)], env, Path(tmp)))
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    return summarise(runs, items=items, repeats=repeats, load=load)


def summarise(
    runs: dict[str, list[dict[str, Any]]], *, items: int, repeats: int, load: dict[str, float] | None = None
) -> dict[str, Any]:
    """The medians, per-metric medians and verdict; `load` is the 1-minute load average before and after, since
    other work on the machine slows the scoring side (the fastest run is kept beside the median for that)."""
    baseline = median_phase(runs["baseline"], "total")
    scoring = median_phase(runs["scoring"], "total")
    metrics = {
        name: round(median_phase(runs["scoring"], name), 3)
        for name in runs["scoring"][0]["phases"]
        if name not in ("total", "read")
    }
    return {
        "benchmark": "scoring",
        "items": items,
        "repeats": repeats,
        "medians_s": {"baseline": round(baseline, 3), "scoring": round(scoring, 3)},
        "fastest_scoring_s": round(min(r["phases"]["total"] for r in runs["scoring"]), 3),
        "load_avg_1min": load,
        "ratio": round(scoring / baseline, 1),
        "metrics_s": metrics,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs["scoring"]),
        "target_max_s": MAX_SECONDS,
        "passed": scoring <= MAX_SECONDS,
        "machine": machine_info(),
        "runs": runs,
    }


def to_markdown(summary: dict[str, Any]) -> str:
    med = summary["medians_s"]
    lines = [
        "| scoring benchmark | median wall (s) | x baseline |",
        "|---|---:|---:|",
        f"| baseline: polars read of the items | {med['baseline']:.3f} | 1 |",
        f"| **tracewatch: read + every heuristic metric** | **{med['scoring']:.2f}** | **{summary['ratio']:.0f}** |",
    ]
    for name, seconds in sorted(summary["metrics_s"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| &nbsp;&nbsp;{name} | {seconds:.2f} | |")
    m = summary["machine"]
    lines += [
        "",
        f"{summary['items']:,} synthetic experiment items in one local Parquet file; each metric once through "
        f"`score_frame`; median of {summary['repeats']} interleaved runs, each in a fresh process. Peak RSS "
        f"{summary['peak_rss_mb']:.0f} MB. {m['nproc']} CPUs, Python {m['python']}, {m['date'][:10]}, commit "
        f"{m['git']}.",
        "",
        _load_line(summary),
        "",
        f"- every heuristic metric over {summary['items']:,} items <= {MAX_SECONDS:.0f} s: {med['scoring']:.1f} s, "
        f"{VERDICT[summary['passed']]}",
    ]
    return "\n".join(lines) + "\n"


def _load_line(summary: dict[str, Any]) -> str:
    load = summary.get("load_avg_1min")
    fastest = f"Fastest scoring run {summary['fastest_scoring_s']:.2f} s."
    if not load:
        return fastest
    return (
        f"{fastest} Load average (1 min) {load['before']:.1f} before and {load['after']:.1f} after the runs, on "
        f"{summary['machine']['nproc']} CPUs: other work on the machine slows the scoring side."
    )


# ---- the children ------------------------------------------------------------------------------------------


def score_all(path: Path) -> tuple[dict[str, float], dict[str, int]]:
    """Read the items and run every metric over them, timing each."""
    import polars as pl

    from tracewatch.scoring.metrics import build_scorer

    scorers = [build_scorer(config) for config in METRIC_CONFIGS]
    phases: dict[str, float] = {}
    scored = 0
    started = time.perf_counter()
    with timed(phases, "read"):
        frame = pl.read_parquet(path, columns=COLUMNS)
    for scorer, config in zip(scorers, METRIC_CONFIGS, strict=True):
        with timed(phases, str(config["metric"])):
            result = scorer.score_frame(frame)
        scored += int((result.get_column("status") == "scored").sum())
    phases["total"] = time.perf_counter() - started
    return phases, {"items": frame.height, "scored": scored}


def read_only(path: Path) -> tuple[dict[str, float], dict[str, int]]:
    import polars as pl

    phases: dict[str, float] = {}
    with timed(phases, "total"):
        frame = pl.read_parquet(path, columns=COLUMNS)
    return phases, {"items": frame.height}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One repetition of one side of the scoring benchmark.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--items", type=Path, required=True, help="the items' Parquet file")
    args = parser.parse_args(argv)
    phases, counts = score_all(args.items) if args.kind == "scoring" else read_only(args.items)
    write_result(args.result, args.kind, phases, counts)


if __name__ == "__main__":
    main()

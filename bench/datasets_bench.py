"""Sampling + de-duplication of one night's traces against a dataset, against a bare polars scan + hash-join.

The requirement: for 1,000,000 traces and a 100,000-item dataset, the nightly dataset build from reading the
candidates to its picks takes at most 3x the wall time of "a bare polars scan + hash-join of the same data",
measured in the same run, and peaks at no more than 2 GB of memory. The same data is what selection reads of
the traces: the seven columns it needs (id, text, messages, status, feedback, route, model: an item's input is
its text and messages, and the strategies read the rest), scanned from the same trace files and anti-joined on
the text with the dataset's items file in one lazy query. That is the verdict. A scan of the id and text alone,
joined the same way, is measured and reported too, for reference: it reads two of the seven columns.

The measured path is `datasets.build.build_dataset_version` itself, with the shipped nightly spec at a budget
of 1,000 and its steps timed where it calls them: `read_candidates` (accepted traces of the day, the columns
selection reads) and `select_candidates` (ranking every candidate on cheap columns, then examining an oversampled
shortlist: usable input, PII redaction and dedup keys, timed on their own as `candidate_inputs`, and exact and
near de-duplication against the latest version, in refill rounds until the picks are clean). The build reads the
latest version and its stored MinHash slots (and builds their LSH tables) in a background thread from its start,
so that work overlaps the read; `select_candidates` includes waiting for it. The total runs from the call to the
picks. Building the picked items (their full rows read again, redacted and hashed) follows; it is timed and
reported on its own line, outside the ratio. Writing the version is skipped, so that every repetition finds the
same dataset. Duplicates are counted among the examined traces only (docs/datasets-sampling.md).

The dataset is one grown over earlier nights: demo traces of another day, in which a fifth of the demo questions
appear as asked (the night asks them again: exact duplicates), a tenth with one word added (near duplicates),
and the rest are other questions of the same shape (demo questions with most words swapped for words of other
questions), so that they are distinct and mostly unlike the night's. Items are built and appended as the nightly
build does (`items_with_redactions`, `append_version`, which stores their MinHash slots).

As in the ingest benchmark, every repetition runs in a fresh process (`python -m bench.datasets_bench <kind>
...`), the sides are interleaved, and wall times are measured in the child around the work only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import (
    VERDICT,
    local_s3_store,
    machine_info,
    median_phase,
    spawn,
    timed,
    timing,
    write_result,
)
from tracewatch.datasets.items import NO_USABLE_INPUT
from tracewatch.store import Store

log = logging.getLogger(__name__)

DAY = dt.date(2026, 11, 1)
ITEMS_DAY = DAY - dt.timedelta(days=30)
FILES = 10
SEED = 7
BUDGET = 1000
MAX_RATIO = 3.0
MAX_PEAK_RSS_MB = 2048.0
KINDS = ("baseline", "baseline_same_columns", "tracewatch", "one_pass")
BASELINES = ("baseline", "baseline_same_columns")
EXACT_SHARE = 0.2
NEAR_SHARE = 0.1
SWAP_SHARE = 0.7
NEAR_EDIT = " please"
BASELINE_COLUMNS: tuple[str, ...] = ("trace_id", "input_text")
SAME_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "input_text",
    "input_messages",
    "status",
    "feedback",
    "route",
    "model",
)
"""What `build.read_candidates` reads with the shipped nightly spec (a unit test keeps the two equal)."""

# Rows of the markdown table: (phase key, label); "items" is after the picks and not in the ratio.
PHASE_LABELS: tuple[tuple[str, str], ...] = (
    ("selection", "file by file: shortlists, one selection over them, exact + near de-duplication"),
    ("read", "of which reading the files' candidates (each file once, more for samples and representatives)"),
    ("keys", "of which examining: usable input, PII redaction, dedup keys of the shortlist"),
    ("items", "after the picks, not in the ratio: the picked items (full rows, redacted, hashed)"),
    ("connect", "before the clock, not in the ratio: building the store's S3 client (once per process)"),
)


# ---- the parent: set up, spawn, summarise ------------------------------------------------------------------


def run_benchmark(*, rows: int, items: int, repeats: int, work_dir: Path) -> dict[str, Any]:
    """Start an S3 server, write `rows` traces for one day, ingest them, write an `items`-item dataset version,
    run both sides `repeats` times; the summary."""
    from tracewatch.datasets.spec import load_dataset_spec
    from tracewatch.datasets.versions import items_key
    from tracewatch.ingest import ingest_new_traces
    from tracewatch.traces.demo import write_demo_traces

    name = load_dataset_spec().name
    with local_s3_store(work_dir, "datasets") as local:
        started = time.perf_counter()
        demo = write_demo_traces(
            local.store,
            start=DAY,
            days=1,
            traces_per_day=rows,
            files_per_day=FILES,
            plant_bad_input=False,
            drift=None,
            seed=SEED,
        )
        ingest_new_traces(local.store, up_to=DAY)
        version = write_dataset(local.store, name, items)
        setup_s = time.perf_counter() - started
        log.info("wrote %d traces and a %d-item dataset in %.1f s", rows, items, setup_s)
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        arguments = {
            "baseline": ["--items-key", items_key(name, version), *demo.trace_keys],
            "baseline_same_columns": ["--items-key", items_key(name, version), *demo.trace_keys],
            "tracewatch": ["--day", DAY.isoformat(), "--budget", str(BUDGET)],
            "one_pass": ["--day", DAY.isoformat(), "--budget", str(BUDGET)],
        }
        for repetition in range(1, repeats + 1):
            for kind in KINDS:
                run = spawn("bench.datasets_bench", kind, arguments[kind], local.child_env, local.tmp)
                _check(kind, run, rows, items)
                runs[kind].append(run)
                log.info(
                    "repetition %d/%d %-10s %6.2f s  peak RSS %5.0f MB",
                    repetition,
                    repeats,
                    kind,
                    run["phases"]["total"],
                    run["peak_rss_mb"],
                )
    return summarise(runs, rows=rows, items=items, repeats=repeats, setup_s=setup_s)


def write_dataset(store: Store, name: str, items: int) -> int:
    """Version 1 of dataset `name` with `items` items built from `dataset_traces`, as the nightly build writes."""
    from tracewatch.datasets.append import append_version
    from tracewatch.datasets.items import items_with_redactions

    built, redactions = items_with_redactions(dataset_traces(items), strategy="earlier nights")
    manifest = append_version(
        store, name, built, kind="sample", run_id="bench-setup", counts={"redactions": redactions}
    )
    if manifest is None or manifest.item_count != items:
        raise RuntimeError(f"the bench dataset should have {items} items, got {manifest}")
    return manifest.version


def dataset_traces(items: int) -> pl.DataFrame:
    """`items` demo traces of `ITEMS_DAY` with distinct questions: some as the night asks them, some one word
    longer, the rest other questions (see the module docstring)."""
    from tracewatch.traces.demo import generate_day

    rng = np.random.default_rng(SEED)
    traces = generate_day(ITEMS_DAY, seed=SEED, traces=items + items // 10, day_index=1, drift=None)
    asked = traces.get_column("input_text")
    first = asked.is_first_distinct().to_numpy()
    draw = rng.random(len(asked))
    keep = first & (draw < EXACT_SHARE)
    near = first & (draw >= EXACT_SHARE) & (draw < EXACT_SHARE + NEAR_SHARE)
    questions = pl.select(
        pl.when(pl.Series(keep))
        .then(asked)
        .when(pl.Series(near))
        .then(asked + NEAR_EDIT)
        .otherwise(_other_questions(asked, rng))
    ).to_series()
    distinct = questions.is_first_distinct()
    return _with_questions(traces, questions).filter(distinct).head(items)


def _other_questions(asked: pl.Series, rng: np.random.Generator) -> pl.Series:
    """Each question with `SWAP_SHARE` of its words (never the first) swapped for words of other questions."""
    words = asked.str.split(" ")
    flat = words.explode()
    lengths = words.list.len().to_numpy()
    position = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    vocabulary = flat.unique().sort()
    swap = (position > 0) & (rng.random(len(flat)) < SWAP_SHARE)
    picks = vocabulary.gather(rng.integers(0, len(vocabulary), int(swap.sum())))
    swapped = flat.scatter(np.flatnonzero(swap), picks)
    owner = np.repeat(np.arange(len(asked)), lengths)
    frame = pl.DataFrame({"owner": owner, "word": swapped})
    return frame.group_by("owner", maintain_order=True).agg(pl.col("word").str.join(" ")).get_column("word")


def _with_questions(traces: pl.DataFrame, questions: pl.Series) -> pl.DataFrame:
    """`traces` asking `questions`: the text, and every message that asked the old question."""
    messages = traces.select(
        pl.int_range(pl.len()).alias("row"), "input_messages", old=pl.col("input_text"), new=questions
    ).explode("input_messages")
    message = pl.col("input_messages").struct
    content = (
        pl.when(message.field("content") == pl.col("old")).then("new").otherwise(message.field("content"))
    )
    rebuilt = (
        messages.select("row", pl.struct(role=message.field("role"), content=content).alias("input_messages"))
        .group_by("row", maintain_order=True)
        .agg("input_messages")
        .get_column("input_messages")
    )
    return traces.with_columns(input_text=questions, input_messages=rebuilt)


def _check(kind: str, run: dict[str, Any], rows: int, items: int) -> None:
    """A fast run that skipped work is no result: every trace and item must have been seen, and picks made."""
    counts = run["counts"]
    if kind in BASELINES:
        expected = {"rows": rows, "items": items}
    else:
        expected = {"rows_read": rows, "candidates": rows, "items": items}
    wrong = {name: counts.get(name) for name, n in expected.items() if counts.get(name) != n}
    if kind not in BASELINES and not 0 < counts.get("picked", 0) <= BUDGET:
        wrong["picked"] = counts.get("picked")
    if wrong:
        raise RuntimeError(f"the {kind} run saw {wrong}, expected {expected} (and 1..{BUDGET} picks)")


def summarise(
    runs: dict[str, list[dict[str, Any]]], *, rows: int, items: int, repeats: int, setup_s: float
) -> dict[str, Any]:
    """Medians per phase, the ratio of the medians (against each baseline), the worst peak RSS, the verdicts."""
    total = median_phase(runs["tracewatch"], "total")
    ratio = total / median_phase(runs["baseline_same_columns"], "total")
    id_text_ratio = total / median_phase(runs["baseline"], "total")
    peak_rss_mb = max(r["peak_rss_mb"] for r in runs["tracewatch"])
    return {
        "benchmark": "datasets",
        "rows": rows,
        "items": items,
        "files": FILES,
        "budget": BUDGET,
        "repeats": repeats,
        "setup_s": round(setup_s, 3),
        "medians_s": {
            **{kind: round(median_phase(runs[kind], "total"), 3) for kind in KINDS},
            **{phase: round(median_phase(runs["tracewatch"], phase), 3) for phase, _ in PHASE_LABELS},
        },
        "ratio": round(ratio, 3),
        "id_text_ratio": round(id_text_ratio, 3),
        "peak_rss_mb": {kind: round(max(r["peak_rss_mb"] for r in runs[kind]), 1) for kind in KINDS},
        "counts": runs["tracewatch"][-1]["counts"],
        "targets": {"max_ratio": MAX_RATIO, "max_peak_rss_mb": MAX_PEAK_RSS_MB},
        "passed": {"ratio": ratio <= MAX_RATIO, "peak_rss": peak_rss_mb <= MAX_PEAK_RSS_MB},
        "machine": machine_info(),
        "runs": runs,
    }


def to_markdown(summary: dict[str, Any]) -> str:
    """The docs/benchmarks.md table: medians, the ratio, peak RSS, what the night found and the verdicts."""
    med, rss, ok, counts = summary["medians_s"], summary["peak_rss_mb"], summary["passed"], summary["counts"]
    base = med["baseline_same_columns"]
    lines = [
        "| datasets benchmark | median wall (s) | x baseline | peak RSS (MB) |",
        "|---|---:|---:|---:|",
        f"| baseline: polars scan of the {len(SAME_COLUMNS)} columns selection reads + anti-join on the items "
        f"| {base:.2f} | 1.00 | {rss['baseline_same_columns']:.0f} |",
        f"| for reference: the same, scanning the id and text only | {med['baseline']:.2f} "
        f"| {med['baseline'] / base:.2f} | {rss['baseline']:.0f} |",
        f"| **tracewatch: candidates -> picks** | **{med['tracewatch']:.2f}** "
        f"| **{summary['ratio']:.2f}** | **{rss['tracewatch']:.0f}** |",
        *(
            f"| &nbsp;&nbsp;{label} | {med[phase]:.2f} | {med[phase] / base:.2f} | |"
            for phase, label in PHASE_LABELS
        ),
        f"| before: the whole night's candidates in memory at once (one pass) | {med['one_pass']:.2f} "
        f"| {med['one_pass'] / base:.2f} | {rss['one_pass']:.0f} |",
    ]
    m = summary["machine"]
    lines += [
        "",
        f"{summary['rows']:,} traces of one day in {summary['files']} Parquet files on the local S3 server "
        f"(SeaweedFS) against a {summary['items']:,}-item dataset version, the shipped nightly spec at a budget "
        f"of {summary['budget']:,}: {counts['picked']:,} picked, {counts['duplicates_exact']:,} exact and "
        f"{counts['duplicates_near']:,} near duplicates among the examined shortlist. The dataset and its stored "
        "MinHash slots are read in a background thread while the candidates are read and ranked. "
        f"Median of {summary['repeats']} interleaved runs, each "
        f"in a fresh process. {m['nproc']} CPUs, Python {m['python']}, polars {m['polars']}, "
        f"{m['date'][:10]}, commit {m['git']}.",
        "",
        f"- wall time <= {MAX_RATIO:.0f}x baseline (the columns selection reads): {summary['ratio']:.2f}x, "
        f"{VERDICT[ok['ratio']]}",
        f"- peak RSS <= {MAX_PEAK_RSS_MB:.0f} MB: {rss['tracewatch']:.0f} MB, {VERDICT[ok['peak_rss']]}",
        f"- for reference, against the id and text scan: {summary['id_text_ratio']:.2f}x",
    ]
    return "\n".join(lines) + "\n"


# ---- the child: one repetition of one side -----------------------------------------------------------------


def run_baseline(
    keys: list[str], items_key: str, columns: tuple[str, ...] = BASELINE_COLUMNS
) -> tuple[dict[str, float], dict[str, int]]:
    """The bare polars query: scan `columns` of the day's files and the items' text, anti-join on the input text.

    With the id and text only, the two are read and then joined. With more columns, scan and join are one lazy
    query: joining a materialised frame that carries list columns (messages, feedback) costs three times as
    much, and a baseline should be the fast way to write it. The rows are counted afterwards, from the files'
    metadata, outside the timing.
    """
    from tracewatch.settings import Settings

    store = Store.from_settings(Settings())
    options = store.storage_options()
    uris = [store.uri(k) for k in keys]
    phases: dict[str, float] = {}
    with timed(phases, "total"):
        traces = pl.scan_parquet(uris, storage_options=options).select(columns)
        known = pl.scan_parquet(store.uri(items_key), storage_options=options).select("input_text")
        if columns == BASELINE_COLUMNS:
            read, dataset = pl.collect_all([traces, known])
            new = read.join(dataset, on="input_text", how="anti")
        else:
            new = traces.join(known, on="input_text", how="anti").collect()
    rows, items = pl.collect_all([traces.select(pl.len()), known.select(pl.len())])
    return phases, {"rows": rows.item(), "items": items.item(), "new": new.height}


def run_tracewatch(day: dt.date, budget: int) -> tuple[dict[str, float], dict[str, int]]:
    """`build_dataset_version` for one night, its steps timed where it calls them; it stops short of writing
    the version, so that every repetition finds the same dataset."""
    from tracewatch.datasets import build, candidates
    from tracewatch.runs import new_run_id
    from tracewatch.settings import Settings

    store = Store.from_settings(Settings())
    phases: dict[str, float] = {}
    with timed(phases, "connect"):  # the nightly flow's ingest step has built it by the time this runs
        store.fs  # noqa: B018 -- the property builds the S3 client
    spec = _spec(budget)
    build.read_part = timing(build.read_part, phases, "read")  # type: ignore[attr-defined]
    candidates.candidate_inputs = timing(candidates.candidate_inputs, phases, "keys")  # type: ignore[assignment]
    build.select_window = timing(build.select_window, phases, "selection")  # type: ignore[assignment]
    items_for_picks = build.items_for_picks

    def picks_made(*args: Any, **kwargs: Any) -> tuple[pl.DataFrame, dict[str, int]]:
        phases["total"] = time.perf_counter() - started
        with timed(phases, "items"):
            return items_for_picks(*args, **kwargs)

    build.items_for_picks = picks_made  # type: ignore[assignment]
    build.write_version = lambda *args, **kwargs: None  # type: ignore[attr-defined,assignment]
    started = time.perf_counter()
    result = build.build_dataset_version(store, spec, start=day, end=day, run_id=new_run_id("bench"))
    return phases, _counts(store, spec.name, result.counts) | {"picked_items": result.items.height}


def run_one_pass(day: dt.date, budget: int) -> tuple[dict[str, float], dict[str, int]]:
    """What the build did before it went file by file, for the memory comparison: the whole night's
    candidates read into memory at once, then one selection over them (the picks' rows are not read)."""
    from tracewatch.datasets import build
    from tracewatch.settings import Settings

    store = Store.from_settings(Settings())
    phases: dict[str, float] = {}
    with timed(phases, "connect"):
        store.fs  # noqa: B018 -- the property builds the S3 client
    spec = _spec(budget)
    with timed(phases, "total"):
        with timed(phases, "read"):
            traces, counts = build.read_candidates(store, spec, day, day, {})
        with timed(phases, "selection"):
            selection = build.select_candidates(store, spec, traces)
    found = counts | {f"candidates: {k}": v for k, v in selection.counts.items()}
    return phases, _counts(store, spec.name, found)


def _spec(budget: int) -> Any:
    from tracewatch.datasets.spec import load_dataset_spec

    spec = load_dataset_spec()
    return spec.model_copy(update={"sampling": spec.sampling.model_copy(update={"budget": budget})})


def _counts(store: Store, name: str, counted: dict[str, int]) -> dict[str, int]:
    from tracewatch.datasets.dedup import EXACT
    from tracewatch.datasets.sampling import CANDIDATES, NOT_SAMPLED, PICKED

    found = {k.removeprefix("candidates: "): n for k, n in counted.items()}
    return {
        "rows_read": found["traces"],
        "no_usable_input": found[NO_USABLE_INPUT],
        "candidates": found[CANDIDATES],
        "picked": found[PICKED],
        "duplicates_exact": found[EXACT],
        "duplicates_near": sum(n for reason, n in found.items() if reason.startswith("duplicate: near")),
        "not_sampled": found[NOT_SAMPLED],
        "items": _dataset_size(store, name),
    }


def _dataset_size(store: Store, name: str) -> int:
    from tracewatch.datasets.versions import read_manifest

    return read_manifest(store, name).item_count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One repetition of one side of the datasets benchmark.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--result", type=Path, required=True, help="where to write the JSON result")
    parser.add_argument("--day", type=dt.date.fromisoformat, default=DAY)
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--items-key", help="the dataset's items file, relative to TRACEWATCH_STORE")
    parser.add_argument("keys", nargs="*", help="the day's trace files, relative to TRACEWATCH_STORE")
    args = parser.parse_intermixed_args(argv)
    if args.kind in BASELINES:
        if not args.keys or not args.items_key:
            parser.error("a baseline needs the trace files and --items-key")
        columns = BASELINE_COLUMNS if args.kind == "baseline" else SAME_COLUMNS
        phases, counts = run_baseline(args.keys, args.items_key, columns)
    elif args.kind == "one_pass":
        phases, counts = run_one_pass(args.day, args.budget)
    else:
        phases, counts = run_tracewatch(args.day, args.budget)
    write_result(args.result, args.kind, phases, counts)


if __name__ == "__main__":
    main()

"""Import a million OTLP spans from the local S3 server, against reading and parsing the same objects alone.

The requirement (issue 19): importing 1,000,000 spans (200,000 traces of 5 spans, mixed dialects) of gzipped OTLP
JSON in the Collector's awss3exporter layout takes at most 3x the wall time of a floor measured in the same run,
reading and decompressing the same objects and parsing them with orjson, and peaks at no more than 2 GB; the same
for `.binpb` objects against `ExportTraceServiceRequest.FromString` alone.

The spans (`bench.import_spans`) are the real instrumentations' shapes (tests/fixtures/otlp) with new ids, times,
questions, answers and token counts: current and old GenAI (whose content comes as log records in `logs_*`
objects), OpenInference and OpenLLMetry. Every repetition runs in a fresh Python process
(`python -m bench.import_bench <kind> ...`), so its peak RSS is its own; each import writes to a fresh store
prefix, so none finds the previous one's ledger. Both sides read the objects one after the other with the
store's own client. Importing litellm (for prices the spans lack) is timed on its own line, outside the ratio,
as the nightly flow has imported it anyway.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import gzip
import logging
import resource
import time
from pathlib import Path
from typing import Any

from bench.common import VERDICT, local_s3_store, machine_info, median_phase, spawn, timed, write_result
from bench.import_spans import FIRST_UPLOAD, SpanSet, write_span_set

log = logging.getLogger(__name__)

MAX_RATIO = 3.0
MAX_PEAK_RSS_MB = 2048.0
ENCODINGS: tuple[tuple[str, str, str], ...] = (
    # (encoding, marshaler, what the floor parses with)
    ("json", "otlp_json", "orjson.loads"),
    ("proto", "otlp_proto", "ExportTraceServiceRequest.FromString"),
)
KINDS = tuple(f"{side}_{encoding}" for encoding, _, _ in ENCODINGS for side in ("floor", "import"))
PHASE_LABELS: tuple[tuple[str, str], ...] = (
    ("list", "list the source's objects"),
    ("read", "read the objects"),
    ("decode", "decompress and decode to spans"),
    ("process", "buffer, assemble, write canonical files and ledger"),
)


PARALLEL_LABEL = (
    "the rest: reading and decoding in the workers, overlapped with buffering, assembling, writing"
)


# ---- the parent: set up, spawn, summarise ------------------------------------------------------------------


def run_benchmark(*, spans: int, repeats: int, work_dir: Path) -> dict[str, Any]:
    """Start an S3 server, write `spans` spans once per encoding, run all four sides `repeats` times."""
    with local_s3_store(work_dir, "import") as local:
        root = local.child_env["TRACEWATCH_STORE"]
        sets: dict[str, SpanSet] = {}
        started = time.perf_counter()
        for encoding, marshaler, _ in ENCODINGS:
            sets[encoding] = write_span_set(
                local.store, f"sources/{encoding}", spans=spans, marshaler=marshaler
            )
            log.info("wrote %s: %s", encoding, sets[encoding].message)
        setup_s = time.perf_counter() - started
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        for repetition in range(1, repeats + 1):
            for kind in KINDS:
                span_set = sets[kind.split("_", 1)[1]]
                env = {**local.child_env, "TRACEWATCH_STORE": f"{root}/imports/{kind}-{repetition}"}
                args = ["--location", f"{root}/{span_set.prefix}", "--now", span_set.now.isoformat()]
                run = spawn("bench.import_bench", kind, args, env, local.tmp)
                _check_counts(kind, run, span_set)
                runs[kind].append(run)
                log.info(
                    "repetition %d/%d %-12s %6.2f s  peak RSS %5.0f MB",
                    repetition,
                    repeats,
                    kind,
                    run["phases"]["total"],
                    run["peak_rss_mb"],
                )
    return summarise(runs, sets=sets, repeats=repeats, setup_s=setup_s)


def _check_counts(kind: str, run: dict[str, Any], span_set: SpanSet) -> None:
    """A fast run that skipped work is no result: every span and log record must have been seen, and (the
    data being clean) every trace imported whole, nothing rejected, nothing left waiting."""
    expected = {"spans": span_set.spans, "log_records": span_set.log_records, "objects": span_set.objects}
    if kind.startswith("import"):
        expected = {
            "records": span_set.spans + span_set.log_records,
            "objects": span_set.objects,
            "traces": span_set.traces,
            "traces_incomplete": 0,
            "records_rejected": 0,
            "traces_quarantined": 0,
            "pending_traces": 0,
        }
    wrong = {name: run["counts"].get(name) for name, n in expected.items() if run["counts"].get(name) != n}
    if wrong:
        raise RuntimeError(f"the {kind} run saw {wrong}, expected {expected}")


def summarise(
    runs: dict[str, list[dict[str, Any]]], *, sets: dict[str, SpanSet], repeats: int, setup_s: float
) -> dict[str, Any]:
    """Per encoding: medians per phase, the ratio of the medians, the worst peak RSS and the verdicts."""
    encodings: dict[str, Any] = {}
    for encoding, marshaler, parser in ENCODINGS:
        floor, ours = runs[f"floor_{encoding}"], runs[f"import_{encoding}"]
        ratio = median_phase(ours, "total") / median_phase(floor, "total")
        peak = max(r["peak_rss_mb"] for r in ours)
        workers = max(r["counts"].get("workers", 1) for r in ours)
        worker_peak = max(r["counts"].get("workers_peak_rss_mb", 0) for r in ours) if workers > 1 else 0
        encodings[encoding] = {
            "marshaler": marshaler,
            "floor_parser": parser,
            "data": sets[encoding].summary(),
            "medians_s": {
                "floor": round(median_phase(floor, "total"), 3),
                "floor_read": round(median_phase(floor, "read"), 3),
                "floor_parse_gc_running": round(median_phase(floor, "parse_gc_running"), 3),
                "floor_parse_and_walk": round(median_phase(floor, "parse_and_walk"), 3),
                "import": round(median_phase(ours, "total"), 3),
                **{
                    phase: round(median_phase(ours, phase), 3)
                    for phase, _ in PHASE_LABELS
                    if all(phase in r["phases"] for r in ours)
                },
                "litellm_import": round(median_phase(ours, "litellm_import"), 3),
            },
            "ratio": round(ratio, 3),
            "workers": workers,
            "peak_rss_mb": {
                "floor": max(r["peak_rss_mb"] for r in floor),
                "import": peak,
                "import_worker": worker_peak,
            },
            # Every process at its peak at once: the parent's and each worker's (an upper bound).
            "passed": {
                "ratio": ratio <= MAX_RATIO,
                "peak_rss": peak + workers * worker_peak <= MAX_PEAK_RSS_MB,
            },
        }
    return {
        "benchmark": "import",
        "repeats": repeats,
        "setup_s": round(setup_s, 3),
        "encodings": encodings,
        "targets": {"max_ratio": MAX_RATIO, "max_peak_rss_mb": MAX_PEAK_RSS_MB},
        "machine": machine_info(),
        "runs": runs,
    }


def to_markdown(summary: dict[str, Any]) -> str:
    """The docs/benchmarks.md table: per encoding the floor, the import, its phases, ratio, peak RSS, verdicts."""
    lines = [
        "| import benchmark | median wall (s) | x floor | peak RSS (MB) |",
        "|---|---:|---:|---:|",
    ]
    verdicts = []
    for encoding, result in summary["encodings"].items():
        med, rss, ok = result["medians_s"], result["peak_rss_mb"], result["passed"]
        n = result.get("workers", 1)
        # With workers the objects are read and decoded there, untimed: the phases are what the parent spent.
        workers = f"{n} worker processes" if n > 1 else "in one process"
        worker_rss = f" + {n} x {rss['import_worker']:.0f} (workers)" if n > 1 else ""
        base = med["floor"]
        lines += [
            f"| floor, `.{encoding}` objects: read + gunzip + `{result['floor_parser']}` | {base:.2f} | 1.00 "
            f"| {rss['floor']:.0f} |",
            f"| &nbsp;&nbsp;of which read + gunzip | {med['floor_read']:.2f} | {med['floor_read'] / base:.2f} | |",
            f"| &nbsp;&nbsp;not in the floor: the same parse with the cyclic GC running "
            f"| {med['floor_parse_gc_running']:.2f} | | |",
            *(
                [
                    "| &nbsp;&nbsp;not in the floor: parse, then read every id, attribute key and value "
                    f"into Python | {med['floor_parse_and_walk']:.2f} | | |"
                ]
                if med.get("floor_parse_and_walk")
                else []
            ),
            f"| **tracewatch: import_traces, `{result['marshaler']}`, {workers}** | **{med['import']:.2f}** "
            f"| **{result['ratio']:.2f}** | **{rss['import']:.0f}**{worker_rss} |",
            *(
                f"| &nbsp;&nbsp;{PARALLEL_LABEL if n > 1 and phase == 'process' else label} | {med[phase]:.2f} "
                f"| {med[phase] / base:.2f} | |"
                for phase, label in PHASE_LABELS
                if phase in med
            ),
            f"| &nbsp;&nbsp;not in the ratio: importing litellm (prices) | {med['litellm_import']:.2f} | | |",
        ]
        verdicts += [
            f"- `{result['marshaler']}`: wall time <= {MAX_RATIO:.0f}x floor: {result['ratio']:.2f}x, "
            f"{VERDICT[ok['ratio']]}; peak RSS <= {MAX_PEAK_RSS_MB:.0f} MB: "
            f"{rss['import'] + n * rss.get('import_worker', 0) if n > 1 else rss['import']:.0f} MB, "
            f"{VERDICT[ok['peak_rss']]}",
        ]
    data, m = next(iter(summary["encodings"].values()))["data"], summary["machine"]
    lines += [
        "",
        f"{data['spans']:,} spans ({data['traces']:,} traces of 5 spans: GenAI current and old, OpenInference, "
        f"OpenLLMetry; {data['split_traces']:,} traces split over two objects) plus {data['log_records']:,} "
        f"GenAI log records, in {data['objects']:,} gzipped objects per encoding (Collector awss3exporter layout: "
        f"traces objects of {data['min_spans_per_object']:,}-{data['max_spans_per_object']:,} spans, a logs "
        "object beside each, a minute apart) on the local S3 server "
        f"(SeaweedFS). Median of {summary['repeats']} interleaved runs, each in a fresh process; both sides read "
        f"the objects one by one with the store's client. {m['nproc']} CPUs, Python {m['python']}, "
        f"{m['date'][:10]}, commit {m['git']}.",
        "",
        *verdicts,
    ]
    return "\n".join(lines) + "\n"


# ---- the child: one repetition of one side -----------------------------------------------------------------


def run_floor(location: str, encoding: str) -> tuple[dict[str, float], dict[str, int]]:
    """Read, gunzip and parse every object of the source, counting its spans and log records."""
    import orjson
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tracewatch.importers import SourceConfig
    from tracewatch.settings import Settings

    def parse(data: bytes, logs: bool) -> int:
        """The records in one object (counted, so nothing parsed goes unused)."""
        if encoding == "json":
            doc = orjson.loads(data)
            blocks = doc["resourceLogs" if logs else "resourceSpans"]
            inner, items = ("scopeLogs", "logRecords") if logs else ("scopeSpans", "spans")
            return sum(len(scope[items]) for block in blocks for scope in block[inner])
        if logs:
            request = ExportLogsServiceRequest.FromString(data)
            return sum(len(s.log_records) for b in request.resource_logs for s in b.scope_logs)
        traces = ExportTraceServiceRequest.FromString(data)
        return sum(len(s.spans) for b in traces.resource_spans for s in b.scope_spans)

    def walk(data: bytes, logs: bool) -> int:
        """Parse, then read every record's ids and every attribute's key and value into Python: the least any
        importer must do with a parsed protobuf request (upb parses lazily; reading is the work)."""
        touched = 0
        request = (ExportLogsServiceRequest if logs else ExportTraceServiceRequest).FromString(data)
        blocks = request.resource_logs if logs else request.resource_spans
        for block in blocks:
            for scope in block.scope_logs if logs else block.scope_spans:
                for record in scope.log_records if logs else scope.spans:
                    touched += len(record.trace_id) + len(record.span_id)
                    for kv in record.attributes:
                        touched += len(kv.key) + len(kv.value.string_value)
        return touched

    source = SourceConfig(name="bench", kind="otlp", location=location).open(Settings())
    phases: dict[str, float] = {"read": 0.0, "parse_gc_running": 0.0, "parse_and_walk": 0.0}
    counts = {"objects": 0, "spans": 0, "log_records": 0}
    with timed(phases, "total"):
        for key in [info.key for info in source.list_objects("")]:
            with timed(phases, "read"):
                data = gzip.decompress(source.read_bytes(key))
            logs = "/logs_" in key
            # The fastest parse: orjson's millions of small dicts set off the cyclic collector, which more than
            # doubles its time; the import pauses it while decoding an object, so the floor does too.
            gc.disable()
            counts["log_records" if logs else "spans"] += parse(data, logs)
            gc.enable()
            counts["objects"] += 1
            with timed(phases, "parse_gc_running"):  # outside the total: the same parse, collector running
                parse(data, logs)
            if encoding == "proto":  # outside the total too: what reading the parsed messages costs
                gc.disable()
                with timed(phases, "parse_and_walk"):
                    walk(data, logs)
                gc.enable()
    phases["total"] -= phases["parse_gc_running"] + phases["parse_and_walk"]
    return phases, counts


def run_import(location: str, now: dt.datetime) -> tuple[dict[str, float], dict[str, int]]:
    """`import_traces` over the source, as the import-traces flow calls it, into a fresh store, with the worker
    processes the settings give (`TRACEWATCH_IMPORT_WORKERS`, default one per CPU)."""
    import tracewatch.importers._readers as readers
    import tracewatch.importers._run as import_run
    from bench.common import timing
    from tracewatch.importers import SourceConfig
    from tracewatch.importers._object_reads import resolve_workers
    from tracewatch.llm import litellm_cost
    from tracewatch.llm._providers import load_litellm
    from tracewatch.settings import Settings
    from tracewatch.store import Store

    workers = resolve_workers(Settings().import_workers)
    phases: dict[str, float] = {"list": 0.0}
    reader = readers._CollectorS3Reader
    reader.new_objects = timing(reader.new_objects, phases, "list")  # type: ignore[method-assign]
    if workers == 1:
        source = _timed_source(location, phases)
    else:  # the objects are read in the workers, which time nothing: the phases are what is left here
        source = SourceConfig(name="bench", kind="otlp", location=location)
    with timed(phases, "litellm_import"):
        load_litellm()
    store = Store.from_settings(Settings())
    with timed(phases, "total"):
        result = import_run.import_traces(store, [source], now=now, pricer=litellm_cost)
    phases["process"] = phases["total"] - phases["list"] - phases.get("read", 0.0) - phases.get("decode", 0.0)
    outcome = result.sources[0]
    names = ("objects", "records", "records_rejected", "traces", "traces_incomplete", "traces_quarantined")
    counts = {name: int(getattr(outcome, name)) for name in (*names, "pending_traces")}
    counts["workers"] = workers
    counts["workers_peak_rss_mb"] = round(children_peak_rss_mb())
    return phases, counts


def children_peak_rss_mb() -> float:
    """The largest peak RSS of this process's finished children (the import's workers), in MB. An upper bound:
    Linux starts a child's peak at what its parent held when it was started, before the child's exec."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _timed_source(location: str, phases: dict[str, float]) -> Any:
    """A source whose reads and decodes are timed where the import calls them (in this process: one worker)."""
    import tracewatch.importers._otlp_objects as otlp_objects
    import tracewatch.importers._readers as readers
    from bench.common import timing
    from tracewatch.importers import SourceConfig
    from tracewatch.settings import Settings
    from tracewatch.store import Store

    phases.update(read=0.0, decode=0.0)
    # Patch the names the reader calls, so each step is timed where the import really does it.
    readers.decode_trace_object = timing(otlp_objects.decode_trace_object, phases, "decode")  # type: ignore[attr-defined]
    readers.decode_log_object = timing(otlp_objects.decode_log_object, phases, "decode")  # type: ignore[attr-defined]
    opened = SourceConfig(name="bench", kind="otlp", location=location).open(Settings())
    opened.read_bytes = timing(opened.read_bytes, phases, "read")  # type: ignore[method-assign]

    class TimedSource(SourceConfig):
        def open(self, store_settings: Settings) -> Store:
            return opened  # already opened (and checked) above, its reads timed

    return TimedSource(name="bench", kind="otlp", location=location)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One repetition of one side of the import benchmark.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--location", required=True, help="the source's s3:// URL")
    parser.add_argument("--now", type=dt.datetime.fromisoformat, default=FIRST_UPLOAD, help="import clock")
    parser.add_argument("--result", type=Path, required=True, help="where to write the JSON result")
    args = parser.parse_args(argv)
    side, encoding = args.kind.split("_", 1)
    if side == "floor":
        phases, counts = run_floor(args.location, encoding)
    else:
        phases, counts = run_import(args.location, args.now)
    write_result(args.result, args.kind, phases, counts)


if __name__ == "__main__":
    main()

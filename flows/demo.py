"""`make demo`: 14 days of realistic traces with drift from day 10, run nightly over them, show the result.

Each night ingests and validates the day's traces, publishes the monitoring reports, samples new dataset items
and runs the demo experiment (2 prompt templates x 2 temperatures, data/experiments/demo.yaml) over the newest
dataset version on a real local model, SmolLM2-135M-Instruct behind llama.cpp's OpenAI-compatible server,
which the demo starts and stops. Items answered on an earlier night come from the response cache.

The traces arrive the way production traces do: the demo writes them as OTLP objects in the OpenTelemetry
Collector's S3 layout (GenAI names, devtools/demo_otlp_writer.py) with planted bad objects and malformed traces,
and sets TRACEWATCH_SOURCES so that every night imports new objects first (the source: data/sources/demo.yaml).
With --direct-parquet it writes canonical trace files instead, as an application that writes them itself would.

With TRACEWATCH_STORE unset, the demo starts the embedded local S3 server (SeaweedFS) for its duration, with
data kept in `.tracewatch/s3`. With TRACEWATCH_STORE=file:///some/dir it uses that folder instead (the OTLP
objects then go under <store>/otel/demo). With TRACEWATCH_DEMO_MODEL_URL set, the demo uses that
OpenAI-compatible server instead of starting its own.

At the end the demo copies the store it ran on, and every night's summary from Prefect, to `.tracewatch/demo/`
(devtools/demo_results.py), so the results open after the server has stopped: it prints the one command that
opens them (`uv run python -m devtools.demo_results`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml

from devtools.demo_feedback import write_late_feedback
from devtools.demo_otlp import register_demo_prices
from devtools.demo_otlp_writer import write_demo_otlp
from devtools.demo_results import RESULTS_DIR, check_results_folder, describe_copy, save_results
from devtools.local_model import start_local_model, stop_local_model
from devtools.s3server import start_s3_server, stop_s3_server
from flows.params import ExperimentChoice
from tracewatch.dashboard import INDEX_KEY
from tracewatch.datasets import NIGHTLY_SPEC, DatasetSpec
from tracewatch.importers import SourceConfig, load_sources
from tracewatch.llm import load_litellm
from tracewatch.paths import shipped_data
from tracewatch.settings import Settings
from tracewatch.store import Store, open_store
from tracewatch.summaries import overview_text
from tracewatch.traces import DriftSpec, write_demo_traces

DEMO_PREFIX = "demo"
DEMO_EXPERIMENT = "demo"
DEMO_TRACE_SCORING = "demo"
DEMO_SOURCES = "demo"
"""The shipped sources file (data/sources/demo.yaml): the demo's OTLP objects on the embedded S3 server."""
DEMO_SOURCE_PREFIX = "otel/demo"
"""Where the OTLP objects go under a store the user chose (the shipped source names the embedded server)."""
MODEL_URL_ENV = "TRACEWATCH_DEMO_MODEL_URL"
S3_DATA_DIR = Path(".tracewatch/s3")
DEMO_SYNTHETIC_TARGET = 10
"""Every demo stratum holds fewer items than this; `max_strata=1` then picks the thinnest."""
DEMO_SYNTHETIC_PARAMS: dict[str, Any] = {
    "max_tokens": 160,
    "response_format": {
        "type": "json_object",
        "schema": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    },
}
"""Room for a JSON list of three short inputs (the demo experiment's 24 tokens fit one short answer), and
llama.cpp's JSON-schema grammar: a 135M model writes prose around a list unless its decoding is constrained."""
NIGHT_SUMMARY_KEY = "nightly-summary"
"""The key of the markdown artifact each night publishes (flows/nightly.py)."""


@contextmanager
def embedded_store() -> Iterator[bool]:
    """Point TRACEWATCH_STORE at the embedded S3 server unless the user chose a store; yields whether it did."""
    if os.environ.get("TRACEWATCH_STORE"):
        yield False
        return
    server = start_s3_server(S3_DATA_DIR.resolve())
    os.environ.update(server.environment("tracewatch", DEMO_PREFIX))
    try:
        yield True
    finally:
        stop_s3_server(server)


@contextmanager
def demo_sources(store: Store, *, embedded: bool) -> Iterator[SourceConfig]:
    """Set TRACEWATCH_SOURCES to the demo's OTLP source for the demo's duration and yield that source.

    On the embedded server it is the shipped file as it stands. Under a store the user chose, the shipped
    bucket may not exist, so the source is the shipped one moved under the store (`<store>/otel/demo`, reached
    with the store's own endpoint and credentials), written to a temporary sources file: the nightly runs read
    TRACEWATCH_SOURCES like any deployment, with no demo-only path through the library.
    """
    previous = os.environ.get("TRACEWATCH_SOURCES")
    with tempfile.TemporaryDirectory(prefix="tracewatch-demo-sources-") as folder:
        if embedded:
            setting = DEMO_SOURCES
        else:
            shipped = load_sources(DEMO_SOURCES)[0].model_dump(
                mode="json", exclude={"endpoint_url_env", "access_key_id_env", "secret_access_key_env"}
            )
            shipped["location"] = store.uri(DEMO_SOURCE_PREFIX)
            path = Path(folder) / "demo-sources.yaml"
            path.write_text(yaml.safe_dump({"sources": [shipped]}, sort_keys=False))
            setting = str(path)
        os.environ["TRACEWATCH_SOURCES"] = setting
        try:
            (source,) = load_sources(setting)
            yield source
        finally:
            if previous is None:
                del os.environ["TRACEWATCH_SOURCES"]
            else:
                os.environ["TRACEWATCH_SOURCES"] = previous


@contextmanager
def demo_model() -> Iterator[None]:
    """Start the local model and point TRACEWATCH_DEMO_MODEL_URL at it, unless the user set that variable."""
    if os.environ.get(MODEL_URL_ENV):
        yield
        return
    model = start_local_model()
    os.environ[MODEL_URL_ENV] = model.base_url
    try:
        yield
    finally:
        del os.environ[MODEL_URL_ENV]
        stop_local_model(model)


@contextmanager
def demo_trace_scoring() -> Iterator[None]:
    """Score production traces with the demo's config (the shipped heuristics plus a relevance judge on the
    local model) unless the user chose one; the process environment is left as it was."""
    if os.environ.get("TRACEWATCH_TRACE_SCORING") is not None:
        yield
        return
    os.environ["TRACEWATCH_TRACE_SCORING"] = DEMO_TRACE_SCORING
    try:
        yield
    finally:
        del os.environ["TRACEWATCH_TRACE_SCORING"]


def demo_dataset_spec(items_per_night: int) -> dict[str, Any]:
    """The shipped nightly dataset spec with the demo's nightly item budget: every item costs 4 model calls
    on a 2-core machine, so the budget keeps the whole demo within minutes."""
    spec: dict[str, Any] = yaml.safe_load(shipped_data(NIGHTLY_SPEC).read_text())
    spec["sampling"]["budget"] = items_per_night
    return spec


def synthesize_thinnest_stratum() -> None:
    """A few synthetic items for the nightly dataset's thinnest stratum on the local model, written for review
    (docs/datasets.md, "Synthetic items"): one request, so it fits the demo's time budget, and no new version,
    so each night's version stays the night's sample."""
    from flows.synthesize import synthesize_flow  # after the store environment is set, like the nightly flow

    done = synthesize_flow(
        dataset=demo_dataset_spec(1)["name"],
        target=DEMO_SYNTHETIC_TARGET,
        experiment=DEMO_EXPERIMENT,
        max_strata=1,
        params=DEMO_SYNTHETIC_PARAMS,
        direct=False,
    )
    print(f"synthetic items: {done['message']}")


def import_model_client_soon() -> None:
    """Import litellm (several seconds on 2 cores) in the background while the demo writes traces and Prefect's
    server starts, instead of in the first night's experiment."""
    threading.Thread(target=load_litellm, name="import-litellm", daemon=True).start()


def night_summaries(backfill_run: UUID) -> dict[str, str]:
    """Every night's summary artifact of one backfill run, by the night's flow run name (`nightly-<date>`):
    the Prefect database they are in is the demo's own, which no server shows once the demo ends."""
    from prefect.client.orchestration import get_client  # here, so `--help` and the setup skip the client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )
    from prefect.client.schemas.sorting import ArtifactSort

    found: dict[str, str] = {}
    with get_client(sync_client=True) as client:
        nights = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[backfill_run])
            )
        )
        names = {run.id: run.name for run in nights}
        offset = 0
        while True:  # the server returns a page at a time
            page = client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[NIGHT_SUMMARY_KEY]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=list(names)),
                ),
                sort=ArtifactSort.CREATED_DESC,
                offset=offset,
            )
            if not page:
                return found
            offset += len(page)
            for artifact in page:  # newest first: a night's latest summary wins
                if artifact.flow_run_id in names:
                    found.setdefault(names[artifact.flow_run_id], str(artifact.data))


def main(argv: list[str] | None = None) -> int:
    # Prefect's temporary local server can take a while to start on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--traces-per-day", type=int, default=2000)
    parser.add_argument("--drift-from-day", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--items-per-night", type=int, default=2, help="new dataset items sampled per night (x4 model calls)"
    )
    parser.add_argument(
        "--direct-parquet",
        action="store_true",
        help="write canonical trace files directly instead of OTLP objects to import",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS_DIR,
        help="the folder the results are copied to at the end, replacing the last demo's (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    import_model_client_soon()
    end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=args.days - 1)
    drift = DriftSpec(from_day=args.drift_from_day)
    with ExitStack() as stack:
        embedded = stack.enter_context(embedded_store())
        stack.enter_context(demo_model())
        stack.enter_context(demo_trace_scoring())
        from flows.nightly import backfill  # after the store environment is set

        store = open_store(Settings())
        store.check(create=True)  # the demo fills a new store; a user's store is never created for them
        check_results_folder(store, args.results)  # before the work, not after it
        if args.direct_parquet:
            summary = write_demo_traces(
                store,
                start=start,
                days=args.days,
                traces_per_day=args.traces_per_day,
                seed=args.seed,
                drift=drift,
            )
            print(
                f"wrote {summary.good_rows} demo traces for {start}..{end} to {store.url} (planted: "
                f"{len(summary.planted_rows)} malformed rows, {len(summary.planted_files)} unreadable file)"
            )
        else:
            source = stack.enter_context(demo_sources(store, embedded=embedded))
            otlp = write_demo_otlp(
                Store(source.location, Settings()),
                start=start,
                days=args.days,
                traces_per_day=args.traces_per_day,
                seed=args.seed,
                drift=drift,
            )
            register_demo_prices()  # GenAI spans state no cost: the import prices them from litellm's cost map
            print(
                f"wrote {otlp.good_rows} demo traces for {start}..{end} as {len(otlp.object_keys)} OTLP objects "
                f"to {source.location} (planted: {len(otlp.planted_traces)} malformed traces, "
                f"{len(otlp.planted_objects)} bad objects); each night imports them first"
            )
        ratings = write_late_feedback(  # some arrive a day late: the next night rebuilds their day
            store,
            start=start,
            days=args.days,
            traces_per_day=args.traces_per_day,
            seed=args.seed,
            drift=drift,
        )
        print(
            f"wrote {ratings.events - ratings.without_trace} reviewer ratings as late feedback "
            f"({sum(ratings.day_late.values())} a day late) and {ratings.without_trace} app ratings whose "
            "traces were dropped (reported as orphans after the wait)"
        )
        state = backfill(
            start=start,
            end=end,
            dataset=DatasetSpec.from_dict(demo_dataset_spec(args.items_per_night)),
            experiments=[ExperimentChoice.model_validate(DEMO_EXPERIMENT)],
            return_state=True,
        )
        state.result()  # a failed night raises here, as the flow call itself would
        synthesize_thinnest_stratum()
        backfill_run = state.state_details.flow_run_id
        summaries = night_summaries(backfill_run) if backfill_run else {}
        kept = save_results(store, args.results, summaries)  # while the embedded server still runs
    # Read from the copy, so every location it prints still opens once the demo's servers have stopped.
    print(overview_text(Store(f"file://{kept.folder}"), start, end))
    print(f"demo finished in {time.monotonic() - started:.0f} s")
    board = kept.folder / INDEX_KEY  # the nightly rebuilt it in the store; the copy opens with no server
    print(f"dashboard: {board} (open it in a browser, offline)" if board.exists() else "dashboard: not built")
    print(describe_copy(kept))  # last: the one command that opens the results
    return 0


if __name__ == "__main__":
    sys.exit(main())

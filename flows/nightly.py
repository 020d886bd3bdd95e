"""The nightly Prefect flow and its backfill: ingest -> validate -> monitoring reports.

Thin by design: every task body is one call into the `tracewatch` library.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.common import connect_store
from flows.experiments import ExperimentSource, run_experiment_flow
from tracewatch.datasets.build import DatasetBuild, load_dataset_spec
from tracewatch.datasets.report import sample_night
from tracewatch.errors import ConfigError
from tracewatch.ingest import IngestResult, ingest_new_traces
from tracewatch.ingest.data_docs import publish_data_docs
from tracewatch.monitoring import build_monitoring_reports
from tracewatch.monitoring.metrics import METRIC_INPUT_COLUMNS
from tracewatch.reports import PublishedPartition
from tracewatch.reports.summary import ingest_table, night_summary_markdown
from tracewatch.settings import Settings
from tracewatch.store import Store


def yesterday_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def _nightly_run_name() -> str:
    day = flow_run.parameters.get("day") or yesterday_utc()
    return f"nightly-{day}"


def _backfill_run_name() -> str:
    params = flow_run.parameters
    return f"backfill-{params['start']}..{params['end']}"


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def ingest(store: Store, day: dt.date, reprocess: bool) -> IngestResult:
    reprocessed = (day,) if reprocess else ()
    return ingest_new_traces(store, up_to=day, reprocess=reprocessed, keep=METRIC_INPUT_COLUMNS)


@task(cache_policy=NO_CACHE)
def data_docs(store: Store, day: dt.date, run_id: str) -> str | None:
    return publish_data_docs(store, day, run_id=run_id)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def monitoring_reports(
    store: Store, day: dt.date, run_id: str, accepted: pl.DataFrame | None
) -> list[PublishedPartition]:
    return build_monitoring_reports(store, day, run_id=run_id, accepted=accepted)


@task(cache_policy=NO_CACHE, retries=1, retry_delay_seconds=10)
def sample_dataset(
    store: Store, day: dt.date, run_id: str, spec: dict[str, Any] | None
) -> tuple[DatasetBuild, list[PublishedPartition]]:
    return sample_night(store, load_dataset_spec(spec), day, run_id=run_id)


@flow(name="nightly", flow_run_name=_nightly_run_name, log_prints=True)
def nightly(
    day: dt.date | None = None,
    reprocess: bool = False,
    dataset: dict[str, Any] | None = None,
    experiments: list[ExperimentSource] | None = None,
) -> list[PublishedPartition]:
    """Ingest new traces up to `day` (default: yesterday, UTC), validate them, publish monitoring reports,
    sample the night's new dataset items and run the configured experiments on the newest dataset version.

    Dates that received late files are re-reported too. `reprocess` forgets what was ingested for `day`
    and ingests it again from the source files. `dataset` overrides the shipped dataset spec
    (`data/datasets/nightly.yaml`), in the same form. `experiments` are the experiments to run (shipped
    names such as "demo", YAML paths, or mappings in the experiment file's form); default: the names in
    TRACEWATCH_NIGHTLY_EXPERIMENTS (comma-separated), else none.
    """
    day = day or yesterday_utc()
    store = connect_store()
    result = ingest(store, day, reprocess)
    published: list[PublishedPartition] = []
    touched_dates = sorted({*result.dates_touched, day})
    for touched in touched_dates:
        published += monitoring_reports(store, touched, result.run_id, result.accepted.pop(touched, None))
    build, dataset_reports = sample_dataset(store, day, result.run_id, dataset)
    published += dataset_reports
    ran = [
        run_experiment_flow(experiment=source, dataset=build.dataset)
        for source in (Settings().nightly_experiments if experiments is None else experiments)
    ]
    # GX's own Data Docs of a sample come after the reports: they document, the row checks already decided.
    for touched in touched_dates:
        data_docs(store, touched, result.run_id)
    create_markdown_artifact(
        key="nightly-summary",
        markdown=night_summary_markdown(day, result, published)
        + f"\n\n**Dataset:** {build.message}\n"
        + "".join(f"\n**Experiment:** {summary['message']}\n" for summary in ran),
        description=f"Night {day}",
    )
    if result.files:
        create_table_artifact(
            key="nightly-ingest", table=ingest_table(result), description=f"Files ingested {day}"
        )
    return published


@flow(name="backfill", flow_run_name=_backfill_run_name, log_prints=True)
def backfill(
    start: dt.date,
    end: dt.date,
    reprocess: bool = False,
    dataset: dict[str, Any] | None = None,
    experiments: list[ExperimentSource] | None = None,
) -> list[PublishedPartition]:
    """Run the nightly pipeline for every date from `start` to `end` (inclusive), oldest first, with the same
    `dataset` spec and `experiments` as the nightly flow takes.

    Idempotent: a rerun of a date replaces its report partitions; `reprocess` re-ingests each date.
    """
    if end < start:
        raise ConfigError(f"backfill end={end} is before start={start}; expected start <= end")
    published: list[PublishedPartition] = []
    day = start
    while day <= end:
        published += nightly(day=day, reprocess=reprocess, dataset=dataset, experiments=experiments)
        day += dt.timedelta(days=1)
    return published

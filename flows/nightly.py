"""The nightly Prefect flow and its backfill: ingest -> validate -> monitoring reports -> dataset sample ->
experiments (scored) -> production-trace scoring -> drift and quality trends (events and artifacts).

Thin by design: every task body is one call into the `tracewatch` library.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run

from flows.common import connect_store, stage_task
from flows.dashboard import dashboard_markdown
from flows.drift import announce_alerts, day_profile, drift_day
from flows.experiments import ExperimentStoppedError, run_experiment_flow
from flows.feedback import attach_late_feedback, dates_to_rebuild
from flows.imports import configured_sources, import_new_traces, publish_import_artifacts
from flows.leases import night_lease
from flows.params import ExperimentChoice
from flows.scoring import score_traces, trace_scoring_spec
from flows.task_runners import configured_task_runner, on_task_runner, portable
from tracewatch.datasets import DatasetSpec, load_dataset_spec, sample_dataset_items
from tracewatch.drift import Alert, DriftConfig, DriftNight, check_rebaseline
from tracewatch.errors import ConfigError
from tracewatch.ingest import IngestPlan, ingest_planned, plan_ingest, publish_data_docs
from tracewatch.monitoring import DayMetrics, MetricReducer, build_monitoring_reports, day_metrics
from tracewatch.reports import PublishedPartition
from tracewatch.scoring import day_sample
from tracewatch.settings import Settings
from tracewatch.store import Store
from tracewatch.summaries import (
    NightLinks,
    dataset_night_line,
    import_markdown,
    ingest_table,
    night_drift_section,
    night_summary_markdown,
)


def yesterday_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)


def _nightly_run_name() -> str:
    day = flow_run.parameters.get("day") or yesterday_utc()
    return f"nightly-{day}"


def _backfill_run_name() -> str:
    params = flow_run.parameters
    return f"backfill-{params['start']}..{params['end']}"


@stage_task
def ingest(store: Store, day: dt.date, reprocess: bool, require_traces: bool = True) -> IngestPlan:
    """Ingest's plan (the new files, the ledger); the flow's body then maps the files on its task runner."""
    reprocessed = (day,) if reprocess else ()
    return plan_ingest(store, up_to=day, reprocess=reprocessed, require_traces=require_traces)


@stage_task
def data_docs(store: Store, day: dt.date, run_id: str) -> str | None:
    return publish_data_docs(store, day, run_id=run_id)


@stage_task
def monitoring_reports(
    store: Store, day: dt.date, run_id: str, parts: DayMetrics
) -> list[PublishedPartition]:
    return build_monitoring_reports(store, day, run_id=run_id, parts=parts)


def dataset_spec(dataset: DatasetSpec | None) -> DatasetSpec:
    """The form's spec, or the shipped nightly spec (data/datasets/nightly.yaml) when none was given."""
    return dataset if dataset is not None else load_dataset_spec()


def nightly_experiments(experiments: list[ExperimentChoice] | None) -> list[ExperimentChoice]:
    """The experiments given, or those named in TRACEWATCH_NIGHTLY_EXPERIMENTS."""
    if experiments is not None:
        return experiments
    return [ExperimentChoice.model_validate(name) for name in Settings().nightly_experiments]


def _check_parameters(arguments: Mapping[str, Any], day: dt.date) -> None:
    """The nightly's parameter checks that need no store: before the lease, before any work."""
    rebaseline_from = arguments.get("rebaseline_from")
    if rebaseline_from is not None:
        check_rebaseline(rebaseline_from, day)


@flow(
    name="nightly",
    flow_run_name=_nightly_run_name,
    log_prints=True,
    task_runner=configured_task_runner(),  # TRACEWATCH_TASK_RUNNER: threads, processes or Dask
)
# One run per night (a manual run and the deployment's; flows/leases.py), its parameters checked first.
@night_lease(yesterday_utc, check=_check_parameters)
def nightly(
    day: dt.date | None = None,
    reprocess: bool = False,
    dataset: DatasetSpec | None = None,
    experiments: list[ExperimentChoice] | None = None,
    rebaseline_from: dt.date | None = None,
    drift: dict[str, Any] | None = None,
    fail_on_no_traces: bool = True,
) -> list[PublishedPartition]:
    """Import new traces from the configured sources (TRACEWATCH_SOURCES, if set), ingest new traces up to
    `day`, validate them, publish monitoring reports, sample the night's new dataset items and run the
    configured experiments on the night's dataset version.

    Dates that received late files are re-reported too. A rerun of a night replaces its report partitions
    and resumes its experiments (answered items are not asked again).

    Args:
        day: The night to process (default: yesterday, UTC).
        reprocess: Forget what was ingested for `day` and ingest it again from the source files.
        dataset: The dataset spec to sample the night with (default: the shipped data/datasets/nightly.yaml).
        experiments: The experiments to run on the night's dataset version (default: the names in
            TRACEWATCH_NIGHTLY_EXPERIMENTS, comma-separated, else none).
        rebaseline_from: Accept the traffic from this date (up to the night) as the new normal: the drift
            reference restarts from it, days that alerted since included, so a change you accept stops
            alerting (docs/drift.md, "Reference hygiene"). Leave empty on other nights.
        drift: Drift and alert settings overriding the defaults, e.g. {"alpha": 0.01, "min_reference_days": 3}
            (every setting: docs/drift.md, "Settings"); an unknown name stops the run and lists the allowed ones.
        fail_on_no_traces: Fail the night when the store has no traces for it (no file under
            traces/date=<day>/, or none with a readable row): a wrong TRACEWATCH_STORE, an application that
            stopped writing or an import that found nothing should not pass as a quiet night. Off, such a night
            runs with a warning in the log and the night's summary.
    """
    day = day or yesterday_utc()
    drift_config = DriftConfig.from_mapping(drift or {})
    settings = Settings()
    store = portable(connect_store())  # travels to a worker as its URL: no credentials in task arguments
    published: list[PublishedPartition] = []
    sections: list[tuple[str, str]] = []
    if settings.sources:  # production traces arrive through the importers: bring the new ones in first
        imported = import_new_traces(store, configured_sources(settings.sources), [])
        publish_import_artifacts(imported)
        published += imported.published
        sections.append(("Import", import_markdown(imported)))
    plan = ingest.submit(store, day, reprocess, fail_on_no_traces).result()
    # each file read, checked and reduced as a task on the flow's runner; the ledger is kept here
    # past this many accepted traces a date's monitoring is made in bounded parts
    values_max_rows = settings.monitoring_values_max_rows
    result = ingest_planned(
        store, plan, reducer=MetricReducer(max_rows=values_max_rows), part_map=on_task_runner
    )
    warning = result.night.warning if result.night is not None else None
    if warning:  # the rule is off (on, ingest failed the night): logged by ingest, shown first in the summary
        sections.insert(0, ("No traces", f"**Warning:** {warning}"))
    late = attach_late_feedback.submit(store, day, result.run_id).result()  # feedback/date=D/, any trace date
    published += late.published
    sections.append(("Late feedback", late.markdown()))
    # the night, dates with late trace files, and dates whose late feedback changed are (re)reported
    touched_dates = dates_to_rebuild(day, result, late)
    for touched in touched_dates:
        parts: DayMetrics | None = result.parts.pop(touched, None)
        if parts is None:  # no parts kept by ingest: the files' parts (and passes) as tasks on the runner
            parts = day_metrics(store, touched, part_map=on_task_runner, values_max_rows=values_max_rows)
        published += monitoring_reports.submit(store, touched, result.run_id, parts).result()
        del parts  # a small date's latencies and costs (about 20 bytes a trace): not held through the night
    # file by file: each file's shortlist and the picks' rows as tasks on the runner, the selection here
    build, dataset_reports = sample_dataset_items(
        store, dataset_spec(dataset), day, run_id=result.run_id, part_map=on_task_runner
    )
    published += dataset_reports
    # The experiments run on the version this night built (or found, on a rerun), so a rerun of an earlier
    # night resumes that night's experiment instead of starting one on a later version.
    version = build.manifest.version if build.manifest else None
    ran, stopped = [], []
    for choice in nightly_experiments(experiments):
        try:
            ran.append(
                run_experiment_flow(
                    experiment=choice, dataset=build.dataset, version=version, report_date=day
                )
            )
        except (
            ExperimentStoppedError
        ) as exc:  # the rest of the night (scores, drift) still runs; the night fails
            stopped.append(str(exc))
    if stopped:
        sections.insert(0, ("Experiments that stopped", "\n".join(f"- {reason}" for reason in stopped)))
    # Production scores, then drift and quality trends (which read those scores), date by date, oldest first.
    spec = trace_scoring_spec(settings.trace_scoring) if settings.trace_scoring else None
    scoring_messages: list[str] = []
    alerts: list[Alert] = []
    nights: list[DriftNight] = []
    for touched in touched_dates:
        if spec is not None:
            picked = day_sample(  # each file's shortlist on the runner; the merge and the judges here
                store,
                touched,
                size=spec.sample_size,
                agreement_size=spec.agreement_size,
                seed=spec.seed,
                part_map=on_task_runner,
            )
            scored = score_traces(store, touched, spec, result.run_id, picked)
            published += scored.published
            scoring_messages.append(scored.message)
        rebaseline = rebaseline_from if touched == day else None
        profile = day_profile(store, touched)  # file by file on the runner, from this body
        drifted = drift_day(store, touched, result.run_id, rebaseline, drift_config, profile)
        published += drifted.published
        nights.append(drifted)
        alerts += drifted.alerts
    drift_section = night_drift_section(
        store, day, nights
    )  # tonight first, each alert with the night it began
    announce_alerts(day, tuple(alerts), drift_section)
    # GX's own Data Docs of a sample come after the reports: they document, the row checks already decided.
    docs = {
        touched: data_docs(store, touched, result.run_id) for touched in touched_dates if settings.data_docs
    }
    if not settings.data_docs:
        sections.append(
            ("Data Docs", "Off (TRACEWATCH_DATA_DOCS=false): the row checks ran; no sample documented.")
        )
    dashboard = dashboard_markdown(store)  # from the reports just published; a failure is a warning in it
    create_markdown_artifact(
        key="nightly-summary",
        markdown=night_summary_markdown(
            day,
            result,
            published,
            new_items=dataset_night_line(build.message, build.redactions),
            experiments=[summary.message for summary in ran],
            sections=[
                *sections,
                *((f"Scores of {summary.experiment_id}", summary.scores_markdown) for summary in ran),
                ("Production scores", "\n".join(f"- {message}" for message in scoring_messages) or "Off."),
                ("Drift and quality", drift_section),
                ("Dashboard", dashboard),
            ],
            links=NightLinks({p.key: store.uri(p.key) for p in published}, docs),
        ),
        description=f"Night {day}",
    )
    if result.files:
        create_table_artifact(
            key="nightly-ingest", table=ingest_table(result), description=f"Files ingested {day}"
        )
    if stopped:
        raise ExperimentStoppedError(
            "; ".join(stopped) + " (the rest of the night ran and published its reports)"
        )
    return published


@flow(name="backfill", flow_run_name=_backfill_run_name, log_prints=True)
def backfill(
    start: dt.date,
    end: dt.date,
    reprocess: bool = False,
    dataset: DatasetSpec | None = None,
    experiments: list[ExperimentChoice] | None = None,
    drift: dict[str, Any] | None = None,
    fail_on_no_traces: bool = True,
) -> list[PublishedPartition]:
    """Run the nightly pipeline for every date from `start` to `end`, oldest first.

    Idempotent: a rerun of a date replaces its report partitions.

    Args:
        start: The first night (inclusive).
        end: The last night (inclusive, not before `start`).
        reprocess: Ingest each date again from the source files (see the nightly flow).
        dataset: The dataset spec, as the nightly flow takes it (default: the shipped nightly spec).
        experiments: The experiments to run each night, as the nightly flow takes them.
        drift: Drift and alert settings, as the nightly flow takes them.
        fail_on_no_traces: Stop at the first night without traces (see the nightly flow); off, such nights
            run with a warning, as for a range with known gaps.
    """
    if end < start:
        raise ConfigError(f"backfill end={end} is before start={start}; expected start <= end")
    published: list[PublishedPartition] = []
    day = start
    while day <= end:
        published += nightly(
            day=day,
            reprocess=reprocess,
            dataset=dataset,
            experiments=experiments,
            drift=drift,
            fail_on_no_traces=fail_on_no_traces,
        )
        day += dt.timedelta(days=1)
    return published

"""Import production traces from the configured sources (OpenTelemetry Collector objects, Langfuse, Opik or
Phoenix exports) into canonical trace files: a flow of its own, scheduled before the nightly run, and the first
step of the nightly flow when sources are configured (TRACEWATCH_SOURCES).

Thin by design: the task body is one call into the `tracewatch` library.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import connect_store, stage_task
from tracewatch.errors import ConfigError
from tracewatch.importers import ImportResult, SourceConfig, import_traces, load_sources
from tracewatch.llm import litellm_cost
from tracewatch.settings import Settings
from tracewatch.store import Store
from tracewatch.summaries import import_markdown, import_table


@task(cache_policy=NO_CACHE)
def configured_sources(sources: str | None = None) -> list[SourceConfig]:
    """The sources named by the parameter, else by TRACEWATCH_SOURCES; a bad file stops the run (no retries)."""
    name = sources if sources is not None else Settings().sources
    if not name:
        raise ConfigError(
            "no trace sources are configured: set TRACEWATCH_SOURCES to a sources YAML file (docs/importing.md) "
            "or a shipped name such as `demo`, or pass the `sources` parameter"
        )
    return load_sources(name)


@stage_task
def import_new_traces(store: Store, sources: list[SourceConfig], reimport: list[dt.date]) -> ImportResult:
    return import_traces(store, sources, reimport=reimport, pricer=litellm_cost)


def publish_import_artifacts(result: ImportResult) -> None:
    """A markdown summary and a table per run, so the Prefect UI shows what each source gave."""
    create_markdown_artifact(key="import-summary", markdown=import_markdown(result), description="Import")
    create_table_artifact(key="import-sources", table=import_table(result), description="Import per source")


@flow(name="import-traces", flow_run_name="import-traces", log_prints=True)
def import_traces_flow(sources: str | None = None, reimport: list[dt.date] | None = None) -> ImportResult:
    """Read every configured source's new objects and write them as canonical trace files under `traces/`.

    Incremental and idempotent: objects already imported (same key and version) are not read again; traces
    whose late spans may still come wait for the next run (the source's grace window).

    Args:
        sources: A sources YAML file on the worker, or a shipped name such as `demo` (default: TRACEWATCH_SOURCES).
        reimport: Upload days (UTC) to import again from scratch: what they produced is replaced, and the
            nightly run must then ingest those trace dates again (nightly `reprocess`).
    """
    chosen = configured_sources(sources)
    store = connect_store()
    result = import_new_traces(store, chosen, list(reimport or []))
    publish_import_artifacts(result)
    print(result.message)
    return result

"""Settings read once at the edge (CLI, flow) from the environment and passed down; secrets stay masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STORE_FOLDER = ".tracewatch/store"
"""The store when TRACEWATCH_STORE is unset or empty: this folder under the working directory."""


def default_store_url() -> str:
    """`file://` and the absolute path of `DEFAULT_STORE_FOLDER` under the working directory, resolved now: a
    store URL is always absolute, so it means the same folder wherever it is passed on to."""
    return "file://" + str(Path.cwd() / DEFAULT_STORE_FOLDER)


def __getattr__(name: str) -> str:
    """`DEFAULT_STORE`: the default store's URL, `default_store_url()` at the time it is looked up (the working
    directory may change after this module is imported)."""
    if name == "DEFAULT_STORE":
        return default_store_url()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Settings(BaseSettings):
    """Where tracewatch keeps its data and how to reach it.

    `store` is the one root URL (`file:///abs/dir` or `s3://bucket/prefix`), read from `TRACEWATCH_STORE`; unset
    or empty, it is `.tracewatch/store` under the working directory.
    S3 credentials and endpoint come from the usual AWS variables so existing deployments work unchanged.
    """

    model_config = SettingsConfigDict(env_prefix="TRACEWATCH_", extra="ignore", validate_by_name=True)

    store: str = Field(default_factory=default_store_url, description="Root URL of the object store.")
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "TRACEWATCH_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"
        ),
        description="S3-compatible endpoint (leave unset for AWS).",
    )
    aws_access_key_id: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("TRACEWATCH_AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("TRACEWATCH_AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
    )
    aws_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("TRACEWATCH_AWS_REGION", "AWS_DEFAULT_REGION", "AWS_REGION"),
    )
    nightly_experiments_csv: str = Field(
        default="",
        validation_alias=AliasChoices("TRACEWATCH_NIGHTLY_EXPERIMENTS"),
        description="Experiments the nightly flow runs when its `experiments` parameter is not set: shipped "
        "names or YAML paths, comma-separated.",
    )

    trace_scoring: str = Field(
        default="traces",
        validation_alias=AliasChoices("TRACEWATCH_TRACE_SCORING"),
        description="The production-trace scoring the nightly flow runs: a shipped name (data/scoring/<name>.yaml, "
        "e.g. traces or demo) or a YAML path; an empty value turns trace scoring off.",
    )

    sources: str = Field(
        default="",
        validation_alias=AliasChoices("TRACEWATCH_SOURCES"),
        description="Where production traces are imported from before each night: a shipped name "
        "(data/sources/<name>.yaml, e.g. demo) or a YAML path (docs/importing.md); empty: no import, the "
        "application writes canonical trace files itself.",
    )

    feedback_orphan_after_hours: float = Field(
        default=72.0,
        ge=0,
        validation_alias=AliasChoices("TRACEWATCH_FEEDBACK_ORPHAN_AFTER_HOURS"),
        description="How long late feedback whose trace id is not (yet) among the ingested traces waits for "
        "its trace, from its created_at to the end of the night being run, before it is reported as orphaned "
        "(docs/trace-schema.md).",
    )

    task_runner: str = Field(
        default="threads",
        validation_alias=AliasChoices("TRACEWATCH_TASK_RUNNER"),
        description="Where the nightly flow (and each night of a backfill) runs its per-file steps and stage "
        "tasks: threads[:n] (default: one thread per usable CPU, in the flow's process), processes[:n], "
        "dask:<scheduler address> (an existing Dask cluster; its workers read the store with their own "
        "credentials) or dask-local[:n] (a temporary local Dask cluster of n worker processes); docs/scaling.md.",
    )

    data_docs: bool = Field(
        default=True,
        validation_alias=AliasChoices("TRACEWATCH_DATA_DOCS"),
        description="Whether each night publishes Great Expectations Data Docs of a sample of its rows (about "
        "10 s a night). Off, the row checks still decide every row; only the sample's documentation is skipped, "
        "which suits a long backfill (docs/validation.md).",
    )

    import_workers: int = Field(
        default=0,
        ge=0,
        validation_alias=AliasChoices("TRACEWATCH_IMPORT_WORKERS"),
        description="Worker processes an import reads and decodes OTLP objects in: 0 (the default) is one per "
        "CPU but one (the importing process assembles), at most 4, so a 2-CPU machine reads in the importing "
        "process itself; 1 always does (docs/importing.md).",
    )

    monitoring_values_max_rows: int = Field(
        default=2_000_000,  # monitoring.metrics.DAY_VALUES_MAX_ROWS
        ge=0,
        validation_alias=AliasChoices("TRACEWATCH_MONITORING_VALUES_MAX_ROWS"),
        description="A day of at most this many accepted traces carries its latency, cost and feedback values "
        "to the nightly flow's process for its monitoring tables (about 20 bytes a trace, the fastest way); a "
        "larger day is aggregated in parts of bounded size and its latency percentiles take further passes over "
        "its files, so no process holds the day (docs/scaling.md).",
    )

    allow_callable_tasks: bool = Field(
        default=False,
        validation_alias=AliasChoices("TRACEWATCH_ALLOW_CALLABLE_TASKS"),
        description="Whether an experiment config may name a Python callable as its task (`package.module:fn`): "
        "importing it runs code, so it is off unless set to 1/true (configs are then trusted as code; "
        "docs/security.md).",
    )

    @field_validator("store", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        """`TRACEWATCH_STORE=` (set, but empty or blank) means the default, as unset does."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return default_store_url()
        return value.strip() if isinstance(value, str) else value

    @property
    def nightly_experiments(self) -> list[str]:
        return [name.strip() for name in self.nightly_experiments_csv.split(",") if name.strip()]

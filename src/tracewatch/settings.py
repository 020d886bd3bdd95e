"""Settings read once at the edge (CLI, flow) from the environment and passed down; secrets stay masked."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STORE = "file://./.tracewatch/store"


class Settings(BaseSettings):
    """Where tracewatch keeps its data and how to reach it.

    `store` is the one root URL (`file:///abs/dir` or `s3://bucket/prefix`), read from `TRACEWATCH_STORE`.
    S3 credentials and endpoint come from the usual AWS variables so existing deployments work unchanged.
    """

    model_config = SettingsConfigDict(env_prefix="TRACEWATCH_", extra="ignore", validate_by_name=True)

    store: str = Field(default=DEFAULT_STORE, description="Root URL of the object store.")
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

    @property
    def nightly_experiments(self) -> list[str]:
        return [name.strip() for name in self.nightly_experiments_csv.split(",") if name.strip()]

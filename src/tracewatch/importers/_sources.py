"""Trace sources, configured in YAML (`data/sources/*.yaml`, docs/importing.md): where a team's traces are
written, in which format, with which credentials (by environment-variable name, never values) and which
tracewatch project they belong to.

    sources:
      - name: prod-otel                       # letters, digits, '-' and '_': it names ledger rows and files
        kind: otlp                            # otlp | otlp_file | langfuse | opik | phoenix
        location: s3://otel-traces/prod       # s3://bucket/prefix on any S3-compatible endpoint, or file:///dir
        endpoint_url_env: OTEL_S3_ENDPOINT    # optional: the variable holding the endpoint URL
        access_key_id_env: OTEL_S3_KEY_ID     # optional: the variables holding the credentials
        secret_access_key_env: OTEL_S3_SECRET
        project: {default: support-bot, from_attribute: service.name, rename: {svc-a: support-bot}}
        grace_minutes: 15                     # how long a trace may wait for its late spans
        incomplete: import                    # import | quarantine: a trace whose root never arrived
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from tracewatch.config_errors import config_error, unknown_keys
from tracewatch.config_files import read_config_file
from tracewatch.errors import ConfigError, StoreError
from tracewatch.importers._otlp_objects import DEFAULT_PARTITION_FORMAT
from tracewatch.paths import check_name, shipped_data
from tracewatch.settings import Settings
from tracewatch.store import Store

SourceKind = Literal["otlp", "otlp_file", "langfuse", "opik", "phoenix"]
"""`otlp`: the Collector's S3 exporter objects; `otlp_file`: its file exporter (JSON lines or length-prefixed
protobuf); `langfuse`: a blob-storage export; `opik`: `opik export` trace files; `phoenix`: span dataframes saved
as Parquet."""

IncompletePolicy = Literal["import", "quarantine"]

SOURCES_DIR = "sources"
"""Shipped source files live under data/sources/."""


class _SourceModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """An unknown key (a typo, a secret pasted inline) is refused with the allowed ones listed."""
        if isinstance(data, Mapping):
            unknown = unknown_keys(data, cls.model_fields)
            if unknown:
                raise ValueError(unknown)
        return data


class ProjectMapping(_SourceModel):
    """Which tracewatch project a trace belongs to: the project the trace names (the attribute `from_attribute`
    names, else what its spans say: `openinference.project.name`, else the resource's `service.name`), renamed if
    listed in `rename`; `default` when it names none."""

    default: str = "default"
    """the project of a trace whose attribute is absent (or when no attribute is named)"""
    from_attribute: str | None = None
    """a span or resource attribute naming the project (default: `openinference.project.name`, else `service.name`)"""
    rename: dict[str, str] = Field(default_factory=dict)
    """attribute value -> project name"""

    def project_of(self, value: str | None) -> str:
        """The project for an attribute value (None when the trace does not carry the attribute)."""
        if value is None:
            return self.default
        return self.rename.get(value, value)


class SourceConfig(_SourceModel):
    """One place traces are read from."""

    name: str
    """the source's name: letters, digits, '-' and '_' (it names ledger rows, files and report rows)"""
    kind: SourceKind
    """the format: otlp, otlp_file, langfuse, opik or phoenix"""
    location: str
    """s3://bucket/prefix (any S3-compatible endpoint) or file:///absolute/dir"""
    endpoint_url_env: str | None = None
    """the environment variable holding the S3 endpoint URL (default: the store's endpoint)"""
    access_key_id_env: str | None = None
    """the environment variable holding the access key id (default: the store's credentials)"""
    secret_access_key_env: str | None = None
    """the environment variable holding the secret access key"""
    project: ProjectMapping = Field(default_factory=ProjectMapping)
    """which tracewatch project the traces belong to"""
    grace_minutes: float = Field(default=15.0, ge=0)
    """how long (in upload time) a trace may wait for spans that arrive in later objects"""
    incomplete: IncompletePolicy = "import"
    """a trace whose root span never arrived: import it flagged incomplete, or quarantine it"""
    s3_partition_format: str = DEFAULT_PARTITION_FORMAT
    """otlp: the Collector's `s3_partition_format` (strftime directives %Y %m %d %H %M %S)"""
    s3_partition_timezone: str = "UTC"
    """otlp: the Collector's `s3_partition_timezone` (an IANA name; set UTC on the Collector)"""
    file_prefix: str = ""
    """otlp: the Collector's `file_prefix`"""
    file_format: Literal["json", "proto"] = "json"
    """otlp_file: the fileexporter's `format`"""
    langfuse_latency_unit: Literal["auto", "seconds", "milliseconds"] = "auto"
    """langfuse: the unit of the export's latency columns (auto: read from the export's version)"""

    @field_validator("name")
    @classmethod
    def _usable_name(cls, name: str) -> str:
        try:
            return check_name(name, "source")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("location")
    @classmethod
    def _supported_url(cls, location: str) -> str:
        parsed = urlparse(location)
        if parsed.scheme not in ("s3", "file") or (parsed.scheme == "s3" and not parsed.netloc):
            raise ValueError(
                f"{location!r} is not a source location; expected s3://bucket/prefix or file:///dir"
            )
        return location.rstrip("/")

    @field_validator("s3_partition_timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(f"{name!r} is not a time zone name; expected an IANA name such as UTC") from None
        return name

    def timezone(self) -> dt.tzinfo:
        """The zone the Collector wrote partition times in."""
        return ZoneInfo(self.s3_partition_timezone)

    def open(self, store_settings: Settings) -> Store:
        """The source's objects as a read-only `Store`, checked now: a wrong URL or credentials stop the run at
        once with a message naming the source and the setting."""
        settings = self._settings(store_settings)
        source = Store(self.location, settings)
        try:
            source.check_readable()
        except StoreError as exc:
            raise ConfigError(
                f"source {self.name!r} (location {self.location}): {exc}; {self._settings_origin()}"
            ) from None
        return source

    def _settings_origin(self) -> str:
        """Which settings the endpoint and credentials came from, so a refusal names what to fix."""
        named = [
            f"{setting}={variable}"
            for setting, variable in (
                ("endpoint_url_env", self.endpoint_url_env),
                ("access_key_id_env", self.access_key_id_env),
                ("secret_access_key_env", self.secret_access_key_env),
            )
            if variable is not None
        ]
        if not named:
            return "the source names no variables, so the store's own S3 endpoint and credentials were used"
        return f"the source's settings {', '.join(named)} (the rest from the store's own settings)"

    def _settings(self, store_settings: Settings) -> Settings:
        """The store's S3 settings, with whatever this source overrides read from the variables it names."""
        updates: dict[str, Any] = {"store": self.location}
        for setting, variable in (
            ("s3_endpoint_url", self.endpoint_url_env),
            ("aws_access_key_id", self.access_key_id_env),
            ("aws_secret_access_key", self.secret_access_key_env),
        ):
            if variable is None:
                continue
            value = os.environ.get(variable)
            if not value:
                field = f"{setting.removeprefix('aws_').removeprefix('s3_')}_env"
                raise ConfigError(
                    f"source {self.name!r}: {field} names the environment variable {variable}, which is not set"
                )
            updates[setting] = value if setting == "s3_endpoint_url" else SecretStr(value)
        return store_settings.model_copy(update=updates)


def parse_sources(data: object, origin: str = "sources") -> list[SourceConfig]:
    """The sources a mapping (`{sources: [...]}`) describes, or one ConfigError naming every problem, each
    under its source (`sources.yaml: source 'prod-otel': kind: expected ...`)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("sources"), list):
        raise ConfigError(f"{origin}: expected a mapping with a `sources:` list, got {_shape(data)}")
    unknown = sorted(str(k) for k in data if k != "sources")
    problems: list[str] = (
        [f"{origin}: unknown key(s) {', '.join(unknown)}; allowed: sources"] if unknown else []
    )
    sources: list[SourceConfig] = []
    for at, item in enumerate(data["sources"]):
        name = item.get("name") if isinstance(item, Mapping) else None
        label = f"{origin}: source {name!r}" if isinstance(name, str) else f"{origin}: sources[{at}]"
        try:
            sources.append(SourceConfig.model_validate(item))
        except PydanticValidationError as exc:
            problems.append(str(config_error(exc, label=label)))
    names = [s.name for s in sources]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(
            f"{origin}: source name(s) {', '.join(repeated)} appear more than once; names must be distinct"
        )
    if problems:
        raise ConfigError("\n".join(problems))
    return sources


def _shape(data: object) -> str:
    if isinstance(data, Mapping):
        return "a mapping without a `sources:` list"
    return type(data).__name__


def load_sources(source: str | Path) -> list[SourceConfig]:
    """The sources of a YAML file (TRACEWATCH_SOURCES): a path, or the name of a shipped file
    (`data/sources/<name>.yaml`, e.g. `demo`); a ConfigError naming the file and the problem."""
    path = Path(source)
    if path.suffix not in (".yaml", ".yml"):
        folder = shipped_data(SOURCES_DIR)
        path = folder / f"{check_name(str(source), 'source')}.yaml"
        if not path.exists():
            shipped = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
            raise ConfigError(
                f"TRACEWATCH_SOURCES={str(source)!r} is neither a YAML file (.yaml/.yml) nor a shipped source "
                f"name; shipped: {shipped}"
            )
    data = read_config_file(path, "sources file")
    return parse_sources(data, origin=str(path))

"""The one seam to DuckDB: a connection that reads the store (httpfs and an S3 secret for `s3://` stores),
shows time in UTC and never lets a credential out, not even inside an error message.

Every DuckDB call of the catalog goes through `CatalogConnection`, which turns DuckDB's errors into `SqlError`
with the store's credentials masked and without the original exception attached (a traceback would show it).
Secrets: https://duckdb.org/docs/configuration/secrets_manager, S3: https://duckdb.org/docs/extensions/httpfs/s3api
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pyarrow as pa

from tracewatch.catalog._quoting import ansi_literal, double_quoted
from tracewatch.errors import StoreError, TracewatchError
from tracewatch.settings import Settings
from tracewatch.store import Store

log = logging.getLogger(__name__)

MASK = "***"
HTTPFS_WHEEL = "duckdb-extension-httpfs"
"""The wheel that carries the httpfs extension for machines that cannot download it (same version as duckdb)."""


class SqlError(TracewatchError):
    """DuckDB refused or could not run a statement; the message is DuckDB's, with every credential masked."""


class Redactor:
    """Masks the store's credentials in any text before it is shown (longest first, so no part is left)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text


@dataclass(frozen=True)
class Result:
    """A statement's whole result: column names, DuckDB type names and rows (empty for a statement like SET)."""

    columns: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]


class CatalogConnection:
    """A DuckDB connection whose every call masks credentials in what it raises."""

    def __init__(self, con: duckdb.DuckDBPyConnection, redact: Redactor) -> None:
        self._con = con
        self.redact = redact

    def __enter__(self) -> CatalogConnection:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._con.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (duckdb.Error, pa.ArrowException) as exc:
            message = self.redact(str(exc))
            raise SqlError(message) from None

    def run(self, sql: str) -> None:
        """Run statements whose result is not wanted (CREATE VIEW, SET)."""
        with self._translated():
            self._con.execute(sql)

    def fetch(self, sql: str) -> Result:
        """Run `sql` (one or more statements: the last one's result) and fetch all of its rows."""
        with self._translated():
            relation = self._con.sql(sql)
            if relation is None:
                return Result([], [], [])
            return Result(list(relation.columns), [str(t) for t in relation.types], relation.fetchall())

    def batches(
        self, sql: str, *, nested_as_text: bool = False, batch_rows: int = 100_000
    ) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
        """The result of `sql` as Arrow record batches, streamed (a large export never sits in memory);
        `nested_as_text`: lists, structs and maps as DuckDB prints them (CSV has no nested values)."""
        with self._translated():
            relation = self._con.sql(sql)
            if relation is None:
                raise SqlError(f"the statement returns no rows to write: {self.redact(sql.strip())}")
            if nested_as_text:
                relation = relation.project(
                    ", ".join(
                        f"CAST({double_quoted(name)} AS VARCHAR) AS {double_quoted(name)}"
                        if _nested(str(kind))
                        else double_quoted(name)
                        for name, kind in zip(relation.columns, relation.types, strict=True)
                    )
                )
            reader = relation.to_arrow_reader(batch_rows)
        return reader.schema, self._stream(reader)

    def _stream(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        while True:
            with self._translated():
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
            yield batch

    def columns(self, sql: str) -> list[tuple[str, str]]:
        """The (name, DuckDB type) of each column `sql` returns, without reading its rows."""
        described = self.fetch(f"DESCRIBE {sql}")
        return [(str(row[0]), str(row[1])) for row in described.rows]


def _nested(duckdb_type: str) -> bool:
    return duckdb_type.endswith("]") or duckdb_type.startswith(("STRUCT", "MAP", "UNION"))


def connect(store: Store, settings: Settings) -> CatalogConnection:
    """An in-memory DuckDB connection that reads `store` (for S3: httpfs loaded and a secret scoped to its
    bucket, built from `settings`), with the session time zone UTC."""
    keys = [settings.aws_access_key_id, settings.aws_secret_access_key]
    redact = Redactor(k.get_secret_value() for k in keys if k is not None)
    # No download behind a user's back: httpfs is loaded on purpose below, everything else is built in.
    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    catalog = CatalogConnection(con, redact)
    try:
        catalog.run("SET TimeZone = 'UTC'")
        if store.protocol == "s3":
            load_httpfs(catalog)
            _create_secret(catalog, store, settings)
    except BaseException:
        catalog.close()
        raise
    return catalog


def load_httpfs(catalog: CatalogConnection) -> None:
    """Load DuckDB's httpfs: installed already, else from the `duckdb-extension-httpfs` wheel (offline), else
    downloaded by DuckDB (online); a clear error naming each attempt when none works."""
    tried = []
    for how, sql in _httpfs_sources():
        try:
            catalog.run(sql)
        except SqlError as exc:
            tried.append(f"{how}: {str(exc).splitlines()[0]}")
            continue
        log.debug("httpfs loaded (%s)", how)
        return
    raise StoreError(
        "reading an s3:// store with DuckDB needs its httpfs extension, which could not be loaded ("
        + "; ".join(tried)
        + f"). Offline, install the wheel that carries it: pip install {HTTPFS_WHEEL}=={duckdb.__version__} "
        "(the same version as duckdb); online, DuckDB downloads it itself"
    )


def _httpfs_sources() -> list[tuple[str, str]]:
    sources = [("installed", "LOAD httpfs")]
    wheel = _wheel_extension()
    if wheel is not None:
        sources.append((f"the {HTTPFS_WHEEL} wheel", f"LOAD {ansi_literal(str(wheel))}"))
    sources.append(("download", "INSTALL httpfs; LOAD httpfs"))
    return sources


def _wheel_extension() -> Path | None:
    """The wheel's extension file built for this duckdb version (None: the wheel is not installed)."""
    spec = importlib.util.find_spec("duckdb_extension_httpfs")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}"
    found = sorted(folder.rglob("httpfs.duckdb_extension"))
    return found[0] if found else None


def _create_secret(catalog: CatalogConnection, store: Store, settings: Settings) -> None:
    try:
        catalog.run(secret_sql(store, settings))
    except SqlError as exc:
        # The statement holds the credentials: only DuckDB's masked reason is passed on.
        raise StoreError(
            f"DuckDB refused the S3 secret built from the settings (TRACEWATCH_S3_ENDPOINT_URL, "
            f"AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION): {exc}"
        ) from None


def secret_sql(store: Store, settings: Settings) -> str:
    """The CREATE SECRET statement for `store`'s bucket. It holds the credentials: never log or show it."""
    bucket = urlsplit(store.url).netloc
    options = [
        "TYPE s3",
        f"SCOPE {ansi_literal(f's3://{bucket}')}",
        f"REGION {ansi_literal(settings.aws_region)}",
    ]
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        options.append(f"KEY_ID {ansi_literal(settings.aws_access_key_id.get_secret_value())}")
        options.append(f"SECRET {ansi_literal(settings.aws_secret_access_key.get_secret_value())}")
    if settings.s3_endpoint_url:
        endpoint = urlsplit(settings.s3_endpoint_url)
        if not endpoint.netloc:
            raise StoreError(
                f"TRACEWATCH_S3_ENDPOINT_URL={settings.s3_endpoint_url!r} names no host; expected "
                "http(s)://host:port"
            )
        # An S3-compatible server (SeaweedFS, MinIO) is addressed by path, its TLS as its URL says.
        options.append(f"ENDPOINT {ansi_literal(endpoint.netloc + endpoint.path.rstrip('/'))}")
        options.append("URL_STYLE 'path'")
        options.append(f"USE_SSL {'true' if endpoint.scheme == 'https' else 'false'}")
    return f"CREATE OR REPLACE SECRET tracewatch_store ({', '.join(options)})"

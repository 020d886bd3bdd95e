"""The store's S3 credentials reach DuckDB as a secret and come back out nowhere: not in a printed table (DuckDB
lists a secret's key id in `duckdb_secrets()`), not in an error message, not in a traceback's chained exception.

DuckDB's secrets manager: https://duckdb.org/docs/configuration/secrets_manager; S3 secrets:
https://duckdb.org/docs/extensions/httpfs/s3api
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator

import pytest

from tracewatch.catalog import MASK, CatalogConnection, Redactor, SqlError, connect
from tracewatch.catalog import duckdb_connection as seam
from tracewatch.cli._sql import show_table
from tracewatch.errors import StoreError
from tracewatch.settings import Settings
from tracewatch.store import Store

KEY_ID = "AKIATRACEWATCHTEST01"
SECRET = "s3cr3t'with/quote+Plus"  # a quote must not end the literal (nor surface in a parser error)


def _settings(endpoint: str = "http://127.0.0.1:9") -> Settings:
    return Settings(
        store="s3://reports-bucket/prefix",
        s3_endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


@pytest.fixture
def s3_connection() -> Iterator[CatalogConnection]:
    """A connection with the secret created (nothing is read from the endpoint, which does not answer)."""
    settings = _settings()
    with connect(Store.from_settings(settings), settings) as connection:
        yield connection


def test_the_redactor_masks_every_credential_longest_first() -> None:
    redact = Redactor(["abc", "abcdef", "", "xyz"])
    assert redact("key abcdef, id abc, xyz!") == f"key {MASK}, id {MASK}, {MASK}!"


def test_the_secret_is_scoped_to_the_stores_bucket_and_listed_redacted(
    s3_connection: CatalogConnection, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = s3_connection.fetch("SELECT name, scope, secret_string FROM duckdb_secrets()")
    (name, scope, text) = listed.rows[0]
    assert (name, scope) == ("tracewatch_store", ["s3://reports-bucket"])
    assert SECRET not in text and "secret=redacted" in text
    assert KEY_ID in text  # DuckDB shows the key id: what we print must mask it
    show_table(listed, s3_connection.redact)
    out, err = capsys.readouterr()
    assert KEY_ID not in out + err and SECRET not in out + err
    assert MASK in out


def test_an_error_that_quotes_a_credential_is_masked_and_not_chained(
    s3_connection: CatalogConnection,
) -> None:
    quoted = SECRET.replace("'", "''")
    with pytest.raises(SqlError) as caught:
        s3_connection.fetch(f"SELECT CAST('{quoted}' AS INTEGER), '{KEY_ID}'::DATE")
    printed = "".join(traceback.format_exception(caught.value))
    assert "Conversion Error" in str(caught.value)
    assert SECRET not in printed and KEY_ID not in printed
    assert MASK in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_the_secret_statement_follows_the_endpoint() -> None:
    store = Store.from_settings(_settings())
    plain = seam.secret_sql(store, _settings("http://127.0.0.1:8333/"))
    assert "ENDPOINT '127.0.0.1:8333'" in plain and "USE_SSL false" in plain and "URL_STYLE 'path'" in plain
    assert "USE_SSL true" in seam.secret_sql(store, _settings("https://minio.internal"))
    aws = seam.secret_sql(store, Settings(store=store.url, s3_endpoint_url=None))
    assert "ENDPOINT" not in aws and "KEY_ID" not in aws and "SCOPE 's3://reports-bucket'" in aws
    with pytest.raises(StoreError, match="names no host"):
        seam.secret_sql(store, _settings("127.0.0.1:8333"))


def test_httpfs_that_cannot_be_loaded_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        seam,
        "_httpfs_sources",
        lambda: [("the wheel", "LOAD '/nonexistent/httpfs.duckdb_extension'")],
    )
    settings = _settings()
    with pytest.raises(StoreError) as caught:
        connect(Store.from_settings(settings), settings)
    message = str(caught.value)
    assert "needs its httpfs extension" in message and "the wheel: " in message
    assert f"pip install duckdb-extension-httpfs=={seam.duckdb.__version__}" in message


def test_the_installed_wheel_is_found_for_this_duckdb_version() -> None:
    """The dev group installs duckdb-extension-httpfs at duckdb's version (pyproject.toml), as tests load it."""
    found = seam._wheel_extension()
    assert found is not None and found.name == "httpfs.duckdb_extension"
    assert f"v{seam.duckdb.__version__}" in found.parts

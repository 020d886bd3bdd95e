"""DuckDB connected to the local S3 server the way a BI tool connects to a bucket (offline: the httpfs extension
comes from its wheel)."""

from __future__ import annotations

import pathlib

import duckdb
import duckdb_extension_httpfs

from devtools.s3server import S3Server


def duckdb_on(server: S3Server) -> duckdb.DuckDBPyConnection:
    """A connection whose `read_parquet('s3://...')` reads from `server` with its credentials."""
    extension = next(pathlib.Path(duckdb_extension_httpfs.__file__).parent.rglob("httpfs.duckdb_extension"))
    con = duckdb.connect()
    con.sql(f"LOAD '{extension}'")
    endpoint = server.endpoint_url.removeprefix("http://")
    con.sql(
        f"CREATE SECRET tw (TYPE s3, KEY_ID '{server.access_key_id}', SECRET '{server.secret_access_key}', "
        f"ENDPOINT '{endpoint}', URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')"
    )
    return con

"""Store basics on a local folder (the S3 side is covered by the integration tests)."""

from __future__ import annotations

import polars as pl
import pytest

from tracewatch.errors import ConfigError, StoreError
from tracewatch.settings import Settings
from tracewatch.store import Store


def test_keys_partitions_and_listing(file_store: Store) -> None:
    file_store.write_parquet("traces/date=2026-11-02/b.parquet", pl.DataFrame({"a": [1]}))
    file_store.write_parquet("traces/date=2026-11-01/a.parquet", pl.DataFrame({"a": [2]}))
    file_store.write_bytes("traces/notes.txt", b"x")
    assert file_store.partitions("traces") == ["2026-11-01", "2026-11-02"]
    assert [o.key for o in file_store.list_objects("traces", suffix=".parquet")] == [
        "traces/date=2026-11-01/a.parquet",
        "traces/date=2026-11-02/b.parquet",
    ]
    assert file_store.list_objects("nothing/here") == []
    assert file_store.partitions("nothing") == []


def test_atomic_write_replaces_and_leaves_no_temp_files(file_store: Store) -> None:
    file_store.write_bytes("x/obj", b"one")
    file_store.write_bytes("x/obj", b"two")
    assert file_store.read_bytes("x/obj") == b"two"
    assert [o.key for o in file_store.list_objects("x")] == ["x/obj"]


def test_unsupported_scheme_names_the_setting() -> None:
    with pytest.raises(
        ConfigError, match=r"TRACEWATCH_STORE='ftp://x/y'.*file:///absolute/dir or s3://bucket/prefix"
    ):
        Store("ftp://x/y")


def test_s3_url_without_bucket_is_refused() -> None:
    with pytest.raises(ConfigError, match="names no bucket"):
        Store("s3://")


def test_unwritable_folder_is_reported(tmp_path: pytest.TempPathFactory) -> None:
    blocker = tmp_path / "file"  # type: ignore[operator]
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="not a writable folder"):
        Store(f"file://{blocker}/store").check()


def test_storage_options_and_repr_never_leak_into_logs() -> None:
    settings = Settings(
        store="s3://bucket/prefix",
        s3_endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="super-secret-value",
    )
    store = Store.from_settings(settings)
    assert "super-secret-value" not in repr(settings) and "super-secret-value" not in repr(store)
    options = store.storage_options()
    assert options["aws_endpoint_url"] == "http://127.0.0.1:9" and options["aws_allow_http"] == "true"
    assert store.uri("reports/t") == "s3://bucket/prefix/reports/t"

"""Store basics on a local folder (the S3 side is covered by the integration tests)."""

from __future__ import annotations

from pathlib import Path

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


@pytest.mark.parametrize(
    "url", ["file://data/x", "file:relative", "file://./.tracewatch/store", "file://~/x"]
)
def test_a_relative_file_url_is_a_config_error_asking_for_an_absolute_path(url: str) -> None:
    with pytest.raises(
        ConfigError, match=r"is a relative path; expected an absolute one: file:///absolute/dir"
    ):
        Store(url)


@pytest.mark.parametrize(
    "url", ["file:///srv/tw", "file://localhost/srv/tw", "file:/srv/tw", "file:///srv/tw/"]
)
def test_absolute_file_urls_name_the_same_folder(url: str) -> None:
    assert Store(url).url == "file:///srv/tw"


def test_a_missing_folder_is_an_error_in_one_line_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    with pytest.raises(ConfigError) as raised:
        Store(f"file://{missing}").check()
    assert str(raised.value) == (
        f"TRACEWATCH_STORE='file://{missing}': the folder {missing} does not exist; create it "
        f"(mkdir -p {missing}) or fix TRACEWATCH_STORE"
    )
    assert isinstance(raised.value, StoreError)  # still a store problem for callers that catch those
    assert not missing.parent.exists()
    with pytest.raises(ConfigError, match="does not exist"):
        Store(f"file://{missing}").check(write=False)  # reading needs the folder too


def test_a_store_filled_for_the_first_time_creates_its_folder_when_asked(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "store"
    Store(f"file://{folder}").check(create=True)
    assert folder.is_dir() and list(folder.iterdir()) == []  # the write probe left nothing behind


def test_a_file_in_the_way_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"is not a folder; fix TRACEWATCH_STORE$"):
        Store(f"file://{blocker}").check()
    with pytest.raises(ConfigError, match=r"cannot create the folder: Not a directory$"):
        Store(f"file://{blocker}/store").check(create=True)


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

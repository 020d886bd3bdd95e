"""Versioned datasets against a local folder and the real local S3 server: append, read, list, diff,
immutability, empty nights, reruns, seeding from files and the human review round trip."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.support.dataset_items import ITEM_DAY, item_frame, item_row
from tracewatch.datasets import append
from tracewatch.datasets.append import VersionExistsError, append_version
from tracewatch.datasets.items import dedup_keys
from tracewatch.datasets.review import ANSWER, REVIEWER, export_for_review, import_reviews
from tracewatch.datasets.schema import ITEM_SCHEMA, ITEM_SCHEMA_VERSION, STORED_SCHEMA, empty_items
from tracewatch.datasets.seed import seed_dataset
from tracewatch.datasets.versions import (
    VersionManifest,
    complete_versions,
    diff_versions,
    find_version,
    items_key,
    latest_version,
    list_datasets,
    list_versions,
    make_source_key,
    manifest_key,
    read_manifest,
    read_version,
)
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.store import Store

NAME = "qa-golden"
SPEC = {"strategy": "stratified", "n": 2, "strata": ["route"]}


def items(*keys: str, **overrides: Any) -> pl.DataFrame:
    """Stratified items with a passage each, keyed like the library keys them."""
    rows = (
        item_row(
            key,
            **{
                "retrieved_context": [{"document_id": f"doc-{key}", "text": f"passage {key}", "score": 0.5}],
                "tags": ["demo"],
                "strategy": "stratified",
                **overrides,
            },
        )
        for key in keys
    )
    frame = item_frame(*rows)
    return frame.with_columns(dedup_keys(frame))


def sample(store: Store, *keys: str, run_id: str = "run-1", **kwargs: Any) -> VersionManifest | None:
    return append_version(store, NAME, items(*keys), kind="sample", run_id=run_id, **kwargs)


def ids(frame: pl.DataFrame) -> list[str]:
    return frame.get_column("item_id").to_list()


# ---- versions --------------------------------------------------------------------------------------------


def test_a_version_written_before_dedup_key_existed_reads_with_it_and_grows(store: Store) -> None:
    manifest = sample(store, "a", "b")
    assert manifest is not None
    # Rewrite version 1 as item schema 1 wrote it: no dedup_key column.
    buffer = io.BytesIO()
    read_version(store, NAME, 1).drop("dedup_key").write_parquet(buffer)
    store.write_bytes(manifest.items_key, buffer.getvalue())
    store.write_json(
        manifest_key(NAME, 1),
        manifest.to_json()
        | {"items_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(), "item_schema_version": 1},
    )

    old = read_version(store, NAME, 1)
    assert old.columns == list(STORED_SCHEMA)
    assert old.get_column("dedup_key").to_list() == items("a", "b").get_column("dedup_key").to_list()
    picked = read_version(store, NAME, 1, columns=["dedup_key", "item_id"])
    assert picked.columns == ["dedup_key", "item_id"] and picked.equals(old.select("dedup_key", "item_id"))
    assert read_version(store, NAME, 1, columns=["item_id"]).height == 2
    with pytest.raises(ConfigError, match=r"unknown column\(s\) \['minhash'\]"):
        read_version(store, NAME, 1, columns=["item_id", "minhash"])

    grown = sample(store, "c", run_id="run-2")
    assert grown is not None and grown.item_schema_version == ITEM_SCHEMA_VERSION
    assert read_version(store, NAME).select(list(ITEM_SCHEMA)).equals(items("a", "b", "c"))


def test_append_read_list_and_diff_round_trip(store: Store) -> None:
    key = make_source_key((ITEM_DAY, ITEM_DAY), SPEC)
    first = sample(
        store,
        "a",
        "b",
        spec=SPEC,
        seed=7,
        window=(ITEM_DAY, ITEM_DAY),
        counts={"redactions": {"email": 1}, "skipped": {"near_duplicate": 3}},
        source_key=key,
    )
    second = sample(store, "b", "c", run_id="run-2")
    assert first is not None and second is not None
    assert (first.version, first.parent_version, first.item_count, first.added_count) == (1, None, 2, 2)
    assert (second.version, second.parent_version, second.item_count, second.added_count) == (2, 1, 3, 1)
    assert second.already_present_count == 1

    raw = store.read_json(manifest_key(NAME, 1))
    assert raw["window_start"] == raw["window_end"] == "2026-11-01"
    assert raw["spec"] == SPEC and raw["seed"] == 7 and raw["kind"] == "sample"
    assert raw["counts"] == {"redactions": {"email": 1}, "skipped": {"near_duplicate": 3}}
    assert (
        raw["item_schema_version"] == ITEM_SCHEMA_VERSION
        and raw["source_key"] == key
        and raw["run_id"] == "run-1"
    )
    assert dt.datetime.fromisoformat(raw["created_at"]).utcoffset() == dt.timedelta(0)

    latest = read_version(store, NAME)
    assert ids(latest) == ["itm_a", "itm_b", "itm_c"]
    assert latest.get_column("added_in_version").to_list() == [1, 1, 2]
    assert latest.select(list(ITEM_SCHEMA)).equals(items("a", "b", "c"))
    assert ids(read_version(store, NAME, 1)) == ["itm_a", "itm_b"]
    assert read_manifest(store, NAME) == second
    assert [m.version for m in list_versions(store, NAME)] == [1, 2]
    assert list_datasets(store) == [NAME] and latest_version(store, NAME) == 2

    forward, backward = diff_versions(store, NAME, 1, 2), diff_versions(store, NAME, 2, 1)
    assert forward.counts == {"added": 1, "removed": 0, "changed": 0} and ids(forward.added) == ["itm_c"]
    assert backward.counts == {"added": 0, "removed": 1, "changed": 0} and ids(backward.removed) == ["itm_c"]

    found = find_version(store, NAME, source_key=key)
    assert found is not None and found.version == 1
    assert find_version(store, NAME, source_key="window=2026-11-02..2026-11-02;spec=x") is None


def test_replacing_items_keeps_order_and_marks_what_changed(store: Store) -> None:
    sample(store, "a", "b", "c")
    reviewed = read_version(store, NAME).filter(pl.col("item_id") == "itm_b")
    reviewed = reviewed.with_columns(expected_output=pl.lit("B"), expected_source=pl.lit("reviewed"))
    manifest = append_version(store, NAME, empty_items(), kind="review", run_id="r", replaced=reviewed)
    assert manifest is not None and (manifest.added_count, manifest.replaced_count) == (0, 1)
    latest = read_version(store, NAME)
    assert ids(latest) == ["itm_a", "itm_b", "itm_c"]
    assert latest.get_column("expected_output").to_list() == [None, "B", None]
    assert latest.get_column("updated_in_version").to_list() == [None, 2, None]
    changed = diff_versions(store, NAME, 1, 2).changed
    assert changed.select(
        "item_id", "expected_output_a", "expected_output_b", "expected_source_b"
    ).rows() == [("itm_b", None, "B", "reviewed")]


def test_replacing_an_item_the_dataset_lacks_is_refused(store: Store) -> None:
    sample(store, "a")
    with pytest.raises(DataContractError, match=r"not in the latest version, e.g. \['itm_zz'\]"):
        append_version(store, NAME, empty_items(), kind="review", run_id="r", replaced=items("zz"))


def test_an_empty_night_creates_no_version(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tracewatch.datasets.append")
    assert append_version(store, NAME, empty_items(), kind="sample", run_id="r") is None
    assert "no new items" in caplog.text and "no version created" in caplog.text
    assert latest_version(store, NAME) is None and store.list_objects("warehouse/datasets") == []
    sample(store, "a")
    assert sample(store, "a", run_id="rerun") is None
    assert complete_versions(store, NAME) == [1]


def test_a_schema_error_names_the_columns_and_writes_nothing(store: Store) -> None:
    with pytest.raises(DataContractError, match=r"missing column\(s\) \['content_hash'\]"):
        append_version(store, NAME, items("a").drop("content_hash"), kind="sample", run_id="r")
    assert store.list_objects("warehouse/datasets") == []


def test_bad_name_kind_and_counts_are_config_errors(store: Store) -> None:
    with pytest.raises(ConfigError, match="dataset name 'QA Golden' is refused"):
        append_version(store, "QA Golden", items("a"), kind="sample", run_id="r")
    with pytest.raises(
        ConfigError, match=r"kind 'nightly' is not one of \['sample', 'seed', 'review', 'synthetic'\]"
    ):
        append_version(store, NAME, items("a"), kind="nightly", run_id="r")
    with pytest.raises(ConfigError, match="manifest count 'skipped'"):
        append_version(store, NAME, items("a"), kind="sample", run_id="r", counts={"skipped": "3"})


def test_a_version_is_never_overwritten_by_a_stale_writer(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sample(store, "a")
    with monkeypatch.context() as patch:
        patch.setattr(append, "latest_version", lambda *_: None)  # it looked before version 1 existed
        with pytest.raises(VersionExistsError, match="version 1 already exists; versions are immutable"):
            sample(store, "x", run_id="stale")
    assert ids(read_version(store, NAME, 1)) == ["itm_a"]
    assert read_manifest(store, NAME, 1).run_id == "run-1"


def test_a_writer_that_loses_the_race_fails_and_the_damage_is_detected(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that bypasses the dataset's lease (an older tracewatch) may overwrite the winner's items: the
    loser fails and readers refuse the damaged version instead of returning the wrong items."""
    monkeypatch.setattr(append, "held", lambda *_, **__: contextlib.nullcontext())
    real_write = store.write_bytes
    raced: list[str] = []

    def racing_write(key: str, data: bytes) -> None:
        if key == items_key(NAME, 1) and not raced:
            raced.append(key)
            sample(store, "winner", run_id="winner")  # completes version 1 while we write ours
        real_write(key, data)

    monkeypatch.setattr(store, "write_bytes", racing_write)
    with pytest.raises(VersionExistsError, match="completed by another writer"):
        sample(store, "loser", run_id="loser")
    assert read_manifest(store, NAME, 1).run_id == "winner"
    with pytest.raises(DataContractError, match="does not match the sha256 in its manifest"):
        read_version(store, NAME, 1)


def test_two_writers_of_one_dataset_at_once_write_consecutive_versions(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nightly run and a build-dataset run appending at the same moment: the dataset's lease makes them take
    turns, so they write versions 1 and 2 (never both 1), each complete and readable."""
    started = threading.Barrier(2)
    real_latest = append.latest_version

    def latest_after_both_started(*args: Any) -> int | None:
        with contextlib.suppress(threading.BrokenBarrierError):
            started.wait(timeout=5)  # the first writer looks only once the second is running too
        return real_latest(*args)

    monkeypatch.setattr(append, "latest_version", latest_after_both_started)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda key: sample(store, key, run_id=f"run-{key}"), ["a", "b"]))
    assert sorted(m.version for m in done if m is not None) == [1, 2]
    assert complete_versions(store, NAME) == [1, 2]
    assert sorted(ids(read_version(store, NAME, 2))) == ["itm_a", "itm_b"]
    assert len(ids(read_version(store, NAME, 1))) == 1


def test_a_rerun_of_the_same_source_key_is_refused(store: Store) -> None:
    key = make_source_key((ITEM_DAY, ITEM_DAY), SPEC)
    sample(store, "a", source_key=key)
    with pytest.raises(VersionExistsError, match=r"already has version 1 for source key .* \(run run-1\)"):
        sample(store, "b", run_id="rerun", source_key=key)
    assert complete_versions(store, NAME) == [1]


def test_an_interrupted_version_is_ignored_and_then_replaced(store: Store) -> None:
    sample(store, "a")
    store.write_bytes(items_key(NAME, 2), b"half-written")
    assert latest_version(store, NAME) == 1 and complete_versions(store, NAME) == [1]
    manifest = sample(store, "b", run_id="next")
    assert manifest is not None and manifest.version == 2
    assert ids(read_version(store, NAME, 2)) == ["itm_a", "itm_b"]


def test_a_missing_version_names_the_versions_present(store: Store) -> None:
    sample(store, "a")
    with pytest.raises(ConfigError, match=r"^dataset 'qa-golden' has no version 5 in .*; its versions: 1$"):
        read_version(store, NAME, 5)
    with pytest.raises(
        ConfigError, match=r"^there is no dataset 'other' in .*; the datasets there: qa-golden$"
    ):
        read_version(store, "other")


def test_an_unknown_dataset_on_an_empty_store_says_there_is_none_and_how_to_make_one(store: Store) -> None:
    with pytest.raises(ConfigError, match=r"the datasets there: none yet \(the nightly flow samples"):
        read_version(store, "qa-golden")


# ---- seeding ---------------------------------------------------------------------------------------------

SEED_ROWS: list[dict[str, Any]] = [
    {"input": "What is the capital of France?", "expected": "Paris", "tags": "geo", "difficulty": "easy"},
    {"input": "Summarise the attached report.", "expected": None, "tags": None, "difficulty": "hard"},
    {"input": None, "expected": "an answer without a question", "tags": None, "difficulty": None},
    {"input": "what is the capital of  FRANCE?", "expected": "Paris", "tags": None, "difficulty": None},
]
"""Two good rows, one without input, one repeating the first row's input."""


def write_seed_file(path: Path, fmt: str) -> Path:
    frame = pl.DataFrame(SEED_ROWS, schema=dict.fromkeys(SEED_ROWS[0], pl.String))
    if fmt == "csv":
        frame.write_csv(path)
        with path.open("a") as fh:
            fh.write("too,many,cells,in,this,row\n")
    elif fmt == "jsonl":
        frame.write_ndjson(path)
        with path.open("a") as fh:
            fh.write("{not json\n")
    else:
        frame.write_parquet(path)
    return path


@pytest.mark.parametrize(
    ("fmt", "unreadable"), [("csv", {"extra_fields": 1}), ("jsonl", {"invalid_json": 1}), ("parquet", {})]
)
def test_seed_from_each_format_counts_bad_rows(
    store: Store, tmp_path: Path, fmt: str, unreadable: dict[str, int]
) -> None:
    path = write_seed_file(tmp_path / f"golden.{fmt}", fmt)
    outcome = seed_dataset(store, NAME, path, run_id="seed-1")
    rejected = {"duplicate_input": 1, "missing_input": 1, **unreadable}
    assert outcome.report.rejected_counts == rejected
    assert outcome.manifest is not None and outcome.manifest.kind == "seed"
    assert outcome.manifest.counts == {"rows_read": 4 + len(unreadable), "rejected": rejected}
    assert outcome.manifest.spec["format"] == fmt and outcome.manifest.spec["sha256"] == outcome.report.sha256
    seeded = read_version(store, NAME)
    assert seeded.get_column("input_text").to_list() == [
        "What is the capital of France?",
        SEED_ROWS[1]["input"],
    ]
    assert seeded.get_column("expected_source").to_list() == ["curated", None]
    assert [json.loads(m) for m in seeded.get_column("metadata")] == [
        {"difficulty": "easy"},
        {"difficulty": "hard"},
    ]


def test_seed_from_a_store_key_and_reseeding_adds_nothing(store: Store, tmp_path: Path) -> None:
    key = "seeds/golden.parquet"
    store.write_bytes(key, write_seed_file(tmp_path / "golden.parquet", "parquet").read_bytes())
    first = seed_dataset(store, NAME, key, run_id="seed-1", from_store=True)
    assert first.manifest is not None and first.manifest.item_count == 2
    assert first.report.source == store.uri(key)
    again = seed_dataset(store, NAME, key, run_id="seed-2", from_store=True)
    assert again.manifest is None and again.report.items.height == 2
    assert complete_versions(store, NAME) == [1]


def test_seeding_a_file_of_unknown_format_names_the_allowed_ones(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "golden.json"
    path.write_text("[]")
    with pytest.raises(ConfigError, match=r"allowed formats: \['csv', 'jsonl', 'parquet'\]"):
        seed_dataset(store, NAME, path, run_id="seed-1")


# ---- review round trip -----------------------------------------------------------------------------------


def test_review_export_edit_import_round_trip(store: Store, tmp_path: Path) -> None:
    base = pl.concat(
        [
            items("a", "d"),
            items("b", expected_output="silver answer", expected_source="silver"),
            items("c", expected_output="Paris", expected_source="curated"),
        ]
    )
    append_version(store, NAME, base, kind="sample", run_id="run-1")

    export = export_for_review(store, NAME)
    assert (export.version, export.item_count) == (1, 2)
    from_parquet = store.read_parquet(export.parquet_key)
    from_csv = pl.read_csv(io.BytesIO(store.read_bytes(export.csv_key)), infer_schema=False)
    assert ids(from_parquet) == ids(from_csv) == ["itm_a", "itm_d"]
    assert from_csv.row(0, named=True)["context"] == "[doc-a] passage a"
    assert export_for_review(store, NAME, include_silver=True).item_count == 3

    # A reviewer answers one item in a spreadsheet, leaves one blank and adds a row for an unknown item.
    edited = from_csv.with_columns(
        pl.when(pl.col("item_id") == "itm_a").then(pl.lit("Answer A")).otherwise(pl.lit("")).alias(ANSWER),
        pl.lit("ann").alias(REVIEWER),
    )
    edited = pl.concat([edited, edited.head(1).with_columns(item_id=pl.lit("itm_unknown"))])
    buffer = io.BytesIO()
    edited.write_csv(buffer)
    store.write_bytes("review-inbox/reviewed.csv", buffer.getvalue())

    imported = import_reviews(store, NAME, "review-inbox/reviewed.csv", run_id="review-1", from_store=True)
    assert imported.applied == 1 and imported.rows_read == 3
    assert imported.skipped_counts == {"blank_answer": 1, "unknown_item_id": 1}
    manifest = imported.manifest
    assert manifest is not None and (manifest.version, manifest.kind, manifest.replaced_count) == (
        2,
        "review",
        1,
    )
    assert manifest.counts == {
        "rows_read": 3,
        "skipped": {"blank_answer": 1, "unknown_item_id": 1},
        "reviewers": {"ann": 1},
    }
    reviewed = read_version(store, NAME).filter(pl.col("item_id") == "itm_a").row(0, named=True)
    assert (reviewed["expected_output"], reviewed["expected_source"]) == ("Answer A", "reviewed")
    assert json.loads(reviewed["metadata"]) == {"reviewed_by": "ann"}
    assert ids(diff_versions(store, NAME, 1, 2).changed) == ["itm_a"]

    again = import_reviews(store, NAME, "review-inbox/reviewed.csv", run_id="review-2", from_store=True)
    assert again.manifest is None and again.skipped_counts["unchanged"] == 1
    assert latest_version(store, NAME) == 2

    # The second round goes through Parquet on a local disk: only itm_d still needs an answer.
    second = export_for_review(store, NAME)
    assert (second.version, second.item_count) == (2, 1)
    sheet = store.read_parquet(second.parquet_key).with_columns(pl.lit("Answer D").alias(ANSWER))
    sheet.write_parquet(tmp_path / "reviewed.parquet")
    final = import_reviews(store, NAME, tmp_path / "reviewed.parquet", run_id="review-3")
    assert final.manifest is not None and final.manifest.version == 3 and final.skipped == ()
    assert read_version(store, NAME).get_column("expected_source").to_list() == [
        "reviewed",
        "reviewed",
        "silver",
        "curated",
    ]


def test_a_review_import_with_nothing_to_apply_creates_no_version(store: Store, tmp_path: Path) -> None:
    sample(store, "a", "b")
    sheet = store.read_parquet(export_for_review(store, NAME).parquet_key)
    sheet.write_csv(tmp_path / "untouched.csv")
    outcome = import_reviews(store, NAME, tmp_path / "untouched.csv", run_id="review-1")
    assert outcome.manifest is None and outcome.applied == 0
    assert outcome.skipped_counts == {"blank_answer": 2}
    assert complete_versions(store, NAME) == [1]


def test_an_old_review_file_cannot_undo_a_newer_review(store: Store, tmp_path: Path) -> None:
    sample(store, "a")
    sheet = store.read_parquet(export_for_review(store, NAME).parquet_key)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    sheet.with_columns(pl.lit("old answer").alias(ANSWER)).write_csv(first)
    sheet.with_columns(pl.lit("new answer").alias(ANSWER)).write_csv(second)
    import_reviews(store, NAME, first, run_id="review-1")
    import_reviews(store, NAME, second, run_id="review-2")
    with pytest.raises(VersionExistsError, match="already has version 2 for source key 'review:"):
        import_reviews(store, NAME, first, run_id="review-3")
    assert read_version(store, NAME).get_column("expected_output").to_list() == ["new answer"]

"""Dataset versions, seed mapping and review matching as pure logic: no store involved.

The store round trips (both file:// and S3) are in tests/integration/test_dataset_versions.py.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.dataset_items import ITEM_DAY, item_frame, item_row
from tracewatch.datasets.append import check_items
from tracewatch.datasets.items import content_hash, dedup_key, dedup_keys, item_id
from tracewatch.datasets.review import ANSWER, REVIEWER, review_changes, review_sheet
from tracewatch.datasets.schema import ITEM_SCHEMA, STORED_SCHEMA
from tracewatch.datasets.seed import LoadedFile, RejectedRow, load_file, seed_items
from tracewatch.datasets.versions import (
    VersionManifest,
    check_dataset_name,
    make_source_key,
    spec_fingerprint,
)
from tracewatch.errors import ConfigError, DataContractError


def stored(*rows: dict[str, Any]) -> pl.DataFrame:
    """Items as read from a version (with the bookkeeping columns)."""
    return item_frame(*rows).with_columns(
        pl.lit(1, dtype=pl.Int64).alias("added_in_version"),
        pl.lit(None, dtype=pl.Int64).alias("updated_in_version"),
    )


def loaded(
    *records: dict[str, Any], columns: tuple[str, ...] = (), unreadable: tuple[RejectedRow, ...] = ()
) -> LoadedFile:
    """A file as `load_file` returns it; `columns` adds header columns that no record uses."""
    return LoadedFile(
        source="memory.csv",
        fmt="csv",
        sha256="0" * 64,
        columns=tuple(dict.fromkeys([*columns, *(k for r in records for k in r)])),
        records=tuple(enumerate(records, start=1)),
        unreadable=unreadable,
    )


# ---- names, items, manifests -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["qa-golden", "nightly_sample", "v2", "0"])
def test_allowed_dataset_names(name: str) -> None:
    assert check_dataset_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "QA", "qa golden", "a/b", "-lead", "_lead", "a.b", "x" * 65, "ümlaut", "qa\n"]
)
def test_refused_dataset_names_state_the_rule(name: str) -> None:
    with pytest.raises(ConfigError, match=r"lowercase letters, digits, '-' and '_'"):
        check_dataset_name(name)


def test_schema_errors_name_every_missing_extra_and_mistyped_column() -> None:
    frame = (
        item_frame(item_row("a"))
        .drop("content_hash", "tags")
        .with_columns(pl.col("redactions").cast(pl.Float64), pl.lit("x").alias("score"))
    )
    with pytest.raises(DataContractError) as error:
        check_items(frame, what="added items")
    message = str(error.value)
    assert "added items break the dataset item schema" in message
    assert "missing column(s) ['content_hash', 'tags']" in message
    assert "unexpected column(s) ['score']" in message
    assert "redactions is Float64 (expected Int64)" in message


def test_all_null_columns_and_narrow_integers_are_cast_losslessly() -> None:
    frame = pl.DataFrame([item_row("a")]).with_columns(pl.col("redactions").cast(pl.Int32))
    assert frame.schema["expected_output"] == pl.Null and frame.schema["tags"] == pl.List(pl.Null)
    conformed = check_items(frame)
    assert conformed.schema == pl.Schema(ITEM_SCHEMA)
    assert conformed.row(0, named=True)["redactions"] == 0


def test_dedup_key_is_computed_where_it_is_absent_or_null_and_kept_where_given() -> None:
    frame = item_frame(item_row("a"), item_row("b"))
    expected = dedup_keys(frame).to_list()
    assert expected == [dedup_key("question a?", ["question a?"]), dedup_key("question b?", ["question b?"])]
    assert check_items(frame.drop("dedup_key"))["dedup_key"].to_list() == expected
    assert check_items(frame)["dedup_key"].to_list() == expected  # `item_frame` leaves the column null
    given = frame.with_columns(dedup_key=pl.Series([7, None], dtype=pl.UInt64))
    assert check_items(given)["dedup_key"].to_list() == [7, expected[1]]


def test_a_nested_type_mismatch_is_refused() -> None:
    frame = item_frame(item_row("a")).with_columns(pl.col("tags").cast(pl.List(pl.Categorical)))
    with pytest.raises(DataContractError, match=r"tags is List\(Categorical"):
        check_items(frame)


def test_bookkeeping_columns_are_accepted_and_dropped() -> None:
    assert check_items(stored(item_row("a"))).columns == list(ITEM_SCHEMA)


def test_items_need_unique_non_null_ids() -> None:
    with pytest.raises(DataContractError, match=r"item_id is not unique \(1 repeated, e.g. \['itm_a'\]\)"):
        check_items(item_frame(item_row("a"), item_row("a", content_hash="other")))
    with pytest.raises(DataContractError, match=r"1 row.* null content_hash"):
        check_items(item_frame(item_row("a", content_hash=None)))


def test_spec_fingerprint_ignores_key_order_and_tells_specs_apart() -> None:
    spec = {"strategy": "stratified", "n": 50, "strata": ["route"]}
    assert spec_fingerprint(spec) == spec_fingerprint(dict(reversed(spec.items())))
    assert spec_fingerprint(spec) != spec_fingerprint({**spec, "n": 51})
    assert len(spec_fingerprint(spec)) == 16


def test_a_spec_that_is_not_json_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="must be JSON-serialisable"):
        spec_fingerprint({"strata": {"route"}})


def test_source_key_combines_window_and_spec() -> None:
    spec = {"n": 10}
    key = make_source_key((ITEM_DAY, ITEM_DAY + dt.timedelta(days=1)), spec)
    assert key == f"window=2026-11-01..2026-11-02;spec={spec_fingerprint(spec)}"
    with pytest.raises(ConfigError, match="start 2026-11-02 is after its end 2026-11-01"):
        make_source_key((ITEM_DAY + dt.timedelta(days=1), ITEM_DAY), spec)


def test_manifest_survives_a_json_round_trip() -> None:
    manifest = VersionManifest(
        dataset="qa",
        version=3,
        parent_version=2,
        kind="sample",
        item_count=10,
        added_count=4,
        replaced_count=0,
        already_present_count=1,
        created_at=dt.datetime(2026, 11, 2, 1, 2, 3, tzinfo=dt.UTC),
        run_id="run-1",
        source_key="window=2026-11-01..2026-11-01;spec=abc",
        spec={"n": 4},
        spec_fingerprint="abc",
        seed=7,
        window_start=ITEM_DAY,
        window_end=ITEM_DAY,
        item_schema_version=1,
        counts={"redactions": {"email": 2}},
        items_key="warehouse/datasets/qa/version=3/items.parquet",
        items_sha256="f" * 64,
        write_id="w",
    )
    text = json.dumps(manifest.to_json())
    assert json.loads(text)["window_start"] == "2026-11-01"
    assert VersionManifest.from_json(json.loads(text)) == manifest


def test_stored_schema_is_the_item_schema_plus_bookkeeping() -> None:
    assert list(STORED_SCHEMA) == [*ITEM_SCHEMA, "added_in_version", "updated_in_version"]


# ---- seed mapping ----------------------------------------------------------------------------------------


def test_seed_columns_map_to_item_fields_and_the_rest_to_metadata() -> None:
    report = seed_items(
        loaded(
            {
                "input": "What is the capital of France?",
                "expected": "Paris",
                "context": '[{"document_id": "d1", "text": "Paris is the capital.", "score": 0.9}]',
                "tags": "geo, capitals",
                "metadata": '{"owner": "ann", "difficulty": "set-by-metadata"}',
                "difficulty": "easy",
                "route": "qa/single-fact",
            }
        )
    )
    row = report.items.row(0, named=True)
    assert report.rejected == ()
    assert row["input_text"] == "What is the capital of France?"
    assert row["input_messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert (row["expected_output"], row["expected_source"]) == ("Paris", "curated")
    assert row["retrieved_context"] == [{"document_id": "d1", "text": "Paris is the capital.", "score": 0.9}]
    assert row["tags"] == ["geo", "capitals"]
    assert json.loads(row["metadata"]) == {"owner": "ann", "difficulty": "set-by-metadata"}
    assert row["route"] == "qa/single-fact" and row["strategy"] == "seed"
    assert row["source_trace_id"] is None and row["item_id"].startswith("itm_") and len(row["item_id"]) == 20


def test_seeded_items_are_keyed_like_sampled_ones() -> None:
    text = "  What is the CAPITAL of France? "
    row = seed_items(loaded({"input": text})).items.row(0, named=True)
    digest = content_hash(text, [text])  # the text, and the one user message that asks it
    assert row["content_hash"] == digest
    assert row["item_id"] == item_id(None, digest)
    assert row["dedup_key"] == dedup_key(text, [text])
    assert dedup_keys(check_items(seed_items(loaded({"input": text})).items)).to_list() == [row["dedup_key"]]


def test_seeded_items_are_redacted_and_keyed_on_the_redacted_input() -> None:
    report = seed_items(
        loaded(
            {"input": "Mail ann@example.com about the refund", "expected_output": "Call +1 415 555 0101"},
            {"input": "Mail bob@example.org about the refund"},
        )
    )
    row = report.items.row(0, named=True)
    assert row["input_text"] == "Mail <EMAIL> about the refund"
    assert row["expected_output"] == "Call <PHONE>"
    assert row["redactions"] == 3  # the address in the text and in its user message, and the phone number
    assert row["content_hash"] == content_hash(row["input_text"], [row["input_text"]])
    # the second row is the same question once the address is gone: a duplicate, with its reason
    assert report.items.height == 1
    assert [(r.row, r.reason) for r in report.rejected] == [(2, "duplicate_input")]


def test_seed_values_from_jsonl_or_parquet_may_be_native_lists_and_objects() -> None:
    report = seed_items(
        loaded(
            {
                "input_text": "q",
                "expected_output": 4,
                "tags": ["a", "b"],
                "context": ["first passage", {"text": "second"}],
                "metadata": {"k": 1},
            }
        )
    )
    row = report.items.row(0, named=True)
    assert row["expected_output"] == "4" and row["tags"] == ["a", "b"]
    assert [p["text"] for p in row["retrieved_context"]] == ["first passage", "second"]
    assert json.loads(row["metadata"]) == {"k": 1}


def test_a_row_without_expected_output_has_no_expected_source() -> None:
    row = seed_items(loaded({"input": "q", "expected": "  "})).items.row(0, named=True)
    assert row["expected_output"] is None and row["expected_source"] is None


def test_bad_seed_rows_are_rejected_with_row_numbers_and_reasons() -> None:
    report = seed_items(
        loaded(
            {"input": "Fine question"},
            {"input": "   "},
            {"input": "fine   QUESTION"},
            {"input": "q2", "tags": {"not": "a list"}},
            {"input": "q3", "metadata": "[1, 2]"},
            {"input": "q4", "context": [{"score": 1.0}]},
            {"input": ["not", "text"]},
            unreadable=(RejectedRow(8, "extra_fields", "1 cell(s) beyond the header"),),
        )
    )
    assert report.items.height == 1
    assert [(r.row, r.reason) for r in report.rejected] == [
        (2, "missing_input"),
        (3, "duplicate_input"),
        (4, "bad_tags"),
        (5, "bad_metadata"),
        (6, "bad_context"),
        (7, "bad_input"),
        (8, "extra_fields"),
    ]
    assert report.rejected[1].detail == "same input as row 1"
    assert report.rejected_counts["missing_input"] == 1 and report.rows_read == 8


def test_a_seed_file_without_an_input_column_is_refused_naming_its_columns() -> None:
    with pytest.raises(
        DataContractError, match=r"no input column.*\['input', 'input_text'\].*\['question'\]"
    ):
        seed_items(loaded({"question": "q"}))


def test_a_seed_file_with_two_input_columns_is_ambiguous() -> None:
    with pytest.raises(DataContractError, match=r"columns \['input', 'input_text'\] for input_text"):
        seed_items(loaded({"input": "q", "input_text": "q"}))


@pytest.mark.parametrize(("name", "fmt"), [("golden.json", None), ("golden", None), ("golden.csv", "xlsx")])
def test_an_unknown_file_format_names_the_allowed_ones(name: str, fmt: str | None) -> None:
    with pytest.raises(ConfigError, match=r"allowed formats: \['csv', 'jsonl', 'parquet'\]"):
        load_file(name, fmt=fmt)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["q1", "Q1 ", "q2", "", " ", None, "q3"]), max_size=12))
def test_every_seed_row_becomes_an_item_or_a_rejection(inputs: list[str | None]) -> None:
    report = seed_items(loaded(*({"input": i} for i in inputs), columns=("input",)))
    assert report.items.height + len(report.rejected) == len(inputs)
    assert report.items.get_column("item_id").is_unique().all()


# ---- review sheet and answers ----------------------------------------------------------------------------


def review_items() -> pl.DataFrame:
    return stored(
        item_row(
            "a",
            retrieved_context=[
                {"document_id": "d1", "text": "first", "score": None},
                {"document_id": None, "text": "second", "score": None},
            ],
        ),
        item_row("b", expected_output="silver answer", expected_source="silver"),
        item_row("c", expected_output="curated answer", expected_source="curated"),
        item_row("d", expected_output="reviewed answer", expected_source="reviewed"),
    )


def test_review_sheet_lists_items_without_an_answer_and_optionally_silver_ones() -> None:
    sheet = review_sheet(review_items())
    assert sheet.columns == [
        "item_id",
        "input_text",
        "context",
        "current_expected_output",
        "current_expected_source",
        ANSWER,
        REVIEWER,
    ]
    assert sheet.rows() == [("itm_a", "question a?", "[d1] first\n\nsecond", None, None, None, None)]
    with_silver = review_sheet(review_items(), include_silver=True)
    assert with_silver.get_column("item_id").to_list() == ["itm_a", "itm_b"]
    assert with_silver.row(1, named=True)["current_expected_source"] == "silver"


def test_review_answers_are_applied_and_every_other_row_is_reported() -> None:
    changes = review_changes(
        review_items(),
        loaded(
            {"item_id": "itm_a", ANSWER: "  answer a  ", REVIEWER: "ann"},
            {"item_id": "itm_b", ANSWER: ""},
            {"item_id": "itm_nope", ANSWER: "x"},
            {"item_id": None, ANSWER: "x"},
            {"item_id": "itm_c", ANSWER: "one"},
            {"item_id": "itm_c", ANSWER: "two"},
            {"item_id": "itm_d", ANSWER: "reviewed answer"},
            {"item_id": "itm_a", ANSWER: "answer a"},
        ),
    )
    assert [(r.row, r.reason) for r in changes.skipped] == [
        (2, "blank_answer"),
        (3, "unknown_item_id"),
        (4, "missing_item_id"),
        (5, "conflicting_answers"),
        (6, "conflicting_answers"),
        (7, "unchanged"),
        (8, "duplicate_row"),
    ]
    replaced = changes.replaced.row(0, named=True)
    assert changes.replaced.height == 1 and replaced["item_id"] == "itm_a"
    assert (replaced["expected_output"], replaced["expected_source"]) == ("answer a", "reviewed")
    assert json.loads(replaced["metadata"]) == {"reviewed_by": "ann"}
    assert changes.reviewers == {"ann": 1}


def test_confirming_a_silver_answer_makes_it_reviewed() -> None:
    changes = review_changes(review_items(), loaded({"item_id": "itm_b", ANSWER: "silver answer"}))
    assert changes.skipped == ()
    assert changes.replaced.row(0, named=True)["expected_source"] == "reviewed"


def test_a_review_file_without_the_answer_column_is_refused() -> None:
    with pytest.raises(DataContractError, match=r"lacks column\(s\) \['reviewed_expected_output'\]"):
        review_changes(review_items(), loaded({"item_id": "itm_a", "answer": "x"}))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["itm_a", "itm_b", "itm_d", "itm_zz", None]),
            st.sampled_from(["x", "y", "", None]),
        ),
        max_size=10,
    )
)
def test_every_review_row_is_applied_or_reported(rows: list[tuple[str | None, str | None]]) -> None:
    records = ({"item_id": i, ANSWER: a} for i, a in rows)
    changes = review_changes(review_items(), loaded(*records, columns=("item_id", ANSWER)))
    assert changes.replaced.height + len(changes.skipped) == len(rows)
    assert set(changes.replaced.get_column("expected_source")) <= {"reviewed"}

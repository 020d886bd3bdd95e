"""Metric behaviour: missing fields, nulls, per-row errors, the row and frame paths agreeing, and each metric's rule."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.errors import ConfigError
from tracewatch.scoring import SCORE_SCHEMA, Score
from tracewatch.scoring.metrics import (
    METRICS,
    Contains,
    CostThreshold,
    ExactMatch,
    IsJson,
    JsonSchemaMatch,
    LatencyThreshold,
    LengthBounds,
    Refusal,
    Regex,
    RowMetric,
    TokenF1,
    build_scorer,
)
from tracewatch.scoring.metrics._base import TEXT, ArrayMetric
from tracewatch.scoring.metrics.structure import _reject_constant, parse_json

ITEMS = pl.DataFrame(
    {
        "input": ["q1", "q2", "q3", "q4", "q5"],
        "output": ['{"answer": 42}', "I'm sorry, but I can't do that.", None, "The answer is Paris.", ""],
        "expected": ['{"answer": 42}', "No.", "x", "paris", None],
        "latency_ms": [120.0, 2500.0, None, 999.5, 1000.0],
        "cost_usd": [0.001, None, 0.0, 0.02, 0.01],
    }
)

CONFIGS: list[dict[str, Any]] = [
    {"metric": "exact_match"},
    {"metric": "contains"},
    {"metric": "contains", "text": "PARIS", "case_sensitive": True},
    {"metric": "regex", "pattern": r"\d+"},
    {"metric": "regex", "pattern": r"\{.*\}", "fullmatch": True},
    {"metric": "is_json"},
    {"metric": "json_schema", "schema": {"type": "object", "required": ["answer"]}},
    {"metric": "levenshtein_ratio"},
    {"metric": "token_f1"},
    {"metric": "bleu"},
    {"metric": "rouge_l"},
    {"metric": "length", "min": 1, "max": 20},
    {"metric": "length", "max": 3, "unit": "words"},
    {"metric": "refusal"},
    {"metric": "latency", "max_ms": 1000},
    {"metric": "cost", "max_usd": 0.01},
]


def test_the_configs_cover_every_metric() -> None:
    assert {c["metric"] for c in CONFIGS} == set(METRICS)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c["metric"]))
def test_frame_and_row_paths_agree_and_keep_the_score_rules(config: dict[str, Any]) -> None:
    metric = build_scorer(config)
    frame = metric.score_frame(ITEMS)
    assert frame.schema == pl.Schema(SCORE_SCHEMA)
    assert frame.height == ITEMS.height
    rows = [metric(item) for item in ITEMS.iter_rows(named=True)]
    assert [Score(*r) for r in frame.iter_rows()] == rows
    for score in rows:
        assert (score.value is None) == (score.status != "scored")
        if score.value is not None:
            assert 0.0 <= score.value <= 1.0
        assert score.explanation


def values(config: Mapping[str, Any], frame: pl.DataFrame = ITEMS) -> list[float | None]:
    return build_scorer(config).score_frame(frame)["value"].to_list()


def test_each_rule_on_the_shared_items() -> None:
    assert values({"metric": "exact_match"}) == [1.0, 0.0, None, 0.0, None]
    assert values({"metric": "contains"}) == [1.0, 0.0, None, 1.0, None]
    assert values({"metric": "contains", "text": "PARIS", "case_sensitive": True}) == [
        0.0,
        0.0,
        None,
        0.0,
        0.0,
    ]
    assert values({"metric": "contains", "text": "PARIS"}) == [0.0, 0.0, None, 1.0, 0.0]
    assert values({"metric": "regex", "pattern": r"\d+"}) == [1.0, 0.0, None, 0.0, 0.0]
    assert values({"metric": "regex", "pattern": "answer", "fullmatch": True}) == [0.0, 0.0, None, 0.0, 0.0]
    assert values({"metric": "regex", "pattern": r"\{.*\}", "fullmatch": True}) == [1.0, 0.0, None, 0.0, 0.0]
    assert values({"metric": "is_json"}) == [1.0, 0.0, None, 0.0, 0.0]
    assert values({"metric": "length", "min": 1, "max": 20}) == [1.0, 0.0, None, 1.0, 0.0]
    assert values({"metric": "length", "max": 3, "unit": "words"}) == [1.0, 0.0, None, 0.0, 1.0]
    assert values({"metric": "refusal"}) == [0.0, 1.0, None, 0.0, 0.0]
    assert values({"metric": "latency", "max_ms": 1000}) == [1.0, 0.0, None, 1.0, 1.0]
    assert values({"metric": "cost", "max_usd": 0.01}) == [1.0, None, 1.0, 0.0, 1.0]


def test_null_fields_are_unscored_with_the_field_named() -> None:
    scores = build_scorer({"metric": "token_f1"}).score_frame(ITEMS)
    assert scores.row(2) == (None, "unscored", "output is null")
    assert scores.row(4) == (None, "unscored", "expected is null")
    assert LatencyThreshold(1000)({"latency_ms": None}) == Score.unscored("latency_ms is null")
    assert CostThreshold(1)({"cost_usd": None}) == Score.unscored("cost_usd is null")


def test_a_missing_field_is_a_config_error_naming_it_and_the_columns_present() -> None:
    frame = ITEMS.drop("expected")
    with pytest.raises(ConfigError, match=r"needs field\(s\) \['expected'\].*'cost_usd', 'input'") as raised:
        TokenF1().score_frame(frame)
    assert "missing='unscored'" in str(raised.value)
    with pytest.raises(ConfigError, match="expected"):
        ExactMatch()({"output": "x"})


def test_a_missing_field_can_be_configured_unscored() -> None:
    metric = build_scorer({"metric": "token_f1", "missing": "unscored"})
    scores = metric.score_frame(ITEMS.drop("expected"))
    assert scores["status"].unique().to_list() == ["unscored"]
    assert scores["value"].null_count() == ITEMS.height
    assert "needs field(s) ['expected']" in scores["explanation"][0]
    single = metric({"output": "x"})
    assert single.status == "unscored"
    assert "expected" in single.explanation


class Fragile(RowMetric):
    """Fails on one particular output, to show the failure stays in its row."""

    name = "fragile"
    fields: Mapping[str, pl.DataType] = {"output": TEXT}

    def score_values(self, *values: Any) -> tuple[float, str]:
        if values[0] == "boom":
            raise RuntimeError("cannot score this one")
        return (float("nan"), "bad") if values[0] == "nan" else (1.0, "fine")


def test_one_failing_row_is_an_error_score_and_the_others_are_scored() -> None:
    frame = pl.DataFrame({"output": ["ok", "boom", "nan", None, "ok"]})
    scores = Fragile().score_frame(frame)
    assert scores.rows() == [
        (1.0, "scored", "fine"),
        (None, "error", "RuntimeError: cannot score this one"),
        (None, "error", "ValueError: non-finite value nan"),
        (None, "unscored", "output is null"),
        (1.0, "scored", "fine"),
    ]
    assert Fragile()({"output": "boom"}) == Score.error("RuntimeError: cannot score this one")


class FragileColumns(ArrayMetric):
    """Scores whole batches, but a batch holding "boom" raises and "nan" scores NaN."""

    name = "fragile_columns"
    fields: Mapping[str, pl.DataType] = {"output": TEXT, "expected": TEXT}
    batch_rows = 2

    def score_columns(self, inputs: pl.DataFrame) -> tuple[np.ndarray, pl.Series]:
        outputs = inputs["output"].to_list()
        if "boom" in outputs:
            raise RuntimeError("cannot score this one")
        values = np.array([float("nan") if o == "nan" else len(o) / 10 for o in outputs])
        return values, pl.Series([f"{len(o)} chars" for o in outputs])


def test_a_failing_batch_is_retried_row_by_row_so_only_the_bad_row_is_an_error() -> None:
    frame = pl.DataFrame(
        {"output": ["ok", "boom", "nan", None, "fine", "x"], "expected": ["a", "b", "c", "d", None, "e"]}
    )
    assert FragileColumns().score_frame(frame).rows() == [
        (0.2, "scored", "2 chars"),
        (None, "error", "RuntimeError: cannot score this one"),
        (None, "error", "ValueError: non-finite value nan"),
        (None, "unscored", "output is null"),
        (None, "unscored", "expected is null"),
        (0.1, "scored", "1 chars"),
    ]
    both = FragileColumns().score_frame(
        pl.DataFrame(
            {"output": [None], "expected": [None]}, schema={"output": pl.String, "expected": pl.String}
        )
    )
    assert both.row(0) == (None, "unscored", "output is null and expected is null")
    assert FragileColumns()({"output": "boom", "expected": "x"}) == Score.error(
        "RuntimeError: cannot score this one"
    )


def test_an_item_of_the_wrong_type_is_an_error_score_but_a_wrong_column_type_is_a_config_error() -> None:
    assert IsJson()({"output": {"not": "text"}}).status == "error"
    assert LatencyThreshold(10)({"latency_ms": "fast"}).status == "error"
    with pytest.raises(ConfigError, match="latency_ms"):
        LatencyThreshold(10).score_frame(pl.DataFrame({"latency_ms": [[1.0]]}))


def test_json_schema_explains_the_violation() -> None:
    metric = JsonSchemaMatch({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})
    assert metric({"output": '{"n": 3}'}) == Score.scored(1.0, "matches the schema")
    assert metric({"output": '{"n": "3"}'}) == Score.scored(
        0.0, "schema violation at n: '3' is not of type 'integer'"
    )
    assert metric({"output": "[1]"}).value == 0.0
    assert metric({"output": "{n: 3}"}).explanation.startswith("not JSON")


def test_is_json_refuses_nan_and_trailing_text() -> None:
    assert IsJson()({"output": "NaN"}).value == 0.0
    assert IsJson()({"output": '{"a": 1} extra'}).value == 0.0
    assert IsJson()({"output": " [1, 2] "}) == Score.scored(1.0, "valid JSON (list)")


def test_refusal_is_case_insensitive_and_names_the_phrase() -> None:
    assert Refusal()({"output": "AS AN AI LANGUAGE MODEL, I cannot"}) == Score.scored(
        1.0, "refusal phrase 'as an ai language model'"
    )
    assert Refusal()({"output": "I Can\u2019t Help With taxes"}).value == 1.0
    assert Refusal(["nope"])({"output": "Nope."}).value == 1.0
    assert Refusal(["nope"])({"output": "I cannot help with that"}).value == 0.0


def test_explanations_state_the_measure_and_the_limit() -> None:
    assert LatencyThreshold(1000)({"latency_ms": 2500}) == Score.scored(0.0, "2500.0 ms > 1000.0 ms")
    assert LengthBounds(min=2)({"output": "abc"}) == Score.scored(1.0, "3 chars within [2, inf]")
    assert Contains("x")({"output": "y"}) == Score.scored(0.0, "output does not contain 'x'")
    assert Regex("^a")({"output": "abc"}) == Score.scored(1.0, "output matches '^a'")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"metric": "bluer"}, r"unknown metric 'bluer'; known metrics: \['bleu'"),
        ({}, "needs a 'metric' name"),
        ({"metric": "regex"}, r"needs argument\(s\) \['pattern'\]"),
        ({"metric": "regex", "pattern": "x", "flags": "i"}, r"no argument\(s\) \['flags'\]; it takes"),
        ({"metric": "regex", "pattern": "(unclosed"}, "not a valid"),
        ({"metric": "regex", "pattern": ""}, "non-empty string"),
        ({"metric": "json_schema", "schema": {"type": "nonsense"}}, "not a valid JSON schema"),
        ({"metric": "length"}, "give min, max or both"),
        ({"metric": "length", "min": 5, "max": 2}, "above max"),
        ({"metric": "length", "max": -1}, "non-negative integer"),
        ({"metric": "length", "max": 5, "unit": "tokens"}, "unit must be"),
        ({"metric": "latency", "max_ms": "1s"}, "max_ms must be a non-negative number"),
        ({"metric": "cost", "max_usd": True}, "max_usd must be a non-negative number"),
        ({"metric": "refusal", "phrases": "sorry"}, "non-empty list"),
        ({"metric": "refusal", "phrases": []}, "non-empty list"),
        ({"metric": "contains", "text": 3}, "text must be a string"),
        ({"metric": "token_f1", "missing": "skip"}, "missing='skip' is not allowed"),
    ],
)
def test_bad_configs_are_config_errors_that_say_what_is_wrong(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_scorer(config)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c["metric"]))
def test_an_empty_frame_gives_an_empty_score_frame(config: dict[str, Any]) -> None:
    scores = build_scorer(config).score_frame(ITEMS.clear())
    assert scores.height == 0
    assert scores.schema == pl.Schema(SCORE_SCHEMA)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        JSON_VALUES.map(json.dumps),
        JSON_VALUES.map(lambda v: f"\ufeff{json.dumps(v)}"),
        st.sampled_from(["NaN", "[1, -Infinity]", ' {"a": 1} ', '{"a": 1} extra', "", "\n\n  x", "[1,\n 2,"]),
    )
)
def test_parse_json_gives_what_json_loads_gives(text: str) -> None:
    try:
        expected: tuple[Any, str | None] = (json.loads(text, parse_constant=_reject_constant), None)
    except ValueError as exc:
        expected = (None, f"not JSON: {exc}")
    assert parse_json(text) == expected

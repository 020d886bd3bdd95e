"""tracewatch's own `tracewatch.*` attributes (feedback, tags, metadata), read from spans of every dialect.

The GenAI conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/) have no names for user
feedback, tags or free metadata; these tests pin the small vocabulary an application sets instead and that a
wrong value costs only that value, with a warning.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from tracewatch.importers import FeedbackValue, Span, read_span

TRACE = "0af7651916cd43dd8448eb211c80319c"
OPENAI_V2_CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
}
OPENINFERENCE_LLM = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini"}
SERVER_ROOT = {"http.request.method": "POST", "http.route": "qa/single-fact"}


def span(attributes: dict[str, Any], **fields: Any) -> Span:
    defaults: dict[str, Any] = {
        "trace_id": TRACE,
        "span_id": "b7ad6b7169203331",
        "parent_span_id": None,
        "name": "POST qa/single-fact",
        "start_time_unix_nano": 1_700_000_000_000_000_000,
        "end_time_unix_nano": 1_700_000_001_000_000_000,
        "kind": 2,
    }
    return Span(**{**defaults, **fields}, attributes=attributes)


@pytest.mark.parametrize("dialect_attributes", [SERVER_ROOT, OPENAI_V2_CHAT, OPENINFERENCE_LLM])
def test_feedback_tags_and_metadata_are_read_on_spans_of_every_dialect(
    dialect_attributes: dict[str, Any],
) -> None:
    facts = read_span(
        span(
            {
                **dialect_attributes,
                "tracewatch.feedback.thumbs": 1,
                "tracewatch.feedback.rating": 4.0,
                "tracewatch.tags": ["single-fact", "science"],
                "tracewatch.metadata": '{"app_version": "1.4.2", "hops": 2}',
            }
        )
    )
    assert facts.feedback == [FeedbackValue("thumbs", 1.0, "user"), FeedbackValue("rating", 4.0, "user")]
    assert facts.tags == ["single-fact", "science"]
    assert facts.metadata["app_version"] == "1.4.2" and facts.metadata["hops"] == 2
    assert {"tracewatch.feedback.thumbs", "tracewatch.tags", "tracewatch.metadata"} <= facts.attributes_used
    assert "import_warnings" not in facts.metadata


def test_a_span_without_tracewatch_names_states_no_feedback_tags_or_metadata() -> None:
    facts = read_span(span(OPENAI_V2_CHAT))
    assert facts.feedback is None and facts.tags is None and facts.metadata == {}


def test_booleans_count_as_0_or_1_and_the_source_can_be_named() -> None:
    facts = read_span(
        span(
            {
                "tracewatch.feedback.helpful": False,
                "tracewatch.feedback.score": "0.75",
                "tracewatch.feedback_source": "evaluator",
            }
        )
    )
    assert facts.feedback == [
        FeedbackValue("helpful", 0.0, "evaluator"),
        FeedbackValue("score", 0.75, "evaluator"),
    ]


def test_a_non_numeric_feedback_value_is_a_warning_and_the_others_are_kept() -> None:
    facts = read_span(span({"tracewatch.feedback.thumbs": "up", "tracewatch.feedback.rating": 5}))
    assert facts.feedback == [FeedbackValue("rating", 5.0, "user")]
    assert any(
        "tracewatch.feedback.thumbs" in w and "expected a number" in w
        for w in facts.metadata["import_warnings"]
    )


def test_a_non_finite_feedback_value_is_kept_for_validation_to_reject() -> None:
    facts = read_span(span({"tracewatch.feedback.thumbs": math.nan}))
    assert facts.feedback is not None and math.isnan(facts.feedback[0].value)
    assert any("not a finite number" in w for w in facts.metadata["import_warnings"])


def test_a_feedback_attribute_without_a_name_is_a_warning() -> None:
    facts = read_span(span({"tracewatch.feedback.": 1}))
    assert facts.feedback is None
    assert any("needs a name" in w for w in facts.metadata["import_warnings"])


@pytest.mark.parametrize(
    ("value", "tags"),
    [('["a", "b"]', ["a", "b"]), ("solo", ["solo"]), (["x", 3], ["x", "3"])],
)
def test_tags_may_be_an_array_a_json_array_or_one_string(value: Any, tags: list[str]) -> None:
    assert read_span(span({"tracewatch.tags": value})).tags == tags


def test_tags_add_to_the_tags_the_dialect_found() -> None:
    facts = read_span(span({**OPENINFERENCE_LLM, "tag.tags": '["vendor"]', "tracewatch.tags": ["app"]}))
    assert facts.tags == ["vendor", "app"]


def test_metadata_that_is_not_an_object_is_kept_whole_with_a_warning() -> None:
    facts = read_span(span({"tracewatch.metadata": "[1, 2]"}))
    assert facts.metadata["tracewatch.metadata"] == [1, 2]
    assert any("expected a JSON object" in w for w in facts.metadata["import_warnings"])


def test_the_dialects_metadata_wins_a_clash_and_the_importers_own_keys_are_refused() -> None:
    facts = read_span(
        span(
            {
                **OPENINFERENCE_LLM,
                "metadata": '{"env": "prod"}',
                "tracewatch.metadata": '{"env": "staging", "team": "qa", "import_warnings": "none"}',
            }
        )
    )
    assert facts.metadata["env"] == "prod" and facts.metadata["team"] == "qa"
    warnings = facts.metadata["import_warnings"]
    assert any("'env' is already set" in w for w in warnings)
    assert any("'import_warnings' is the importer's own" in w for w in warnings)

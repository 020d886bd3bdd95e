"""A night's candidates reduced once per distinct value: the same answers as the per-trace path (usable input,
redaction, dedup keys, content hashes), and keys that never join different contents, even when hashes collide."""

from __future__ import annotations

import itertools
import random
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.datasets import candidates as candidates_module
from tracewatch.datasets.candidates import CandidateInputs, candidate_inputs, content_hash_check
from tracewatch.datasets.items import content_hash_expr, dedup_keys, usable_input
from tracewatch.datasets.pii import redact_frame
from tracewatch.datasets.pii_rules import RedactionConfig
from tracewatch.hashing import U64, stable_hash64
from tracewatch.traces.schema import MESSAGE

REDACTION = RedactionConfig()
TEXTS = [
    None,
    "",
    "  ",
    "What is the capital of France?",
    "what is the   CAPITAL of france?",
    "Mail me at alice@example.com about France",
    "Mail me at bob@example.org about France",
    "Straße ﬁnal",
    "call +44 20 7946 0958",
]
ROLES = [None, "system", "user", "assistant"]
SCHEMA = {"trace_id": pl.String, "input_text": pl.String, "input_messages": pl.List(MESSAGE)}

texts = st.sampled_from(TEXTS)
messages = st.none() | st.lists(st.tuples(st.sampled_from(ROLES), texts), max_size=3)


def frame(rows: list[tuple[str | None, list[tuple[str | None, str | None]] | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "trace_id": [f"t{i:06d}" for i in range(len(rows))],
            "input_text": [text for text, _ in rows],
            "input_messages": [
                None if listed is None else [{"role": role, "content": content} for role, content in listed]
                for _, listed in rows
            ],
        },
        schema=SCHEMA,
    )


def per_trace(traces: pl.DataFrame) -> dict[str, list[Any]]:
    """What the per-trace path gives: usable input, redacted text, dedup keys and content hashes."""
    redacted, _, _ = redact_frame(traces, ["input_text", "input_messages"], REDACTION)
    return {
        "usable": usable_input(traces).to_list(),
        "input_text": redacted["input_text"].to_list(),
        "dedup_key": dedup_keys(redacted).to_list(),
        "content_hash": redacted.select(content_hash_expr()).to_series().to_list(),
    }


def reduced(traces: pl.DataFrame, inputs: CandidateInputs) -> dict[str, list[Any]]:
    return {
        "usable": inputs.usable.to_list(),
        "input_text": inputs.input_text.to_list(),
        "dedup_key": inputs.dedup_key.to_list(),
        "content_hash": inputs.parts.content_hashes(np.arange(traces.height)).to_list(),
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, messages), min_size=1, max_size=25))
def test_a_small_batch_gives_what_the_per_trace_path_gives(rows: list[Any]) -> None:
    traces = frame(rows)
    assert reduced(traces, candidate_inputs(traces, REDACTION)) == per_trace(traces)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_repetitive_night_is_reduced_to_its_distinct_values_with_the_same_result(seed: int) -> None:
    rng = random.Random(seed)
    asked = [
        (rng.choice(TEXTS), [(rng.choice(ROLES), rng.choice(TEXTS)) for _ in range(rng.randint(0, 3))])
        for _ in range(12)
    ]
    traces = frame([rng.choice(asked) for _ in range(25_000)])  # above the size where values are factorised
    inputs = candidate_inputs(traces, REDACTION)
    assert reduced(traces, inputs) == per_trace(traces)
    assert inputs.dedup_key.null_count() == 0


def test_the_same_question_in_other_spacing_or_case_keeps_one_key() -> None:
    asked = [
        ("What is the capital of France?", [("user", "What is the capital of France?")]),
        ("what is the   CAPITAL of france?", [("user", "WHAT is the capital of France? ")]),
    ]
    keys = candidate_inputs(frame(asked * 15_000), REDACTION).dedup_key
    assert keys.null_count() == 0 and keys.n_unique() == 1


def payload_groups(traces: pl.DataFrame, inputs: CandidateInputs) -> pl.DataFrame:
    """Per non-null key: how many different contents (by sha256) carry it."""
    hashes = inputs.parts.content_hashes(np.arange(traces.height))
    return (
        pl.DataFrame({"key": inputs.dedup_key, "content_hash": hashes})
        .drop_nulls("key")
        .group_by("key")
        .agg(pl.col("content_hash").n_unique().alias("contents"))
    )


def many_contents() -> pl.DataFrame:
    words = ["alpha", "beta", "gamma", "delta", "eps"]
    rows = [
        (f"{a} {b}", [("system", "Be brief."), ("user", f"{b} {a}")])
        for a, b in itertools.product(words, repeat=2)
    ]
    return frame(rows * 1_000)


def test_colliding_part_hashes_never_join_different_contents() -> None:
    def alpha_collides(values: pl.Series) -> U64:
        hashes = stable_hash64(values)
        return np.where(values.str.starts_with("alpha").to_numpy(), np.uint64(7), hashes)

    traces = many_contents()
    inputs = candidate_inputs(traces, REDACTION, part_hash=alpha_collides)
    has_alpha = traces.select(pl.col("input_text").str.contains("alpha")).to_series()
    assert inputs.dedup_key.is_null().to_list() == has_alpha.to_list()
    groups = payload_groups(traces, inputs)
    assert groups.height == 16 and groups.get_column("contents").max() == 1


def test_colliding_keys_of_whole_inputs_are_caught_too(monkeypatch: pytest.MonkeyPatch) -> None:
    def text_only(text: U64, messages: U64, counts: Any) -> U64:
        return text.copy()  # traces with the same text and other messages now share a key

    monkeypatch.setattr(candidates_module, "combine_part_hashes", text_only)
    rows = [
        ("same text", [("user", "first")]),
        ("same text", [("user", "second")]),
        ("same text", [("user", "first")]),
        ("other text", [("user", "first")]),
    ]
    traces = frame(rows * 6_000)
    inputs = candidate_inputs(traces, REDACTION)
    assert payload_groups(traces, inputs).get_column("contents").max() == 1
    nulls = inputs.dedup_key.is_null().to_list()[:4]
    assert nulls == [False, True, False, False]  # the first content keeps the key, the other loses it


def test_matches_are_confirmed_with_the_sha256_of_just_the_matched_traces() -> None:
    traces = frame([(t, None) for t in TEXTS[3:7]])
    inputs = candidate_inputs(traces, REDACTION)
    check = content_hash_check(traces.get_column("trace_id"), inputs.parts)
    asked = pl.Series("trace_id", ["t000003", "t000000"])
    expected = per_trace(traces)["content_hash"]
    assert check.column == "content_hash"
    assert check.of(asked).to_list() == [expected[3], expected[0]]
    assert expected[2] == expected[3]  # alice and bob ask the same once the address is redacted

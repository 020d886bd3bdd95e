"""Dataset items from traces: normalisation (Python and polars agree), pinned content hash and item ids,
determinism, the silver rule, usable input, redaction before hashing, and the item schema."""

from __future__ import annotations

import datetime as dt
import hashlib
import sys
import unicodedata
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.reference_hash import MASK, fmix64
from tracewatch.datasets.items import (
    NO_USABLE_INPUT,
    SilverRule,
    content_hash,
    content_hash_expr,
    dedup_key,
    dedup_keys,
    item_id,
    item_id_expr,
    items_from_traces,
    usable_input,
)
from tracewatch.datasets.normalise import (
    CASEFOLD_EXTRAS,
    normalise_series,
    normalise_text,
    normalise_text_expr,
)
from tracewatch.datasets.pii_rules import RedactionConfig
from tracewatch.datasets.schema import ITEM_SCHEMA
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.hashing import stable_hash64
from tracewatch.traces.schema import MESSAGE, TRACE_SCHEMA

# ---- normalisation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  Hello\tWORLD \n", "hello world"),
        ("Straße", "strasse"),
        ("ﬁnal ΣΑΣ", "final σασ"),
        ("ＡＢＣ　１２３", "abc 123"),
        ("a\u00a0\u2003b\u200a\u3000c", "a b c"),
        ("line one\r\n\r\nline two", "line one line two"),
        ("", ""),
        (" \t\n ", ""),
    ],
)
def test_normalise_text(text: str, expected: str) -> None:
    assert normalise_text(text) == expected
    assert normalise_series(pl.Series([text])).to_list() == [expected]


def assigned_characters() -> list[str]:
    """Every character Python's Unicode database knows, except surrogates and private use."""
    return [
        ch for ch in map(chr, range(sys.maxunicode + 1)) if unicodedata.category(ch) not in ("Cn", "Cs", "Co")
    ]


def test_python_and_polars_normalise_every_assigned_character_alike() -> None:
    characters = assigned_characters()
    vectorised = pl.DataFrame({"c": characters}).select(normalise_text_expr("c")).to_series().to_list()
    differing = [
        (hex(ord(c)), v) for c, v in zip(characters, vectorised, strict=True) if normalise_text(c) != v
    ]
    assert differing == []


def test_the_listed_characters_are_all_that_casefold_unlike_their_lowercase() -> None:
    """`normalise_series` folds only the listed characters; a Unicode update that adds one must be noticed."""
    found = [
        chr(i)
        for i in range(sys.maxunicode + 1)
        if not 0xD800 <= i <= 0xDFFF and chr(i).lower() == chr(i) and chr(i).casefold() != chr(i)
    ]
    assert [hex(ord(c)) for c in found] == [hex(ord(c)) for c in CASEFOLD_EXTRAS]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(exclude_categories=("Cn", "Cs", "Co")), max_size=40), max_size=20))
def test_python_and_polars_normalise_texts_alike(texts: list[str]) -> None:
    series = pl.Series(texts, dtype=pl.String)
    assert normalise_series(series).to_list() == [normalise_text(t) for t in texts]


def test_normalise_keeps_nulls_and_works_on_repetitive_columns() -> None:
    values = ["  A  b ", None, "Straße", "x"] * 6_000
    out = pl.DataFrame({"t": values}, schema={"t": pl.String}).select(normalise_text_expr("t")).to_series()
    assert out.to_list() == ["a b", None, "strasse", "x"] * 6_000


# ---- hashes and ids ----------------------------------------------------------------------------------------

# sha256 of b"hello world\nhello world\n" (printf 'hello world\nhello world\n' | sha256sum).
PINNED_PAYLOAD = b"hello world\nhello world\n"
PINNED_HASH = "ec498a36221dd860c6f24ea26cb29cec68a38479496f78e54ce35f34c8106847"


def test_content_hash_is_pinned_to_the_documented_bytes() -> None:
    assert hashlib.sha256(PINNED_PAYLOAD).hexdigest() == PINNED_HASH
    # input text, then "\n" + content per message (a null content counts as empty)
    assert content_hash("  Hello\tWORLD ", ["HELLO   world", None]) == PINNED_HASH
    frame = pl.DataFrame(
        {
            "input_text": ["  Hello\tWORLD "],
            "input_messages": [
                [{"role": "system", "content": "HELLO   world"}, {"role": "user", "content": None}]
            ],
        },
        schema={"input_text": pl.String, "input_messages": pl.List(MESSAGE)},
    )
    assert frame.select(content_hash_expr()).item() == PINNED_HASH


def test_vectorised_content_hash_matches_the_python_one() -> None:
    rows: list[tuple[str | None, list[dict[str, Any]] | None]] = [
        ("What is Straße?", [{"role": "user", "content": "What is Straße?"}]),
        (None, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Hi "}]),
        ("only text", None),
        ("only text", []),
        ("", [{"role": "user", "content": ""}]),
    ]
    frame = pl.DataFrame(
        {"input_text": [r[0] for r in rows], "input_messages": [r[1] for r in rows]},
        schema={"input_text": pl.String, "input_messages": pl.List(MESSAGE)},
    )
    expected = [content_hash(text, [m["content"] for m in messages or []]) for text, messages in rows]
    assert frame.select(content_hash_expr()).to_series().to_list() == expected
    assert expected[2] == expected[3]  # a null message list is no message
    assert len(set(expected)) == 4


PINNED_KEY = 13501964970944139886


def reference_dedup_key(text: str | None, contents: list[str | None]) -> int:
    """The documented definition in plain Python integers (part hashes from `stable_hash64`, tested on its own)."""
    parts = pl.Series([normalise_text(p or "") for p in (text, *contents)], dtype=pl.String)
    text_hash, *message_hashes = (int(h) for h in stable_hash64(parts))
    state = fmix64(text_hash ^ 0x5DEECE66D1CE4E5B)
    for position, message_hash in enumerate(message_hashes, start=1):
        state = (state + fmix64((message_hash + position * 0x9E3779B97F4A7C15) & MASK)) & MASK
    return fmix64(state ^ len(contents))


KEY_CASES: list[tuple[str | None, list[str | None]]] = [
    ("  Hello\tWORLD ", ["HELLO   world", None]),
    ("What is Straße?", []),
    (None, ["Be brief.", " Hi ", "ＡＢＣ"]),
    ("", [""]),
    ("a", ["b", "c", "d", "e", "f"]),
]


@pytest.mark.parametrize(("text", "contents"), KEY_CASES)
def test_dedup_key_follows_its_documented_definition(text: str | None, contents: list[str | None]) -> None:
    assert dedup_key(text, contents) == reference_dedup_key(text, contents)


def test_dedup_key_is_pinned() -> None:
    assert dedup_key("  Hello\tWORLD ", ["HELLO   world", None]) == PINNED_KEY


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.sampled_from(["", " What is X? ", "what is x?", "Straße", "ﬁnal"]),
            st.none()
            | st.lists(st.none() | st.sampled_from(["", "Be brief.", "what is x?", "Hi"]), max_size=4),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_vectorised_dedup_keys_match_the_scalar_one(
    rows: list[tuple[str | None, list[str | None] | None]],
) -> None:
    frame = pl.DataFrame(
        {
            "input_text": [text for text, _ in rows],
            "input_messages": [
                None if contents is None else [{"role": "user", "content": c} for c in contents]
                for _, contents in rows
            ],
        },
        schema={"input_text": pl.String, "input_messages": pl.List(MESSAGE)},
    )
    expected = [dedup_key(text, contents or []) for text, contents in rows]
    assert dedup_keys(frame).to_list() == expected


def test_dedup_keys_agree_with_content_hashes_on_what_is_the_same_input() -> None:
    inputs: list[tuple[str | None, list[str | None]]] = [
        ("What is X?", ["Be brief.", "What is X?"]),
        ("  what IS x? ", ["be BRIEF.", "what is   x?"]),  # the same once normalised
        ("What is X?", ["What is X?", "Be brief."]),  # messages in another order
        ("What is X?", ["Be brief.", "What is X?", ""]),  # one more (empty) message
        ("What is X?\nBe brief.", ["What is X?"]),  # the text moved between parts
        (None, []),
        ("", []),  # null text and no messages are empty text
    ]
    keys = [dedup_key(text, contents) for text, contents in inputs]
    hashes = [content_hash(text, contents) for text, contents in inputs]
    same_key = {(i, j) for i in range(len(keys)) for j in range(len(keys)) if keys[i] == keys[j]}
    same_hash = {(i, j) for i in range(len(keys)) for j in range(len(keys)) if hashes[i] == hashes[j]}
    assert same_key == same_hash
    assert (0, 1) in same_key and (5, 6) in same_key and len(set(keys)) == 5


def test_item_ids_derive_from_the_trace_or_for_curated_items_from_the_content() -> None:
    assert item_id("trace-1", "ignored") == "itm_" + hashlib.sha256(b"trace-1").hexdigest()[:16]
    assert item_id(None, PINNED_HASH) == "itm_" + hashlib.sha256(PINNED_HASH.encode()).hexdigest()[:16]
    frame = pl.DataFrame(
        {"source_trace_id": ["trace-1", None], "content_hash": ["ignored", PINNED_HASH]},
        schema={"source_trace_id": pl.String, "content_hash": pl.String},
    )
    assert frame.select(item_id_expr()).to_series().to_list() == [
        item_id("trace-1", "ignored"),
        item_id(None, PINNED_HASH),
    ]


# ---- traces for item tests ---------------------------------------------------------------------------------


def trace(**overrides: Any) -> dict[str, Any]:
    """One valid trace in the canonical schema; `overrides` replace columns."""
    base: dict[str, Any] = {
        "trace_id": "t-1",
        "start_time": dt.datetime(2026, 11, 1, 23, 30, tzinfo=dt.UTC),
        "project": "qa-assistant",
        "route": "qa/single-fact",
        "model": "gpt-4o-mini",
        "provider_name": "openai",
        "input_text": "What is the capital of France?",
        "input_messages": [
            {"role": "system", "content": "Be concise."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        "output_text": "Paris.",
        "input_tokens": 12,
        "output_tokens": 2,
        "cost_usd": 0.0001,
        "latency_ms": 300.0,
        "status": "ok",
        "error_type": None,
        "error_message": None,
        "user_id": "u1",
        "session_id": "s1",
        "tags": ["single-fact"],
        "metadata": '{"app_version": "1.4.2"}',
        "retrieved_context": [{"document_id": "wikipedia:1", "text": "Paris is the capital.", "score": 0.9}],
        "feedback": [],
    }
    return base | overrides


def traces(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=TRACE_SCHEMA)


def thumbs(value: float) -> dict[str, Any]:
    return {"name": "thumbs", "value": value, "source": "user"}


def rating(value: float) -> dict[str, Any]:
    return {"name": "rating", "value": value, "source": "user"}


# ---- items -------------------------------------------------------------------------------------------------


def test_items_have_the_item_schema_and_copy_the_trace() -> None:
    source = traces(trace(), trace(trace_id="t-2", input_text="Who wrote Hamlet?", input_messages=None))
    items = items_from_traces(source, strategy="uniform", stratum=pl.Series(["route=a", "route=b"]))
    assert items.schema == pl.Schema(ITEM_SCHEMA)
    copied = [
        "input_text",
        "input_messages",
        "retrieved_context",
        "project",
        "route",
        "model",
        "tags",
        "metadata",
    ]
    assert items.select(copied).equals(source.select(copied))
    assert items["source_trace_id"].to_list() == ["t-1", "t-2"]
    assert items["source_date"].to_list() == [dt.date(2026, 11, 1)] * 2
    assert items["strategy"].to_list() == ["uniform"] * 2
    assert items["stratum"].to_list() == ["route=a", "route=b"]
    assert items["item_id"].to_list() == [item_id("t-1", ""), item_id("t-2", "")]
    assert items["content_hash"][0] == content_hash(
        "What is the capital of France?", ["Be concise.", "What is the capital of France?"]
    )
    assert items["redactions"].to_list() == [0, 0]


def test_source_date_is_the_utc_date() -> None:
    late = dt.datetime(2026, 11, 1, 23, 59, 59, tzinfo=dt.UTC)
    items = items_from_traces(traces(trace(start_time=late)), strategy="s")
    assert items["source_date"].item() == dt.date(2026, 11, 1)
    assert items["stratum"].item() is None


def test_items_are_deterministic_and_per_trace() -> None:
    source = traces(*(trace(trace_id=f"t-{i}", input_text=f"question {i}?") for i in range(20)))
    first = items_from_traces(source, strategy="s")
    assert first.equals(items_from_traces(source, strategy="s"))
    shuffled = items_from_traces(source.reverse(), strategy="s")
    assert shuffled.reverse().equals(first)
    assert first["item_id"].is_unique().all()


SILVER_CASES: list[tuple[dict[str, Any], bool]] = [
    ({"feedback": [thumbs(1.0)]}, True),
    ({"feedback": [thumbs(0.0)]}, False),
    ({"feedback": [thumbs(1.0), rating(5.0)]}, True),
    ({"feedback": [thumbs(1.0), rating(2.0)]}, False),  # mixed signals are not a reference
    ({"feedback": [rating(4.0)]}, True),
    ({"feedback": [rating(3.0)]}, False),
    ({"feedback": [{"name": "thumbs", "value": None, "source": "user"}]}, False),
    ({"feedback": [{"name": "helpfulness", "value": 1.0, "source": "judge"}]}, False),
    ({"feedback": []}, False),
    ({"feedback": None}, False),
    ({"feedback": [thumbs(1.0)], "status": "error", "error_type": "Timeout"}, False),
    ({"feedback": [thumbs(1.0)], "output_text": "  "}, False),
    ({"feedback": [thumbs(1.0)], "output_text": None}, False),
]


@pytest.mark.parametrize(("overrides", "silver"), SILVER_CASES)
def test_default_silver_rule(overrides: dict[str, Any], silver: bool) -> None:
    items = items_from_traces(traces(trace(**overrides)), strategy="s")
    expected = (trace(**overrides)["output_text"], "silver") if silver else (None, None)
    assert (items["expected_output"].item(), items["expected_source"].item()) == expected


def test_a_configured_silver_rule() -> None:
    rule = SilverRule(thresholds=(("user_rating", 0.7),))
    rows = traces(
        trace(trace_id="a", feedback=[{"name": "user_rating", "value": 0.8, "source": "app"}]),
        trace(trace_id="b", feedback=[{"name": "user_rating", "value": 0.6, "source": "app"}]),
        trace(trace_id="c", feedback=[thumbs(1.0)]),
    )
    items = items_from_traces(rows, strategy="s", silver_feedback=rule)
    assert items["expected_source"].to_list() == ["silver", None, None]


@pytest.mark.parametrize(
    "thresholds",
    [(), (("thumbs", 0.5), ("thumbs", 0.6)), (("", 1.0),), (("thumbs", float("nan")),)],
)
def test_bad_silver_rules_are_config_errors(thresholds: tuple[tuple[str, float], ...]) -> None:
    with pytest.raises(ConfigError, match="SilverRule"):
        SilverRule(thresholds=thresholds)


def test_pii_is_redacted_before_hashing_and_counted() -> None:
    alice = "Email alice@example.com: what is the capital of France?"
    bob = "Email bob@example.org: what is the capital of France?"
    rows = traces(
        trace(trace_id="a", input_text=alice, input_messages=[{"role": "user", "content": alice}]),
        trace(
            trace_id="b",
            input_text=bob,
            input_messages=[{"role": "user", "content": bob}],
            output_text="Paris. Call +44 20 7946 0958 for more.",
            feedback=[thumbs(1.0)],
            metadata='{"client_ip": "10.1.2.3"}',
        ),
    )
    items = items_from_traces(rows, strategy="s")
    assert items["input_text"].to_list() == ["Email <EMAIL>: what is the capital of France?"] * 2
    assert items["content_hash"][0] == items["content_hash"][1]  # the same question once PII is gone
    assert items["expected_output"][1] == "Paris. Call <PHONE> for more."
    assert items["metadata"][1] == '{"client_ip": "<IP_ADDRESS>"}'
    assert items["redactions"].to_list() == [2, 4]
    dump = str(items.to_dicts())
    for value in ("alice@example.com", "bob@example.org", "7946", "10.1.2.3"):
        assert value not in dump
    unredacted = items_from_traces(rows, strategy="s", redaction=RedactionConfig(kinds=()))
    assert unredacted["input_text"].to_list() == [alice, bob]
    assert unredacted["content_hash"][0] != unredacted["content_hash"][1]
    assert items["dedup_key"][0] == items["dedup_key"][1] != unredacted["dedup_key"][0]
    assert items["dedup_key"].to_list() == dedup_keys(items).to_list()


# ---- usable input ------------------------------------------------------------------------------------------

USABLE_CASES: list[tuple[dict[str, Any], bool]] = [
    ({}, True),
    ({"input_text": None, "input_messages": [{"role": "user", "content": "hi"}]}, True),
    ({"input_text": "  ", "input_messages": [{"role": "assistant", "content": "earlier answer"}]}, True),
    ({"input_text": "question", "input_messages": None}, True),
    ({"input_text": None, "input_messages": None}, False),
    ({"input_text": " \t\n", "input_messages": []}, False),
    ({"input_text": "", "input_messages": [{"role": "user", "content": "   "}]}, False),
    ({"input_text": None, "input_messages": [{"role": "user", "content": None}]}, False),
    ({"input_text": None, "input_messages": [{"role": "system", "content": "Be concise."}]}, False),
]


@pytest.mark.parametrize(("overrides", "usable"), USABLE_CASES)
def test_usable_input(overrides: dict[str, Any], usable: bool) -> None:
    assert usable_input(traces(trace(**overrides))).to_list() == [usable]


def test_items_refuse_traces_without_usable_input() -> None:
    rows = traces(trace(), trace(trace_id="blank", input_text=" ", input_messages=None))
    with pytest.raises(DataContractError, match=f"1 trace\\(s\\) have no usable input.*{NO_USABLE_INPUT!r}"):
        items_from_traces(rows, strategy="s")
    assert items_from_traces(rows.filter(usable_input(rows)), strategy="s").height == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda rows: items_from_traces(rows, strategy="s", stratum=pl.Series(["a", "b"])),
        lambda rows: items_from_traces(rows.drop("feedback"), strategy="s"),
    ],
)
def test_items_refuse_inconsistent_input(call: Callable[[pl.DataFrame], object]) -> None:
    with pytest.raises(DataContractError):
        call(traces(trace()))

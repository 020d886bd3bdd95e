"""PII redaction: every kind caught in its common formats, look-alikes left alone, exact counts, JSON kept
valid, list columns rebuilt, idempotent, and no planted demo value survives."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.datasets.pii import redact_frame, redact_text
from tracewatch.datasets.pii_rules import KINDS, PLACEHOLDERS, RedactionConfig
from tracewatch.errors import ConfigError
from tracewatch.traces._pii_plant import sample_values
from tracewatch.traces.demo import generate_day, planted_pii_of_day
from tracewatch.traces.schema import CONTEXT_PASSAGE, MESSAGE

# ---- each kind: positives ----------------------------------------------------------------------------------

POSITIVES: list[tuple[str, str]] = [
    ("email", "jane.doe@example.com"),
    ("email", "first_last+news@mail.example.co.uk"),
    ("email", "josé.müller@exämple.de"),
    ("email", "yamada＠example.jp"),
    ("phone", "+44 20 7946 0958"),
    ("phone", "+1 (415) 555-0101"),
    ("phone", "+1-415-555-0199"),
    ("phone", "+33 1 23 45 67 89"),
    ("phone", "+49 30 12345678"),
    ("phone", "(415) 555-0101"),
    ("phone", "415-555-0123"),
    ("phone", "415.555.0123"),
    ("phone", "020 7946 0958"),
    ("phone", "07700 900123"),
    ("phone", "01 23 45 67 89"),
    ("phone", "090-1234-5678"),
    ("phone", "０９０-１２３４-５６７８"),
    ("credit_card", "4111 1111 1111 1111"),
    ("credit_card", "4111-1111-1111-1111"),
    ("credit_card", "4111111111111111"),
    ("credit_card", "5555 5555 5555 4444"),
    ("credit_card", "2223 0031 2200 3222"),
    ("credit_card", "3782 822463 10005"),
    ("credit_card", "6011111111111117"),
    ("credit_card", "4222222222222"),
    ("ip_address", "192.168.1.10"),
    ("ip_address", "203.0.113.255"),
    ("ip_address", "10.0.0.1"),
    ("ip_address", "2001:db8::8a2e:370:7334"),
    ("ip_address", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("ip_address", "fe80::1"),
    ("ip_address", "::1"),
    ("secret", "sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD"),
    ("secret", "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z"),
    ("secret", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345"),
    ("secret", "AKIAIOSFODNN7EXAMPLE"),
    ("secret", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"),
    ("secret", "xoxb-123456789012-abcdefghijkl"),
    ("secret", "xoxp-123456789012-abcdefghijkl"),
    ("secret", "sk_live_abcdef1234567890ABCD"),
    (
        "secret",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
]


@pytest.mark.parametrize(("kind", "value"), POSITIVES)
def test_each_kind_is_replaced_by_its_placeholder_and_counted(kind: str, value: str) -> None:
    text, counts = redact_text(f"Please note: {value}, thanks.")
    assert text == f"Please note: {PLACEHOLDERS[kind]}, thanks."
    assert counts == Counter({kind: 1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("api_key=9f8a7b6c5d4e3f2a1b0c", "api_key=<SECRET>"),
        ("export OPENAI_TOKEN: 'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5'", "export OPENAI_TOKEN: '<SECRET>'"),
        ('{"client_secret": "s3cr3tV4lu3xyzQWERTY"}', '{"client_secret": "<SECRET>"}'),
        ("Authorization: Bearer abcdefghijklmnop1234567890", "Authorization: Bearer <SECRET>"),
        ("PASSWORD=Tr0ub4dor3xyzPLq9w", "PASSWORD=<SECRET>"),
    ],
)
def test_keyed_secrets_keep_the_key_name_and_lose_the_value(text: str, expected: str) -> None:
    assert redact_text(text) == (expected, Counter({"secret": 1}))


# ---- look-alikes are left alone ----------------------------------------------------------------------------

NEGATIVES: list[str] = [
    "It happened in 1999, 2024 and 2026.",
    "Released on 2024-01-15 at 10:30:45 (2024-01-15T10:30:45Z).",
    "The prompt used 123456 tokens; cost 12,345 USD; 1,900,000,000 dollars.",
    "Version 1.4.2 of the app, pi is 3.14159, ratio 1:2:3.",
    "Card-like but not Luhn: 4111 1111 1111 1112 and 1234 5678 9012 3456.",
    "A long id 0123 4567 8901 2345 and 10000000000000000001 rows.",
    "Not an address: 256.1.1.1 or 1.2.3 or v1.2.3.4.",
    "Rust paths like std::vec::Vec and C++ add::beef are code, not addresses.",
    "Calling codes: India +91, China +86, United States +1.",
    "Scores went +1 2 3 and +15 (3%), then +0.5.",
    "max_tokens=2048 and token: abc and key: short, secret: not-random-at-all-here.",
    "The @handle and user@localhost are not e-mail addresses.",
    "Amounts 1234-5678-9012 and ISBN 978-3-16-148410-0.",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_look_alikes_are_untouched(text: str) -> None:
    assert redact_text(text) == (text, Counter())


def test_a_card_number_with_one_wrong_digit_is_not_a_card() -> None:
    assert redact_text("4111 1111 1111 1111")[1] == Counter({"credit_card": 1})
    for position in range(19):
        if not "4111 1111 1111 1111"[position].isdigit():
            continue
        for digit in "0123456789":
            broken = "4111 1111 1111 1111"[:position] + digit + "4111 1111 1111 1111"[position + 1 :]
            if broken != "4111 1111 1111 1111":
                assert redact_text(broken) == (broken, Counter()), broken


def test_a_card_next_to_another_number_is_still_found() -> None:
    assert redact_text("ref 5 4111 1111 1111 1111 2025") == (
        "ref 5 <CREDIT_CARD> 2025",
        Counter({"credit_card": 1}),
    )
    assert redact_text("4111-1111-1111-1111-7") == ("<CREDIT_CARD>-7", Counter({"credit_card": 1}))


def test_a_phone_next_to_a_short_number_is_still_found() -> None:
    text = "Call 020 7946 0958 1st floor, or 3 (415) 555-0101."
    assert redact_text(text) == ("Call <PHONE> 1st floor, or 3 <PHONE>.", Counter({"phone": 2}))


def test_nothing_of_the_value_is_kept() -> None:
    text, _ = redact_text("card 5555 5555 5555 4444, mail a.b@example.com, key sk-" + "x1" * 15)
    for fragment in ("5555", "4444", "a.b", "example", "x1x1"):
        assert fragment not in text
    text, counts = redact_text("pay with 5555 5555 5555 4444 or 4111 1111 1111 1111 today")
    assert text == "pay with <CREDIT_CARD> or <CREDIT_CARD> today"
    assert counts == Counter({"credit_card": 2})


def test_counts_are_exact_across_kinds() -> None:
    text = (
        "Mail a@example.com or b@example.org, call +44 20 7946 0958 or (415) 555-0101, "
        "card 4111 1111 1111 1111, from 10.0.0.1 and 2001:db8::1, key sk-" + "A1b2C3d4" * 4
    )
    redacted, counts = redact_text(text)
    assert counts == Counter({"email": 2, "phone": 2, "credit_card": 1, "ip_address": 2, "secret": 1})
    assert sum(redacted.count(p) for p in PLACEHOLDERS.values()) == 8


# ---- configuration -----------------------------------------------------------------------------------------


def test_config_selects_kinds() -> None:
    text = "a@example.com 10.0.0.1 4111 1111 1111 1111"
    assert redact_text(text, RedactionConfig(kinds=("email",))) == (
        "<EMAIL> 10.0.0.1 4111 1111 1111 1111",
        Counter({"email": 1}),
    )
    assert redact_text(text, RedactionConfig(kinds=())) == (text, Counter())
    assert RedactionConfig().kinds == KINDS


def test_unknown_kinds_are_config_errors_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"'passport'.*allowed kinds: email, phone, credit_card"):
        RedactionConfig(kinds=("email", "passport"))
    with pytest.raises(ConfigError, match="not the string"):
        RedactionConfig(kinds="email")  # type: ignore[arg-type]


# ---- frames ------------------------------------------------------------------------------------------------


def frame_with_pii() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "input_text": ["mail me: a@example.com", None, "nothing here", "call +44 20 7946 0958"],
            "input_messages": [
                [{"role": "system", "content": "Customer 10.0.0.1"}, {"role": "user", "content": "hi"}],
                None,
                [],
                [
                    {"role": "user", "content": None},
                    {"role": "user", "content": "b@example.org c@example.org"},
                ],
            ],
            "retrieved_context": [
                [{"document_id": "d1", "text": "card 4111 1111 1111 1111", "score": 0.5}],
                [],
                None,
                [{"document_id": "d2", "text": "clean", "score": 0.1}],
            ],
            "tags": [["a@example.com"], None, [], ["ok"]],
            "metadata": [
                '{"client_ip": "10.0.0.2", "n": 4111111111111111, "ok": true}',
                '{"note": "write to jane\\u0040example.com"}',
                '{"temperature": 0.2}',
                "not json a@example.com",
            ],
        },
        schema={
            "input_text": pl.String,
            "input_messages": pl.List(MESSAGE),
            "retrieved_context": pl.List(CONTEXT_PASSAGE),
            "tags": pl.List(pl.String),
            "metadata": pl.String,
        },
    )


def test_redact_frame_handles_every_column_type_and_counts_per_kind_and_row() -> None:
    frame = frame_with_pii()
    before = frame.clone()
    out, counts, per_row = redact_frame(frame, frame.columns)
    assert frame.equals(before)  # the input is not modified
    assert out.schema == frame.schema
    assert out["input_text"].to_list() == ["mail me: <EMAIL>", None, "nothing here", "call <PHONE>"]
    assert out["input_messages"].to_list() == [
        [{"role": "system", "content": "Customer <IP_ADDRESS>"}, {"role": "user", "content": "hi"}],
        None,
        [],
        [{"role": "user", "content": None}, {"role": "user", "content": "<EMAIL> <EMAIL>"}],
    ]
    assert out["retrieved_context"].to_list() == [
        [{"document_id": "d1", "text": "card <CREDIT_CARD>", "score": 0.5}],
        [],
        None,
        [{"document_id": "d2", "text": "clean", "score": 0.1}],
    ]
    assert out["tags"].to_list() == [["<EMAIL>"], None, [], ["ok"]]
    assert counts == {"email": 6, "phone": 1, "credit_card": 2, "ip_address": 2, "secret": 0}
    assert per_row.to_list() == [6, 1, 0, 4]
    assert per_row.dtype == pl.Int64


def test_json_metadata_stays_json_and_escapes_cannot_hide_a_value() -> None:
    out, _, _ = redact_frame(frame_with_pii(), ["metadata"])
    first, escaped, untouched, plain = out["metadata"].to_list()
    assert json.loads(first) == {"client_ip": "<IP_ADDRESS>", "n": "<CREDIT_CARD>", "ok": True}
    assert json.loads(escaped) == {"note": "write to <EMAIL>"}
    assert untouched == '{"temperature": 0.2}'  # unchanged rows keep their exact text
    assert plain == "not json <EMAIL>"


def test_json_keys_are_redacted_without_losing_entries() -> None:
    frame = pl.DataFrame({"metadata": ['{"a@example.com": 1, "b@example.com": 2}']})
    out, counts, _ = redact_frame(frame, ["metadata"])
    assert json.loads(out["metadata"][0]) == {"<EMAIL>": 1, "<EMAIL>_2": 2}
    assert counts["email"] == 2


def test_bad_columns_are_config_errors() -> None:
    frame = pl.DataFrame({"n": [1, 2], "text": ["a", "b"]})
    with pytest.raises(ConfigError, match="'n' of type Int64"):
        redact_frame(frame, ["n"])
    with pytest.raises(ConfigError, match="'missing'"):
        redact_frame(frame, ["missing"])


def test_a_large_repetitive_column_is_redacted_like_value_by_value() -> None:
    """Columns that repeat a lot are redacted once per distinct value; the result must not change."""
    values = ["plain text", "mail a@example.com", None, "card 4111 1111 1111 1111 and 10.0.0.1", "x"]
    series = pl.Series("text", values * 6_000)
    out, counts, per_row = redact_frame(series.to_frame(), ["text"])
    expected = [None if v is None else redact_text(v) for v in values]
    assert out["text"].to_list() == [None if e is None else e[0] for e in expected] * 6_000
    assert per_row.to_list() == [0 if e is None else e[1].total() for e in expected] * 6_000
    assert counts == {"email": 6_000, "phone": 0, "credit_card": 6_000, "ip_address": 6_000, "secret": 0}


def test_redact_text_and_redact_frame_agree() -> None:
    texts = [*(v for _, v in POSITIVES), *NEGATIVES]
    out, _, per_row = redact_frame(pl.DataFrame({"t": texts}), ["t"])
    assert out["t"].to_list() == [redact_text(t)[0] for t in texts]
    assert per_row.to_list() == [redact_text(t)[1].total() for t in texts]


# ---- properties --------------------------------------------------------------------------------------------

# A bare space before or after a digit is left out on purpose: `020 7946 0958 123` reads as one long number.
SEPARATORS = st.sampled_from(["\n", ", ", "; ", " (", ") ", ": ", " - ", ". "])
FILLER = st.text(max_size=30)


@st.composite
def texts_with_pii(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Random text with planted-style PII snippets, separated as in prose; returns the values too."""
    snippets = sample_values(draw(st.integers(0, 2**32 - 1)))
    chosen = draw(st.lists(st.sampled_from(snippets), min_size=1, max_size=5))
    parts: list[str] = []
    for _, _, snippet in chosen:
        parts += [draw(FILLER), draw(SEPARATORS), snippet, draw(SEPARATORS)]
    parts.append(draw(FILLER))
    return "".join(parts), [value for _, value, _ in chosen]


@settings(max_examples=300, deadline=None)
@given(case=texts_with_pii())
def test_no_planted_value_survives(case: tuple[str, list[str]]) -> None:
    text, values = case
    redacted, counts = redact_text(text)
    for value in values:
        assert value not in redacted
    assert counts.total() >= len(set(values))


DIGIT_SOUP = st.text(alphabet="0123456789 -.+()@:abcdefk_=sx", max_size=60)
ANY_TEXT = st.one_of(st.text(), texts_with_pii().map(lambda case: case[0]), DIGIT_SOUP)


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT)
def test_redaction_is_idempotent(text: str) -> None:
    once, _ = redact_text(text)
    assert redact_text(once) == (once, Counter())


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT)
def test_counts_are_the_placeholders_written(text: str) -> None:
    redacted, counts = redact_text(text)
    for kind, placeholder in PLACEHOLDERS.items():
        assert counts[kind] == redacted.count(placeholder) - text.count(placeholder), kind


# ---- the demo's planted PII --------------------------------------------------------------------------------


def test_no_planted_demo_value_survives_redaction_of_a_demo_day() -> None:
    day = dt.date(2026, 11, 3)
    traces = generate_day(day, seed=11, traces=3_000, day_index=3, drift=None)
    planted = planted_pii_of_day(day, seed=11, traces=3_000, day_index=3, drift=None)
    assert {p.kind for p in planted} == set(KINDS)
    columns = ["input_text", "input_messages", "retrieved_context", "metadata", "tags", "output_text"]
    out, counts, _ = redact_frame(traces, columns)
    dump = json.dumps(out.select(columns).to_dicts())
    assert [p.value for p in planted if p.value in dump] == []
    raw = json.dumps(traces.select(columns).to_dicts())
    assert all(p.value in raw for p in planted)  # they were there before
    assert all(counts[kind] >= sum(p.kind == kind for p in planted) for kind in KINDS)

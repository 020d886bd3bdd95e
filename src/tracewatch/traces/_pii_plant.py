"""PII planted in demo traces, so an end-to-end test can prove that none of it reaches a dataset.

A few traces per day get realistic personal data in their input (and some also in the system prompt, a
retrieved passage or the metadata) plus negative feedback, so a failure-seeking sampler is likely to pick
them. Everything is deterministic in (seed, day). Values come from reserved ranges where those exist
(example.* domains, 555-01xx and Ofcom drama numbers, documentation IP ranges); card numbers are random
but Luhn-valid, so a redactor that checks Luhn must still catch them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from tracewatch.traces._profile import CHARS_PER_TOKEN

PII_TRACES_PER_DAY = 8
"""Traces per day that carry planted PII (fewer on a day with fewer traces)."""

PLANTED_FEEDBACK: list[dict[str, Any]] = [
    {"name": "thumbs", "value": 0.0, "source": "user"},
    {"name": "rating", "value": 1.0, "source": "user"},
]
"""Feedback of the planted traces that succeeded: a thumbs-down and one star."""


@dataclass(frozen=True)
class PlantedPII:
    """One planted value: it must never appear in a dataset item."""

    day: dt.date
    trace_id: str
    kind: str
    """One of the redaction kinds: email, phone, credit_card, ip_address, secret."""
    value: str
    """Exactly as planted."""
    column: str
    """Where it was planted: `input_text` (and so also the last message), `input_messages` (the system
    prompt), `retrieved_context` (the first passage) or `metadata` (the `client_ip` key)."""


def plant_pii(frame: pl.DataFrame, *, seed: int, day: dt.date) -> tuple[pl.DataFrame, tuple[PlantedPII, ...]]:
    """`frame` with PII planted in `PII_TRACES_PER_DAY` of its traces (same rows, same order), and the values."""
    count = min(PII_TRACES_PER_DAY, frame.height)
    if count == 0:
        return frame, ()
    rng = np.random.default_rng([seed, day.toordinal(), 0x9117])
    chosen = [int(i) for i in rng.choice(frame.height, count, replace=False)]
    planted: list[PlantedPII] = []
    patches: list[dict[str, Any]] = []
    for scenario, index in zip(_SCENARIOS, chosen, strict=False):
        row = frame.row(index, named=True)
        placements = scenario(rng, row)
        planted += [
            PlantedPII(day, row["trace_id"], kind, value, column) for kind, value, column in placements
        ]
        patches.append(row)
    patch = pl.DataFrame(patches, schema=frame.schema)
    # Splice the edited rows in between slices of the rest: no copy of the (possibly large) day.
    pieces, start = [], 0
    for position, index in sorted(enumerate(chosen), key=lambda pair: pair[1]):
        pieces += [frame.slice(start, index - start), patch.slice(position, 1)]
        start = index + 1
    pieces.append(frame.slice(start))
    return pl.concat(pieces, rechunk=False), tuple(planted)


def sample_values(seed: int) -> tuple[tuple[str, str, str], ...]:
    """(kind, value, snippet) for one draw of every value generator, for property tests of a redactor.

    `snippet` is the value as it is planted: the hex token only counts as a secret after `api_key=`.
    """
    rng = np.random.default_rng(seed)
    token = _hex_token(rng)
    plain = (
        ("email", _email(rng)),
        ("phone", _international_phone(rng)),
        ("phone", _national_phone(rng)),
        ("credit_card", _card(rng, " ")),
        ("credit_card", _card(rng, "-")),
        ("credit_card", _card(rng, "")),
        ("ip_address", _ipv4(rng)),
        ("ip_address", _ipv6(rng)),
        ("secret", _openai_key(rng)),
    )
    return (*((kind, value, value) for kind, value in plain), ("secret", token, f"api_key={token}"))


# ---- scenarios: each edits one trace (a row dict) and says what it planted where ---------------------------

_Placement = tuple[str, str, str]
_Scenario = Callable[[np.random.Generator, dict[str, Any]], list[_Placement]]


def _email_in_input(rng: np.random.Generator, row: dict[str, Any]) -> list[_Placement]:
    email = _email(rng)
    _set_input(row, f"Hi, please email the answer to {email}. {row['input_text']}")
    return [("email", email, "input_text")]


def _phone_in_input(rng: np.random.Generator, row: dict[str, Any]) -> list[_Placement]:
    phone = _international_phone(rng)
    _set_input(row, f"{row['input_text']} If it's easier, call me on {phone}.")
    return [("phone", phone, "input_text")]


def _card_in_input(rng: np.random.Generator, row: dict[str, Any]) -> list[_Placement]:
    card = _card(rng, " ")
    _set_input(row, f"{row['input_text']} Also, my card {card} was charged twice for this, can you check?")
    return [("credit_card", card, "input_text")]


def _ip_and_key_in_input(rng: np.random.Generator, row: dict[str, Any]) -> list[_Placement]:
    ip, key = _ipv4(rng), _openai_key(rng)
    _set_input(row, f"{row['input_text']}\n\n(sent from {ip}, debug OPENAI_API_KEY={key})")
    return [("ip_address", ip, "input_text"), ("secret", key, "input_text")]


def _phone_in_input_email_in_system_prompt(rng: np.random.Generator, row: dict[str, Any]) -> list[_Placement]:
    phone, email = _national_phone(rng), _email(rng)
    _set_input(row, f"{row['input_text']} My number is {phone}, text me please.")
    messages = row["input_messages"]
    if not messages:
        return [("phone", phone, "input_text")]
    _append(row, messages[0], "content", f"\n\nSigned-in customer: {email}.")
    return [("phone", phone, "input_text"), ("email", email, "input_messages")]


def _card_in_input_contact_in_context(rng: np.random.Generator, row: dict[str, Any]) -> list[_Placement]:
    card, email, phone = _card(rng, "-"), _email(rng), _international_phone(rng)
    _set_input(row, f"{row['input_text']} Card on file: {card}")
    passages = row["retrieved_context"]
    if not passages:
        return [("credit_card", card, "input_text")]
    _append(row, passages[0], "text", f" Contact the editor at {email} or {phone}.")
    return [
        ("credit_card", card, "input_text"),
        ("email", email, "retrieved_context"),
        ("phone", phone, "retrieved_context"),
    ]


def _ipv6_in_input_ip_in_metadata(rng: np.random.Generator, row: dict[str, Any]) -> list[_Placement]:
    ipv6, ipv4 = _ipv6(rng), _ipv4(rng)
    _set_input(row, f"{row['input_text']} My VPN shows {ipv6}, is that why it fails?")
    metadata = json.loads(row["metadata"] or "{}")
    metadata["client_ip"] = ipv4
    row["metadata"] = json.dumps(metadata)
    return [("ip_address", ipv6, "input_text"), ("ip_address", ipv4, "metadata")]


def _token_and_email_in_input(rng: np.random.Generator, row: dict[str, Any]) -> list[_Placement]:
    token, email = _hex_token(rng), _email(rng)
    _set_input(row, f"{row['input_text']} (my api_key={token}, account {email})")
    return [("secret", token, "input_text"), ("email", email, "input_text")]


_SCENARIOS: tuple[_Scenario, ...] = (
    _email_in_input,
    _phone_in_input,
    _card_in_input,
    _ip_and_key_in_input,
    _phone_in_input_email_in_system_prompt,
    _card_in_input_contact_in_context,
    _ipv6_in_input_ip_in_metadata,
    _token_and_email_in_input,
)


def _set_input(row: dict[str, Any], text: str) -> None:
    """New user input: mirrored into the last message (the app sends it as the user turn) and counted in
    the input tokens; a planted trace gets negative feedback if it succeeded."""
    old = row["input_text"] or ""
    messages = row["input_messages"]
    if messages and messages[-1]["role"] == "user" and messages[-1]["content"] == old:
        messages[-1]["content"] = text
    row["input_text"] = text
    _add_tokens(row, len(text) - len(old))
    if row["status"] == "ok":
        row["feedback"] = [dict(entry) for entry in PLANTED_FEEDBACK]


def _append(row: dict[str, Any], target: dict[str, Any], key: str, text: str) -> None:
    """Append to a message or passage of `row`: it is part of the prompt, so the input tokens grow."""
    target[key] = f"{target[key] or ''}{text}"
    _add_tokens(row, len(text))


def _add_tokens(row: dict[str, Any], added_chars: int) -> None:
    row["input_tokens"] = int(row["input_tokens"] or 0) + math.ceil(added_chars / CHARS_PER_TOKEN)


# ---- value generators --------------------------------------------------------------------------------------

_FIRST = ("maria", "james", "aiko", "oluwaseun", "sven", "priya", "lucas", "fatima", "chen", "noor")
_LAST = ("garcia", "smith", "tanaka", "adeyemi", "lindqvist", "sharma", "moreau", "haddad", "wei", "khan")
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.co.uk", "corp.example")
_ALNUM = string.ascii_letters + string.digits


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def _email(rng: np.random.Generator) -> str:
    separator = _pick(rng, (".", "_", ""))
    number = int(rng.integers(1, 99))
    return f"{_pick(rng, _FIRST)}{separator}{_pick(rng, _LAST)}{number}@{_pick(rng, _DOMAINS)}"


def _international_phone(rng: np.random.Generator) -> str:
    formats = (
        "+44 20 7946 0{3}",  # Ofcom drama range, London
        "+44 7700 900{3}",  # Ofcom drama range, mobile
        "+1 415 555 01{2}",  # NANP fictional 555-01xx
        "+1 (212) 555-01{2}",
        "+61 491 570 1{2}",  # Australian drama range
    )
    return _fill(rng, _pick(rng, formats))


def _national_phone(rng: np.random.Generator) -> str:
    return _fill(rng, _pick(rng, ("(415) 555-01{2}", "212-555-01{2}", "020 7946 0{3}", "07700 900{3}")))


def _fill(rng: np.random.Generator, pattern: str) -> str:
    """Replace `{n}` by n random digits."""
    for n in (2, 3):
        pattern = pattern.replace(f"{{{n}}}", _digits(rng, n))
    return pattern


def _card(rng: np.random.Generator, separator: str) -> str:
    """A Luhn-valid Visa, Mastercard or Amex number, grouped as printed on the card."""
    prefix = _pick(rng, ("4", "51", "53", "55", "2221", "34", "37"))
    length, groups = (15, (4, 6, 5)) if prefix in ("34", "37") else (16, (4, 4, 4, 4))
    body = prefix + _digits(rng, length - len(prefix) - 1)
    number = body + str(_luhn_check_digit(body))
    parts, start = [], 0
    for size in groups:
        parts.append(number[start : start + size])
        start += size
    return separator.join(parts)


def _luhn_check_digit(body: str) -> int:
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char) * 2 if position % 2 == 0 else int(char)
        total += digit - 9 if digit > 9 else digit
    return (10 - total % 10) % 10


def _ipv4(rng: np.random.Generator) -> str:
    host = int(rng.integers(1, 255))
    network = _pick(rng, ("203.0.113", "198.51.100", "192.0.2", "10.20.30", "192.168.1"))
    return f"{network}.{host}"


def _ipv6(rng: np.random.Generator) -> str:
    words = [f"{int(w):x}" for w in rng.integers(0x100, 0x10000, 3)]
    return f"2001:db8:{words[0]}:{words[1]}::{words[2]}"


def _openai_key(rng: np.random.Generator) -> str:
    return _pick(rng, ("sk-", "sk-proj-")) + "".join(_ALNUM[int(i)] for i in rng.integers(0, len(_ALNUM), 48))


def _hex_token(rng: np.random.Generator) -> str:
    return rng.bytes(20).hex()

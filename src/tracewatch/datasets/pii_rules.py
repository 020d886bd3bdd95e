"""What PII redaction looks for: the kinds, their placeholders, the rule-based detectors, and which kinds a
dataset redacts (`RedactionConfig`).

Detection is rule based. Every rule is a regular expression valid for both polars (Rust regex) and Python `re`,
so polars can find the rows that could hold PII; rules whose matches need a check (Luhn for cards, digit counts
and context for phones, address parsing for IPv6, entropy for `key=value` secrets) run that check in Python on
the candidate rows only. The redaction itself, over polars columns, is `datasets.pii`.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

from pydantic import field_validator

from tracewatch.datasets.config import SpecModel

PiiKind = Literal["email", "phone", "credit_card", "ip_address", "secret"]
"""A PII kind that can be redacted."""
KINDS: tuple[PiiKind, ...] = get_args(PiiKind)
"""Every PII kind that can be redacted."""

PLACEHOLDERS: dict[str, str] = {kind: f"<{kind.upper()}>" for kind in KINDS}
"""Kind -> the placeholder that replaces a detected value."""

_Span = tuple[int, int]
_Check = Callable[[re.Match[str]], _Span | None]
"""Where in a match the placeholder goes (start, end), or None to leave the match alone."""


class RedactionConfig(SpecModel):
    """Which PII kinds to redact; all of them by default. An empty list switches redaction off."""

    where: ClassVar[str] = "redaction"

    kinds: tuple[PiiKind, ...] = KINDS
    """PII kinds replaced by a placeholder in every item; empty turns redaction off"""

    @field_validator("kinds", mode="before")
    @classmethod
    def _known_kinds(cls, kinds: Any) -> Any:
        if isinstance(kinds, str):
            raise ValueError(
                f"a list of kind names, not the string {kinds!r}; allowed kinds: {', '.join(KINDS)}"
            )
        unknown = [kind for kind in kinds if kind not in KINDS] if isinstance(kinds, list | tuple) else []
        if unknown:
            raise ValueError(
                f"unknown PII kind(s) {', '.join(map(repr, unknown))}; allowed kinds: {', '.join(KINDS)}"
            )
        return kinds


# ---- rules ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One detector. `pattern` must be valid for both polars (Rust regex) and Python `re`.

    A `keep` group, if present, is a prefix kept in the output (`api_key=<SECRET>`); the rest of the match is
    replaced. A rule with a `check` only redacts where the check says, in the matches it accepts.
    """

    kind: str
    pattern: str
    check: _Check | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))

    @property
    def placeholder(self) -> str:
        return PLACEHOLDERS[self.kind]

    @property
    def template(self) -> str:
        """The polars replacement string."""
        keep = "${keep}" if "keep" in self.regex.groupindex else ""
        return keep + self.placeholder

    @property
    def loose(self) -> str:
        """The pattern without word-boundary assertions and without named groups.

        It matches wherever `pattern` does (and more), so using it to pick candidate rows in polars cannot
        miss a row that Python's `re` would redact, whatever the two engines think a word character is.
        """
        plain = re.sub(r"\(\?P<\w+>", "(?:", self.pattern)
        return plain.replace(r"\b", "").replace(r"\B", "")

    def substitute(self, text: str) -> tuple[str, int]:
        """Python-side replacement of the accepted matches, with their number."""
        replaced = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal replaced
            span = _value_span(match) if self.check is None else self.check(match)
            text = match.group(0)
            if span is None:
                return text
            replaced += 1
            return text[: span[0]] + self.placeholder + text[span[1] :]

        return self.regex.sub(replace, text), replaced


def _value_span(match: re.Match[str]) -> _Span:
    """The part of a match a placeholder replaces: the `value` group, or all after `keep`, or everything."""
    groups = match.re.groupindex
    if "value" in groups:
        return match.start("value") - match.start(), match.end("value") - match.start()
    start = match.end("keep") - match.start() if "keep" in groups else 0
    return start, match.end() - match.start()


def _accept_if(predicate: Callable[[re.Match[str]], bool]) -> _Check:
    def check(match: re.Match[str]) -> _Span | None:
        return _value_span(match) if predicate(match) else None

    return check


def _decimal_digits(text: str) -> list[int]:
    return [int(ch) for ch in text if ch.isdecimal()]


def _card_span(match: re.Match[str]) -> _Span | None:
    """The longest run of whole digit groups in the match that is a card number, if any.

    A card followed or preceded by another number (`5 4111 1111 1111 1111`, `... 1111 2025`) makes one long
    candidate that fails the check as a whole; its groups still hold the card.
    """
    text = match.group(0)
    groups = [group.span() for group in re.finditer(r"\d+", text)]
    best: _Span | None = None
    for i, (start, _) in enumerate(groups):
        for _, end in groups[i:]:
            digits = _decimal_digits(text[start:end])
            longer = best is None or end - start > best[1] - best[0]
            if longer and 13 <= len(digits) <= 19 and _is_card_number(digits):
                best = (start, end)
    return best


def _is_card_number(digits: list[int]) -> bool:
    """Luhn-valid, and starting the way cards of the big networks do (1, 3-6, or Mastercard's 2221-2720).

    The Luhn check digit rules out 90% of other long digit runs; the prefix rule halves what is left, so
    numeric ids in metadata are rarely mistaken for cards.
    """
    first, first_four = digits[0], int("".join(map(str, digits[:4])))
    if first in (0, 7, 8, 9) or (first == 2 and not 2221 <= first_four <= 2720):
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _phone_plausible(match: re.Match[str]) -> bool:
    """A phone has 7-15 digits (E.164 caps at 15). A national-format match next to another group of 3+
    digits is one part of a longer grouped number (`0123 4567 8901 2345`), not a phone."""
    text = match.group(0)
    digits = len(_decimal_digits(text))
    if text[0] in "+＋":
        return 8 <= digits <= 15
    before = match.string[max(0, match.start() - 5) : match.start()]
    after = match.string[match.end() : match.end() + 5]
    joined = re.search(rf"\d{{3}}{_SEP}?$", before) or re.match(rf"{_SEP}?\d{{3}}", after)
    return 7 <= digits <= 15 and joined is None


def _ipv6_valid(match: re.Match[str]) -> bool:
    """Hex words joined by colons are common in code (`add::beef`); a real address parses and has a digit."""
    text = match.group(0)
    if not any(ch.isdigit() for ch in text):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _high_entropy(match: re.Match[str]) -> bool:
    """`token=...` is a secret when the value looks random: letters and digits, >= 3 bits per character."""
    value = match.group("value")
    if not (any(ch.isdigit() for ch in value) and any(ch.isalpha() for ch in value)):
        return False
    counts = Counter(value).values()
    bits = -sum(n / len(value) * math.log2(n / len(value)) for n in counts)
    return bits >= 3.0


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_HEX = r"[0-9A-Fa-f]{1,4}"
_DOMAIN = r"(?:[\w\-]+\.)+[^\W\d_]{2,}"
_SEP = r"[ .\-－]"  # ASCII and full-width separators: CJK users often type full-width digits

_RULES: tuple[Rule, ...] = (
    # Secrets first: a key can contain digit runs that other rules would half-redact.
    Rule(
        "secret",
        r"\b(?:sk-[A-Za-z0-9_\-]{20,}|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}|AKIA[0-9A-Z]{16}\b"
        r"|gh[pousr]_[A-Za-z0-9]{36,}|xox[abprs]-[A-Za-z0-9\-]{10,}|AIza[0-9A-Za-z_\-]{35}"
        r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})",
    ),
    Rule("secret", r"(?P<keep>\b(?i:bearer)\s+)[A-Za-z0-9_\-.~+/]{16,}=*"),
    Rule(
        "secret",
        r"(?P<keep>\b(?i:(?:[a-z0-9]+[_\-])*(?:apikey|key|token|secret|password|passwd)s?)"
        r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[A-Za-z0-9_\-./+=]{16,})",
        _accept_if(_high_entropy),
    ),
    Rule("email", rf"[\w.%+\-]+[@＠]{_DOMAIN}"),
    Rule("ip_address", rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b"),
    Rule(
        "ip_address",
        rf"(?:\b(?:{_HEX}:){{7}}{_HEX}\b|\b(?:{_HEX}:){{1,6}}(?::{_HEX}){{1,6}}\b"
        rf"|\b(?:{_HEX}:){{1,7}}:\B|\B::(?:{_HEX}:){{0,6}}{_HEX}\b)",
        _accept_if(_ipv6_valid),
    ),
    # Cards before phones: a 16-digit card must not be half-read as a phone number.
    Rule("credit_card", r"\b\d(?:[ \-]?\d){12,18}\b", _card_span),
    Rule(
        "phone",
        rf"(?:\B[+＋]\d{{1,3}}(?:{_SEP}?\(\d{{1,4}}\))?(?:{_SEP}?\d{{1,5}}){{1,6}}\b"  # +44 20 7946 0958
        rf"|\B\(\d{{3}}\){_SEP}?\d{{3}}{_SEP}\d{{4}}\b"  # (415) 555-0101
        rf"|\b\d{{3}}[.\-－]\d{{3}}[.\-－]\d{{4}}\b"  # 415-555-0101
        r"|\b[0０][1-9１-９](?:[ .]\d{2}){4}\b"  # 01 23 45 67 89
        rf"|\b[0０]\d{{1,4}}{_SEP}\d{{3,4}}{_SEP}?\d{{3,4}}\b)",  # 020 7946 0958, 090-1234-5678
        _accept_if(_phone_plausible),
    ),
)
"""In application order; every kind's rules are applied to the output of the rules before them."""


def rules_for(config: RedactionConfig) -> tuple[Rule, ...]:
    """The detectors of the kinds `config` redacts, in the order they run."""
    return tuple(rule for rule in _RULES if rule.kind in config.kinds)

"""Reading one span's attributes the way every dialect needs: typed values that tolerate what real exporters send
(ints as strings, JSON strings or already-decoded structures), flattened `prefix.{i}.field` groups, and a record
of which keys were consumed and what was wrong with them.

Malformed values never raise: the reader keeps what it can and files a warning that ends up in the trace's
metadata (`import_warnings`), so a bad attribute costs one field, never the span.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from tracewatch.importers._spans import AttributeValue

MISSING: Any = object()
"""Returned by `AttributeReader.decoded` when the key is absent (None is a legitimate decoded JSON value)."""


class AttributeReader:
    """Typed access to one attribute mapping that remembers the keys it used and the problems it met."""

    __slots__ = ("attributes", "used", "warnings")

    def __init__(self, attributes: dict[str, AttributeValue]) -> None:
        self.attributes = attributes
        self.used: set[str] = set()
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def has(self, key: str) -> bool:
        return key in self.attributes

    def text(self, key: str) -> str | None:
        """The value as a string; scalars of another type are converted (with a warning) rather than lost."""
        attributes = self.attributes
        if key not in attributes:
            return None
        self.used.add(key)
        value = attributes[key]
        # Read for every span, many times: the common case (a string) without the call.
        return value if type(value) is str else self.as_text(key, value)

    def as_text(self, key: str, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bytes):
            self.warn(f"{key}: expected a string, got bytes; decoded as UTF-8")
            return value.decode("utf-8", errors="replace")
        self.warn(f"{key}: expected a string, got {type(value).__name__}; kept as text")
        return to_json_text(value) if isinstance(value, (list, tuple, dict)) else str(value)

    def integer(self, key: str) -> int | None:
        """A count: ints, integral floats and numeric strings (OTLP JSON sends int64 as strings) are accepted."""
        attributes = self.attributes
        if key not in attributes:
            return None
        self.used.add(key)
        value = attributes[key]
        return value if type(value) is int else self.as_integer(key, value)

    def as_integer(self, key: str, value: Any) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        self.warn(f"{key}: expected an integer, got {value!r:.80}; left unknown")
        return None

    def number(self, key: str) -> float | None:
        """A float (cost, score); numeric strings are accepted, anything else is a warning and unknown."""
        if key not in self.attributes:
            return None
        self.used.add(key)
        return self.as_number(key, self.attributes[key])

    def as_number(self, key: str, value: Any) -> float | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        self.warn(f"{key}: expected a number, got {value!r:.80}; left unknown")
        return None

    def decoded(self, key: str, *, text_allowed: bool = False) -> Any:
        """A value that may be a JSON string or an already-structured value; MISSING when absent.

        A string that is not valid JSON is returned as it is, with a warning (the caller keeps the text), or
        silently when `text_allowed`: for values whose conventions allow plain text as well as JSON (a tool
        call's arguments and result, a decorated function's output), where a warning would flag healthy spans.
        """
        if key not in self.attributes:
            return MISSING
        self.used.add(key)
        value = self.attributes[key]
        if text_allowed and isinstance(value, str):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError:
                return value
        return self.as_decoded(key, value)

    def as_decoded(self, key: str, value: Any) -> Any:
        if isinstance(value, (str, bytes)):
            try:
                return orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                self.warn(f"{key}: not valid JSON ({exc}); kept as text")
                return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
        return value

    def indexed(self, prefixes: tuple[str, ...]) -> dict[str, dict[int, dict[str, Any]]]:
        """Groups flattened `{prefix}{i}.{field}` keys by prefix and index, in one pass over the keys.

        Every prefix ends with a dot. A structured value under the bare prefix (a list, as Phoenix's span frames
        hold `llm.input_messages`) is flattened into the same shape. Keys whose index is not a number
        (`gen_ai.prompt.prompt_filter_results`) are not consumed and stay for metadata.
        """
        groups: dict[str, dict[int, dict[str, Any]]] = {prefix: {} for prefix in prefixes}
        for prefix in prefixes:
            bare = prefix[:-1]
            if bare in self.attributes:
                self._group_structured(bare, groups[prefix])
        for key, value in self.attributes.items():
            if not key.startswith(prefixes):
                continue
            for prefix in prefixes:  # a plain loop: a generator here costs more than the scan itself
                if key.startswith(prefix):
                    break
            index, _, suffix = key[len(prefix) :].partition(".")
            if not (index.isascii() and index.isdigit()):  # "²".isdigit(), but int() refuses it
                continue
            self.used.add(key)
            groups[prefix].setdefault(int(index), {})[suffix] = value
        return groups

    def _group_structured(self, key: str, into: dict[int, dict[str, Any]]) -> None:
        value = self.decoded(key)
        if isinstance(value, str):
            return  # not JSON: already warned, and a string has no items to group
        if not isinstance(value, (list, tuple)):
            self.warn(f"{key}: expected a list, got {type(value).__name__}; ignored")
            return
        for index, item in enumerate(value):
            if isinstance(item, dict):
                into[index] = flatten(item)
            elif isinstance(item, str):
                into[index] = {"": item}  # a list of plain strings (`llm.prompts` of older OpenInference)
            else:
                self.warn(f"{key}.{index}: expected an object, got {type(item).__name__}; ignored")


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts and lists of dicts as dotted keys (`message.contents.0.message_content.text`), the flattened
    form OTLP exporters use, so structured and flattened sources share one parser."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(flatten(item, f"{name}."))
        elif isinstance(item, (list, tuple)) and item and all(isinstance(i, dict) for i in item):
            for index, element in enumerate(item):
                out.update(flatten(element, f"{name}.{index}."))
        else:
            out[name] = item
    return out


def to_json_text(value: Any) -> str:
    """Compact JSON for a structured value (tool calls, non-text parts); bytes and other odd leaves as strings."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        # orjson refuses integers beyond 64 bits; the standard library writes them (rare, so its speed is fine).
        return json.dumps(value, default=str, separators=(",", ":"), ensure_ascii=False)


def sub_indexed(fields: dict[str, Any], prefix: str) -> dict[int, dict[str, Any]]:
    """The `{prefix}{j}.{field}` entries of one group (a message's contents or tool calls), by index."""
    out: dict[int, dict[str, Any]] = {}
    for key, value in fields.items():
        if key.startswith(prefix):
            index, _, suffix = key[len(prefix) :].partition(".")
            if index.isascii() and index.isdigit():
                out.setdefault(int(index), {})[suffix] = value
    return out

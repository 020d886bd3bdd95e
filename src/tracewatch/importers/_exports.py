"""What the vendor-export readers (Langfuse, Opik, Phoenix) share: the result they hand back with everything
accounted for, decoding of export files (gzip, Parquet, CSV, JSON, JSON lines), timestamps, and a model call's
JSON payload turned into text or messages.

A vendor export is files somebody else wrote; any of them can be truncated, half-uploaded or not what its name
says. A reader therefore never raises on bad data: a file it cannot use and a record it cannot map become a
`Rejection` naming the object, the record and what is wrong, and the run goes on.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import zlib
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

import orjson
import polars as pl

from tracewatch.importers._attrs import AttributeReader, to_json_text
from tracewatch.importers._messages import message_list
from tracewatch.importers._spans import ChatMessage, SpanFacts

R = TypeVar("R")

FileFormat = Literal["parquet", "csv", "json", "jsonl"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """One object, or one record inside it, that was not imported, and why (for a person to act on)."""

    key: str
    reason: str
    record_id: str | None = None
    """None when the whole object is meant; else the id of the record within it."""


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """A score for a trace this read does not hold, for the late-feedback input (docs/trace-schema.md, "Late
    feedback"): the trace was, or will be, imported by another run, and the nightly attaches it by id."""

    trace_id: str
    name: str
    value: float
    source: str
    created_at: dt.datetime | None
    """None when the export states no time; the import run then uses the export run's upload time."""


@dataclass(slots=True)
class ExportRead(Generic[R]):
    """What a reader made of one export location, with every object and record accounted for.

    Objects: each listed object is read (`objects_read`), rejected, or skipped (not data of this format, or
    data not ready yet, such as a Langfuse run whose manifest has not been written); a rejected object may
    also be one a manifest names that the store lacks. Records: each record read from a read object is
    returned, merged into another, dropped as a duplicate, or rejected with its `record_id`.
    """

    records: list[R] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: list[Rejection] = field(default_factory=list)
    objects_listed: int = 0
    objects_read: int = 0
    records_read: int = 0
    duplicates_dropped: int = 0
    merged: int = 0
    """Records read that became part of another record (a Langfuse score attached to its trace) or a late
    feedback event (one in `feedback`)."""
    feedback: list[FeedbackEvent] = field(default_factory=list)
    """Scores of traces not in this read, for the late-feedback input rather than a trace row."""
    notes: list[str] = field(default_factory=list)
    """Facts about the read worth showing a person (a unit inferred, a dataset's name), one sentence each."""

    @property
    def rejected_objects(self) -> list[Rejection]:
        return [r for r in self.rejected if r.record_id is None]

    @property
    def rejected_records(self) -> list[Rejection]:
        return [r for r in self.rejected if r.record_id is not None]

    def reject(self, key: str, reason: str, record_id: str | None = None) -> None:
        self.rejected.append(Rejection(key, reason, record_id))

    def skip(self, key: str, reason: str) -> None:
        self.skipped.append(Rejection(key, reason))


class ExportFileError(ValueError):
    """An export object that cannot be decoded; the message says what is wrong with it, not where it is."""


def decompress(data: bytes, compressed: bool) -> bytes:
    """The bytes of a possibly gzip-compressed object; a truncated or corrupt stream is an `ExportFileError`."""
    if not compressed:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise ExportFileError(f"not a complete gzip stream (truncated or corrupt): {exc}") from None


def format_of(name: str) -> tuple[FileFormat | None, bool]:
    """The format and gzip flag an object's name states (`x.jsonl.gz` -> jsonl, compressed)."""
    lowered = name.lower()
    compressed = lowered.endswith(".gz")
    stem = lowered.removesuffix(".gz")
    for fmt in ("parquet", "csv", "jsonl", "json"):
        if stem.endswith("." + fmt):
            return fmt, compressed  # type: ignore[return-value]
    return None, compressed


def read_rows(data: bytes, fmt: FileFormat) -> list[dict[str, Any]]:
    """The rows of one table file as dicts.

    Parquet and CSV go through polars (CSV with every column as text, so values are parsed field by field with
    the rules the vendor documents rather than guessed per file). JSON and JSON lines are parsed row by row with
    orjson: their objects (`metadata`, usage maps) have per-row keys, which a columnar reader would widen into
    one struct with every key of every row and would refuse when two rows disagree on a type.
    """
    try:
        if fmt == "parquet":
            return pl.read_parquet(io.BytesIO(data)).to_dicts()
        if fmt == "csv":
            if not data.strip():
                return []
            return pl.read_csv(io.BytesIO(data), infer_schema=False).to_dicts()
    except Exception as exc:  # polars raises several unrelated types for a file that is not what it says
        raise ExportFileError(f"not a readable {fmt} file: {type(exc).__name__}: {exc}") from None
    if fmt == "json":
        value = _json(data, "the file")
        if not isinstance(value, list):
            raise ExportFileError(f"expected a JSON array of rows, got a JSON {type(value).__name__}")
        rows = value
    else:
        rows = [_json(line, f"line {n}") for n, line in enumerate(data.splitlines(), 1) if line.strip()]
    bad = next((i for i, row in enumerate(rows) if not isinstance(row, dict)), None)
    if bad is not None:
        raise ExportFileError(f"row {bad + 1} is a JSON {type(rows[bad]).__name__}, expected an object")
    return rows


def _json(data: bytes, where: str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ExportFileError(f"{where} is not valid JSON: {exc}") from None


def timestamp_ns(value: Any) -> int | None:
    """Nanoseconds since the epoch from a datetime or a timestamp string; naive values are UTC (every export
    read here writes UTC). Unparseable values are None, which the caller reports."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        delta: dt.timedelta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    return None


def is_newer(row: dict[str, Any], than: dict[str, Any], column: str = "updated_at") -> bool:
    """Whether `row` was updated after `than` (copies of one record in overlapping export windows)."""
    return (timestamp_ns(row.get(column)) or 0) > (timestamp_ns(than.get(column)) or 0)


def as_mapping(value: Any) -> dict[str, Any]:
    """A map however the export wrote it: an object, a JSON-encoded object (CSV), or Parquet's list of
    `{key, value}` entries (ClickHouse maps). Anything else is empty."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and all(isinstance(e, dict) and set(e) == {"key", "value"} for e in value):
        return {str(e["key"]): e["value"] for e in value}
    return {}


def as_text_list(value: Any) -> list[str] | None:
    """A list of strings (tags), also from its JSON encoding in CSV; None when there is none."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return [value]
    if isinstance(value, list):
        items = [str(v) for v in value if v is not None]
        return items or None
    return None


def as_number(value: Any) -> float | None:
    """A number from a JSON number or its text (CSV); anything else is None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def as_count(value: Any) -> int | None:
    number = as_number(value)
    return int(number) if number is not None and number >= 0 and number.is_integer() else None


def first_count(values: dict[str, int | None], *names: str) -> int | None:
    """The first of `names` with a count in a usage map (vendors name the same count differently)."""
    return next((values[n] for n in names if values.get(n) is not None), None)


def as_flag(value: Any) -> bool | None:
    """A boolean from JSON, Parquet (bool or 0/1) or CSV text (`true` / `false`)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    return None


def text_or_none(value: Any) -> str | None:
    """A string field where the export writes '' for "not set" (Langfuse's enriched export does)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text or None


@dataclass(slots=True)
class Payload:
    """A model call's or a function's input or output, read as messages when it is a conversation, else text."""

    text: str | None = None
    messages: list[ChatMessage] | None = None


def read_payload(value: Any, where: str, reader: AttributeReader) -> Payload:
    """Turn a vendor's input/output payload into text or messages.

    Recognised conversation shapes: a list of `{role, content}` messages, an object with `messages` (an SDK's
    recorded request), an OpenAI response with `choices[].message`, or one message object. An object holding
    one string value (a traced function's single argument or return value) is that string; any other
    structure is kept as compact JSON text, so nothing is lost. A string that is not JSON is plain text.
    """
    if value is None or value == "":
        return Payload()
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped.startswith(("[", "{", '"')):
            return Payload(text=value)
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return Payload(text=value)
        if isinstance(value, str):
            return Payload(text=value)
    messages = _conversation(value)
    if messages is not None:
        return Payload(messages=message_list(messages, where, reader))
    if isinstance(value, dict):
        strings = [v for v in value.values() if isinstance(v, str)]
        if len(value) == 1 and len(strings) == 1:
            return Payload(text=strings[0])
    return Payload(text=to_json_text(value))


def set_payloads(fact: SpanFacts, input_value: Any, output_value: Any, reader: AttributeReader) -> None:
    """A fact's input and output from a vendor's payloads. A model call keeps a conversation as messages; for
    anything else (a chat function, a trace) a conversation becomes its last message's content, which is what
    was asked or answered, so the trace's input and output read as text."""
    for side, value in (("input", input_value), ("output", output_value)):
        payload = read_payload(value, side, reader)
        if payload.messages is not None and fact.role == "llm":
            setattr(fact, f"{side}_messages", payload.messages)
        elif payload.messages:
            setattr(fact, f"{side}_text", payload.messages[-1].content)
        else:
            setattr(fact, f"{side}_text", payload.text)


def _conversation(value: Any) -> list[Any] | None:
    if isinstance(value, list) and value and all(_is_message(m) for m in value):
        return value
    if isinstance(value, dict):
        if isinstance(value.get("messages"), list) and all(_is_message(m) for m in value["messages"]):
            return list(value["messages"])
        choices = value.get("choices")
        if isinstance(choices, list) and choices and all(isinstance(c, dict) for c in choices):
            found = [c.get("message") for c in choices]
            if all(_is_message(m) for m in found):
                return found
        if _is_message(value):
            return [value]
    return None


def _is_message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("role"), str)
        and ("content" in value or "parts" in value or "tool_calls" in value)
    )

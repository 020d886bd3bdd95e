"""What decoding one OTLP object yields, shared by the JSON and protobuf decoders so both report alike.

Nothing is dropped silently: every span or log record either comes out decoded or as a `Rejected` with a reason a
person can act on, and an object that cannot be read at all is one `Rejected` of scope `object`.

Not kept, because nothing downstream reads them: span links, trace state, flags, dropped-item counts, the scope's
version and schema URLs, and a log record's severity and resource. Each resource's attribute dict is shared by the
spans of that resource (no copies): treat `Span.resource` as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from tracewatch.importers._spans import Span, SpanEvent, SpanStatus

RejectedScope = Literal["object", "request", "span", "log_record"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """Something that could not be decoded: a whole object, one request of a multi-request file, or one span
    or log record. `where` locates it inside its object (e.g. `line 2 resourceSpans[0].scopeSpans[1].spans[4]`,
    empty for the object itself); `raw` holds a rejected span's or record's own encoding (JSON or protobuf
    bytes) so quarantine can keep it."""

    scope: RejectedScope
    reason: str
    where: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    raw: bytes | None = None


@dataclass(slots=True)
class DecodedTraces:
    """The spans of one object, how many export requests it held (`empty_requests` of them had no span), and
    what was rejected. A span re-sent by a Collector retry is decoded twice: de-duplication is assembly's job."""

    spans: list[Span] = field(default_factory=list)
    requests: int = 0
    empty_requests: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def spans_seen(self) -> int:
        """Every span the object held: decoded plus rejected one by one (an undecodable object counts none)."""
        return len(self.spans) + sum(1 for r in self.rejected if r.scope == "span")


class LogEvent(NamedTuple):
    """A log record joined to its trace (and span, when the record names one) as the span event it stands for."""

    trace_id: str
    span_id: str | None
    event: SpanEvent


@dataclass(slots=True)
class DecodedLogs:
    """The log records of one object as `LogEvent`s, the requests it held, and what was rejected."""

    records: list[LogEvent] = field(default_factory=list)
    requests: int = 0
    empty_requests: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def records_seen(self) -> int:
        """Every log record the object held: decoded plus rejected one by one."""
        return len(self.records) + sum(1 for r in self.rejected if r.scope == "log_record")


class RecordError(ValueError):
    """One span or log record breaks the OTLP contract; the message is the human reason for its `Rejected`."""


class RequestError(ValueError):
    """A whole request (an object, a line, a frame) cannot be read; the message says what is wrong with it."""


def shape_reason(exc: Exception, encoding: str) -> str:
    """The reason for a record or block that raised `exc`: our own message, or the shape problem it hit."""
    if isinstance(exc, RecordError):
        return str(exc)
    return f"does not follow the OTLP {encoding} shape ({type(exc).__name__}: {exc})"


TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8

STATUS_BY_CODE: tuple[SpanStatus, ...] = ("unset", "ok", "error")
"""OTLP `Status.StatusCode` 0, 1, 2 in tracewatch's words."""


def status_of(code: int) -> SpanStatus:
    """The status for an OTLP status code, or a `RecordError` naming the codes OTLP defines."""
    if 0 <= code < len(STATUS_BY_CODE):
        return STATUS_BY_CODE[code]
    raise RecordError(f"status code {code} is not one of 0 (unset), 1 (ok), 2 (error)")


def check_id_length(what: str, raw: bytes, expected: int) -> str:
    """`raw` as lower-case hex when it has the `expected` number of bytes and is not all zeros (OTLP: invalid)."""
    if len(raw) != expected:
        raise RecordError(f"{what} has {len(raw)} bytes, expected {expected}")
    if raw == bytes(expected):
        raise RecordError(f"{what} is all zeros, which OTLP defines as invalid")
    return raw.hex()

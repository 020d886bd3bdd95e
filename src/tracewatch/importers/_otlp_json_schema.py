"""The Arrow schema of an OTLP/JSON `ExportTraceServiceRequest`, for `pyarrow.json`'s strict reading.

Every field of the trace messages is named, in OTLP JSON's lowerCamelCase, so that the reader (told to fail on
unexpected fields) fails exactly where the document holds something this schema cannot represent: a snake_case or
legacy key, arrays or key-value lists nested deeper than one level, an int64 written as a JSON number, an enum
written as its name. Fields today's decoder ignores (trace state, flags, links, dropped counts, schema URLs, the
scope's version) are named too, with their JSON types, so that ordinary documents read whole.
https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding
"""

from __future__ import annotations

import pyarrow as pa

VALUE_FIELDS = (
    "stringValue",
    "boolValue",
    "intValue",
    "doubleValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
)
"""The `AnyValue` fields in `_span_columns.VALUE_KINDS` order."""

_SCALAR_FIELDS = [
    ("stringValue", pa.string()),
    ("boolValue", pa.bool_()),
    ("intValue", pa.string()),  # int64: a decimal string in OTLP JSON (a JSON number fails the read)
    ("doubleValue", pa.float64()),
    ("bytesValue", pa.string()),  # base64
]
_SCALAR = pa.struct(_SCALAR_FIELDS)
_ANY_VALUE = pa.struct(
    [
        *_SCALAR_FIELDS[:4],
        ("arrayValue", pa.struct([("values", pa.list_(_SCALAR))])),
        (
            "kvlistValue",
            pa.struct([("values", pa.list_(pa.struct([("key", pa.string()), ("value", _SCALAR)])))]),
        ),
        _SCALAR_FIELDS[4],
    ]
)
_KEY_VALUES = pa.list_(pa.struct([("key", pa.string()), ("value", _ANY_VALUE)]))
_COUNT = pa.int64()
_EVENT = pa.struct(
    [
        ("timeUnixNano", pa.string()),
        ("name", pa.string()),
        ("attributes", _KEY_VALUES),
        ("droppedAttributesCount", _COUNT),
    ]
)
_LINK = pa.struct(
    [
        ("traceId", pa.string()),
        ("spanId", pa.string()),
        ("traceState", pa.string()),
        ("attributes", _KEY_VALUES),
        ("droppedAttributesCount", _COUNT),
        ("flags", pa.int64()),
    ]
)
_SPAN = pa.struct(
    [
        ("traceId", pa.string()),
        ("spanId", pa.string()),
        ("traceState", pa.string()),
        ("parentSpanId", pa.string()),
        ("flags", pa.int64()),
        ("name", pa.string()),
        ("kind", pa.int64()),  # an enum: its number (a name fails the read)
        ("startTimeUnixNano", pa.string()),
        ("endTimeUnixNano", pa.string()),
        ("attributes", _KEY_VALUES),
        ("droppedAttributesCount", _COUNT),
        ("events", pa.list_(_EVENT)),
        ("droppedEventsCount", _COUNT),
        ("links", pa.list_(_LINK)),
        ("droppedLinksCount", _COUNT),
        ("status", pa.struct([("message", pa.string()), ("code", pa.int64())])),
    ]
)
_SCOPE = pa.struct(
    [
        ("name", pa.string()),
        ("version", pa.string()),
        ("attributes", _KEY_VALUES),
        ("droppedAttributesCount", _COUNT),
    ]
)
REQUEST_SCHEMA = pa.schema(
    [
        (
            "resourceSpans",
            pa.list_(
                pa.struct(
                    [
                        (
                            "resource",
                            pa.struct([("attributes", _KEY_VALUES), ("droppedAttributesCount", _COUNT)]),
                        ),
                        (
                            "scopeSpans",
                            pa.list_(
                                pa.struct(
                                    [
                                        ("scope", _SCOPE),
                                        ("spans", pa.list_(_SPAN)),
                                        ("schemaUrl", pa.string()),
                                    ]
                                )
                            ),
                        ),
                        ("schemaUrl", pa.string()),
                    ]
                )
            ),
        )
    ]
)
"""One request document: one row."""

"""The rare `AnyValue` kinds of OTLP/JSON for `_otlp_json_columns`, decoded by today's own functions so that they
cannot read otherwise: base64 `bytesValue`s, and `arrayValue`s and `kvlistValue`s, which are kept as their
`AnyValue`'s protobuf bytes (the `nested_value` column, as the protobuf decoder keeps them)."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tracewatch.importers._otlp_decoded import RecordError
from tracewatch.importers._otlp_json import _base64_bytes, any_value
from tracewatch.importers._spans import AttributeValue

_INT64 = (-(2**63), 2**63 - 1)


def _present(value: Any) -> Any:
    """A value as Arrow's JSON reader gives it, with the fields the document did not have removed again (the
    reader gives every schema field, null when missing; the documents that reach here hold no JSON nulls where a
    null and a missing field read differently)."""
    if isinstance(value, dict):
        return {k: _present(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_present(v) for v in value]
    return value


def base64_values(values: list[str]) -> list[bytes]:
    """`bytesValue`s as today's decoder reads them; `RecordError` for one it would reject."""
    return [_base64_bytes(v, "bytesValue") for v in values]


def any_value_bytes(value: dict[str, Any]) -> bytes:
    """One `arrayValue` or `kvlistValue` (`{name: the reader's value}`) decoded as today's decoder decodes it,
    as a serialized `AnyValue`; `RecordError` (or the shape errors today's decoder raises) where it would
    reject the span."""
    message = AnyValue()
    _fill(message, any_value(_present(value)))
    serialized: bytes = message.SerializeToString()
    return serialized


def _fill(message: AnyValue, value: AttributeValue) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise RecordError("an intValue outside int64")
        message.int_value = value
    elif isinstance(value, float):
        message.double_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, bytes):
        message.bytes_value = value
    elif isinstance(value, list):
        array = message.array_value
        array.SetInParent()
        for item in value:
            _fill(array.values.add(), item)
    else:
        kvlist = message.kvlist_value
        kvlist.SetInParent()
        for key, item in value.items():
            kv = kvlist.values.add()
            kv.key = key
            _fill(kv.value, item)

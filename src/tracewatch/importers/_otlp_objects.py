"""OTLP objects as the OpenTelemetry Collector writes them: what a key says, and its spans or log records.

Two Collector exporters are supported:

- `awss3exporter` (https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/awss3exporter):
  one export request per object, keyed `{s3_prefix}/{s3_partition_format}/{file_prefix}{traces|logs}_{unique}
  .{json|binpb}[.gz|.zst]`; the partition format defaults to `year=%Y/month=%m/day=%d/hour=%H/minute=%M` and is the
  upload time, not span time (so one trace's spans can sit in several objects). `%Y %m %d %H %M %S` are the
  directives supported in a custom `s3_partition_format`; the partition time zone is the Collector's
  `s3_partition_timezone` (its default is the host's local zone, so teams should set UTC; see docs/importing.md).
  `s3_base_prefix` and `resource_attrs_to_s3` only change the prefix, which is taken as is.
- `fileexporter` (https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/fileexporter):
  JSON lines (one request per line), or each request preceded by its length as a 4-byte big-endian unsigned
  integer (the `proto` format, and `json` with `compression` in the legacy mode, where each framed request is
  zstd-compressed on its own); with the native-compression feature gate, the whole file is one zstd stream around
  either form. Which form a file has is read from its bytes.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TypeVar

import orjson
import zstandard

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.importers import _otlp_json, _otlp_proto
from tracewatch.importers._otlp_decoded import (
    DecodedLogs,
    DecodedTraces,
    Rejected,
    RejectedScope,
    RequestError,
)
from tracewatch.store import collector_paused

Signal = Literal["traces", "logs"]
Encoding = Literal["json", "proto"]
Compression = Literal["none", "gzip", "zstd"]
Framing = Literal["single", "fileexporter"]

DEFAULT_PARTITION_FORMAT = "year=%Y/month=%m/day=%d/hour=%H/minute=%M"
"""The awss3exporter's default `s3_partition_format`."""

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_SIGNALS: dict[str, Signal] = {"traces": "traces", "logs": "logs"}
_EXTENSIONS: dict[str, Encoding] = {"json": "json", "binpb": "proto"}
_COMPRESSIONS: dict[str | None, Compression] = {None: "none", "gz": "gzip", "zst": "zstd"}
_DIRECTIVES = {"Y": r"\d{4}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}", "S": r"\d{2}"}
_FRAME_HEADER = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class OtlpObject:
    """One object of OTLP data: its key, signal, encoding, compression and how requests are laid out in it.

    `compression` is what the key says (decoding trusts the bytes' magic number instead, see `decompress`);
    `partition` is the upload-time bucket an awss3exporter key names (UTC), None for fileexporter files.
    """

    key: str
    signal: Signal
    encoding: Encoding
    compression: Compression
    framing: Framing = "single"
    partition: dt.datetime | None = None
    prefix: str = ""
    file_prefix: str = ""
    unique: str = ""


def _partition_pattern(partition_format: str) -> str:
    parts: list[str] = []
    seen: set[str] = set()
    for literal, directive in re.findall(r"([^%]*)(%.|$)", partition_format):
        parts.append(re.escape(literal))
        if directive == "%%":
            parts.append("%")
        elif directive:
            name = directive[1]
            if name not in _DIRECTIVES:
                raise ConfigError(
                    f"s3_partition_format {partition_format!r}: directive {directive} is not supported; "
                    f"supported: {', '.join('%' + d for d in _DIRECTIVES)} and %%"
                )
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{_DIRECTIVES[name]})")
            seen.add(name)
    return "".join(parts)


def key_pattern(partition_format: str = DEFAULT_PARTITION_FORMAT, file_prefix: str = "") -> re.Pattern[str]:
    """The regular expression awss3exporter keys match for these settings (compile once, parse many keys)."""
    return re.compile(
        rf"(?:(?P<prefix>.*)/)?{_partition_pattern(partition_format)}/(?P<file_prefix>{re.escape(file_prefix)})"
        r"(?P<signal>traces|logs|metrics)_(?P<unique>[^/_]+)\.(?P<ext>json|binpb)(?:\.(?P<comp>gz|zst))?"
    )


def parse_s3_exporter_key(
    key: str,
    *,
    pattern: re.Pattern[str] | None = None,
    partition_timezone: dt.tzinfo = dt.UTC,
) -> OtlpObject:
    """What an awss3exporter object key says; `DataContractError` naming the expected layout when it does not fit.

    `pattern` comes from `key_pattern` for a non-default `s3_partition_format` or `file_prefix`; the partition
    time is read in `partition_timezone` (the Collector's `s3_partition_timezone`) and returned in UTC.
    """
    pattern = pattern or _DEFAULT_PATTERN
    found = pattern.fullmatch(key)
    if found is None:
        raise DataContractError(
            f"object key {key!r} is not in the Collector's awss3exporter layout: expected "
            f"{{prefix}}/<partition>/{{file_prefix}}traces_<unique>.json|.binpb (or logs_...), optionally .gz or "
            f".zst, matching {pattern.pattern!r}"
        )
    fields = found.groupdict()
    if fields["signal"] == "metrics":
        raise DataContractError(
            f"object {key!r} holds metrics; tracewatch imports traces and logs objects only"
        )
    try:
        local = dt.datetime(
            int(fields.get("Y") or 1970),
            int(fields.get("m") or 1),
            int(fields.get("d") or 1),
            int(fields.get("H") or 0),
            int(fields.get("M") or 0),
            int(fields.get("S") or 0),
            tzinfo=partition_timezone,
        )
    except ValueError as exc:
        raise DataContractError(f"object key {key!r} names an impossible partition time: {exc}") from None
    return OtlpObject(
        key=key,
        signal=_SIGNALS[fields["signal"]],
        encoding=_EXTENSIONS[fields["ext"]],
        compression=_COMPRESSIONS[fields["comp"]],
        partition=local.astimezone(dt.UTC),
        prefix=fields["prefix"] or "",
        file_prefix=fields["file_prefix"],
        unique=fields["unique"],
    )


_DEFAULT_PATTERN = key_pattern()


def file_exporter_object(key: str, *, signal: Signal, encoding: Encoding) -> OtlpObject:
    """A fileexporter file: its name is free-form, so the signal and the `format` (json, proto) are the
    source's settings; compression and framing are read from the bytes when decoding."""
    return OtlpObject(key=key, signal=signal, encoding=encoding, compression="none", framing="fileexporter")


def _gunzip(data: bytes) -> bytes:
    try:
        return gzip.decompress(data)
    except EOFError:
        raise RequestError("truncated gzip stream: it ends before the end-of-stream marker") from None
    except (OSError, zlib.error) as exc:
        raise RequestError(f"corrupt gzip stream: {exc}") from None


def _unzstd(data: bytes) -> bytes:
    # Frame by frame: the Collector's writer does not always record the content size, and a file may hold
    # several frames back to back.
    out: list[bytes] = []
    decompressor = zstandard.ZstdDecompressor()
    while data:
        frame = decompressor.decompressobj()
        try:
            out.append(frame.decompress(data))
        except zstandard.ZstdError as exc:
            raise RequestError(f"corrupt zstd stream: {exc}") from None
        if not frame.eof:
            raise RequestError("truncated zstd stream: it ends inside a frame")
        data = frame.unused_data
    return b"".join(out)


def decompress(data: bytes) -> bytes:
    """The object's bytes uncompressed, or `RequestError` saying the stream is truncated or corrupt.

    Compression is read from the bytes' magic number, not from the key's suffix: the awss3exporter can store an
    object with a `Content-Encoding` header that an HTTP client may have undone on the way, and the magic numbers
    cannot be mistaken for OTLP (JSON starts with `{`, a protobuf request with 0x0A).
    """
    if data.startswith(_GZIP_MAGIC):
        return _gunzip(data)
    if data.startswith(_ZSTD_MAGIC):
        return _unzstd(data)
    return data


def _frames(data: bytes) -> Iterator[tuple[str, bytes]]:
    offset, number = 0, 0
    while offset < len(data):
        number += 1
        if len(data) - offset < _FRAME_HEADER.size:
            raise RequestError(
                f"truncated file: frame {number} at byte {offset} has no complete 4-byte length"
            )
        (size,) = _FRAME_HEADER.unpack_from(data, offset)
        offset += _FRAME_HEADER.size
        if len(data) - offset < size:
            raise RequestError(
                f"truncated file: frame {number} at byte {offset - 4} says {size} bytes, {len(data) - offset} remain"
            )
        yield f"frame {number} ", data[offset : offset + size]
        offset += size


def _lines(data: bytes) -> Iterator[tuple[str, bytes]]:
    for number, line in enumerate(data.split(b"\n"), start=1):
        if line.strip():
            yield f"line {number} ", line


Decoded = TypeVar("Decoded", DecodedTraces, DecodedLogs)
_Request = Callable[[bytes, Decoded, str], None]


def _json_request(decode: Callable[[object, Decoded, str], None]) -> _Request[Decoded]:
    def parse_and_decode(data: bytes, out: Decoded, label: str) -> None:
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise RequestError(f"not valid OTLP JSON: {exc}") from None
        decode(doc, out, label)

    return parse_and_decode


_DECODERS: dict[tuple[Signal, Encoding], _Request] = {  # type: ignore[type-arg]
    ("traces", "json"): _json_request(_otlp_json.decode_trace_request),
    ("traces", "proto"): _otlp_proto.decode_trace_request,
    ("logs", "json"): _json_request(_otlp_json.decode_log_request),
    ("logs", "proto"): _otlp_proto.decode_log_request,
}


def _decode(obj: OtlpObject, data: bytes, out: Decoded) -> Decoded:
    decode = _DECODERS[(obj.signal, obj.encoding)]
    try:
        data = decompress(data)
    except RequestError as exc:
        out.rejected.append(Rejected("object", str(exc)))
        return out
    if obj.framing == "single":
        try:
            decode(data, out, "")
        except RequestError as exc:
            out.rejected.append(Rejected("object", str(exc)))
        return out
    is_lines = obj.encoding == "json" and data.lstrip()[:1] == b"{"
    requests = _lines(data) if is_lines else _frames(data)
    try:
        # A frame's length can only be trusted up to the first bad one, so framing errors end the file;
        # a request that does not decode (legacy mode compresses each one) is rejected alone.
        for label, request in requests:
            try:
                decode(decompress(request), out, label)
            except RequestError as exc:
                out.rejected.append(Rejected("request", str(exc), label.strip()))
    except RequestError as exc:
        scope: RejectedScope = "request" if out.requests or out.rejected else "object"
        out.rejected.append(Rejected(scope, str(exc)))
    return out


def decode_trace_object(obj: OtlpObject, data: bytes) -> DecodedTraces:
    """Every span of a traces object, with what could not be decoded and why (never an exception for bad data)."""
    if obj.signal != "traces":
        raise ValueError(f"decode_trace_object got {obj.key!r}, a {obj.signal} object; use decode_log_object")
    with collector_paused():  # decoding allocates millions of objects that never form cycles
        return _decode(obj, data, DecodedTraces())


def decode_log_object(obj: OtlpObject, data: bytes) -> DecodedLogs:
    """Every log record of a logs object as a `LogEvent` joined by trace and span id, with what was rejected."""
    if obj.signal != "logs":
        raise ValueError(f"decode_log_object got {obj.key!r}, a {obj.signal} object; use decode_trace_object")
    with collector_paused():
        return _decode(obj, data, DecodedLogs())

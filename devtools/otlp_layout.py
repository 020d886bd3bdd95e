"""Write OTLP requests exactly as the OpenTelemetry Collector leaves them in object storage.

The importer must read what a team's Collector really writes, so the tests, the demo and the benchmark produce
their objects here, byte for byte in the Collector's formats, instead of each inventing its own. Two exporters:

`awss3exporter` (one object per exported batch), checked against opentelemetry-collector-contrib:
- key = `{s3_prefix}/{strftime(s3_partition_format, upload time)}/{file_prefix}{traces|logs}_{unique}.{ext}{comp}`
  (`exporter/awss3exporter/internal/upload/partition.go`, `PartitionKeyBuilder.Build` and `fileName`; the
  expected keys in `partition_test.go`, e.g. `/telemetry/year=2024/month=01/day=24/hour=06/minute=40/
  signal-output-service-01_pod2_fixed.metrics.gz`). The default `s3_partition_format` is
  `year=%Y/month=%m/day=%d/hour=%H/minute=%M`, formatted in `s3_partition_timezone` (README).
- `{unique}` is by default a random integer in [100000000, 999999999) (`randInt`), or a UUIDv7 with
  `unique_key_func_name: uuidv7`; it is new for every upload, so a retried upload is a second object.
- marshaler `otlp_json` -> `.json` (pdata's JSON marshaler), `otlp_proto` -> `.binpb` (pdata's proto marshaler)
  (`exporter/awss3exporter/marshaler.go`, `NewMarshaler`).
- compression `gzip` -> `.gz`, `zstd` -> `.zst`, `none` -> no suffix (`compressionFileExtensions`).

`fileexporter` (one file that grows), checked against `exporter/fileexporter/file_writer.go`:
- `format: json`: one JSON request per line (`exportMessageAsLine`);
- `format: proto`, and JSON with the legacy `compression: zstd`: each (compressed) message preceded by its length
  as a 4-byte big-endian unsigned integer (`exportMessageAsBuffer`).

OTLP JSON is the proto3 JSON mapping with the deviations of https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding:
trace and span ids are hex strings (protobuf's `json_format` writes base64, which a reader would then
misread), enums are integers, keys are lowerCamelCase; 64-bit integers stay decimal strings as in proto3 JSON.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import random
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias
from zoneinfo import ZoneInfo

import zstandard
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk.trace import ReadableSpan

from tracewatch.store import Store

__all__ = [
    "DEFAULT_PARTITION_FORMAT",
    "AwsS3Layout",
    "Compression",
    "FileExporterFormat",
    "Marshaler",
    "OtlpRequest",
    "collector_unique_key",
    "compress",
    "encode_request",
    "fileexporter_bytes",
    "logs_request",
    "otlp_json",
    "trace_request",
    "write_awss3_objects",
    "write_fileexporter_file",
]

OtlpRequest: TypeAlias = ExportTraceServiceRequest | ExportLogsServiceRequest
Marshaler = Literal["otlp_json", "otlp_proto"]
Compression = Literal["none", "gzip", "zstd"]
FileExporterFormat = Literal["json", "proto"]

DEFAULT_PARTITION_FORMAT = "year=%Y/month=%m/day=%d/hour=%H/minute=%M"
"""The awss3exporter's default `s3_partition_format`."""

_EXTENSIONS: dict[Marshaler, str] = {"otlp_json": ".json", "otlp_proto": ".binpb"}
_COMPRESSION_SUFFIXES: dict[Compression, str] = {"none": "", "gzip": ".gz", "zstd": ".zst"}
_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId"})
"""The bytes fields OTLP JSON writes as hex, in every message that has them (Span, Link, LogRecord)."""
_UNIQUE_LOW, _UNIQUE_HIGH = 100_000_000, 999_999_999


@dataclass(frozen=True)
class AwsS3Layout:
    """The awss3exporter settings that decide an object's key and bytes (names as in its YAML config).

    `prefix` is `s3_prefix`, relative to the store root (the store root stands for the bucket, or a prefix in
    it). `timezone` is `s3_partition_timezone`; the Collector's default is its local time, our docs ask for UTC.
    """

    prefix: str = ""
    partition_format: str = DEFAULT_PARTITION_FORMAT
    file_prefix: str = ""
    marshaler: Marshaler = "otlp_json"
    compression: Compression = "none"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.marshaler not in _EXTENSIONS:
            raise ValueError(f"marshaler {self.marshaler!r} is not one of {sorted(_EXTENSIONS)}")
        if self.compression not in _COMPRESSION_SUFFIXES:
            raise ValueError(
                f"compression {self.compression!r} is not one of {sorted(_COMPRESSION_SUFFIXES)}"
            )
        ZoneInfo(self.timezone)  # an unknown zone fails here, not at the first upload

    def key(self, signal: Literal["traces", "logs"], uploaded_at: dt.datetime, unique: str) -> str:
        """The object key the Collector builds for one upload (`PartitionKeyBuilder.Build`)."""
        if uploaded_at.tzinfo is None:
            raise ValueError(f"uploaded_at {uploaded_at!r} has no time zone; pass an aware datetime")
        partition = uploaded_at.astimezone(ZoneInfo(self.timezone)).strftime(self.partition_format)
        suffix = _EXTENSIONS[self.marshaler] + _COMPRESSION_SUFFIXES[self.compression]
        # The Collector joins with "/" as given; store keys never start with "/" nor have empty segments.
        parts = [self.prefix.strip("/"), partition.strip("/"), f"{self.file_prefix}{signal}_{unique}{suffix}"]
        return "/".join(part for part in parts if part)


def collector_unique_key(rng: random.Random | None = None) -> Callable[[], str]:
    """The Collector's default `{unique}` part: a random integer in [100000000, 999999999) per upload.

    Give `rng` a seeded `random.Random` for keys that are the same on every run.
    """
    source = rng or random.Random()
    return lambda: str(source.randrange(_UNIQUE_LOW, _UNIQUE_HIGH))


def trace_request(spans: Sequence[ReadableSpan]) -> ExportTraceServiceRequest:
    """SDK spans as the OTLP request an SDK exporter sends (the SDK's own encoder, so nothing is re-invented)."""
    if not spans:
        raise ValueError("no spans to encode; an exporter never sends an empty batch")
    return encode_spans(spans)


def logs_request(records: Sequence[ReadableLogRecord]) -> ExportLogsServiceRequest:
    """SDK log records (GenAI events) as the OTLP logs request an SDK exporter sends."""
    if not records:
        raise ValueError("no log records to encode; an exporter never sends an empty batch")
    return encode_logs(records)


def otlp_json(request: OtlpRequest) -> bytes:
    """One request in OTLP JSON: proto3 JSON with hex ids and integer enums (see the module docstring)."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    return json.dumps(_hex_ids(document), separators=(",", ":"), ensure_ascii=False).encode()


def compress(data: bytes, compression: Compression) -> bytes:
    """`data` compressed the way the object's suffix says (gzip without a timestamp, so output is stable)."""
    if compression == "none":
        return data
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(f"compression {compression!r} is not one of {sorted(_COMPRESSION_SUFFIXES)}")


def encode_request(request: OtlpRequest, marshaler: Marshaler, compression: Compression = "none") -> bytes:
    """The body of one awss3exporter object for `request`."""
    if marshaler == "otlp_json":
        body = otlp_json(request)
    elif marshaler == "otlp_proto":
        body = request.SerializeToString()
    else:
        raise ValueError(f"marshaler {marshaler!r} is not one of {sorted(_EXTENSIONS)}")
    return compress(body, compression)


def write_awss3_objects(
    store: Store,
    requests: Iterable[OtlpRequest],
    *,
    uploaded_at: dt.datetime,
    layout: AwsS3Layout | None = None,
    unique_key: Callable[[], str] | None = None,
) -> list[str]:
    """Write each request as one awss3exporter object uploaded at `uploaded_at`; return the keys in order.

    Trace requests become `traces_*` objects and logs requests `logs_*` objects in the same folders, as one
    Collector with a traces and a logs pipeline writes them. A key produced twice in one call is an error,
    because the second write would silently replace the first object.
    """
    layout = layout or AwsS3Layout()
    next_unique = unique_key or collector_unique_key()
    keys: list[str] = []
    for request in requests:
        key = layout.key(_signal(request), uploaded_at, next_unique())
        if key in keys:
            raise ValueError(f"two requests got the same key {key!r}; the unique_key function repeats itself")
        store.write_bytes(key, encode_request(request, layout.marshaler, layout.compression))
        keys.append(key)
    return keys


def fileexporter_bytes(
    requests: Iterable[OtlpRequest],
    file_format: FileExporterFormat = "json",
    compression: Literal["none", "zstd"] = "none",
) -> bytes:
    """The contents of a fileexporter output file holding `requests`, in the order they were exported.

    `compression: zstd` is the exporter's default (legacy) mode: every message is compressed on its own and
    framed by its length, JSON included; the newer whole-stream mode (behind a feature gate) is not written.
    """
    if file_format not in ("json", "proto"):
        raise ValueError(f"fileexporter format {file_format!r} is not one of ['json', 'proto']")
    if compression not in ("none", "zstd"):
        raise ValueError(f"fileexporter compression {compression!r} is not one of ['none', 'zstd']")
    parts: list[bytes] = []
    for request in requests:
        message = otlp_json(request) if file_format == "json" else request.SerializeToString()
        message = compress(message, compression)
        if file_format == "json" and compression == "none":
            parts.append(message + b"\n")
        else:
            parts.append(struct.pack(">I", len(message)) + message)
    return b"".join(parts)


def write_fileexporter_file(
    store: Store,
    key: str,
    requests: Iterable[OtlpRequest],
    file_format: FileExporterFormat = "json",
    compression: Literal["none", "zstd"] = "none",
) -> str:
    """Write a fileexporter output file (its `path` is `key` in the store); return the key."""
    data = fileexporter_bytes(requests, file_format, compression)
    if not data:
        raise ValueError(f"no requests to write to {key!r}; the fileexporter writes nothing for no data")
    store.write_bytes(key, data)
    return key


def _signal(request: OtlpRequest) -> Literal["traces", "logs"]:
    if isinstance(request, ExportTraceServiceRequest):
        return "traces"
    if isinstance(request, ExportLogsServiceRequest):
        return "logs"
    raise TypeError(
        f"expected an ExportTraceServiceRequest or ExportLogsServiceRequest, got {type(request).__name__}"
    )


def _hex_ids(value: Any) -> Any:
    """Rewrite every base64 `traceId`/`spanId`/`parentSpanId` from `json_format` as lower-case hex."""
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex()
            if key in _ID_FIELDS and isinstance(item, str)
            else _hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value

"""OTLP objects as the Collector writes them: awss3exporter keys and compression, fileexporter framing.

awss3exporter: `PartitionKeyBuilder` in
https://github.com/open-telemetry/opentelemetry-collector-contrib/blob/main/exporter/awss3exporter/internal/upload/partition.go
(key `{s3_prefix}/{strftime(s3_partition_format)}/{file_prefix}{traces|logs}_{unique}.{json|binpb}[.gz|.zst]`,
default format `year=%Y/month=%m/day=%d/hour=%H/minute=%M`, README). fileexporter: `exportMessageAsLine` and
`exportMessageAsBuffer` in
https://github.com/open-telemetry/opentelemetry-collector-contrib/blob/main/exporter/fileexporter/file_writer.go
(JSON lines; or a 4-byte big-endian length before each message, zstd-compressed one by one in the legacy mode).
"""

from __future__ import annotations

import datetime as dt
import gc
import gzip
from zoneinfo import ZoneInfo

import pytest
import zstandard

from tests.support.otlp_requests import (
    CHILD_ID,
    length_prefixed,
    log_record,
    logs_request,
    otlp_json,
    span_message,
    trace_request,
)
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.importers._otlp_objects import (
    OtlpObject,
    decode_log_object,
    decode_trace_object,
    file_exporter_object,
    key_pattern,
    parse_s3_exporter_key,
)

PARTITION = "year=2026/month=12/day=06/hour=21/minute=40"
AT = dt.datetime(2026, 12, 6, 21, 40, tzinfo=dt.UTC)
REQUEST = trace_request(span_message(b"\x01" * 8), span_message(b"\x02" * 8))
SPAN_IDS = ["01" * 8, "02" * 8]


@pytest.mark.parametrize(
    ("name", "encoding", "compression"),
    [
        ("traces_123456789.json", "json", "none"),
        ("traces_123456789.json.gz", "json", "gzip"),
        ("traces_123456789.json.zst", "json", "zstd"),
        ("traces_123456789.binpb", "proto", "none"),
        ("traces_123456789.binpb.gz", "proto", "gzip"),
        ("traces_123456789.binpb.zst", "proto", "zstd"),
    ],
)
def test_an_awss3exporter_key_names_encoding_compression_and_partition(
    name: str, encoding: str, compression: str
) -> None:
    obj = parse_s3_exporter_key(f"otel/prod/{PARTITION}/{name}")
    assert obj == OtlpObject(
        key=f"otel/prod/{PARTITION}/{name}",
        signal="traces",
        encoding=encoding,  # type: ignore[arg-type]
        compression=compression,  # type: ignore[arg-type]
        partition=AT,
        prefix="otel/prod",
        unique="123456789",
    )


def test_logs_keys_without_a_prefix_and_with_a_uuidv7_unique_part() -> None:
    obj = parse_s3_exporter_key(f"{PARTITION}/logs_01938f3e-7c1a-7d2e-9a4b-5c6d7e8f9a0b.json")
    assert (obj.signal, obj.prefix, obj.unique) == ("logs", "", "01938f3e-7c1a-7d2e-9a4b-5c6d7e8f9a0b")


def test_a_file_prefix_may_itself_contain_the_signal_name() -> None:
    pattern = key_pattern(file_prefix="my_traces_")
    obj = parse_s3_exporter_key(f"p/{PARTITION}/my_traces_traces_42.json", pattern=pattern)
    assert (obj.file_prefix, obj.signal, obj.unique) == ("my_traces_", "traces", "42")


def test_a_custom_partition_format_and_time_zone() -> None:
    """`s3_partition_format: '%Y/%m/%d/%H/%M'` (the README's example), written in Europe/Paris local time."""
    obj = parse_s3_exporter_key(
        "metric/2026/07/01/00/05/traces_5.binpb",
        pattern=key_pattern("%Y/%m/%d/%H/%M"),
        partition_timezone=ZoneInfo("Europe/Paris"),
    )
    assert obj.partition == dt.datetime(2026, 6, 30, 22, 5, tzinfo=dt.UTC)
    assert obj.prefix == "metric"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (f"p/{PARTITION}/traces_1.parquet", "is not in the Collector's awss3exporter layout"),
        ("p/year=2026/month=12/day=06/traces_1.json", "is not in the Collector's awss3exporter layout"),
        (f"p/{PARTITION}/traces_1_2.json", "is not in the Collector's awss3exporter layout"),
        (f"p/{PARTITION}/metrics_1.json", "holds metrics; tracewatch imports traces and logs objects only"),
        ("p/year=2026/month=13/day=06/hour=21/minute=40/traces_1.json", "names an impossible partition time"),
    ],
)
def test_a_key_outside_the_layout_is_refused_saying_what_is_expected(key: str, message: str) -> None:
    with pytest.raises(DataContractError, match=message):
        parse_s3_exporter_key(key)


def test_an_unsupported_partition_directive_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="directive %j is not supported; supported: %Y, %m, %d, %H, %M, %S"):
        key_pattern("%Y/%j")


def compressed(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data)
    return zstandard.ZstdCompressor(write_content_size=False).compress(data)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
@pytest.mark.parametrize("encoding", ["json", "binpb"])
def test_compressed_objects_decode(compression: str, encoding: str) -> None:
    body = otlp_json(REQUEST) if encoding == "json" else REQUEST.SerializeToString()
    suffix = {"gzip": "gz", "zstd": "zst"}[compression]
    obj = parse_s3_exporter_key(f"p/{PARTITION}/traces_1.{encoding}.{suffix}")
    decoded = decode_trace_object(obj, compressed(body, compression))
    assert [s.span_id for s in decoded.spans] == SPAN_IDS
    assert decoded.rejected == []


def test_zstd_objects_of_several_frames_decode_whole() -> None:
    body = REQUEST.SerializeToString()
    data = zstandard.ZstdCompressor().compress(body[:100]) + zstandard.ZstdCompressor().compress(body[100:])
    decoded = decode_trace_object(parse_s3_exporter_key(f"{PARTITION}/traces_1.binpb.zst"), data)
    assert [s.span_id for s in decoded.spans] == SPAN_IDS


def test_compression_is_read_from_the_bytes_not_the_key_suffix() -> None:
    """awss3exporter may store objects with `Content-Encoding: gzip`, which an HTTP client can undo on GET."""
    uncompressed = decode_trace_object(
        parse_s3_exporter_key(f"{PARTITION}/traces_1.json.gz"), otlp_json(REQUEST)
    )
    unnamed = decode_trace_object(
        parse_s3_exporter_key(f"{PARTITION}/traces_1.json"), gzip.compress(otlp_json(REQUEST))
    )
    assert [s.span_id for s in uncompressed.spans] == [s.span_id for s in unnamed.spans] == SPAN_IDS


@pytest.mark.parametrize(
    ("suffix", "reason"),
    [
        ("json.gz", "truncated gzip stream: it ends before the end-of-stream marker"),
        ("json.zst", "truncated zstd stream: it ends inside a frame"),
    ],
)
def test_a_truncated_object_is_rejected_whole(suffix: str, reason: str) -> None:
    data = compressed(otlp_json(REQUEST), "gzip" if suffix.endswith("gz") else "zstd")
    obj = parse_s3_exporter_key(f"{PARTITION}/traces_1.{suffix}")
    decoded = decode_trace_object(obj, data[: len(data) // 2])
    assert decoded.spans == []
    [rejected] = decoded.rejected
    assert (rejected.scope, rejected.reason, rejected.where) == ("object", reason, "")


def test_a_corrupt_gzip_object_is_rejected_whole() -> None:
    data = bytearray(gzip.compress(otlp_json(REQUEST)))
    data[20:40] = b"\xff" * 20
    [rejected] = decode_trace_object(
        parse_s3_exporter_key(f"{PARTITION}/traces_1.json.gz"), bytes(data)
    ).rejected
    assert rejected.reason.startswith("corrupt gzip stream: ")


def fileexporter(encoding: str = "proto", signal: str = "traces") -> OtlpObject:
    return file_exporter_object("collector/out.data", signal=signal, encoding=encoding)  # type: ignore[arg-type]


def test_fileexporter_json_lines_one_request_per_line() -> None:
    data = otlp_json(REQUEST) + b"\n" + otlp_json(trace_request()) + b"\n" + otlp_json(REQUEST) + b"\n"
    decoded = decode_trace_object(fileexporter("json"), data)
    assert [s.span_id for s in decoded.spans] == SPAN_IDS * 2
    assert (decoded.requests, decoded.empty_requests, decoded.rejected) == (3, 1, [])


def test_fileexporter_json_lines_with_a_bad_line_reject_that_line_only() -> None:
    data = otlp_json(REQUEST) + b"\n{not json\n" + otlp_json(REQUEST)
    decoded = decode_trace_object(fileexporter("json"), data)
    assert len(decoded.spans) == 4
    [rejected] = decoded.rejected
    assert (rejected.scope, rejected.where) == ("request", "line 2")
    assert rejected.reason.startswith("not valid OTLP JSON: ")


def test_fileexporter_proto_is_length_prefixed() -> None:
    body = REQUEST.SerializeToString()
    data = length_prefixed(body, trace_request().SerializeToString(), body)
    decoded = decode_trace_object(fileexporter(), data)
    assert [s.span_id for s in decoded.spans] == SPAN_IDS * 2
    assert (decoded.requests, decoded.empty_requests) == (3, 1)


def test_fileexporter_legacy_compression_zstd_compresses_each_framed_message() -> None:
    frame = zstandard.ZstdCompressor().compress(otlp_json(REQUEST))
    data = length_prefixed(frame, frame)
    decoded = decode_trace_object(fileexporter("json"), data)
    assert [s.span_id for s in decoded.spans] == SPAN_IDS * 2


def test_a_corrupt_legacy_compressed_frame_is_rejected_alone() -> None:
    frame = zstandard.ZstdCompressor().compress(otlp_json(REQUEST))
    data = length_prefixed(frame, frame[:-8], frame)
    decoded = decode_trace_object(fileexporter("json"), data)
    assert [s.span_id for s in decoded.spans] == SPAN_IDS * 2
    [rejected] = decoded.rejected
    assert (rejected.scope, rejected.where) == ("request", "frame 2")
    assert rejected.reason == "truncated zstd stream: it ends inside a frame"


@pytest.mark.parametrize("encoding", ["json", "proto"])
def test_fileexporter_native_compression_wraps_the_whole_file(encoding: str) -> None:
    if encoding == "json":
        plain = otlp_json(REQUEST) + b"\n" + otlp_json(REQUEST) + b"\n"
    else:
        plain = length_prefixed(REQUEST.SerializeToString(), REQUEST.SerializeToString())
    data = zstandard.ZstdCompressor().compress(plain)
    decoded = decode_trace_object(fileexporter(encoding), data)
    assert [s.span_id for s in decoded.spans] == SPAN_IDS * 2


def test_a_truncated_fileexporter_file_keeps_the_whole_frames_and_rejects_the_rest() -> None:
    body = REQUEST.SerializeToString()
    data = length_prefixed(body, body)[:-10]
    decoded = decode_trace_object(fileexporter(), data)
    assert [s.span_id for s in decoded.spans] == SPAN_IDS
    [rejected] = decoded.rejected
    assert rejected.scope == "request"
    assert rejected.reason == (
        f"truncated file: frame 2 at byte {4 + len(body)} says {len(body)} bytes, {len(body) - 10} remain"
    )


def test_a_fileexporter_file_of_random_bytes_is_rejected_whole() -> None:
    data = b"\x00\x00\xff\xff garbage"
    [rejected] = decode_trace_object(fileexporter(), data).rejected
    assert rejected.scope == "object"
    assert rejected.reason.startswith("truncated file: frame 1 at byte 0 says 65535 bytes")


def test_fileexporter_logs() -> None:
    request = logs_request(log_record(event_name="gen_ai.choice", body={"index": 0}))
    data = length_prefixed(request.SerializeToString())
    decoded = decode_log_object(fileexporter(signal="logs"), data)
    assert [(r.span_id, r.event.name) for r in decoded.records] == [(CHILD_ID.hex(), "gen_ai.choice")]


def test_decoding_leaves_the_cyclic_garbage_collector_as_it_found_it() -> None:
    """Decoding pauses the collector per object (its passes over held spans cost more than decoding)."""
    obj = parse_s3_exporter_key(f"{PARTITION}/traces_1.json")
    assert gc.isenabled()
    decode_trace_object(obj, b"not json")
    decode_trace_object(obj, otlp_json(REQUEST))
    assert gc.isenabled()
    gc.disable()
    try:
        decode_trace_object(obj, otlp_json(REQUEST))
        assert not gc.isenabled()
    finally:
        gc.enable()

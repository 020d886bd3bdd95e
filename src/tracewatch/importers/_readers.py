"""The source formats as `SourceReader`s: which objects of a location are theirs, and what one object holds.

- `otlp`: the Collector's `awss3exporter` objects; the key's partition is the upload time. Log objects (older
  GenAI instrumentations put message content in log records) are read before trace objects, so their events
  are waiting when the spans come.
- `otlp_file`: the Collector's `fileexporter` files (JSON lines or length-prefixed protobuf, compression read
  from the bytes); a file whose name starts with `logs` holds log records.
- `langfuse`: one object is one export run, named by its manifest (the files it lists are read with it).
- `opik`: `opik export` trace files (`trace_<id>.json`), one trace each.
- `phoenix`: span dataframes saved as Parquet (`TraceDataset.save` files included).

Objects that are not the format's (a metrics object, a README) are ledgered as skipped with the reason, so
they are listed once and never silently ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from tracewatch.errors import DataContractError
from tracewatch.importers._exports import ExportRead
from tracewatch.importers._langfuse import read_langfuse_run
from tracewatch.importers._opik import FILE_PREFIX as OPIK_FILE_PREFIX
from tracewatch.importers._opik import read_opik_file
from tracewatch.importers._otlp_decoded import Rejected
from tracewatch.importers._otlp_objects import (
    OtlpObject,
    Signal,
    decode_log_object,
    decode_trace_object,
    file_exporter_object,
    key_pattern,
    parse_s3_exporter_key,
)
from tracewatch.importers._phoenix import EVALUATIONS_FILE, read_phoenix_file
from tracewatch.importers._quarantine import QuarantineRecord
from tracewatch.importers._reading import ObjectContent, SourceObject, SourceReader, upload_time
from tracewatch.importers._sources import SourceConfig
from tracewatch.store import ObjectInfo, Store


def reader_for(source: SourceConfig) -> SourceReader:
    """The reader of the source's format."""
    readers: dict[str, Callable[[SourceConfig], SourceReader]] = {
        "otlp": _CollectorS3Reader,
        "otlp_file": _CollectorFileReader,
        "langfuse": _LangfuseReader,
        "opik": _OpikReader,
        "phoenix": _PhoenixReader,
    }
    return readers[source.kind](source)


def _quarantined(rejected: Rejected) -> QuarantineRecord:
    return QuarantineRecord(
        scope=rejected.scope,
        reason=rejected.reason,
        location=rejected.where,
        trace_id=rejected.trace_id,
        span_id=rejected.span_id,
        raw=rejected.raw,
    )


def _new(listing: list[ObjectInfo], known: set[tuple[str, str]]) -> list[ObjectInfo]:
    return [info for info in listing if (info.key, info.version) not in known]


class _OtlpReader:
    """What the two Collector exporters share: decode an `OtlpObject` into spans or log events."""

    def __init__(self, source: SourceConfig) -> None:
        self.source = source
        self._objects: dict[str, OtlpObject] = {}

    def read(self, source: Store, obj: SourceObject) -> ObjectContent:
        return self.portable(obj)(source, obj)

    def portable(self, obj: SourceObject) -> PortableRead:
        """The read of `obj` as a value a worker process can run: it needs nothing of the listing but this."""
        return PortableRead(self._objects.get(obj.info.key), self._skip_reason(obj.info.key))

    def _skip_reason(self, key: str) -> str:
        return f"{key!r} is not an OTLP traces or logs object of this source"


@dataclass(frozen=True, slots=True)
class PortableRead:
    """One OTLP object's read, picklable: what the listing found the key to be (None: not the format's, then
    `skip_reason` says why). An object holds spans or log records, never both, and the key says which."""

    otlp: OtlpObject | None
    skip_reason: str

    @property
    def holds_events(self) -> bool:
        """Whether the object's records are log records, which join the spans of later objects."""
        return self.otlp is not None and self.otlp.signal == "logs"

    def __call__(self, source: Store, obj: SourceObject) -> ObjectContent:
        otlp = self.otlp
        if otlp is None:
            return ObjectContent(skipped=self.skip_reason)
        data = source.read_bytes(obj.info.key)
        if otlp.signal == "logs":
            logs = decode_log_object(otlp, data)
            return _content(logs.rejected, records=logs.records_seen, events=logs.records)
        traces = decode_trace_object(otlp, data)
        return _content(traces.rejected, records=traces.spans_seen, spans=traces.spans)


def portable_read(reader: SourceReader, obj: SourceObject) -> PortableRead | None:
    """The read of `obj` for a worker process, or None when the reader's objects must be read where it was
    listed (vendor exports keep state across objects: a de-duplication over the run, an export run's files)."""
    return reader.portable(obj) if isinstance(reader, _OtlpReader) else None


def _content(rejected: list[Rejected], *, records: int, **found: object) -> ObjectContent:
    whole = next((r for r in rejected if r.scope == "object"), None)
    if whole is not None:
        return ObjectContent(records=records, unreadable=whole.reason)
    content = ObjectContent(records=records, rejected=[_quarantined(r) for r in rejected])
    for name, value in found.items():
        setattr(content, name, value)
    return content


class _CollectorS3Reader(_OtlpReader):
    def __init__(self, source: SourceConfig) -> None:
        super().__init__(source)
        self._pattern = key_pattern(source.s3_partition_format, source.file_prefix)
        self._skipped: dict[str, str] = {}

    def new_objects(self, source: Store, known: set[tuple[str, str]]) -> list[SourceObject]:
        found: list[tuple[bool, dt.datetime, SourceObject]] = []
        for info in _new(source.list_objects(""), known):
            try:
                otlp = parse_s3_exporter_key(
                    info.key, pattern=self._pattern, partition_timezone=self.source.timezone()
                )
            except DataContractError as exc:
                self._skipped[info.key] = str(exc)
                found.append((False, upload_time(info), SourceObject(info, upload_time(info))))
                continue
            assert otlp.partition is not None  # an awss3exporter key always names its partition
            self._objects[info.key] = otlp
            found.append((otlp.signal != "logs", otlp.partition, SourceObject(info, otlp.partition)))
        found.sort(key=lambda item: (item[0], item[1], item[2].info.key))
        return [obj for _, _, obj in found]

    def _skip_reason(self, key: str) -> str:
        return self._skipped.get(key, super()._skip_reason(key))


class _CollectorFileReader(_OtlpReader):
    _SUFFIXES = (".json", ".jsonl", ".pb", ".binpb", ".proto", ".zst", ".gz")

    def new_objects(self, source: Store, known: set[tuple[str, str]]) -> list[SourceObject]:
        found: list[tuple[bool, SourceObject]] = []
        for info in _new(source.list_objects(""), known):
            name = info.key.rsplit("/", 1)[-1]
            obj = SourceObject(info, upload_time(info))
            if name.endswith(self._SUFFIXES):
                signal: Signal = "logs" if name.startswith("logs") else "traces"
                self._objects[info.key] = file_exporter_object(
                    info.key, signal=signal, encoding=self.source.file_format
                )
                found.append((signal != "logs", obj))
            else:
                found.append((True, obj))
        found.sort(key=lambda item: (item[0], item[1].uploaded, item[1].info.key))
        return [obj for _, obj in found]

    def _skip_reason(self, key: str) -> str:
        return f"{key!r} is not a fileexporter file (expected one of {', '.join(self._SUFFIXES)})"


@dataclass
class _ExportReader:
    """Vendor exports: one object at a time, its records counted, rejected or dropped as duplicates."""

    source: SourceConfig

    def accepts(self, key: str) -> str | None:
        """None when the key is the format's object, else why it is skipped."""
        raise NotImplementedError

    def new_objects(self, source: Store, known: set[tuple[str, str]]) -> list[SourceObject]:
        found = [SourceObject(info, upload_time(info)) for info in _new(source.list_objects(""), known)]
        return sorted(found, key=lambda obj: (obj.uploaded, obj.info.key))

    def read(self, source: Store, obj: SourceObject) -> ObjectContent:
        reason = self.accepts(obj.info.key)
        if reason is not None:
            return ObjectContent(skipped=reason)
        return self.read_export(source, obj.info.key)

    def read_export(self, source: Store, key: str) -> ObjectContent:
        raise NotImplementedError


def _export_content(read: ExportRead[object], key: str) -> ObjectContent:
    """An `ExportRead` of one object as the run's `ObjectContent`: every record read is a record; rejected
    records and duplicates are quarantined with their reasons."""
    # Records merged into others (Langfuse scores attached to their trace as feedback, or sent to the
    # late-feedback input) are not records of their own: what the object holds is its spans, observations or
    # traces.
    records = read.records_read - read.merged
    whole = next((r for r in read.rejected if r.record_id is None and r.key == key), None)
    if whole is not None:
        return ObjectContent(records=records, unreadable=whole.reason)
    rejected = [
        QuarantineRecord(
            scope="record" if r.record_id is not None else "object",
            reason=r.reason,
            location=r.key if r.key != key else "",
            span_id=r.record_id,
        )
        for r in read.rejected
    ]
    return ObjectContent(records=records, rejected=rejected, duplicates=read.duplicates_dropped)


class _LangfuseReader(_ExportReader):
    def accepts(self, key: str) -> str | None:
        if "manifests/" in f"/{key}" and key.endswith(".json"):
            return None
        return (
            "a Langfuse export is imported run by run through its manifest; this file is read with the run "
            "whose manifest lists it"
        )

    def new_objects(self, source: Store, known: set[tuple[str, str]]) -> list[SourceObject]:
        return [obj for obj in super().new_objects(source, known) if self.accepts(obj.info.key) is None]

    def read_export(self, source: Store, key: str) -> ObjectContent:
        read = read_langfuse_run(source, key, latency_unit=self.source.langfuse_latency_unit)
        content = _export_content(read, key)  # type: ignore[arg-type]
        content.facts = list(read.records)
        content.feedback = list(read.feedback)
        return content


class _OpikReader(_ExportReader):
    def accepts(self, key: str) -> str | None:
        name = key.rsplit("/", 1)[-1]
        if name.startswith(OPIK_FILE_PREFIX) and name.endswith(".json"):
            return None
        return "not a trace file of `opik export` (trace_<id>.json)"

    def read_export(self, source: Store, key: str) -> ObjectContent:
        read = read_opik_file(key, source.read_bytes(key))
        content = _export_content(read, key)  # type: ignore[arg-type]
        content.facts = list(read.records)
        return content


class _PhoenixReader(_ExportReader):
    def accepts(self, key: str) -> str | None:
        name = key.rsplit("/", 1)[-1]
        if EVALUATIONS_FILE.match(name):
            return "a Phoenix evaluations file (span annotations), not spans"
        return None if name.endswith(".parquet") else "not a Parquet spans dataframe"

    def read_export(self, source: Store, key: str) -> ObjectContent:
        read = read_phoenix_file(key, source.read_bytes(key))
        content = _export_content(read, key)  # type: ignore[arg-type]
        content.spans = list(read.records)
        return content

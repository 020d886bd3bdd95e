"""Seed a dataset from a curated file (CSV, JSONL or Parquet), from a local path or a key in the store.

Columns are mapped by name: `input`/`input_text` (required), `expected_output`/`expected`, `context`
(`retrieved_context`), `tags`, `metadata`, and `project`/`route`/`model`; every other column goes into the
item's metadata. A row that cannot become an item (no input, unreadable tags, ...) is rejected with its row
number and reason and counted in the version manifest, never dropped silently. The file loader is shared with
the review import, which reads the same formats.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from tracewatch.datasets.append import append_version
from tracewatch.datasets.items import content_hash, dedup_key, item_id, redact_and_key
from tracewatch.datasets.schema import ITEM_SCHEMA
from tracewatch.datasets.versions import VersionManifest, check_dataset_name
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.store import Store

log = logging.getLogger(__name__)

FILE_FORMATS: dict[str, str] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
"""File suffix -> format; `fmt=` overrides the suffix."""

SEED_STRATEGY = "seed"

_FIELDS: dict[str, tuple[str, ...]] = {
    "input_text": ("input", "input_text"),
    "expected_output": ("expected_output", "expected"),
    "retrieved_context": ("context", "retrieved_context"),
    "tags": ("tags",),
    "metadata": ("metadata",),
    "project": ("project",),
    "route": ("route",),
    "model": ("model",),
}
"""Item field -> the file columns that may hold it (at most one per file)."""


@dataclass(frozen=True)
class RejectedRow:
    """One file row that was not used, and why. `row` is 1-based: the record after the header (CSV, Parquet)
    or the line number (JSONL)."""

    row: int
    reason: str
    detail: str


@dataclass(frozen=True)
class LoadedFile:
    """The records of a CSV, JSONL or Parquet file, with the rows that could not even be parsed."""

    source: str
    fmt: str
    sha256: str
    columns: tuple[str, ...]
    records: tuple[tuple[int, dict[str, Any]], ...]
    unreadable: tuple[RejectedRow, ...]

    @property
    def rows_read(self) -> int:
        return len(self.records) + len(self.unreadable)


@dataclass(frozen=True)
class SeedReport:
    """The items built from a seed file and every row that was rejected."""

    source: str
    fmt: str
    sha256: str
    rows_read: int
    items: pl.DataFrame
    rejected: tuple[RejectedRow, ...]

    @property
    def rejected_counts(self) -> dict[str, int]:
        return reason_counts(self.rejected)


@dataclass(frozen=True)
class SeedOutcome:
    """A seed report and the version it created (None when no item was new)."""

    report: SeedReport
    manifest: VersionManifest | None


def reason_counts(rows: Iterable[RejectedRow]) -> dict[str, int]:
    """Rows per reason, sorted by reason: the shape manifests and summaries report."""
    return dict(sorted(Counter(r.reason for r in rows).items()))


class _BadValueError(ValueError):
    """A cell that cannot become part of an item; carries the rejection reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


# ---- loading files ---------------------------------------------------------------------------------------


def load_file(source: str | Path, *, store: Store | None = None, fmt: str | None = None) -> LoadedFile:
    """Read a CSV, JSONL or Parquet file: a local path, or a key in `store` when one is given."""
    name = str(source)
    fmt = _file_format(name, fmt)
    if store is not None:
        if not store.exists(name):
            raise ConfigError(f"{store.uri(name)} does not exist")
        data, where = store.read_bytes(name), store.uri(name)
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"file {path} does not exist")
        data, where = path.read_bytes(), str(path)
    if fmt == "csv":
        columns, records, unreadable = _parse_csv(data, where)
    elif fmt == "jsonl":
        columns, records, unreadable = _parse_jsonl(data, where)
    else:
        columns, records, unreadable = _parse_parquet(data, where)
    return LoadedFile(
        source=where,
        fmt=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        columns=columns,
        records=records,
        unreadable=unreadable,
    )


def _file_format(name: str, fmt: str | None) -> str:
    allowed = sorted(set(FILE_FORMATS.values()))
    if fmt is None:
        fmt = FILE_FORMATS.get(PurePosixPath(name).suffix.lower())
        if fmt is None:
            raise ConfigError(
                f"cannot tell the format of {name!r} from its suffix; allowed formats: {allowed} "
                f"(suffixes {sorted(FILE_FORMATS)}), or pass fmt="
            )
    if fmt not in allowed:
        raise ConfigError(f"file format {fmt!r} is not supported; allowed formats: {allowed}")
    return fmt


_Parsed = tuple[tuple[str, ...], tuple[tuple[int, dict[str, Any]], ...], tuple[RejectedRow, ...]]


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")  # spreadsheets often save a byte-order mark
    except UnicodeDecodeError as exc:
        raise DataContractError(f"{where} is not UTF-8 text: {exc}") from None


def _parse_csv(data: bytes, where: str) -> _Parsed:
    reader = csv.DictReader(io.StringIO(_decode(data, where), newline=""))
    columns = tuple(reader.fieldnames or ())
    records, unreadable = [], []
    for number, row in enumerate(reader, start=1):
        if None in row:  # DictReader's key for cells beyond the header
            unreadable.append(
                RejectedRow(number, "extra_fields", f"{len(row[None])} cell(s) beyond the header")
            )
        else:
            records.append((number, {k: (v if v != "" else None) for k, v in row.items()}))
    return columns, tuple(records), tuple(unreadable)


def _parse_jsonl(data: bytes, where: str) -> _Parsed:
    columns: dict[str, None] = {}
    records, unreadable = [], []
    for number, line in enumerate(_decode(data, where).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            unreadable.append(RejectedRow(number, "invalid_json", str(exc)))
            continue
        if not isinstance(record, dict):
            unreadable.append(RejectedRow(number, "not_an_object", f"line holds a {type(record).__name__}"))
            continue
        columns.update(dict.fromkeys(record))
        records.append((number, record))
    return tuple(columns), tuple(records), tuple(unreadable)


def _parse_parquet(data: bytes, where: str) -> _Parsed:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # polars raises several types for a corrupt or non-Parquet file
        raise DataContractError(
            f"{where} is not a readable Parquet file: {type(exc).__name__}: {exc}"
        ) from None
    return tuple(frame.columns), tuple(enumerate(frame.iter_rows(named=True), start=1)), ()


# ---- building items --------------------------------------------------------------------------------------


def read_seed_file(source: str | Path, *, store: Store | None = None, fmt: str | None = None) -> SeedReport:
    """Items (in ITEM_SCHEMA) from a curated file, plus every rejected row with its reason."""
    return seed_items(load_file(source, store=store, fmt=fmt))


def seed_items(loaded: LoadedFile) -> SeedReport:
    """Map a loaded file's records to items; rows that repeat an earlier row's input are rejected."""
    mapping = _column_mapping(loaded)
    rejected = list(loaded.unreadable)
    items: list[dict[str, Any]] = []
    first_row: dict[str, int] = {}
    for number, record in loaded.records:
        try:
            item = _item(record, mapping)
        except _BadValueError as bad:
            rejected.append(RejectedRow(number, bad.reason, str(bad)))
            continue
        if item["item_id"] in first_row:
            rejected.append(
                RejectedRow(number, "duplicate_input", f"same input as row {first_row[item['item_id']]}")
            )
            continue
        first_row[item["item_id"]] = number
        items.append(item)
    # Curated files get the same redaction as sampled traces; keys then come from the redacted input.
    redacted, _ = redact_and_key(pl.DataFrame(items, schema=ITEM_SCHEMA))
    rows = pl.Series("row", list(first_row.values()), dtype=pl.Int64)
    repeats = redacted.with_columns(rows).filter(~pl.col("item_id").is_first_distinct())
    rejected += [
        RejectedRow(row, "duplicate_input", "same input as an earlier row once PII is redacted")
        for row in repeats["row"].to_list()
    ]
    redacted = redacted.unique("item_id", keep="first", maintain_order=True)
    report = SeedReport(
        source=loaded.source,
        fmt=loaded.fmt,
        sha256=loaded.sha256,
        rows_read=loaded.rows_read,
        items=redacted.select(list(ITEM_SCHEMA)).cast(pl.Schema(ITEM_SCHEMA)),
        rejected=tuple(sorted(rejected, key=lambda r: r.row)),
    )
    if report.rejected:
        log.warning(
            "seed file %s: %d row(s) rejected %s", loaded.source, len(rejected), report.rejected_counts
        )
    return report


def seed_dataset(
    store: Store,
    name: str,
    source: str | Path,
    *,
    run_id: str,
    fmt: str | None = None,
    from_store: bool = False,
) -> SeedOutcome:
    """Append the items of a curated file as a new version of `name` (kind "seed").

    `source` is a local path, or a key in `store` when `from_store`. Items already in the dataset (same input,
    so the same item_id) are not added again; when none is new, no version is created.
    """
    check_dataset_name(name)
    report = read_seed_file(source, store=store if from_store else None, fmt=fmt)
    manifest = append_version(
        store,
        name,
        report.items,
        kind="seed",
        run_id=run_id,
        spec={"source": report.source, "format": report.fmt, "sha256": report.sha256},
        counts={"rows_read": report.rows_read, "rejected": report.rejected_counts},
    )
    return SeedOutcome(report=report, manifest=manifest)


def _column_mapping(loaded: LoadedFile) -> dict[str, str]:
    """Item field -> file column, refusing a file without an input column or with two columns for one field."""
    mapping = {}
    for field, names in _FIELDS.items():
        present = [n for n in names if n in loaded.columns]
        if len(present) > 1:
            raise DataContractError(
                f"{loaded.source} has columns {present} for {field}; keep only one of them"
            )
        if present:
            mapping[field] = present[0]
    if "input_text" not in mapping:
        raise DataContractError(
            f"{loaded.source} has no input column; name it one of {list(_FIELDS['input_text'])} "
            f"(columns found: {list(loaded.columns)})"
        )
    return mapping


def _item(record: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    def cell(field: str) -> Any:
        return record.get(mapping[field]) if field in mapping else None

    text = _text(cell("input_text"), "input")
    if text is None or not text.strip():
        raise _BadValueError("missing_input", "the input is empty")
    expected = _text(cell("expected_output"), "expected_output")
    if expected is not None and not expected.strip():
        expected = None
    used = set(mapping.values())
    extras = {k: v for k, v in record.items() if k not in used and v is not None}
    digest = content_hash(text, [text])
    return {
        "item_id": item_id(None, digest),
        "content_hash": digest,
        "dedup_key": dedup_key(text, [text]),
        "input_text": text,
        "input_messages": [{"role": "user", "content": text}],
        "expected_output": expected,
        "expected_source": "curated" if expected is not None else None,
        "retrieved_context": _context(cell("retrieved_context")),
        "project": _text(cell("project"), "project"),
        "route": _text(cell("route"), "route"),
        "model": _text(cell("model"), "model"),
        "tags": _tags(cell("tags")),
        "feedback": [],
        "metadata": json.dumps({**extras, **_metadata(cell("metadata"))}, sort_keys=True, default=str),
        "source_trace_id": None,
        "source_date": None,
        "strategy": SEED_STRATEGY,
        "stratum": None,
        "redactions": None,
        "source": "seed",
        "provenance": None,
    }


def _text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise _BadValueError(f"bad_{field}", f"{field} must be text, not {type(value).__name__}")


def _maybe_json(value: Any, opener: str) -> Any:
    """Text cells (CSV) may hold JSON: a list or object is parsed when the text starts like one."""
    if isinstance(value, str) and value.lstrip().startswith(opener):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _tags(value: Any) -> list[str]:
    value = _maybe_json(value, "[")
    if value is None:
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list) and all(isinstance(t, str | int | float) for t in value):
        return [str(t) for t in value]
    raise _BadValueError(
        "bad_tags", f"tags must be a list of strings or comma-separated text, not {value!r:.80}"
    )


def _context(value: Any) -> list[dict[str, Any]]:
    value = _maybe_json(value, "[")
    if value is None:
        return []
    passages = value if isinstance(value, list) else [value]
    return [_passage(p) for p in passages if not (isinstance(p, str) and not p.strip())]


def _passage(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"document_id": None, "text": value, "score": None}
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        doc, score = value.get("document_id"), value.get("score")
        if score is None or (isinstance(score, int | float) and not isinstance(score, bool)):
            return {
                "document_id": None if doc is None else str(doc),
                "text": value["text"],
                "score": None if score is None else float(score),
            }
    raise _BadValueError(
        "bad_context",
        "context passages must be text or objects with text (and optional document_id, numeric score), "
        f"not {value!r:.80}",
    )


def _metadata(value: Any) -> dict[str, Any]:
    value = _maybe_json(value, "{")
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise _BadValueError("bad_metadata", f"metadata must be a JSON object, not {value!r:.80}")

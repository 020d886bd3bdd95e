"""Langfuse's scheduled blob-storage export, read into `SpanFacts`.

The format, as documented at https://langfuse.com/docs/api-and-data-platform/features/export-to-blob-storage
and https://langfuse.com/docs/api-and-data-platform/features/blob-storage-export-fields (manifest payload as
written by Langfuse's worker, `worker/src/features/blobstorage/manifest.ts`):

    {prefix}{project-id}/observations_v2/{timestamp}.{parquet|json|jsonl|csv}[.gz]
    {prefix}{project-id}/scores/{timestamp}.{...}
    {prefix}{project-id}/manifests/{timestamp}.json     written last: its presence is the run's commit point

A run is complete only when its manifest exists, so only manifests are read, and only the files a manifest
lists (`files[].key`); a data file no manifest lists belongs to a run still uploading (or one that failed and
will be retried under the same keys) and is skipped with that reason, to be read once its manifest arrives.
Adjacent windows share an inclusive boundary, so observations and scores are de-duplicated by id (the most
recently updated copy wins).

Time units: `start_time` / `end_time` are timestamps (`YYYY-MM-DD HH:MM:SS.ffffff` UTC in text formats), so a
span's duration never depends on a unit. The `latency` and `time_to_first_token` columns do: seconds for
integrations created on or after 2026-04-01 (and in the legacy `observations/` file), milliseconds for older
enriched integrations, and nothing in the file says which. `latency_unit` states it; `"auto"` (the default)
infers it per file from rows that have both the column and the timestamps, and leaves the columns unused (with
a note) when no row can decide. They are used only to fill a missing `end_time` and for the time to first token
(metadata `langfuse.time_to_first_token_ms`).

The legacy export tables (`traces/`, `observations/`) are not read: Langfuse retired that export source
(cloud cut-over 2026-11-16); a run that lists them gets a note saying so.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._dialects import IMPORT_WARNINGS
from tracewatch.importers._exports import (
    ExportFileError,
    ExportRead,
    FileFormat,
    as_count,
    as_flag,
    as_mapping,
    as_number,
    as_text_list,
    decompress,
    first_count,
    format_of,
    is_newer,
    read_rows,
    set_payloads,
    text_or_none,
    timestamp_ns,
)
from tracewatch.importers._langfuse_scores import attach_scores
from tracewatch.importers._spans import Passage, SpanFacts, SpanRole
from tracewatch.store import ObjectInfo, Store

LatencyUnit = Literal["auto", "seconds", "milliseconds"]

MANIFEST_VERSION = 1
"""The manifest schema version this reader understands (Langfuse bumps it on breaking changes only)."""
OBSERVATIONS = "observations_v2"
SCORES = "scores"
_LEGACY_TABLES = frozenset({"traces", "observations"})
_DATA_TABLES = frozenset({OBSERVATIONS, SCORES}) | _LEGACY_TABLES
_FILE_TYPES: dict[str, FileFormat] = {"PARQUET": "parquet", "CSV": "csv", "JSON": "json", "JSONL": "jsonl"}
_ROLES: dict[str, SpanRole] = {"GENERATION": "llm", "RETRIEVER": "retriever"}
_UNIT_SECONDS = {"seconds": 1.0, "milliseconds": 1e-3}


def read_langfuse_export(
    store: Store,
    prefix: str = "",
    *,
    manifests: list[str] | None = None,
    latency_unit: LatencyUnit = "auto",
) -> ExportRead[SpanFacts]:
    """Read the completed export runs under `prefix`: every manifest found, or only those in `manifests`.

    Every listed object ends up read, rejected or skipped with a reason: a data file that no manifest lists
    is skipped as pending, one listed only by a manifest not selected is skipped as belonging to that run.
    """
    listing = store.list_objects(prefix)
    result: ExportRead[SpanFacts] = ExportRead(objects_listed=len(listing))
    by_key = {info.key: info for info in listing}
    manifest_keys = [info.key for info in listing if _table_of(info.key) == "manifests"]
    selected = [k for k in manifest_keys if manifests is None or k in set(manifests)]
    accounted: dict[str, str] = {}  # data file -> the manifest that lists it
    rows = _Rows()
    for key in selected:
        accounted |= dict.fromkeys(_read_run(store, key, by_key, latency_unit, result, rows), key)
    for key in manifest_keys:
        if key not in selected:
            result.skip(key, "export run not selected for this read")
            for info, _ in _manifest_files(store, key, by_key, None):
                accounted.setdefault(info.key, key)
    for info in listing:
        if info.key in accounted and accounted[info.key] not in selected:
            result.skip(
                info.key, f"belongs to the export run of {accounted[info.key]}, not selected for this read"
            )
        elif info.key in accounted or _table_of(info.key) == "manifests":
            continue
        elif _table_of(info.key) in _DATA_TABLES:
            result.skip(
                info.key,
                "no readable manifest lists this file: its export run has not completed (Langfuse writes the "
                "manifest last); it is read once the run's manifest appears",
            )
        else:
            result.skip(info.key, "not part of a Langfuse export (observations_v2/, scores/, manifests/)")
    return rows.finish(result)


def read_langfuse_run(
    store: Store, manifest_key: str, *, latency_unit: LatencyUnit = "auto"
) -> ExportRead[SpanFacts]:
    """One completed export run, the unit an import ledger records: its manifest and the files it lists.

    Ids repeated in the previous run (the shared window boundary) come out again; whoever reads run after run
    de-duplicates by (trace id, observation id), as for any re-sent span.
    """
    run_folder = _run_folder(manifest_key)
    by_key = {info.key: info for info in store.list_objects(run_folder)}
    result: ExportRead[SpanFacts] = ExportRead()
    rows = _Rows()
    files = _read_run(store, manifest_key, by_key, latency_unit, result, rows)
    result.objects_listed = 1 + len(files)
    return rows.finish(result)


@dataclass(slots=True)
class _Rows:
    """The rows read from the files of the runs read so far, waiting to become facts."""

    observations: list[tuple[str, dict[str, Any], float | None]] = field(default_factory=list)
    scores: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def finish(self, result: ExportRead[SpanFacts]) -> ExportRead[SpanFacts]:
        result.records = _observations_to_facts(self.observations, result)
        attach_scores(result.records, self.scores, result)
        return result


def _read_run(
    store: Store,
    manifest_key: str,
    by_key: dict[str, ObjectInfo],
    latency_unit: LatencyUnit,
    result: ExportRead[SpanFacts],
    rows: _Rows,
) -> list[str]:
    """Read the files one manifest lists into `rows`; the keys of the stored files it lists."""
    files = _manifest_files(store, manifest_key, by_key, result)
    for info, entry in files:
        table = str(entry.get("table") or _table_of(info.key))
        if table in _LEGACY_TABLES:
            result.skip(info.key, f"legacy `{table}` table of the retired Langfuse export source; not read")
            continue
        if table not in (OBSERVATIONS, SCORES):
            result.skip(info.key, f"table {table!r} is not one this reader knows (observations_v2, scores)")
            continue
        read = _read_file(store, info, entry, result)
        if read is None:
            continue
        if table == SCORES:
            rows.scores.extend((info.key, row) for row in read)
        else:
            scale = _latency_scale(info.key, read, latency_unit, result)
            rows.observations.extend((info.key, row, scale) for row in read)
    return [info.key for info, _ in files]


def _run_folder(manifest_key: str) -> str:
    """The folder an export run writes its table folders into: the manifest's folder's parent."""
    return manifest_key.rsplit("/", 2)[0] if manifest_key.count("/") >= 2 else ""


def _table_of(key: str) -> str:
    parts = key.split("/")
    return parts[-2] if len(parts) >= 2 else ""


def _manifest_files(
    store: Store, key: str, by_key: dict[str, ObjectInfo], result: ExportRead[SpanFacts] | None
) -> list[tuple[ObjectInfo, dict[str, Any]]]:
    """The (object, manifest entry) pairs a manifest lists. `result` is None when the manifest is only
    consulted for which files are accounted for; then its problems are not reported twice."""
    try:
        manifest = orjson.loads(store.read_bytes(key))
    except orjson.JSONDecodeError as exc:
        if result is not None:
            result.reject(key, f"manifest is not valid JSON ({exc}); its run cannot be read")
        return []
    entries = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("key"), str) for e in entries
    ):
        if result is not None:
            result.reject(
                key,
                "manifest has no `files` list of objects with a `key`; expected Langfuse's run manifest",
            )
        return []
    version = manifest.get("version")
    if isinstance(version, int) and version > MANIFEST_VERSION:
        if result is not None:
            result.reject(key, f"manifest version {version} is newer than the supported {MANIFEST_VERSION}")
        return []
    if result is not None:
        result.objects_read += 1
        window = manifest.get("window") or {}
        result.notes.append(
            f"{key}: export run {window.get('minTimestamp')} .. {window.get('maxTimestamp')}, "
            f"source {manifest.get('exportSource')}, {len(entries)} file(s)"
        )
    run_folder = _run_folder(key)
    found = []
    for n, entry in enumerate(entries):
        info = _resolve(entry["key"], run_folder, by_key)
        if info is not None:
            found.append((info, entry))
        elif result is not None:
            result.reject(entry["key"], f"listed as files[{n}] by {key} but not in the store")
    return found


def _resolve(listed_key: str, run_folder: str, by_key: dict[str, ObjectInfo]) -> ObjectInfo | None:
    """The stored object a manifest key means. Manifest keys start with the prefix configured in Langfuse,
    which need not be where this store is rooted (and an integration may add its own folder), so the stored
    key sharing the longest tail of folders with it wins; between equals, the one beside the manifest."""
    if listed_key in by_key:
        return by_key[listed_key]
    parts = listed_key.split("/")
    tail = "/" + "/".join(parts[-2:])
    candidates = [key for key in by_key if key.endswith(tail) or key == tail[1:]]

    def closeness(key: str) -> tuple[int, bool]:
        shared = 0
        for mine, theirs in zip(reversed(key.split("/")), reversed(parts), strict=False):
            if mine != theirs:
                break
            shared += 1
        return shared, key.startswith(f"{run_folder}/") or not run_folder

    return by_key[max(candidates, key=closeness)] if candidates else None


def _read_file(
    store: Store, info: ObjectInfo, entry: dict[str, Any], result: ExportRead[SpanFacts]
) -> list[dict[str, Any]] | None:
    """The rows of one listed file, or None when it is rejected (the reason names the rows the manifest says
    it held, so what was lost is known)."""
    expected = entry.get("rowCount") if isinstance(entry.get("rowCount"), int) else None
    lost = f" ({expected} rows per the manifest)" if expected is not None else ""
    stated_format, stated_gzip = format_of(info.key)
    fmt = _FILE_TYPES.get(str(entry.get("fileType", "")).upper(), stated_format)
    compressed = entry.get("compressed") if isinstance(entry.get("compressed"), bool) else stated_gzip
    size = entry.get("sizeBytes")
    if fmt is None:
        reason = "cannot tell the file's format (manifest fileType or name .parquet/.csv/.json/.jsonl)"
    elif isinstance(size, int) and info.size != size:
        reason = f"object is {info.size} bytes but the manifest recorded {size}: changed or truncated"
    else:
        try:
            rows = read_rows(decompress(store.read_bytes(info.key), bool(compressed)), fmt)
        except ExportFileError as exc:
            reason = str(exc)
        else:
            if expected is None or expected == len(rows):
                result.objects_read += 1
                result.records_read += len(rows)
                return rows
            reason = f"file has {len(rows)} rows but the manifest recorded {expected}"
            lost = ""
    result.reject(info.key, reason + lost)
    return None


def _latency_scale(
    key: str, rows: list[dict[str, Any]], unit: LatencyUnit, result: ExportRead[SpanFacts]
) -> float | None:
    """Seconds per unit of one file's `latency` columns, or None when unknown (see the module docstring)."""
    if unit != "auto":
        return _UNIT_SECONDS[unit]
    ratios = []
    for row in rows:
        latency = as_number(row.get("latency"))
        start, end = timestamp_ns(row.get("start_time")), timestamp_ns(row.get("end_time"))
        if latency and start is not None and end is not None and end > start:
            ratios.append(latency / ((end - start) / 1e9))
    ratio = statistics.median(ratios) if ratios else None
    scale = 1.0 if ratio and 0.5 < ratio < 2 else 1e-3 if ratio and 500 < ratio < 2000 else None
    if ratios:
        named = {1.0: "seconds", 1e-3: "milliseconds"}.get(scale or 0.0, "neither seconds nor milliseconds")
        result.notes.append(f"{key}: latency columns are in {named} (inferred from end_time - start_time)")
    elif any(row.get("latency") is not None or row.get("time_to_first_token") is not None for row in rows):
        result.notes.append(f"{key}: latency unit unknown (no row with both latency and timestamps); unused")
    return scale


def _observations_to_facts(
    rows: list[tuple[str, dict[str, Any], float | None]], result: ExportRead[SpanFacts]
) -> list[SpanFacts]:
    """One `SpanFacts` per observation id; of copies in adjacent windows the most recently updated wins."""
    latest: dict[str, tuple[str, dict[str, Any], float | None]] = {}
    for key, row, scale in rows:
        obs_id, trace_id = text_or_none(row.get("id")), text_or_none(row.get("trace_id"))
        if obs_id is None or trace_id is None:
            result.reject(key, "observation without `id` or `trace_id`", obs_id or "?")
            continue
        if obs_id in latest:
            result.duplicates_dropped += 1
            if not is_newer(row, latest[obs_id][1]):
                continue
        latest[obs_id] = (key, row, scale)
    facts = []
    for obs_id, (key, row, scale) in latest.items():
        fact = _observation_facts(obs_id, row, scale)
        if fact.start_time_unix_nano is None:
            result.reject(key, f"start_time {row.get('start_time')!r} is not a timestamp", obs_id)
            continue
        facts.append(fact)
    return facts


def _observation_facts(obs_id: str, row: dict[str, Any], scale: float | None) -> SpanFacts:
    """One observation in tracewatch's terms (see the module docstring for the columns)."""
    parent = text_or_none(row.get("parent_observation_id"))
    is_root = as_flag(row.get("is_root_observation")) is True or parent is None
    kind = str(row.get("type") or "SPAN").upper()
    role = _ROLES.get(kind, "other")
    start, end = timestamp_ns(row.get("start_time")), timestamp_ns(row.get("end_time"))
    latency = as_number(row.get("latency"))
    if end is None and start is not None and latency is not None and scale is not None:
        end = start + round(latency * scale * 1e9)
    reader = AttributeReader({})
    fact = SpanFacts(
        trace_id=str(row["trace_id"]),
        span_id=obs_id,
        parent_span_id=None if is_root else parent,
        name=text_or_none(row.get("name")) or kind.lower(),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        role=role,
        dialect="langfuse",
        request_model=text_or_none(row.get("provided_model_name")),
        user_id=text_or_none(row.get("user_id")),
        session_id=text_or_none(row.get("session_id")),
        tags=as_text_list(row.get("tags")),
        route=text_or_none(row.get("trace_name")) if is_root else None,
    )
    if str(row.get("level") or "").upper() == "ERROR":
        fact.status, fact.error_message = "error", text_or_none(row.get("status_message"))
    set_payloads(fact, row.get("input"), row.get("output"), reader)
    if role == "retriever":
        fact.retrieved = _passages(row.get("output"))
    usage = {k: as_count(v) for k, v in as_mapping(row.get("usage_details")).items()}
    fact.input_tokens = first_count(usage, "input", "prompt_tokens", "input_tokens")
    fact.output_tokens = first_count(usage, "output", "completion_tokens", "output_tokens")
    fact.total_tokens = first_count(usage, "total", "total_tokens")
    fact.cost_usd = _cost(row)
    fact.metadata = _metadata(row, kind, usage, scale)
    if reader.warnings:
        fact.metadata[IMPORT_WARNINGS] = reader.warnings
    return fact


def _passages(output: Any) -> list[Passage] | None:
    """A retriever's documents, as LangChain and LlamaIndex record them in Langfuse: a list (or an object with
    `documents`) of `{page_content | content | text, metadata, id?, score?}`. Anything else stays the output
    text only."""
    if isinstance(output, str):
        try:
            output = orjson.loads(output)
        except orjson.JSONDecodeError:
            return None
    if isinstance(output, dict):
        output = output.get("documents")
    if not isinstance(output, list) or not output or not all(isinstance(d, dict) for d in output):
        return None
    passages = []
    for document in output:
        meta = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
        text = next(
            (document[k] for k in ("page_content", "content", "text") if isinstance(document.get(k), str)),
            None,
        )
        found_id = document.get("id", meta.get("id", meta.get("source")))
        score = as_number(document.get("score", meta.get("score")))
        passages.append(Passage(None if found_id is None else str(found_id), text, score))
    return passages


def _cost(row: dict[str, Any]) -> float | None:
    """Total cost in USD. Langfuse writes `total_cost` 0 when no model price matched, so a zero only counts
    when `cost_details` shows a cost was computed; otherwise the cost stays unknown, never 0."""
    total = as_number(row.get("total_cost"))
    if total:
        return total
    details = {k: as_number(v) for k, v in as_mapping(row.get("cost_details")).items()}
    if details.get("total") is not None:
        return details["total"]
    parts = [v for v in details.values() if v is not None]
    return sum(parts) if parts else None


def _metadata(
    row: dict[str, Any], kind: str, usage: dict[str, int | None], scale: float | None
) -> dict[str, Any]:
    """The observation's own metadata plus what Langfuse says that has no SpanFacts field, under `langfuse.*`."""
    out: dict[str, Any] = dict(as_mapping(row.get("metadata")))
    out["langfuse.type"] = kind
    for name in (
        "environment",
        "release",
        "version",
        "prompt_name",
        "prompt_version",
        "model_parameters",
        "project_id",
        "level",
    ):
        value = text_or_none(row.get(name))
        if value is not None and not (name == "level" and value == "DEFAULT"):
            out[f"langfuse.{name}"] = value
    extra = {k: v for k, v in usage.items() if k not in ("input", "output", "total") and v is not None}
    if extra:
        out["langfuse.usage_details"] = extra
    ttft = as_number(row.get("time_to_first_token"))
    if ttft is not None and scale is not None:
        out["langfuse.time_to_first_token_ms"] = ttft * scale * 1e3
    return out

"""The import's accounting invariant, checked from what a run left in the store, for every end-to-end import test.

Issue 19: every span, observation or exported trace an import reads is in an imported trace, quarantined with
its reason, counted as a duplicate, or waiting for its trace's late spans. The helper reads the run's outcome,
the import ledger, the quarantine records, the canonical files, the pending traces and the published
`import_daily` partitions, and checks that they agree with each other and add up, so a test of a bad input only
has to state what is particular to that input.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl
import pytest

from devtools.s3server import S3Server
from tests.conftest import TEST_BUCKET, s3_settings
from tracewatch.importers import (
    IMPORT_LEDGER_KEY,
    IMPORT_QUARANTINE_PREFIX,
    ImportResult,
    SourceConfig,
    SourceImport,
)
from tracewatch.importers._ledger import COUNT_COLUMNS
from tracewatch.importers._quarantine import RECORD_SCHEMA
from tracewatch.reports import IMPORT_DAILY
from tracewatch.store import Store
from tracewatch.traces import STATUS_VALUES, TRACE_SCHEMA

IDENTITY_COLUMNS = ("trace_id", "start_time", "project", "route", "status")
"""What every imported row states. The other required columns (`REQUIRED_COLUMNS`) may be unknown in a real
span (no content captured, no token counts): such a row is still imported, and ingest's validation decides."""

RECORD_SCOPES = ("span", "log_record", "record")
"""Quarantine scopes of one rejected record (the others name an object, a request or a whole trace)."""


def s3_source(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, kind: str, **options: Any
) -> tuple[SourceConfig, Store]:
    """A source of `kind` on its own prefix of the test bucket, its credentials named by environment variable
    (as a team's sources file names them), and a store on the same prefix to write its objects with."""
    prefix = f"{kind}-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("SOURCE_S3_ENDPOINT", s3_server.endpoint_url)
    monkeypatch.setenv("SOURCE_S3_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("SOURCE_S3_SECRET", s3_server.secret_access_key)
    source = SourceConfig.model_validate(
        {
            "name": f"prod-{kind}",
            "kind": kind,
            "location": f"s3://{TEST_BUCKET}/{prefix}",
            "endpoint_url_env": "SOURCE_S3_ENDPOINT",
            "access_key_id_env": "SOURCE_S3_KEY_ID",
            "secret_access_key_env": "SOURCE_S3_SECRET",
        }
        | options
    )
    return source, Store.from_settings(s3_settings(s3_server, prefix))


@dataclass
class ImportState:
    """What one source's import left in the store."""

    outcome: SourceImport
    ledger: pl.DataFrame
    """the entries of the objects this run read"""
    whole_ledger: pl.DataFrame
    """every entry of the source (a run also counts traces on objects an earlier run read)"""
    quarantine: pl.DataFrame
    rows: pl.DataFrame
    pending: pl.DataFrame

    @property
    def pending_records(self) -> int:
        """Spans waiting for their trace, and the log records joined to them."""
        facts = [orjson.loads(f) for f in self.pending["facts"]]
        return len(facts) + sum(f.get("log_records", 0) for f in facts)

    def reasons(self, scope: str) -> list[str]:
        """The quarantine reasons of one scope, in record order."""
        return self.quarantine.filter(pl.col("scope") == scope)["reason"].to_list()

    def row(self, trace_id: str) -> dict[str, object]:
        """The canonical row of one trace (exactly one must exist)."""
        [found] = self.rows.filter(pl.col("trace_id") == trace_id).iter_rows(named=True)
        return found

    def metadata(self, trace_id: str) -> dict[str, object]:
        text = self.row(trace_id)["metadata"]
        assert isinstance(text, str)
        meta: dict[str, object] = orjson.loads(text)
        return meta


def _read_all(store: Store, keys: list[str]) -> pl.DataFrame | None:
    frames = [store.read_parquet(key) for key in keys]
    return pl.concat(frames, how="vertical_relaxed") if frames else None


def assert_accounted(store: Store, result: ImportResult, before: ImportState | None = None) -> ImportState:
    """Check the invariant for the (first) source of one run; return what the run left, for the test's checks.

    `before` is what the source's previous run left (None for its first run): the run's counts are checked
    against what it added to the ledger, its quarantine records against its outcome, the spans it took over
    from the previous run's pending traces count as read; `import_daily` is checked against the whole ledger."""
    outcome = result.sources[0]
    source = outcome.source
    whole = store.read_parquet(IMPORT_LEDGER_KEY).filter(pl.col("source") == source)
    _daily_matches_ledger(store, source, whole)
    quarantine_keys = [o.key for o in store.list_objects(f"{IMPORT_QUARANTINE_PREFIX}/{source}", ".parquet")]
    quarantine = _read_all(store, quarantine_keys)
    if quarantine is not None:
        quarantine = quarantine.filter(pl.col("run_id") == result.run_id)
    rows = _read_all(store, sorted(set(outcome.outputs)))
    state = ImportState(
        outcome=outcome,
        ledger=whole.filter(pl.col("run_id") == result.run_id),
        whole_ledger=whole,
        quarantine=quarantine if quarantine is not None else pl.DataFrame(schema=RECORD_SCHEMA),
        rows=rows if rows is not None else pl.DataFrame(schema=TRACE_SCHEMA),
        pending=store.read_parquet(f"warehouse/state/imports/{source}/pending.parquet"),
    )
    _ledger_matches_outcome(state, before)
    _quarantine_is_readable(state)
    _rows_are_canonical(state)
    _every_record_is_somewhere(state, before)
    return state


def _ledger_matches_outcome(state: ImportState, before: ImportState | None) -> None:
    outcome, ledger = state.outcome, state.ledger
    assert outcome.objects == ledger.height, "every object read is ledgered once"
    assert outcome.objects_rejected == (ledger["status"] == "rejected").sum()
    for name in COUNT_COLUMNS:
        added = state.whole_ledger[name].sum() - (before.whole_ledger[name].sum() if before else 0)
        assert getattr(outcome, name) == added, f"{name}: the run and the ledger disagree"
    assert outcome.pending_traces == state.pending["trace_id"].n_unique()
    unexplained = ledger.filter(pl.col("status").is_in(["rejected", "skipped"]) & pl.col("reason").is_null())
    assert unexplained.is_empty(), (
        f"objects rejected or skipped without a reason: {unexplained['object_key']}"
    )


def _daily_matches_ledger(store: Store, source: str, ledger: pl.DataFrame) -> None:
    for (day,), entries in ledger.group_by("upload_date"):
        daily = store.read_parquet(f"reports/{IMPORT_DAILY.name}/date={day}/part-0.parquet")
        [published] = daily.filter(pl.col("source") == source).iter_rows(named=True)
        assert published["objects"] == entries.height
        assert published["objects_rejected"] == (entries["status"] == "rejected").sum()
        for name in COUNT_COLUMNS:
            assert published[name] == entries[name].sum(), (
                f"import_daily {day} {name} disagrees with the ledger"
            )


def _quarantine_is_readable(state: ImportState) -> None:
    reasons = state.quarantine["reason"].to_list()
    assert all(isinstance(r, str) and len(r) > 10 for r in reasons), (
        f"a quarantine reason is unreadable: {reasons}"
    )
    rejected = state.ledger.filter(pl.col("status") == "rejected")
    for key, reason in rejected.select("object_key", "reason").iter_rows():
        records = state.quarantine.filter((pl.col("scope") == "object") & (pl.col("object_key") == key))
        assert records["reason"].to_list() == [reason], f"rejected object {key} has no quarantine record"


def _rows_are_canonical(state: ImportState) -> None:
    rows, outcome = state.rows, state.outcome
    assert dict(rows.schema) == TRACE_SCHEMA
    assert rows.height == outcome.traces + outcome.traces_incomplete
    assert rows["trace_id"].n_unique() == rows.height, "a trace became two rows"
    for column in IDENTITY_COLUMNS:
        assert rows[column].null_count() == 0, f"column {column} has nulls"
    assert set(rows["status"].to_list()) <= set(STATUS_VALUES)
    incomplete = [orjson.loads(m).get("incomplete", False) for m in rows["metadata"]]
    assert sum(incomplete) == outcome.traces_incomplete


def _every_record_is_somewhere(state: ImportState, before: ImportState | None) -> None:
    """records read (+ those the previous run left waiting) = rejected + duplicates + late + spans (and the log
    records joined to them) of imported rows + those of quarantined or skipped traces + those still waiting
    (duplicates among them are counted only when their trace is released)."""
    outcome, quarantine = state.outcome, state.quarantine
    metadata = [orjson.loads(m) for m in state.rows["metadata"]]
    in_rows = sum(m["span_count"] + m.get("log_record_count", 0) for m in metadata)
    pending = state.pending_records
    carried = before.pending_records if before else 0
    scope = pl.col("scope")
    trace_level = pl.col("object_key").str.ends_with("#traces")
    rejected = quarantine.filter(scope.is_in(RECORD_SCOPES) & ~trace_level).height
    late = quarantine.filter((scope == "span") & trace_level).height
    traces = quarantine.filter(scope == "trace")
    joined_logs = quarantine.filter((scope == "log_record") & trace_level).height
    assert rejected == outcome.records_rejected, "each rejected record has its own quarantine record"
    assert late == outcome.records_late
    assert (
        traces.height == 0
        or traces["trace_id"].n_unique() == outcome.traces_quarantined + outcome.traces_skipped
    )
    accounted = (
        outcome.records_rejected
        + outcome.records_duplicate
        + outcome.records_late
        + in_rows
        + traces.height
        + joined_logs
        + pending
    )
    assert outcome.records + carried == accounted, (
        f"{outcome.records} record(s) read (and {carried} carried over) but {accounted} accounted for: "
        f"{outcome.records_rejected} rejected, "
        f"{outcome.records_duplicate} duplicate, {outcome.records_late} late, {in_rows} in rows, "
        f"{traces.height} in quarantined traces (and {joined_logs} log records joined to them), {pending} pending"
    )

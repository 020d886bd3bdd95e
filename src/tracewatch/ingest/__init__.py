"""Incremental ingest: find new trace files, read and validate them, quarantine what fails, keep a ledger."""

from tracewatch.ingest.checks import FileOutcome
from tracewatch.ingest.data_docs import publish_data_docs
from tracewatch.ingest.ledger import Ledger, load_ledger
from tracewatch.ingest.night import NightTraces, NoTracesError
from tracewatch.ingest.quarantine import read_records as read_quarantine_records
from tracewatch.ingest.reducer import AcceptedRowsReducer
from tracewatch.ingest.run import IngestResult, ingest_new_traces, scan_accepted

__all__ = [
    "AcceptedRowsReducer",
    "FileOutcome",
    "IngestResult",
    "Ledger",
    "NightTraces",
    "NoTracesError",
    "ingest_new_traces",
    "load_ledger",
    "publish_data_docs",
    "read_quarantine_records",
    "scan_accepted",
]

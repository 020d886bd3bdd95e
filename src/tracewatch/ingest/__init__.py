"""Incremental ingest: find new trace files, read and validate them, quarantine what fails, keep a ledger."""

from tracewatch.ingest.ledger import Ledger, load_ledger
from tracewatch.ingest.run import IngestResult, ingest_new_traces, scan_accepted

__all__ = ["IngestResult", "Ledger", "ingest_new_traces", "load_ledger", "scan_accepted"]

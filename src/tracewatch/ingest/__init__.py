"""Incremental ingest: find new trace (and late feedback) files, read and validate them, quarantine what fails,
keep a ledger."""

from tracewatch.ingest.accepted import AcceptedFile, accepted_files, read_accepted_file
from tracewatch.ingest.checks import FileOutcome, in_threads
from tracewatch.ingest.data_docs import publish_data_docs
from tracewatch.ingest.feedback_files import FEEDBACK_EVENT_SCHEMA, FEEDBACK_PREFIX, read_feedback_quarantine
from tracewatch.ingest.feedback_overlay import feedback_dates, merge_feedback
from tracewatch.ingest.feedback_run import FeedbackResult, RebuiltDate, ingest_new_feedback
from tracewatch.ingest.ledger import Ledger, load_ledger
from tracewatch.ingest.night import NightTraces, NoTracesError
from tracewatch.ingest.quarantine import read_records as read_quarantine_records
from tracewatch.ingest.reducer import AcceptedRowsReducer
from tracewatch.ingest.run import (
    IngestPlan,
    IngestResult,
    ingest_new_traces,
    ingest_planned,
    plan_ingest,
    scan_accepted,
)

__all__ = [
    "FEEDBACK_EVENT_SCHEMA",
    "FEEDBACK_PREFIX",
    "AcceptedFile",
    "AcceptedRowsReducer",
    "FeedbackResult",
    "FileOutcome",
    "IngestPlan",
    "IngestResult",
    "Ledger",
    "NightTraces",
    "NoTracesError",
    "RebuiltDate",
    "accepted_files",
    "feedback_dates",
    "in_threads",
    "ingest_new_feedback",
    "ingest_new_traces",
    "ingest_planned",
    "load_ledger",
    "merge_feedback",
    "plan_ingest",
    "publish_data_docs",
    "read_accepted_file",
    "read_feedback_quarantine",
    "read_quarantine_records",
    "scan_accepted",
]

"""Trace importers: OpenTelemetry spans (GenAI, OpenInference, OpenLLMetry) from the Collector's S3 and file
exporters, and Langfuse, Opik and Phoenix exports, turned into canonical trace files that ingest reads like any
other (docs/importing.md).

`import_traces` is the stage entry: it reads every configured source's new objects (`load_sources`), assembles one
canonical row per request and publishes `import_daily`. The modules behind it are private.
"""

from tracewatch.importers._assemble import (
    AssembledFrame,
    AssembledTrace,
    IncompletePolicy,
    Pricer,
    assemble_frame,
    assemble_trace,
    group_by_trace,
)
from tracewatch.importers._dialects import read_span
from tracewatch.importers._ledger import LEDGER_KEY as IMPORT_LEDGER_KEY
from tracewatch.importers._quarantine import IMPORT_QUARANTINE_PREFIX
from tracewatch.importers._run import ImportResult, SourceImport, import_traces
from tracewatch.importers._sources import SourceConfig, load_sources, parse_sources
from tracewatch.importers._spans import (
    ChatMessage,
    FeedbackValue,
    Passage,
    Span,
    SpanEvent,
    SpanFacts,
)
from tracewatch.importers._trace_buffer import ReleasedTrace, TraceBuffer

__all__ = [
    "IMPORT_LEDGER_KEY",
    "IMPORT_QUARANTINE_PREFIX",
    "AssembledFrame",
    "AssembledTrace",
    "ChatMessage",
    "FeedbackValue",
    "ImportResult",
    "IncompletePolicy",
    "Passage",
    "Pricer",
    "ReleasedTrace",
    "SourceConfig",
    "SourceImport",
    "Span",
    "SpanEvent",
    "SpanFacts",
    "TraceBuffer",
    "assemble_frame",
    "assemble_trace",
    "group_by_trace",
    "import_traces",
    "load_sources",
    "parse_sources",
    "read_span",
]

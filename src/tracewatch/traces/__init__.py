"""Production traces: the canonical schema, the reader of trace files, and the demo trace generator."""

from tracewatch.traces._defects import BAD_ROW_DAYS, CORRUPT_FILE_DAY, DEFECTS, PlantedFile, PlantedRow
from tracewatch.traces._pii_plant import PII_TRACES_PER_DAY, PlantedPII
from tracewatch.traces.demo import (
    CORPUS_ATTRIBUTION,
    DemoSummary,
    generate_day,
    planted_pii_of_day,
    write_demo_traces,
)
from tracewatch.traces.drift_spec import (
    DEFAULT_DRIFT,
    DRIFT_KINDS,
    DRIFT_MAGNITUDES,
    MAGNITUDE_LEVELS,
    DayVariation,
    DriftSpec,
)
from tracewatch.traces.reader import ROW_NR, RejectedFile, TraceFile, read_trace_file
from tracewatch.traces.schema import (
    CONTEXT_PASSAGE,
    FEEDBACK,
    GROUP_KEYS,
    MESSAGE,
    REQUIRED_COLUMNS,
    STATUS_VALUES,
    TRACE_SCHEMA,
    empty_traces,
)

__all__ = [
    "BAD_ROW_DAYS",
    "CONTEXT_PASSAGE",
    "CORPUS_ATTRIBUTION",
    "CORRUPT_FILE_DAY",
    "DEFAULT_DRIFT",
    "DEFECTS",
    "DRIFT_KINDS",
    "DRIFT_MAGNITUDES",
    "FEEDBACK",
    "GROUP_KEYS",
    "MAGNITUDE_LEVELS",
    "MESSAGE",
    "PII_TRACES_PER_DAY",
    "REQUIRED_COLUMNS",
    "ROW_NR",
    "STATUS_VALUES",
    "TRACE_SCHEMA",
    "DayVariation",
    "DemoSummary",
    "DriftSpec",
    "PlantedFile",
    "PlantedPII",
    "PlantedRow",
    "RejectedFile",
    "TraceFile",
    "empty_traces",
    "generate_day",
    "planted_pii_of_day",
    "read_trace_file",
    "write_demo_traces",
]

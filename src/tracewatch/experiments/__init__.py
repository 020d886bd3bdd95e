"""The experiments stage: every item of a dataset version through every config of an experiment (a model
with prompt templates, or a Python task), `trials` times, every answer recorded as one row.

Load an experiment (`load_experiment`), check it against a dataset version (`launch`), and run it
(`run_experiment`, or `prepare_run` + `run_planned_chunk` per chunk under an orchestrator, or `chunk_order` +
`run_chunk_order` per chunk in other processes, with a `BudgetLedger` for the cost cap); the rows and the
record are read back with `read_experiment_items` and `read_record`. Model calls go through `tracewatch.llm`.
Everything a caller needs is exported here; the modules behind it are private.
"""

from tracewatch.experiments._config import ExperimentConfig
from tracewatch.experiments._elsewhere import (
    Allowance,
    BudgetLedger,
    ChunkOrder,
    chunk_order,
    earlier_attempt,
    run_chunk_order,
    throttle_settings,
)
from tracewatch.experiments._experiment import Experiment
from tracewatch.experiments._launch import (
    DatasetInput,
    Launch,
    dataset_input,
    default_experiment_id,
    experiment_runtime,
    experiment_spec,
    launch,
)
from tracewatch.experiments._lifecycle import ExperimentSpec, finish_experiment, start_experiment
from tracewatch.experiments._loading import experiment_from_dict, load_experiment, shipped_experiments
from tracewatch.experiments._plan import ChunkPlan, interleaved
from tracewatch.experiments._progress import (
    PROGRESS_LOGGER,
    ProgressCallback,
    ProgressSnapshot,
    console_progress,
)
from tracewatch.experiments._records import (
    EXPERIMENT_ITEM_SCHEMA,
    EXPERIMENTS_PREFIX,
    STATUSES,
    ConfigEntry,
    ExperimentRecord,
    items_prefix,
    list_records,
    read_record,
)
from tracewatch.experiments._resume import RunMode, item_parts, read_experiment_items
from tracewatch.experiments._runner import (
    ChunkResult,
    ExperimentResult,
    PreparedRun,
    RunnerSettings,
    prepare_run,
    run_experiment,
    run_planned_chunk,
    stopped_reason,
)
from tracewatch.experiments._spend import cost_aggregates, format_spend, unpriced
from tracewatch.experiments._stopping import TERMINAL_KINDS, TerminalStops
from tracewatch.experiments._summary import ExperimentSummary, experiment_markdown, experiment_summary
from tracewatch.experiments._tasks import ALLOW_TASKS_ENV, TaskFn, resolve_task
from tracewatch.experiments._templates import ItemFieldError, render_template

__all__ = [
    "ALLOW_TASKS_ENV",
    "EXPERIMENTS_PREFIX",
    "EXPERIMENT_ITEM_SCHEMA",
    "PROGRESS_LOGGER",
    "STATUSES",
    "TERMINAL_KINDS",
    "Allowance",
    "BudgetLedger",
    "ChunkOrder",
    "ChunkPlan",
    "ChunkResult",
    "ConfigEntry",
    "DatasetInput",
    "Experiment",
    "ExperimentConfig",
    "ExperimentRecord",
    "ExperimentResult",
    "ExperimentSpec",
    "ExperimentSummary",
    "ItemFieldError",
    "Launch",
    "PreparedRun",
    "ProgressCallback",
    "ProgressSnapshot",
    "RunMode",
    "RunnerSettings",
    "TaskFn",
    "TerminalStops",
    "chunk_order",
    "console_progress",
    "cost_aggregates",
    "dataset_input",
    "default_experiment_id",
    "earlier_attempt",
    "experiment_from_dict",
    "experiment_markdown",
    "experiment_runtime",
    "experiment_spec",
    "experiment_summary",
    "finish_experiment",
    "format_spend",
    "interleaved",
    "item_parts",
    "items_prefix",
    "launch",
    "list_records",
    "load_experiment",
    "prepare_run",
    "read_experiment_items",
    "read_record",
    "render_template",
    "resolve_task",
    "run_chunk_order",
    "run_experiment",
    "run_planned_chunk",
    "shipped_experiments",
    "start_experiment",
    "stopped_reason",
    "throttle_settings",
    "unpriced",
]

"""What a finished run says about itself: the summary an entry point returns and logs, and the markdown of an
experiment's Prefect artifact (the counts per config; the scores section is the scoring stage's)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tracewatch.experiments._records import ExperimentRecord
from tracewatch.experiments._runner import ChunkResult, stopped_reason
from tracewatch.experiments._spend import format_spend


@dataclass(frozen=True)
class ExperimentSummary:
    """What one run of an experiment did: the record's counts, this run's calls and answers from the cache, the
    scoring's one-line message and its leaderboard as markdown (set by the flow once the answers are scored).

    `stopped_reason` is set when a config stopped calling after repeated terminal errors (a wrong key, an
    unknown model): the run finished, but it failed, and an entry point must say so and fail with it."""

    experiment_id: str
    dataset: str
    dataset_version: int
    configs: int
    counts: dict[str, int]
    spent_usd: float
    spend: str
    """`spent_usd` for people: "unknown" or a lower bound when answers have no price (`format_spend`)."""
    unpriced_items: int
    calls: int
    cached: int
    message: str
    scoring: str = ""
    scores_markdown: str = ""
    stopped_reason: str | None = None

    def scored(self, message: str, markdown: str) -> ExperimentSummary:
        """The summary with the scoring's message and leaderboard."""
        return dataclasses.replace(self, scoring=message, scores_markdown=markdown)


def experiment_summary(record: ExperimentRecord, chunks: Sequence[ChunkResult]) -> ExperimentSummary:
    """The record's counts and what this run did (calls made, answers from the cache), with a one-line
    `message`."""
    calls = sum(c.attempts for c in chunks)
    cached = sum(c.cached for c in chunks)
    counts = dict(record.counts)
    stopped = stopped_reason(chunks)
    spend = record.spend_text()
    return ExperimentSummary(
        experiment_id=record.experiment_id,
        dataset=record.dataset,
        dataset_version=record.dataset_version,
        configs=len(record.configs),
        counts=counts,
        spent_usd=record.spent_usd,
        spend=spend,
        unpriced_items=record.unpriced_items,
        calls=calls,
        cached=cached,
        message=(
            (f"FAILED: {stopped}. " if stopped else "")
            + f"experiment {record.experiment_id}: {len(record.configs)} configs x {record.item_count} items "
            f"x {record.trials} trials of {record.dataset} v{record.dataset_version}: "
            + ", ".join(f"{n} {status}" for status, n in counts.items())
            + f"; this run made {calls} calls, {cached} answers from the cache, spent in all: {spend}"
        ),
        stopped_reason=stopped,
    )


def experiment_markdown(record: ExperimentRecord, message: str, board: Sequence[Mapping[str, object]]) -> str:
    """The experiment's artifact: `message` (the summary's) and one row per config of its leaderboard
    (`tracewatch.summaries.experiment_leaderboard`): counts per status, cost (unknown when no answer has a
    price, with the count of unpriced answers) and mean latency."""
    rows = "\n".join(
        f"| {row['config']}{' (baseline)' if row['baseline'] else ''} | {row['ok']} | {row['error']} | "
        f"{row['skipped_budget']} | {row['missing']} | {_cost_cell(row)} | {row['mean_latency_ms']} |"
        for row in board
    )
    return (
        f"# Experiment `{record.experiment_id}`\n\n{message}\n\n"
        "| config | ok | error | skipped (budget) | missing | cost | mean latency (ms) |\n"
        "|---|---|---|---|---|---|---|\n"
        f"{rows}\n\nItems: `warehouse/experiments/{record.experiment_id}/items/`\n"
    )


def _cost_cell(row: Mapping[str, object]) -> str:
    cost, unpriced, ok = row.get("cost_usd"), row.get("unpriced_items"), row.get("ok")
    return format_spend(
        float(cost) if isinstance(cost, int | float) else None,
        unpriced_items=unpriced if isinstance(unpriced, int) else 0,
        answered=ok if isinstance(ok, int) else None,
    )

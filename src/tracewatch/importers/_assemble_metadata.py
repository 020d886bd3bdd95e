"""The Python part of columnar assembly (`_assemble_simple`): each simple trace's cost, summed as `sum` sums the
same floats in the same order (bit for bit), its notes, and its metadata dict, dumped with the very orjson call
`assemble_trace` makes. One small loop per trace over a few columns' values; span metadata texts are parsed once
per distinct text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import polars as pl

from tracewatch.importers._assemble import IMPORT_WARNINGS_KEY
from tracewatch.importers._facts_json import json_default
from tracewatch.importers._span_tree import NAMED_AT_MOST

TEXT_SEPARATOR = "\x00"
"""Joins a trace's distinct metadata texts: valid JSON text (the only kind admitted) never holds a raw NUL."""


def _token_note(
    name: str, known: int, llm_count: int, from_root: int | None, root_role: str | None
) -> str | None:
    """`_llm_calls._token_sum`'s note, if any."""
    if not known:
        if from_root is not None and root_role != "llm":
            return f"{name} from the root span: no LLM span states it"
        return None
    if known < llm_count:
        return f"{name} unknown on {llm_count - known} of {llm_count} LLM spans; the sum covers the others"
    return None


class _SpanMetadata:
    """`_assemble._span_metadata` over texts: each distinct metadata text parsed once per batch."""

    def __init__(self) -> None:
        self._parsed: dict[str, dict[str, Any]] = {}
        self._merged: dict[str, dict[str, Any]] = {}

    def parsed(self, text: str) -> dict[str, Any]:
        value = self._parsed.get(text)
        if value is None:
            value = self._parsed[text] = orjson.loads(text)
        return value

    def warnings(self, warned_ids: list[str], warned_texts: list[str]) -> list[str]:
        """The `import_warnings` of the spans (in start order) whose metadata text mentions the key."""
        warnings: list[str] = []
        for span_id, text in zip(warned_ids, warned_texts, strict=True):
            value = self.parsed(text).get(IMPORT_WARNINGS_KEY, _ABSENT)
            if value is _ABSENT:
                continue
            found = value if isinstance(value, list) else [value]
            warnings += [f"span {span_id}: {w}" for w in found]
        if len(warnings) > NAMED_AT_MOST:
            warnings = [*warnings[:NAMED_AT_MOST], f"... and {len(warnings) - NAMED_AT_MOST} more"]
        return warnings

    def merged(self, joined: str) -> dict[str, Any]:
        """The other keys of a trace's distinct metadata texts (`TEXT_SEPARATOR`-joined in first-seen order),
        merged once per distinct combination. Merging each distinct text once gives the same result as every
        span in order: a repeated text meets keys already set, so it adds the same clashes again. The dict is
        shared by the traces with that combination; nothing changes it."""
        merged = self._merged.get(joined)
        if merged is not None:
            return merged
        merged = {}
        clashes: set[str] = set()
        for text in joined.split(TEXT_SEPARATOR) if joined else ():
            for key, value in self.parsed(text).items():
                if key == IMPORT_WARNINGS_KEY:
                    continue
                if key not in merged:
                    merged[key] = value
                elif merged[key] != value:
                    clashes.add(key)
        if clashes:
            merged["_clashing_keys"] = sorted(clashes)
        self._merged[joined] = merged
        return merged


_ABSENT = object()


def cost_and_metadata(
    traces: pl.DataFrame, source_rows: list[dict[str, Any]]
) -> tuple[list[float | None], list[str]]:
    """Per trace: the cost (Python's `sum` of the priced costs in start order) and the metadata JSON text."""
    columns = {
        name: traces[name].to_list()
        for name in (
            "_root_span_id",
            "_root_role",
            "_root_input_tokens",
            "_root_output_tokens",
            "_root_cost_usd",
            "_n",
            "_llm_n",
            "_retriever_n",
            "_log_records",
            "_dialects",
            "_failed_llm",
            "_in_known",
            "_out_known",
            "_models",
            "_priced_costs",
            "_from_attributes",
            "_from_cost_map",
            "_silent_n",
            "_unpriced_models",
            "_texts",
            "_warned_ids",
            "_warned_texts",
        )
    }
    span_metadata = _SpanMetadata()
    dump: Callable[..., bytes] = orjson.dumps
    costs: list[float | None] = []
    texts: list[str] = []
    for i, source in enumerate(source_rows):
        llm_count: int = columns["_llm_n"][i]
        root_role = columns["_root_role"][i]
        notes: list[str] = []
        for name, known, from_root in (
            ("input_tokens", columns["_in_known"][i], columns["_root_input_tokens"][i]),
            ("output_tokens", columns["_out_known"][i], columns["_root_output_tokens"][i]),
        ):
            note = _token_note(name, known, llm_count, from_root, root_role)
            if note is not None:
                notes.append(note)
        priced: list[float] = columns["_priced_costs"][i]
        unpriced: list[str] = columns["_unpriced_models"][i]
        silent: int = columns["_silent_n"][i]
        cost: float | None = None
        cost_source: str | None = None
        cost_known: float | None = None
        if silent:
            notes.append(f"{silent} LLM span(s) state no tokens and no cost; left out of the cost")
        if unpriced:
            notes.append(
                f"cost unknown: {len(unpriced)} LLM span(s) used tokens but have no cost attribute and no known "
                f"price (models: {', '.join(sorted(set(unpriced)))})"
            )
            cost_known = sum(priced) if priced else None
        elif priced:
            cost = sum(priced)
            both = columns["_from_attributes"][i] and columns["_from_cost_map"][i]
            cost_source = (
                "mixed" if both else "attributes" if columns["_from_attributes"][i] else "litellm_cost_map"
            )
        elif columns["_root_cost_usd"][i] is not None and root_role != "llm":
            cost = columns["_root_cost_usd"][i]
            cost_source = "attributes"
            notes.append("cost_usd from the root span: no LLM span states it")
        meta: dict[str, Any] = {
            "dialects": columns["_dialects"][i],
            "span_count": columns["_n"][i],
            "llm_span_count": llm_count,
            "retriever_span_count": columns["_retriever_n"][i],
            "root_span_id": columns["_root_span_id"][i],
        }
        if columns["_log_records"][i]:
            meta["log_record_count"] = columns["_log_records"][i]
        if columns["_failed_llm"][i]:
            meta["failed_llm_calls"] = columns["_failed_llm"][i]
        warned_ids = columns["_warned_ids"][i]
        warnings = span_metadata.warnings(warned_ids, columns["_warned_texts"][i]) if warned_ids else None
        leftovers = span_metadata.merged(columns["_texts"][i])
        if warnings:
            meta[IMPORT_WARNINGS_KEY] = warnings
        if leftovers:
            meta["span_metadata"] = leftovers
        if notes:
            meta["notes"] = notes
        if source:
            meta["source"] = source
        meta["models"] = columns["_models"][i]
        meta["cost_source"] = cost_source
        if cost_known is not None:
            meta["cost_known_usd"] = cost_known
        costs.append(cost)
        texts.append(dump(meta, default=json_default, option=orjson.OPT_SORT_KEYS).decode())
    return costs, texts

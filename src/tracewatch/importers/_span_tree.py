"""The shape of one trace's spans: duplicates removed, the root found, and what was odd about the tree recorded.

Real span trees are not always trees. A Collector retry re-sends spans; broken context propagation leaves
several spans without a parent; a span whose parent sits in an object not yet read (or lost) points outside the
trace; a buggy exporter can make parents form a cycle; hosts with skewed clocks start a child before its parent.
None of these may crash an import or silently drop a span, so `span_tree` decides each case and says what it did:

- duplicates (same span id): the first arrival is kept; a duplicate with different content is named.
- several parentless spans: the root is the one that starts first (then the longest, then the lowest span id),
  so the root is the span most likely to enclose the others; the rest stay in the trace.
- a parent that is not in the trace: the span stays in the trace (its tokens count) and is named.
- no parentless span at all (the root never arrived, or parents form a cycle): there is no root; a stand-in
  (the earliest span whose parent is missing, else the earliest span) lends its timing and the caller flags the
  trace incomplete or quarantines it.
- a cycle next to a real root: the spans in it or hanging below it stay in the trace and are named.
- clock skew: a child that starts before its parent is counted, and the largest skew recorded; no time is
  moved, because the root's own clock is what the user experienced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tracewatch.importers._spans import SpanFacts

NAMED_AT_MOST = 10
"""Span ids named per oddity in metadata; the count is always complete. A 10,000-span trace with every parent
missing must not write a 200 KB metadata cell."""


@dataclass(slots=True)
class SpanTree:
    """One trace's distinct spans in start order, its root (None when no span is parentless) and the oddities."""

    trace_id: str
    spans: list[SpanFacts]
    root: SpanFacts | None
    stand_in: SpanFacts
    duplicates: int = 0
    differing_duplicates: list[str] = field(default_factory=list)
    parentless: int = 0
    missing_parent: list[str] = field(default_factory=list)
    missing_parent_count: int = 0
    cyclic: list[str] = field(default_factory=list)
    cyclic_count: int = 0
    skewed: int = 0
    max_skew_ms: float = 0.0

    @property
    def rootless_reason(self) -> str | None:
        """Why this trace has no root, or None when it has one."""
        if self.root is not None:
            return None
        if self.missing_parent_count:
            return (
                f"root span never arrived: no span of the trace is without a parent, and "
                f"{self.missing_parent_count} span(s) point to a parent that is not in the trace "
                f"(e.g. span {self.missing_parent[0]})"
            )
        return "no root span: every span has a parent and the parents form a cycle"


def _start_key(facts: SpanFacts) -> tuple[bool, int, str]:
    """Start order, spans without a start time last; the span id breaks ties so that the order, and with it
    every "first" and "last" assembly picks, does not depend on the order the spans arrived in."""
    start = facts.start_time_unix_nano
    return (start is None, start or 0, facts.span_id)


def _root_key(facts: SpanFacts) -> tuple[bool, int, int, str]:
    start = facts.start_time_unix_nano
    end = facts.end_time_unix_nano
    duration = end - start if start is not None and end is not None else 0
    return (start is None, start or 0, -duration, facts.span_id)


def _parent(facts: SpanFacts) -> str | None:
    # OTLP encodes "no parent" as an empty id; a decoder that passes it on must not make a missing parent of it.
    return facts.parent_span_id or None


def span_tree(facts: Sequence[SpanFacts]) -> SpanTree:
    """The tree of one trace's facts; ValueError when there are none or they belong to several traces."""
    if not facts:
        raise ValueError("a trace needs at least one span's facts to assemble; got none")
    trace_id = facts[0].trace_id
    by_id: dict[str, SpanFacts] = {}
    duplicates = 0
    differing: list[str] = []
    for item in facts:
        if item.trace_id != trace_id:
            raise ValueError(
                f"facts of one trace must share its trace id: got {item.trace_id!r} next to {trace_id!r} "
                "(group spans by trace id before assembling)"
            )
        kept = by_id.get(item.span_id)
        if kept is None:
            by_id[item.span_id] = item
            continue
        duplicates += 1
        if kept != item and item.span_id not in differing:
            differing.append(item.span_id)
    spans = sorted(by_id.values(), key=_start_key)
    parentless: list[SpanFacts] = []
    missing: list[SpanFacts] = []
    skewed, max_skew_ns = 0, 0
    for span in spans:  # one pass: this runs for every span of a million-span import
        parent_id = span.parent_span_id
        if not parent_id:
            parentless.append(span)
            continue
        parent = by_id.get(parent_id)
        if parent is None:
            missing.append(span)
        elif span.start_time_unix_nano is not None and parent.start_time_unix_nano is not None:
            early = parent.start_time_unix_nano - span.start_time_unix_nano
            if early > 0:
                skewed += 1
                max_skew_ns = max(max_skew_ns, early)
    detached = _detached(by_id)
    root = min(parentless, key=_root_key) if parentless else None
    stand_in = root or (min(missing, key=_root_key) if missing else min(spans, key=_root_key))
    return SpanTree(
        trace_id=trace_id,
        spans=spans,
        root=root,
        stand_in=stand_in,
        duplicates=duplicates,
        differing_duplicates=differing[:NAMED_AT_MOST],
        parentless=len(parentless),
        missing_parent=[s.span_id for s in missing[:NAMED_AT_MOST]],
        missing_parent_count=len(missing),
        cyclic=sorted(detached)[:NAMED_AT_MOST],
        cyclic_count=len(detached),
        skewed=skewed,
        max_skew_ms=max_skew_ns / 1e6,
    )


def _detached(by_id: dict[str, SpanFacts]) -> set[str]:
    """Span ids whose chain of parents loops without reaching a parentless span or a missing parent.

    Each span is walked once: a chain stops at a span already resolved, so the whole pass is linear in the
    number of spans, which a 10,000-span trace needs.
    """
    resolved: dict[str, bool | None] = {}  # span id -> its chain loops; None while on the chain being walked
    for start in by_id:
        if start in resolved:
            continue
        path: list[str] = []
        current: str | None = start
        loops = False
        while current is not None:
            if current in resolved:
                # Only the chain being walked is unresolved (None), so meeting it again closes a loop.
                loops = resolved[current] is not False
                break
            span = by_id.get(current)
            if span is None:  # a missing parent ends the chain: the span hangs below an absent one
                break
            path.append(current)
            resolved[current] = None
            current = span.parent_span_id or None
        for span_id in path:
            resolved[span_id] = loops
    return {span_id for span_id, loops in resolved.items() if loops}

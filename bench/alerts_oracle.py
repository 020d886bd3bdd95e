"""What one test that knows the shift could detect: the alerts benchmark's yardstick for the small shifts.

A nightly rule tests twenty-odd features at once and must keep a quiet night's chance of any alert near 5%, so
no feature gets the whole 5% to itself. The yardstick gives it to one: a test told *which* quantity shifted and
*which way* (the share of inputs on the shifted topic, in a non-Latin script, of refused answers, of thumbs-up
feedback), one-sided at the nightly 5%, with the reference days' swing allowed for the way the nightly rule
allows for it (the day-to-day variance of the daily shares beyond the binomial's, never below it). No rule that
pages on at most 5% of quiet nights can beat this test at its own quantity by much, so its detection rate says
how much of a small shift's miss is the sample size rather than the rule.

The topic share uses the generator's own labels (an input is on the topic when a corpus item on that topic
asks it), which a text-only test cannot see for the sub-questions that inherit a sports question's topic; the
yardstick is therefore an upper bound for that shift.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from functools import lru_cache

import polars as pl

ALPHA = 0.05
"""The whole nightly false-alarm budget, given to the one test."""
KINDS: tuple[str, ...] = ("topic_mix", "language", "refusals", "feedback_drop")
_RISES = {"topic_mix": True, "language": True, "refusals": True, "feedback_drop": False}
"""The direction each shift moves its share (a feedback drop lowers the thumbs-up share)."""
START = dt.date(2026, 3, 2)
"""Any day: without topic cells the descriptors do not depend on it."""
Counts = tuple[int, int]
"""(hits, trials) of one day."""


@lru_cache(maxsize=1)
def _shift_topic_texts() -> frozenset[str]:
    from tracewatch.traces._corpus import load_corpus
    from tracewatch.traces._synth_types import SHIFT_TOPIC

    items = load_corpus().items
    return frozenset(items.filter(pl.col("topic") == SHIFT_TOPIC).get_column("input_text").to_list())


def shifted_counts(frame: pl.DataFrame, kind: str) -> Counts:
    """The day's hits and trials of the quantity `kind` shifts (one of `KINDS`)."""
    from tracewatch.drift.features import categorical_features

    if kind == "topic_mix":
        hits = frame.get_column("input_text").is_in(list(_shift_topic_texts()))
        return int(hits.sum()), frame.height
    if kind == "feedback_drop":
        thumbs = (
            frame.select(pl.col("feedback").explode())
            .drop_nulls()
            .unnest("feedback")
            .filter(pl.col("name") == "thumbs")
            .get_column("value")
        )
        return int((thumbs > 0.5).sum()), thumbs.len()
    if kind not in ("language", "refusals"):
        raise ValueError(f"no single-test yardstick for drift kind {kind!r}; expected one of {KINDS}")
    features = categorical_features(frame.select("input_text", "output_text"), START, topics=False)
    if kind == "language":
        script = features["script"]
        return int(((script != "latin") & (script != "none")).sum()), script.len()
    refusal = features["refusal"]
    return int((refusal == "yes").sum()), refusal.len()


def one_test_alerts(reference: Sequence[Counts], current: Counts, kind: str) -> bool:
    """Whether the one-sided test of `kind`'s share, at `ALPHA`, calls the night shifted."""
    hits = sum(k for k, _ in reference)
    trials = sum(n for _, n in reference)
    if trials == 0 or current[1] == 0:
        return False
    share = hits / trials
    binomial = share * (1.0 - share)
    if binomial == 0.0:  # the reference never (or always) had it: any move the shift's way is new
        return current[0] > 0 if _RISES[kind] else current[0] < current[1]
    daily = [k / n for k, n in reference if n]
    mean = sum(daily) / len(daily)
    observed = sum((d - mean) ** 2 for d in daily) / max(1, len(daily) - 1)
    expected = binomial * sum(1.0 / n for _, n in reference if n) / len(daily)
    swing = max(1.0, observed / expected) if len(daily) > 1 else 1.0
    z = (current[0] / current[1] - share) / math.sqrt(swing * binomial * (1.0 / current[1] + 1.0 / trials))
    p_value = 0.5 * math.erfc((z if _RISES[kind] else -z) / math.sqrt(2.0))
    return p_value < ALPHA

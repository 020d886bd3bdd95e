"""What the day synthesis passes around: the active drift effects, the day's mix, each trace's picks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tracewatch.traces import _profile as prof

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CORRECT, PARTIAL, WRONG, REFUSAL = range(4)
"""Answer labels, in the order of the correctness table's columns."""
SHIFT_TOPIC = "sports"
"""The topic a graded topic shift moves traffic to (the demo's topic drift favours it too)."""
SHIFT_FROM_MODEL, SHIFT_TO_MODEL = 0, 1
"""A graded model shift moves traffic from `MODELS[0]` (gpt-4o-mini) to `MODELS[1]` (claude-3-5-haiku)."""


@dataclass(frozen=True)
class Effects:
    """Which drift effects are active on the day being generated.

    The switches are the demo's drift (each at its `_profile.DRIFT_*` size); the graded drifts are one kind
    each at a given magnitude, 0 (1 for `refusal_factor`) meaning off.
    """

    topic_mix: bool = False
    longer_outputs: bool = False
    latency_regression: bool = False
    falling_feedback: bool = False
    new_model_version: bool = False
    topic_shift: float = 0.0
    """Share of all traffic moved from the other topics to `SHIFT_TOPIC` (0.05: its share rises 5 points)."""
    output_growth: float = 0.0
    """Answers get this much longer, relative (0.1: 10% more characters), padded with more elaboration."""
    latency_growth: float = 0.0
    """Every latency is multiplied by 1 + this."""
    model_shift: float = 0.0
    """Share of all traffic moved from `MODELS[SHIFT_FROM_MODEL]` to `MODELS[SHIFT_TO_MODEL]`."""
    feedback_drop: float = 0.0
    """Drop of the thumbs-up share among thumbs given, in share points (0.15: 15 points); ratings follow."""
    language_shift: float = 0.0
    """Share of the inputs replaced by a question in a non-Latin script (`FOREIGN_QUESTIONS`)."""
    refusal_factor: float = 1.0
    """Each trace's probability of a refusal answer is multiplied by this (2.0: refusals double)."""

    @property
    def graded(self) -> bool:
        """Whether any graded drift is on (they draw from their own random stream)."""
        return any(
            (
                self.topic_shift,
                self.output_growth,
                self.latency_growth,
                self.model_shift,
                self.feedback_drop,
                self.language_shift,
                self.refusal_factor != 1.0,
            )
        )


@dataclass(frozen=True)
class Mix:
    """Day-to-day variation of the traffic mix: multipliers of the route and model shares (`ROUTE_SPECS` and
    `MODELS` order); all ones is the profile's mix."""

    route: tuple[float, ...]
    model: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.route) != len(prof.ROUTE_SPECS) or len(self.model) != len(prof.MODELS):
            raise ValueError(f"Mix needs {len(prof.ROUTE_SPECS)} route and {len(prof.MODELS)} model factors")
        if min(*self.route, *self.model) <= 0:
            raise ValueError("Mix factors must be > 0")


@dataclass(frozen=True)
class Picks:
    """The categorical choices of every trace, as indices into the corpus and the profile tables."""

    item: IntArray
    route: IntArray
    model: IntArray
    label: IntArray
    error: BoolArray
    error_kind: IntArray

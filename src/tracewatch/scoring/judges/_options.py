"""What a judge kind takes besides its model: a rubric's criterion, steps and scale, the moderation categories.
Pydantic models, checked when the judge is configured, so a wrong option stops the run before any model call."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt, StrictStr

from tracewatch.scoring._config import Expect, ScoringModel

Scale = tuple[int, int]
"""The integer scale a judge answers on: (lowest, best)."""


class JudgeOptions(ScoringModel):
    """The options of a judge kind; this base takes none (correctness, faithfulness, relevance)."""

    unknown_words = "takes no option(s) {unknown}; it takes {allowed}"

    def answer_scale(self, default: Scale | None) -> Scale | None:
        """The scale the judge answers on: its kind's (`default`) unless the options set one."""
        return default


def _rising(scale: Scale) -> Scale:
    if scale[0] >= scale[1]:
        raise ValueError("low is not below high")
    return scale


class RubricOptions(JudgeOptions):
    """A custom criterion, judged G-Eval style: the criterion, optional evaluation steps, the scale."""

    missing_words = "needs `criteria`: the quality to judge, in a sentence or two"

    criteria: Annotated[StrictStr, Field(pattern=r"\S"), Expect("the quality to judge, in a sentence or two")]
    steps: Annotated[list[StrictStr], Field(strict=False), Expect("a list of evaluation steps (strings)")] = (
        Field(default_factory=list)
    )
    scale: Annotated[
        tuple[StrictInt, StrictInt],
        Field(strict=False),
        AfterValidator(_rising),
        Expect("two integers [low, high] with low < high"),
    ] = (1, 5)

    def answer_scale(self, default: Scale | None) -> Scale | None:
        return self.scale


class ModerationOptions(JudgeOptions):
    """The content categories the moderation judge looks for; None for `MODERATION_CATEGORIES`."""

    categories: Annotated[
        list[StrictStr] | None, Field(strict=False), Expect("a list of content categories (strings)")
    ] = None

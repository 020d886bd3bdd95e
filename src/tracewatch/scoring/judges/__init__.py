"""LLM judges: pure prompt builders and parsers, called through the experiments' model client and cache."""

from tracewatch.scoring.judges.judge import LLMJudge, judge_from_dict
from tracewatch.scoring.judges.prompts import KINDS

__all__ = ["KINDS", "LLMJudge", "judge_from_dict"]

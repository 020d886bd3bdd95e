"""Synthetic dataset items for the thin strata of a dataset: a model asked, through the llm layer, for
paraphrases, harder variants or adversarial inputs in the style of a stratum's real items (docs/datasets.md,
"Synthetic items"). Every item records its provenance; every rejected reply or proposal its reason."""

from tracewatch.datasets.synthetic._parse import ParsedReply, parse_reply
from tracewatch.datasets.synthetic._run import (
    BUDGET_STOP,
    DIRECT_ENV,
    MODEL_ERROR,
    SynthesisResult,
    direct_setting,
    synthesize,
)
from tracewatch.datasets.synthetic._screen import EXACT_IN_BATCH, SYNTHETIC
from tracewatch.datasets.synthetic._strata import Stratum, strata_columns, thin_strata
from tracewatch.datasets.synthetic._templates import KINDS, Template, check_kinds, load_template

__all__ = [
    "BUDGET_STOP",
    "DIRECT_ENV",
    "EXACT_IN_BATCH",
    "KINDS",
    "MODEL_ERROR",
    "SYNTHETIC",
    "ParsedReply",
    "Stratum",
    "SynthesisResult",
    "Template",
    "check_kinds",
    "direct_setting",
    "load_template",
    "parse_reply",
    "strata_columns",
    "synthesize",
    "thin_strata",
]

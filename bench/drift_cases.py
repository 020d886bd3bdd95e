"""Generated reference/current tables and Evidently's DataDriftPreset decisions on them (shared by the
agreement test and the benchmark)."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

MODELS = ("gpt-4o-mini", "claude-3-5-haiku", "llama-3.1-8b")
ROUTES = ("qa/multi-hop", "qa/single-fact", "chat/followup", "search")


def traces_table(rng: np.random.Generator, n: int, *, drift: bool) -> pl.DataFrame:
    """Numeric and categorical trace columns; `drift` shifts latency, output tokens and the model mix only."""
    latency_scale = 1.35 if drift else 1.0
    model_p = (0.2, 0.5, 0.3) if drift else (0.5, 0.3, 0.2)
    output_tokens = rng.poisson(180 if drift else 120, n)
    input_tokens = rng.poisson(400, n)
    model = rng.choice(len(MODELS), n, p=model_p)
    return pl.DataFrame(
        {
            "latency_ms": np.round(rng.lognormal(6.8, 0.45, n) * latency_scale, 3),
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": np.round((input_tokens * 0.15 + output_tokens * 0.6) / 1e6 * (1 + model), 9),
            "model": np.array(MODELS)[model],
            "route": np.array(ROUTES)[rng.choice(len(ROUTES), n, p=(0.45, 0.3, 0.15, 0.1))],
            "status": np.where(rng.random(n) < 0.02, "error", "ok"),
        }
    )


def evidently_decisions(reference: Any, current: Any) -> dict[str, tuple[str, float, bool]]:
    """Column -> (Evidently's method, its value, drifted) from `DataDriftPreset` with default settings.

    The frames are pandas (as Evidently takes them) or polars (converted here)."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    if isinstance(reference, pl.DataFrame):
        reference, current = reference.to_pandas(), current.to_pandas()
    result: dict[str, Any] = Report([DataDriftPreset()]).run(current, reference).dict()
    out = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        method, threshold, value = config["method"], config["threshold"], float(metric["value"])
        if "p_value" in method:
            drifted = value <= threshold if method.startswith("K-S") else value < threshold
        else:
            drifted = value >= threshold
        out[config["column"]] = (method, value, drifted)
    return out

"""Synthetic dataset items for thin strata, from the Prefect UI (a parameter form) or `tracewatch synthesize`.

Thin by design: the task body is one call into the `tracewatch` library (`datasets.synthetic.synthesize`).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from flows.common import connect_store, stage_task
from tracewatch.datasets import SynthesisResult, load_dataset_spec, synthesize
from tracewatch.experiments import load_experiment
from tracewatch.llm import CallParams, LimitSettings
from tracewatch.runs import new_run_id
from tracewatch.store import Store

Kind = Literal["paraphrase", "harder", "adversarial"]


def generator_model(experiment: str, config: str | None) -> tuple[CallParams, dict[str, LimitSettings]]:
    """The model call of an experiment's config (its baseline unless `config` names one), with the
    experiment's provider limits: the generator is configured like any model the project calls."""
    loaded = load_experiment(experiment)
    chosen = loaded.baseline if config is None else loaded.config(config)
    return chosen.call_params(), dict(loaded.limits)


@stage_task
def synthesize_items(
    store: Store,
    dataset: str,
    spec: str | None,
    target: int,
    kinds: list[Kind],
    experiment: str,
    config: str | None,
    budget_usd: float,
    seed: int,
    direct: bool | None,
    per_request: int,
    max_strata: int | None,
    params: dict[str, Any] | None,
) -> SynthesisResult:
    call, limits = generator_model(experiment, config)
    if params:  # an experiment's answers may be short; a list of inputs needs more room, or a response format
        call = dataclasses.replace(call, params={**call.params, **params})
    return synthesize(
        store,
        dataset,
        load_dataset_spec(spec),
        target_per_stratum=target,
        kinds=kinds,
        model=call,
        budget_usd=budget_usd,
        seed=seed,
        direct=direct,
        per_request=per_request,
        max_strata=max_strata,
        limits=limits,
        run_id=new_run_id("synth"),
    )


@flow(name="synthesize", flow_run_name="synthesize-{dataset}", log_prints=True)
def synthesize_flow(
    dataset: str,
    target: Annotated[int, Field(ge=1, le=10_000)] = 5,
    kinds: list[Kind] | None = None,
    experiment: str = "demo",
    config: str | None = None,
    budget_usd: Annotated[float, Field(ge=0)] = 1.0,
    seed: Annotated[int, Field(ge=0)] = 0,
    direct: bool | None = None,
    per_request: Annotated[int, Field(ge=1, le=50)] = 3,
    spec: str | None = None,
    max_strata: Annotated[int, Field(ge=1)] | None = None,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Ask a model for new inputs for every stratum of a dataset with fewer than `target` items.

    The items go to a review sheet (then `tracewatch import-review`) unless `direct` (or the setting
    TRACEWATCH_SYNTHETIC_DIRECT) adds them as a version at once. docs/datasets.md, "Synthetic items".

    Args:
        dataset: The dataset whose thin strata get synthetic items.
        target: Items a stratum should hold; strata with fewer are filled.
        kinds: What to ask for (default: paraphrase).
        experiment: The experiment (shipped name or YAML path) whose config is the generator model.
        config: That experiment's config to use (default: its baseline).
        budget_usd: Stop starting model calls past this spend.
        seed: The generation seed (sent as the model's seed; recorded in every item's provenance).
        direct: Add the items as a version without review (default: the TRACEWATCH_SYNTHETIC_DIRECT setting).
        per_request: Inputs asked for per stratum and kind.
        spec: The dataset spec (YAML path) that defines the strata, redaction and de-duplication (default:
            the shipped nightly spec).
        max_strata: Fill only this many of the thinnest strata (default: every thin stratum).
        params: Model params replacing the config's, e.g. {"max_tokens": 200} or a `response_format` that
            constrains the reply to a JSON list (default: the config's params).
    """
    store = connect_store()
    result = synthesize_items(
        store,
        dataset,
        spec,
        target,
        list(kinds or ["paraphrase"]),
        experiment,
        config,
        budget_usd,
        seed,
        direct,
        per_request,
        max_strata,
        params,
    )
    summary = summarise(result)
    create_markdown_artifact(
        key=f"synthesize-{dataset}", markdown=f"# Synthetic items for `{dataset}`\n\n{summary['message']}\n"
    )
    return summary


def summarise(result: SynthesisResult) -> dict[str, Any]:
    """What the flow returns and the CLI prints: counts per outcome and reason, and where the items went."""
    if result.manifest is not None:
        where = f"added as version {result.manifest.version}"
    elif result.review is not None:
        where = f"written for review: {result.review.csv_key}"
    else:
        where = "nothing written"
    message = (
        f"{result.items.height} synthetic item(s) for {len(result.thin_strata)} thin stratum/strata, {where}; "
        f"outcomes {result.counts}; calls {result.calls}"
    )
    return {
        "dataset": result.dataset,
        "run_id": result.run_id,
        "thin_strata": result.thin_strata,
        "counts": result.counts,
        "calls": result.calls,
        "version": result.manifest.version if result.manifest else None,
        "review_sheet": result.review.csv_key if result.review else None,
        "message": message,
    }

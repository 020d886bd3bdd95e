"""`synthesize`: new inputs for the thin strata of a dataset, asked of a model in the style of each stratum's real
items, screened like every other item, and written for review (by default) or directly as a new version.

Every proposal and every reply is accounted for in the result: an item, or a rejected row with its reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from tracewatch.datasets.append import append_version
from tracewatch.datasets.pending import write_pending
from tracewatch.datasets.pii import redact_text
from tracewatch.datasets.review import ReviewExport, export_pending_for_review
from tracewatch.datasets.spec import DatasetSpec
from tracewatch.datasets.synthetic._generate import Request, generate, with_seed
from tracewatch.datasets.synthetic._parse import parse_reply
from tracewatch.datasets.synthetic._screen import (
    PROPOSAL_SCHEMA,
    REJECTED_SCHEMA,
    provenance,
    screen,
)
from tracewatch.datasets.synthetic._strata import Stratum, strata_columns, thin_strata
from tracewatch.datasets.synthetic._templates import check_kinds, load_template
from tracewatch.datasets.versions import VersionManifest, read_manifest, read_version
from tracewatch.errors import ConfigError
from tracewatch.llm import CallParams, CallResult, CostBudget, LimitSettings, Runtime, model_runtime
from tracewatch.runs import new_run_id
from tracewatch.store import Store

log = logging.getLogger(__name__)

DIRECT_ENV = "TRACEWATCH_SYNTHETIC_DIRECT"
"""Set to 1/true/yes to add synthetic items as a version directly, without review."""
MODEL_ERROR = "model: error"
BUDGET_STOP = "model: budget stop"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class SynthesisResult:
    """What a synthesis run did: the strata it filled, the items it proposed (written for review, or added as
    `manifest`'s version when direct), every rejected reply or proposal with its reason, and the calls."""

    dataset: str
    run_id: str
    direct: bool
    thin_strata: dict[str, int]
    """Label -> item count of each stratum below the target, before synthesis."""
    items: pl.DataFrame
    rejected: pl.DataFrame
    calls: dict[str, int]
    """Requests per outcome: ok, error, skipped_budget (and how many were cached)."""
    spent_usd: float | None
    redactions: dict[str, int]
    review: ReviewExport | None = None
    manifest: VersionManifest | None = None
    pending_key: str | None = None
    proposed: int = field(default=0)

    @property
    def counts(self) -> dict[str, int]:
        """Outcome -> count: `accepted` items, and each rejection reason."""
        reasons = Counter(self.rejected.get_column("reason").to_list())
        return {"accepted": self.items.height, **dict(sorted(reasons.items()))}


def direct_setting(direct: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether synthetic items skip review: the argument when given, else `TRACEWATCH_SYNTHETIC_DIRECT`."""
    if direct is not None:
        return direct
    value = (environ if environ is not None else os.environ).get(DIRECT_ENV, "").strip().lower()
    if value not in _TRUE + _FALSE:
        raise ConfigError(
            f"{DIRECT_ENV}={value!r}: use one of {list(_TRUE)} or {list(_FALSE[1:])} (or leave it unset)"
        )
    return value in _TRUE


def synthesize(
    store: Store,
    dataset: str,
    spec: DatasetSpec,
    *,
    target_per_stratum: int,
    kinds: Sequence[str],
    model: CallParams,
    budget_usd: float,
    seed: int,
    direct: bool | None = None,
    per_request: int = 3,
    max_strata: int | None = None,
    limits: Mapping[str, LimitSettings] | None = None,
    runtime: Runtime | None = None,
    run_id: str | None = None,
) -> SynthesisResult:
    """Ask `model` for `per_request` inputs of each kind for every stratum of `dataset` (as `spec` defines
    strata) with fewer than `target_per_stratum` items, within `budget_usd`.

    The proposals are redacted and de-duplicated (exact and near, against the dataset and each other) like
    sampled items. By default they are stored as pending items with a review sheet (`tracewatch import-review`
    adds the ones given an answer); `direct` (or `TRACEWATCH_SYNTHETIC_DIRECT`) appends them as a version.
    `max_strata` keeps only that many of the thinnest strata (a quick run, e.g. the demo's).
    `runtime` replaces the store's default model runtime (tests pass one); its budget is then the caller's.
    """
    kinds = check_kinds(kinds)
    if max_strata is not None and max_strata < 1:
        raise ConfigError(f"max_strata must be at least 1 (or None for every thin stratum), got {max_strata}")
    if per_request < 1 or budget_usd < 0:
        raise ConfigError(f"per_request must be >= 1 and budget_usd >= 0, got {per_request} and {budget_usd}")
    direct = direct_setting(direct)
    run_id = run_id or new_run_id("synth")
    base = read_manifest(store, dataset)
    items = read_version(store, dataset, base.version)
    thin = thin_strata(items, strata_columns(spec), target_per_stratum)[:max_strata]
    call = with_seed(model, seed)
    templates = {kind: load_template(kind) for kind in kinds}
    requests = [
        # The same count whatever the stratum holds, so a rerun sends the same request (a cache hit).
        Request(stratum, templates[kind], per_request)
        for stratum in thin
        for kind in kinds
    ]
    own = runtime is None
    runtime = runtime or model_runtime(store, limits, budget=CostBudget(budget_usd))
    results = asyncio.run(_generate(requests, call, runtime, close=own))
    proposals, rejected = _proposals(requests, results, call, seed, spec)
    screened = screen(
        proposals, items, redaction=spec.redaction, near_threshold=spec.sampling.dedup.near_threshold
    )
    outcome = SynthesisResult(
        dataset=dataset,
        run_id=run_id,
        direct=direct,
        thin_strata={s.label: s.count for s in thin},
        items=screened.items,
        rejected=pl.concat([rejected, screened.rejected]),
        calls=_call_counts(results),
        spent_usd=runtime.budget.spent_usd if runtime.budget is not None else None,
        redactions=screened.redactions,
        proposed=proposals.height,
    )
    return _write(store, outcome, spec, seed, model.model)


async def _generate(
    requests: Sequence[Request], call: CallParams, runtime: Runtime, *, close: bool
) -> list[CallResult]:
    try:
        return await generate(requests, call, runtime)
    finally:
        if close:
            await runtime.aclose()


def _proposals(
    requests: Sequence[Request], results: Sequence[CallResult], call: CallParams, seed: int, spec: DatasetSpec
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every proposed input (`PROPOSAL_SCHEMA`), and every reply that proposed nothing usable, with a reason."""
    rows, rejected = [], []
    for request, result in zip(requests, results, strict=True):
        where = {"stratum": request.stratum.label, "kind": request.template.kind}
        if result.completion is None:
            reason = BUDGET_STOP if result.status == "skipped_budget" else MODEL_ERROR
            rejected.append({**where, "reason": reason, "detail": result.error, "input_text": None})
            continue
        parsed = parse_reply(result.completion.text)
        for reason, detail in parsed.rejected:
            # A reply is model output: it can carry PII like any input, so its excerpt is redacted too.
            rejected.append({**where, "reason": reason, "detail": redact_text(detail, spec.redaction)[0]})
        rows += [
            {
                **where,
                **_copied(request.stratum),
                "input_text": text,
                "provenance": _provenance(request, call, seed),
            }
            for text in parsed.inputs
        ]
    return (
        pl.DataFrame(rows, schema=PROPOSAL_SCHEMA),
        pl.DataFrame(rejected, schema=REJECTED_SCHEMA),
    )


def _copied(stratum: Stratum) -> dict[str, object]:
    """The item columns a synthetic item takes from its stratum's first real item (they define the stratum)."""
    first = stratum.examples.row(0, named=True)
    return {c: first[c] for c in ("project", "route", "model", "tags")}


def _provenance(request: Request, call: CallParams, seed: int) -> str:
    return provenance(
        model=call.model,
        template=request.template.name,
        kind=request.template.kind,
        seed=seed,
        conditioned_on=request.stratum.examples.get_column("item_id").to_list(),
    )


def _call_counts(results: Sequence[CallResult]) -> dict[str, int]:
    counts = Counter(r.status for r in results)
    return {**dict(sorted(counts.items())), "cached": sum(r.cached for r in results)}


def _write(
    store: Store, outcome: SynthesisResult, spec: DatasetSpec, seed: int, model: str
) -> SynthesisResult:
    """Items for review (pending items + sheet), or a version of kind "synthetic" when direct."""
    name, items = outcome.dataset, outcome.items
    if items.is_empty():
        log.warning("dataset %s: synthesis proposed no usable item %s", name, outcome.counts)
        return outcome
    if outcome.direct:
        manifest = append_version(
            store,
            name,
            items,
            kind="synthetic",
            run_id=outcome.run_id,
            spec={"synthetic": {"model": model, "thin_strata": outcome.thin_strata}, "dataset": spec.name},
            seed=seed,
            counts={"synthesis": outcome.counts, "calls": outcome.calls, "redactions": outcome.redactions},
            source_key=f"synthetic:{outcome.run_id}",
        )
        return dataclasses.replace(outcome, manifest=manifest)
    key = write_pending(store, name, outcome.run_id, items)
    review = export_pending_for_review(store, name, outcome.run_id, items)
    log.info("dataset %s: %d synthetic item(s) written for review: %s", name, items.height, review.csv_key)
    return dataclasses.replace(outcome, pending_key=key, review=review)

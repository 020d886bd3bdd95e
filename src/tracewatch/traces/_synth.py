"""Vectorised synthesis of one day of demo traces: numpy draws per column, polars gathers for the text.

Every random draw happens in a fixed order with a fixed size whatever drift is switched on, so a drifted day
and an undrifted day of the same seed share their randomness and differ only by the drift effects.
"""

from __future__ import annotations

import binascii
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

from tracewatch.traces import _profile as prof
from tracewatch.traces._corpus import TOPICS, Corpus, load_corpus
from tracewatch.traces.schema import FEEDBACK, TRACE_SCHEMA

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_DAY_US = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_CORRECT, _PARTIAL, _WRONG, _REFUSAL = range(4)


@dataclass(frozen=True)
class Effects:
    """Which drift effects are active on the day being generated."""

    topic_mix: bool = False
    longer_outputs: bool = False
    latency_regression: bool = False
    falling_feedback: bool = False
    new_model_version: bool = False


@dataclass(frozen=True)
class _Picks:
    """The categorical choices of every trace, as indices into the corpus and the profile tables."""

    item: IntArray
    route: IntArray
    model: IntArray
    label: IntArray
    error: BoolArray
    error_kind: IntArray


def generate(day: dt.date, *, seed: int, traces: int, effects: Effects) -> pl.DataFrame:
    """One day of traces with the canonical schema, sorted by start time."""
    rng = np.random.default_rng([seed, day.toordinal()])
    corpus = load_corpus()
    picks = _pick(rng, corpus, traces, effects)
    text = _texts(rng, corpus, picks, effects)
    output_chars = text["output_text"].str.len_chars().to_numpy().astype(np.int64)
    numbers = _numbers(rng, corpus, picks, output_chars, effects)
    feedback = _feedback(rng, picks, effects)
    who = _who_and_when(rng, day, traces)
    frame = pl.DataFrame(
        {
            **who,
            "project": corpus.items["project"].gather(picks.item),
            "route": corpus.items["route"].gather(picks.item),
            "model": _model_texts("name").gather(picks.model),
            "provider_name": _model_texts("provider").gather(picks.model),
            "input_text": corpus.items["input_text"].gather(picks.item),
            "input_messages": corpus.items["input_messages"].gather(picks.item),
            **text,
            **numbers,
            **_status_columns(picks),
            "tags": corpus.items["tags"].gather(picks.item),
            "metadata": _metadata(corpus, picks),
            "retrieved_context": corpus.items["retrieved_context"].gather(picks.item),
            "feedback": feedback,
        }
    )
    return frame.select(list(TRACE_SCHEMA)).cast(pl.Schema(TRACE_SCHEMA)).sort("start_time", "trace_id")


# ---- categorical choices -----------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, corpus: Corpus, n: int, effects: Effects) -> _Picks:
    item_u, model_u, canary_u, label_u, error_u, kind_u = rng.random((6, n))
    item = _sample(_item_weights(corpus, effects.topic_mix), item_u)
    route = _item_routes(corpus)[item]
    model = _sample(np.array([m.share for m in prof.MODELS]), model_u)
    if effects.new_model_version:
        model[(model == 0) & (canary_u < prof.NEW_MODEL_TAKEOVER)] = len(prof.MODELS)
    label = _sample_rows(_correctness_table()[model, route], label_u)
    error = error_u < np.array([m.error_rate for m in prof.ALL_MODELS])[model]
    error_kind = _sample(np.array([e.share for e in prof.ERRORS]), kind_u)
    return _Picks(item=item, route=route, model=model, label=label, error=error, error_kind=error_kind)


def _sample(weights: FloatArray, u: FloatArray) -> IntArray:
    """Inverse-CDF sampling of categories with the given (unnormalised) weights."""
    cdf = np.cumsum(weights) / weights.sum()
    picked: IntArray = np.minimum(np.searchsorted(cdf, u, side="right"), len(weights) - 1).astype(np.int64)
    return picked


def _sample_rows(probabilities: FloatArray, u: FloatArray) -> IntArray:
    """Like `_sample` but with one probability row per draw."""
    cdf = np.cumsum(probabilities, axis=1)
    picked: IntArray = np.minimum((u[:, None] >= cdf).sum(axis=1), probabilities.shape[1] - 1).astype(
        np.int64
    )
    return picked


def _item_weights(corpus: Corpus, topic_mix: bool) -> FloatArray:
    """Route shares spread evenly over each route's items, times the drifted topic weights if active."""
    topic_weight = np.ones(len(TOPICS))
    if topic_mix:
        for topic, factor in prof.DRIFT_TOPIC_WEIGHTS.items():
            topic_weight[TOPICS.index(topic)] = factor
    per_item = topic_weight[_item_topics(corpus)]
    weights = np.empty(len(per_item))
    for spec, (lo, hi) in zip(prof.ROUTE_SPECS, corpus.route_bounds, strict=True):
        weights[lo:hi] = spec.share * per_item[lo:hi] / per_item[lo:hi].sum()
    return weights


@lru_cache(maxsize=1)
def _correctness_table() -> FloatArray:
    """P(label) per (model, route): the model's base quality bent by the route's difficulty."""
    table = np.empty((len(prof.ALL_MODELS), len(prof.ROUTE_SPECS), len(prof.CORRECTNESS)))
    for i, model in enumerate(prof.ALL_MODELS):
        base = np.array(model.correctness) / sum(model.correctness)
        for j, route in enumerate(prof.ROUTE_SPECS):
            correct = min(0.95, base[_CORRECT] * route.difficulty)
            table[i, j] = np.concatenate([[correct], base[1:] * (1 - correct) / (1 - base[_CORRECT])])
    return table


def _item_routes(corpus: Corpus) -> IntArray:
    routes = np.empty(corpus.items.height, dtype=np.int64)
    for j, (lo, hi) in enumerate(corpus.route_bounds):
        routes[lo:hi] = j
    return routes


def _item_topics(corpus: Corpus) -> IntArray:
    codes = corpus.items["topic"].cast(pl.Enum(TOPICS)).to_physical()
    return codes.to_numpy().astype(np.int64)


@lru_cache(maxsize=8)
def _model_texts(field: str) -> pl.Series:
    """One `ModelSpec` text field of every model, to gather by model index."""
    return pl.Series(field, [str(getattr(m, field)) for m in prof.ALL_MODELS], dtype=pl.String)


# ---- text --------------------------------------------------------------------------------------------------


def _texts(rng: np.random.Generator, corpus: Corpus, picks: _Picks, effects: Effects) -> dict[str, pl.Series]:
    """The answer text: correct, partial, another question's answer (wrong) or a refusal; empty on error."""
    wrong_u = rng.random(len(picks.item))
    refusal = rng.integers(0, len(prof.REFUSALS), len(picks.item))
    items = corpus.items
    frame = pl.DataFrame(
        {
            "label": picks.label,
            "error": picks.error,
            "correct": items["answer_text"].gather(picks.item),
            "partial": items["partial_text"].gather(picks.item),
            "wrong": items["answer_text"].gather(_wrong_items(corpus, picks, wrong_u)),
            "refusal": pl.Series(prof.REFUSALS).gather(refusal),
            "pad": items["pad_text"].gather(picks.item),
        }
    )
    label = pl.col("label")
    base = (
        pl.when(label == _CORRECT)
        .then("correct")
        .when(label == _PARTIAL)
        .then("partial")
        .when(label == _WRONG)
        .then("wrong")
        .otherwise("refusal")
    )
    if effects.longer_outputs:
        pad = pl.when(label == _REFUSAL).then(pl.lit(corpus.refusal_pad)).otherwise("pad")
        extra = (base.str.len_chars() * (prof.DRIFT_OUTPUT_LENGTH - 1)).round().cast(pl.Int64)
        base = pl.concat_str(base, pl.lit("\n\n"), pad.str.slice(0, extra))
    output = pl.when(pl.col("error")).then(pl.lit("")).otherwise(base)
    return {"output_text": frame.select(output.alias("output_text")).to_series()}


def _wrong_items(corpus: Corpus, picks: _Picks, u: FloatArray) -> IntArray:
    """Another item of the same route: a confident answer to a different question."""
    bounds = np.array(corpus.route_bounds, dtype=np.int64)
    lo, size = bounds[picks.route, 0], bounds[picks.route, 1] - bounds[picks.route, 0]
    offset = 1 + (u * (size - 1)).astype(np.int64)
    wrong: IntArray = lo + (picks.item - lo + offset) % size
    return wrong


# ---- numbers -----------------------------------------------------------------------------------------------


def _numbers(
    rng: np.random.Generator, corpus: Corpus, picks: _Picks, output_chars: IntArray, effects: Effects
) -> dict[str, npt.NDArray[np.generic]]:
    """Tokens (≈ chars/4 with tokenizer noise), cost from per-1k prices, lognormal latency per model."""
    n = len(picks.item)
    in_noise, out_noise, retrieval_noise, first_noise, token_noise, error_noise = rng.lognormal(
        0.0, (0.03, 0.08, 0.3, 0.3, 0.15, 0.25), (n, 6)
    ).T
    models = prof.ALL_MODELS
    factor = np.array([m.tokenizer_factor for m in models])[picks.model]
    prompt_chars = corpus.items["prompt_chars"].to_numpy()[picks.item]
    input_tokens = np.rint(prompt_chars / prof.CHARS_PER_TOKEN * factor * in_noise).astype(np.int64)
    output_tokens = np.maximum(1, np.rint(output_chars / prof.CHARS_PER_TOKEN * factor * out_noise))
    output_tokens = np.where(picks.error, 0, output_tokens).astype(np.int64)
    price_in = np.array([m.usd_per_1k_input for m in models])[picks.model]
    price_out = np.array([m.usd_per_1k_output for m in models])[picks.model]
    cost = np.where(picks.error, 0.0, (input_tokens * price_in + output_tokens * price_out) / 1000)
    ok_latency = (
        np.array([r.retrieval_ms for r in prof.ROUTE_SPECS])[picks.route] * retrieval_noise
        + np.array([m.first_token_ms for m in models])[picks.model] * first_noise
        + output_tokens * np.array([m.ms_per_output_token for m in models])[picks.model] * token_noise
    )
    error_latency = np.array([e.median_latency_ms for e in prof.ERRORS])[picks.error_kind] * error_noise
    latency = np.where(picks.error, error_latency, ok_latency)
    if effects.latency_regression:
        latency = latency * prof.DRIFT_LATENCY
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": np.round(cost, 8),
        "latency_ms": np.round(latency, 3),
    }


def _status_columns(picks: _Picks) -> dict[str, pl.Series]:
    kinds = pl.Series([e.error_type for e in prof.ERRORS]).gather(picks.error_kind)
    messages = pl.Series([e.message for e in prof.ERRORS]).gather(picks.error_kind)
    frame = pl.DataFrame({"error": picks.error, "kind": kinds, "message": messages})
    failed = pl.col("error")
    return frame.select(
        status=pl.when(failed).then(pl.lit("error")).otherwise(pl.lit("ok")),
        error_type=pl.when(failed).then("kind"),
        error_message=pl.when(failed).then("message"),
    ).to_dict()


def _metadata(corpus: Corpus, picks: _Picks) -> pl.Series:
    """A JSON object per trace; `correctness` is the hidden truth that lets tests check scorers and drift."""
    frame = pl.DataFrame(
        {
            "app_version": _model_texts("app_version").gather(picks.model),
            "label": pl.Series(prof.CORRECTNESS).gather(picks.label),
            "error": picks.error,
            "question_id": corpus.items["question_id"].gather(picks.item),
            "topic": corpus.items["topic"].gather(picks.item),
            "hops": corpus.items["hops"].gather(picks.item),
        }
    )
    correctness = pl.when(pl.col("error")).then(pl.lit("null")).otherwise(pl.format('"{}"', "label"))
    json = pl.concat_str(
        pl.lit('{"app_version": "'),
        "app_version",
        pl.lit('", "correctness": '),
        correctness,
        pl.lit(', "question_id": "'),
        "question_id",
        pl.lit('", "topic": "'),
        "topic",
        pl.lit('", "hops": '),
        pl.col("hops").cast(pl.String),
        pl.lit(', "temperature": 0.2}'),
    )
    return frame.select(json.alias("metadata")).to_series()


# ---- feedback ----------------------------------------------------------------------------------------------


def _feedback(rng: np.random.Generator, picks: _Picks, effects: Effects) -> pl.Series:
    """Thumbs (0/1) on some successful traces, plus a 1-5 rating on some of those; empty list otherwise."""
    n = len(picks.item)
    given_u, rating_given_u, thumbs_u, rating_u = rng.random((4, n))
    up_probability = np.array(prof.THUMBS_UP_PROBABILITY)[picks.label]
    if effects.falling_feedback:
        up_probability = up_probability * prof.DRIFT_THUMBS_UP
    has_thumbs = (given_u < prof.FEEDBACK_RATE) & ~picks.error
    has_rating = has_thumbs & (rating_given_u < prof.RATING_GIVEN_THUMBS_RATE)
    up = thumbs_u < up_probability
    rating = 1 + np.where(
        up, _sample(np.array(prof.RATING_IF_UP), rating_u), _sample(np.array(prof.RATING_IF_DOWN), rating_u)
    )
    # Only 13 distinct feedback lists exist, so pick each trace's list from a catalogue by code.
    code = np.where(has_rating, 3 + 5 * up + (rating - 1), np.where(has_thumbs, 1 + up, 0))
    return _feedback_catalogue().gather(code.astype(np.int64))


@lru_cache(maxsize=1)
def _feedback_catalogue() -> pl.Series:
    """[], [thumbs 0], [thumbs 1], then [thumbs t, rating r] for t in (0, 1) and r in 1..5."""
    lists: list[list[dict[str, object]]] = [[]]
    lists += [[_feedback_entry("thumbs", up)] for up in (0, 1)]
    lists += [
        [_feedback_entry("thumbs", up), _feedback_entry("rating", stars)]
        for up in (0, 1)
        for stars in range(1, 6)
    ]
    return pl.Series("feedback", lists, dtype=pl.List(FEEDBACK))


def _feedback_entry(name: str, value: int) -> dict[str, object]:
    return {"name": name, "value": float(value), "source": "user"}


# ---- identities and times ----------------------------------------------------------------------------------


def _who_and_when(rng: np.random.Generator, day: dt.date, n: int) -> dict[str, pl.Series]:
    """Random 128-bit trace ids (OpenTelemetry style), uniform start times, Zipf-like users and sessions."""
    offsets_us = rng.integers(0, _DAY_US, n)
    user_u = rng.random(n)
    session = rng.integers(0, prof.SESSIONS_PER_USER_DAY, n)
    raw_ids = rng.bytes(16 * n)
    day_start_us = (day - _EPOCH).days * _DAY_US
    ranks = np.arange(1, prof.USERS + 1, dtype=np.float64)
    user = _sample(ranks**-prof.USER_ACTIVITY_EXPONENT, user_u)
    frame = pl.DataFrame(
        {
            "trace_id": np.frombuffer(binascii.hexlify(raw_ids), dtype="S32").astype("U32"),
            "start_us": offsets_us + day_start_us,
            "user": user,
            "session": session,
        }
    )
    user_id = pl.concat_str(pl.lit("user-"), pl.col("user").cast(pl.String).str.zfill(5))
    return frame.select(
        "trace_id",
        start_time=pl.from_epoch("start_us", time_unit="us").dt.replace_time_zone("UTC"),
        user_id=user_id,
        session_id=pl.concat_str(
            pl.lit(f"sess-{day:%Y%m%d}-"),
            user_id.str.slice(5),
            pl.lit("-"),
            pl.col("session").cast(pl.String),
        ),
    ).to_dict()

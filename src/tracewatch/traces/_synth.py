"""Vectorised synthesis of one day of demo traces: numpy draws per column, polars gathers for the text.

Every random draw happens in a fixed order with a fixed size whatever drift is switched on, so a drifted day
and an undrifted day of the same seed share their randomness and differ only by the drift effects. The graded
drifts (`Effects.topic_shift` ... `Effects.refusal_factor`) draw from a stream of their own, seeded by (seed,
day), so switching them on leaves every draw of the main stream, and so every untouched trace, as it was. The
day-to-day variation of the mix (`Mix`) only reweights the route and model draws; it draws nothing itself.
"""

from __future__ import annotations

import binascii
import datetime as dt
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

from tracewatch.traces import _profile as prof
from tracewatch.traces._corpus import TOPICS, Corpus, load_corpus
from tracewatch.traces._synth_text import foreign_questions, inputs, prompt_change, texts
from tracewatch.traces._synth_types import (
    CORRECT,
    REFUSAL,
    SHIFT_FROM_MODEL,
    SHIFT_TO_MODEL,
    SHIFT_TOPIC,
    Effects,
    FloatArray,
    IntArray,
    Mix,
    Picks,
)
from tracewatch.traces.schema import FEEDBACK, TRACE_SCHEMA

_DAY_US = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)
_DRIFT_STREAM = 0xD21F7
"""Third seed word of the graded drifts' random stream (the main stream is seeded by (seed, day) alone)."""
_DRIFT_DRAWS = 7


def generate(
    day: dt.date, *, seed: int, traces: int, effects: Effects, mix: Mix | None = None
) -> pl.DataFrame:
    """One day of traces with the canonical schema, sorted by start time."""
    rng = np.random.default_rng([seed, day.toordinal()])
    # The graded drifts' draws: (topic move, topic item, model move, refusal, feedback, language, question).
    shift_u = (
        np.random.default_rng([seed, day.toordinal(), _DRIFT_STREAM]).random((_DRIFT_DRAWS, traces))
        if effects.graded
        else None
    )
    corpus = load_corpus()
    picks = _pick(rng, corpus, traces, effects, mix, shift_u)
    text = texts(rng, corpus, picks, effects)
    output_chars = text["output_text"].str.len_chars().to_numpy().astype(np.int64)
    foreign = foreign_questions(effects, shift_u)
    numbers = _numbers(rng, corpus, picks, output_chars, effects, prompt_change(corpus, picks, foreign))
    feedback = _feedback(rng, picks, effects, shift_u)
    who = _who_and_when(rng, day, traces)
    frame = pl.DataFrame(
        {
            **who,
            "project": corpus.items["project"].gather(picks.item),
            "route": corpus.items["route"].gather(picks.item),
            "model": _modeltexts("name").gather(picks.model),
            "provider_name": _modeltexts("provider").gather(picks.model),
            **inputs(corpus, picks, foreign),
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


def _pick(
    rng: np.random.Generator,
    corpus: Corpus,
    n: int,
    effects: Effects,
    mix: Mix | None,
    shift_u: FloatArray | None,
) -> Picks:
    item_u, model_u, canary_u, label_u, error_u, kind_u = rng.random((6, n))
    item_weights = _item_weights(corpus, effects.topic_mix, mix)
    item = _sample(item_weights, item_u)
    model_weights = np.array([m.share for m in prof.MODELS])
    if mix is not None:
        model_weights = model_weights * np.array(mix.model)
    model = _sample(model_weights, model_u)
    if shift_u is not None:
        item = _shift_topic(corpus, item, item_weights, effects.topic_shift, shift_u[0], shift_u[1])
        model = _shift_model(model, model_weights, effects.model_shift, shift_u[2])
    route = _item_routes(corpus)[item]
    if effects.new_model_version:
        model[(model == 0) & (canary_u < prof.NEW_MODEL_TAKEOVER)] = len(prof.MODELS)
    label = _sample_rows(_correctness_table()[model, route], label_u)
    if shift_u is not None and effects.refusal_factor != 1.0:
        label = _more_refusals(label, model, route, effects.refusal_factor, shift_u[3])
    error = error_u < np.array([m.error_rate for m in prof.ALL_MODELS])[model]
    error_kind = _sample(np.array([e.share for e in prof.ERRORS]), kind_u)
    return Picks(item=item, route=route, model=model, label=label, error=error, error_kind=error_kind)


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


def _item_weights(corpus: Corpus, topic_mix: bool, mix: Mix | None = None) -> FloatArray:
    """Route shares (times the day's `mix`) spread evenly over each route's items, times the drifted topic
    weights if active."""
    topic_weight = np.ones(len(TOPICS))
    if topic_mix:
        for topic, factor in prof.DRIFT_TOPIC_WEIGHTS.items():
            topic_weight[TOPICS.index(topic)] = factor
    per_item = topic_weight[_item_topics(corpus)]
    weights = np.empty(len(per_item))
    for j, (spec, (lo, hi)) in enumerate(zip(prof.ROUTE_SPECS, corpus.route_bounds, strict=True)):
        share = spec.share if mix is None else spec.share * mix.route[j]
        weights[lo:hi] = share * per_item[lo:hi] / per_item[lo:hi].sum()
    return weights


def _shift_topic(
    corpus: Corpus, item: IntArray, weights: FloatArray, share: float, move_u: FloatArray, pick_u: FloatArray
) -> IntArray:
    """Move `share` of all traffic to `SHIFT_TOPIC`: a trace on another topic moves with probability
    share / (1 - the topic's share), to an item of that topic on its own route (so the route mix stays)."""
    if share <= 0:
        return item
    on_topic = _item_topics(corpus) == TOPICS.index(SHIFT_TOPIC)
    topic_share = weights[on_topic].sum() / weights.sum()
    moved = ~on_topic[item] & (move_u < min(1.0, share / (1.0 - topic_share)))
    shifted = item.copy()
    routes = _item_routes(corpus)
    for j, (lo, hi) in enumerate(corpus.route_bounds):
        targets = lo + np.flatnonzero(on_topic[lo:hi])
        these = moved & (routes[item] == j)
        shifted[these] = targets[_sample(weights[targets], pick_u[these])]
    return shifted


def _shift_model(model: IntArray, weights: FloatArray, share: float, u: FloatArray) -> IntArray:
    """Move `share` of all traffic from `SHIFT_FROM_MODEL` to `SHIFT_TO_MODEL`."""
    if share <= 0:
        return model
    from_share = weights[SHIFT_FROM_MODEL] / weights.sum()
    shifted = model.copy()
    shifted[(model == SHIFT_FROM_MODEL) & (u < min(1.0, share / from_share))] = SHIFT_TO_MODEL
    return shifted


def _more_refusals(
    label: IntArray, model: IntArray, route: IntArray, factor: float, u: FloatArray
) -> IntArray:
    """Turn other answers into refusals so each trace's refusal probability r becomes min(1, factor * r)."""
    refusal = _correctness_table()[model, route, REFUSAL]
    flip = np.clip((factor - 1.0) * refusal / np.maximum(1.0 - refusal, 1e-12), 0.0, 1.0)
    out = label.copy()
    out[(label != REFUSAL) & (u < flip)] = REFUSAL
    return out


@lru_cache(maxsize=1)
def _correctness_table() -> FloatArray:
    """P(label) per (model, route): the model's base quality bent by the route's difficulty."""
    table = np.empty((len(prof.ALL_MODELS), len(prof.ROUTE_SPECS), len(prof.CORRECTNESS)))
    for i, model in enumerate(prof.ALL_MODELS):
        base = np.array(model.correctness) / sum(model.correctness)
        for j, route in enumerate(prof.ROUTE_SPECS):
            correct = min(0.95, base[CORRECT] * route.difficulty)
            table[i, j] = np.concatenate([[correct], base[1:] * (1 - correct) / (1 - base[CORRECT])])
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
def _modeltexts(field: str) -> pl.Series:
    """One `ModelSpec` text field of every model, to gather by model index."""
    return pl.Series(field, [str(getattr(m, field)) for m in prof.ALL_MODELS], dtype=pl.String)


# ---- numbers -----------------------------------------------------------------------------------------------


def _numbers(
    rng: np.random.Generator,
    corpus: Corpus,
    picks: Picks,
    output_chars: IntArray,
    effects: Effects,
    prompt_change: FloatArray | None = None,
) -> dict[str, npt.NDArray[np.generic]]:
    """Tokens (≈ chars/4 with tokenizer noise), cost from per-1k prices, lognormal latency per model.

    `prompt_change` is added to each prompt's length in English-equivalent characters (a replaced question).
    """
    n = len(picks.item)
    in_noise, out_noise, retrieval_noise, first_noise, token_noise, error_noise = rng.lognormal(
        0.0, (0.03, 0.08, 0.3, 0.3, 0.15, 0.25), (n, 6)
    ).T
    models = prof.ALL_MODELS
    factor = np.array([m.tokenizer_factor for m in models])[picks.model]
    prompt_chars = corpus.items["prompt_chars"].to_numpy()[picks.item]
    if prompt_change is not None:
        prompt_chars = prompt_chars + prompt_change
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
    if effects.latency_growth > 0:
        latency = latency * (1.0 + effects.latency_growth)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": np.round(cost, 8),
        "latency_ms": np.round(latency, 3),
    }


def _status_columns(picks: Picks) -> dict[str, pl.Series]:
    kinds = pl.Series([e.error_type for e in prof.ERRORS]).gather(picks.error_kind)
    messages = pl.Series([e.message for e in prof.ERRORS]).gather(picks.error_kind)
    frame = pl.DataFrame({"error": picks.error, "kind": kinds, "message": messages})
    failed = pl.col("error")
    return frame.select(
        status=pl.when(failed).then(pl.lit("error")).otherwise(pl.lit("ok")),
        error_type=pl.when(failed).then("kind"),
        error_message=pl.when(failed).then("message"),
    ).to_dict()


def _metadata(corpus: Corpus, picks: Picks) -> pl.Series:
    """A JSON object per trace; `correctness` is the hidden truth that lets tests check scorers and drift."""
    frame = pl.DataFrame(
        {
            "app_version": _modeltexts("app_version").gather(picks.model),
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


def _feedback(
    rng: np.random.Generator, picks: Picks, effects: Effects, shift_u: FloatArray | None = None
) -> pl.Series:
    """Thumbs (0/1) on some successful traces, plus a 1-5 rating on some of those; empty list otherwise.

    A graded feedback drop turns thumbs up into thumbs down with the probability that takes the day's
    thumbs-up share down by `effects.feedback_drop`; the rating is drawn given the (new) vote.
    """
    n = len(picks.item)
    given_u, rating_given_u, thumbs_u, rating_u = rng.random((4, n))
    up_probability = np.array(prof.THUMBS_UP_PROBABILITY)[picks.label]
    if effects.falling_feedback:
        up_probability = up_probability * prof.DRIFT_THUMBS_UP
    has_thumbs = (given_u < prof.FEEDBACK_RATE) & ~picks.error
    has_rating = has_thumbs & (rating_given_u < prof.RATING_GIVEN_THUMBS_RATE)
    up = thumbs_u < up_probability
    if shift_u is not None and effects.feedback_drop > 0 and has_thumbs.any():
        up_share = float(up[has_thumbs].mean())
        flip = min(1.0, effects.feedback_drop / up_share) if up_share > 0 else 0.0
        up = up & ~(shift_u[4] < flip)
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

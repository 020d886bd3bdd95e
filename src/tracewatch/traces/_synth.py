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
_DRIFT_STREAM = 0xD21F7
"""Third seed word of the graded drifts' random stream (the main stream is seeded by (seed, day) alone)."""
_DRIFT_DRAWS = 7
SHIFT_TOPIC = "sports"
"""The topic a graded topic shift moves traffic to (the demo's topic drift favours it too)."""
SHIFT_FROM_MODEL, SHIFT_TO_MODEL = 0, 1
"""A graded model shift moves traffic from `MODELS[0]` (gpt-4o-mini) to `MODELS[1]` (claude-3-5-haiku)."""

FOREIGN_QUESTIONS: tuple[tuple[str, float], ...] = (
    ("Какие фильмы снял Кристофер Нолан после 2010 года и сколько они собрали в прокате?", 3.0),
    ("Кто был премьер-министром Великобритании во время Фолклендской войны?", 3.0),
    ("Какая самая высокая гора в каждой из стран Скандинавии?", 3.0),
    ("Сколько золотых медалей выиграла Норвегия на зимних Олимпийских играх 2018 года?", 3.0),
    ("В каком году был открыт гелий и кто из учёных его открыл?", 3.0),
    ("Какие реки протекают через столицы стран Балтии?", 3.0),
    ("Кто получил Нобелевскую премию по физике в 2020 году и за что?", 3.0),
    ("Какова численность населения пяти крупнейших городов Канады?", 3.0),
    ("Кто написал роман «Мастер и Маргарита» и когда он был впервые опубликован?", 3.0),
    ("Какие сборные выигрывали чемпионат мира по футболу с 1990 по 2022 год?", 3.0),
    ("Сколько спутников у Юпитера и какой из них самый большой?", 3.0),
    ("Кто был президентом Франции, когда открылась Эйфелева башня?", 3.0),
    ("2008年北京奥运会上获得金牌最多的五个国家是哪些？", 1.2),
    ("长江流经哪些省份，最终在哪里入海？", 1.2),
    ("谁是第一位获得诺贝尔文学奖的中国作家？", 1.2),
    ("世界上最高的五座山峰分别位于哪些国家？", 1.2),
    ("电影《卧虎藏龙》获得了哪些奥斯卡奖项？", 1.2),
    ("中国历史上第一个统一的王朝是哪个，它的首都在哪里？", 1.2),
    ("宮崎駿が監督した長編アニメ映画は全部で何本ありますか？", 1.2),
    ("富士山の標高はどれくらいで、最後に噴火したのはいつですか？", 1.2),
    ("2020年東京オリンピックで日本が獲得した金メダルの数は？", 1.2),
    ("ノーベル物理学賞を受賞した日本人科学者を全員教えてください。", 1.2),
    ("北海道で最も人口の多い三つの都市はどこですか？", 1.2),
    ("日本の歴代の総理大臣で最も在任期間が長かったのは誰ですか？", 1.2),
)
"""Questions in Russian (Cyrillic), Chinese and Japanese (CJK) asked under a graded language shift, each with
its characters per token (English text: `CHARS_PER_TOKEN` = 4): the same kind of multi-hop factual questions
as the corpus, written by us for the demo (no corpus text). The answer stays the item's English one."""


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
class _Picks:
    """The categorical choices of every trace, as indices into the corpus and the profile tables."""

    item: IntArray
    route: IntArray
    model: IntArray
    label: IntArray
    error: BoolArray
    error_kind: IntArray


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
    text = _texts(rng, corpus, picks, effects)
    output_chars = text["output_text"].str.len_chars().to_numpy().astype(np.int64)
    foreign = _foreign_questions(effects, shift_u)
    numbers = _numbers(rng, corpus, picks, output_chars, effects, _prompt_change(corpus, picks, foreign))
    feedback = _feedback(rng, picks, effects, shift_u)
    who = _who_and_when(rng, day, traces)
    frame = pl.DataFrame(
        {
            **who,
            "project": corpus.items["project"].gather(picks.item),
            "route": corpus.items["route"].gather(picks.item),
            "model": _model_texts("name").gather(picks.model),
            "provider_name": _model_texts("provider").gather(picks.model),
            **_inputs(corpus, picks, foreign),
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
) -> _Picks:
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
    refusal = _correctness_table()[model, route, _REFUSAL]
    flip = np.clip((factor - 1.0) * refusal / np.maximum(1.0 - refusal, 1e-12), 0.0, 1.0)
    out = label.copy()
    out[(label != _REFUSAL) & (u < flip)] = _REFUSAL
    return out


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
    pad = pl.when(label == _REFUSAL).then(pl.lit(corpus.refusal_pad)).otherwise("pad")
    if effects.longer_outputs:
        extra = (base.str.len_chars() * (prof.DRIFT_OUTPUT_LENGTH - 1)).round().cast(pl.Int64)
        base = pl.concat_str(base, pl.lit("\n\n"), pad.str.slice(0, extra))
    if effects.output_growth > 0:
        # One space and more elaboration: exactly round(growth x chars) more characters.
        grow = (base.str.len_chars() * effects.output_growth).round().cast(pl.Int64)
        longer = pl.concat_str(base, pl.lit(" "), pad.str.slice(0, grow - 1))
        base = pl.when(grow > 0).then(longer).otherwise(base)
    output = pl.when(pl.col("error")).then(pl.lit("")).otherwise(base)
    return {"output_text": frame.select(output.alias("output_text")).to_series()}


def _wrong_items(corpus: Corpus, picks: _Picks, u: FloatArray) -> IntArray:
    """Another item of the same route: a confident answer to a different question."""
    bounds = np.array(corpus.route_bounds, dtype=np.int64)
    lo, size = bounds[picks.route, 0], bounds[picks.route, 1] - bounds[picks.route, 0]
    offset = 1 + (u * (size - 1)).astype(np.int64)
    wrong: IntArray = lo + (picks.item - lo + offset) % size
    return wrong


# ---- inputs ------------------------------------------------------------------------------------------------


def _foreign_questions(effects: Effects, shift_u: FloatArray | None) -> IntArray | None:
    """Under a language shift, the `FOREIGN_QUESTIONS` index each trace asks instead (-1: its own question)."""
    if shift_u is None or effects.language_shift <= 0:
        return None
    pick = (shift_u[6] * len(FOREIGN_QUESTIONS)).astype(np.int64)
    foreign: IntArray = np.where(shift_u[5] < effects.language_shift, pick, -1)
    return foreign


def _prompt_change(corpus: Corpus, picks: _Picks, foreign: IntArray | None) -> FloatArray | None:
    """The prompt length change of a replaced question, in English-equivalent characters (its tokens x 4)."""
    if foreign is None:
        return None
    replaced = foreign >= 0
    own = corpus.items["input_text"].str.len_chars().to_numpy()[picks.item]
    lengths = np.array([len(text) * prof.CHARS_PER_TOKEN / cpt for text, cpt in FOREIGN_QUESTIONS])
    change: FloatArray = np.where(replaced, lengths[np.maximum(foreign, 0)] - own, 0.0)
    return change


def _inputs(corpus: Corpus, picks: _Picks, foreign: IntArray | None) -> dict[str, pl.Series]:
    """The input text and messages: the item's, or a foreign question as the last user message."""
    text = corpus.items["input_text"].gather(picks.item)
    messages = corpus.items["input_messages"].gather(picks.item)
    if foreign is None:
        return {"input_text": text, "input_messages": messages}
    questions = pl.Series([q for q, _ in FOREIGN_QUESTIONS], dtype=pl.String)
    frame = pl.DataFrame(
        {
            "text": text,
            "messages": messages,
            "foreign": questions.gather(np.maximum(foreign, 0)),
            "replaced": foreign >= 0,
        }
    )
    msgs = pl.col("messages")
    replaced_messages = pl.concat_list(
        msgs.list.head(msgs.list.len() - 1), pl.struct(role=pl.lit("user"), content=pl.col("foreign"))
    )
    return frame.select(
        input_text=pl.when("replaced").then("foreign").otherwise("text"),
        input_messages=pl.when("replaced").then(replaced_messages).otherwise(msgs),
    ).to_dict()


# ---- numbers -----------------------------------------------------------------------------------------------


def _numbers(
    rng: np.random.Generator,
    corpus: Corpus,
    picks: _Picks,
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


def _feedback(
    rng: np.random.Generator, picks: _Picks, effects: Effects, shift_u: FloatArray | None = None
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

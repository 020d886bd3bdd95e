"""The texts of a synthesised day: the answers (correct, partial, wrong, refused, longer under drift) and the
inputs (the corpus question, or a non-Latin one under a language shift)."""

from __future__ import annotations

import numpy as np
import polars as pl

from tracewatch.traces import _profile as prof
from tracewatch.traces._corpus import Corpus
from tracewatch.traces._synth_types import (
    CORRECT,
    PARTIAL,
    REFUSAL,
    WRONG,
    Effects,
    FloatArray,
    IntArray,
    Picks,
)

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


# ---- text --------------------------------------------------------------------------------------------------


def texts(rng: np.random.Generator, corpus: Corpus, picks: Picks, effects: Effects) -> dict[str, pl.Series]:
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
        pl.when(label == CORRECT)
        .then("correct")
        .when(label == PARTIAL)
        .then("partial")
        .when(label == WRONG)
        .then("wrong")
        .otherwise("refusal")
    )
    pad = pl.when(label == REFUSAL).then(pl.lit(corpus.refusal_pad)).otherwise("pad")
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


def _wrong_items(corpus: Corpus, picks: Picks, u: FloatArray) -> IntArray:
    """Another item of the same route: a confident answer to a different question."""
    bounds = np.array(corpus.route_bounds, dtype=np.int64)
    lo, size = bounds[picks.route, 0], bounds[picks.route, 1] - bounds[picks.route, 0]
    offset = 1 + (u * (size - 1)).astype(np.int64)
    wrong: IntArray = lo + (picks.item - lo + offset) % size
    return wrong


# ---- inputs ------------------------------------------------------------------------------------------------


def foreign_questions(effects: Effects, shift_u: FloatArray | None) -> IntArray | None:
    """Under a language shift, the `FOREIGN_QUESTIONS` index each trace asks instead (-1: its own question)."""
    if shift_u is None or effects.language_shift <= 0:
        return None
    pick = (shift_u[6] * len(FOREIGN_QUESTIONS)).astype(np.int64)
    foreign: IntArray = np.where(shift_u[5] < effects.language_shift, pick, -1)
    return foreign


def prompt_change(corpus: Corpus, picks: Picks, foreign: IntArray | None) -> FloatArray | None:
    """The prompt length change of a replaced question, in English-equivalent characters (its tokens x 4)."""
    if foreign is None:
        return None
    replaced = foreign >= 0
    own = corpus.items["input_text"].str.len_chars().to_numpy()[picks.item]
    lengths = np.array([len(text) * prof.CHARS_PER_TOKEN / cpt for text, cpt in FOREIGN_QUESTIONS])
    change: FloatArray = np.where(replaced, lengths[np.maximum(foreign, 0)] - own, 0.0)
    return change


def inputs(corpus: Corpus, picks: Picks, foreign: IntArray | None) -> dict[str, pl.Series]:
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

"""The FanOutQA dev set turned into a table of "askable items" for the demo trace generator.

Each item is one request the demo application can receive: a multi-hop question (route `qa/multi-hop`), one
of its single-fact sub-questions (`qa/single-fact`) or a sub-question asked as a follow-up in a chat about
the parent question (`chat/followup`). Every text a trace can carry (correct and partial answer, elaboration,
passages) is rendered here once, so the per-day generator only picks rows by index, never looping over traces.

FanOutQA (Zhu et al., 2024, https://github.com/zhudotexe/fanoutqa) is licensed CC-BY-SA-4.0.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.traces.schema import CONTEXT_PASSAGE, MESSAGE

ROUTE_MULTI_HOP = "qa/multi-hop"
ROUTE_SINGLE_FACT = "qa/single-fact"
ROUTE_FOLLOWUP = "chat/followup"
ROUTES: tuple[str, ...] = (ROUTE_MULTI_HOP, ROUTE_SINGLE_FACT, ROUTE_FOLLOWUP)

PROJECT_QA = "qa-assistant"
PROJECT_CHAT = "research-chat"

_ROUTE_PROJECT = {ROUTE_MULTI_HOP: PROJECT_QA, ROUTE_SINGLE_FACT: PROJECT_QA, ROUTE_FOLLOWUP: PROJECT_CHAT}
_ROUTE_TAG = {ROUTE_MULTI_HOP: "multi-hop", ROUTE_SINGLE_FACT: "single-fact", ROUTE_FOLLOWUP: "followup"}

_SYSTEM_PROMPTS = {
    PROJECT_QA: (
        "You are a helpful research assistant. Answer the user's question using only the retrieved "
        "Wikipedia passages. Be concise, list every item when the question asks for several, and say so "
        "when the passages do not contain the answer."
    ),
    PROJECT_CHAT: (
        "You are a friendly research assistant in a multi-turn chat. Use the conversation so far and the "
        "retrieved Wikipedia passages to answer the user's follow-up question briefly."
    ),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(word.strip() for word in text.split(","))


# Checked in order: the first topic with a keyword in the question or its FanOutQA categories wins.
TOPIC_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "sports",
        _words(
            "sports, sport, olympic, olympics, nba, nfl, mlb, nhl, fifa, world cup, league, football, "
            "baseball, basketball, soccer, tennis, golf, formula 1, athlete, athletes, championship, "
            "championships, medal, medals, draft, cricket, hockey, world series, super bowl, grand slam, "
            "marathon, stadium, coach"
        ),
    ),
    (
        "film",
        _words(
            "film studies, film, films, movie, movies, actor, actors, actress, oscar, oscars, academy award, "
            "box office, television, tv, episode, episodes, disney, pixar, studio ghibli, sitcom, netflix, "
            "directed, director, directors"
        ),
    ),
    (
        "politics",
        _words(
            "politics, political science, law, president, presidents, presidential, election, senator, "
            "senators, prime minister, parliament, supreme court, justice, justices, governor, governors, "
            "congress, minister, head of state, party, monarch, king, queen, international relations"
        ),
    ),
    (
        "science",
        _words(
            "physics, chemistry, astronomy, zoology, botany, biochemistry, genetics, technology, "
            "computer science, mathematics, medicine, oncology, epidemiology, element, elements, planet, "
            "planets, species, scientist, nobel, invent, inventors, disease, moon, space, telescope, animal, "
            "animals"
        ),
    ),
    (
        "geography",
        _words(
            "geography, country, countries, city, cities, river, rivers, mountain, mountains, continent, "
            "capital, capitals, island, islands, lake, lakes, population, demographics"
        ),
    ),
)
TOPICS: tuple[str, ...] = (*(name for name, _ in TOPIC_KEYWORDS), "other")

_TOPIC_PATTERNS = tuple(
    (name, re.compile(r"\b(?:" + "|".join(re.escape(k) for k in words) + r")\b"))
    for name, words in TOPIC_KEYWORDS
)

_CORRECT_TEMPLATES = (
    "The answer is {}.",
    "{}.",
    "According to the retrieved passages, the answer is {}.",
    "It is {}.",
)
_REFUSAL_PAD = (
    "I searched the available documents, but none of them contained a reliable answer, and I would rather "
    "not guess and give you incorrect information. You could try narrowing the question down or asking "
    "about one part of it at a time. "
)
_CONTEXT_SCHEMA = pl.List(CONTEXT_PASSAGE)
_MESSAGES_SCHEMA = pl.List(MESSAGE)

ITEM_SCHEMA: dict[str, pl.DataType] = {
    "question_id": pl.String(),
    "project": pl.String(),
    "route": pl.String(),
    "topic": pl.String(),
    "hops": pl.Int64(),
    "input_text": pl.String(),
    "input_messages": _MESSAGES_SCHEMA,
    "retrieved_context": _CONTEXT_SCHEMA,
    "tags": pl.List(pl.String()),
    "answer_text": pl.String(),
    "partial_text": pl.String(),
    "pad_text": pl.String(),
    "prompt_chars": pl.Int64(),
}


@dataclass(frozen=True)
class Corpus:
    """The items table (grouped by route, in `ROUTES` order) and where each route's block starts and ends."""

    items: pl.DataFrame
    route_bounds: tuple[tuple[int, int], ...]
    """(start, stop) row range of each route in `ROUTES` order."""
    refusal_pad: str


def corpus_path() -> Path:
    """Where the installed `fanoutqa` package keeps its dev set; found without importing the package,
    whose `__init__` pulls NLP dependencies we deliberately do not install."""
    spec = importlib.util.find_spec("fanoutqa")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the demo generator needs the `fanoutqa` package (its bundled dev set); install it")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "fanout-final-dev.json"
    if not path.is_file():
        raise ConfigError(f"the fanoutqa package has no dev set at {path}; reinstall fanoutqa==1.1.1")
    return path


@lru_cache(maxsize=1)
def load_corpus() -> Corpus:
    """Build the items table once per process: it is pure and the same for every day and seed."""
    questions: list[dict[str, Any]] = json.loads(corpus_path().read_text(encoding="utf-8"))
    rows_by_route: dict[str, list[dict[str, Any]]] = {route: [] for route in ROUTES}
    for question in questions:
        topic = topic_of(question["question"], question.get("categories", []))
        rows_by_route[ROUTE_MULTI_HOP].append(_multi_hop_item(question, topic))
        rows_by_route[ROUTE_SINGLE_FACT].extend(_single_fact_items(question, topic))
        rows_by_route[ROUTE_FOLLOWUP].extend(_followup_items(question, topic))
    # FanOutQA reuses a sub-question (same id) across questions; asked on its own it is one item.
    rows_by_route[ROUTE_SINGLE_FACT] = _first_per_id(rows_by_route[ROUTE_SINGLE_FACT])
    rows = [row for route in ROUTES for row in rows_by_route[route]]
    # Long enough to stretch any answer a trace can carry (its own, another item's, a partial one).
    pad_length = 1 + max(max(len(row["answer_text"]), len(row["partial_text"])) for row in rows)
    for row in rows:
        row["pad_text"] = _repeat_to(row["pad_text"], pad_length)
        row["prompt_chars"] = _prompt_chars(row)
    bounds, start = [], 0
    for route in ROUTES:
        bounds.append((start, start + len(rows_by_route[route])))
        start += len(rows_by_route[route])
    return Corpus(
        items=pl.DataFrame(rows, schema=ITEM_SCHEMA),
        route_bounds=tuple(bounds),
        refusal_pad=_repeat_to(_REFUSAL_PAD, pad_length),
    )


def _first_per_id(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    first: dict[str, dict[str, Any]] = {}
    for row in rows:
        first.setdefault(row["question_id"], row)
    return list(first.values())


def topic_of(question: str, categories: list[str]) -> str:
    """A coarse topic label from keywords, so topic-mix drift can be injected and seen in `tags`."""
    text = " ".join([question, *categories]).lower()
    for name, pattern in _TOPIC_PATTERNS:
        if pattern.search(text):
            return name
    return "other"


# ---- items -------------------------------------------------------------------------------------------------


def _multi_hop_item(question: dict[str, Any], topic: str) -> dict[str, Any]:
    leaves = list(_leaves(question["decomposition"]))
    answer = question["answer"]
    return _item(
        question_id=question["id"],
        route=ROUTE_MULTI_HOP,
        topic=topic,
        hops=len(leaves),
        text=question["question"],
        history=[],
        evidence=[(leaf, 0) for leaf in leaves[:5]],
        answer_text=render_answer(answer, question["id"]),
        partial_text=_partial_answer(answer, leaves, question["id"]),
        pad_text=_elaboration(leaves),
    )


def _single_fact_items(question: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    leaves = list(_leaves(question["decomposition"]))
    items = []
    for i, leaf in enumerate(leaves):
        distractors = [leaves[j] for j in (i + 1, i + 2) if j < len(leaves)]
        items.append(
            _item(
                question_id=leaf["id"],
                route=ROUTE_SINGLE_FACT,
                topic=topic,
                hops=1,
                text=leaf["question"],
                history=[],
                evidence=[(leaf, 0), *((d, k + 2) for k, d in enumerate(distractors))],
                answer_text=render_answer(leaf["answer"], leaf["id"]),
                partial_text=_partial_answer(leaf["answer"], [], leaf["id"]),
                pad_text=_elaboration([leaf]),
            )
        )
    return items


def _followup_items(question: dict[str, Any], topic: str) -> list[dict[str, Any]]:
    """Sub-questions that depend on an earlier hop, asked after the parent question was answered."""
    leaves = list(_leaves(question["decomposition"]))
    parent_answer = render_answer(question["answer"], question["id"])
    history = [
        {"role": "user", "content": question["question"]},
        {"role": "assistant", "content": parent_answer},
    ]
    return [
        _item(
            question_id=leaf["id"],
            route=ROUTE_FOLLOWUP,
            topic=topic,
            hops=1,
            text=leaf["question"],
            history=history,
            evidence=[(leaf, 0), (leaves[0], 2)],
            answer_text=render_answer(leaf["answer"], leaf["id"]),
            partial_text=_partial_answer(leaf["answer"], [], leaf["id"]),
            pad_text=_elaboration([leaf]),
        )
        for leaf in leaves
        if leaf.get("depends_on")
    ]


def _item(
    *,
    question_id: str,
    route: str,
    topic: str,
    hops: int,
    text: str,
    history: list[dict[str, str]],
    evidence: list[tuple[dict[str, Any], int]],
    answer_text: str,
    partial_text: str,
    pad_text: str,
) -> dict[str, Any]:
    project = _ROUTE_PROJECT[route]
    passages = [_passage(leaf, rank) for leaf, rank in evidence]
    order = sorted(range(len(passages)), key=lambda i: -passages[i]["score"])
    evidence, passages = [evidence[i] for i in order], [passages[i] for i in order]
    messages = [
        {"role": "system", "content": _SYSTEM_PROMPTS[project]},
        *history,
        {"role": "user", "content": text},
    ]
    return {
        "question_id": question_id,
        "project": project,
        "route": route,
        "topic": topic,
        "hops": hops,
        "input_text": text,
        "input_messages": messages,
        "retrieved_context": passages,
        "tags": [_ROUTE_TAG[route], topic],
        "answer_text": answer_text + _citation(evidence),
        "partial_text": partial_text,
        "pad_text": pad_text,
    }


def _leaves(decomposition: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sub-questions answered from one Wikipedia page, depth first (nested decompositions are flattened)."""
    out: list[dict[str, Any]] = []
    for step in decomposition:
        if step.get("evidence"):
            out.append(step)
        out.extend(_leaves(step.get("decomposition") or []))
    return out


def _passage(leaf: dict[str, Any], rank: int) -> dict[str, Any]:
    """A retrieved passage built from a hop's evidence page: the fact it supports, with a retrieval score
    that falls with the rank (0 = the page that answers the question, higher = distractors)."""
    evidence = leaf["evidence"]
    score = 0.91 - 0.06 * rank - 0.05 * _unit_hash(leaf["id"])
    return {
        "document_id": f"wikipedia:{evidence['pageid']}",
        "text": f"{evidence['title']}: {leaf['question']} {inline(leaf['answer'])}.",
        "score": round(score, 4),
    }


def _citation(evidence: list[tuple[dict[str, Any], int]]) -> str:
    """The sources line a RAG answer ends with: the page titles of the best-scored passages (sorted first)."""
    titles = dict.fromkeys(leaf["evidence"]["title"] for leaf, _ in evidence[:3])
    line = "; ".join(titles)
    return f"\n\nSources: {line}" + ("" if line.endswith(".") else ".")


def _prompt_chars(row: dict[str, Any]) -> int:
    messages = sum(len(m["content"]) + 8 for m in row["input_messages"])
    return messages + sum(len(p["text"]) + 16 for p in row["retrieved_context"])


# ---- rendering ---------------------------------------------------------------------------------------------


def inline(value: Any) -> str:
    """An answer value as a short phrase (nested values included)."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {inline(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(inline(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        # Years stay as written (1982, not 1,982); big counts get separators as a model would write them.
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def render_answer(value: Any, key: str) -> str:
    """The answer as a chat model would phrase it: a bullet list for several items, one sentence otherwise."""
    if isinstance(value, dict) and len(value) > 1:
        return "Here is what I found:\n" + "\n".join(f"- {k}: {inline(v)}" for k, v in value.items())
    if isinstance(value, list) and len(value) > 1:
        return "Here is what I found:\n" + "\n".join(f"- {inline(v)}" for v in value)
    if isinstance(value, bool):
        return "Yes." if value else "No."
    template = _CORRECT_TEMPLATES[int(_unit_hash(key) * len(_CORRECT_TEMPLATES))]
    return template.format(inline(value).rstrip("."))


def _partial_answer(value: Any, leaves: list[dict[str, Any]], key: str) -> str:
    """Part of the answer: half of a list, one intermediate hop, or a hedged guess."""
    if isinstance(value, dict | list) and len(value) > 1:
        entries = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        shown = entries[: math.ceil(len(entries) / 2) if len(entries) > 2 else 1]
        if isinstance(value, dict):
            lines = [f"- {k}: {inline(v)}" for k, v in shown]
        else:
            lines = [f"- {inline(v)}" for _, v in shown]
        return "Here is what I found so far:\n" + "\n".join(lines) + "\nI could not find the rest."
    if leaves:
        first = leaves[0]
        return (
            f"I could only work out part of this. {first['question']} {inline(first['answer'])}. "
            "I could not determine the final answer from the passages."
        )
    if _unit_hash(key + "/partial") < 0.5:
        return f"I'm not completely sure, but it may be {inline(value)}."
    return f"I think it is {inline(value)}, although the passages are not entirely clear about it."


def _elaboration(leaves: list[dict[str, Any]]) -> str:
    """Reasoning text appended to answers when the longer-outputs drift is on."""
    steps = " ".join(f"{leaf['question']} {inline(leaf['answer'])}." for leaf in leaves)
    titles = ", ".join(dict.fromkeys(leaf["evidence"]["title"] for leaf in leaves))
    return f"Here is how I worked it out. {steps} Sources: {titles}. " if leaves else _REFUSAL_PAD


def _repeat_to(text: str, length: int) -> str:
    return (text * (length // max(len(text), 1) + 1))[:length]


def _unit_hash(key: str) -> float:
    """A stable number in [0, 1) from a key: per-item variety that does not depend on any seed."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 2**32

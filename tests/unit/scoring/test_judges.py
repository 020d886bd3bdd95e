"""LLM judges with no model: prompt building, parsing every shape of reply, config errors, and the thin call
through a fake client (the real client and cache are covered in tests/integration/test_scoring_end_to_end.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from tests.support.fake_model import FakeModel
from tests.support.store_spy import StoreReads
from tracewatch.errors import ConfigError
from tracewatch.llm import ModelError, ResponseCache, RetryPolicy, Runtime
from tracewatch.scoring.judges import judge_from_dict
from tracewatch.scoring.judges.parse import first_json_object, parse_flag, parse_scale
from tracewatch.store import Store

ITEM = {
    "input": "Capital of France?",
    "output": "Paris.",
    "expected": "Paris",
    "context": "Paris is in France.",
}


@pytest.mark.parametrize(
    ("text", "value", "raw"),
    [
        ('{"score": 5, "reason": "right"}', 1.0, 5.0),
        ('Sure! ```json\n{"score": 3, "reason": "half"}\n```', 0.5, 3.0),
        ('{"note": 1} then {"score": "2", "reason": "weak"}', 0.25, 2.0),
        ("Reasoning first. Score: 4", 0.75, 4.0),
        ('{"score": 1.0}', 0.0, 1.0),
    ],
)
def test_scale_replies_are_read_and_normalised(text: str, value: float, raw: float) -> None:
    score = parse_scale(text, 1, 5)
    assert score.status == "scored"
    assert score.value == pytest.approx(value)
    assert score.metadata["raw_score"] == raw


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I think it is fine.", "no JSON object"),
        ('{"score": 9}', "outside the scale 1..5"),
        ('{"score": "high"}', "not a number"),
        ('{"score": true}', "not a number"),
        ('{"score": null}', "not a number"),
        ("", "no JSON object"),
    ],
)
def test_unreadable_scale_replies_are_errors_that_keep_the_raw_text(text: str, reason: str) -> None:
    score = parse_scale(text, 1, 5)
    assert score.status == "error"
    assert score.value is None
    assert reason in score.explanation
    assert score.metadata["raw"] == text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"flagged": false, "categories": [], "reason": "benign"}', 1.0),
        ('{"flagged": true, "categories": ["violence"]}', 0.0),
        ("flagged: yes", 0.0),
        ('{"flagged": "false"}', 1.0),
    ],
)
def test_moderation_replies_become_a_safety_score(text: str, value: float) -> None:
    score = parse_flag(text)
    assert (score.status, score.value) == ("scored", value)


def test_moderation_reply_without_a_flag_is_an_error() -> None:
    score = parse_flag('{"flagged": "maybe"}')
    assert score.status == "error"
    assert "expected true or false" in score.explanation


def test_first_json_object_skips_broken_braces() -> None:
    assert first_json_object('a {broken and {"score": 2}') == {"score": 2}
    assert first_json_object("[1, 2]") is None


@pytest.mark.parametrize("kind", ["correctness", "faithfulness", "relevance", "moderation"])
def test_prompts_carry_the_fields_their_judge_needs(kind: str) -> None:
    judge = judge_from_dict({"judge": kind, "model": "openai/judge", "api_base": "http://127.0.0.1:1/v1"})
    messages = judge.messages(ITEM)
    assert [m["role"] for m in messages] == ["system", "user"]
    for field in judge.kind.needs:
        assert ITEM[field] in messages[1]["content"]


def test_rubric_prompt_lists_criteria_steps_and_its_own_scale() -> None:
    judge = judge_from_dict(
        {
            "judge": "rubric",
            "name": "concise",
            "model": "openai/judge",
            "criteria": "The answer uses as few words as needed.",
            "steps": ["Count filler words.", "Check nothing essential is missing."],
            "scale": [0, 10],
        }
    )
    text = judge.messages(ITEM)[1]["content"]
    assert "few words" in text and "1. Count filler words." in text and "integer from 0 to 10" in text
    assert judge.name == "concise"
    assert judge.parse('{"score": 10}').value == 1.0
    assert judge.args == {
        "judge": "rubric",
        "model": "openai/judge",
        "params": {"max_tokens": 256, "seed": 0, "temperature": 0.0},
        "criteria": "The answer uses as few words as needed.",
        "steps": ["Count filler words.", "Check nothing essential is missing."],
        "scale": [0, 10],
    }


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"judge": "vibes", "model": "m"}, "unknown judge 'vibes'"),
        ({"judge": "correctness"}, "needs a `model`"),
        ({"judge": "rubric", "model": "m"}, "needs `criteria`"),
        ({"judge": "rubric", "model": "m", "criteria": "x", "scale": [5, 1]}, "low < high"),
        ({"judge": "correctness", "model": "m", "criteria": "x"}, "takes no option(s) ['criteria']"),
        ({"judge": "correctness", "model": "m", "params": {"temperature": 9}}, "temperature"),
        ({"model": "m"}, "needs a 'judge' kind"),
    ],
)
def test_bad_judge_configs_say_what_is_wrong(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as raised:
        judge_from_dict(config)
    assert message in str(raised.value)


def _score(config: Mapping[str, object], items: list[dict[str, str | None]], client: FakeModel, cache=None):
    judge = judge_from_dict({"model": "openai/judge", "api_base": "http://127.0.0.1:1/v1", **config})
    runtime = Runtime(client=client, cache=cache)
    quick = RetryPolicy(max_attempts=2, base_delay_s=0.0, max_delay_s=0.0)
    return asyncio.run(judge.score_items(items, runtime, retry=quick))


def test_a_judge_scores_in_order_and_records_what_judged() -> None:
    client = FakeModel(reply=lambda text, _call: '{"score": 5}' if "Paris." in text else '{"score": 1}')
    items = [ITEM, {**ITEM, "output": "Lyon."}]
    first, second = _score({"judge": "correctness"}, items, client)
    assert (first.value, second.value) == (1.0, 0.0)
    assert first.metadata["model"] == "openai/judge"
    assert (first.metadata["temperature"], first.metadata["seed"]) == (0.0, 0)
    assert client.requests[0].call.params["temperature"] == 0.0


def test_items_without_the_needed_fields_are_unscored_and_not_sent() -> None:
    client = FakeModel(reply='{"score": 5}')
    (score,) = _score({"judge": "correctness"}, [{**ITEM, "expected": None}], client)
    assert score.status == "unscored" and "expected" in score.explanation
    assert client.total == 0


def test_failed_calls_and_unreadable_replies_are_error_scores() -> None:
    failing = FakeModel(reply=ModelError("bad key", transient=False, status=401))
    (failed,) = _score({"judge": "relevance"}, [ITEM], failing)
    assert failed.status == "error" and "HTTP 401" in failed.explanation
    rambling = FakeModel(reply="It is a pretty good answer overall.")
    (unreadable,) = _score({"judge": "relevance"}, [ITEM], rambling)
    assert unreadable.status == "error"
    assert unreadable.metadata["raw"] == "It is a pretty good answer overall."


def test_judgements_come_from_the_response_cache_the_second_time(file_store: Store) -> None:
    client = FakeModel(reply='{"score": 4}')
    first = _score({"judge": "relevance"}, [ITEM], client, ResponseCache(file_store))
    again = _score({"judge": "relevance"}, [ITEM], client, ResponseCache(file_store))
    assert client.total == 1
    assert first[0].value == again[0].value == 0.75
    assert (first[0].metadata["cached"], again[0].metadata["cached"]) == (False, True)


def test_a_judged_batch_is_sealed_in_one_pack_that_a_rerun_reads_alone(file_store: Store) -> None:
    client = FakeModel(reply='{"score": 4}')
    items = [{**ITEM, "input": f"question {i}"} for i in range(3)]
    first = _score({"judge": "relevance"}, items, client, ResponseCache(file_store))
    packs = [o.key for o in file_store.list_objects("warehouse/cache/packs")]
    assert len(packs) == 1 and client.total == 3
    reads = StoreReads(file_store)
    again = _score({"judge": "relevance"}, items, client, ResponseCache(file_store))
    assert [s.value for s in again] == [s.value for s in first] and client.total == 3
    assert reads.calls == [packs]  # the pack held every answer: no single entry was read

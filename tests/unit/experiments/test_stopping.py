"""A config stops calling after repeated terminal errors (issue 20, item 9): after N consecutive failures of one
terminal kind (401/403, 404, 400) no further call of that config starts, the rest of its items end as `error`
rows that say they were not attempted and why, and the run's result carries the reason so that the command
line and the flow fail with it."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import random
from functools import partial
from typing import Any

import polars as pl
import pytest

from tests.support.dataset_items import item_frame, item_row
from tests.support.fake_model import FakeModel
from tracewatch.errors import ConfigError
from tracewatch.experiments import (
    ExperimentConfig,
    ExperimentResult,
    ExperimentSpec,
    RunnerSettings,
    TerminalStops,
    experiment_summary,
    read_experiment_items,
    run_experiment,
)
from tracewatch.llm import (
    CallParams,
    CallResult,
    LimitSettings,
    ModelError,
    ProviderLimits,
    RetryPolicy,
    Runtime,
    answer,
    call_context,
)
from tracewatch.store import Store

AUTH = ModelError(
    "authentication failed: Incorrect API key provided.", transient=False, status=401, kind="auth"
)
NOT_FOUND = ModelError("not found: no model x", transient=False, status=404, kind="not_found")
SERVER = ModelError("server error: overloaded", transient=True, status=503, kind="server_error")
REASON = (
    "stopped after 5 consecutive authentication errors (HTTP 401): authentication failed: Incorrect API key"
)


def failed(error: ModelError) -> CallResult:
    return CallResult("error", None, str(error), attempts=1, failure=error)


OK = CallResult("ok", None, None, attempts=1)
NO_CALL = CallResult("error", None, "item 7 has no value for template field {context}", attempts=0)


def test_five_in_a_row_of_one_kind_stop_the_config_and_name_the_first_error() -> None:
    stops = TerminalStops()
    assert [stops.record("a", failed(AUTH), 5) for _ in range(4)] == [None] * 4
    assert stops.reason("a") is None
    assert stops.record("a", failed(AUTH), 5) == stops.reason("a")
    assert (stops.reason("a") or "").startswith(REASON)
    assert stops.record("a", failed(AUTH), 5) is None  # reported once, when it happens
    assert stops.reason("b") is None  # another config is not stopped


@pytest.mark.parametrize(
    ("between", "stopped"),
    [
        (OK, False),  # an answer ends the run of errors
        (failed(SERVER), False),  # so does a failure of another (transient) kind
        (failed(NOT_FOUND), False),  # and a terminal failure of another kind starts its own run
        (NO_CALL, True),  # an item that made no call neither counts nor ends it
    ],
)
def test_only_consecutive_calls_failing_the_same_way_count(between: CallResult, stopped: bool) -> None:
    stops = TerminalStops()
    for result in [failed(AUTH)] * 3 + [between] + [failed(AUTH)] * 2:
        stops.record("a", result, 5)
    assert (stops.reason("a") is not None) is stopped


def test_no_limit_never_stops_and_a_copy_in_another_process_starts_afresh() -> None:
    stops = TerminalStops()
    for _ in range(50):
        stops.record("a", failed(AUTH), None)
    assert stops.reason("a") is None

    for _ in range(2):
        stops.record("a", failed(AUTH), 2)
    assert stops.reason("a") is not None and pickle.loads(pickle.dumps(stops)).reason("a") is None


def test_the_setting_must_be_at_least_one() -> None:
    with pytest.raises(
        ConfigError, match=r"stop_after_terminal_errors=0 must be >= 1 \(or None: never stop\)"
    ):
        RunnerSettings(stop_after_terminal_errors=0)


# ---- through the runner ------------------------------------------------------------------------------------


def items(n: int, word: str) -> pl.DataFrame:
    return item_frame(
        *(
            item_row(f"{word}{i:03d}", input_text=f"{word}{i} what is {i}?", input_messages=[])
            for i in range(n)
        )
    )


def run(
    store: Store, client: FakeModel, configs: list[ExperimentConfig], frame: pl.DataFrame, **settings: Any
) -> ExperimentResult:
    return asyncio.run(
        run_experiment(
            store,
            ExperimentSpec("exp-stop", "qa-golden", 1),
            configs,
            frame,
            runtime=Runtime(client=client, rng=random.Random(0)),
            settings=RunnerSettings(
                retry=RetryPolicy(max_attempts=3, base_delay_s=0.001),
                chunk_size=8,
                workers_per_chunk=1,
                progress=lambda snapshot: None,
                **settings,
            ),
        )
    )


def config(name: str) -> ExperimentConfig:
    return ExperimentConfig(name=name, model=f"openai/{name}", params={"temperature": 0.0})


def refuse_bad_endpoint(prompt: str, call: CallParams) -> str | BaseException:
    return AUTH if call.model == "openai/bad" else f"answer to {prompt}"


def test_a_config_whose_every_call_is_refused_stops_after_five_and_accounts_for_every_item(
    file_store: Store,
) -> None:
    client = FakeModel(reply=refuse_bad_endpoint)
    good, bad = config("good"), config("bad")
    result = run(file_store, client, [good, bad], items(20, "q"))

    rows = read_experiment_items(file_store, "exp-stop")
    bad_rows = rows.filter(pl.col("config_name") == "bad")
    # Three chunks of `bad` run side by side, one worker each: the fifth refusal stops new calls, and at most
    # the two calls already in flight in the other chunks finish after it.
    asked = sum(r.call.model == "openai/bad" for r in client.requests)
    assert 5 <= asked <= 7
    errors = bad_rows.get_column("error").to_list()
    assert len(errors) == 20 and set(bad_rows.get_column("status")) == {"error"}
    assert sum(e.startswith("not attempted: " + REASON) for e in errors) == 20 - asked
    assert sum(e.startswith("HTTP 401: authentication failed") for e in errors) == asked
    assert set(bad_rows.get_column("attempts")) == {0, 1}
    good_rows = rows.filter(pl.col("config_name") == "good")
    assert (
        set(good_rows.get_column("status")) == {"ok"} and good_rows.height == 20
    )  # the other config goes on
    assert result.record.counts == {"ok": 20, "error": 20, "skipped_budget": 0, "missing": 0}
    assert result.stopped_reason is not None and result.stopped_reason.startswith(f"config bad: {REASON}")
    assert "config good" not in result.stopped_reason
    assert {c.stopped_reason is not None for c in result.chunks if c.config_name == "bad"} == {True}

    summary = experiment_summary(result.record, result.chunks)
    assert summary.stopped_reason == result.stopped_reason
    assert summary.message.startswith(f"FAILED: config bad: {REASON}")


def test_without_a_limit_every_call_is_made(file_store: Store) -> None:
    client = FakeModel(reply=refuse_bad_endpoint)
    bad = [config("bad")]
    result = run(file_store, client, bad, items(12, "q"), stop_after_terminal_errors=None)
    assert client.total == 12 and result.stopped_reason is None
    assert experiment_summary(result.record, result.chunks).message.startswith("experiment exp-stop:")


def test_workers_waiting_for_a_provider_slot_do_not_call_after_the_stop(file_store: Store) -> None:
    # Eight workers per chunk and three chunks, but the provider takes two calls at once: the calls that queued
    # for a slot while the fifth refusal came in are held back when they get one.
    client = FakeModel(reply=refuse_bad_endpoint, latency_s=0.01)
    limits = ProviderLimits(LimitSettings(max_concurrency=2))
    result = asyncio.run(
        run_experiment(
            file_store,
            ExperimentSpec("exp-stop", "qa-golden", 1),
            [config("bad")],
            items(20, "q"),
            runtime=Runtime(client=client, limits=limits, rng=random.Random(0)),
            settings=RunnerSettings(chunk_size=8, workers_per_chunk=8, progress=lambda snapshot: None),
        )
    )
    assert 5 <= client.total <= 6  # the fifth refusal and at most one call in flight beside it
    assert client.peak <= 2
    assert result.record.counts == {"ok": 0, "error": 20, "skipped_budget": 0, "missing": 0}
    errors = read_experiment_items(file_store, "exp-stop").get_column("error")
    assert errors.str.starts_with(f"not attempted: {REASON}").sum() == 20 - client.total


def test_a_held_back_call_names_the_stop_and_makes_no_attempt() -> None:
    client = FakeModel()
    call = config("a").call_params()
    context = call_context(Runtime(client=client), RetryPolicy(), call, budget_key="k", timeout_s=5)
    held = dataclasses.replace(context, stop=lambda: "stopped after 5 consecutive bad requests (HTTP 400): x")
    messages = [{"role": "user", "content": "q1"}]
    result = asyncio.run(answer(held, partial(client.complete, messages, call), messages, None))
    assert (result.status, result.attempts, client.total) == ("error", 0, 0)
    assert result.error == "not attempted: stopped after 5 consecutive bad requests (HTTP 400): x"


def test_before_its_first_answer_a_config_has_no_more_calls_out_than_it_takes_to_stop() -> None:
    stops = TerminalStops()
    probes = [stops.admit("c", 3) for _ in range(4)]
    assert probes == [True, True, True, None]  # the fourth waits
    stops.record("c", failed(AUTH), 3)
    stops.release("c")
    assert stops.admit("c", 3) is None  # one refusal recorded + two out: still no room
    stops.record("c", failed(SERVER), 3)  # a transient failure ends the run of refusals
    stops.release("c")
    assert stops.admit("c", 3) is True
    stops.record("c", CallResult("ok", None, None, attempts=1), 3)
    stops.release("c")
    assert stops.admit("c", 3) is False  # answered: the provider's own limits alone
    assert TerminalStops().admit("c", None) is False  # stopping off: no probing

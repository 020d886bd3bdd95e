"""The demo trace generator: canonical schema, determinism, realistic content, drift only where asked,
and planted bad input exactly as summarised."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.demo_days import DEMO_START, demo_date, demo_day
from tracewatch.errors import ConfigError
from tracewatch.store import Store
from tracewatch.traces import (
    BAD_ROW_DAYS,
    CORPUS_ATTRIBUTION,
    CORRUPT_FILE_DAY,
    DEFECTS,
    STATUS_VALUES,
    TRACE_SCHEMA,
    DemoSummary,
    DriftSpec,
    _profile,
    planted_pii_of_day,
    write_demo_traces,
)
from tracewatch.traces._corpus import ROUTES, TOPICS, load_corpus, topic_of
from tracewatch.traces._pii_plant import PII_TRACES_PER_DAY, PlantedPII

NEW_MODEL = "gpt-4o-mini-2026-10"


def make(index: int, traces: int = 2_000, *, seed: int = 7, drift: DriftSpec | None = None) -> pl.DataFrame:
    return demo_day(index, traces=traces, seed=seed, drift=drift)


def correctness(frame: pl.DataFrame) -> pl.Series:
    return (
        frame["metadata"].str.json_decode(pl.Struct({"correctness": pl.String})).struct.field("correctness")
    )


def thumbs_up_rate(frame: pl.DataFrame) -> float:
    entries = frame.select(pl.col("feedback").list.explode().struct.unnest()).filter(name="thumbs")
    return float(entries["value"].mean())


def profile(frame: pl.DataFrame) -> dict[str, float]:
    """The statistics a drift detector would compare, per day."""
    ok = frame.filter(status="ok")
    return {
        "output_tokens": float(ok["output_tokens"].mean()),
        "input_tokens": float(frame["input_tokens"].mean()),
        "latency_ms": float(ok["latency_ms"].median()),
        "thumbs_up": thumbs_up_rate(frame),
        "sports_share": float((frame["tags"].list.get(1) == "sports").mean()),
        "new_model_share": float((frame["model"] == NEW_MODEL).mean()),
        "multi_hop_share": float((frame["route"] == "qa/multi-hop").mean()),
    }


@pytest.fixture(scope="module")
def week() -> list[pl.DataFrame]:
    """Six days, drift from day 4: days 1-3 must look alike, days 4-6 must differ from them."""
    drift = DriftSpec(from_day=4)
    return [make(i, 20_000, drift=drift) for i in range(1, 7)]


# ---- schema and content ------------------------------------------------------------------------------------


def test_frame_has_exactly_the_canonical_schema_in_order() -> None:
    frame = make(1, 500)
    assert frame.schema == pl.Schema(TRACE_SCHEMA)
    assert frame.columns == list(TRACE_SCHEMA)
    assert frame.height == 500


def test_zero_traces_give_an_empty_canonical_frame() -> None:
    frame = make(1, 0)
    assert frame.height == 0
    assert frame.schema == pl.Schema(TRACE_SCHEMA)


def test_identities_and_times_are_well_formed() -> None:
    frame = make(3, 3_000)
    assert frame["trace_id"].is_unique().all()
    assert frame["trace_id"].str.contains(r"^[0-9a-f]{32}$").all()
    assert (frame["start_time"].dt.date() == demo_date(3)).all()
    assert frame["start_time"].is_sorted()
    assert frame["user_id"].null_count() == 0
    assert frame["session_id"].str.starts_with("sess-20261103-").all()
    # Activity is skewed: the busiest user sends far more than the median user.
    per_user = frame["user_id"].value_counts()["count"]
    assert per_user.max() > 5 * per_user.median()


def test_status_and_error_columns_agree() -> None:
    frame = make(1, 10_000)
    assert set(frame["status"].unique()) == set(STATUS_VALUES)
    errors, ok = frame.filter(status="error"), frame.filter(status="ok")
    assert 0.005 < errors.height / frame.height < 0.05
    assert errors["error_type"].is_in([e.error_type for e in _profile.ERRORS]).all()
    assert errors["error_message"].null_count() == 0
    assert (errors["output_text"] == "").all()
    assert (errors["output_tokens"] == 0).all()
    assert (errors["cost_usd"] == 0).all()
    assert errors["feedback"].list.len().max() == 0
    assert ok["error_type"].null_count() == ok.height
    assert ok["error_message"].null_count() == ok.height
    assert (ok["output_tokens"] > 0).all()
    assert (ok["cost_usd"] > 0).all()


def test_numbers_are_plausible() -> None:
    frame = make(1, 10_000)
    ok = frame.filter(status="ok")
    chars_per_token = ok["output_text"].str.len_chars() / ok["output_tokens"]
    assert 3.0 < chars_per_token.median() < 5.0
    assert (frame["input_tokens"] > 0).all()
    assert (frame["latency_ms"] > 0).all()
    by_model = ok.group_by("model").agg(pl.col("latency_ms").median(), pl.col("cost_usd").sum())
    latency = dict(by_model.select("model", "latency_ms").iter_rows())
    cost = dict(by_model.select("model", "cost_usd").iter_rows())
    assert latency["llama-3.1-8b-instruct"] < latency["gpt-4o-mini"] < latency["claude-3-5-haiku"]
    assert cost["llama-3.1-8b-instruct"] < cost["gpt-4o-mini"] < cost["claude-3-5-haiku"]
    providers = dict(frame.select("model", "provider_name").unique().iter_rows())
    assert providers == {m.name: m.provider for m in _profile.MODELS}


def test_messages_context_tags_and_metadata_are_consistent() -> None:
    frame = make(2, 2_000)
    first_role = frame["input_messages"].list.first().struct.field("role")
    last = frame["input_messages"].list.last()
    assert (first_role == "system").all()
    assert (last.struct.field("role") == "user").all()
    assert (last.struct.field("content") == frame["input_text"]).all()
    followups = frame.filter(route="chat/followup")
    assert (followups["input_messages"].list.len() == 4).all()
    assert (frame["retrieved_context"].list.len() >= 1).all()
    scores = frame.select(pl.col("retrieved_context").list.explode().struct.field("score"))["score"]
    assert scores.is_between(0.0, 1.0).all()
    assert set(frame["tags"].list.get(1)) <= set(TOPICS)
    assert set(frame["route"]) == set(ROUTES)
    assert set(frame["project"]) == {"qa-assistant", "research-chat"}
    for text in frame["metadata"].head(50):
        meta = json.loads(text)
        assert set(meta) >= {"app_version", "correctness", "question_id", "topic"}


def test_answers_have_every_kind_of_correctness_and_feedback_follows_it() -> None:
    frame = make(1, 20_000)
    labels = correctness(frame)
    shares = labels.drop_nulls().value_counts(normalize=True)
    share = dict(shares.iter_rows())
    assert set(share) == set(_profile.CORRECTNESS)
    assert share["correct"] > 0.4
    assert min(share.values()) > 0.03
    assert labels.is_null().sum() == (frame["status"] == "error").sum()
    refusals = frame.filter(labels == "refusal")["output_text"]
    assert refusals.is_in(list(_profile.REFUSALS)).all()
    correct_up = thumbs_up_rate(frame.filter(labels == "correct"))
    wrong_up = thumbs_up_rate(frame.filter(labels == "wrong"))
    assert correct_up > wrong_up + 0.4
    given = frame.filter(status="ok")["feedback"].list.len() > 0
    assert 0.2 < given.mean() < 0.4


def test_a_correct_answer_is_the_questions_answer_and_a_wrong_one_is_another_questions() -> None:
    frame = make(1, 5_000)
    meta = pl.Struct({"correctness": pl.String, "question_id": pl.String})
    frame = frame.with_columns(pl.col("metadata").str.json_decode(meta).struct.unnest())
    corpus = load_corpus().items.select("route", "question_id", "answer_text")
    # A follow-up sub-question can recur under several parent questions, so match any of its items.
    matches = (
        frame.with_row_index()
        .join(corpus, on=["route", "question_id"])
        .group_by("index", "correctness")
        .agg(is_own_answer=(pl.col("output_text") == pl.col("answer_text")).any())
    )
    assert matches.height == frame.height
    assert matches.filter(correctness="correct")["is_own_answer"].all()
    wrong = matches.filter(correctness="wrong")["is_own_answer"]
    assert wrong.len() > 100
    assert wrong.mean() < 0.05


def test_topics_come_from_keywords() -> None:
    assert topic_of("Who won the 2018 FIFA World Cup?", []) == "sports"
    assert topic_of("Which actors starred in the film Heat?", []) == "film"
    assert topic_of("Where is this?", ["Geography"]) == "geography"
    assert topic_of("What colour is it?", []) == "other"
    assert [spec.route for spec in _profile.ROUTE_SPECS] == list(ROUTES)


def test_the_corpus_attribution_names_the_licence() -> None:
    assert "FanOutQA" in CORPUS_ATTRIBUTION
    assert "CC-BY-SA-4.0" in CORPUS_ATTRIBUTION


# ---- determinism -------------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), index=st.integers(1, 30))
def test_same_seed_and_day_give_the_same_frame(seed: int, index: int) -> None:
    drift = DriftSpec(from_day=10)
    assert make(index, 200, seed=seed, drift=drift).equals(make(index, 200, seed=seed, drift=drift))


def test_another_day_or_seed_gives_other_traces() -> None:
    base = make(1, 500)
    for other in (make(2, 500), make(1, 500, seed=8)):
        assert not base.equals(other)
        assert set(base["trace_id"]).isdisjoint(other["trace_id"])


# ---- drift -------------------------------------------------------------------------------------------------


def test_days_before_from_day_are_stationary(week: list[pl.DataFrame]) -> None:
    before = [profile(frame) for frame in week[:3]]
    for name in ("output_tokens", "input_tokens", "latency_ms"):
        values = [p[name] for p in before]
        assert max(values) / min(values) < 1.03, (name, values)
    for name in ("thumbs_up", "sports_share", "multi_hop_share"):
        values = [p[name] for p in before]
        assert max(values) - min(values) < 0.03, (name, values)
    assert all(p["new_model_share"] == 0 for p in before)


def test_every_drift_shows_from_from_day_on(week: list[pl.DataFrame]) -> None:
    before = [profile(frame) for frame in week[:3]]
    after = [profile(frame) for frame in week[3:]]

    def mean(profiles: list[dict[str, float]], name: str) -> float:
        return sum(p[name] for p in profiles) / len(profiles)

    assert mean(after, "output_tokens") / mean(before, "output_tokens") > 1.5
    assert mean(after, "latency_ms") / mean(before, "latency_ms") > 1.3
    assert mean(after, "thumbs_up") < mean(before, "thumbs_up") - 0.15
    assert mean(after, "sports_share") > 1.8 * mean(before, "sports_share")
    assert all(0.25 < p["new_model_share"] < 0.45 for p in after)
    # Input side untouched: the same questions are asked, only their mix changes.
    assert abs(mean(after, "input_tokens") / mean(before, "input_tokens") - 1) < 0.05


def test_each_drift_switch_changes_only_its_own_columns() -> None:
    """A drifted day shares its randomness with the undrifted one, so a single switch is a pure effect."""
    base = make(12, 3_000)
    per_model = {"model", "provider_name", "metadata", "input_tokens", "output_tokens", "output_text"}
    per_model |= {"cost_usd", "latency_ms", "status", "error_type", "error_message", "feedback"}
    allowed_changes = {
        "latency_regression": {"latency_ms"},
        "falling_feedback": {"feedback"},
        "longer_outputs": {"output_text", "output_tokens", "cost_usd", "latency_ms"},
        "new_model_version": per_model,
    }
    switches = ("topic_mix", *allowed_changes)
    for switch, allowed in allowed_changes.items():
        drifted = make(12, 3_000, drift=DriftSpec(from_day=1, **{s: s == switch for s in switches}))
        changed = {c for c in TRACE_SCHEMA if not drifted[c].equals(base[c])}
        assert changed, switch
        assert changed <= allowed, (switch, changed - allowed)
    regressed = make(
        12, 3_000, drift=DriftSpec(from_day=1, **{s: s == "latency_regression" for s in switches})
    )
    ratio = regressed["latency_ms"] / base["latency_ms"]
    assert ratio.min() > 1.49
    assert ratio.max() < 1.51


def test_no_drift_spec_and_a_later_from_day_mean_the_same_day() -> None:
    assert make(5, 300, drift=None).equals(make(5, 300, drift=DriftSpec(from_day=6)))
    assert not make(6, 300, drift=None).equals(make(6, 300, drift=DriftSpec(from_day=6)))


# ---- writing to a store ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, DemoSummary]:
    root: Path = tmp_path_factory.mktemp("demo-store")
    store = Store("file://" + str(root))
    summary = write_demo_traces(store, start=DEMO_START, days=8, traces_per_day=300, seed=3, files_per_day=2)
    return store, summary


def test_write_demo_traces_writes_the_summarised_keys(written: tuple[Store, DemoSummary]) -> None:
    store, summary = written
    assert summary.days == tuple(demo_date(i) for i in range(1, 9))
    listed = tuple(o.key for o in store.list_objects("traces/"))
    assert listed == summary.keys
    good = [k for k in listed if "/part-0" in k]
    assert tuple(good) == summary.trace_keys
    assert len(good) == 8 * 2
    assert summary.rows_per_day == {demo_date(i): 300 for i in range(1, 9)}
    assert summary.good_rows == 8 * 300
    assert summary.drifted_days == ()  # the default drift starts on day 10
    json.dumps(summary.as_dict())


def test_written_parts_hold_exactly_the_generated_day(written: tuple[Store, DemoSummary]) -> None:
    store, _ = written
    for index in (1, 8):
        key = f"traces/date={demo_date(index).isoformat()}"
        parts = [store.read_parquet(f"{key}/part-{i:04d}.parquet") for i in range(2)]
        assert all(p.schema == pl.Schema(TRACE_SCHEMA) for p in parts)
        expected = demo_day(index, traces=300, seed=3, drift=DriftSpec(from_day=10))
        assert pl.concat(parts).equals(expected)
        assert parts[0]["start_time"].max() <= parts[1]["start_time"].min()


def test_planted_bad_rows_are_in_the_bad_file_as_summarised(written: tuple[Store, DemoSummary]) -> None:
    store, summary = written
    planted = summary.planted_rows
    assert len(planted) == len(BAD_ROW_DAYS) * len(DEFECTS)
    assert {row.day for row in planted} == {demo_date(i) for i in BAD_ROW_DAYS}
    for planted_day in {row.day for row in planted}:
        rows = [row for row in planted if row.day == planted_day]
        key = f"traces/date={planted_day.isoformat()}/part-bad.parquet"
        bad = store.read_parquet(key)
        assert bad.schema == pl.Schema(TRACE_SCHEMA)
        assert bad.height == len(rows)
        assert [r.key for r in rows] == [key] * len(rows)
        good = store.read_parquet(f"traces/date={planted_day.isoformat()}/part-0000.parquet")
        for row in rows:
            record = bad.row(row.row_index, named=True)
            assert record["trace_id"] == row.trace_id
            broken = {
                "null_trace_id": record["trace_id"] is None,
                "duplicate_trace_id": record["trace_id"] in set(good["trace_id"]),
                "negative_latency_ms": record["latency_ms"] < 0,
                "negative_output_tokens": record["output_tokens"] < 0,
                "start_time_wrong_date": record["start_time"].date() != planted_day,
                "unknown_status": record["status"] not in STATUS_VALUES,
            }
            assert [name for name, is_broken in broken.items() if is_broken] == [row.defect]


def test_the_corrupt_file_is_summarised_and_unreadable(written: tuple[Store, DemoSummary]) -> None:
    store, summary = written
    (corrupt,) = summary.planted_files
    assert corrupt.day == demo_date(CORRUPT_FILE_DAY)
    assert store.read_bytes(corrupt.key)[:4] != b"PAR1"
    assert len(store.read_bytes(corrupt.key)) == corrupt.size
    with pytest.raises(pl.exceptions.ComputeError):
        store.read_parquet(corrupt.key)


def test_a_rerun_writes_the_same_bytes(tmp_path: Path) -> None:
    first, second = Store("file://" + str(tmp_path / "a")), Store("file://" + str(tmp_path / "b"))
    for store in (first, second):
        write_demo_traces(store, start=DEMO_START, days=5, traces_per_day=50, seed=11)
    keys = [o.key for o in first.list_objects("traces/")]
    assert keys == [o.key for o in second.list_objects("traces/")]
    assert all(first.read_bytes(k) == second.read_bytes(k) for k in keys)


def test_without_planting_only_good_files_are_written(file_store: Store) -> None:
    store = file_store
    summary = write_demo_traces(
        store, start=DEMO_START, days=7, traces_per_day=20, plant_bad_input=False, drift=None
    )
    assert summary.planted_rows == summary.planted_files == ()
    assert [o.key for o in store.list_objects("traces/")] == list(summary.trace_keys)


@pytest.mark.parametrize(
    "kwargs",
    [{"days": 0}, {"traces_per_day": 0}, {"files_per_day": 0}, {"files_per_day": 11}, {"seed": -1}],
)
def test_bad_arguments_are_config_errors(file_store: Store, kwargs: dict[str, int]) -> None:
    args = {"days": 1, "traces_per_day": 10, **kwargs}
    with pytest.raises(ConfigError):
        write_demo_traces(file_store, start=DEMO_START, **args)
    with pytest.raises(ConfigError, match="from_day"):
        DriftSpec(from_day=0)


# ---- planted PII -------------------------------------------------------------------------------------------


def luhn_valid(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = sum(
        d if i % 2 == 0 else (2 * d - 9 if 2 * d > 9 else 2 * d) for i, d in enumerate(reversed(digits))
    )
    return total % 10 == 0


def planted_text(frame: pl.DataFrame, trace_id: str, column: str) -> str:
    """The text of one column of one trace, nested values included."""
    value = frame.filter(trace_id=trace_id)[column].to_list()[0]
    return value if isinstance(value, str) else json.dumps(value)


def test_pii_is_planted_in_a_few_traces_per_day_where_the_summary_says() -> None:
    frame = make(2, 2_000)
    planted = planted_pii_of_day(demo_date(2), seed=7, traces=2_000, day_index=2, drift=None)
    trace_ids = {p.trace_id for p in planted}
    assert len(trace_ids) == PII_TRACES_PER_DAY
    assert {p.kind for p in planted} == {"email", "phone", "credit_card", "ip_address", "secret"}
    assert {p.column for p in planted} == {"input_text", "input_messages", "retrieved_context", "metadata"}
    assert all(p.day == demo_date(2) for p in planted)
    for p in planted:
        assert p.value in planted_text(frame, p.trace_id, p.column), p
    assert all(luhn_valid(p.value) for p in planted if p.kind == "credit_card")
    assert any(p.value.startswith("sk-") for p in planted if p.kind == "secret")
    # The rest of the day carries none of it.
    others = json.dumps(frame.filter(~pl.col("trace_id").is_in(list(trace_ids))).to_dicts(), default=str)
    assert [p.value for p in planted if p.value in others] == []


def test_planted_traces_stay_consistent_and_look_like_failures() -> None:
    frame = make(4, 2_000)
    planted_ids = {
        p.trace_id for p in planted_pii_of_day(demo_date(4), seed=7, traces=2_000, day_index=4, drift=None)
    }
    rows = frame.filter(pl.col("trace_id").is_in(list(planted_ids)))
    last = rows["input_messages"].list.last().struct.field("content")
    assert (last == rows["input_text"]).all()
    for record in rows.iter_rows(named=True):
        expected = [] if record["status"] == "error" else [("thumbs", 0.0), ("rating", 1.0)]
        assert [(f["name"], f["value"]) for f in record["feedback"]] == expected
        json.loads(record["metadata"])
    unplanted = demo_day(4, traces=2_000, seed=7, plant_pii=False)
    before = unplanted.filter(pl.col("trace_id").is_in(list(planted_ids)))
    assert (rows["input_tokens"] > before["input_tokens"]).all()
    # Only the planted rows differ, and the day keeps its order and identities.
    assert frame["trace_id"].equals(unplanted["trace_id"])
    assert frame.filter(~pl.col("trace_id").is_in(list(planted_ids))).equals(
        unplanted.filter(~pl.col("trace_id").is_in(list(planted_ids)))
    )


def test_planted_pii_is_deterministic_per_seed_and_day() -> None:
    def planted(index: int, seed: int = 7) -> tuple[PlantedPII, ...]:
        return planted_pii_of_day(demo_date(index), seed=seed, traces=500, day_index=index, drift=None)

    assert planted(1) == planted(1)
    values = {p.value for p in planted(1)}
    assert values.isdisjoint({p.value for p in planted(2)})
    assert values.isdisjoint({p.value for p in planted(1, seed=8)})


def test_a_small_day_plants_in_every_trace_it_has() -> None:
    planted = planted_pii_of_day(demo_date(1), seed=7, traces=3, day_index=1, drift=None)
    assert {p.trace_id for p in planted} == set(make(1, 3)["trace_id"])
    assert planted_pii_of_day(demo_date(1), seed=7, traces=0, day_index=1, drift=None) == ()


def test_the_written_summary_lists_the_planted_pii(written: tuple[Store, DemoSummary]) -> None:
    store, summary = written
    assert len({p.trace_id for p in summary.planted_pii}) == 8 * PII_TRACES_PER_DAY
    assert {p.day for p in summary.planted_pii} == set(summary.days)
    first_day = [p for p in summary.planted_pii if p.day == demo_date(1)]
    assert first_day == list(
        planted_pii_of_day(demo_date(1), seed=3, traces=300, day_index=1, drift=DriftSpec(from_day=10))
    )
    good = pl.concat([store.read_parquet(key) for key in summary.trace_keys if "date=2026-11-01" in key])
    assert all(p.value in planted_text(good, p.trace_id, p.column) for p in first_day)
    json.dumps(summary.as_dict())


def test_without_pii_planting_the_summary_lists_none(file_store: Store) -> None:
    store = file_store
    summary = write_demo_traces(
        store, start=DEMO_START, days=1, traces_per_day=20, plant_pii=False, drift=None
    )
    assert summary.planted_pii == ()
    written = store.read_parquet(summary.trace_keys[0])
    assert written.equals(demo_day(1, traces=20, seed=7, plant_pii=False))
    assert not written.equals(make(1, 20))

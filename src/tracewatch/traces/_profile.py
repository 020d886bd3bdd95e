"""The made-up but plausible production profile of the demo application: models, routes, errors, feedback.

All numbers live here so the generator code stays free of magic constants and the drift effects can be read
in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracewatch.traces._corpus import ROUTE_FOLLOWUP, ROUTE_MULTI_HOP, ROUTE_SINGLE_FACT

CORRECTNESS: tuple[str, ...] = ("correct", "partial", "wrong", "refusal")
"""Hidden ground-truth label of an answer, recorded in `metadata` so downstream checks can be verified."""


@dataclass(frozen=True)
class ModelSpec:
    """One deployed model: its traffic share, prices, speed, reliability and answer quality."""

    name: str
    provider: str
    share: float
    usd_per_1k_input: float
    usd_per_1k_output: float
    first_token_ms: float
    ms_per_output_token: float
    error_rate: float
    correctness: tuple[float, float, float, float]
    """Probabilities of `CORRECTNESS` on a route of difficulty 1."""
    tokenizer_factor: float
    app_version: str


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="gpt-4o-mini",
        provider="openai",
        share=0.5,
        usd_per_1k_input=0.00015,
        usd_per_1k_output=0.0006,
        first_token_ms=420.0,
        ms_per_output_token=14.0,
        error_rate=0.015,
        correctness=(0.64, 0.16, 0.14, 0.06),
        tokenizer_factor=1.0,
        app_version="1.4.2",
    ),
    ModelSpec(
        name="claude-3-5-haiku",
        provider="anthropic",
        share=0.3,
        usd_per_1k_input=0.0008,
        usd_per_1k_output=0.004,
        first_token_ms=600.0,
        ms_per_output_token=16.0,
        error_rate=0.012,
        correctness=(0.67, 0.15, 0.11, 0.07),
        tokenizer_factor=1.08,
        app_version="1.4.2",
    ),
    ModelSpec(
        # Self-hosted: the "price" is the amortised GPU cost per 1k tokens.
        name="llama-3.1-8b-instruct",
        provider="vllm",
        share=0.2,
        usd_per_1k_input=0.00005,
        usd_per_1k_output=0.0001,
        first_token_ms=180.0,
        ms_per_output_token=9.0,
        error_rate=0.03,
        correctness=(0.45, 0.2, 0.3, 0.05),
        tokenizer_factor=1.05,
        app_version="1.4.2",
    ),
)
NEW_MODEL = ModelSpec(
    name="gpt-4o-mini-2026-10",
    provider="openai",
    share=0.0,
    usd_per_1k_input=0.00015,
    usd_per_1k_output=0.0006,
    first_token_ms=380.0,
    ms_per_output_token=12.0,
    error_rate=0.02,
    correctness=(0.6, 0.18, 0.15, 0.07),
    tokenizer_factor=1.0,
    app_version="1.5.0",
)
"""Rolled out by the new-model-version drift: it takes `NEW_MODEL_TAKEOVER` of the traffic of `MODELS[0]`."""
NEW_MODEL_TAKEOVER = 0.7
ALL_MODELS: tuple[ModelSpec, ...] = (*MODELS, NEW_MODEL)


@dataclass(frozen=True)
class RouteSpec:
    """One route: its traffic share, how hard its questions are and the retrieval step's latency."""

    route: str
    share: float
    difficulty: float
    """Multiplies the probability of a correct answer (the rest is rescaled)."""
    retrieval_ms: float


ROUTE_SPECS: tuple[RouteSpec, ...] = (
    RouteSpec(ROUTE_MULTI_HOP, 0.5, 0.8, 140.0),
    RouteSpec(ROUTE_SINGLE_FACT, 0.35, 1.2, 60.0),
    RouteSpec(ROUTE_FOLLOWUP, 0.15, 1.05, 70.0),
)
"""In `ROUTES` order, the order of the corpus blocks."""


@dataclass(frozen=True)
class ErrorSpec:
    """One kind of failed request: how often it happens among failures, its message and how long it took."""

    error_type: str
    share: float
    message: str
    median_latency_ms: float


ERRORS: tuple[ErrorSpec, ...] = (
    ErrorSpec("RateLimitError", 0.45, "Rate limit reached for requests; please retry after 20s.", 150.0),
    ErrorSpec("Timeout", 0.3, "Request timed out after 30.0 seconds.", 30_000.0),
    ErrorSpec("APIConnectionError", 0.15, "Connection error: could not reach the model endpoint.", 2_500.0),
    ErrorSpec("InternalServerError", 0.1, "The server had an error while processing your request.", 900.0),
)

REFUSALS: tuple[str, ...] = (
    "I'm sorry, I can't help with that request.",
    "I'm sorry, but I couldn't find reliable information to answer that question.",
    "I can't answer that with confidence based on the available sources.",
    "Sorry, I'm unable to help with that. Please try rephrasing your question.",
)

# ---- feedback: given on some successful traces, more positive when the answer is right -------------------
FEEDBACK_RATE = 0.3
RATING_GIVEN_THUMBS_RATE = 0.4
THUMBS_UP_PROBABILITY: tuple[float, float, float, float] = (0.88, 0.55, 0.18, 0.12)
"""P(thumbs up) per `CORRECTNESS` label."""
RATING_IF_UP: tuple[float, ...] = (0.0, 0.0, 0.1, 0.35, 0.55)
RATING_IF_DOWN: tuple[float, ...] = (0.45, 0.4, 0.15, 0.0, 0.0)
"""P(rating = 1..5) given the thumbs vote."""

# ---- everything else ---------------------------------------------------------------------------------------
USERS = 3_000
USER_ACTIVITY_EXPONENT = 0.9
"""User activity follows a Zipf-like law: a few heavy users, a long tail."""
SESSIONS_PER_USER_DAY = 3
CHARS_PER_TOKEN = 4.0

# ---- drift effects -----------------------------------------------------------------------------------------
DRIFT_TOPIC_WEIGHTS: dict[str, float] = {"sports": 4.0}
"""Per-topic traffic multipliers under topic-mix drift (a sports event drives the questions)."""
DRIFT_OUTPUT_LENGTH = 1.8
DRIFT_LATENCY = 1.5
DRIFT_THUMBS_UP = 0.6
"""Multiplies P(thumbs up) under falling-feedback drift."""

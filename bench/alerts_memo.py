"""Speed for the alerts benchmark's workers, without changing a single number the decision rule computes.

One seed's power nights are 21 drifted copies of the same night judged against the same 7 reference days, and
most of a judgement is work on the reference days alone: each day's swing against the others (a Wasserstein
distance per feature, day and segment: the bulk of a night at 2,000 traces a day) and the reference days'
own CMH statistic. Each worker memoises those pure functions by the *content* of their arguments (count
tables compare by value, arrays by shape, dtype and bytes), so a repeat returns the very float the first call
computed. The memo is cleared at every seed, which bounds it.

The text embedding is memoised per text the same way (`memoise_embed`): the demo asks the same ~4,000
questions every day and a text's vector does not depend on the other texts of its batch; the worker checks on
a real day that the memo's embedding equals the original bit for bit before using it.

Numeric libraries' own threads are held to one per worker (`single_threaded_env`): the benchmark runs one
process per core, and OpenBLAS threads spinning against the other worker made a night at 2,000 traces a day
take twice the CPU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

THREAD_VARIABLES: tuple[str, ...] = (
    "POLARS_MAX_THREADS",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)
"""Environment variables that cap a library's threads; spawned workers read them when they import it."""

_MEMOS: list[dict[Hashable, Any]] = []
_EMBED_CACHE: dict[str | None, Any] = {}


@contextmanager
def single_threaded_env() -> Iterator[None]:
    """Within the block, processes spawned from here run polars and BLAS on one thread each."""
    import os

    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def array_key(array: Any) -> Hashable:
    """An array by value: equal keys mean equal shape, dtype and bytes, so any computation on it is equal."""
    data = np.ascontiguousarray(array)
    return (data.shape, data.dtype.str, data.tobytes())


def _memoised(function: Callable[..., Any], key_of: Callable[..., Hashable]) -> Callable[..., Any]:
    memo: dict[Hashable, Any] = {}
    _MEMOS.append(memo)

    def wrapper(*args: Any) -> Any:
        key = key_of(*args)
        if key not in memo:
            memo[key] = function(*args)
        return memo[key]

    wrapper.memoised = True  # type: ignore[attr-defined]
    return wrapper


def _swing_key(day: Sequence[Any], reference: Sequence[Any], scale: float) -> Hashable:
    # NumericCounts hash by their bytes and compare by value (`counts.NumericCounts.__eq__`).
    return (tuple(day), tuple(reference), scale)


def _share_swing_key(day: Any, reference: Any) -> Hashable:
    return (array_key(day), array_key(reference))


def _cmh_key(tables: Sequence[Any]) -> Hashable:
    return tuple(array_key(t) for t in tables)


def memoise_reference_work() -> None:
    """Swap the reference-only functions the night calls for content-keyed memos of them (once per process).

    They are looked up through their modules at call time (`family` calls `effects.wasserstein_swing`,
    `stratified_share_test` calls `cmh_statistic`), so replacing the module attribute is enough."""
    from tracewatch.drift import effects, stratified

    for module, name, key_of in (
        (effects, "wasserstein_swing", _swing_key),
        (effects, "share_swing", _share_swing_key),
        (stratified, "cmh_statistic", _cmh_key),
    ):
        original = getattr(module, name)
        if not getattr(original, "memoised", False):
            setattr(module, name, _memoised(original, key_of))


def clear_memos() -> None:
    """Forget every memoised result (a new seed shares no reference day with the last one)."""
    for memo in _MEMOS:
        memo.clear()


def memoise_embed(sample_texts: Callable[[], list[str]]) -> bool:
    """Swap the profile's text embedding for a per-text memo of it, if it proves identical on `sample_texts`."""
    from tracewatch.drift import features

    original = getattr(features, "embed", None)
    if original is None or getattr(original, "memoised", False):
        return original is not None

    def embed(texts: list[str | None]) -> Any:
        missing = list(dict.fromkeys(t for t in texts if t not in _EMBED_CACHE))
        if missing:
            _EMBED_CACHE.update(zip(missing, original(missing), strict=True))
        if not texts:
            return original(texts)
        return np.stack([_EMBED_CACHE[t] for t in texts])

    embed.memoised = True  # type: ignore[attr-defined]
    texts: list[str | None] = list(sample_texts()[:1000])
    texts = [*texts, None, "", *texts[:50]]
    same = np.array_equal(original(texts), embed(list(reversed(texts)))[::-1])
    if same:
        setattr(features, "embed", embed)  # noqa: B010 (the module does not export it)
    else:
        log.warning("text embedding is not per-text: profiling without the memo (slower)")
    return same

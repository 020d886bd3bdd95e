"""Finished simulations of the alerts benchmark, kept as they finish so a stopped run resumes where it was.

A full run is hundreds of simulations and takes most of an hour on a shared machine. Each finished one is
appended to a JSON-lines file in the git-ignored work directory, with the task it answered and a fingerprint
of the code that computed it (the drift and trace-generator sources and this benchmark's). A rerun with the
same code skips every task already there; any code change starts afresh, so a published table never mixes
results of two versions. Rerunning with fewer `--seeds` reuses the first seeds' simulations (a seed's task is
the same for every seed count from 100 up, and for counts from 10 up on the seeds below it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.alerts_memo import single_threaded_env
from bench.common import REPO

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = (
    "src/tracewatch/drift",
    "src/tracewatch/traces",
    "bench/alerts_bench.py",
    "bench/alerts_memo.py",
    "bench/alerts_oracle.py",
    "bench/drift_cases.py",
)
"""What a simulation's result depends on (files, or folders whose .py files all count)."""


def fingerprint(root: Path = REPO) -> str:
    """A digest of every source a simulation's result depends on, by path and content."""
    digest = hashlib.sha256()
    for source in SOURCES:
        path = root / source
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def load(path: Path, code: str, wanted: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The results in `path` computed by `code` for one of the `wanted` tasks (the first of each)."""
    if not path.exists():
        return []
    keys = {json.dumps(dict(task), sort_keys=True) for task in wanted}
    found: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            # A run stopped mid-write leaves a partial last line; anything else is a damaged file.
            if number == len(path.read_text().splitlines()):
                break
            raise ValueError(f"{path}:{number} is not a JSON line; delete the file to start afresh") from None
        key = json.dumps(record.get("task"), sort_keys=True)
        if record.get("code") == code and key in keys:
            found.setdefault(key, record["result"])
    return list(found.values())


def append(path: Path, code: str, task: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """Keep one finished simulation (one line, flushed at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"code": code, "task": dict(task), "result": result}, separators=(",", ":"))
    with path.open("a") as out:
        out.write(line + "\n")


def as_loaded(result: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh result in the form `load` gives back (JSON's lists and string keys), so a summary of resumed
    and fresh simulations treats both alike."""
    loaded: dict[str, Any] = json.loads(json.dumps(result))
    return loaded


def run_resumable(
    name: str,
    simulate: Callable[[Any], dict[str, Any]],
    todo: Sequence[Any],
    *,
    workers: int,
    checkpoint: Path,
    code: str,
    task_fields: Sequence[str],
    results: list[dict[str, Any]],
    total: int,
    limit_s: float | None,
) -> float:
    """Simulate each task of `todo` on `workers` spawned processes (one per core, the libraries' own threads
    kept to one), keeping each finished one in `checkpoint` and `results`, until all are done or `limit_s`
    has passed (the rest is left for a rerun with the same code). Returns the wall seconds taken."""
    started = time.perf_counter()
    with single_threaded_env(), multiprocessing.get_context("spawn").Pool(workers) as pool:
        finishing = pool.imap_unordered(simulate, todo, chunksize=1)
        for _ in todo:
            left = None if limit_s is None else limit_s - (time.perf_counter() - started)
            try:
                if left is not None and left <= 0:
                    raise multiprocessing.TimeoutError
                finished = finishing.next(timeout=left)
            except multiprocessing.TimeoutError:
                log.warning("%s: time limit reached; summarising the %d simulations done", name, len(results))
                break
            append(checkpoint, code, {field: finished[field] for field in task_fields}, finished)
            results.append(as_loaded(finished))
            if len(results) % max(1, total // 40) == 0 or len(results) == total:
                log.info(
                    "%s: %d/%d simulations, %.0f s", name, len(results), total, time.perf_counter() - started
                )
    return time.perf_counter() - started

"""The demo's results, kept where they open with no server: `python -m devtools.demo_results [--night D] [--sql Q]`.

`make demo` runs on the embedded S3 server and stops it at the end, with its generated credentials; its Prefect
artifacts sit in a database no server shows. So the demo copies the store it ran on to a local folder
(`.tracewatch/demo/`, a `file://` store: reports, datasets, experiments, quarantine, Data Docs) and writes every
night's summary beside it (`summaries/`). This module makes that copy and is the one command that opens it:
the overview of the nights, the last night's summary, and a DuckDB query (`--sql`) over the reports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tracewatch.errors import ConfigError

if TYPE_CHECKING:  # the library's imports take seconds on a busy machine: `--help` does without them
    from tracewatch.store import Store

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / ".tracewatch" / "demo"
"""Where the last demo's results are; the README's queries read `.tracewatch/demo/reports/...` from the repo."""
SUMMARIES = "summaries"
"""The night summaries' folder inside the results folder (beside the store's own prefixes)."""
OPEN_COMMAND = "uv run python -m devtools.demo_results"
_BATCH = 256  # objects fetched per request batch (S3 fetches a batch concurrently)


@dataclass(frozen=True)
class ResultsCopy:
    """What `save_results` left: the folder, how many store objects and bytes it copied, the summaries."""

    folder: Path
    objects: int
    size: int
    summaries: tuple[Path, ...]


def check_results_folder(store: Store, folder: Path) -> None:
    """Refuse a results folder inside the store's folder or holding it (a copy into itself would recurse, a
    replaced copy would delete the store); the store's own folder is fine: nothing to copy then."""
    if store.protocol != "file":
        return
    root, target = Path(store.path("")).resolve(), folder.resolve()
    if root != target and (root.is_relative_to(target) or target.is_relative_to(root)):
        raise ConfigError(
            f"TRACEWATCH_STORE={store.url!r} overlaps the demo's results folder {target}; expected a store "
            "folder outside it (or that folder itself)"
        )


def save_results(store: Store, folder: Path, summaries: Mapping[str, str]) -> ResultsCopy:
    """Replace `folder` with a copy of every object of `store` and the night summaries (name -> markdown,
    written as `summaries/<name>.md`, their links to the store pointing at the copy instead).

    The copy is made next to `folder` and swapped in at the end, so a failed copy leaves the previous one."""
    check_results_folder(store, folder)
    folder = folder.resolve()
    in_place = store.protocol == "file" and Path(store.path("")).resolve() == folder
    staging = folder if in_place else folder.with_name(f".{folder.name}-new-{uuid.uuid4().hex[:8]}")
    try:
        objects, size = (0, 0) if in_place else _copy_objects(store, staging)
        written = _write_summaries(staging / SUMMARIES, summaries, store.url, f"file://{folder}")
        if not in_place:
            _swap(staging, folder)
    except BaseException:
        if not in_place:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return ResultsCopy(folder, objects, size, tuple(folder / SUMMARIES / p.name for p in written))


def _copy_objects(store: Store, target: Path) -> tuple[int, int]:
    keys = [info.key for info in store.list_objects("")]
    size = 0
    for start in range(0, len(keys), _BATCH):
        batch = keys[start : start + _BATCH]
        found = store.read_many(batch)
        missing = sorted(set(batch) - set(found))
        if missing:  # listed a moment ago: something deletes from the store while the demo copies it
            raise ConfigError(
                f"{len(missing)} object(s) vanished from {store.url} while copying, e.g. {missing[0]}"
            )
        for key, data in found.items():
            path = target / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            size += len(data)
    target.mkdir(parents=True, exist_ok=True)  # an empty store still leaves a folder to open
    return len(keys), size


def _write_summaries(folder: Path, summaries: Mapping[str, str], store_url: str, copy_url: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, markdown in sorted(summaries.items()):
        path = folder / f"{name}.md"
        path.write_text(markdown.replace(f"{store_url}/", f"{copy_url}/"))
        written.append(path)
    return written


def _swap(staging: Path, folder: Path) -> None:
    old = folder.with_name(f".{folder.name}-old-{uuid.uuid4().hex[:8]}")
    if folder.exists():
        folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def describe_copy(copy: ResultsCopy) -> str:
    """The lines the demo prints last: where its results are and the one command that opens them."""
    where = _relative(copy.folder)
    copied = f"{copy.objects} objects, {copy.size / 1e6:.1f} MB" if copy.objects else "the store itself"
    return (
        f"The demo's results are kept in {where}/ ({copied}; night summaries in {where}/{SUMMARIES}/): "
        "no server needed.\n"
        f"Open the results: {OPEN_COMMAND}{'' if copy.folder == RESULTS_DIR else f' --dir {where}'}"
    )


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def results_text(folder: Path, night: str | None = None) -> str:
    """The overview of the nights in `folder`, one night's summary (default: the newest) and how to go on."""
    from tracewatch.reports import REPORTS_PREFIX
    from tracewatch.store import Store
    from tracewatch.summaries import overview_text

    if not (folder / REPORTS_PREFIX).is_dir():
        raise ConfigError(
            f"{folder} holds no demo results (no {REPORTS_PREFIX}/ folder); run `make demo` first"
        )
    store = Store(f"file://{folder.resolve()}")
    dates = sorted(
        dt.date.fromisoformat(d) for d in store.partitions(f"{REPORTS_PREFIX}/trace_metrics_daily")
    )
    nights = sorted((folder / SUMMARIES).glob("*.md"))
    if night is not None:
        chosen = [p for p in nights if p.stem.endswith(night)]
        if not chosen:
            raise ConfigError(
                f"no summary of night {night!r} in {folder / SUMMARIES}; the nights: {_stems(nights)}"
            )
        nights = chosen
    where = _relative(folder)
    parts = [
        overview_text(store, dates[0], dates[-1]) if dates else "No monitoring reports in the results.\n"
    ]
    if nights:
        parts.append(f"{nights[-1].read_text().rstrip()}\n")
        parts.append(
            f"Every night's summary: {where}/{SUMMARIES}/ ({_stems(nights[:1])} .. {_stems(nights[-1:])})"
        )
    else:
        parts.append(f"No night summaries in {where}/{SUMMARIES}/.")
    parts.append(
        f"Query a report table (every table: {where}/reports/<table>/**/*.parquet, hive_partitioning = true):\n"
        f'  {OPEN_COMMAND} --sql "SELECT date, sum(trace_count) AS traces FROM '
        f"read_parquet('{where}/reports/trace_metrics_daily/**/*.parquet', hive_partitioning = true) "
        'GROUP BY date ORDER BY date"\n'
        f"Use it as a store: TRACEWATCH_STORE={store.url} uv run tracewatch experiments"
    )
    return "\n".join(parts)


def _stems(paths: list[Path]) -> str:
    return ", ".join(p.stem for p in paths) or "none"


def run_sql(query: str) -> str:
    """Run one DuckDB query (paths relative to the current folder) and return its result as a table."""
    import duckdb  # a dev dependency: only this option needs it

    try:
        return str(duckdb.sql(query))
    except duckdb.Error as error:
        raise ConfigError(f"DuckDB could not run the query: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--dir", type=Path, default=RESULTS_DIR, help="the results folder (the demo's default)"
    )
    parser.add_argument("--night", help="show this night's summary (YYYY-MM-DD) instead of the newest")
    parser.add_argument("--sql", help="run this DuckDB query instead, e.g. over the folder's reports/")
    args = parser.parse_args(argv)
    try:
        print(run_sql(args.sql) if args.sql else results_text(args.dir, args.night))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

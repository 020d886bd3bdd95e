"""The importer's hot modules compiled with mypyc against plain Python: CPU time of a direct `import_traces`.

Not part of the build (docs/importing.md, "mypyc, measured": it did not pay enough). This reproduces the
measurement: copy src/ to a scratch folder, compile `MODULES` there in place, write the benchmark's spans
(`bench.import_spans`) to a local folder, then import them alternately with the compiled copy first on the path
and with the repository's plain modules, each run in a fresh process, one worker, `time.process_time` around
`import_traces` only (litellm imported before). The outputs of both are compared file by file. mypyc builds with
setuptools, which the project does not install: add it for this run only.

    uv run --frozen --no-sync --with "setuptools>=70" python -m bench.import_mypyc --spans 100000 --rounds 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Every hot module but `_spans`: compiled, its dataclasses become native classes that orjson's dataclass support
# crashes on (`facts_to_json`), and whose typed fields refuse what the plain classes keep.
MODULES = (
    "_attrs",
    "_otlp_decoded",
    "_otlp_json",
    "_otlp_proto",
    "_app_attributes",
    "_messages",
    "_genai",
    "_openinference",
    "_openllmetry",
    "_dialects",
    "_span_tree",
    "_trace_buffer",
    "_llm_calls",
    "_assemble",
)
GROUP = "tracewatch.importers._hot"  # the shared library mypyc writes next to the modules


def build(scratch: Path) -> None:
    """Copy src/ to `scratch`/src and compile `MODULES` there in place."""
    from mypyc.build import mypycify
    from setuptools import setup

    shutil.copytree(ROOT / "src", scratch / "src", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    # The project's mypy settings ([tool.mypy] in pyproject.toml), which mypyc type-checks with, but its files.
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    lines = [f"{name} = {value}" for name, value in settings.items() if name != "files"]
    (scratch / "mypy.ini").write_text("\n".join(["[mypy]", *lines, ""]))
    os.chdir(scratch)
    paths = [f"src/tracewatch/importers/{m}.py" for m in MODULES]
    setup(
        name="tracewatch-importers-mypyc",
        package_dir={"": "src"},
        ext_modules=mypycify(paths, opt_level="3", group_name=GROUP, target_dir="build"),
        script_name="import_mypyc",
        script_args=["--quiet", "build_ext", "--inplace", "--build-temp", "build/temp"],
    )
    os.chdir(ROOT)


def write_spans(folder: Path, spans: int) -> dict[str, str]:
    """The benchmark's spans under `folder`/json and `folder`/proto; the import clock of each."""
    from bench.import_spans import write_span_set
    from tracewatch.settings import Settings
    from tracewatch.store import Store

    store = Store.from_settings(Settings(store=f"file://{folder}"))
    return {
        encoding: write_span_set(store, encoding, spans=spans, marshaler=f"otlp_{encoding}").now.isoformat()
        for encoding in ("json", "proto")
    }


def import_once(source: Path, out: Path, now: str) -> dict[str, Any]:
    """One direct import of `source` into a store at `out`, in this process; its CPU and wall seconds."""
    import tracewatch.importers._assemble as assemble
    from tracewatch.importers import SourceConfig, import_traces
    from tracewatch.llm import litellm_cost
    from tracewatch.llm._providers import load_litellm
    from tracewatch.settings import Settings
    from tracewatch.store import Store

    load_litellm()
    settings = Settings(store=f"file://{out}", import_workers=1)
    config = SourceConfig(name="bench", kind="otlp", location=f"file://{source}")
    cpu, wall = time.process_time(), time.perf_counter()
    result = import_traces(
        Store.from_settings(settings),
        [config],
        settings=settings,
        now=dt.datetime.fromisoformat(now),
        pricer=litellm_cost,
        run_id="import-mypyc",
    )
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "compiled": not (assemble.__file__ or "").endswith(".py"),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 2),
        "traces": result.sources[0].traces,
        "load": round(os.getloadavg()[0], 1),
    }


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def differing_outputs(a: Path, b: Path) -> list[str]:
    """The files of two imports' stores that differ, but for what the import writes at its own clock: the
    manifests and the ledger's `imported_at` (the rest of the ledger is compared as a frame)."""
    import polars as pl

    tree_a, tree_b = _tree(a), _tree(b)
    differ = sorted(k for k in tree_a.keys() | tree_b.keys() if tree_a.get(k) != tree_b.get(k))
    out = []
    for name in differ:
        if "/_manifest/" in f"/{name}" and name in tree_a and name in tree_b:
            continue
        if name.endswith("import_ledger.parquet") and name in tree_a and name in tree_b:
            ledgers = [pl.read_parquet(root / name).drop("imported_at") for root in (a, b)]
            if ledgers[0].equals(ledgers[1]):
                continue
        out.append(name)
    return out


def _run(scratch: Path, encoding: str, now: str, compiled: bool, out: Path) -> dict[str, Any]:
    env = dict(os.environ)
    if compiled:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(scratch / "src"), env.get("PYTHONPATH")]))
    args = [
        sys.executable,
        "-m",
        "bench.import_mypyc",
        "--one",
        str(scratch / "spans" / encoding),
        str(out),
        now,
    ]
    done = subprocess.run(args, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if row["compiled"] != compiled:
        raise RuntimeError(f"expected compiled={compiled}, the import ran compiled={row['compiled']}")
    return {"encoding": encoding, **row}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spans", type=int, default=100_000, help="spans per encoding (a multiple of 5)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternating compiled / plain runs per encoding"
    )
    parser.add_argument("--one", nargs=3, metavar=("SOURCE", "OUT", "NOW"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(import_once(Path(args.one[0]), Path(args.one[1]), args.one[2])))
        return
    with tempfile.TemporaryDirectory(prefix="import-mypyc-") as tmp:
        scratch = Path(tmp)
        build(scratch)
        nows = write_spans(scratch / "spans", args.spans)
        rows = []
        for round_ in range(args.rounds):
            for encoding, now in nows.items():
                outs = {c: scratch / f"out-{encoding}-{round_}-{c}" for c in (True, False)}
                for compiled, out in outs.items():
                    rows.append(_run(scratch, encoding, now, compiled, out))
                    print(json.dumps(rows[-1]), flush=True)
                differ = differing_outputs(outs[True], outs[False])
                if differ:
                    raise RuntimeError(f"compiled and plain outputs differ ({encoding}): {differ}")
        print(f"outputs compared after every pair: the same ({len(_tree(outs[True]))} files a store)")
    for encoding in nows:
        for compiled in (True, False):
            cpu = sorted(r["cpu_s"] for r in rows if r["encoding"] == encoding and r["compiled"] == compiled)
            label = "compiled" if compiled else "plain"
            print(
                f"{encoding} {label:8s} CPU s: min {cpu[0]:.2f}, median {statistics.median(cpu):.2f}  {cpu}"
            )


if __name__ == "__main__":
    main()

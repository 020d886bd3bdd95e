"""`python -m devtools.stack up|status|down` (what `make up`, `make status` and `make down` run)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import devtools.stack
from devtools.stack.lifecycle import StackOptions, down, not_running, process_states, running, up
from devtools.stack.prefect_admin import WORK_POOL
from devtools.stack.state import Stack, load_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.stack", description=devtools.stack.__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--home", type=Path, default=Path(".tracewatch"), help="default: ./.tracewatch")
    parser.add_argument("--no-model", action="store_true", help="do not start the local model (llama.cpp)")
    parser.add_argument("--days", type=int, default=14, help="days of demo traces to seed (default 14)")
    parser.add_argument("--traces-per-day", type=int, default=2000)
    parser.add_argument(
        "--timezone",
        default=os.environ.get("TRACEWATCH_NIGHTLY_TIMEZONE", "UTC"),
        help="the nightly schedule's timezone (IANA name; default $TRACEWATCH_NIGHTLY_TIMEZONE or UTC)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home: Path = args.home
    if args.command == "down":
        stopped = down(home)
        print("stopped: " + ", ".join(stopped) if stopped else "the stack was not running")
        return 0
    if args.command == "status":
        code, text = status(home)
        print(text)
        return code
    options = StackOptions(
        home=home,
        model=not args.no_model,
        demo_days=args.days,
        traces_per_day=args.traces_per_day,
        timezone=args.timezone,
    )
    started = time.monotonic()
    already = running(home) is not None
    stack = up(options)
    took = "was already up" if already else f"is up in {time.monotonic() - started:.0f} s"
    print(f"\nthe tracewatch stack {took} (stop it with `make down`)\n")
    print(describe(stack))
    return 0


def status(home: Path) -> tuple[int, str]:
    """What `status` prints, and its exit code: 0 when the stack is plainly up or plainly not running (nothing
    to fix, so `make status` is no make error), 1 when only part of it runs."""
    alive = process_states(home)
    if not any(alive.values()):
        # A state file whose processes all stopped (a reboot, a kill) is a stack that is not running.
        since = " (the processes of an earlier `make up` have stopped)" if alive else ""
        return 0, f"the tracewatch stack is not running{since}; start it with `make up`"
    running_now = ", ".join(name for name, ok in alive.items() if ok)
    stack = load_stack(home)
    if stack is None:  # `up` has not recorded its last process (the worker) yet
        return 1, (
            f"the stack is not up: `make up` is still starting it or stopped half-way (running: {running_now}); "
            "`make down` stops what runs"
        )
    dead = not_running(stack)
    if dead:
        return 1, f"the stack is broken: not running: {', '.join(dead)} (make down; make up)"
    return 0, describe(stack)


def describe(stack: Stack) -> str:
    """What `up` and `status` print: addresses, deployments, where the logs are. No secret."""
    deployments = stack.api("POST", "/deployments/filter", {"sort": "NAME_ASC"})
    flows = {f["id"]: f["name"] for f in stack.api("POST", "/flows/filter", {})}
    lines = [
        f"Prefect UI:   {stack.ui_url}/  (the new UI: {stack.ui_url}/v2/)",
        f"Prefect API:  {stack.api_url}  (export PREFECT_API_URL={stack.api_url} for the prefect CLI)",
        f"store:        {stack.store_url} (local S3 server; `source {stack.state_dir}/store.env` to use it)",
        f"model:        {stack.model_url or 'not started (--no-model)'}",
        f"demo traces:  {stack.demo_window[0]}..{stack.demo_window[1]}",
        f"work pool:    {WORK_POOL} (process worker, pid {stack.processes.get('worker')})",
        "deployments:",
    ]
    for deployment in deployments:
        schedules = ", ".join(
            f"cron '{s['schedule'].get('cron')}' {s['schedule'].get('timezone') or 'UTC'}"
            for s in deployment.get("schedules", [])
            if s.get("active")
        )
        name = f"{flows.get(deployment['flow_id'], '?')}/{deployment['name']}"
        lines.append(f"  {name:<34} {schedules}".rstrip())
    lines.append(f"logs:         {stack.state_dir / 'logs'}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

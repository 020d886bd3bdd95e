"""`tracewatch synthesize`: synthetic items for a dataset's thin strata, through the `synthesize` flow (so a
terminal run is recorded in Prefect like one started from the UI).

The parser part imports only argparse (`--help` must not load polars); the kinds are checked by the library
(`datasets.synthetic.check_kinds`), which names the allowed ones.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracewatch.store import Store

KINDS_HELP = "paraphrase,harder,adversarial"


def add_synthesize_command(command: Any) -> None:
    """The `synthesize` subcommand and its options (`command` is the parser's subcommand factory)."""
    sub = command(
        "synthesize",
        "_synthesize:synthesize_command",
        "ask a model for new items for the strata of a dataset with fewer than --target items",
        prefect=True,
    )
    sub.add_argument("dataset", help="the dataset whose thin strata get synthetic items")
    sub.add_argument("--target", type=int, default=5, help="items a stratum should hold (default: 5)")
    sub.add_argument(
        "--kinds",
        type=kinds_option,
        default=["paraphrase"],
        help=f"comma-separated, any of {KINDS_HELP} (default: paraphrase)",
    )
    sub.add_argument(
        "--config",
        default="demo",
        help="the generator: an experiment (shipped name or YAML path) and optionally one of its configs, "
        "as EXPERIMENT[:CONFIG] (default: demo, its baseline)",
    )
    sub.add_argument("--budget-usd", type=float, default=1.0, help="stop starting calls past this spend")
    sub.add_argument("--seed", type=int, default=0, help="the generation seed (default: 0)")
    sub.add_argument("--per-request", type=int, default=3, help="inputs asked for per stratum and kind")
    sub.add_argument(
        "--spec", help="the dataset spec YAML defining strata (default: the shipped nightly spec)"
    )
    sub.add_argument(
        "--direct",
        action="store_true",
        default=None,
        help="add the items as a version without review (default: TRACEWATCH_SYNTHETIC_DIRECT, else review)",
    )


def kinds_option(value: str) -> list[str]:
    """`--kinds a,b` as a list (the library refuses unknown kinds, naming the allowed ones)."""
    kinds = [k.strip() for k in value.split(",") if k.strip()]
    if not kinds:
        raise argparse.ArgumentTypeError(f"--kinds {value!r} names no kind; use any of {KINDS_HELP}")
    return kinds


def synthesize_command(store: Store, args: argparse.Namespace) -> None:
    """Synthetic items written for review (or added as a version with --direct), and every outcome's count."""
    from tracewatch.cli._flows import _run as run_flow
    from tracewatch.datasets import check_kinds
    from tracewatch.errors import ConfigError

    check_kinds(args.kinds)  # before Prefect starts: a typo fails in one line
    experiment, _, config = args.config.partition(":")
    if not experiment:
        raise ConfigError(f"--config {args.config!r}: name an experiment, e.g. demo or demo:direct-t0")
    done = run_flow(
        "synthesize",
        "synthesize_flow",
        args,
        dataset=args.dataset,
        target=args.target,
        kinds=args.kinds,
        experiment=experiment,
        config=config or None,
        budget_usd=args.budget_usd,
        seed=args.seed,
        direct=args.direct,
        per_request=args.per_request,
        spec=args.spec,
    )
    print(done["message"])

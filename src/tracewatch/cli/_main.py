"""One run of the command: parse, say which store is read, check it, run the subcommand, end in one line."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit, urlunsplit

from tracewatch.cli._failure import describe
from tracewatch.cli._parser import build_parser

if TYPE_CHECKING:
    from tracewatch.settings import Settings
    from tracewatch.store import Store

Handler = Callable[["Store", argparse.Namespace], None]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. A mistake (a setting, a parameter, bad input) prints one line and exits with 2;
    anything unforeseen exits with 1, its traceback shown only with `--verbose`."""
    args = build_parser().parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    if not args.prefect:  # a flow's logging is Prefect's to set up (its handlers, the extra loggers)
        _configure_logging(verbose)
    try:
        store = _checked_store(writes=args.writes)
        _handler(args.handler)(store, args)
    except KeyboardInterrupt:
        print("tracewatch: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if verbose:
            traceback.print_exception(exc)
        message, status = describe(exc)
        print(f"tracewatch: {message}", file=sys.stderr)
        return status
    return 0


def _configure_logging(verbose: bool) -> None:
    # Warnings and errors only, unless asked: a chore's output is its result, not the library's chatter.
    if verbose:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("tracewatch").setLevel(logging.DEBUG)
    else:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")


def _checked_store(*, writes: bool) -> Store:
    """The store of the environment, announced (first line on stderr) and checked before any work, so a
    wrong URL, a missing folder or bucket, or missing credentials end the command in one line, as they end a
    flow.

    A folder named in TRACEWATCH_STORE is never created (a mistyped URL must not read as an empty store). The
    default folder is: by the first command that writes, while one that only reads finds it empty.
    """
    from tracewatch.settings import Settings, default_store_url
    from tracewatch.store import open_store

    settings = Settings()
    store = open_store(settings)
    default = settings.store == default_store_url()
    print(store_line(store, settings, default=default), file=sys.stderr)
    if default and not writes and not store.exists(""):
        return store  # nothing written there yet: the listing says the store is empty
    store.check(create=default and writes, write=writes)
    return store


def store_line(store: Store, settings: Settings, *, default: bool) -> str:
    """`store: <url>`, with the endpoint of an S3-compatible server and a word when it is the default; no
    credential ever (any user:password part of a URL is left out)."""
    line = f"store: {_without_userinfo(store.url)}"
    if store.protocol == "s3" and settings.s3_endpoint_url:
        line += f" at {_without_userinfo(settings.s3_endpoint_url)}"
    if default:
        line += " (the default; set TRACEWATCH_STORE to use another)"
    return line


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _handler(reference: str) -> Handler:
    """The function named `module:function` (a module of this package), imported only now: the heavy
    libraries it needs load for the command that runs, never for `--help`."""
    module, name = reference.split(":")
    return cast(Handler, getattr(importlib.import_module(f"tracewatch.cli.{module}"), name))

"""The `tracewatch` command: chores people do by hand on the store named by TRACEWATCH_STORE, and the Prefect
flows run from a terminal.

Listing and diffing dataset versions, seeding a dataset from a file, the human-review round trip and running an
experiment with a progress bar need no orchestration; `nightly`, `backfill`, `build-dataset` and `import-traces`
run the flows of `flows/` in this process, with the environment the Makefile gives them.

Importing this package is cheap (argparse only): every command imports what it needs when it runs, so
`tracewatch --help` answers at once.
"""

from tracewatch.cli._main import main

__all__ = ["main"]

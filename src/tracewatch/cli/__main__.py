"""`python -m tracewatch.cli`: the `tracewatch` command where the console script is not on PATH."""

from tracewatch.cli import main

raise SystemExit(main())

"""`make up` / `make down`: tracewatch under a real Prefect server, in the background, on loopback.

`up` starts the Prefect server (SQLite, in `<home>/stack/prefect`), the local S3 server (SeaweedFS, data in
`<home>/stack/s3`) and, unless told not to, the local model (llama.cpp serving SmolLM2); creates the process
work pool `tracewatch-local`, deploys everything in `deployments/prefect.yaml`, starts a worker whose
environment points the flows at the store and the model, and seeds demo traces so that a run has something
to do. Every process gets its own session; their PIDs, ports and logs are recorded in
`<home>/stack/state.json`, so `down` can stop them (and any flow run a worker started) by process group,
and is safe to call twice.

The S3 credentials are generated once and kept in `<home>/stack/store.env` (mode 0600, for `source`-ing in
a shell); they are never printed. Prefect is driven through its CLI and REST API, never imported: the
library stays free of Prefect.

    python -m devtools.stack up [--no-model] [--home DIR]
    python -m devtools.stack status|down [--home DIR]

`lifecycle` starts and stops the stack, `state` is its record on disk, `prefect_admin` drives Prefect, and
`__main__` is the command line; the processes themselves are handled by `devtools.processes`.
"""

from devtools.stack.lifecycle import StackOptions, down, running, up
from devtools.stack.state import Stack, load_stack

__all__ = ["Stack", "StackOptions", "down", "load_stack", "running", "up"]

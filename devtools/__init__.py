"""Local stand-ins for production services, for the demo, the tests, the benchmarks and `make up`: a local S3
server (SeaweedFS), the fake OpenAI-compatible test model server, the demo's real local model, and the whole
stack under Prefect.

Not part of the installed `tracewatch` package: it runs from a clone of the repository, with the repository
root on the import path (`python -m devtools.stack up`, pytest's `pythonpath`). It imports the library; the
library never imports it.
"""

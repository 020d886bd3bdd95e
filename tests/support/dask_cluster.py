"""A real `distributed.LocalCluster` for the Dask tests, pointed at the local S3 server through the environment.

Dask worker processes inherit the environment they start in: that is how a worker gets the store's credentials
(never through a task's arguments), so the variables are set before the cluster starts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import distributed
import pytest

from devtools.s3server import S3Server


def point_at_s3(
    monkeypatch: pytest.MonkeyPatch, server: S3Server, bucket: str, **extra: str
) -> dict[str, str]:
    """Set the S3 server's variables (a fresh prefix of `bucket`) and `extra` in the environment; return them."""
    env = server.environment(bucket, f"t-{uuid.uuid4().hex[:12]}")
    for name, value in {**env, **extra}.items():
        monkeypatch.setenv(name, value)
    return env


@contextmanager
def two_worker_processes() -> Iterator[distributed.LocalCluster]:
    """Two single-threaded worker processes, started in the current environment."""
    with distributed.LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local

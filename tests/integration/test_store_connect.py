"""The S3 client built in the background (`Store.connect_soon`) is built once and serves every thread."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from devtools.s3server import S3Server
from tracewatch.store import Store


def test_a_client_built_in_the_background_is_built_once_and_serves_every_thread(s3_store: Store) -> None:
    connects: list[int] = []
    connect = s3_store._fs.connect

    def counted(*args: Any, **kwargs: Any) -> Any:
        connects.append(1)
        return connect(*args, **kwargs)

    s3_store._fs.connect = counted
    s3_store.connect_soon()
    with ThreadPoolExecutor(max_workers=4) as pool:  # racing the background thread for the client
        list(pool.map(lambda i: s3_store.write_bytes(f"k/{i}.txt", b"x"), range(8)))
    assert len(connects) == 1
    assert [o.key for o in s3_store.list_objects("k")] == [f"k/{i}.txt" for i in range(8)]
    s3_store.connect_soon()  # connected already: nothing more is built
    assert len(connects) == 1


_COLLECTED_IN_A_LOOP = """
import asyncio, gc
from tracewatch.settings import Settings
from tracewatch.store import open_store

async def night():
    store = open_store(Settings())
    store.write_bytes("loop/a.txt", b"x")
    assert store.read_bytes("loop/a.txt") == b"x"
    del store
    gc.collect()  # s3fs's finalizer runs here, on a thread whose running loop is not the session's
    await asyncio.sleep(0.2)

asyncio.run(night())
gc.collect()
print("done")
"""


def test_a_store_collected_inside_an_event_loop_closes_its_session_without_a_traceback(
    s3_server: S3Server,
) -> None:
    """A flow runs inside an event loop; the S3 client's session must close on fsspec's loop, not print
    "Task exception was never retrieved ... attached to a different loop" at the end of a night."""
    env = {**os.environ, **s3_server.environment("tracewatch", f"loop-{uuid.uuid4().hex[:8]}")}
    done = subprocess.run(
        [sys.executable, "-c", _COLLECTED_IN_A_LOOP],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done"
    assert "Task exception was never retrieved" not in done.stderr
    assert "different loop" not in done.stderr

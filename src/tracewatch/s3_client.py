"""The store's S3 client: s3fs, with its session closed on the loop that owns it.

s3fs closes a synchronous filesystem's aiohttp session from a `weakref.finalize` when the filesystem is
collected. If that happens on a thread that runs an event loop of its own (a Prefect flow, `asyncio.run`),
s3fs schedules the close on *that* loop, where the session's futures do not belong: asyncio then prints
"Task exception was never retrieved ... attached to a different loop" at the end of a night. Here the close
always goes to fsspec's IO loop, the one the session was opened on.
"""

from __future__ import annotations

import asyncio
import contextlib
from functools import cache
from typing import Any


def s3_filesystem(**kwargs: Any) -> Any:
    """A synchronous `s3fs.S3FileSystem` (same arguments) whose finalizer closes on its own loop."""
    return _filesystem_class()(**kwargs)


@cache
def _filesystem_class() -> type:
    import s3fs  # not at import: the CLI's --help must stay fast

    class OwnLoopS3FileSystem(s3fs.S3FileSystem):  # type: ignore[misc]  # s3fs has no type hints
        @staticmethod
        def close_session(loop: Any, s3: Any) -> None:
            """Close `s3` on `loop` (fsspec's IO thread) without waiting; at shutdown, when that loop
            is gone, close the socket directly as s3fs does."""
            if loop is not None and loop.is_running():
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    asyncio.run_coroutine_threadsafe(s3.__aexit__(None, None, None), loop)
                    return
            with contextlib.suppress(AttributeError):  # during interpreter shutdown it may be gone
                s3._client._endpoint.http_session._connector._close()

    return OwnLoopS3FileSystem

"""The S3 client built in the background (`Store.connect_soon`) is built once and serves every thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

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

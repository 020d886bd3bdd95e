"""A spy on what a store is asked to read, for tests that prove an answer came from one pack or from no read at
all. The real reads still happen."""

from __future__ import annotations

from collections.abc import Sequence

from tracewatch.store import Store


class StoreReads:
    """Wraps `store.read_many` (every object read goes through it) and records each call's keys."""

    def __init__(self, store: Store) -> None:
        self.calls: list[list[str]] = []
        original = store.read_many

        def spy(keys: Sequence[str]) -> dict[str, bytes]:
            self.calls.append(list(keys))
            return original(keys)

        store.read_many = spy  # type: ignore[method-assign]

    @property
    def objects(self) -> list[str]:
        """Every object asked for, in order, over all calls."""
        return [key for keys in self.calls for key in keys]

    def clear(self) -> None:
        """Forget the reads so far."""
        self.calls.clear()

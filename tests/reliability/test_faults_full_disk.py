"""A full disk under a local-folder store (issue 22, item 5): a real tmpfs of a few hundred KB (mounted when
the tests run as root, as in CI's container), else the same limit simulated at the store seam (every file the
store opens for writing stops with ENOSPC past the quota). Either way: the write fails with a message that
names the cause and the folder, nothing half-written survives (no temp file, no torn Parquet, the previous
object intact), and once space is back the rerun completes with the reports of an uninterrupted night.

ENOSPC: https://man7.org/linux/man-pages/man2/write.2.html ("The device containing the file ... has no room").
"""

from __future__ import annotations

import builtins
import datetime as dt
import errno
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl
import pytest

from tests.reliability.nights import leftovers, report_tables, run_night, unreadable_parquet
from tracewatch.errors import StoreError
from tracewatch.store import Store

DAY = dt.date(2026, 11, 1)
SIZE_KB = 512


class SimulatedQuota:
    """The store's writes stop with ENOSPC once `limit` bytes are written in its folder (for machines where
    the test cannot mount a tmpfs)."""

    def __init__(self, folder: Path, limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder, self.limit, self.used = str(folder), limit, 0
        real_open = builtins.open
        quota = self

        class Counted:
            def __init__(self, handle: IO[bytes]) -> None:
                self.handle = handle

            def write(self, data: bytes) -> int:
                if quota.used + len(data) > quota.limit:
                    raise OSError(errno.ENOSPC, "No space left on device")
                quota.used += len(data)
                return self.handle.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(self.handle, name)

            def __enter__(self) -> Counted:
                return self

            def __exit__(self, *exc: object) -> None:
                self.handle.close()

        def quota_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = real_open(file, mode, *args, **kwargs)
            if "w" in mode and str(file).startswith(quota.folder):
                return Counted(handle)
            return handle

        monkeypatch.setattr("tracewatch.store.open", quota_open, raising=False)

    def fill(self, leave: int) -> None:
        self.used = max(self.used, self.limit - leave)

    def free(self) -> None:
        self.limit = 1 << 40


class Tmpfs:
    """A real tmpfs of `SIZE_KB` (mounting needs root): filled with a ballast file beside the store."""

    def __init__(self, mount: Path) -> None:
        self.ballast = mount / "ballast"

    def fill(self, leave: int) -> None:
        try:
            with open(self.ballast, "wb") as fh:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        with open(self.ballast, "r+b") as fh:
            fh.truncate(max(0, self.ballast.stat().st_size - leave))

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)


Disk = SimulatedQuota | Tmpfs


def mount_tmpfs(mount: Path) -> bool:
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={SIZE_KB}k", "tmpfs", str(mount)],
            check=False,
            capture_output=True,
        )
    except OSError:  # no mount command
        return False
    return done.returncode == 0


@pytest.fixture(params=["tmpfs", "simulated"])
def small_disk(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Store, Disk]]:
    """A store on a `SIZE_KB` disk: a real tmpfs where the test may mount one (else simulated), and the
    simulated quota always, so both paths stay tested."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = request.param == "tmpfs" and mount_tmpfs(mount)
    folder = mount / "store"
    folder.mkdir()
    store = Store(f"file://{folder}")
    if mounted:
        yield store, Tmpfs(mount)
        subprocess.run(["umount", "-l", str(mount)], check=True)
    else:
        yield store, SimulatedQuota(folder, SIZE_KB * 1024, monkeypatch)


def test_a_write_that_fills_the_disk_fails_naming_the_cause_and_leaves_the_old_object(
    small_disk: tuple[Store, Disk],
) -> None:
    store = small_disk[0]
    store.write_bytes("reports/t/date=2026-11-01/part.parquet", b"the previous version")
    with pytest.raises(
        StoreError, match=r"no space left on device at .*/reports/t/date=2026-11-01"
    ) as caught:
        store.write_bytes("reports/t/date=2026-11-01/part.parquet", uuid.uuid4().bytes * (SIZE_KB * 128))
    assert "reports/t/date=2026-11-01/part.parquet" in str(caught.value)
    assert store.read_bytes("reports/t/date=2026-11-01/part.parquet") == b"the previous version"
    assert leftovers(store) == []


def test_a_night_on_a_full_disk_fails_cleanly_and_its_rerun_completes(
    small_disk: tuple[Store, Disk],
    file_store: Store,
    make_traces: Callable[..., pl.DataFrame],
) -> None:
    traces = make_traces(DAY.isoformat(), 300)
    for store in (small_disk[0], file_store):
        store.write_parquet(f"traces/date={DAY}/a.parquet", traces)
    run_night(file_store, DAY)  # the uninterrupted night, on a disk with room
    store, disk = small_disk
    disk.fill(leave=8 * 1024)
    with pytest.raises(StoreError, match="no space left on device at"):
        run_night(store, DAY)
    assert leftovers(store) == [] and unreadable_parquet(store) == []
    disk.free()
    run_night(store, DAY)
    expected, got = report_tables(file_store, DAY), report_tables(store, DAY)
    for table, frame in expected.items():
        assert got[table].equals(frame), table

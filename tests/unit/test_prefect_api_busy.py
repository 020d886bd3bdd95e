"""The stack's Prefect API calls ask again when the server answers 503 (busy: it refused before doing
anything), and give up with the server's answer after a few tries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devtools.stack import prefect_admin
from tracewatch.errors import ServiceError


class Busy(BaseHTTPRequestHandler):
    """Answers 503 to the first `busy` POSTs, then 201 with a body."""

    busy = 0
    seen = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen += 1
        if type(self).seen <= type(self).busy:
            self.send_response(503)
            self.end_headers()
            self.wfile.write(b"database is locked")
            return
        body = json.dumps({"id": "run-1"}).encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(prefect_admin.time, "sleep", lambda _: None)
    Busy.seen = 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_busy_server_is_asked_again(server: str) -> None:
    Busy.busy = 2
    assert prefect_admin.prefect_api(server, "POST", "/flow_runs/", {"name": "x"}) == {"id": "run-1"}
    assert Busy.seen == 3


def test_a_server_busy_every_time_fails_with_its_answer(server: str) -> None:
    Busy.busy = 100
    with pytest.raises(ServiceError, match=r"POST /flow_runs/ answered 503: database is locked"):
        prefect_admin.prefect_api(server, "POST", "/flow_runs/", {"name": "x"})
    assert Busy.seen == 5

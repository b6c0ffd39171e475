"""A local webhook receiver for the alert tests and the benchmark: it records every POST
(path and JSON body) and answers with the codes it is told to.

    with WebhookServer() as hooks:
        hooks.answers = [500, 200]   # then 200 for ever
        ...                          # DISCORD_WEBHOOK_URL=hooks.url("/discord")
        hooks.wait_for(lambda posts: len(posts) >= 2)

`hang` makes it accept the request and never answer (a dead receiver that keeps the socket
open, the worst case for a sender); `dead_url()` is an address where nothing listens.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Post:
    path: str
    body: Any
    answered: int


class WebhookServer:
    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.answers: list[int] = []  # the next codes to answer; 200 once used up
        self.hang = threading.Event()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if server.hang.is_set():
                    server._stopping.wait()  # never answers while the test runs
                    return
                with server._lock:
                    code = server.answers.pop(0) if server.answers else 200
                    try:
                        body: Any = json.loads(raw)
                    except ValueError:
                        body = raw.decode("utf-8", "replace")
                    server.posts.append(Post(self.path, body, code))
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if code < 300 else b'{"ok": false}')

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def received(self, path: str | None = None) -> list[Post]:
        with self._lock:
            return [p for p in self.posts if path is None or p.path == path]

    def wait_for(self, check: Callable[[list[Post]], bool], timeout: float = 20.0) -> list[Post]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            posts = self.received()
            if check(posts):
                return posts
            time.sleep(0.02)
        raise AssertionError(f"the webhook receiver did not get what was expected: {self.received()!r}")

    def __enter__(self) -> WebhookServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def dead_url(path: str = "/hook") -> str:
    """An address on 127.0.0.1 where nothing listens: each connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"

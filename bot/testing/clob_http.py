"""The local CLOB V2 stand-in's HTTP plumbing: credentials, injected faults, the request log,
and a keep-alive threading server whose handler hands every request to the app's ``serve``.
bot/testing/clob_server.py routes and answers them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, cast

from bot.testing.clob_wire import ClobError


class App(Protocol):
    def serve(self, h: Handler) -> None: ...


@dataclass
class Credentials:
    api_key: str
    secret: str
    passphrase: str
    address: str | None = None  # None: accepted from any POLY_ADDRESS


@dataclass
class Fault:
    """Applies to the next ``remaining`` requests matching method + path prefix.

    With ``until`` it applies to every matching request until that time instead (an outage).
    kind: ``delay`` (answer normally after ``delay_s``), ``status`` (HTTP ``status`` with
    ``{"error"}`` and optional ``Retry-After``), ``malformed`` (200 with broken JSON), ``drop``
    (close the connection without answering). ``process=True`` applies the request to the
    exchange first, so e.g. an order rests although its response is lost.
    """

    method: str | None
    path: str
    kind: str
    remaining: int = 1
    status: int = 500
    delay_s: float = 0.0
    retry_after: float | None = None
    process: bool = False
    error: str | None = None  # the {"error"} text of a status fault; default: the HTTP phrase
    until: float | None = None  # wall time: applies to every matching request until then

    def matches(self, method: str, path: str) -> bool:
        prefix = self.path if self.path.endswith("/") else self.path + "/"
        return self.method in (None, method) and (path == self.path or path.startswith(prefix))


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # upper-cased names, POLY_SIGNATURE and POLY_PASSPHRASE removed
    body: Any  # parsed JSON, or the raw text when it is not JSON
    at: float


@dataclass
class Call:
    query: dict[str, str]
    data: Any
    headers: dict[str, str]
    owner: str
    address: str | None
    tail: str  # the path after a prefix route, e.g. the order id of /data/order/{id}

    def arg(self, name: str) -> str:
        value = self.query.get(name)
        if not value:
            raise ClobError(f"Invalid {name}")
        return value

    def body(self) -> dict[str, Any]:
        return self.data if isinstance(self.data, dict) else {}

    def items(self) -> list[Any]:
        if not isinstance(self.data, list):
            raise ClobError("Invalid payload")
        return self.data


Route = tuple[str, Callable[[Call], Any]]  # (auth level "", "L1" or "L2", handler)
SECRET_HEADERS = ("POLY_SIGNATURE", "POLY_PASSPHRASE")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    disable_nagle_algorithm = True  # else each keep-alive request stalls ~40 ms

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        cast(HTTPServer, self.server).app.serve(self)

    do_POST = do_DELETE = do_PUT = do_GET


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def get_request(self) -> tuple[Any, Any]:
        conn, addr = super().get_request()
        with self.connections_lock:
            self.connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up (timeouts, dropped connections) are routine here

    def close_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

"""What the local websocket stand-ins share (price_server.py, ws_user_server.py,
ws_market_server.py): a ``websockets`` sync server on 127.0.0.1 (one thread per connection)
on a thread of its own, the registry of connected clients, broadcast, the faults every stream
has, and a clean stop.

A server subclasses `WsServer`, makes its clients with `_client(conn)` (a `WsClient` subclass
holding the channel's state) and answers each frame in `_on_frame(client, frame)` (False ends
the connection). `silence(True)` sets `_silent`, which each server honours in its own way
(the channels stall differently); `drop()` cuts every connection at the TCP level without a
close frame; `send_raw(text)` sends anything to every client; `refuse(True)` closes every new
connection at once (an outage). `stop()` runs `_stopping()` (a subclass's own threads), cuts
the clients and shuts the server down.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any, Self


class WsClient:
    """One connection; `send` is serialised so that threads publishing at once do not interleave."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.lock = threading.Lock()

    def send(self, text: str) -> None:
        with self.lock:
            self.conn.send(text)


class WsServer:
    name = "ws-server"  # the serving thread's name
    forget_on_drop = False  # `drop()` also empties the registry at once (else each handler does)

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._clients: list[Any] = []
        self._lock = threading.Lock()
        self._silent = False
        self._refusing = False
        self._stop = threading.Event()
        self.received: list[Any] = []  # frames received, as each server records them
        self.connections = 0
        self._server: Any = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Self:
        from websockets.sync.server import serve

        self._server = serve(self._handle, self._host, self._port, compression=None, ping_interval=None)
        self._spawn(self._server.serve_forever, self.name)
        return self

    def _spawn(self, target: Callable[[], object], name: str) -> threading.Thread:
        """A daemon thread joined by `stop()`."""
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def stop(self) -> None:
        self._stop.set()
        self._stopping()
        if self._server is not None:
            self.drop()
            self._server.shutdown()
        for thread in self._threads:
            thread.join(5)

    def _stopping(self) -> None:
        """A subclass's own shutdown, before the clients are cut."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _url(self, path: str) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}{path}"

    # -- clients ------------------------------------------------------------------------

    def _client(self, conn: Any) -> WsClient:
        return WsClient(conn)

    def _on_frame(self, client: Any, frame: Any) -> bool:
        """Answer one frame; False closes the connection."""
        return True

    def _clients_where(self, keep: Callable[[Any], bool] = lambda c: True) -> list[Any]:
        with self._lock:
            return [c for c in self._clients if keep(c)]

    def _count(self, keep: Callable[[Any], bool]) -> int:
        return len(self._clients_where(keep))

    def _send(self, client: Any, text: str) -> bool:
        """Send, ignoring a closed connection (its handler cleans up); True when it went."""
        try:
            client.send(text)
        except Exception:
            return False
        return True

    def _broadcast(self, text: str, clients: Iterable[Any] | None = None) -> None:
        for client in self._clients_where() if clients is None else clients:
            self._send(client, text)

    def _handle(self, conn: Any) -> None:
        if self._refusing:
            conn.close(1013, "try again later")
            return
        client = self._client(conn)
        with self._lock:
            self._clients.append(client)
            self.connections += 1
        try:
            for frame in conn:
                if not self._on_frame(client, frame):
                    return
        except Exception:  # a dropped client ends its thread
            pass
        finally:
            with self._lock:
                if client in self._clients:
                    self._clients.remove(client)

    # -- faults -------------------------------------------------------------------------

    def silence(self, on: bool) -> None:
        self._silent = on

    def refuse(self, on: bool) -> None:
        """While on, every new connection is closed at once (an outage of the socket)."""
        self._refusing = on

    def drop(self) -> None:
        """Cut every connection at the TCP level (no close frame: a dead link)."""
        with self._lock:
            clients = list(self._clients)
            if self.forget_on_drop:
                self._clients = []
        for client in clients:
            sock = getattr(client.conn, "socket", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def send_raw(self, text: str) -> None:
        """Send anything (a garbled frame) to every client."""
        self._broadcast(text)

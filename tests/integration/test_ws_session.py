"""The websocket loop the market, price and user channels share (bot/feeds/ws_session.py),
against a real ``websockets`` server on 127.0.0.1: sign-in on every connect, the channel's
text ping, a silent link closed and counted, reconnects, a refused start, a clean stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from websockets.sync.server import Server, ServerConnection, serve

from bot.feeds.ws_session import SocketHealth, WsSession
from tests.support import eventually


class Recorder:
    """A server that records what each connection sent and, while `talking`, answers every
    frame with ``ok``."""

    def __init__(self) -> None:
        self.received: list[list[str]] = []  # per connection
        self.talking = threading.Event()
        self.talking.set()
        self._server: Server = serve(self._handle, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def _handle(self, conn: ServerConnection) -> None:
        frames: list[str] = []
        self.received.append(frames)
        for message in conn:
            frames.append(str(message))
            if self.talking.is_set():
                conn.send("ok")

    def close(self) -> None:
        self._server.shutdown()


class Channel(WsSession):
    ping_text = "PING"
    backoff_s = (0.05, 0.2)

    def __init__(
        self, url: str, *, silence_s: float = 30.0, alive: bool = True, refuse: bool = False
    ) -> None:
        super().__init__(
            url, SocketHealth(), silence_s=silence_s, ping_s=0.1, label="test socket", thread="test-ws"
        )
        self.alive, self.refuse = alive, refuse
        self.frames: list[str] = []
        self.ups = 0
        self.downs: list[str] = []

    def refused(self) -> str | None:
        if self.refuse:
            self.health.last_error = "no credentials to sign in with"
            return "no credentials"
        return None

    def on_open(self, ws: object) -> None:
        self.send("hello")  # under the lock, on the new link

    def on_connected(self) -> None:
        self.ups += 1

    def on_frame(self, data: str | bytes) -> bool:
        self.health.messages += 1
        self.frames.append(str(data))
        return self.alive

    def on_down(self, reason: str) -> None:
        self.downs.append(reason)


@pytest.fixture
def server() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


def test_signs_in_pings_and_stops_cleanly(server: Recorder) -> None:
    channel = Channel(server.url).start()
    try:
        eventually(lambda: server.received and server.received[0].count("PING") >= 2, timeout=20)
        assert server.received[0][0] == "hello"
        assert channel.health.state == "connected"
        assert channel.health.connects == 1
        assert channel.ups == 1
        assert "ok" in channel.frames
    finally:
        channel.close(timeout_s=10)
    assert not channel._thread.is_alive()
    assert len(channel.downs) == 1  # the one connection ended, and none followed


def test_a_silent_link_is_closed_counted_and_reconnected(server: Recorder) -> None:
    channel = Channel(server.url, silence_s=0.6).start()
    try:
        eventually(lambda: channel.health.state == "connected", timeout=20)
        server.talking.clear()
        eventually(lambda: channel.health.silent_closes >= 1, timeout=20)
        assert channel.health.last_error == "silent for 0.6 s"
        server.talking.set()
        eventually(lambda: channel.health.reconnects >= 1 and channel.health.state == "connected", timeout=20)
        eventually(lambda: len(server.received) >= 2, timeout=20)
        assert server.received[1][0] == "hello"  # signed in again on the new link
        assert channel.downs[0] == "silent for 0.6 s"
    finally:
        channel.close(timeout_s=10)


def test_frames_that_do_not_show_the_stream_alive_do_not_hold_off_the_silence_close(server: Recorder) -> None:
    channel = Channel(server.url, silence_s=0.6, alive=False).start()
    try:
        eventually(lambda: channel.health.silent_closes >= 1, timeout=20)
        assert channel.health.messages >= 1  # the answers to PING kept coming
    finally:
        channel.close(timeout_s=10)


def test_a_refused_channel_never_connects_and_keeps_its_state(server: Recorder) -> None:
    channel = Channel(server.url, refuse=True).start()
    try:
        eventually(lambda: len(channel.downs) >= 2, timeout=20)
        assert channel.health.state == "no credentials"
        assert channel.health.last_error == "no credentials to sign in with"
        assert server.received == []
    finally:
        channel.close(timeout_s=10)


def test_an_unreachable_server_is_down_with_the_connect_error() -> None:
    channel = Channel("ws://127.0.0.1:9/ws").start()
    try:
        eventually(lambda: channel.health.state == "down", timeout=20)
        assert channel.health.last_error.startswith("connect: ")
        assert channel.health.connects == 0
    finally:
        channel.close(timeout_s=10)

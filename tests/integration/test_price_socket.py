"""The price socket against the local price server: sign-in, prices, and its faults (no or
wrong credentials, a silent stream, a dropped link, a garbled frame), each in its health."""

from __future__ import annotations

import queue
from collections.abc import Iterator

import pytest

from bot.feeds import price_wire as pw
from bot.feeds.price_socket import PriceSocket
from bot.model import now_ms
from bot.testing.price_server import PriceServer
from tests.support import eventually

CREDS = ("key", "c2VjcmV0", "pass")


@pytest.fixture
def server() -> Iterator[PriceServer]:
    srv = PriceServer(creds=CREDS).start()
    yield srv
    srv.stop()


def _socket(url: str, creds: tuple[str, str, str] | None, silence_s: float = 5.0, source: str = pw.POLYBOLT):
    got: queue.SimpleQueue[pw.PricePoint] = queue.SimpleQueue()

    def deliver(points: list[pw.PricePoint]) -> None:
        for p in points:
            got.put(p)

    sock = PriceSocket(source, url, deliver, creds=lambda: creds, silence_s=silence_s)
    sock.add("btcusd" if source == pw.POLYBOLT else "btcusdt")
    return sock.start(), got


def _drain(got: queue.SimpleQueue[pw.PricePoint]) -> list[pw.PricePoint]:
    out = []
    while not got.empty():
        out.append(got.get_nowait())
    return out


def test_prices_arrive_after_sign_in_and_a_silent_or_dropped_stream_reconnects(server: PriceServer) -> None:
    server.publish("btcusd", 100.0, ts_ms=now_ms() - 5_000)
    sock, got = _socket(server.url, CREDS, silence_s=1.0)
    try:
        first = eventually(lambda: _drain(got), timeout=10)
        assert first[0].snapshot
        assert first[0].price == 100.0
        server.publish("btcusd", 101.5)
        live = eventually(lambda: _drain(got), timeout=10)
        assert live[-1].price == 101.5
        assert not live[-1].snapshot
        assert sock.health.state == "connected"
        assert sock.health.gaps == 0
        server.send_raw("{not json")
        eventually(lambda: sock.health.unparsed == 1, timeout=10)
        server.silence(True)  # the socket stays open; no price comes
        eventually(lambda: sock.health.silent_closes >= 1, timeout=10)
        assert "no price" in sock.health.last_error
        server.silence(False)
        server.drop()
        eventually(lambda: sock.health.reconnects >= 2 and sock.health.state == "connected", timeout=20)
        assert sock.health.gaps >= 2  # each reconnect: prices were missed
        server.publish("btcusd", 102.0)
        eventually(lambda: any(p.price == 102.0 for p in _drain(got)), timeout=10)
    finally:
        sock.close()


def test_without_or_with_wrong_credentials_no_price_and_the_health_says_why(server: PriceServer) -> None:
    none, _ = _socket(server.url, None)
    wrong, got = _socket(server.url, ("key", "d3Jvbmc=", "nope"))
    try:
        eventually(lambda: none.health.state == "no credentials", timeout=10)
        assert "POLYMARKET_API_KEY" in none.health.last_error
        eventually(
            lambda: "authentication failed" in wrong.health.last_error or wrong.health.reconnects, timeout=10
        )
        server.publish("btcusd", 100.0)
        assert got.empty()
    finally:
        none.close()
        wrong.close()


def test_binance_klines_give_the_price_and_the_candle_open(server: PriceServer) -> None:
    sock, got = _socket(server.binance_url, None, source=pw.BINANCE)
    try:
        eventually(lambda: server.subscribed("btcusdt") == 1, timeout=10)
        server.kline("btcusdt", 1780264800000, 97000.1, 97010.0)
        [point] = eventually(lambda: _drain(got), timeout=10)
        assert point.open_ms == 1780264800000
        assert point.open_price == 97000.1
        assert point.price == 97010.0
    finally:
        sock.close()

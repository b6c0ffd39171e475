"""One connection to an underlying's price stream (PolyBolt or Binance), on its own thread.

`PriceSocket(source, url, deliver)` connects with the ``websockets`` sync client, signs in
(PolyBolt: CLOB API credentials, from `creds()`; never logged), subscribes its symbols, and
hands every batch of prices to `deliver` (a list of `PricePoint`). It keeps no price state:
the fair-value feed does (bot/feeds/fair_feed.py), on the engine's thread.

Health, for status.json: state, last message and last price (wall clock), messages, prices,
unparsed frames, reconnects, silent closes, gaps (a reconnect, a ``seq`` that jumps, a frame
the server says it ``dropped``), the last error. A socket that carries no price for
`silence_s` seconds while it has symbols is closed and reconnected (a stream that stalls
while the socket stays open is a known failure of these feeds); reconnects back off from
0.2 s to 10 s. Protocol pings detect half-open links; PolyBolt also gets ``{"op":"ping"}``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.feeds import price_wire as pw
from bot.model import now_ms

log = logging.getLogger(__name__)

BACKOFF_S = (0.2, 10.0)
APP_PING_S = 10.0
Creds = tuple[str, str, str]


@dataclass
class PriceHealth:
    state: str = "connecting"
    connected_since_ms: int | None = None
    last_message_ms: int | None = None
    last_price_ms: int | None = None
    messages: int = 0
    prices: int = 0
    unparsed: int = 0
    reconnects: int = 0
    silent_closes: int = 0
    gaps: int = 0
    dropped: int = 0
    last_error: str = ""
    connects: int = 0


class PriceSocket:
    def __init__(
        self,
        source: str,
        url: str,
        deliver: Callable[[list[pw.PricePoint]], None],
        *,
        creds: Callable[[], Creds | None] = lambda: None,
        silence_s: float = 10.0,
        name: str = "",
    ) -> None:
        if source not in (pw.POLYBOLT, pw.BINANCE):
            raise ValueError(f"unknown price source {source!r}")
        self.source = source
        self.url = url
        self._deliver = deliver
        self._creds = creds
        self.silence_s = silence_s
        self.symbols: set[str] = set()
        self.health = PriceHealth()
        self._seq: dict[str, int] = {}
        self._lock = threading.Lock()
        self._ws: object | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name or f"prices-{source}", daemon=True)

    def start(self) -> PriceSocket:
        self._thread.start()
        return self

    def close(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            try:
                ws.close()  # type: ignore[attr-defined]
            except Exception:
                log.debug("price socket: close failed", exc_info=True)
        self._thread.join(timeout_s)

    def add(self, symbol: str) -> None:
        """Follow `symbol` too; sent now when connected, and on every connect."""
        with self._lock:
            if symbol in self.symbols:
                return
            self.symbols.add(symbol)
            ws = self._ws
            if ws is not None and self.health.state == "connected":
                try:
                    ws.send(self._subscribe([symbol]))  # type: ignore[attr-defined]
                except Exception as exc:
                    log.info("price socket %s: send failed: %s", self.source, exc)

    # -- the socket thread --------------------------------------------------------------

    def _subscribe(self, symbols: list[str]) -> str:
        if self.source == pw.POLYBOLT:
            return pw.polybolt_subscribe(symbols)
        return pw.binance_subscribe(symbols)

    def _run(self) -> None:
        backoff = BACKOFF_S[0]
        while not self._stop.is_set():
            if not self.symbols:
                self._stop.wait(0.2)
                continue
            started = time.monotonic()
            reason = self._session()
            if self._stop.is_set():
                return
            if self.health.state != "no credentials":
                self.health.state = "down"
            if time.monotonic() - started > 30:
                backoff = BACKOFF_S[0]
            log.warning("price socket %s down (%s); reconnecting in %.1f s", self.source, reason, backoff)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_S[1])

    def _session(self) -> str:
        """One connection, from connect to close; returns why it ended."""
        health = self.health
        creds = self._creds() if self.source == pw.POLYBOLT else None
        if self.source == pw.POLYBOLT and creds is None:
            health.state = "no credentials"
            health.last_error = (
                "PolyBolt needs the CLOB API credentials (POLYMARKET_API_KEY, _SECRET, _PASSPHRASE)"
            )
            return health.last_error
        try:
            from websockets.exceptions import ConnectionClosed
            from websockets.sync.client import connect

            ws = connect(
                self.url, proxy=None, open_timeout=5, ping_interval=10, ping_timeout=10, close_timeout=1
            )
        except Exception as exc:
            health.last_error = f"connect: {type(exc).__name__}: {exc}"
            return health.last_error
        with self._lock:
            self._ws = ws
            symbols = sorted(self.symbols)
        try:
            if creds is not None:
                ws.send(pw.polybolt_auth(*creds))  # the reply comes as a Control frame
            else:
                ws.send(self._subscribe(symbols))
            if health.connects:
                health.reconnects += 1
                health.gaps += 1  # prices were missed while down; no replay exists
            health.connects += 1
            health.state, health.connected_since_ms = "connected", now_ms()
            self._seq.clear()
            last_price = next_ping = time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                if self.source == pw.POLYBOLT and now >= next_ping:
                    ws.send(pw.POLYBOLT_PING)
                    next_ping = now + APP_PING_S
                if now - last_price > self.silence_s:
                    health.silent_closes += 1
                    health.last_error = f"no price for {self.silence_s:g} s"
                    return health.last_error
                try:
                    data = ws.recv(timeout=max(0.01, min(next_ping, last_price + self.silence_s) - now))
                except TimeoutError:
                    continue
                if self._on_frame(ws, data, symbols):
                    last_price = time.monotonic()
            return "stopped"
        except ConnectionClosed as exc:
            health.last_error = f"closed: {exc}"
            return health.last_error
        except Exception as exc:
            health.last_error = f"{type(exc).__name__}: {exc}"
            return health.last_error
        finally:
            with self._lock:
                self._ws = None
            try:
                ws.close()
            except Exception:
                log.debug("price socket: close failed", exc_info=True)

    def _on_frame(self, ws: object, data: str | bytes, symbols: list[str]) -> bool:
        """Handle one frame; True when it carried a live price."""
        health = self.health
        health.messages += 1
        health.last_message_ms = now_ms()
        try:
            raw = pw.decode(data)
            parsed = pw.parse_polybolt(raw) if self.source == pw.POLYBOLT else pw.parse_binance(raw)
        except pw.PriceParseError as exc:
            health.unparsed += 1
            log.warning("price socket %s: message ignored: %s", self.source, exc)
            return False
        if isinstance(parsed, pw.Control):
            if parsed.op == "authed":
                ws.send(self._subscribe(symbols))  # type: ignore[attr-defined]
            elif parsed.op == "error":
                health.last_error = f"server error: {parsed.detail or '(no detail)'}"
                log.warning("price socket %s: %s", self.source, health.last_error)
            return False
        points = parsed if isinstance(parsed, list) else parsed.points
        if isinstance(parsed, pw.Batch):
            self._check_seq(parsed)
        if not points:
            return False
        health.prices += len(points)
        health.last_price_ms = now_ms()
        self._deliver(points)
        return any(not p.snapshot for p in points) or health.prices == len(points)

    def _check_seq(self, batch: pw.Batch) -> None:
        health = self.health
        if batch.dropped:
            health.dropped += batch.dropped
            health.gaps += 1
        if batch.seq is None:
            return
        last = self._seq.get(batch.channel)
        if last is not None and batch.seq != last + 1:
            health.gaps += 1
            log.warning(
                "price socket %s: %s seq %d after %d (a gap)", self.source, batch.channel, batch.seq, last
            )
        self._seq[batch.channel] = batch.seq

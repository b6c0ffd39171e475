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
The loop is bot/feeds/ws_session.py's, shared with the market and user channels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.feeds import price_wire as pw
from bot.feeds.ws_session import SocketHealth, WsSession
from bot.model import now_ms

if TYPE_CHECKING:
    from websockets.sync.client import ClientConnection

log = logging.getLogger(__name__)

APP_PING_S = 10.0
Creds = tuple[str, str, str]


@dataclass
class PriceHealth(SocketHealth):
    last_price_ms: int | None = None
    prices: int = 0
    gaps: int = 0
    dropped: int = 0


class PriceSocket(WsSession):
    health: PriceHealth
    ping_text = None  # PolyBolt's is set per socket

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
        super().__init__(
            url,
            PriceHealth(),
            silence_s=silence_s,
            ping_s=APP_PING_S,
            label=f"price socket {source}",
            thread=name or f"prices-{source}",
        )
        if source == pw.POLYBOLT:
            self.ping_text = pw.POLYBOLT_PING
        self.source = source
        self._deliver = deliver
        self._creds = creds
        self._signed_in: Creds | None = None
        self._subscribed: list[str] = []  # the symbols sent with this connection's subscribe
        self.symbols: set[str] = set()
        self._seq: dict[str, int] = {}

    def add(self, symbol: str) -> None:
        """Follow `symbol` too; sent now when connected, and on every connect."""
        with self._lock:
            if symbol in self.symbols:
                return
            self.symbols.add(symbol)
            if self.health.state == "connected":
                self.send(self._subscribe([symbol]))

    # -- the socket thread --------------------------------------------------------------

    def _subscribe(self, symbols: list[str]) -> str:
        if self.source == pw.POLYBOLT:
            return pw.polybolt_subscribe(symbols)
        return pw.binance_subscribe(symbols)

    def wanted(self) -> bool:
        return bool(self.symbols)

    def refused(self) -> str | None:
        self._signed_in = self._creds() if self.source == pw.POLYBOLT else None
        if self.source == pw.POLYBOLT and self._signed_in is None:
            self.health.last_error = (
                "PolyBolt needs the CLOB API credentials (POLYMARKET_API_KEY, _SECRET, _PASSPHRASE)"
            )
            return "no credentials"
        return None

    def on_open(self, ws: ClientConnection) -> None:
        self._subscribed = sorted(self.symbols)
        if self._signed_in is not None:
            ws.send(pw.polybolt_auth(*self._signed_in))  # the reply comes as a Control frame
        else:
            ws.send(self._subscribe(self._subscribed))

    def on_connected(self) -> None:
        if self.health.reconnects:
            self.health.gaps += 1  # prices were missed while down; no replay exists
        self._seq.clear()

    def silence_reason(self) -> str:
        return f"no price for {self.silence_s:g} s"

    def on_frame(self, data: str | bytes) -> bool:
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
            ws = self._ws
            if parsed.op == "authed" and ws is not None:
                ws.send(self._subscribe(self._subscribed))
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

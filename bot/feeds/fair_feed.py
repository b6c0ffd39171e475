"""The live fair-value feed: the underlying's price streamed beside the books, P(UP) on each
DRY_RUN/LIVE tick (bot/fairvalue.py). Backtests read a recorded series (bot/feeds/underlying.py).

`FairValueFeed(inner, sockets, fair)` wraps the live book feed. For each market it learns
of (``WindowOpened``) it picks the underlying by the family's settlement rule
(`underlying_of`): the crypto up/down windows named ``<coin>-updown-<tf>`` settle on
Chainlink's 60-second TWAP (PolyBolt ``price.crypto.twap``, symbol ``btcusd``); the hourly
``bitcoin-up-or-down-...`` windows on the Binance 1-hour candle (``btcusdt@kline_1h``). Other
markets have no underlying and no fair value.

Prices arrive on the price sockets' threads (bot/feeds/price_socket.py), which only put them
in a queue and wake the engine's inbox; everything else happens here, on the engine's
thread, when the engine takes a batch: prices go to the shared model (bot/fairvalue.py,
`FairValue`), and every `BookTick` of a market with an underlying leaves with
``fair_forecast`` (P(UP) in micros) and ``underlying`` (the last price). A price that moves
P(UP) by at least `REPRICE_MICROS` re-issues the market's last book with the new value, so a
strategy sees the move without waiting for the book to change.

The strike: ``Market.strike`` when the metadata gives it (Gamma's price to beat); for the
hourly family the candle's open at the window's start; else the first price at or after the
start, and only when it came within `strike_tolerance_s` of the start (PolyBolt sends two
minutes of history on subscribe, so a bot started shortly after the open still sees it). A
bot that joined later does not guess: that window has no fair value, with the reason. When
Gamma publishes the official price to beat (``eventMetadata.priceToBeat``, after the window's
end on Polymarket; the roller reads it: `official_strike`), it replaces the feed's strike, and
a PRICE_FEED line gives both values and the difference (in price and in basis points).
status.json's ``strike_source`` says which one is in use (``feed`` or ``gamma``). The
engine's own record of the market carries the strike in force too: a ``WindowOpened`` with
``Market.strike`` set follows each new strike (and a re-sent ``WindowOpened`` keeps it), so
MARKET_RESOLVED, status.json's ``markets`` and the tape name it; the engine takes a new strike
as a strike update (bot/strikes.py): the journal's markets row gets it with its source
(`strike_source`), which it asks this feed for.

No fair value is never silent: `reason(market_id)` says why (no price yet, the feed silent
for more than `stale_s`, no strike, the start unknown), status.json shows it per market, and
each change of reason is kept for the activity feed (`notes()`).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.fairvalue import MODEL, FairValue, ModelInput, ModelLine, Priced, PriceInput, StrikeInput, Window
from bot.feeds import price_wire as pw
from bot.feeds.price_socket import PriceSocket
from bot.feeds.rolling import RollerSide
from bot.markets.series import COINS, series_of_slug
from bot.model import ONE, BookTick, Market, MarketEvent, Mode, WindowOpened, WindowResolved, iso, now_ms

log = logging.getLogger(__name__)

REPRICE_MICROS = 1_000  # 0.001 of P(UP): a smaller move is not worth a decision
HOUR_MS = 3_600_000
_LONG_NAMES = {"bitcoin": "btc", "ethereum": "eth", "solana": "sol", "xrp": "xrp", "dogecoin": "doge"}


@dataclass(frozen=True, slots=True)
class Underlying:
    coin: str  # btc
    source: str  # polybolt | binance
    symbol: str  # btcusd (PolyBolt) | btcusdt (Binance)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.symbol}"


def underlying_of(market: Market, slug: str = "") -> Underlying | None:
    """The price a market settles on, from its family; None when the bot knows no rule for it."""
    name = (slug.split("-")[0] if slug else market.instrument).lower()
    hourly = bool(slug) and "-updown-" not in slug
    if name in _LONG_NAMES or hourly:
        coin = _LONG_NAMES.get(name, name)
        return Underlying(coin, pw.BINANCE, f"{coin}usdt") if coin in COINS else None
    if name in COINS:
        return Underlying(name, pw.POLYBOLT, f"{name}usd")
    return None


def start_of(market: Market, underlying: Underlying, slug: str = "") -> int:
    """The window's start (ms): the market's own, else the slug's, else (hourly) end - 1 h; 0 unknown."""
    if market.window_start_ms > 0:
        return market.window_start_ms
    found = series_of_slug(slug) if slug else None
    if found is not None:
        return found[1] * 1000
    if underlying.source == pw.BINANCE and market.window_end_ms > HOUR_MS:
        return market.window_end_ms - HOUR_MS
    return 0


@dataclass
class _Watched:
    market: Market
    underlying: Underlying
    window: Window
    strike_from: str = ""  # "metadata" (Gamma's), "candle open", "first price", "restored" (journal)
    reason: str | None = "no price yet"
    last_tick: BookTick | None = None
    dead: str = ""  # a reason that no price can cure (no strike for this window)


class FairValueFeed:
    def __init__(
        self,
        inner: Any,
        connect: Callable[[str, Callable[[list[pw.PricePoint]], None]], PriceSocket],
        fair: FairValue,
        wake: Callable[[], None],
        clock: Callable[[], int],
        *,
        slugs: dict[str, str] | None = None,
        stale_s: float = 10.0,
        strike_tolerance_s: float = 5.0,
    ) -> None:
        self.inner = inner
        self._connect = connect
        self.fair = fair
        self._wake = wake
        self._clock = clock
        self._slugs = dict(slugs or {})
        self.stale_ms = round(stale_s * 1000)
        self.tolerance_ms = round(strike_tolerance_s * 1000)
        self.sockets: dict[str, PriceSocket] = {}
        self._prices: queue.SimpleQueue[tuple[str, list[pw.PricePoint], int]] = queue.SimpleQueue()
        self._watched: dict[str, _Watched] = {}
        self._last: dict[str, tuple[int, float]] = {}  # underlying key -> (received, price)
        self._taken: dict[str, int] = {}  # underlying key -> when the engine took its last price (its clock)
        self._notes: deque[tuple[int, str, str]] = deque(maxlen=200)
        self.latencies_ms: deque[float] = deque(maxlen=10_000)  # price received -> engine (bench)
        self._started = False
        self.more_connections: list[Callable[[], dict[str, Any]]] = []  # shown beside (the user socket)
        self._inputs: list[ModelLine] = []  # the model's inputs since the last `drain_inputs`: the tape's
        self._described = False
        self._official: dict[str, float] = {}  # Gamma's strikes for windows not watched yet
        self._restored: dict[str, tuple[float, str | None]] = {}  # the journal's, after a restart
        self._restruck: set[str] = set()  # markets whose strike changed since the last batch
        self._struck: set[str] = set()  # a strike the engine's record may lack

    # -- threads ------------------------------------------------------------------------

    def start(self) -> FairValueFeed:
        self._started = True
        for sock in self.sockets.values():
            sock.start()
        self.inner.start()
        return self

    def stop(self) -> None:
        for sock in self.sockets.values():
            sock.close(0.5)
        self.inner.stop()

    def __getattr__(self, name: str) -> object:  # last_update_ms, markets, close: the inner feed's
        return getattr(self.inner, name)

    def _socket(self, source: str) -> PriceSocket:
        sock = self.sockets.get(source)
        if sock is None:

            def deliver(points: list[pw.PricePoint], source: str = source) -> None:
                self._prices.put((source, points, now_ms()))  # the price thread's only touch
                self._wake()

            sock = self.sockets[source] = self._connect(source, deliver)
            if self._started:
                sock.start()
        return sock

    # -- the feed interface (engine thread) -----------------------------------------------

    def peek_ms(self) -> int | None:
        due = self.inner.peek_ms()
        if due is None:
            return None
        if not self._prices.empty():
            return self._clock()
        # a market with a fair value loses it when its price goes stale: look again then
        wall = now_ms()
        stale_at = [
            last[0] + self.stale_ms + 1
            for w in self._watched.values()
            if w.reason is None and (last := self._last.get(w.underlying.key)) is not None
        ]
        if stale_at:
            due = min(due, self._clock() + max(0, min(stale_at) - wall))
        return due

    def next_batch(self) -> list[MarketEvent]:
        events = self.inner.next_batch() if self.inner.peek_ms() is not None else []
        now = self._clock()  # after the inner feed stamped its events: a re-issue is never older
        for i, event in enumerate(events):
            if isinstance(event, WindowOpened):
                market = self._watch(event.market)
                if market is not event.market:  # the strike in force, for the engine's record
                    events[i] = WindowOpened(event.ts_ms, market)
            elif isinstance(event, WindowResolved):
                self._forget(event.market_id)
        moved = self._take_prices()
        if self._struck:
            self._tell_strikes(now, events)
        ticked = set()
        for event in events:
            if type(event) is BookTick and event.market_id in self._watched:
                self._decorate(event)
                ticked.add(event.market_id)
        for market_id, watched in self._watched.items():
            # a price move, or the feed falling silent, re-issues the market's last book
            last = watched.last_tick
            if market_id in ticked or last is None:
                continue
            if (
                watched.underlying.key not in moved
                and market_id not in self._restruck
                and self._why(watched) == watched.reason
            ):
                continue
            before = watched.reason
            tick = BookTick(now, market_id, last.bid, last.bid_size, last.ask, last.ask_size)
            self._decorate(tick)
            change = (
                tick.fair_forecast is None
                or last.fair_forecast is None
                or abs(tick.fair_forecast - last.fair_forecast) >= REPRICE_MICROS
            )
            if watched.reason != before or (change and tick.fair_forecast != last.fair_forecast):
                events.append(tick)
            else:
                watched.last_tick = last
        self._restruck.clear()
        return events

    def official_strike(self, market_id: str, strike: float) -> None:
        """Gamma's price to beat for a window (the roller, on the engine thread): it replaces
        the strike taken from the feed, and the activity feed gets both and the difference."""
        watched = self._watched.get(market_id)
        if watched is None:  # the window opens later: taken then (or it is gone: kept a while)
            self._official[market_id] = strike
            if len(self._official) > 1_000:
                del self._official[next(iter(self._official))]
            return
        taken = self.fair.strike(market_id)
        if taken == strike and watched.strike_from == "metadata":
            return
        how = watched.strike_from
        self._set_strike(watched.window, strike, "metadata")
        watched.strike_from, watched.dead = "metadata", ""
        self._restruck.add(market_id)
        if taken is None:
            text = f"strike: Gamma's price to beat {strike:.12g} (none was taken from the feed)"
        else:
            diff = strike - taken
            text = (
                f"strike: Gamma's price to beat {strike:.12g} replaces {taken:.12g} from the feed ({how}):"
                f" difference {diff:+.8g} ({diff / taken * 10_000:+.2f} bps)"
            )
        self._notes.append((self._clock(), market_id, text))
        log.info("market %s: %s", market_id, text)

    def restore_strikes(self, strikes: dict[str, tuple[float, str | None]]) -> None:
        """After a restart: the strike in force of each window the journal holds, (strike,
        source) by market id, taken when the window is opened again (bot/strikes.py)."""
        self._restored.update(strikes)

    # -- what status.json and the activity feed show ---------------------------------------

    def reason(self, market_id: str) -> str | None:
        watched = self._watched.get(market_id)
        return watched.reason if watched else None

    def strike_source(self, market_id: str) -> str | None:
        """`feed` or `gamma`: where the strike in force came from (None: no strike yet)."""
        watched = self._watched.get(market_id)
        return strike_source(watched.strike_from) if watched else None

    def drain_inputs(self) -> list[ModelLine]:
        """The model's inputs (prices, strikes) taken since the last call, in the order the
        model took them: the tape records them before the batch (bot/feeds/replay.py)."""
        out, self._inputs = self._inputs, []
        return out

    def notes(self) -> list[tuple[int, str, str]]:
        """(time, market id, text) for each change of a market's fair-value state since the last call."""
        out = list(self._notes)
        self._notes.clear()
        return out

    def market_health(self, market_id: str) -> dict[str, Any]:
        inner = getattr(self.inner, "market_health", None)
        out: dict[str, Any] = dict(inner(market_id)) if inner else {}
        watched = self._watched.get(market_id)
        if watched is None:
            return out
        last = self._last.get(watched.underlying.key)
        tick = watched.last_tick
        out["underlying"] = {
            "source": watched.underlying.source,
            "symbol": watched.underlying.symbol,
            "price": last[1] if last else None,
            "price_age_s": round((now_ms() - last[0]) / 1000, 3) if last else None,
            "strike": self.fair.strike(market_id),
            "strike_from": watched.strike_from or None,
            "strike_source": strike_source(watched.strike_from),
            "window_start": iso(watched.window.start_ms) if watched.window.start_ms else None,
            "fair_value": tick.fair_forecast / ONE if tick and tick.fair_forecast is not None else None,
            "reason": watched.reason,
        }
        return out

    def connection_health(self) -> list[dict[str, Any]]:
        inner = getattr(self.inner, "connection_health", None)
        out: list[dict[str, Any]] = list(inner()) if inner else []
        out += [health() for health in self.more_connections]
        now = now_ms()
        for source, sock in self.sockets.items():
            h = sock.health  # the common part (bot/feeds/ws_session.py), then the prices'
            row = h.row(f"prices:{source}", sock.url, len(sock.symbols), h.gaps, None)
            row["last_price"] = iso(h.last_price_ms) if h.last_price_ms else None
            row["price_age_s"] = round((now - h.last_price_ms) / 1000, 3) if h.last_price_ms else None
            row["prices"], row["dropped"] = h.prices, h.dropped
            out.append(row)
        return out

    # -- internals ----------------------------------------------------------------------

    def _watch(self, market: Market) -> Market:
        """Watch a market the inner feed opened; the market as the engine should record it."""
        known = self._watched.get(market.market_id)
        slug = self._slugs.get(market.market_id, "")
        underlying = underlying_of(market, slug)
        if underlying is None:
            return market
        start = start_of(market, underlying, slug)
        window = Window(market.market_id, underlying.key, start, market.window_end_ms)
        if known is not None:  # new rules (tick, size) or the official strike: keep what was learnt
            taken = self.fair.strike(market.market_id)
            if market.strike and market.strike != taken:
                self.official_strike(market.market_id, market.strike)
            elif not market.strike and taken is not None:
                market = dataclasses.replace(market, strike=taken)
            known.market, known.window = market, window
            self._struck.discard(market.market_id)
            return market
        watched = self._watched[market.market_id] = _Watched(market, underlying, window)
        self._socket(underlying.source).add(underlying.symbol)
        official = self._official.pop(market.market_id, None)
        if official is not None and not market.strike:
            market = watched.market = dataclasses.replace(market, strike=official)
        restored = self._restored.pop(market.market_id, None)
        if restored is not None and not market.strike:  # the price at its start is long past
            strike, source = restored
            how = "metadata" if source == "gamma" else "restored"
            market = watched.market = dataclasses.replace(market, strike=strike)
            self._set_strike(window, strike, how)
            watched.strike_from = how
        elif market.strike:
            self._set_strike(window, market.strike, "metadata")
            watched.strike_from = "metadata"
        elif start <= 0:
            watched.dead = "window start unknown: no strike (name the market by its slug or series)"
        watched.reason = self._why(watched)
        self._note(market.market_id, watched.reason)
        return market

    def _tell_strikes(self, now: int, events: list[MarketEvent]) -> None:
        """A new strike (the feed's, then Gamma's) reaches the engine's record of the market."""
        for market_id in self._struck:
            watched = self._watched.get(market_id)
            strike = self.fair.strike(market_id)
            if watched is not None and strike is not None and watched.market.strike != strike:
                watched.market = dataclasses.replace(watched.market, strike=strike)
                events.append(WindowOpened(now, watched.market))
        self._struck.clear()

    def _forget(self, market_id: str) -> None:
        if self._watched.pop(market_id, None) is not None:
            self.fair.forget(market_id)

    def _take_prices(self) -> set[str]:
        moved: set[str] = set()
        now = now_ms()
        taken = self._clock()  # the engine's clock: a tick's price age is measured on it
        while True:
            try:
                source, points, received = self._prices.get_nowait()
            except queue.Empty:
                break
            self.latencies_ms.append(now - received)
            for point in points:
                key = f"{source}:{point.symbol}"
                self._strikes(key, point)
                self.fair.on_price(key, point.ts_ms, point.price)
                self._record(PriceInput(taken, key, point.ts_ms, point.price))
                self._taken[key] = taken
                self._last[key] = (received, point.price)  # a snapshot's rows come oldest first
                moved.add(key)
        return moved

    def _strikes(self, key: str, point: pw.PricePoint) -> None:
        """A price at or after a window's start: its strike, if it came in time."""
        for watched in self._watched.values():
            window = watched.window
            if (
                window.underlying != key
                or watched.strike_from
                or watched.dead
                or window.start_ms <= 0
                or not window.start_ms <= point.ts_ms < window.end_ms
            ):
                continue
            if point.open_ms == window.start_ms and point.open_price:
                strike, how = point.open_price, "candle open"
            elif point.ts_ms - window.start_ms <= self.tolerance_ms:
                strike, how = point.price, "first price"
            else:
                late = (point.ts_ms - window.start_ms) / 1000
                watched.dead = (
                    f"no strike: the first {watched.underlying.coin.upper()} price after the window's start"
                    f" came {late:.0f} s late (the bot joined mid-window)"
                )
                continue
            self._set_strike(window, strike, how)
            watched.strike_from = how
            log.info("market %s: strike %s (%s)", window.market_id, strike, how)

    def _set_strike(self, window: Window, strike: float, how: str) -> None:
        self.fair.watch(window, strike)
        self._struck.add(window.market_id)
        self._record(
            StrikeInput(
                self._clock(),
                window.market_id,
                window.underlying,
                window.start_ms,
                window.end_ms,
                strike,
                strike_source(how) or "feed",
            )
        )

    def _record(self, line: ModelLine) -> None:
        if not self._described:  # the model's settings, once, before its first input
            self._described = True
            fair = self.fair
            self._inputs.append(ModelInput(line.ts_ms, MODEL, fair.default_sigma, fair.half_life_s))
        self._inputs.append(line)

    def _why(self, watched: _Watched) -> str | None:
        if watched.dead:
            return watched.dead
        key = watched.underlying.key
        last = self._last.get(key)
        name = f"{watched.underlying.coin.upper()} ({watched.underlying.source} {watched.underlying.symbol})"
        if last is None:
            sock = self.sockets.get(watched.underlying.source)
            if sock is not None and sock.health.state == "no credentials":
                return f"no {name} price: {sock.health.last_error}"
            return f"no {name} price yet"
        age = now_ms() - last[0]
        if age > self.stale_ms:
            return f"{name} price feed silent for {age / 1000:.0f} s"
        if not watched.strike_from:
            return f"waiting for the window's start to take the {name} strike"
        return None

    def _decorate(self, tick: BookTick) -> None:
        watched = self._watched[tick.market_id]
        why = self._why(watched)
        last = self._last.get(watched.underlying.key)
        tick.underlying = last[1] if last else None
        quote = None if why else self.fair.quote(tick.market_id, tick.ts_ms)
        tick.fair_forecast = None if quote is None else round(quote.p_up * ONE)
        if why is None and quote is None:
            why = "no fair value yet"
        if quote is not None and last is not None:
            tick.fair_info = Priced(
                quote, self._taken[watched.underlying.key], strike_source(watched.strike_from) or ""
            )
        else:
            tick.fair_info = why
        watched.last_tick = tick
        if why != watched.reason:
            self._note(tick.market_id, why)
        watched.reason = why

    def _note(self, market_id: str, why: str | None) -> None:
        watched = self._watched.get(market_id)
        name = watched.underlying.coin.upper() if watched else "underlying"
        text = f"edge has no fair value: {why}" if why else f"fair value live from the {name} price"
        self._notes.append((self._clock(), market_id, text))
        (log.warning if why else log.info)("market %s: %s", market_id, text)


def strike_source(how: str) -> str | None:
    """Where a strike came from, as status.json and the tape name it: ``gamma`` (the
    market's official price to beat) or ``feed`` (the price feed at the window's start)."""
    if not how:
        return None
    return "gamma" if how == "metadata" else "feed"


# -- building it for `bot run` ----------------------------------------------------------------


def build(
    config: Any,
    inner: Any,
    reader: Any,
    markets: list[Market],
    wake: Callable[[], None],
    clock: Callable[[], int],
    environ: dict[str, str],
) -> Any:
    """`[polymarket] prices = true` (DRY_RUN and LIVE): the book feed wrapped with the
    underlying's prices and the fair value; `inner` as it is otherwise. The markets' slugs are
    read once here (a window's start for a market named by condition id)."""
    pm = config.polymarket
    if not pm.prices:
        return inner
    slugs: dict[str, str] = {}
    for market in markets:
        if market.window_start_ms > 0:
            continue
        try:
            slug = reader.get_market(market.market_id).get("market_slug") or ""
        except Exception as exc:  # a start-up read that fails leaves the start unknown, said so
            log.warning(
                "market %s: slug unreadable (%s): its window start stays unknown", market.market_id, exc
            )
            continue
        if isinstance(slug, str):
            slugs[market.market_id] = slug
    names = ("POLYMARKET_API_KEY", "POLYMARKET_API_SECRET", "POLYMARKET_API_PASSPHRASE")
    values = tuple((environ.get(n) or "").strip() for n in names)
    creds = (values[0], values[1], values[2]) if all(values) else None
    if creds is None and config.mode is Mode.LIVE:  # the venue's derived ones
        try:
            creds = reader.api_credentials()
        except Exception as exc:
            log.warning("no API credentials for the price stream: %s", type(exc).__name__)
    urls = {pw.POLYBOLT: pm.price_ws_url, pw.BINANCE: pm.binance_ws_url}

    def connect(source: str, deliver: Callable[[list[pw.PricePoint]], None]) -> PriceSocket:
        return PriceSocket(source, urls[source], deliver, creds=lambda: creds, silence_s=pm.price_silence_s)

    fair = FairValue(pm.fair_vol_per_s)
    feed = FairValueFeed(inner, connect, fair, wake, clock, slugs=slugs, stale_s=pm.price_silence_s)
    if isinstance(inner, RollerSide):  # rolling windows: Gamma's official strikes, when published
        inner.on_strike = feed.official_strike
    return feed

"""The local Polymarket for the DRY_RUN and LIVE tests: the servers of bot/testing started on
127.0.0.1 (CLOB REST always; the market and user websockets, the price stream, Gamma and its
market clock when a test asks), a bot.toml that points at them, and `bot run` as a subprocess
with the environment the mode needs.

    with LiveVenue.start(user_ws=True) as venue:
        venue.add_market(CONDITION, (UP, DOWN))
        venue.write_home(tmp_path, polymarket={"poll_interval_s": 60})
        bot = venue.bot(tmp_path, "live").start()

`write_home` writes the common bot.toml (`LiveVenue.config`) with the test's overrides merged in: a table
merges into the table, a value replaces the value, None removes the key."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from bot.clock import MARKET_CLOCK_ENV
from bot.testing.clob_server import ClobServer
from bot.testing.gamma_server import GammaServer
from bot.testing.price_server import PriceServer
from bot.testing.ws_market_server import WsMarketServer
from bot.testing.ws_user_server import WsUserServer
from tests.support import BotProcess

KEY = "0x" + "11" * 32  # a throwaway wallet key, the canary the secret scans look for
CONDITION = "0x" + "ab" * 32
UP, DOWN = "111", "222"
PRICE_CREDS = ("price-key", "cHJpY2Utc2VjcmV0", "price-pass")  # the price stream's API creds
BUY_ONCE = "tests.live_strategies:BuyOnce"
WINDOW_S = 300


def end_in(seconds: float) -> str:
    """The end date, `seconds` from now, as the CLOB lists it."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class MarketClock:
    """The market's time, `speed` times the wall clock, shared by Gamma and the bot
    (TOUCHTRADER_MARKET_CLOCK, bot/clock.py); it starts `seconds_in` market seconds after a
    window opened at `first_s`."""

    wall0_ms: int
    market0_ms: int
    speed: float
    first_s: int

    @classmethod
    def into_window(cls, speed: float, seconds_in: int) -> MarketClock:
        wall0 = int(time.time() * 1000)
        opened = wall0 // (WINDOW_S * 1000) * (WINDOW_S * 1000)
        return cls(wall0, opened + seconds_in * 1000, speed, opened // 1000)

    def now_ms(self) -> int:
        return self.market0_ms + round((time.time() * 1000 - self.wall0_ms) * self.speed)

    @property
    def env(self) -> str:
        return f"{self.wall0_ms}:{self.market0_ms}:{self.speed}"


@dataclass
class LiveVenue:
    """The servers of one test (None: not started), and the markets added to the CLOB."""

    clob: ClobServer
    market_ws: WsMarketServer | None = None
    user_ws: WsUserServer | None = None
    prices: PriceServer | None = None
    gamma: GammaServer | None = None
    clock: MarketClock | None = None
    series: str = ""
    markets: list[str] = field(default_factory=list)  # condition ids, as added

    @classmethod
    def start(
        cls,
        *,
        market_ws: bool = False,
        user_ws: bool = False,
        prices: bool = False,
        series: str = "",
        clock: MarketClock | None = None,
    ) -> LiveVenue:
        """The CLOB, and the servers asked for; `series` lists its windows on a local Gamma
        that resolves each 5 market seconds after its end, on `clock`."""
        venue = cls(ClobServer().start(), clock=clock, series=series)
        try:
            if market_ws:
                venue.market_ws = WsMarketServer(venue.clob.exchange).start()
            if user_ws:
                api_key, secret, passphrase = venue.clob.creds
                known = {api_key: (secret, passphrase)}
                venue.user_ws = WsUserServer(venue.clob.exchange, known_keys=known).start()
            if prices:
                venue.prices = PriceServer(creds=PRICE_CREDS).start()
            if series:
                now = (lambda: clock.now_ms() / 1000) if clock else time.time
                venue.gamma = GammaServer(series=[series], clock=now, resolve_after_s=5).start()
        except BaseException:
            venue.stop()
            raise
        return venue

    def stop(self) -> None:
        for server in (self.gamma, self.prices, self.user_ws, self.market_ws, self.clob):
            if server is not None:
                server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- markets ---------------------------------------------------------------------------------
    def add_market(
        self,
        condition: str = CONDITION,
        tokens: tuple[str, str] = (UP, DOWN),
        *,
        up: tuple[float, float] = (0.45, 0.47),
        down: tuple[float, float] | None = None,
        end_in_s: float = 1800,
        question: str = "Will BTC be up?",
        **listing: Any,
    ) -> None:
        """A market on the CLOB with 100 shares at the UP bid and ask `up` and at the DOWN bid
        and ask `down` (the mirror of `up` unless given), on the market websocket too when it
        runs. `listing`: more of the CLOB's market fields (slug, fee_rate, tick, end_date_iso)."""
        listing.setdefault("end_date_iso", end_in(end_in_s))
        self.clob.add_market(condition, tokens, question=question, **listing)
        self.markets.append(condition)
        bid, ask = up
        books = {tokens[0]: (bid, ask), tokens[1]: down or (round(1 - ask, 6), round(1 - bid, 6))}
        for token, (b, a) in books.items():
            for book in (self.clob, self.market_ws):
                if book is not None:
                    book.set_book(token, bids=[(b, 100)], asks=[(a, 100)])

    def add_window(self, condition: str, tokens: tuple[str, str], coin: str, start_s: int) -> None:
        """`coin`'s 5-minute up-or-down window that opened at `start_s` (its slug says when)."""
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_s + WINDOW_S))
        slug = f"{coin}-updown-5m-{start_s}"
        self.add_market(
            condition, tokens, question=f"{coin.upper()} Up or Down?", slug=slug, end_date_iso=end
        )

    def slug(self, n: int) -> str:
        """The series' window `n` after the one open at the clock's start."""
        assert self.clock is not None
        return f"{self.series}-{self.clock.first_s + n * WINDOW_S}"

    def condition(self, n: int) -> str:
        assert self.gamma is not None
        return self.gamma.condition_id(self.slug(n))

    def list_windows(self, count: int, **market: Any) -> None:
        """The CLOB lists the first `count` windows Gamma announces (see add_market)."""
        assert self.gamma is not None
        assert self.clock is not None
        for n in range(count):
            end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock.first_s + (n + 1) * WINDOW_S))
            tokens = self.gamma.token_ids(self.slug(n))
            self.add_market(self.condition(n), tokens, question=self.slug(n), end_date_iso=end, **market)

    # -- the bot ---------------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The bot.toml every venue test starts from: fast state writes, the venue's servers,
        no stop-loss or take-profit, and BuyOnce (tests/live_strategies.py)."""
        polymarket: dict[str, Any] = {"host": self.clob.url}
        if self.gamma is not None:
            polymarket.update(gamma_host=self.gamma.url, series=[self.series])
        else:
            polymarket["markets"] = list(self.markets)
        polymarket["poll_interval_s"] = 0.2
        if self.user_ws is not None:
            polymarket["user_ws_url"] = self.user_ws.url
        if self.prices is not None:
            polymarket["price_ws_url"] = self.prices.url
        return {
            "heartbeat_s": 0.5,
            "state_refresh_s": 0.2,
            "polymarket": polymarket,
            "exits": {"stop_loss_pct": 0, "take_profit_pct": 0},
            "strategies": {"enabled": [BUY_ONCE]},
        }

    def write_home(self, home: Path, **overrides: Any) -> str:
        """Write home/bot.toml: `config()` with `overrides` merged in; `market_feed =
        "websocket"` points the bot at the venue's market websocket. Returns the text."""
        config = _merged(self.config(), overrides)
        if config["polymarket"].get("market_feed") == "websocket" and self.market_ws is not None:
            config["polymarket"].setdefault("market_ws_url", self.market_ws.url)
        text = toml(config)
        home.mkdir(parents=True, exist_ok=True)
        (home / "bot.toml").write_text(text)
        return text

    def bot(self, home: Path, mode: str, *, wallet: bool = True, key: str = KEY) -> VenueBot:
        """`bot run --mode MODE` on home's bot.toml. With a `wallet`, the private key and the
        CLOB's API creds are in its environment; without one, only the price stream's creds
        (when it runs). On a market clock, the clock too."""
        bot = VenueBot(home, mode)
        if wallet:
            api_key, secret, passphrase = self.clob.creds
            bot.env.update(
                POLYMARKET_PRIVATE_KEY=key,
                POLYMARKET_API_KEY=api_key,
                POLYMARKET_API_SECRET=secret,
                POLYMARKET_API_PASSPHRASE=passphrase,
            )
            bot.secrets = [KEY.removeprefix("0x"), secret, passphrase]
        elif self.prices is not None:
            names = ("POLYMARKET_API_KEY", "POLYMARKET_API_SECRET", "POLYMARKET_API_PASSPHRASE")
            bot.env.update(zip(names, PRICE_CREDS, strict=True))
        if self.clock is not None:
            bot.env[MARKET_CLOCK_ENV] = self.clock.env
        return bot


class VenueBot(BotProcess):
    """`bot run` in DRY_RUN or LIVE; `secrets`, what must never reach its files or output."""

    def __init__(self, home: Path, mode: str) -> None:
        super().__init__(home, None, "--mode", mode)
        self.secrets: list[str] = []

    def connection(self, conn_id: str) -> dict[str, Any]:
        """The row of status.json `feed_connections` with this id."""
        return next(c for c in self.status()["feed_connections"] if c["id"] == conn_id)


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def toml(table: dict[str, Any], name: str = "") -> str:
    """A bot.toml's text: a table's values, then its sub-tables as [name.sub]."""
    lines = [f"[{name}]"] if name else []
    lines += [f"{k} = {_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    text = "\n".join(lines) + "\n"
    for key, value in table.items():
        if isinstance(value, dict):
            text += toml(value, f"{name}.{key}" if name else key)
    return text


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)

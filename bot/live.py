"""LIVE and DRY_RUN on Polymarket: the same engine over the venue's order books.

Start-up, before anything trades:
    1 secrets from the environment only (LIVE needs POLYMARKET_PRIVATE_KEY; DRY_RUN signs
      with it when present and logs unsigned payloads otherwise)
    2 every configured market validated against the API, every start (never a cache):
      it exists, accepts orders, is open; tick, minimum size, neg-risk and fees read
    3 LIVE: reconciliation with the venue (`reconcile`): the journal's open orders are
      tracked again, fills and cancels the bot missed are booked, and anything that cannot
      be explained (an open order the journal lacks, a token balance that differs from the
      journal's position) puts the bot in HALTED with state/reconciliation.json
    4 the engine runs as in PAPER, with the live book feed and the live (or dry-run) venue;
      the books are read on the feed's own thread (bot/feeds/background.py), LIVE's orders
      and trades on the poll's (bot/venues/polymarket/poll.py) and, with `venue_heartbeat`,
      the dead-man heartbeat is sent from its own timer thread (`VenueHeartbeat`), so a slow
      venue delays neither the engine nor the heartbeat
Every start-up read waits out a busy venue (425, the weekly engine restart), bounded by
`BUSY_LIMIT_S` (bot/venues/polymarket/pacing.py).

The vendor client is imported only here, through bot.venues.polymarket, so `bot status`,
the paper venue and backtests never pay for it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import Config, ConfigError
from bot.errors import StartupRefused, VenueError, VenueUnavailable
from bot.layout import DRY_RUN_ORDERS, RECONCILIATION, SCHEMA_VERSION
from bot.model import ONE, Fill, Micros, Mode, Outcome, iso, now_ms
from bot.state import mask_wallet
from bot.statefiles import write_json
from bot.supervisor import Supervisor
from bot.venues.polymarket.pacing import BUSY_LIMIT_S, while_busy

if TYPE_CHECKING:
    from bot.clock import RealtimeClock
    from bot.feeds.background import BackgroundFeed
    from bot.feeds.polymarket import PolymarketFeed
    from bot.feeds.polymarket_stream import PolymarketStreamFeed
    from bot.feeds.rolling import RollerSide
    from bot.markets.discovery import Discovery
    from bot.model import Market, VenueEvent
    from bot.venues.base import Venue
    from bot.venues.dry_run import DryRunVenue
    from bot.venues.polymarket import PolymarketVenue

log = logging.getLogger("bot")

VENUE_HEARTBEAT_S = 3.0  # the venue cancels everything after ~10 s without one


class VenueHeartbeat:
    """The venue's dead-man switch, fed from a timer thread of its own.

    `send` runs every `interval_s` seconds measured from the start of the previous beat,
    whatever the engine is doing. A failed beat is kept for the engine (`failures()`), which
    books it as a venue error on its own thread; the timer goes on."""

    def __init__(self, send: Callable[[], None], interval_s: float = VENUE_HEARTBEAT_S) -> None:
        self._send = send
        self.interval_s = interval_s
        self._failed: deque[VenueError] = deque(maxlen=100)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="venue-heartbeat", daemon=True)
        self.sent = 0

    def start(self) -> VenueHeartbeat:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def failures(self) -> list[VenueError]:
        out = []
        while self._failed:
            out.append(self._failed.popleft())
        return out

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self._send()
                self.sent += 1
            except VenueError as exc:
                self._failed.append(exc)
            except Exception as exc:  # the thread must outlive any surprise; the engine hears of it
                log.exception("venue heartbeat failed")
                self._failed.append(VenueUnavailable(f"venue heartbeat: {type(exc).__name__}: {exc}"))
            next_at = max(next_at + self.interval_s, time.monotonic())
            self._stop.wait(next_at - time.monotonic())


@dataclass
class LiveParts:
    venue: PolymarketVenue | DryRunVenue
    market_venue: PolymarketVenue  # reads books and validates markets
    markets: list[Market]  # validated
    wallet: str
    feed: PolymarketFeed | PolymarketStreamFeed
    discovery: Discovery | None = None  # `series`, or markets named by slug (bot/markets/roller.py)


def build_live(config: Config, logs: Path, environ: dict[str, str] | None = None) -> LiveParts:
    from bot.venues.dry_run import DryRunVenue
    from bot.venues.polymarket import PolymarketCredentials, PolymarketVenue, credentials_from_env

    env = dict(os.environ if environ is None else environ)
    pm = config.polymarket
    if not pm.markets and not pm.series:
        raise ConfigError(
            "polymarket.series or polymarket.markets: list the series (btc-updown-5m) or the"
            " markets (token ids, condition ids, slugs) to trade in bot.toml"
        )
    ids, discovery = _discovery(config)
    credentials: PolymarketCredentials | None
    if config.mode is Mode.LIVE or env.get("POLYMARKET_PRIVATE_KEY"):
        credentials = credentials_from_env(env)
    else:
        credentials = None
    # DRY_RUN without a wallet reads public data with a throwaway key that never signs
    reader_credentials = credentials or PolymarketCredentials("0x" + secrets.token_hex(32))
    reader = PolymarketVenue(
        pm.host,
        credentials=reader_credentials,
        chain_id=pm.chain_id,
        signature_type=pm.signature_type,
        funder=pm.funder or None,
        confirm_timeout_s=pm.confirm_timeout_s,
    )
    try:
        markets = while_busy(lambda: reader.validate_markets(ids)) if ids else []
    except VenueError as exc:
        raise StartupRefused(f"cannot validate markets at {pm.host}: {exc}") from None
    feed = _book_feed(config, reader, markets)
    if config.mode is Mode.LIVE:
        return LiveParts(reader, reader, markets, reader.address, feed, discovery)
    dry = DryRunVenue(
        logs / DRY_RUN_ORDERS,
        reader.markets,
        cash=round(config.paper.starting_balance * ONE),
        credentials=credentials,
        chain_id=pm.chain_id,
        signature_type=pm.signature_type,
        funder=pm.funder or None,
    )
    wallet = reader.address if credentials else "DRY_RUN (no wallet)"
    return LiveParts(dry, reader, markets, wallet, feed, discovery)


def _discovery(config: Config) -> tuple[list[str], Discovery | None]:
    """(token and condition ids, validated on the CLOB at start as before; the Discovery of
    the series and of the markets named by slug, rolled through by bot/markets/roller.py,
    or None). Unknown series or malformed references: ConfigError (exit 2), before any read."""
    pm = config.polymarket
    ids = [m for m in pm.markets if m.strip().isdigit() or m.strip().startswith("0x")]
    slugs = [m for m in pm.markets if m not in ids]
    if not pm.series and not slugs:
        return ids, None
    from bot.markets.client import GammaClient
    from bot.markets.discovery import Discovery
    from bot.markets.series import DiscoveryError

    try:
        discovery = Discovery(
            GammaClient(pm.gamma_host, timeout_s=5.0),
            pm.series,
            slugs,
            lead_ms=round(pm.discovery_lead_s * 1000),
            refresh_ms=round(pm.discovery_refresh_s * 1000),
            resolve_poll_ms=round(pm.resolve_poll_s * 1000),
        )
    except DiscoveryError as exc:
        raise ConfigError(f"polymarket.series: {exc}") from None
    return ids, discovery


def live_books(
    config: Config, live: LiveParts, clock: RealtimeClock, wake: Callable[[], None]
) -> BackgroundFeed | RollerSide:
    """The books the engine reads: the live feed on its own thread (BackgroundFeed) and, with
    a Discovery, the rolling windows around it (bot/feeds/rolling.py), the roller's thread
    started and stopped with the books."""
    from bot.feeds.background import BackgroundFeed

    if live.discovery is None:
        return BackgroundFeed(live.feed, wake, clock.now_ms)
    from bot.feeds.rolling import RollerSide, RollingFeed
    from bot.markets.roller import Roller, clob_check

    pm = config.polymarket
    roller = Roller(
        live.discovery,
        clock.now_ms,
        check=clob_check(live.market_venue),
        wake=wake,
        poll_s=pm.discovery_poll_s,
        gamma_host=pm.gamma_host,
    )
    books = BackgroundFeed(RollingFeed(live.feed, roller, clock.now_ms), wake, clock.now_ms)
    return RollerSide(books, roller, live.venue.add_market, clock.now_ms)


def _book_feed(
    config: Config, reader: PolymarketVenue, markets: list[Market]
) -> PolymarketFeed | PolymarketStreamFeed:
    """`[polymarket] market_feed`: the REST poller, or the market websocket (REST as its
    fallback and for every re-read after a gap)."""
    pm = config.polymarket
    if pm.market_feed == "rest":
        from bot.feeds.polymarket import PolymarketFeed

        return PolymarketFeed(reader, markets, pm.poll_interval_s)
    try:
        import websockets.sync.client  # noqa: F401
    except ImportError:
        raise StartupRefused(
            'polymarket.market_feed = "websocket" needs the websockets package:'
            " pip install 'touchtrader[live]'"
        ) from None
    from bot.feeds.polymarket_stream import PolymarketStreamFeed

    return PolymarketStreamFeed(
        reader, markets, pm.market_ws_url, poll_interval_s=pm.poll_interval_s, silence_s=pm.ws_silence_s
    )


@dataclass
class Reconciliation:
    time: str
    booked: list[str] = field(default_factory=list)  # what the journal missed and now has
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def to_dict(self, venue: str, wallet: str) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "time": self.time,
            "venue": venue,
            "wallet": mask_wallet(wallet),
            "status": "OK" if self.ok else "MISMATCH",
            "booked": self.booked,
            "differences": self.differences,
            "how_to_resolve": None
            if self.ok
            else (
                "look at each difference at the venue; cancel or adopt unknown orders there, then"
                " `touch controls/RESET` (bot reset). The bot stays HALTED (no entries) until then."
            ),
        }


class StartupPoll:
    """The start-up poll, on the caller's thread: a busy venue (425, the weekly engine
    restart) is waited out for up to `limit_s`, not skipped."""

    def __init__(self, venue: Venue, limit_s: float) -> None:
        self.venue = venue
        self.limit_s = limit_s

    def poll(self, now_ms: int) -> list[VenueEvent]:
        return list(while_busy(lambda: self.venue.poll(now_ms), self.limit_s))

    def ready(self) -> bool:
        return False


def reconcile(
    supervisor: Supervisor,
    commit: Callable[[], None],
    venue: PolymarketVenue,
    state_dir: Path,
    host: str,
    busy_limit_s: float = BUSY_LIMIT_S,
) -> Reconciliation:
    """Compare the venue with the journal before the first order (LIVE), through the
    supervisor's parts (order manager, journal, portfolio); differences halt. `commit`: the
    engine's. Every read waits a busy venue out (`while_busy`, at most `busy_limit_s` each),
    as market validation does."""
    now = supervisor.market_time.clock.now_ms()
    result = Reconciliation(time=iso(now_ms()))
    orders, journal = supervisor.orders, supervisor.journal
    _take_back_markets(supervisor, venue, now, busy_limit_s)
    venue.restore(list(orders.orders.values()))
    before = {o.order_id: (o.status, o.filled) for o in orders.orders.values()}
    known_fills = journal.fill_count()
    orphans: list[Fill] = []
    orders.on_orphan_fill = orphans.append
    # missed fills and cancels are booked here; a 425 (engine restart) is waited out, bounded
    orders.poller, poller = StartupPoll(venue, busy_limit_s), orders.poller
    try:
        orders.poll(supervisor.mode, now)
    finally:
        orders.poller = poller
    result.differences += [orphan_difference(fill) for fill in orphans]
    fills_now = journal.fill_count()
    if fills_now > known_fills:
        result.booked.append(f"{fills_now - known_fills} fills the journal did not have")
    for order_id, (status, filled) in before.items():
        order = orders.orders.get(order_id)
        if order is None:
            result.booked.append(f"order {order_id} left the book while the bot was down")
        elif order.filled != filled or order.status is not status:
            result.booked.append(f"order {order_id} now {order.status.value}, {order.filled / ONE:g} filled")
    for row in while_busy(venue.untracked_open_orders, busy_limit_s):
        result.differences.append(
            {
                "kind": "UNKNOWN_OPEN_ORDER",
                "order_id": row.order_id,
                "market": row.market,
                "action": row.action.value,
                "price": row.price / ONE,
                "size": row.size / ONE,
                "detail": "open at the venue, not in the journal",
            }
        )
    # every configured market, journal history or not (a fresh home, a market just added):
    # shares the journal has never seen are a difference, not ignored
    for market_id in [info.condition_id for info in venue.markets]:
        lost = _lost_side(journal.winning_outcome(market_id))
        for outcome in (Outcome.UP, Outcome.DOWN):
            position = supervisor.portfolio.positions.get((market_id, outcome))
            ours: Micros = position.shares if position else 0
            if position is None and outcome is lost:
                continue  # settled at 0 and closed; the wallet keeps the tokens until redeemed
            theirs = while_busy(functools.partial(venue.token_balance, market_id, outcome), busy_limit_s)
            if ours != theirs:
                result.differences.append(
                    {
                        "kind": "POSITION_MISMATCH",
                        "market": market_id,
                        "side": outcome.value,
                        "journal_shares": ours / ONE,
                        "venue_shares": theirs / ONE,
                        "detail": "the venue holds a different number of shares than the journal",
                    }
                )
    write_json(state_dir / RECONCILIATION, result.to_dict(host, venue.address))
    orders.on_orphan_fill = functools.partial(
        report_orphan_fill, supervisor, state_dir=state_dir, host=host, wallet=venue.address
    )
    if result.booked:
        supervisor.activity.add(
            now, "BALANCE_CHECK", "System", "reconciliation booked: " + "; ".join(result.booked)
        )
    if not result.ok:
        supervisor.halt(
            now,
            f"reconciliation: {len(result.differences)} differences with the venue,"
            " see state/reconciliation.json",
        )
    commit()
    return result


def _lost_side(said: str) -> Outcome | None:
    """The losing side of a market the journal saw resolve (None: not resolved, or 50/50)."""
    return Outcome(said).other if said in (Outcome.UP.value, Outcome.DOWN.value) else None


def _take_back_markets(supervisor: Supervisor, venue: PolymarketVenue, now: int, busy_limit_s: float) -> None:
    """Markets the journal holds a position or an open order in that the venue was not
    configured with (a rolling window held at a restart, open or ended since): read from the
    CLOB by condition id and made known to the venue, so that their orders are tracked again and
    their token balances compared below like any other; the engine's market gets its token ids
    back (what its resolution and redemption are booked by). One that cannot be read is said in a
    BALANCE_CHECK line and its position left as it is (never dropped, never guessed)."""
    known = {info.condition_id for info in venue.markets}
    held = {p.market_id for p in supervisor.portfolio.positions.values()}
    held |= {o.market_id for o in supervisor.orders.orders.values() if o.status.is_open}
    for market_id in sorted(held - known):
        try:
            info = while_busy(functools.partial(venue.load_market, market_id), busy_limit_s)
        except (ConfigError, VenueError) as exc:
            text = f"held at the restart, not compared with the venue: {exc}"
            supervisor.activity.add(now, "BALANCE_CHECK", market_id, text, error=True)
            continue
        venue.add_market(info)
        restored = supervisor.orders.markets.get(market_id)  # the journal keeps no token ids
        if restored is not None and restored.token_ids is None:
            supervisor.orders.markets[market_id] = dataclasses.replace(
                restored, token_ids=info.market.token_ids
            )
        supervisor.activity.add(
            now, "BALANCE_CHECK", market_id, "held at the restart: taken back, compared with the venue"
        )


def orphan_difference(fill: Fill) -> dict[str, Any]:
    return {
        "kind": "ORPHAN_FILL",
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "market": fill.market_id,
        "side": fill.outcome.value,
        "action": fill.action.value,
        "price": fill.price / ONE,
        "shares": fill.shares / ONE,
        "time": iso(fill.ts_ms),
        "detail": "a venue fill for an order the journal does not know; a BUY is booked as an orphan"
        " position, a SELL of shares the books do not hold is not booked",
    }


def report_orphan_fill(
    supervisor: Supervisor, fill: Fill, *, state_dir: Path, host: str, wallet: str
) -> None:
    """A fill for an order nobody knows, while trading: listed in state/reconciliation.json
    beside what start-up found, and the bot goes HALTED until an operator looks."""
    path = state_dir / RECONCILIATION
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        earlier = {}
    result = Reconciliation(
        time=iso(now_ms()),
        booked=list(earlier.get("booked") or []),
        differences=[*(earlier.get("differences") or []), orphan_difference(fill)],
    )
    write_json(path, result.to_dict(host, wallet))
    supervisor.halt(
        fill.ts_ms,
        f"reconciliation: fill {fill.fill_id} for order {fill.order_id} the journal did not know,"
        " see state/reconciliation.json",
    )

"""Runs the bot: the home, the lock, the journal, the feed and the venue of the mode, then
the engine built by bot/wiring.py (the one place that wires parts).

Start-up order: folders → single-instance lock → refuse on EMERGENCY_STOP → journal and
session → restore state from the journal → market feed (continuing the saved simulated
market) → engine. Shutdown writes the final state and releases the lock.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import orjson

from bot import __version__, controls, preflight, startup, storage
from bot.clock import Inbox, RealtimeClock, market_clock_from_env
from bot.config import Config
from bot.controls import Control, Watcher
from bot.engine import DECIDE_EVERY_MS, Engine
from bot.errors import StartupRefused, StorageError
from bot.feeds import Feed
from bot.feeds.simulated import SimulatedMarket
from bot.feeds.tape import TapeWriter
from bot.journal import Journal, Restored
from bot.layout import BOT_LOG, Paths
from bot.logfiles import text_handler
from bot.model import Mode, now_ms, to_float, to_micros, usd
from bot.resolution import collect_redeemed
from bot.startup import HomeLock
from bot.strategies import Strategy, build_strategies
from bot.venues.base import SimulatesFills, Venue
from bot.venues.paper import PaperVenue
from bot.venues.polymarket.pacing import while_busy
from bot.wiring import build_engine

if TYPE_CHECKING:
    from bot.redemption.worker import AutoRedeem
    from bot.venues.polymarket import PolymarketVenue
    from bot.venues.polymarket.poll import BackgroundPoll

log = logging.getLogger("bot")

MARKET_ORDER_MIN = 1_000_000  # Polymarket's smallest market order: $1 notional


@dataclass
class RunOptions:
    home: Path
    config: Config
    quiet: bool = False
    fresh: bool = False  # move the old journal, state files and tapes aside first


def prepare_home(home: Path) -> Paths:
    """Folders created, and every file and folder of the home the right kind (bot/preflight.py)."""
    preflight.prepare(home)
    return Paths(home)


def refuse_on_emergency(paths: Paths) -> None:
    for name in controls.files_for(Control.EMERGENCY_STOP):
        if os.path.lexists(paths.controls / name):
            raise StartupRefused(
                f"controls/{name} is present: the bot was emergency-stopped."
                f" Check state/status.json, then clear it with `rm {paths.controls / name}`"
                " (or `bot resume --clear-emergency`) and start again"
            )


def setup_logging(paths: Paths, quiet: bool, config: Config | None = None) -> None:
    logger = logging.getLogger("bot")
    logger.setLevel(logging.INFO)
    for old in logger.handlers:
        old.close()  # a console's summary thread ends with it
    logger.handlers.clear()
    cfg = config or Config()
    file_handler = text_handler(paths.logs / BOT_LOG, cfg.logs.max_bytes, cfg.logs.keep)
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    logger.addHandler(file_handler)
    if not quiet:
        from bot.console import ConsoleHandler

        logger.addHandler(ConsoleHandler(sys.stdout, paths.state, cfg.console_summary_s))
    logger.propagate = False


def run(options: RunOptions) -> str:
    """Run the bot until it is stopped; return why it stopped."""
    config = options.config
    if config.mode is Mode.BACKTEST:
        raise StartupRefused("BACKTEST runs through `bot backtest DATA`, not `bot run`")
    journal: Journal | None = None
    lock: HomeLock | None = None
    started = [False]  # set when the engine's loop begins: later errors are not start-up's
    try:
        paths = prepare_home(options.home)
        lock = HomeLock(paths)
        lock.acquire()
        stale = [
            *preflight.remove_stale_temp(paths.state),
            *preflight.remove_stale_temp(paths.controls),
            *preflight.remove_stale_temp(paths.inbox),
        ]
        refuse_on_emergency(paths)
        setup_logging(paths, options.quiet, config)
        if stale:
            log.info("removed %d temporary file(s) left by a killed run: %s", len(stale), ", ".join(stale))
        strategies = build_strategies(config.strategies.enabled, config.strategies.params)
        archived = startup.archive(paths) if options.fresh else None
        reserve = storage.Reserve(paths.state)
        reserve.create()
        storage.probe(paths.logs)
        journal = startup.open_journal(paths)
        lock.journal = startup.identity(paths.state / startup.JOURNAL_NAME)
        return _run(paths, config, journal, strategies, lock, reserve, archived, started)
    except (OSError, sqlite3.Error, StorageError) as exc:
        what = storage.describe(exc)
        if started[0] or what is None:
            raise
        raise StartupRefused(
            f"cannot write in {options.home}: {what}; free some space or fix the permissions,"
            " then start again"
        ) from None
    finally:
        if journal is not None:
            journal.close()
        if lock is not None:
            lock.release()


@dataclass
class Market:
    """What the mode trades on: the venue, its feed, the wallet shown, and the clock's start."""

    venue: Venue  # PaperVenue, DryRunVenue or PolymarketVenue (bot/venues/)
    feed: Feed  # the simulated market, or the live feed read on its own thread
    clock: RealtimeClock
    wallet: str
    start_ms: int
    live_from_ms: int

    def polymarket(self) -> PolymarketVenue:
        """LIVE: the venue, which is then Polymarket's (its redemptions, heartbeats, reads)."""
        from bot.venues.polymarket import PolymarketVenue

        if not isinstance(self.venue, PolymarketVenue):
            raise TypeError(f"LIVE needs the Polymarket venue, not {type(self.venue).__name__}")
        return self.venue


class Background:
    """The run's threads (control watcher, book reads, venue heartbeat, order poll,
    redemption): started once the engine is ready, stopped in the same order at the end."""

    def __init__(self) -> None:
        self.threads: list[Any] = []  # each has start() and stop()

    def add(self, thread: Any) -> None:
        if thread is not None:
            self.threads.append(thread)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        for thread in self.threads:
            with suppress(Exception):
                thread.stop()


def _run(
    paths: Paths,
    config: Config,
    journal: Journal,
    strategies: list[Strategy],
    lock: HomeLock,
    reserve: storage.Reserve,
    archived: Path | None,
    started: list[bool],
) -> str:
    mode = config.mode
    wall = now_ms()
    restored = journal.restore(mode)
    clock_start = max(wall, restored.clock_ms or 0) if mode is Mode.PAPER else 0
    inbox = Inbox()  # what the watcher, a background feed and the signal handlers wake
    market = _market(config, journal, paths, restored, clock_start, inbox)
    journal.start_session(mode, __version__, os.getpid(), config.to_dict(), wall)
    paper = market.venue if isinstance(market.venue, SimulatesFills) else None
    if paper is not None:  # a simulated exchange: its books are the journal's
        holdings = {(p.market_id, p.outcome): p.shares for p in restored.positions}
        paper.resume_books(
            journal.session_id, restored.cash, restored.open_orders, holdings, restored.markets
        )
    tape = TapeWriter(
        tape_path(paths, journal.session_id), source=f"{mode.value} session {journal.session_id}"
    )
    sender, alerts = _alerts(config, paths)
    engine = build_engine(
        config=config,
        paths=paths,
        journal=journal,
        venue=market.venue,
        feed=market.feed,
        clock=market.clock,
        inbox=inbox,
        decide_every_ms=0 if mode is Mode.PAPER else DECIDE_EVERY_MS,
        strategies=strategies,
        restored=restored,
        start_ms=market.start_ms,
        wallet=market.wallet,
        pid=os.getpid(),
        live_from_ms=market.live_from_ms,
        tape=tape,
        stale_feed_s=None if mode is Mode.PAPER else config.polymarket.stale_feed_s,
        # LIVE exits are market orders: a ~$1 notional minimum, not 5 shares
        exit_min_notional=MARKET_ORDER_MIN if mode is Mode.LIVE else None,
        reserve=reserve,
        lock=lock,
        alerts=alerts,
        inbox_files=True,
    )
    engine.activity.monotonic = True
    if engine.intake is not None:
        engine.intake.start()
    background = Background()
    background.add(Watcher(paths.controls, inbox.wake))
    background.add(Watcher(paths.inbox, inbox.wake))  # forecasts and order intents (bot/intake.py)
    if mode is not Mode.PAPER:
        background.add(market.feed)  # the book reads
    chores = _chores(config, engine, journal, market, background)
    if mode is Mode.LIVE:
        background.add(_live_startup(config, engine, market, paths, inbox))
    elif not journal.has_deposit(mode):
        amount = to_micros(round(config.paper.starting_balance, 6))
        engine.portfolio.deposit(amount, market.start_ms, f"{mode.value.lower()} starting balance")
        if paper is not None:
            paper.deposit(amount)
    chores()
    _announce(engine, config, strategies, restored, market, journal, archived)
    engine.commit()
    background.start()
    if sender is not None:
        sender.start()
    previous = _install_signal_handlers(inbox)
    reason = "stopped"
    try:
        started[0] = True
        reason = engine.run(on_heartbeat=chores) or "stopped"
    except Exception as exc:  # leave a readable final state, then re-raise
        reason = f"crashed: {type(exc).__name__}: {exc}"
        with suppress(Exception):
            engine.activity.add(engine.clock.now_ms(), "ERROR", "System", reason)
        raise
    finally:
        background.stop()
        _restore_signal_handlers(previous)
        _shut_down(engine, journal, tape, chores, reason)
        if sender is not None:  # the last status.json stopped it (Alerts.final), unless it failed
            sender.stop()
    return reason


def _alerts(config: Config, paths: Paths) -> tuple[Any, Any]:
    """[alerts]: the sender thread (bot/webhooks.py) and the engine's side (bot/notify.py),
    or (None, None) when no destination has its environment variable set."""
    if not config.alerts.events:
        return None, None
    from bot.notify import Alerts
    from bot.webhooks import Sender, destinations

    if not config.alerts.variables():
        return None, None
    targets, warnings = destinations(config.alerts, os.environ)
    for warning in warnings:
        log.warning("alerts: %s", warning)
    if not targets:
        return None, None
    sender = Sender(
        targets, paths.logs, config.alerts, rotate_bytes=config.logs.max_bytes, rotate_keep=config.logs.keep
    )
    label = f"{config.mode.value} {paths.home.name}"
    log.info("alerts: %s", ", ".join(f"{t.service} ({t.host})" for t in targets))
    stale_s = None if config.mode is Mode.PAPER else config.polymarket.stale_feed_s  # as the order gate
    return sender, Alerts(
        config.alerts, label, sender.submit, sender.stats, settle=sender.stop, stale_feed_s=stale_s
    )


def _market(
    config: Config, journal: Journal, paths: Paths, restored: Restored, start_ms: int, inbox: Inbox
) -> Market:
    """PAPER: the simulated market (continued from the journal) and the paper venue. DRY_RUN and
    LIVE: Polymarket's venue, and its books read on their own thread, waking the engine."""
    if config.mode is Mode.PAPER:
        feed = _market_feed(config, journal, restored.clock_ms, start_ms, restored)
        # a fresh market trades from its first tick; a resumed one books the downtime first
        live_from = start_ms if restored.clock_ms else min(start_ms, feed.peek_ms())
        clock = RealtimeClock(start_ms, config.speed)
        return Market(PaperVenue(config.mode), feed, clock, config.wallet or "PAPER", start_ms, live_from)
    from bot.live import build_live, live_books

    live = build_live(config, paths.logs)
    # after the slow start-up: the clock starts here (a test server's clock: bot/clock.py)
    clock = market_clock_from_env(os.environ) or RealtimeClock(now_ms(), 1.0)
    start = clock.now_ms()
    books = live_books(config, live, clock, inbox.data_ready)  # rolling windows: bot/feeds/rolling.py
    from bot.feeds import fair_feed as underlying  # the underlying's price and the fair value on each tick

    feed = underlying.build(
        config, books, live.market_venue, live.markets, inbox.data_ready, clock.now_ms, dict(os.environ)
    )
    return Market(live.venue, feed, clock, live.wallet, start, start)


def _chores(
    config: Config, engine: Engine, journal: Journal, market: Market, background: Background
) -> Callable[[], None]:
    """The run's chores at every heartbeat, and once more at the end."""
    mode = config.mode
    live = market.polymarket() if mode is Mode.LIVE else None
    auto_redeem = _auto_redeem(config, journal, live) if live is not None else None
    venue_beat = None
    if live is not None and config.polymarket.venue_heartbeat:
        from bot.live import VenueHeartbeat

        venue_beat = VenueHeartbeat(live.send_heartbeat)
    background.add(venue_beat)
    background.add(auto_redeem.worker if auto_redeem is not None else None)
    portfolio, orders = engine.portfolio, engine.orders
    recording: Any = engine.feed  # the RecordingFeed around the market (bot/feeds/replay.py)
    if hasattr(market.feed, "attach"):  # the rolling windows' DISCOVERY lines (bot/feeds/rolling.py)
        market.feed.attach(engine.activity, list(engine.markets.values()))

    def chores() -> None:
        if isinstance(market.feed, SimulatedMarket):  # PAPER
            journal.set_meta("paper_market", orjson.dumps(market.feed.snapshot()).decode())
        elif venue_beat is not None:  # the beats go out on their own thread; failures land here
            for exc in venue_beat.failures():
                orders.venue_failed(exc, engine.last_event_ms)
        if live is not None:  # won positions redeemed (by hand, or by auto_redeem) since the last look
            collect_redeemed(portfolio, journal, live.token_balance_of, orders.apply, engine.now_ms())
        if auto_redeem is not None:
            auto_redeem.on_heartbeat(portfolio.positions.values(), engine.now_ms(), engine.activity)
        recording.maybe_flush()
        for ts, market_id, text in getattr(market.feed, "notes", list)():  # fair value found or lost
            engine.activity.add(ts, "PRICE_FEED", market_id, text)
        for ts, market_id, text in getattr(market.feed, "book_notes", list)():  # a book's gap and its healing
            engine.activity.add(ts, "BOOK_FEED", market_id, text)
        for ts, market_id, text in getattr(market.feed, "refused_resolutions", list)():  # winner unknown
            engine.activity.add(ts, "MARKET_RESOLVED", market_id, text, error=True)

    return chores


def _live_startup(
    config: Config, engine: Engine, market: Market, paths: Paths, inbox: Inbox
) -> BackgroundPoll:
    """LIVE before the first order: redeemed wins booked, the venue's balance taken as the truth,
    the books reconciled with the venue; then the order and trade poll (returned, not started).
    Each start-up read waits out a busy venue (425), bounded."""
    from bot.live import reconcile
    from bot.venues.polymarket.poll import BackgroundPoll

    venue, orders = market.polymarket(), engine.orders
    collect_redeemed(
        engine.portfolio,
        engine.journal,
        lambda t: while_busy(lambda: venue.token_balance_of(t)),
        orders.apply,
        market.start_ms,
    )
    _book_venue_balance(engine, venue, market.start_ms)
    reconcile(engine.supervisor, engine.commit, venue, paths.state, config.polymarket.host)
    # from here on the venue's orders and trades are read on a thread of their own
    poller: Any = BackgroundPoll(venue, inbox.data_ready, config.polymarket.poll_interval_s)
    pm = config.polymarket
    if pm.user_channel:  # fills as they happen from the user websocket, REST as the backstop
        from bot.venues.polymarket.user_channel import streamed

        poller = streamed(poller, venue, pm.user_ws_url, inbox.data_ready, pm.ws_silence_s)
        more = getattr(market.feed, "more_connections", None)
        if more is not None:
            more.append(poller.channel.health_row)
    orders.poller = poller
    return poller


def _announce(
    engine: Engine,
    config: Config,
    strategies: list[Strategy],
    restored: Restored,
    market: Market,
    journal: Journal,
    archived: Path | None,
) -> None:
    """BOT_STARTED (with what was restored) and BALANCE_CHECK, venue against journal."""
    portfolio, start_ms = engine.portfolio, market.start_ms
    resumed = f", resumed session {journal.session_id - 1}'s state" if restored.clock_ms else ""
    if archived is not None:
        resumed += f", started fresh (the old files are in state/{archived.name}/)"
    engine.activity.add(
        start_ms,
        "BOT_STARTED",
        "System",
        f"touchtrader {__version__} pid {os.getpid()} mode {config.mode.value} speed {config.speed:g}x"
        f" strategies {', '.join(s.name for s in strategies)}{resumed}",
        restored={
            "balance": to_float(portfolio.cash),
            "positions": sorted(
                [p.market_id, p.outcome.value, to_float(p.shares)] for p in restored.positions
            ),
            "open_orders": sorted(o.order_id for o in restored.open_orders),
        },
    )
    engine.activity.add(
        start_ms,
        "BALANCE_CHECK",
        "System",
        f"Balance: {usd(while_busy(market.venue.balance))} (venue), {usd(portfolio.cash)} (journal);"
        f" {len(portfolio.positions)} positions, {len(engine.orders.orders)} open orders",
    )


def _shut_down(
    engine: Engine, journal: Journal, tape: TapeWriter, chores: Callable[[], None], reason: str
) -> None:
    """The last words: BOT_STOPPED, the final chores and commit, the session's end, the final
    state files; each step on its own, so a full disk refusing one does not skip the others."""
    with suppress(Exception):
        engine.activity.add(engine.clock.now_ms(), "BOT_STOPPED", "System", reason)
        chores()
        engine.commit()
    with suppress(Exception):  # a full disk may refuse this; the files still say why
        journal.stop_session(now_ms(), reason)
    with suppress(Exception):
        engine.write_final(reason)
    with suppress(Exception):
        engine.activity.close()
    with suppress(Exception):
        tape.close()


def _auto_redeem(config: Config, journal: Journal, venue: PolymarketVenue) -> AutoRedeem | None:
    """`[polymarket] auto_redeem = true`: the redemption job on its own thread (bot/redemption/).
    A wallet that cannot redeem stops the start with a one-line ConfigError (exit 2)."""
    if not config.polymarket.auto_redeem:
        return None
    from bot.redemption.job import Redeemer, from_row
    from bot.redemption.senders import sender_for
    from bot.redemption.worker import AutoRedeem, RedemptionWorker
    from bot.venues.polymarket import credentials_from_env

    sender = sender_for(config.polymarket, credentials_from_env(os.environ).private_key, os.environ)
    redeemer = Redeemer(sender, [from_row(r) for r in journal.redemption_rows()])
    worker = RedemptionWorker(redeemer, now_ms, config.polymarket.redeem_interval_s)

    def neg_risk_of(market_id: str) -> bool:
        info = venue.market_info(market_id)
        return bool(info is not None and info.neg_risk)

    return AutoRedeem(worker, journal, neg_risk_of)


def _book_venue_balance(engine: Engine, venue: Venue, ts_ms: int) -> None:
    """LIVE: the venue's collateral is the truth; the ledger records any difference."""
    balance = while_busy(venue.balance)
    gap = balance - engine.portfolio.cash
    if gap:
        kind = "DEPOSIT" if not engine.journal.has_deposit(Mode.LIVE) else "VENUE_ADJUSTMENT"
        engine.portfolio.cash += gap
        engine.journal.add_cash(ts_ms, Mode.LIVE, kind, gap, "venue balance at start")
        engine.activity.add(
            ts_ms, "BALANCE_CHECK", "System", f"venue balance {usd(balance)}: ledger {kind} {usd(gap)}"
        )


def tape_path(paths: Paths, session_id: int) -> Path:
    """Where a session records the market events it saw (see logs/README.md)."""
    return paths.tape(session_id)


def _market_feed(
    config: Config, journal: Journal, clock_ms: int | None, start_ms: int, restored: object
) -> SimulatedMarket:
    saved = journal.get_meta("paper_market")
    if saved:
        feed = SimulatedMarket.restore(config.market, orjson.loads(saved))
        if feed is not None:
            if clock_ms is not None:
                for _ in feed.events(clock_ms):  # already processed before the restart
                    pass
            return feed
        busy = getattr(restored, "positions", None) or getattr(restored, "open_orders", None)
        if busy:
            raise StartupRefused(
                "the [market] settings changed while this home has open positions or orders"
                " in the old simulated market: restore the old settings and FLATTEN first,"
                " or use a new --home"
            )
    return SimulatedMarket(config.market, start_ms)


def _install_signal_handlers(inbox: Inbox) -> dict[int, object]:
    previous: dict[int, object] = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        inbox.request_stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(ValueError):  # not the main thread
            previous[signum] = signal.signal(signum, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, object]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)  # type: ignore[arg-type]

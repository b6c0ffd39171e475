"""The wiring, written once: `build_engine` builds the engine and every part it drives from
the configuration, a venue (whose mode is the run's), a market feed and a clock. `bot run`
(bot/app.py), backtests (bot/backtest.py), the benchmarks and the tests all build engines
here, so they run the same parts connected the same way.

Each part is given what it acts on when it is built, in dependency order: the limits holder,
the risk gate, the journal's activity feed and the portfolio, the order manager, the
supervisor (which takes on the order manager's entry gate and venue-error report and the
portfolio's closed-position report), the guard, then the engine. Nothing is patched
afterwards.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.activity import Activity
from bot.breaker import VenueErrorWindow
from bot.clock import Clock, Inbox, MarketTime
from bot.config import Config, ConfigError
from bot.engine import Engine
from bot.exits import policies
from bot.feeds import Feed, reports_dropped, restores_strikes
from bot.feeds.replay import RecordingFeed
from bot.feeds.tape import TapeWriter
from bot.forecasts import Forecasts
from bot.guard import HomeGuard
from bot.intake import STRATEGY as INBOX_STRATEGY
from bot.intake import Intake
from bot.journal import Journal, Restored
from bot.layout import Paths
from bot.model import Micros, now_ms, to_micros
from bot.notify import Alerts
from bot.orders import OrderManager
from bot.portfolio import Portfolio
from bot.risk import RiskGate, SessionLimits
from bot.runtime import CurrentLimits, Limits
from bot.scorecard import Scorecard
from bot.startup import HomeLock
from bot.statefiles import FileWriter
from bot.storage import Reserve
from bot.strategies import Strategy
from bot.strikes import restored_strikes
from bot.supervisor import Supervisor
from bot.venues.base import Venue


def build_engine(
    *,
    config: Config,
    paths: Paths,
    journal: Journal,
    venue: Venue,
    feed: Feed,
    clock: Clock,
    strategies: list[Strategy],
    restored: Restored,
    start_ms: int,
    wallet: str,
    inbox: Inbox | None = None,
    pid: int = 0,
    live_from_ms: int | None = None,
    write_every_change: bool = True,
    decide_every_ms: int = 0,
    operator_controls: bool = True,
    tape: TapeWriter | None = None,
    stale_feed_s: float | None = None,
    exit_min_notional: Micros | None = None,
    reserve: Reserve | None = None,
    lock: HomeLock | None = None,
    alerts: Alerts | None = None,
    inbox_files: bool = False,
) -> Engine:
    """Wire the parts every mode shares around a venue, a feed and a clock.

    `inbox`: the one other threads wake the engine through (made here when not given);
    `operator_controls`: False in a backtest, which no operator steers (no look at
    controls/ before an entry); `tape`: record every event the feed hands over (a refused
    write halts through the guard); `stale_feed_s`: realtime feeds, refuse entries on a book
    older than this; `exit_min_notional`: LIVE exits are market orders with a notional
    minimum; `reserve`, `lock`: the running bot's disk reserve and home lock (bot/guard.py);
    `alerts`: told each committed activity entry and each status.json (bot/notify.py).
    `inbox_files`: take forecasts and order intents from inbox/ (bot/intake.py).
    """
    mode = venue.mode
    unknown = set(config.strategies.exits) - {s.name for s in strategies}
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(f"strategies.exits.{name}: strategy {name!r} is not enabled")
    exit_policies = policies(
        config.exits,
        {s.name: dict(getattr(s, "exits", {})) for s in strategies},
        config.strategies.exits,
    )
    limits = CurrentLimits(
        Limits(
            max_position=to_micros(round(config.risk.max_position_usd, 6)),
            max_session_loss=to_micros(round(config.risk.daily_loss_limit_usd, 6)),
            cap_position=to_micros(round(config.cap_position_usd, 6)),
            cap_session_loss=to_micros(round(config.cap_session_loss, 6)),
            instruments=tuple(config.market.instruments),
            # an order intent from inbox/ is the strategy `inbox`: ADJUST_RISK may name it
            strategies=tuple(s.name for s in strategies) + ((INBOX_STRATEGY,) if inbox_files else ()),
            mode=mode,
        )
    )
    risk = RiskGate(config.risk, limits)
    session = SessionLimits(config.risk)
    activity = Activity(journal, paths.logs, max_bytes=config.logs.max_bytes, files_kept=config.logs.keep)
    activity.restore()
    portfolio = Portfolio(journal, mode, lambda name: exit_policies.get(name) or exit_policies[""])
    portfolio.restore(restored.cash, restored.positions, session.day_start(start_ms))
    markets = {m.market_id: m for m in restored.markets}
    if restores_strikes(feed):  # the fair-value feed (bot/feeds/fair_feed.py)
        feed.restore_strikes(restored_strikes(restored))
    market_names = {m.market_id: m.name for m in restored.markets}
    scorecard = Scorecard([s.name for s in strategies])
    scorecard.restore(journal, mode)
    market_time = MarketTime(clock, clock.now_ms())
    files = FileWriter()

    orders = OrderManager(
        venue=venue,
        journal=journal,
        portfolio=portfolio,
        activity=activity,
        risk=risk,
        markets=markets,
        controls_dir=paths.controls if operator_controls else None,
        on_settled=portfolio.settled,
        on_skip=scorecard.skipped,
        feed_age_ms=_feed_age(feed) if stale_feed_s is not None else None,
        feed_dropped=feed.dropped if reports_dropped(feed) else None,
        stale_feed_ms=round((stale_feed_s or 10.0) * 1000),
        exit_min_notional=exit_min_notional,
    )
    orders.restore(restored.open_orders)
    orders.restore_window_entries(journal.window_entries(mode))
    supervisor = Supervisor(
        orders=orders,
        journal=journal,
        activity=activity,
        portfolio=portfolio,
        limits=limits,
        risk=risk,
        scorecard=scorecard,
        session=session,
        errors=VenueErrorWindow(config.risk.venue_error_limit, config.risk.venue_error_window_s),
        market_time=market_time,
        controls_dir=paths.controls,
        market_names=market_names,
        files=files,
        heartbeat_s=config.heartbeat_s,
        disable_rule=(
            config.risk.disable_losing_strategies,
            config.risk.disable_after_trades,
            config.risk.disable_below_win_rate,
        ),
    )
    guard = HomeGuard(
        supervisor=supervisor,
        activity=activity,
        journal=journal,
        files=files,
        market_time=market_time,
        reserve=reserve,
        lock=lock,
        logs=paths.logs if lock is not None else None,  # a running bot's logs/ is probed too
    )
    forecasts = Forecasts(clock.wall_ms)
    intake = (
        Intake(
            paths=paths,
            mode=mode,
            journal=journal,
            activity=activity,
            orders=orders,
            markets=markets,
            limits=limits,
            forecasts=forecasts,
            market_ms=market_time.now_ms,
        )
        if inbox_files
        else None
    )
    if tape is not None:
        feed = RecordingFeed(feed, tape, restored.markets, on_error=guard.tape_failed)
    engine = Engine(
        paths=paths,
        mode=mode,
        clock=clock,
        market_time=market_time,
        inbox=inbox or Inbox(),
        feed=feed,
        journal=journal,
        activity=activity,
        portfolio=portfolio,
        orders=orders,
        risk=risk,
        limits=limits,
        supervisor=supervisor,
        guard=guard,
        files=files,
        scorecard=scorecard,
        exit_policies=exit_policies,
        strategies=strategies,
        markets=markets,
        market_names=market_names,
        wallet=wallet,
        heartbeat_s=config.heartbeat_s,
        state_refresh_s=config.state_refresh_s,
        speed=config.speed,
        live_from_ms=start_ms if live_from_ms is None else live_from_ms,
        pid=pid,
        write_every_change=write_every_change,
        decide_every_ms=decide_every_ms,
        intake=intake,
        forecasts=forecasts,
    )
    if alerts is not None:
        activity.listeners.append(alerts.on_activity)
        engine.alerts = alerts
    supervisor.restore(journal.runtime())
    return engine


def _feed_age(feed: Feed) -> Callable[[str, int], int | None]:
    """How old a market's last book is, by the wall clock (None: never read)."""

    def age(market_id: str, now: int) -> int | None:
        last = feed.last_update_ms(market_id)  # type: ignore[attr-defined]
        return None if last is None else now_ms() - last

    return age

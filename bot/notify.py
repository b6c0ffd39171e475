"""Which moments deserve a message to a person: alerts made from what the engine already says.

`Alerts` listens to the activity feed (`Activity.listeners`: each committed entry, typed by
bot/sentences.py or the supervisor) and looks at each status.json document the engine writes
(`Engine.alerts`); it never touches the engine's parts. What it finds becomes an `Alert`,
handed to `submit`, which never blocks (bot/webhooks.py queues it for a thread of its own):

    HALTED            the circuit breaker tripped (the reason)
    EMERGENCY_STOP    the EMERGENCY_STOP control was applied (what was cancelled and sold)
    ORDER_UNKNOWN     an order the venue did not confirm, left to reconciliation
    TRADE_FAILED      a trade booked as a fill FAILED on chain
    DAILY_LOSS_LIMIT  the day's realised loss reached the limit: entries stop for the day
    FEED_STALE        a market's book older than stale_feed_s (status.json `feeds`), or an
                      entry refused for it
    DRAWDOWN          equity (cash + marked positions) `drawdown_pct` below its session peak
    DAILY_SUMMARY     balance, P&L, trades, positions: at `summary_at` (HH:MM UTC) or day_end
    CONTROL           any other control applied or refused (opt-in)

The same event for the same market is sent at most once every `repeat_s`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.config import AlertsConfig
from bot.layout import EMERGENCY_STOP
from bot.model import iso, now_ms, to_micros, usd

STALE_LIMIT = "stale_feed"  # the order manager's limit name for a stale book (bot/orders.py)


@dataclass(frozen=True, slots=True)
class Alert:
    event: str
    detail: str
    time: str  # wall clock, ISO UTC
    label: str  # which bot: mode and home folder
    market: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        where = f" {self.market}" if self.market and self.market != "System" else ""
        return f"touchtrader {self.label}: {self.event}{where}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "time": self.time,
            "bot": self.label,
            "market": self.market or None,
            "detail": self.detail,
            "text": self.text,
            "data": self.data,
        }


class Alerts:
    """The engine's side of alerting: cheap, on the engine's thread, never blocking."""

    def __init__(
        self,
        config: AlertsConfig,
        label: str,
        submit: Callable[[Alert], bool],
        stats: Callable[[], dict[str, Any]],
        wall_ms: Callable[[], int] = now_ms,
        settle: Callable[[], None] = lambda: None,
        stale_feed_s: float | None = None,
    ) -> None:
        self.config = config
        self.events = set(config.events)
        self.label = label
        self.submit = submit
        self.stats = stats
        self.wall_ms = wall_ms
        self.settle = settle  # at the stop: send what is queued (bounded), then end the sender
        self.stale_feed_s = stale_feed_s  # realtime feeds: a book older than this is stale
        self._last_sent: dict[tuple[str, str], int] = {}
        self._loss_blocked = False
        self._peak = 0
        self._drawdown_told = False
        self._summary_day = ""  # the UTC day whose HH:MM summary was sent (or was past at start)
        self._last_doc: dict[str, Any] | None = None

    # -- the activity feed ------------------------------------------------------------------

    def on_activity(self, entry: dict[str, Any]) -> None:
        kind, details, market = entry["type"], entry["details"], entry["market"]
        if kind == "ERROR" and details.startswith("HALTED"):
            if "FAILED on chain" in details:
                self.alert("TRADE_FAILED", details, market)
            self.alert("HALTED", details, market)
        elif kind in ("CONTROL_APPLIED", "CONTROL_REJECTED"):
            if entry.get("control") == EMERGENCY_STOP and kind == "CONTROL_APPLIED":
                self.alert(EMERGENCY_STOP, details, market)
            else:
                self.alert(
                    "CONTROL", f"{kind.removeprefix('CONTROL_').lower()}: {details}", market, again=True
                )
        elif kind == "ORDER_PLACED" and entry.get("status") == "UNKNOWN":
            self.alert("ORDER_UNKNOWN", details, market, again=True, order_id=entry.get("order_id"))
        elif kind == "RISK_REJECTED" and entry.get("limit") == STALE_LIMIT:
            self.alert("FEED_STALE", details, market)

    # -- status.json, as written --------------------------------------------------------------

    def observe(self, doc: dict[str, Any]) -> None:
        risk = doc.get("risk") or {}
        reason = str(risk.get("reason") or "")
        blocked = reason.startswith("daily loss limit reached")
        if blocked and not self._loss_blocked:
            self.alert("DAILY_LOSS_LIMIT", reason, again=True)
        self._loss_blocked = blocked
        self._stale_books(doc)
        self._drawdown(doc)
        self._summary(doc)
        self._last_doc = doc

    def _stale_books(self, doc: dict[str, Any]) -> None:
        """A book not read for `stale_feed_s`, whether or not a strategy wanted to enter."""
        if self.stale_feed_s is None:
            return
        for market, book in (doc.get("feeds") or {}).items():
            age = book.get("age_s") if isinstance(book, dict) else None
            if age is not None and age > self.stale_feed_s:
                detail = f"last book {age:.1f} s ago (stale after {self.stale_feed_s:g} s): no entries there"
                self.alert("FEED_STALE", detail, market)

    def _drawdown(self, doc: dict[str, Any]) -> None:
        if not self.config.drawdown_pct:
            return
        equity = equity_micros(doc)
        if equity >= self._peak:
            self._peak, self._drawdown_told = equity, False
            return
        fall = self._peak - equity
        if not self._drawdown_told and fall * 100 >= self.config.drawdown_pct * self._peak:
            self._drawdown_told = True
            detail = (
                f"equity {usd(equity)} is {fall * 100 / self._peak:.1f}% below its session peak"
                f" {usd(self._peak)} (threshold {self.config.drawdown_pct:g}%)"
            )
            self.alert("DRAWDOWN", detail, again=True, equity=equity / 1e6, peak=self._peak / 1e6)

    def _summary(self, doc: dict[str, Any]) -> None:
        at = self.config.summary_at
        if not at:
            return
        if at == "day_end":
            last = self._last_doc
            day = (doc.get("risk") or {}).get("session_start")
            if last is not None and day and day != (last.get("risk") or {}).get("session_start"):
                self.alert("DAILY_SUMMARY", summary(last), again=True)
            return
        now = dt.datetime.fromtimestamp(self.wall_ms() / 1000, dt.UTC)
        today = now.date().isoformat()
        due = now.strftime("%H:%M") >= at
        if not self._summary_day:  # started after today's time: the first one is tomorrow
            self._summary_day = today if due else "-"
        if due and self._summary_day != today:
            self._summary_day = today
            self.alert("DAILY_SUMMARY", summary(doc), again=True)

    def final(self, doc: dict[str, Any]) -> None:
        """The last status.json: a day_end summary of the day so far (a stop loses none), then
        what is queued is sent (an EMERGENCY_STOP's alert), for a bounded time."""
        if self.config.summary_at == "day_end":
            self.alert("DAILY_SUMMARY", summary(doc) + " (the bot stopped)", again=True)
        self.settle()

    # -- sending --------------------------------------------------------------------------

    def alert(self, event: str, detail: str, market: str = "", *, again: bool = False, **data: Any) -> None:
        """Hand one alert over; `again`: never folded by `repeat_s` (each is news)."""
        if event not in self.events:
            return
        wall = self.wall_ms()
        key = (event, market)
        last = self._last_sent.get(key)
        if not again and last is not None and wall - last < self.config.repeat_s * 1000:
            return
        self._last_sent[key] = wall
        self.submit(Alert(event, detail, iso(wall), self.label, market, data))


def equity_micros(doc: dict[str, Any]) -> int:
    """Cash plus each position at its mark (entry cost + unrealised P&L), in micros."""
    account = doc.get("account") or {}
    total = to_micros(round(float(account.get("balance") or 0), 6))
    for p in doc.get("active_positions") or []:
        value = float(p.get("quantity") or 0) * float(p.get("entry") or 0) + float(
            p.get("unrealized_pnl") or 0
        )
        total += to_micros(round(value, 6))
    return total


def summary(doc: dict[str, Any]) -> str:
    account = doc.get("account") or {}

    def money(key: str) -> str:
        return usd(to_micros(round(float(account.get(key) or 0), 6)))

    return (
        f"{doc.get('mode', '?')} balance {money('balance')}, P&L today {money('daily_pnl')},"
        f" trades today {account.get('daily_trades', 0)}, open positions {account.get('open_positions', 0)},"
        f" state {doc.get('trading_state', '?')}"
    )

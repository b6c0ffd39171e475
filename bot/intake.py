"""The inbox, on the engine's side: each file handed to the bot, acted on and answered.

`Intake.take()` runs on the engine's thread whenever the loop wakes (the watcher of
`inbox/` wakes it at once, and the heartbeat looks too). It handles at most `PER_CYCLE`
files (a flood waits its turn, nothing is lost), each one:
    1 read and validated (bot/inbox.py): a file still being written is left for later;
    2 a forecast joins the live forecasts (bot/forecasts.py) every strategy sees; an order
      intent becomes a `Signal` of the strategy `inbox` and goes through
      `OrderManager.execute(signal, mode)` like every strategy's, so PAUSE, HALTED, every risk
      limit and cap apply;
    3 journaled (the `inbox` table, with its source) and put in the activity feed.
After the engine commits, `answer()` moves each file to `inbox/done/` with its
acknowledgement beside it. A file the journal already answered (the bot stopped between the
commit and the move) is answered again from the journal, never acted on twice. While
`inbox/done` is not a folder (a file put there), nothing is read: one ERROR line says so and
what to do, the files wait untouched, and the first look after it is mended answers them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bot import inbox, layout
from bot.activity import Activity
from bot.forecasts import Forecast, Forecasts
from bot.inbox import Entry, InboxRejected, OrderIntent
from bot.journal import Journal
from bot.layout import Paths
from bot.model import ONE, Action, Market, Mode, Signal, iso, notional, usd
from bot.orders import OrderManager
from bot.runtime import CurrentLimits
from bot.safefile import printable

STRATEGY = layout.INBOX  # the strategy name an order intent's signal and order carry: "inbox"
FLOOD_RECHECK_S = 0.05  # how soon the rest of a flood is looked at
WAITING_RECHECK_S = 0.25  # ... and a file still being written
RESTORE_MS = 7 * 86_400_000  # forecasts accepted this far back are restored at start, if still live


@dataclass(frozen=True, slots=True)
class _Done:
    name: str
    answer: dict[str, Any]


class Intake:
    def __init__(
        self,
        *,
        paths: Paths,
        mode: Mode,
        journal: Journal,
        activity: Activity,
        orders: OrderManager,
        markets: dict[str, Market],
        limits: CurrentLimits,
        forecasts: Forecasts,
        market_ms: Callable[[], int],
        per_cycle: int = inbox.PER_CYCLE,
    ) -> None:
        self.folder = paths.inbox
        self.done = paths.inbox_done
        self.mode = mode
        self.journal = journal
        self.activity = activity
        self.orders = orders
        self.markets = markets
        self.limits = limits
        self.forecasts = forecasts
        self.market_ms = market_ms
        self.wall_ms = forecasts.wall_ms
        self.per_cycle = per_cycle
        self.recheck_at = 0.0  # monotonic time to look again (0: only when woken)
        self.counts = {"accepted": 0, "rejected": 0}
        self.waiting = 0  # files left for a later look
        self.last: dict[str, dict[str, Any] | None] = {"accepted": None, "rejected": None}
        self.blocked = ""  # why inbox/done cannot take answers (reported once), "" when it can
        self._answers: list[_Done] = []

    def start(self) -> None:
        """Write inbox/README.md into a home without one; create inbox/done/ (unless something
        else is there: `take` reports it); take the counts of earlier sessions and the
        forecasts still live from the journal (a restart forgets none)."""
        with contextlib.suppress(OSError):  # the docs are a courtesy: a refused write stops nothing
            inbox.write_readme(self.folder)
        if not inbox.done_problem(self.done):
            self.done.mkdir(parents=True, exist_ok=True)
        for result, n in self.journal.inbox_counts().items():
            key = result.lower()
            if key in self.counts:
                self.counts[key] = n
        now = self.wall_ms()
        for file, market_id, content, received in self.journal.inbox_forecasts(now - RESTORE_MS):
            if market_id not in self.markets:
                continue  # resolved meanwhile
            try:
                item = inbox.parse(orjson.loads(content), file, now, functools.partial(_same, market_id))
            except (InboxRejected, orjson.JSONDecodeError):
                continue  # expired meanwhile
            if isinstance(item, Forecast):
                self.forecasts.add(dataclasses.replace(item, received_ms=received))

    # -- 1-3: take what is there ---------------------------------------------------------

    def take(self) -> int:
        """Handle what inbox/ holds (up to `per_cycle` files); return how many were handled."""
        if self._held_back():
            return 0
        now = self.wall_ms()
        entries, more = inbox.pending(self.folder, now, self.per_cycle)
        unsettled = 0
        for entry in entries:
            if entry.waiting or not self._one(entry, now):
                unsettled += 1
        self.waiting = more + unsettled
        wait_s = FLOOD_RECHECK_S if more else WAITING_RECHECK_S if unsettled else 0.0
        self.recheck_at = time.monotonic() + wait_s if wait_s else 0.0
        return len(self._answers)

    def _held_back(self) -> bool:
        """inbox/done is not a folder: say so once, read nothing, count what waits."""
        problem = inbox.done_problem(self.done)
        if problem and problem != self.blocked:
            self.activity.add(self.market_ms(), "ERROR", "System", problem)
        self.blocked = problem
        if problem:
            self.waiting = inbox.count(self.folder)
            self.recheck_at = 0.0  # the watcher or the next heartbeat looks again
        return bool(problem)

    def _one(self, entry: Entry, now: int) -> bool:
        """Handle one file; False when it is left for later (not whole yet)."""
        digest = hashlib.sha256(entry.data).hexdigest()
        seen = self.journal.inbox_seen(entry.name, digest) if not entry.refused else None
        if seen is not None:  # answered before the bot stopped, not yet moved: answer again
            order_id = seen["order_id"]
            detail = {"order": {"order_id": order_id}} if order_id else None
            accepted = seen["result"] == "ACCEPTED"
            self._answer(
                entry,
                seen["kind"],
                accepted,
                seen["reason"],
                seen["source"],
                seen["market_id"],
                seen["inbox_id"],
                seen["received_ms"],
                detail,
                counted=True,  # the journal's counts have it already
            )
            return True
        data: dict[str, Any] = {}
        try:
            if entry.refused:
                raise InboxRejected(entry.refused)
            decoded = inbox.decode(entry, now)
            if decoded is None:
                return False
            data = decoded
            item = inbox.parse(data, entry.name, now, self._resolve)
        except InboxRejected as exc:
            self._record(entry, digest, data, now, False, str(exc))
            return True
        if isinstance(item, Forecast):
            self.forecasts.add(item)
            self._record(entry, digest, data, now, True, "", item.market_id, {"forecast": item.view()})
        else:
            self._order(entry, digest, data, now, item)
        return True

    def _order(self, entry: Entry, digest: str, data: dict[str, Any], now: int, intent: OrderIntent) -> None:
        shares = intent.size_at(intent.price)
        if shares <= 0:
            why = f"{usd(intent.usd or 0)} buys no whole hundredth of a share at {intent.price / ONE:g}"
            self._record(entry, digest, data, now, False, why, intent.market_id)
            return
        why = f" ({intent.reason})" if intent.reason else ""
        signal = Signal(
            ts_ms=self.market_ms(),
            strategy=STRATEGY,
            market_id=intent.market_id,
            outcome=intent.outcome,
            action=Action.BUY,
            price=intent.price,
            reason=f"inbox {entry.name} from {intent.source}{why}"[:300],
            size=shares,
            order_type=intent.order_type,
            ttl_s=intent.ttl_s,
        )
        over = self._over_limit(signal, shares)
        if over:
            self._record(entry, digest, data, now, False, over, intent.market_id)
            return
        result = self.orders.execute(signal, self.mode)
        order = result.order
        if not result.executed or order is None:
            self._record(entry, digest, data, now, False, result.reason, intent.market_id)
            return
        detail = {
            "order": {
                "order_id": order.order_id,
                "status": order.status.value,
                "outcome": order.outcome.value,
                "price": order.price / ONE,
                "shares": order.size / ONE,
                "filled_shares": order.filled / ONE,
                "order_type": order.order_type.value,
            }
        }
        self._record(entry, digest, data, now, True, "", intent.market_id, detail, order.order_id)

    def _over_limit(self, signal: Signal, shares: int) -> str:
        """An intent the position limit would cut down is refused whole. The risk gate sizes an
        entry to what `max_position_usd` leaves (bot/risk.py); an intent names its size, so a
        smaller order is not what was asked. While entries are blocked (PAUSE, HALTED) the
        order manager's refusal comes first, with its reason."""
        orders = self.orders
        if orders.entry_block():
            return ""
        key = (signal.market_id, signal.outcome)
        held = orders.portfolio.positions.get(key)
        in_position = (held.cost + held.fees if held is not None else 0) + sum(
            o.locked for o in orders.orders.values() if (o.market_id, o.outcome) == key
        )
        limit = self.limits.value.max_position
        cost = notional(signal.price, shares)
        if in_position + cost <= limit:
            return ""
        held_text = f" with {usd(in_position)} already in the position" if in_position else ""
        return (
            f"order of {shares / ONE:g} shares at {signal.price / ONE:g} ({usd(cost)}){held_text} is over"
            f" max_position_usd {usd(limit)}: refused whole [max_position_usd]"
        )

    def _resolve(self, reference: str) -> str | None:
        """The watched market a reference names: its id, a token id, its name or slug, or an
        instrument (`BTC`: its window open now that ends first)."""
        markets = self.markets
        if reference in markets:
            return reference
        for market in markets.values():
            if reference in (market.token_ids or ()) or reference in (market.name, market.slug):
                return market.market_id
        now = self.market_ms()
        open_now = [
            m
            for m in markets.values()
            if m.instrument.upper() == reference.upper() and m.window_start_ms <= now < m.window_end_ms
        ]
        if open_now:
            return min(open_now, key=lambda m: m.window_end_ms).market_id
        return None

    def _record(
        self,
        entry: Entry,
        digest: str,
        data: dict[str, Any],
        now: int,
        accepted: bool,
        reason: str,
        market_id: str = "",
        detail: dict[str, Any] | None = None,
        order_id: str = "",
    ) -> None:
        kind = data.get("kind") if data.get("kind") in (inbox.FORECAST, inbox.ORDER) else ""
        source = data.get("source") if isinstance(data.get("source"), str) else ""
        source = str(source)[: inbox.MAX_SOURCE]
        inbox_id = self.journal.save_inbox(
            {
                "received_ms": now,
                "market_ms": self.market_ms(),
                "file": printable(entry.name),  # a name that is not UTF-8 is refused, shown escaped
                "digest": digest,
                "kind": kind,
                "source": source,
                "market_id": market_id,
                "result": "ACCEPTED" if accepted else "REJECTED",
                "reason": reason,
                "order_id": order_id,
                "content": entry.data.decode("utf-8", "replace")[: inbox.MAX_BYTES],
            }
        )
        what = f"{kind or 'file'} {printable(entry.name)}" + (f" from {source}" if source else "")
        if accepted:
            self.activity.add(self.market_ms(), "INBOX_ACCEPTED", market_id or "System", f"{what}: accepted")
        else:
            self.activity.add(self.market_ms(), "INBOX_REJECTED", market_id or "System", f"{what}: {reason}")
        self._answer(entry, str(kind), accepted, reason, source, market_id, inbox_id, now, detail)

    def _answer(
        self,
        entry: Entry,
        kind: str,
        accepted: bool,
        reason: str,
        source: str,
        market_id: str,
        inbox_id: int,
        now: int,
        detail: dict[str, Any] | None,
        counted: bool = False,
    ) -> None:
        ack = inbox.answer(
            file=printable(entry.name),
            kind=kind,
            accepted=accepted,
            reason=reason,
            source=source,
            market_id=market_id,
            inbox_id=inbox_id,
            received_ms=now,
            answered_ms=now,
            detail=detail,
        )
        key = "accepted" if accepted else "rejected"
        self.counts[key] += 0 if counted else 1
        self.last[key] = {k: ack[k] for k in ("file", "kind", "reason", "source", "market_id", "received_at")}
        self._answers.append(_Done(entry.name, ack))

    # -- after the commit ----------------------------------------------------------------

    def answer(self) -> None:
        """Move each handled file to inbox/done/ with its acknowledgement (after the commit)."""
        answers, self._answers = self._answers, []
        for done in answers:
            ack = {
                **done.answer,
                "answered_at": iso(self.wall_ms()),
                "answered_epoch_s": self.wall_ms() / 1000,
            }
            try:
                inbox.settle(self.folder, self.done, done.name, ack)
            except OSError as exc:  # the disk refused: the journal has it; say so and go on
                self.activity.add(
                    self.market_ms(), "ERROR", "System", f"inbox/{done.name}: cannot answer ({exc.strerror})"
                )

    def view(self) -> dict[str, Any]:
        """The `inbox` block of trading_state.json."""
        return {
            "accepted": self.counts["accepted"],
            "rejected": self.counts["rejected"],
            "waiting": self.waiting,
            "last_accepted": self.last["accepted"],
            "last_rejected": self.last["rejected"],
            "live_forecasts": [f.view() for f in self.forecasts.all_live()],
        }


def _same(market_id: str, _reference: str) -> str:
    """A journaled forecast's market, whatever reference named it then."""
    return market_id

"""The roller: the recurring windows of `[polymarket] series`, found on Gamma, checked, handed
over to be subscribed (at twice the lead before they open), watched until they resolve, dropped.

`Roller` runs on a thread of its own (every `poll_s` of wall time), because every look is a
network read (Gamma, and the CLOB for each new window) that must never stall the engine. One
look (`turn`):

    1 `Discovery.upcoming(now, lead, ahead=1)`: every window open now or opening within the
      lead plus one window of its series, judged (bot/markets/discovery.py)
    2 each window newly tradeable and first seen at least `lead` before it opens is checked
      against the CLOB (`check`: it exists there, accepts orders, the same tokens, tick and
      neg-risk as Gamma says), then ADMITTED: handed to the feed thread (which subscribes its
      book twice the lead before it opens) and to the engine thread (register it with the
      venue; a DISCOVERY activity line)
    3 a window SKIPPED by discovery (rules that differ from the family, a malformed row, no
      token ids...) or refused by the CLOB check is told once, with its reason
    4 `Discovery.resolutions(now)`: each admitted window Gamma calls resolved (three ways at
      once) goes to the feed thread, which emits `WindowResolved` and drops the book
    5 Gamma failing (5xx, timeout): one DISCOVERY error line when the outage starts and one
      when it answers again; known windows keep their verdicts meanwhile
    6 a window the restart holds that Gamma does not list: one DISCOVERY error line (its
      position is kept for reconciliation), then looked for again after a back-off that
      doubles from `MISSING_RETRY_MS` to `MISSING_RETRY_MAX_MS`, not at every look

Nothing here touches trading state: results travel through two queues, drained by the feed
thread (`feed_changes`) and by the engine thread (`engine_news`), and `wake` (the engine's
inbox) says there is news. `status()` is the `discovery` block of state/status.json.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.errors import BotError
from bot.markets.discovery import DiscoveredMarket, Discovery, Status
from bot.model import Market, Outcome, iso
from bot.venues.polymarket.wire import MarketInfo, ParseError

log = logging.getLogger("bot")

ERRORS_KEPT = 10  # the last errors shown in status.json
MISSING_RETRY_MS = 60_000  # a held window Gamma does not list: looked for again after this,
MISSING_RETRY_MAX_MS = 3_600_000  # doubled at each miss up to this (market time)


@dataclass(frozen=True, slots=True)
class Official:
    """Gamma published an admitted window's official strike (its price to beat)."""

    ts_ms: int
    market_id: str
    key: str
    strike: float


@dataclass(frozen=True, slots=True)
class Admitted:
    """A window handed over for trading: checked, its book subscribed ahead by the feed."""

    key: str  # the event slug (or the explicit reference)
    market: Market
    info: MarketInfo | None  # what the venue signs with (None without a CLOB check)
    admitted_ms: int  # market time of the hand-over
    explicit: bool = False
    taken_back: bool = False  # a window the engine restored (a restart): its resolution is booked

    @property
    def lead_ms(self) -> int:
        return self.market.window_start_ms - self.admitted_ms


@dataclass(frozen=True, slots=True)
class Resolved:
    """Gamma resolved an admitted window: UP, DOWN, or None for the 50/50 split."""

    key: str
    market_id: str
    outcome: Outcome | None


@dataclass(frozen=True, slots=True)
class Notice:
    """A DISCOVERY activity line for the engine to write."""

    ts_ms: int
    market: str  # the activity's market column: a condition id, or "System"
    text: str
    error: bool = False


Check = Callable[[DiscoveredMarket], tuple[Market, MarketInfo | None]]


def clob_check(reader: Any) -> Check:
    """The CLOB's word on a window Gamma found (`reader`: the PolymarketVenue that validates
    markets; its `load_market` only reads). Gamma says what the market is, the CLOB what its
    order book accepts now: tick, minimum size and fees are the CLOB's; tokens and neg-risk
    must agree, else the window is refused."""

    def check(found: DiscoveredMarket) -> tuple[Market, MarketInfo | None]:
        gamma = found.market
        assert gamma is not None
        assert gamma.token_ids is not None
        info: MarketInfo = reader.load_market(gamma.market_id)
        if info.market.token_ids != gamma.token_ids:
            raise ParseError("clob", "the CLOB lists other token ids than Gamma")
        if info.neg_risk != (found.gamma.neg_risk if found.gamma else False):
            raise ParseError("clob", "Gamma and the CLOB disagree on neg-risk")
        if info.closed or not info.accepting_orders:
            raise ParseError("clob", "the CLOB says it is closed or not accepting orders")
        market = dataclasses.replace(
            gamma,
            tick=info.market.tick,
            min_size=info.market.min_size,
            fee_rate_ppm=info.market.fee_rate_ppm,
            fee_exponent=info.market.fee_exponent,
        )
        return market, dataclasses.replace(info, market=market)

    return check


def gamma_only(found: DiscoveredMarket) -> tuple[Market, MarketInfo | None]:
    """No CLOB check (tests of the roller alone): Gamma's market as it is."""
    assert found.market is not None
    return found.market, None


class Roller:
    def __init__(
        self,
        discovery: Discovery,
        clock_ms: Callable[[], int],
        *,
        check: Check = gamma_only,
        wake: Callable[[], None] = lambda: None,
        poll_s: float = 5.0,
        gamma_host: str = "",
    ) -> None:
        self.discovery = discovery
        self._clock = clock_ms
        self._check = check
        self._wake = wake
        self.poll_s = poll_s
        self.gamma_host = gamma_host
        self.lead_ms = discovery.lead_ms
        self._feed_q: queue.SimpleQueue[Admitted | Resolved] = queue.SimpleQueue()
        self._engine_q: queue.SimpleQueue[Admitted | Notice | Official] = queue.SimpleQueue()
        self._strikes: dict[str, float] = {}  # by key: the official strike told to the engine
        self.admitted: dict[str, Admitted] = {}  # by key, until resolved
        self._told: set[str] = set()  # keys whose refusal was said
        self._adopted: set[str] = set()  # condition ids the journal holds open (a restart)
        self._adopted_starts: set[int] = set()  # their window starts (Unix seconds)
        self._held_at: dict[int, set[str]] = {}  # window start (s) -> the condition ids held there
        self._missing: dict[int, tuple[int, int]] = {}  # start (s) -> (look again at, back-off), ms
        self._unreadable_told: set[str] = set()  # windows whose unreadable resolution was said
        self._outage: tuple[int, str] | None = None  # (since, first error) while Gamma fails
        self._errors: deque[dict[str, str]] = deque(maxlen=ERRORS_KEPT)
        self._views: list[DiscoveredMarket] = []
        self._last_poll_ms: int | None = None
        self._last_ok_ms: int | None = None
        self.counts = {"admitted": 0, "resolved": 0, "skipped": 0}
        self.leads_ms: deque[int] = deque(maxlen=1000)  # checked-before-open, per window
        self.subscribed_ms: dict[str, int] = {}  # by key: when the feed subscribed its book
        self.turn_s: deque[float] = deque(maxlen=1000)  # wall time of the last looks
        self.turns, self.turns_s = 0, 0.0  # looks, and their wall time in all
        self._status: dict[str, Any] = self._build_status()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="roller", daemon=True)

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> Roller:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.turn()
            except Exception as exc:  # the thread outlives any surprise; the engine hears of it
                log.exception("roller: a look at Gamma failed")
                self._say(
                    Notice(self._clock(), "System", f"discovery failed: {type(exc).__name__}: {exc}", True)
                )
            self._stop.wait(self.poll_s)

    def adopt(self, condition_ids: list[str], starts_s: Iterable[int] = ()) -> None:
        """Markets the engine restored (a restart): their windows are taken back whatever the
        lead, even ended, so their books are read and their resolution is booked. `starts_s`:
        their window starts, looked up on Gamma however long ago they were (a bot down for
        hours still finds the window it holds)."""
        starts = list(starts_s)
        self._adopted.update(condition_ids)
        self._adopted_starts.update(starts)
        if len(starts) == len(condition_ids):
            for condition, start in zip(condition_ids, starts, strict=True):
                self._held_at.setdefault(start, set()).add(condition)

    # -- one look --------------------------------------------------------------------------------

    def turn(self) -> None:
        began = time.perf_counter()
        now = self._clock()
        # each series a lead plus one of its windows ahead: the next window is always known
        also = (
            [s for s in self._adopted_starts if self._missing.get(s, (0, 0))[0] <= now]
            if self._adopted
            else []
        )
        views = self.discovery.upcoming(now, self.lead_ms, back=1 if self._adopted else 0, ahead=1, also=also)
        errors = list(self.discovery.errors)
        for view in views:
            if view.key not in self.admitted:
                self._consider(view, now)
        if also and self._held_at:
            self._not_listed(views, also, now)
        for view in [*views, *self.discovery.pending(now)]:
            self._official(view, now)
        for done in self.discovery.resolutions(now):
            self._official(done, now)
            self._resolved(done, now)
        self._unreadable(now)
        errors += self.discovery.errors
        self._gamma_health(errors, now)
        self._views = views
        self._last_poll_ms = now
        self._status = self._build_status()
        spent = time.perf_counter() - began
        self.turn_s.append(spent)
        self.turns, self.turns_s = self.turns + 1, self.turns_s + spent
        self._wake()

    def _consider(self, view: DiscoveredMarket, now: int) -> None:
        if view.status is Status.SKIPPED:
            self._refuse(view, view.reason, now)
            return
        condition = view.gamma.condition_id if view.gamma else ""
        if condition in self._adopted and view.status in (
            Status.OPEN,
            Status.NEXT,
            Status.ENDED,
            Status.RESOLVED,
        ):
            self._adopted.discard(condition)
            self._take_back(view, now)
            return
        if not view.tradeable or view.market is None:
            return  # NOT_LISTED, UNCHECKED: looked at again next time
        if not view.explicit and not view.validated_ahead(self.lead_ms):
            lead_s = self.lead_ms / 1000
            self._refuse(view, f"first seen less than {lead_s:g} s before it opened: not traded", now)
            return
        try:
            market, info = self._check(view)
        except (BotError, ParseError) as exc:
            self._refuse(view, f"the CLOB check failed: {exc}", now)
            return
        self._admit(Admitted(view.key, market, info, now, view.explicit))

    def _take_back(self, view: DiscoveredMarket, now: int) -> None:
        """A restored window: its book and resolution watched again; the CLOB's word when it
        still trades (exits need it), Gamma's alone after its end."""
        try:
            market, info = self._check(view)
        except (BotError, ParseError):
            assert view.market is not None
            market, info = view.market, None
        self._admit(
            Admitted(view.key, market, info, now, view.explicit, taken_back=True),
            "taken back after the restart",
        )

    def _not_listed(self, views: list[DiscoveredMarket], looked: list[int], now: int) -> None:
        """Held windows (a restart) Gamma does not list: said once, then looked for less often."""
        for start in looked:
            held = self._held_at.get(start, set()) & self._adopted  # not taken back yet
            there = [v for v in views if v.start_ms == start * 1000]
            if not held or any(v.gamma is not None and v.gamma.condition_id in held for v in there):
                self._missing.pop(start, None)
                continue
            missing = [v.key for v in there if v.status is Status.NOT_LISTED]
            if not missing:
                continue  # not looked up (another grid), or Gamma failing: said elsewhere
            told = start in self._missing
            wait = min(2 * self._missing[start][1], MISSING_RETRY_MAX_MS) if told else MISSING_RETRY_MS
            self._missing[start] = (now + wait, wait)
            if not told:
                text = (
                    f"{' or '.join(missing)}: the window held at the restart ({', '.join(sorted(held))})"
                    " is not listed on Gamma: its position is kept for reconciliation; looked for"
                    f" again in {wait / 1000:.0f} s, then less and less often"
                )
                self._say(Notice(now, sorted(held)[0], text, True))

    def _admit(self, admitted: Admitted, how: str = "") -> None:
        now, market, key = admitted.admitted_ms, admitted.market, admitted.key
        self.admitted[key] = admitted
        self.counts["admitted"] += 1
        self._told.discard(key)
        if market.window_start_ms > now and not how:
            self.leads_ms.append(market.window_start_ms - now)
        self._engine_q.put(admitted)  # the engine registers it before the feed can open it
        self._feed_q.put(admitted)
        when = how or (
            f"checked {admitted.lead_ms / 1000:.0f} s before it opens at {iso(market.window_start_ms)}"
            if admitted.lead_ms > 0
            else "checked while open"
        )
        self._say(
            Notice(
                now,
                market.market_id,
                f"{key} {when}, ends {iso(market.window_end_ms)}:"
                f" tick {market.tick / 1e6:g}, minimum size {market.min_size / 1e6:g}",
            )
        )

    def _refuse(self, view: DiscoveredMarket, reason: str, now: int) -> None:
        if view.key in self._told:
            return
        self._told.add(view.key)
        self.counts["skipped"] += 1
        where = view.gamma.condition_id if view.gamma else "System"
        self._say(Notice(now, where, f"{view.key} skipped: {reason}"))

    def _official(self, view: DiscoveredMarket, now: int) -> None:
        """An admitted window whose price to beat Gamma now publishes (or changes): told once."""
        admitted = self.admitted.get(view.key)
        strike = view.gamma.price_to_beat if view.gamma is not None else None
        if admitted is None or strike is None or self._strikes.get(view.key) == strike:
            return
        self._strikes[view.key] = strike
        self._engine_q.put(Official(now, admitted.market.market_id, view.key, strike))

    def _resolved(self, done: DiscoveredMarket, now: int) -> None:
        self._strikes.pop(done.key, None)
        admitted = self.admitted.pop(done.key, None)
        self.subscribed_ms.pop(done.key, None)
        if admitted is None or done.resolution is None:
            return  # an explicit market the CLOB refused, or never admitted
        self.counts["resolved"] += 1
        winner = done.resolution.winner
        self._feed_q.put(Resolved(done.key, admitted.market.market_id, winner))
        said = winner.value if winner is not None else "50/50 (split)"
        self._say(Notice(now, admitted.market.market_id, f"{done.key} resolved {said} on Gamma: dropped"))

    def _unreadable(self, now: int) -> None:
        """An admitted window Gamma calls resolved with a result that cannot be booked: one
        DISCOVERY error line; the window stays watched (Gamma may correct itself)."""
        if not any(a.market.window_end_ms <= now for a in self.admitted.values()):
            return  # nothing ended waits for its result
        for view in self.discovery.pending(now):
            why = view.gamma.unreadable_resolution() if view.gamma is not None else ""
            admitted = self.admitted.get(view.key)
            if why and admitted is not None and view.key not in self._unreadable_told:
                self._unreadable_told.add(view.key)
                text = f"{view.key}: {why}: not booked, the position is kept until a readable result"
                self._say(Notice(now, admitted.market.market_id, text, True))

    def _gamma_health(self, errors: list[str], now: int) -> None:
        for text in errors:
            self._errors.append({"time": iso(now), "error": text})
        if errors and self._outage is None:
            self._outage = (now, errors[0])
            self._say(Notice(now, "System", f"Gamma at {self.gamma_host} failing: {errors[0]}", True))
        elif not errors and self._outage is not None:
            since, _ = self._outage
            self._outage = None
            self._say(Notice(now, "System", f"Gamma answers again after {(now - since) / 1000:.0f} s"))
        if not errors:
            self._last_ok_ms = now

    def _say(self, notice: Notice) -> None:
        (log.warning if notice.error else log.info)("discovery: %s", notice.text)
        self._engine_q.put(notice)

    # -- what the other threads take --------------------------------------------------------------

    def feed_changes(self) -> list[Admitted | Resolved]:
        """The feed thread's: windows to subscribe, windows resolved."""
        return _drain(self._feed_q)

    def engine_news(self) -> list[Admitted | Notice | Official]:
        """The engine thread's: windows to register with the venue, lines to write."""
        return _drain(self._engine_q)

    def subscribed(self, admitted: Admitted, now: int) -> None:
        """The feed thread subscribed the window's book (a DISCOVERY line, and status.json)."""
        self.subscribed_ms[admitted.key] = now
        start = admitted.market.window_start_ms
        when = f"{(start - now) / 1000:.0f} s before it opens" if start > now else "while open"
        self._say(Notice(now, admitted.market.market_id, f"{admitted.key} book subscribed {when}"))

    def has_news(self) -> bool:
        return not self._engine_q.empty()

    def status(self) -> dict[str, Any]:
        return self._status

    def _build_status(self) -> dict[str, Any]:
        windows = []
        for view in self._views:
            admitted = self.admitted.get(view.key)
            windows.append(
                {
                    "key": view.key,
                    "series": view.series or None,
                    "status": view.status.value,
                    "start": iso(view.start_ms) if view.start_ms is not None else None,
                    "end": iso(view.end_ms) if view.end_ms is not None else None,
                    "market_id": view.gamma.condition_id if view.gamma else None,  # the condition id
                    "checked": iso(admitted.admitted_ms) if admitted else None,
                    "subscribed": iso(self.subscribed_ms[view.key])
                    if view.key in self.subscribed_ms
                    else None,
                    "reason": view.reason or None,
                }
            )
        outage = self._outage
        return {
            "series": [s.name for s in self.discovery.series],
            "markets": [r.text for r in self.discovery.refs],
            "gamma_host": self.gamma_host,
            "lead_s": self.lead_ms / 1000,
            "last_poll": iso(self._last_poll_ms) if self._last_poll_ms is not None else None,
            "last_ok": iso(self._last_ok_ms) if self._last_ok_ms is not None else None,
            "failing_since": iso(outage[0]) if outage else None,
            "windows": windows,
            "awaiting_resolution": sorted(self.admitted_ended()),
            "admitted": self.counts["admitted"],
            "resolved": self.counts["resolved"],
            "skipped": self.counts["skipped"],
            "errors": list(self._errors),
        }

    def admitted_ended(self) -> list[str]:
        now = self._clock()
        return [k for k, a in self.admitted.items() if a.market.window_end_ms <= now]


def _drain(q: queue.SimpleQueue[Any]) -> list[Any]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out

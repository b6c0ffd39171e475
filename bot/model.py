"""Domain types shared by every part of the bot: enums, exact money, market events, orders.

Money, prices and share counts are integers in micro-units (1 USDC = 1_000_000 micros,
price 0.53 = 530_000, 5 shares = 5_000_000). Prices on a tick of 0.0001 or coarser and
sizes with two decimals multiply into an exact micro amount, so no rounding happens
anywhere except in fees, which round half up to the micro. Times are integer milliseconds
since the Unix epoch, UTC.

Binary markets: each market has an UP and a DOWN token. A `BookTick` carries the UP
token's top of book; the DOWN book is its mirror (down bid = 1 - up ask), which is how
Polymarket's complementary matching shows the two books.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from functools import lru_cache
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated

import msgspec

Micros = int
ONE: Micros = 1_000_000
HALF: Micros = ONE // 2  # what each token of a market resolved 50/50 pays per share


class Mode(enum.StrEnum):
    PAPER = "PAPER"
    DRY_RUN = "DRY_RUN"
    LIVE = "LIVE"
    BACKTEST = "BACKTEST"


class TradingState(enum.StrEnum):
    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    FLATTENING = "FLATTENING"
    HALTED = "HALTED"
    STOPPED = "STOPPED"


class Outcome(enum.StrEnum):
    UP = "UP"
    DOWN = "DOWN"

    @property
    def other(self) -> Outcome:
        return Outcome.DOWN if self is Outcome.UP else Outcome.UP


class Action(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.StrEnum):
    GTC = "GTC"  # rests until filled or cancelled
    GTD = "GTD"  # rests until its time-to-live runs out
    FOK = "FOK"  # fill completely at once or not at all
    FAK = "FAK"  # fill what is available at once, cancel the rest


class OrderStatus(enum.StrEnum):
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNKNOWN)


class Intent(enum.StrEnum):
    ENTRY = "ENTRY"
    EXIT = "EXIT"


class Liquidity(enum.StrEnum):
    MAKER = "MAKER"
    TAKER = "TAKER"


# ---------------------------------------------------------------------------
# exact numbers


def to_micros(value: str | int | float | Decimal) -> Micros:
    """Parse a decimal amount ("0.53", 5, 12.5) into micros; raise ValueError when it is not
    a finite number or has more than six decimals."""
    try:
        dec = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    if not dec.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    with localcontext() as ctx:
        ctx.prec = 100  # exact: no rounding to the default 28 digits
        scaled = dec.scaleb(6)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"more than 6 decimals: {value!r}")
    return int(scaled)


def to_float(micros: Micros) -> float:
    """Micros as a JSON number; the shortest float repr of m/1e6 is the exact decimal."""
    return micros / ONE


def to_decimal(micros: Micros) -> Decimal:
    return Decimal(micros).scaleb(-6)


def usd(micros: Micros) -> str:
    """'$12.34' for display; keeps more decimals only when they are not zero."""
    dec = to_decimal(micros).quantize(Decimal("0.01")) if micros % 10_000 == 0 else None
    sign = "-" if micros < 0 else ""
    text = f"{abs(dec):.2f}" if dec is not None else f"{abs(to_decimal(micros)).normalize():f}"
    return f"{sign}${text}"


def notional(price: Micros, shares: Micros) -> Micros:
    """Cost of `shares` at `price`: exact for 4-decimal prices and 2-decimal sizes."""
    return (price * shares) // ONE


def taker_fee(shares: Micros, price: Micros, rate_ppm: int, exponent: int = 1) -> Micros:
    """Polymarket's taker fee: shares × rate × (p × (1 − p))^exponent, rounded half up."""
    if rate_ppm == 0 or shares == 0:
        return 0
    p = Decimal(price) / ONE
    fee = Decimal(shares) * Decimal(rate_ppm) / ONE * (p * (1 - p)) ** exponent
    return int(fee.to_integral_value(rounding=ROUND_HALF_UP))


# ---------------------------------------------------------------------------
# time


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def iso(ts_ms: int) -> str:
    """UTC ISO-8601 with milliseconds and a Z: 2026-11-22T02:53:36.123Z."""
    seconds, millis = divmod(int(ts_ms), 1000)
    return f"{_iso_second(seconds)}.{millis:03d}Z"


@lru_cache(maxsize=8192)
def _iso_second(seconds: int) -> str:
    # the state files format the same order, position and window times on every write
    day, second = divmod(seconds, 86_400)
    hours, second = divmod(second, 3600)
    return f"{_iso_day(day)}{hours:02d}:{second // 60:02d}:{second % 60:02d}"


@lru_cache(maxsize=64)
def _iso_day(day: int) -> str:
    """The date part of `iso` ("2026-11-22T"): a backtest formats one new second per record."""
    return datetime.fromtimestamp(day * 86_400, tz=UTC).strftime("%Y-%m-%dT")


# ---------------------------------------------------------------------------
# markets and market events


@dataclass(frozen=True, slots=True)
class Market:
    """One binary window: "Will INSTRUMENT finish at or above STRIKE at WINDOW_END?"."""

    market_id: str
    instrument: str
    name: str
    window_start_ms: int
    window_end_ms: int
    strike: float | None = None
    tick: Micros = 10_000
    min_size: Micros = 5 * ONE
    fee_rate_ppm: int = 0
    fee_exponent: int = 1
    token_ids: tuple[str, str] | None = None  # (UP token, DOWN token) on a real venue
    slug: str = ""  # Polymarket's market slug ("" elsewhere): how people and agents name it


@dataclass(frozen=True, slots=True)
class WindowOpened:
    ts_ms: int
    market: Market


# what a tape's book line may hold (bot/feeds/checks.py says why a line is refused)
MAX_TS = 2**53  # ms: far beyond any date, and every sum of times stays inside SQLite's 64 bits
MAX_SIZE = 10**15  # micro-shares: a billion shares on one side of a book
_Ts = Annotated[int, msgspec.Meta(ge=0, le=MAX_TS)]
_Price = Annotated[Micros, msgspec.Meta(ge=0, le=ONE)]
_Size = Annotated[Micros, msgspec.Meta(ge=0, le=MAX_SIZE)]
_Id = Annotated[str, msgspec.Meta(min_length=1)]
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]  # as orjson reads an integer

if TYPE_CHECKING:
    _FairInfo = object
else:

    class _FairInfo:
        """No tape line can set `fair_info`: msgspec refuses any value but null for it."""


class BookTick(msgspec.Struct, tag_field="e", tag="book", gc=False):
    """Top of book of the market's UP token. Sizes are in shares (micros).

    Read-only by convention, not frozen. A msgspec Struct, so that the tape reader decodes a
    book line straight into it (the JSON names and the ranges of a valid line are declared
    here; the reader checks bid < ask); built and compared like the dataclass it was.
    ``gc=False``: the garbage collector does not track it (a million per backtest), which is
    safe because nothing it holds (numbers, a str, a ``Priced``) can refer back to it.
    """

    ts_ms: _Ts = msgspec.field(name="ts")
    market_id: _Id = msgspec.field(name="m")
    bid: _Price = msgspec.field(name="b")
    bid_size: _Size = msgspec.field(name="bs")
    ask: _Price = msgspec.field(name="a")
    ask_size: _Size = msgspec.field(name="as")
    # a noisy forecast of P(UP), when the feed has one
    fair_forecast: _Price | None = msgspec.field(default=None, name="f")
    underlying: float | _Int64 | None = msgspec.field(default=None, name="u")
    # a live feed's fair-value model: its inputs (bot.fairvalue.Priced) or why it has none
    # (str); not compared
    fair_info: _FairInfo | None = None

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not BookTick:
            return NotImplemented
        return _book_fields(self) == _book_fields(other)


_book_fields = attrgetter(
    "ts_ms", "market_id", "bid", "bid_size", "ask", "ask_size", "fair_forecast", "underlying"
)


@dataclass(frozen=True, slots=True)
class WindowResolved:
    """The market resolved: `outcome` won (its token pays $1, the other 0), or None when it
    resolved 50/50 (payout numerators [1, 1]: each token pays 0.5, `SPLIT` in the files)."""

    ts_ms: int
    market_id: str
    outcome: Outcome | None
    final_underlying: float | None = None


SPLIT = "SPLIT"  # how a 50/50 resolution is written: journal, activity, tapes, state files


def resolution_name(winner: Outcome | None) -> str:
    """ "UP", "DOWN", or "SPLIT" for a 50/50 resolution."""
    return SPLIT if winner is None else winner.value


def parse_resolution(text: str) -> Outcome | None:
    """The inverse of `resolution_name`; ValueError names anything else."""
    if text == SPLIT:
        return None
    try:
        return Outcome(text)
    except ValueError:
        raise ValueError(f"resolution {text!r} is not UP, DOWN or {SPLIT}") from None


def payout_per_share(winner: Outcome | None, outcome: Outcome) -> Micros:
    """What one share of `outcome` pays once its market resolved: 1, 0, or 0.5 (a 50/50)."""
    if winner is None:
        return HALF
    return ONE if outcome is winner else 0


def exit_reason_at_resolution(winner: Outcome | None, outcome: Outcome) -> str:
    """WON, LOST, or SPLIT (the 50/50 case): the `exit_reason` of a position settled."""
    if winner is None:
        return SPLIT
    return "WON" if outcome is winner else "LOST"


MarketEvent = WindowOpened | BookTick | WindowResolved


def book_for(tick: BookTick, outcome: Outcome) -> tuple[Micros, Micros, Micros, Micros]:
    """(bid, bid_size, ask, ask_size) of one token, mirroring UP for DOWN."""
    if outcome is Outcome.UP:
        return tick.bid, tick.bid_size, tick.ask, tick.ask_size
    return ONE - tick.ask, tick.ask_size, ONE - tick.bid, tick.bid_size


# ---------------------------------------------------------------------------
# signals, orders, fills


class Signal(msgspec.Struct, gc=False):
    """A strategy's proposal, built with keywords or positionally like the dataclass it was.
    Read-only by convention, not `frozen` (see BookTick): while a limit holds, a strategy
    proposes on every tick. A msgspec Struct because that is built in C: ~250 ns against
    ~640 ns for the slotted dataclass with these 12 fields. ``gc=False``: the garbage collector
    does not track it, which is safe because it holds only numbers, enums and strings."""

    ts_ms: int
    strategy: str
    market_id: str
    outcome: Outcome
    action: Action
    price: Micros  # limit price
    edge: Micros = 0  # estimated edge in probability micros (0.05 = 50_000)
    score: float = 0.0
    reason: str = ""
    size: Micros | None = None  # shares; None lets the order manager size it
    order_type: OrderType = OrderType.GTC
    ttl_s: int | None = None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_id: str
    market_id: str
    outcome: Outcome
    action: Action
    price: Micros
    size: Micros
    order_type: OrderType
    expires_ms: int | None
    intent: Intent
    # when the intent was first decided (0: unknown). A re-send of the same intent keeps it and
    # the client id, so a live venue signs the very same order and can de-duplicate it.
    created_ms: int = 0


@dataclass(slots=True)
class Order:
    order_id: str
    market_id: str
    outcome: Outcome
    action: Action
    price: Micros
    size: Micros
    order_type: OrderType
    intent: Intent
    created_ms: int
    expires_ms: int | None = None
    filled: Micros = 0
    status: OrderStatus = OrderStatus.OPEN
    strategy: str = ""
    edge: Micros = 0
    reason: str = ""

    @property
    def remaining(self) -> Micros:
        return self.size - self.filled

    @property
    def locked(self) -> Micros:
        """Cash this order holds back while it rests (BUY only)."""
        if self.action is Action.BUY and self.status.is_open:
            return notional(self.price, self.remaining)
        return 0


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    order_id: str
    ts_ms: int
    market_id: str
    outcome: Outcome
    action: Action
    price: Micros
    shares: Micros
    fee: Micros
    liquidity: Liquidity


@dataclass(frozen=True, slots=True)
class OrderDone:
    """An order left the book without (further) fills: cancelled, expired or rejected."""

    order_id: str
    ts_ms: int
    status: OrderStatus
    reason: str


@dataclass(frozen=True, slots=True)
class Settlement:
    """A resolved market paid `payout` micros for `shares` of `outcome`; `winning` is None
    when it resolved 50/50 (each share paid 0.5)."""

    ts_ms: int
    market_id: str
    outcome: Outcome
    shares: Micros
    payout: Micros
    winning: Outcome | None


VenueEvent = Fill | OrderDone | Settlement


@dataclass(slots=True)
class Position:
    """Holdings of one token. `shares`, `cost` and `fees` describe what is held now;
    the running totals describe the whole life of the position."""

    market_id: str
    outcome: Outcome
    shares: Micros = 0  # held now
    cost: Micros = 0  # cash paid for the shares held now, fees apart
    fees: Micros = 0  # entry fees of the shares held now
    bought: Micros = 0  # all shares bought
    bought_cost: Micros = 0  # all cash paid for them, fees apart
    sold: Micros = 0  # shares sold or settled
    sold_value: Micros = 0  # proceeds of sells and settlement payouts
    total_fees: Micros = 0  # every fee paid, entry and exit
    realized: Micros = 0  # net P&L booked so far
    opened_ms: int = 0
    entry_edge: Micros = 0
    strategy: str = ""
    position_id: int | None = None
    exit_reason: str = ""
    # lifecycle (bot/exits.py): ENTRY -> MONITORING -> trigger -> EXIT_PENDING -> CLOSED
    state: str = "ENTRY"
    stop_price: Micros = 0  # 0: no stop-loss
    target_price: Micros = 0  # 0: no take-profit
    peak: Micros = 0  # best bid seen since entry, for the trailing take-profit
    exit_trigger: str = ""
    exit_threshold: str = ""
    trigger_price: Micros = 0  # the bid that fired the trigger
    intended_exit_price: Micros = 0

    @property
    def entry_price(self) -> Micros:
        return (self.bought_cost * ONE) // self.bought if self.bought else 0

    @property
    def exit_price(self) -> Micros:
        return (self.sold_value * ONE) // self.sold if self.sold else 0

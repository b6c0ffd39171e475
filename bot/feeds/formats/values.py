"""Row validation: times, exact prices and sizes, outcomes, and keyword options."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from bot.errors import BotError
from bot.feeds.checks import MAX_FEE_EXPONENT, MAX_FEE_PPM, MAX_SIZE
from bot.feeds.formats.core import _MarketFields
from bot.feeds.tape import DataError
from bot.model import (
    ONE,
    Micros,
    Outcome,
    to_micros,
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_S: Final = 1_000_000_000  # 2001-09-09 in seconds
_MAX_S: Final = 100_000_000_000  # year 5138 in seconds, 1973 in milliseconds
_MIN_MS: Final = 1_000_000_000_000
_MAX_MS: Final = 100_000_000_000_000
_MS: Final = timedelta(milliseconds=1)

# Polymarket's crypto fee schedule (feeSchedule {rate: 0.07, exponent: 1, takerOnly: true}),
# used when neither metadata nor an option gives a market's fees
CRYPTO_FEE_PPM: Final = 70_000
CRYPTO_FEE_EXPONENT: Final = 1
CRYPTO_FEE_SOURCE: Final = "Polymarket crypto schedule (default without metadata)"


def parse_time(value: str | int | float | Decimal | datetime) -> int:
    """Epoch milliseconds from unix seconds, unix milliseconds or ISO-8601 (UTC if naive).

    Raises ValueError."""
    return _parse_time(value)[0]


def book_from_price(price: Decimal, *, tick: Micros, spread: Micros) -> tuple[Micros, Micros]:
    """(bid, ask) synthesized around ``price`` (in micros, may have a fraction): price minus
    half the spread rounded down to the tick, price plus half the spread rounded up, both
    clamped to [tick, 1 - tick] and at least one tick apart."""
    half = Decimal(spread) / 2
    bid = math.floor((price - half) / tick) * tick
    ask = math.ceil((price + half) / tick) * tick
    top = ONE - tick
    bid = min(max(bid, tick), top)
    ask = min(max(ask, tick), top)
    if ask - bid < tick:
        if bid + tick <= top:
            ask = bid + tick
        else:
            bid = ask - tick
    return bid, ask


# Files repeat their values: a price, a size, a window end, a row's time on both tokens'
# rows. What a text parsed to is remembered (bounded: forgotten every SEEN_MAX entries, so
# memory does not grow with the file); only what parsed, so every error is raised anew.
SEEN_MAX: Final = 65_536
_times_seen: dict[str, tuple[int, bool]] = {}
_micros_seen: dict[str, Micros] = {}


def _parse_time(value: object) -> tuple[int, bool]:
    """(epoch ms, had no time zone). Raises ValueError with a short reason."""
    if type(value) is str:
        found = _times_seen.get(value)
        if found is None:
            found = _parse_time_uncached(value)
            if len(_times_seen) >= SEEN_MAX:
                _times_seen.clear()
            _times_seen[value] = found
        return found
    return _parse_time_uncached(value)


def _parse_time_uncached(value: object) -> tuple[int, bool]:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a time")
    if isinstance(value, datetime):
        naive = value.tzinfo is None
        dt = value.replace(tzinfo=UTC) if naive else value
        return (dt - _EPOCH) // _MS, naive
    if isinstance(value, int | float | Decimal):
        number: int | Decimal = value if isinstance(value, int) else Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            number = int(text)
        else:
            try:
                number = Decimal(text)
            except InvalidOperation:
                try:
                    dt = datetime.fromisoformat(text)
                except ValueError:
                    raise ValueError(f"{value!r} is not a unix time or an ISO-8601 time") from None
                return _parse_time_uncached(dt)
    else:
        raise ValueError(f"{value!r} is not a time")
    if isinstance(number, Decimal) and not number.is_finite():
        raise ValueError(f"{value!r} is not a time")
    if _MIN_S <= number < _MAX_S:
        return int(number * 1000), False
    if _MIN_MS <= number < _MAX_MS:
        return int(number), False
    raise ValueError(f"{value!r} is out of range for unix seconds or milliseconds after 2001")


def _micros(text: str) -> Micros:
    """Exact micros from a decimal string; fast for plain "0.53"-style numbers."""
    value = _micros_seen.get(text)
    if value is not None:
        return value
    s = text.strip()
    whole, _, frac = s.partition(".")
    if len(frac) <= 6 and s.isascii() and (whole + frac).isdigit():
        value = int(whole or "0") * ONE + int(frac.ljust(6, "0"))
    else:
        try:
            value = to_micros(s)  # signs, exponents, too many decimals; raises ValueError
        except ArithmeticError:  # decimal.Overflow: an exponent past Decimal's range
            raise ValueError(f"not a number: {s!r}") from None
    if len(_micros_seen) >= SEEN_MAX:
        _micros_seen.clear()
    _micros_seen[text] = value
    return value


def _price(text: str, name: str, tick: Micros | None) -> Micros:
    """A price in [0, 1] on ``tick``; with no tick given, on 0.0001 or coarser (the market's
    tick is then inferred from its prices, see tick_of)."""
    try:
        value = _micros(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not 0 <= value <= ONE:
        raise ValueError(f"{name} {text.strip()} is outside [0, 1]")
    if value % (tick or 100):
        if tick is None:
            raise ValueError(f"{name} {text.strip()} is not on a tick of 0.0001 or coarser")
        raise ValueError(f"{name} {text.strip()} is not on the tick {tick / ONE:g}")
    return value


def _size(text: str, name: str) -> Micros:
    try:
        value = _micros(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if value < 0:
        raise ValueError(f"{name} {text.strip()} is negative")
    if value > MAX_SIZE:
        raise ValueError(f"{name} {text.strip()} is above {MAX_SIZE // ONE:,} shares")
    return value


class AmbiguousValue(BotError, ValueError):
    """A value whose form does not say one thing here: the file is refused, not the row."""


UP_WORDS: Final = frozenset({"UP", "YES"})
DOWN_WORDS: Final = frozenset({"DOWN", "NO"})
WON_WORDS: Final = frozenset({"1", "TRUE"})
LOST_WORDS: Final = frozenset({"0", "FALSE"})
MARKET_OUTCOMES: Final = "UP/DOWN (or Up/Down, Yes/No)"
# a market resolved 50/50 (each token paid 0.5): the outcome column of a row per market, or
# 0.5 on both tokens of rows per token
SPLIT_WORDS: Final = frozenset({"0.5", "0.50", "50-50", "50/50", "SPLIT"})


def is_split(value: object) -> bool:
    """The outcome column says the market resolved 50/50 (0.5, 50-50, 50/50 or SPLIT)."""
    return value is not None and str(value).strip().upper() in SPLIT_WORDS


def _outcome(value: object, column: str = "outcome") -> Outcome | None:
    """A market's outcome: UP/DOWN or Yes/No in any case; blank is None. 1/0 and true/false
    say whether one token won, which a row per market cannot tell: AmbiguousValue."""
    if value is None:
        return None
    text = str(value).strip().upper()
    if not text:
        return None
    if text in UP_WORDS:
        return Outcome.UP
    if text in DOWN_WORDS:
        return Outcome.DOWN
    if text in WON_WORDS or text in LOST_WORDS:
        raise AmbiguousValue(
            f"column {column}: {str(value).strip()!r} says whether a token won, but these rows are"
            f" per market; expected {MARKET_OUTCOMES}, or one row per token with a token_id column"
        )
    raise ValueError(f"{column} {value!r} is not {MARKET_OUTCOMES}")


def tick_of(price: Micros) -> Micros:
    """The coarsest Polymarket tick (0.01, 0.001, 0.0001) the price is on; 0 if none."""
    if price % 10_000 == 0:
        return 10_000
    if price % 1_000 == 0:
        return 1_000
    return 100 if price % 100 == 0 else 0


def _float(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} {text!r} is not a finite number")
    return value


class _Options:
    """Keyword options (and a sidecar's keys), parsed; a bad one raises DataError."""

    def __init__(self, path: Path, values: Mapping[str, Any], source: str = "option") -> None:
        self.path = path
        self.values = dict(values)
        self.source = source

    def _fail(self, key: str, why: str) -> DataError:
        value = self.values[key]
        return DataError(f"{self.path}: {self.source} {key}={value!r}: {why}")

    def _get(self, key: str, parse: Callable[[Any], Any], why: str) -> Any:
        if self.values.get(key) is None:
            return None
        value = self.values[key]
        try:
            if isinstance(value, bool):
                raise ValueError
            return parse(value)
        except (ValueError, TypeError, InvalidOperation):
            raise self._fail(key, why) from None

    def micros(self, key: str, default: Micros, lo: Micros, hi: Micros) -> Micros:
        def parse(value: Any) -> Micros:
            micros = _micros(value) if isinstance(value, str) else to_micros(value)
            if not lo <= micros <= hi:
                raise ValueError
            return micros

        got = self._get(key, parse, f"expected a decimal in [{lo / ONE:g}, {hi / ONE:g}]")
        return default if got is None else int(got)

    def integer(self, key: str, default: int, lo: int, hi: int) -> int:
        def parse(value: Any) -> int:
            if not isinstance(value, int | str) or not lo <= int(value) <= hi:
                raise ValueError
            return int(value)

        got = self._get(key, parse, f"expected an integer from {lo} to {hi}")
        return default if got is None else int(got)

    def text(self, key: str) -> str | None:
        def parse(value: Any) -> str:
            if not isinstance(value, str) or not value.strip():
                raise ValueError
            return value.strip()

        got = self._get(key, parse, "expected a non-empty text")
        return None if got is None else str(got)

    def time(self, key: str) -> int | None:
        got = self._get(key, lambda v: _parse_time(v)[0], "expected unix s/ms or ISO-8601")
        return None if got is None else int(got)

    def outcome(self, key: str) -> Outcome | None:
        got = self._get(key, _outcome, f"expected {MARKET_OUTCOMES}")
        return None if got is None else Outcome(got)

    def number(self, key: str) -> float | None:
        got = self._get(key, lambda v: _float(str(v), key), "expected a number")
        return None if got is None else float(got)

    def market_fields(self) -> _MarketFields:
        """Market fields from options; no tick option: None (inferred per market from the
        data); no fee option: Polymarket's crypto fee schedule, said so in fee_source."""
        tick: Micros | None = self.micros("tick", 0, 1, 100_000) or None
        if tick is not None and ONE % tick:
            raise self._fail("tick", "expected a tick that divides 1, such as 0.01 or 0.001")
        explicit = self.values.get("fee_rate_ppm") is not None
        return _MarketFields(
            instrument=self.text("instrument") or "",
            name=self.text("name"),
            tick=tick,
            min_size=self.micros("min_size", 5 * ONE, 0, 10**9 * ONE),
            fee_rate_ppm=self.integer("fee_rate_ppm", CRYPTO_FEE_PPM, 0, MAX_FEE_PPM),
            fee_exponent=self.integer("fee_exponent", CRYPTO_FEE_EXPONENT, 1, MAX_FEE_EXPONENT),
            fee_source=f"{self.source} fee_rate_ppm" if explicit else CRYPTO_FEE_SOURCE,
        )

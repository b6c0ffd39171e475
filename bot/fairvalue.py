"""Fair value of an up/down window from its underlying's price: one model for every mode.

An up/down window resolves UP when the underlying's price at the window's end is at or
above its strike (the price at the window's start). Under a driftless geometric random
walk with volatility `sigma` per square-root second, the UP token is worth

    P(UP) = Phi( ln(price / strike) / (sigma * sqrt(seconds_left)) )

The simulated market quotes around this value; live and backtest runs compute it from a
price feed (or a recorded price series) with `FairValue`, which keeps, per market, the
strike (the first price seen at or after the window's start) and an estimate of the
volatility from the price changes it is fed (`RealizedVol`). Standard library only.

`FairValue.quote` answers P(UP) with the inputs that made it (`Quote`), which signals.jsonl
records (`Quote.record`, named by `MODEL`). A live session's inputs also go to its tape
(`PriceInput`, `StrikeInput`, `FairState`, `ModelInput`: bot/feeds/tape.py), so that
`bot backtest` on that tape feeds the same model the same inputs (bot/feeds/fair_replay.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SQRT2 = math.sqrt(2.0)
MODEL = "lognormal-driftless/1"  # this module's model and its version: signals.jsonl names it


def phi(z: float) -> float:
    """The standard normal distribution function."""
    return 0.5 * (1.0 + math.erf(z / SQRT2))


def p_up(price: float, strike: float, seconds_left: float, sigma_per_sqrt_s: float) -> float:
    """P(the price at the end >= strike), in [0, 1]; at or after the end, 1 or 0."""
    if price <= 0 or strike <= 0:
        raise ValueError(f"prices must be positive (price {price}, strike {strike})")
    if seconds_left <= 0 or sigma_per_sqrt_s <= 0:
        return 1.0 if price >= strike else 0.0
    return phi(math.log(price / strike) / (sigma_per_sqrt_s * math.sqrt(seconds_left)))


class RealizedVol:
    """Volatility per square-root second from timestamped prices (an EWMA of variance rate).

    Until `min_samples` changes have been seen it answers `default`, so a model is usable
    from the first tick; the weight of each new sample is `1 - exp(-dt / half_life)`-like,
    so irregular sampling does not bias the estimate.
    """

    def __init__(self, default: float, half_life_s: float = 300.0, min_samples: int = 30) -> None:
        if default <= 0:
            raise ValueError(f"default volatility must be positive, not {default}")
        self.default = default
        self.half_life_s = half_life_s
        self.min_samples = min_samples
        self._var_rate: float | None = None  # variance of log-returns per second
        self._last: tuple[int, float] | None = None
        self.samples = 0

    def update(self, ts_ms: int, price: float) -> None:
        if price <= 0:
            return
        last = self._last
        self._last = (ts_ms, price)
        if last is None or ts_ms <= last[0]:
            return
        dt = (ts_ms - last[0]) / 1000
        rate = math.log(price / last[1]) ** 2 / dt
        weight = 1.0 - math.exp(-dt * math.log(2) / self.half_life_s)
        prev = self._var_rate
        self._var_rate = rate if prev is None else prev + weight * (rate - prev)
        self.samples += 1

    @property
    def sigma(self) -> float:
        if self._var_rate is None or self.samples < self.min_samples or self._var_rate <= 0:
            return self.default
        return math.sqrt(self._var_rate)


@dataclass(frozen=True)
class Window:
    """What the model needs to know about a market: its underlying and its window."""

    market_id: str
    underlying: str
    start_ms: int
    end_ms: int


class FairValue:
    """P(UP) for each watched window from its underlying's prices.

    `watch(window)` before or during the window; `on_price(underlying, ts_ms, price)` for
    every price; `p_up(market_id, ts_ms)` answers None while the strike is unknown (no
    price at or after the window's start yet) or no price has been seen.
    """

    def __init__(self, default_sigma: float, half_life_s: float = 300.0) -> None:
        self.default_sigma = default_sigma
        self.half_life_s = half_life_s
        self._windows: dict[str, Window] = {}
        self._strikes: dict[str, float] = {}
        self._last: dict[str, tuple[int, float]] = {}
        self._vols: dict[str, RealizedVol] = {}

    def watch(self, window: Window, strike: float | None = None) -> None:
        self._windows[window.market_id] = window
        if strike is not None and strike > 0:
            self._strikes[window.market_id] = strike

    def forget(self, market_id: str) -> None:
        self._windows.pop(market_id, None)
        self._strikes.pop(market_id, None)

    def strike(self, market_id: str) -> float | None:
        return self._strikes.get(market_id)

    def on_price(self, underlying: str, ts_ms: int, price: float) -> None:
        if price <= 0:
            return
        vol = self._vols.get(underlying)
        if vol is None:
            vol = self._vols[underlying] = RealizedVol(self.default_sigma, self.half_life_s)
        vol.update(ts_ms, price)
        self._last[underlying] = (ts_ms, price)
        for window in self._windows.values():
            if (
                window.underlying == underlying
                and window.market_id not in self._strikes
                and window.start_ms <= ts_ms < window.end_ms
            ):
                self._strikes[window.market_id] = price

    def sigma(self, underlying: str) -> float:
        vol = self._vols.get(underlying)
        return self.default_sigma if vol is None else vol.sigma

    def quote(self, market_id: str, ts_ms: int) -> Quote | None:
        """P(UP) with its inputs; None as `p_up` answers None."""
        window = self._windows.get(market_id)
        strike = self._strikes.get(market_id)
        if window is None or strike is None:
            return None
        last = self._last.get(window.underlying)
        if last is None:
            return None
        seconds_left = max(0.0, (window.end_ms - ts_ms) / 1000)
        sigma = self.sigma(window.underlying)
        return Quote(
            p_up(last[1], strike, seconds_left, sigma),
            last[1],
            strike,
            seconds_left,
            sigma,
            window.underlying,
        )

    def p_up(self, market_id: str, ts_ms: int) -> float | None:
        window = self._windows.get(market_id)
        strike = self._strikes.get(market_id)
        if window is None or strike is None:
            return None
        last = self._last.get(window.underlying)
        if last is None:
            return None
        seconds_left = max(0.0, (window.end_ms - ts_ms) / 1000)
        return p_up(last[1], strike, seconds_left, self.sigma(window.underlying))


@dataclass(frozen=True, slots=True)
class Quote:
    """P(UP) and the model's inputs: the underlying's last price, the strike, the seconds left
    and the volatility per square-root second; `source` names the price (``polybolt:btcusd``)."""

    p_up: float
    price: float
    strike: float
    seconds_left: float
    sigma: float
    source: str

    def record(self, price_age_ms: int | None, strike_source: str | None) -> dict[str, object]:
        """The ``fair_value`` object of a signals.jsonl line (state/README.md)."""
        return {
            "model": MODEL,
            "p_up": round(self.p_up, 6),
            "underlying": self.price,
            "strike": self.strike,
            "strike_source": strike_source or None,
            "seconds_left": round(self.seconds_left, 3),
            "volatility_per_sqrt_s": self.sigma,
            "price_source": self.source,
            "price_age_s": None if price_age_ms is None else round(max(0, price_age_ms) / 1000, 3),
        }


@dataclass(frozen=True, slots=True)
class Priced:
    """What a live feed attaches to a book tick it priced (``BookTick.fair_info``): the quote,
    when the last price came (engine clock, ms) and where the strike came from (feed|gamma)."""

    quote: Quote
    price_ms: int
    strike_source: str

    def record(self, ts_ms: int) -> dict[str, object]:
        return self.quote.record(ts_ms - self.price_ms, self.strike_source)


def signal_fields(
    ts_ms: int, p_up_micros: int | None, info: object, has_tick: bool = True
) -> dict[str, object]:
    """The fair-value fields of a signals.jsonl line (state/README.md): P(UP) as the strategy
    saw it, the model's inputs (`fair_value`) or null with `fair_value_reason`."""
    record = info.record(ts_ms) if isinstance(info, Priced) else None
    if record is not None:
        reason = None
    elif isinstance(info, str):
        reason = info
    elif not has_tick:
        reason = "no book tick with this signal"
    elif p_up_micros is not None:
        reason = "P(UP) came with the book, without the model's inputs (simulated or recorded)"
    else:
        reason = "no fair value for this market (no underlying price model)"
    return {
        "p_up": None if p_up_micros is None else p_up_micros / 1_000_000,
        "p_up_micros": p_up_micros,
        "fair_value": record,
        "fair_value_reason": reason,
    }


# -- the model's inputs as a tape records them (bot/feeds/tape.py) -----------------------------


@dataclass(frozen=True, slots=True)
class ModelInput:
    """The model and its settings, written before a session's first input."""

    ts_ms: int
    name: str
    default_sigma: float
    half_life_s: float


@dataclass(frozen=True, slots=True)
class PriceInput:
    """One price as the engine took it: `ts_ms` when the engine took it (its clock), `price_ts_ms`
    the source's own time, `key` the underlying (``polybolt:btcusd``)."""

    ts_ms: int
    key: str
    price_ts_ms: int
    price: float


@dataclass(frozen=True, slots=True)
class StrikeInput:
    """A window's strike taken (or replaced): `source` is where it came from (``feed``: the
    first price or the candle's open; ``gamma``: the official price to beat)."""

    ts_ms: int
    market_id: str
    key: str
    start_ms: int
    end_ms: int
    strike: float
    source: str


@dataclass(frozen=True, slots=True)
class FairState:
    """A market's fair value went away (`reason`) or came back (None), before the tick it
    applies to."""

    ts_ms: int
    market_id: str
    reason: str | None


ModelLine = ModelInput | PriceInput | StrikeInput | FairState

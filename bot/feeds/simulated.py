"""The embedded simulated market: crypto up/down windows, deterministic for a seed.

Each instrument's price follows a geometric random walk sampled every `tick_s`.
Windows are aligned to multiples of `window_s` since the epoch (like Polymarket's
5-minute windows); a window's strike is the price at its start, and it resolves UP when
the price at its end is at or above the strike. The UP token's fair value is
P(finish >= strike) under the walk; the quoted book sits around it with a persistent
mispricing, a spread on the tick grid and random sizes. A noisy forecast of the fair
value is published with each tick for strategies that want one.

The whole state (prices, random generators, windows) can be saved with `snapshot()` and
restored with `SimulatedMarket.restore()`, so a restarted bot continues the same market.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bot.config import MarketConfig
from bot.fairvalue import p_up
from bot.model import (
    ONE,
    BookTick,
    Market,
    MarketEvent,
    Outcome,
    WindowOpened,
    WindowResolved,
    iso,
    to_micros,
)


def fingerprint(cfg: MarketConfig) -> str:
    """Changes whenever a setting that shapes the market changes."""
    return hashlib.sha256(repr(cfg).encode()).hexdigest()[:16]


@dataclass
class _Instrument:
    name: str
    rng: random.Random
    price: float
    mispricing: float = 0.0
    market: Market | None = None


class SimulatedMarket:
    def __init__(self, cfg: MarketConfig, start_ms: int) -> None:
        self.cfg = cfg
        self.tick_ms = max(1, round(cfg.tick_s * 1000))
        self.window_ms = cfg.window_s * 1000
        self.price_tick = to_micros(round(cfg.tick, 6))
        self.min_size = to_micros(round(cfg.min_size, 2))
        self.fee_rate_ppm = round(cfg.fee_rate * ONE)
        self.spread_ticks = max(1, round(cfg.spread / cfg.tick))
        self.next_ms = start_ms - start_ms % self.tick_ms
        self.instruments = [
            _Instrument(name, random.Random(f"{cfg.seed}:{name}"), price)
            for name, price in zip(cfg.instruments, cfg.start_prices, strict=True)
        ]

    # -- the feed interface -------------------------------------------------------------

    def peek_ms(self) -> int:
        """Time of the next event batch."""
        return self.next_ms

    def next_batch(self) -> list[MarketEvent]:
        """All events of the next sample time, in a fixed order."""
        ts = self.next_ms
        self.next_ms += self.tick_ms
        events: list[MarketEvent] = []
        for inst in self.instruments:
            self._advance(inst, ts, events)
        return events

    def events(self, until_ms: int | None = None) -> Iterator[MarketEvent]:
        while until_ms is None or self.next_ms <= until_ms:
            yield from self.next_batch()

    def open_markets(self) -> list[Market]:
        return [inst.market for inst in self.instruments if inst.market is not None]

    # -- state ----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "fingerprint": fingerprint(self.cfg),
            "next_ms": self.next_ms,
            "instruments": [
                {
                    "name": inst.name,
                    "price": inst.price,
                    "mispricing": inst.mispricing,
                    "rng": _rng_state(inst.rng),
                    "window_start_ms": inst.market.window_start_ms if inst.market else None,
                    "strike": inst.market.strike if inst.market else None,
                }
                for inst in self.instruments
            ],
        }

    @classmethod
    def restore(cls, cfg: MarketConfig, snap: dict[str, Any]) -> SimulatedMarket | None:
        """The market saved in `snap`, or None when the settings changed since."""
        if snap.get("fingerprint") != fingerprint(cfg):
            return None
        sim = cls(cfg, snap["next_ms"])
        sim.next_ms = snap["next_ms"]
        for inst, saved in zip(sim.instruments, snap["instruments"], strict=True):
            inst.price = saved["price"]
            inst.mispricing = saved["mispricing"]
            inst.rng.setstate(_rng_from(saved["rng"]))
            if saved["window_start_ms"] is not None:
                inst.market = sim._market(inst.name, saved["window_start_ms"], saved["strike"])
        return sim

    # -- the model ------------------------------------------------------------------

    def _market(self, name: str, start_ms: int, strike: float) -> Market:
        end_ms = start_ms + self.window_ms
        minutes = self.cfg.window_s // 60
        label = f"{minutes}M" if self.cfg.window_s % 60 == 0 else f"{self.cfg.window_s}S"
        whole_minutes = self.cfg.window_s % 60 == 0
        stamp = iso(start_ms)[: 16 if whole_minutes else 19].replace("-", "").replace(":", "")
        return Market(
            market_id=f"{name}-UPDOWN-{label}-{stamp}Z",
            instrument=name,
            name=f"{name} up or down {iso(start_ms)[11:16]}-{iso(end_ms)[11:16]} UTC",
            window_start_ms=start_ms,
            window_end_ms=end_ms,
            strike=strike,
            tick=self.price_tick,
            min_size=self.min_size,
            fee_rate_ppm=self.fee_rate_ppm,
        )

    def _advance(self, inst: _Instrument, ts: int, out: list[MarketEvent]) -> None:
        cfg = self.cfg
        rng = inst.rng
        dt = self.tick_ms / 1000
        inst.price *= math.exp(cfg.volatility_per_s * math.sqrt(dt) * rng.gauss(0.0, 1.0))
        market = inst.market
        if market is not None and ts >= market.window_end_ms:
            strike = market.strike or 0.0
            winner = Outcome.UP if inst.price >= strike else Outcome.DOWN
            out.append(WindowResolved(ts, market.market_id, winner, inst.price))
            market = inst.market = None
        if market is None:
            start = ts - ts % self.window_ms
            market = inst.market = self._market(inst.name, start, inst.price)
            out.append(WindowOpened(ts, market))
        tau = max(0.0, (market.window_end_ms - ts) / 1000)
        strike = market.strike or inst.price
        fair = p_up(inst.price, strike, tau, cfg.volatility_per_s)
        inst.mispricing = 0.9 * inst.mispricing + rng.gauss(0.0, cfg.mispricing * 0.4359)
        tick = self.price_tick
        lo, hi = tick, ONE - tick
        mid = min(max(fair + inst.mispricing, 0.0), 1.0)
        bid = int(mid * ONE - self.spread_ticks * tick / 2) // tick * tick
        bid = min(max(bid, lo), hi - tick)
        ask = min(bid + self.spread_ticks * tick, hi)
        forecast = min(max(fair + rng.gauss(0.0, cfg.forecast_noise), 0.0), 1.0)
        out.append(
            BookTick(
                ts_ms=ts,
                market_id=market.market_id,
                bid=bid,
                bid_size=rng.randint(20, 300) * ONE,
                ask=ask,
                ask_size=rng.randint(20, 300) * ONE,
                fair_forecast=round(forecast * ONE),
                underlying=round(inst.price, 6),
            )
        )


def _rng_state(rng: random.Random) -> list[Any]:
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def _rng_from(saved: list[Any]) -> tuple[Any, ...]:
    version, internal, gauss_next = saved
    return (version, tuple(internal), gauss_next)

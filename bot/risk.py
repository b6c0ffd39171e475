"""Pre-trade gates: every entry, from any strategy, passes here before it reaches a venue.

`check_entry` answers with the order to send or with the exact reason and limit that
stopped it. Strategies never size or check limits themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import RiskConfig
from bot.model import ONE, Market, Micros, Signal, notional, taker_fee, to_micros, usd


@dataclass(frozen=True, slots=True)
class Decision:
    size: Micros = 0
    reason: str = ""  # empty when the entry may go ahead
    limit: str = ""  # the setting that stopped it

    @property
    def ok(self) -> bool:
        return not self.reason


@dataclass(frozen=True, slots=True)
class Exposure:
    venue_balance: Micros  # what the venue reports
    locked: Micros  # held back by our resting BUY orders
    deployed: Micros  # cost of open positions
    open_orders: int


class RiskGate:
    def __init__(self, cfg: RiskConfig) -> None:
        self.max_position = to_micros(round(cfg.max_position_usd, 6))
        self.max_exposure = to_micros(round(cfg.max_total_exposure_usd, 6))
        self.max_open_orders = cfg.max_open_orders

    def check_entry(self, signal: Signal, market: Market, now_ms: int, ex: Exposure) -> Decision:
        if now_ms < market.window_start_ms:
            return Decision(reason=f"window {market.market_id} has not opened yet", limit="window")
        if now_ms >= market.window_end_ms:
            return Decision(reason=f"window {market.market_id} has closed", limit="window")
        price = signal.price
        if not market.tick <= price <= ONE - market.tick or price % market.tick:
            return Decision(
                reason=f"price {price / ONE} is not a valid tick price for {market.market_id}",
                limit="tick",
            )
        size = signal.size if signal.size is not None else self._size_for(price)
        size -= size % 10_000  # shares have two decimals
        cost = notional(price, size)
        if cost > self.max_position:
            size = self._size_for(price)
            cost = notional(price, size)
        if size < market.min_size:
            return Decision(
                reason=(
                    f"{usd(self.max_position)} buys {size / ONE:g} shares at {price / ONE:g},"
                    f" below the market minimum of {market.min_size / ONE:g}"
                ),
                limit="risk.max_position_usd",
            )
        if ex.open_orders >= self.max_open_orders:
            return Decision(
                reason=f"{ex.open_orders} open orders, the maximum is {self.max_open_orders}",
                limit="risk.max_open_orders",
            )
        if ex.deployed + ex.locked + cost > self.max_exposure:
            return Decision(
                reason=(
                    f"exposure would be {usd(ex.deployed + ex.locked + cost)},"
                    f" the cap is {usd(self.max_exposure)}"
                ),
                limit="risk.max_total_exposure_usd",
            )
        need = cost + taker_fee(size, price, market.fee_rate_ppm, market.fee_exponent)
        free = ex.venue_balance - ex.locked
        if need > free:
            return Decision(
                reason=f"order needs {usd(need)}, the venue balance leaves {usd(free)} free",
                limit="balance",
            )
        return Decision(size=size)

    def _size_for(self, price: Micros) -> Micros:
        shares = self.max_position * ONE // price
        return shares - shares % 10_000

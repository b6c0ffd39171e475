"""A live session's fair value, replayed from its tape: the same model fed the same inputs.

A DRY_RUN or LIVE tape carries the fair-value model's inputs beside its books (prices,
strikes, the model's settings, each change of a market's fair-value state:
bot/feeds/tape_inputs.py). `FairReplay` takes them in file order and, for each book tick of
a market the session priced, rebuilds what the live feed attached to it (bot/feeds/fair_feed.py):
the model's quote with its inputs, or why there was none. The tick's P(UP) stays the one
recorded (the strategies decide on exactly what the session decided on); the replayed quote
gives the same value because the model (bot/fairvalue.py) is deterministic in its inputs,
and the backtest's signals.jsonl carries it with its inputs, as the session's did.
"""

from __future__ import annotations

from bot.fairvalue import FairState, FairValue, ModelInput, ModelLine, Priced, PriceInput, StrikeInput, Window
from bot.model import BookTick

NOT_RECORDED = "no fair value (its reason was not recorded)"


class FairReplay:
    def __init__(self) -> None:
        self.model: FairValue | None = None
        self._received: dict[str, int] = {}  # underlying -> when its last price came (engine clock)
        self._strike_source: dict[str, str] = {}
        self._state: dict[str, str | None] = {}  # market -> why it has no fair value (None: it has)
        self.priced = 0  # ticks given the model's inputs

    def take(self, lines: list[ModelLine]) -> None:
        """The inputs recorded before the next event, in file order."""
        for line in lines:
            if isinstance(line, PriceInput):
                self._fair().on_price(line.key, line.price_ts_ms, line.price)
                self._received[line.key] = line.ts_ms
            elif isinstance(line, StrikeInput):
                window = Window(line.market_id, line.key, line.start_ms, line.end_ms)
                self._fair().watch(window, line.strike)
                self._strike_source[line.market_id] = line.source
            elif isinstance(line, FairState):
                self._state[line.market_id] = line.reason
            elif self.model is None:  # ModelInput: the session's settings, before its first input
                assert isinstance(line, ModelInput)
                self.model = FairValue(line.default_sigma, line.half_life_s)

    def price(self, tick: BookTick) -> None:
        """Attach to a tick of a market the session priced what the session attached to it."""
        market_id = tick.market_id
        if market_id not in self._state:
            return  # a market without an underlying: the session attached nothing either
        why = self._state[market_id]
        if tick.fair_forecast is None or self.model is None:
            tick.fair_info = why or NOT_RECORDED
            return
        quote = self.model.quote(market_id, tick.ts_ms)
        received = None if quote is None else self._received.get(quote.source)
        if quote is None or received is None:
            tick.fair_info = why or NOT_RECORDED
            return
        tick.fair_info = Priced(quote, received, self._strike_source.get(market_id, ""))
        self.priced += 1

    def forget(self, market_id: str) -> None:
        if self.model is not None:
            self.model.forget(market_id)
        self._state.pop(market_id, None)
        self._strike_source.pop(market_id, None)

    def _fair(self) -> FairValue:
        if self.model is None:  # inputs without the settings line: the defaults of a live session
            from bot.feeds.underlying import DEFAULT_SIGMA

            self.model = FairValue(DEFAULT_SIGMA)
        return self.model

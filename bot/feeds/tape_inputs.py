"""The fair-value model's inputs on a tape: the lines a live session writes beside its books.

A DRY_RUN or LIVE session with the underlying's price (bot/feeds/fair_feed.py) records,
before each batch of market events, what the model took in that batch, in the order it took
it; and before a book line whose fair value went away or came back, that change:

``{"e":"model","ts":T,"name":"lognormal-driftless/1","sigma":S,"half_life_s":H}``
    The model and its settings (default volatility per square-root second, the half-life
    of its realised-volatility estimate). Once per session, before its first input.
``{"e":"price","ts":T,"k":"polybolt:btcusd","t":SOURCE_TS,"p":PRICE}``
    One price of the underlying ``k``: ``ts`` when the bot took it, ``t`` the source's own
    time (what the volatility estimate uses), ``p`` the price (a float).
``{"e":"strike","ts":T,"m":ID,"k":KEY,"start":S,"end":E,"s":STRIKE,"from":"feed"|"gamma"}``
    A window's strike: taken from the feed at the window's start, or Gamma's official price
    to beat (which replaces the feed's, when it differs).
``{"e":"fair","ts":T,"m":ID,"why":TEXT|null}``
    The market's fair value went away (``why``) or came back (null).

`bot backtest` on such a tape feeds the same model the same inputs
(bot/feeds/fair_replay.py), so its signals carry the same P(UP) and inputs as the session's.
A reader that does not ask for them (`read_tape(path, inputs=False)`) skips these lines.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from bot.fairvalue import FairState, ModelInput, ModelLine, PriceInput, StrikeInput

INPUT_KINDS: Final = frozenset(("model", "price", "strike", "fair"))
_NL: Final = orjson.OPT_APPEND_NEWLINE


def encode_input(line: ModelLine) -> bytes:
    """One tape line (with its newline)."""
    obj: dict[str, Any]
    if isinstance(line, PriceInput):
        obj = {"e": "price", "ts": line.ts_ms, "k": line.key, "t": line.price_ts_ms, "p": line.price}
    elif isinstance(line, StrikeInput):
        obj = {
            "e": "strike",
            "ts": line.ts_ms,
            "m": line.market_id,
            "k": line.key,
            "start": line.start_ms,
            "end": line.end_ms,
            "s": line.strike,
            "from": line.source,
        }
    elif isinstance(line, FairState):
        obj = {"e": "fair", "ts": line.ts_ms, "m": line.market_id, "why": line.reason}
    else:
        obj = {
            "e": "model",
            "ts": line.ts_ms,
            "name": line.name,
            "sigma": line.default_sigma,
            "half_life_s": line.half_life_s,
        }
    return orjson.dumps(obj, option=_NL)


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj[key]
    if type(value) is not int or value < 0:
        raise ValueError(f"{key} must be a non-negative integer, not {str(value)[:40]!r}")
    return value


def _price(obj: dict[str, Any], key: str) -> float:
    value = obj[key]
    if type(value) not in (int, float) or not value > 0:
        raise ValueError(f"{key} must be a positive number, not {str(value)[:40]!r}")
    return float(value)


def _text(obj: dict[str, Any], key: str) -> str:
    value = obj[key]
    if type(value) is not str or not value:
        raise ValueError(f"{key} must be a non-empty string, not {str(value)[:40]!r}")
    return value


def decode_input(kind: str, obj: dict[str, Any]) -> ModelLine:
    """The input of one line of kind `kind`; KeyError/ValueError naming what is wrong."""
    ts = _int(obj, "ts")
    if kind == "price":
        return PriceInput(ts, _text(obj, "k"), _int(obj, "t"), _price(obj, "p"))
    if kind == "strike":
        return StrikeInput(
            ts,
            _text(obj, "m"),
            _text(obj, "k"),
            _int(obj, "start"),
            _int(obj, "end"),
            _price(obj, "s"),
            _text(obj, "from"),
        )
    if kind == "fair":
        why = obj["why"]
        if why is not None and type(why) is not str:
            raise ValueError(f"why must be text or null, not {str(why)[:40]!r}")
        return FairState(ts, _text(obj, "m"), why)
    return ModelInput(ts, _text(obj, "name"), _price(obj, "sigma"), _price(obj, "half_life_s"))

"""A Polymarket price history (``polymarket``); see the package doc."""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from bot.feeds.formats.core import _OPTIONS, MAX_SIDECAR_BYTES, _Collector, _MarketAcc, _open_text
from bot.feeds.formats.values import _Options, _parse_time, book_from_price
from bot.feeds.tape import DataError
from bot.feeds.where import at, json_error, utf8_error
from bot.model import (
    ONE,
    BookTick,
    Outcome,
    iso,
)
from bot.safefile import FileRefused, read_small

# ---------------------------------------------------------------------------
# Polymarket price history


def _sidecar(path: Path) -> Path:
    name = path.name
    for suffix in (".json.gz", ".json"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".meta.json")


def _read_history(path: Path, expected: str) -> list[Any]:
    """The file's list of points; DataError at the line and column where it cannot be read."""
    try:
        with _open_text(path) as f:
            raw = f.read()
        data = orjson.loads(raw)
    except UnicodeDecodeError:
        raise utf8_error(path, "a Polymarket price history (JSON)") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read ({exc}); expected {expected}") from None
    except orjson.JSONDecodeError as exc:
        raise json_error(path, exc, expected) from None
    history = data.get("history") if isinstance(data, dict) else data
    if not isinstance(history, list):
        raise DataError(at(path, f'no list of points under "history"; expected {expected}', 1, 1))
    return history


def _load_polymarket(path: Path, col: _Collector, options: Mapping[str, Any]) -> dict[str, _MarketAcc]:  # noqa: C901 - one reader of the price-history layout, step by step
    report = col.report
    report.row_unit = "point"
    expected = 'a Polymarket price history {"history": [{"t": unix_s, "p": price}, ...]}'
    history = _read_history(path, expected)  # a file that cannot be read says so first
    settings: dict[str, Any] = {}
    sidecar = _sidecar(path)
    if os.path.lexists(sidecar):  # a dangling link or a folder there is an error, not "no settings"
        try:
            meta = orjson.loads(read_small(sidecar, MAX_SIDECAR_BYTES))
        except FileRefused as exc:
            raise DataError(f"{sidecar}: {exc}; expected a JSON object of settings") from None
        except orjson.JSONDecodeError as exc:
            raise json_error(sidecar, exc, "a JSON object of settings") from None
        if not isinstance(meta, dict):
            raise DataError(f"{sidecar}: expected a JSON object of settings")
        allowed = _OPTIONS["polymarket"] - {"strict"}
        unknown = sorted(set(meta) - allowed)
        if unknown:
            raise DataError(
                f"{sidecar}: unknown key(s) {', '.join(unknown)};"
                f" expected some of {', '.join(sorted(allowed))}"
            )
        settings.update(meta)
        report.notes.append(f"settings from {sidecar.name}")
    settings.update({key: value for key, value in options.items() if key != "strict"})
    opts = _Options(path, settings, source="setting")
    col.fields = opts.market_fields()
    tick = col.fields.tick = col.fields.tick or 10_000  # the synthesized book's tick
    token_outcome = opts.outcome("token_outcome")
    window_end = opts.time("window_end")
    for key, value in (("token_outcome", token_outcome), ("window_end", window_end)):
        if value is None:
            raise DataError(f"{path}: {key} is not set; pass {key}=... or put it in {sidecar.name}")
    assert token_outcome is not None
    assert window_end is not None
    spread = opts.micros("spread", 2 * tick, 0, ONE // 2)
    size = opts.micros("size", 100 * ONE, 0, 10**9 * ONE)
    market_id = opts.text("market_id") or _sidecar(path).name[: -len(".meta.json")]
    acc = _MarketAcc(
        market_id,
        window_start=opts.time("window_start"),
        window_end=window_end,
        strike=opts.number("strike"),
        outcome=opts.outcome("outcome"),
    )
    report.notes.append(
        f"{market_id}: {token_outcome.value} token, synthesized book with spread"
        f" {spread / ONE:g}, tick {tick / ONE:g}, size {size / ONE:g}"
    )

    down = token_outcome is Outcome.DOWN
    for number, point in enumerate(history, start=1):
        report.rows_read += 1
        try:
            if not isinstance(point, dict):
                raise ValueError(f"{point!r} is not an object with t and p")
            if "t" not in point or "p" not in point:
                raise ValueError(f"missing {'t' if 't' not in point else 'p'}")
            t, p = point["t"], point["p"]
            if isinstance(t, str) or not isinstance(t, int | float):
                raise ValueError(f"t {t!r} is not a number")
            ts = _parse_time(t)[0]
            if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p):
                raise ValueError(f"p {p!r} is not a number")
            price = Decimal(repr(p)) * ONE
            if not 0 <= price <= ONE:
                raise ValueError(f"p {p!r} is outside [0, 1]")
        except ValueError as exc:
            col.bad(number, str(exc))
            continue
        if acc.last_ts is not None and ts < acc.last_ts:
            col.bad(number, f"time goes backwards ({iso(ts)} after {iso(acc.last_ts)})")
            continue
        if ts >= window_end:
            col.ignore("point at or after window end")
            continue
        bid, ask = book_from_price(ONE - price if down else price, tick=tick, spread=spread)
        acc.ticks.append(BookTick(ts, market_id, bid, size, ask, size))
        acc.last_ts = ts
    return {market_id: acc}

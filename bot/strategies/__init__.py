"""Strategies: `evaluate(window: WindowState) -> Signal | None`, nothing else.

A strategy sees one market window at a time and proposes a trade; it never sizes against
the account, checks limits or talks to a venue: the order manager does that for every
strategy alike. Parameters come from `[strategies.params.NAME]` in bot.toml.

Built in: `canary` and `edge`. A custom strategy is named `package.module:ClassName`.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from dataclasses import dataclass
from typing import Any, Protocol

from bot.config import ConfigError, build_section
from bot.model import BookTick, Market, Micros, Outcome, Signal


@dataclass(slots=True)
class WindowState:
    """What a strategy sees of one market at one tick. Read-only by convention (not `frozen`,
    whose __init__ costs eight times as much: the engine builds one per strategy per tick)."""

    market: Market
    book: BookTick
    now_ms: int
    holding: dict[Outcome, Micros]  # shares held per outcome
    open_orders: int  # resting orders in this market
    entries: int  # entry orders this strategy placed in this window
    seconds_left: float  # until the window ends


class Strategy(Protocol):
    name: str

    def evaluate(self, window: WindowState) -> Signal | None: ...


def build_strategies(enabled: tuple[str, ...], params: dict[str, dict[str, Any]]) -> list[Strategy]:
    from bot.strategies.canary import Canary
    from bot.strategies.edge import Edge

    builtin: dict[str, Any] = {"canary": Canary, "edge": Edge}
    out: list[Strategy] = []
    known: set[str] = set()
    for entry in enabled:
        cls = builtin.get(entry) or _import(entry)
        name = getattr(cls, "name", entry)
        known |= {entry, name}
        param_cls = getattr(cls, "Params", None)
        settings = params.get(name, params.get(entry, {}))
        if param_cls is not None and dataclasses.is_dataclass(param_cls):
            values = build_section(typing.cast(type, param_cls), settings, f"strategies.params.{name}.")
            out.append(cls(values))
        else:
            out.append(cls(**settings))
    unknown_params = set(params) - known
    if unknown_params:
        name = sorted(unknown_params)[0]
        raise ConfigError(f"strategies.params.{name}: strategy {name!r} is not enabled")
    return out


def _import(name: str) -> Any:
    module, _, attr = name.partition(":")
    if not attr:
        raise ConfigError(f"strategies.enabled: unknown strategy {name!r} (canary, edge, or module:Class)")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"strategies.enabled: cannot load {name!r}: {exc}") from None

"""Strategies: `evaluate(window: WindowState) -> Signal | None`, nothing else.

A strategy sees one market window at a time and proposes a trade; it never sizes against
the account, checks limits or talks to a venue: the order manager does that for every
strategy alike. Parameters come from `[strategies.params.NAME]` in bot.toml.

Built in: `canary`, `edge` and `forecast` (trades on the forecasts handed in through
inbox/); the baselines `favourite`, `hold_up`, `hold_down`. A custom strategy is named
`package.module:ClassName`.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from typing import Any

from bot.config import ConfigError, build_section
from bot.strategies.base import Strategy, WindowState

__all__ = ["Strategy", "WindowState", "build_strategies"]


def build_strategies(enabled: tuple[str, ...], params: dict[str, dict[str, Any]]) -> list[Strategy]:
    from bot.strategies.baselines import BASELINES
    from bot.strategies.canary import Canary
    from bot.strategies.edge import Edge
    from bot.strategies.forecast import ForecastStrategy

    builtin: dict[str, Any] = {"canary": Canary, "edge": Edge, "forecast": ForecastStrategy, **BASELINES}
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
            out.append(_construct(entry, cls, values))
        else:
            out.append(_construct(entry, cls, **settings))
        if not isinstance(getattr(out[-1], "name", None), str) or not out[-1].name:
            raise ConfigError(f"strategies.enabled: {entry!r} has no name (a non-empty string)")
    unknown_params = set(params) - known
    if unknown_params:
        name = sorted(unknown_params)[0]
        raise ConfigError(f"strategies.params.{name}: strategy {name!r} is not enabled")
    return out


def _construct(entry: str, cls: type, *args: Any, **kwargs: Any) -> Strategy:
    try:
        return typing.cast(Strategy, cls(*args, **kwargs))
    except (Exception, SystemExit) as exc:  # the strategy's own code: any error is a bad setting
        raise ConfigError(
            f"strategies.enabled: {entry!r} could not be built: {type(exc).__name__}: {exc}"[:300]
        ) from None


def _import(name: str) -> type:
    """The class `module:Name` names, checked to be a strategy before anything calls it."""
    module, _, attr = name.partition(":")
    if not attr or not module:
        raise ConfigError(
            f"strategies.enabled: unknown strategy {name!r} (canary, edge, forecast, or module:Class)"
        )
    try:
        found = importlib.import_module(module)
        for part in attr.split("."):
            found = getattr(found, part)
    except (Exception, SystemExit) as exc:  # importing runs the module's code: any error is a bad setting
        why = f"{type(exc).__name__}: {exc}"
        raise ConfigError(f"strategies.enabled: cannot load {name!r}: {why}"[:300]) from None
    if not isinstance(found, type):
        what = type(found).__name__
        raise ConfigError(f"strategies.enabled: {name!r} is a {what}, not a class with evaluate(window)")
    if not callable(getattr(found, "evaluate", None)):
        raise ConfigError(f"strategies.enabled: {name!r} is a class without evaluate(window): not a strategy")
    label = getattr(found, "name", None)
    if label is not None and not isinstance(label, str):
        raise ConfigError(f"strategies.enabled: {name!r}: its name must be a string")
    return found

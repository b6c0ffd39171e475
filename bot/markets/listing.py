"""`bot markets`: what the bot would trade now and next, read from Gamma, as text or JSON.

The markets come from the command line (``--series``, ``--market``, ``--search``) or, when
none is given, from the ``[polymarket]`` table of HOME/bot.toml (``series``, ``markets``);
the host from ``--host``, else that table's ``gamma_host``. The table is read raw here so
the command works before those keys are wired into bot.config. Each series shows the window
that ended last, the open one and the next ones.

Exit codes: 0 listed; 1 Gamma could not be read (each failure on one line); 2 bad input (an
unknown series, a malformed market reference, an unreadable bot.toml).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bot.errors import EXIT_ERROR, EXIT_OK, VenueError, exit_code
from bot.markets.client import DEFAULT_HOST, GammaClient
from bot.markets.discovery import DiscoveredMarket, Discovery, Status, search
from bot.markets.series import DiscoveryError
from bot.model import iso, now_ms
from bot.venues.polymarket.wire import ParseError


@dataclass(frozen=True)
class Request:
    series: tuple[str, ...] = ()
    markets: tuple[str, ...] = ()
    search: str = ""
    host: str | None = None
    windows: int = 2  # per series: the open window and the next ones
    timeout_s: float = 10.0


def from_settings(request: Request, path: Path) -> Request:
    """Fill the host (unless --host) and, when the command named none, the series and markets
    from bot.toml's [polymarket]."""
    if not path.exists() or (request.host and (request.series or request.markets or request.search)):
        return request
    try:
        table = tomllib.loads(path.read_text()).get("polymarket", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DiscoveryError(f"{path}: {exc}") from None
    host = request.host or table.get("gamma_host")
    if host is not None and not isinstance(host, str):
        raise DiscoveryError(f"{path}: polymarket.gamma_host must be a URL string")
    if request.series or request.markets or request.search:
        return replace(request, host=host)
    series, markets = table.get("series", []), table.get("markets", [])
    for key, value in (("series", series), ("markets", markets)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DiscoveryError(f"{path}: polymarket.{key} must be a list of strings")
    return replace(request, series=tuple(series), markets=tuple(markets), host=host)


def collect(request: Request, at_ms: int) -> tuple[list[DiscoveredMarket], list[str]]:
    """(markets, Gamma failures) for `request` at `at_ms`. DiscoveryError on bad input."""
    if not (request.series or request.markets or request.search):
        raise DiscoveryError(
            "nothing to list: pass --series (e.g. btc-updown-5m), --market or --search,"
            " or set series in bot.toml's [polymarket]"
        )
    if request.windows < 1:
        raise DiscoveryError("--windows must be at least 1")
    with GammaClient(request.host or DEFAULT_HOST, timeout_s=request.timeout_s) as client:
        discovery = Discovery(client, request.series, request.markets)  # bad input: before any request
        longest = max((s.length_s for s in discovery.series), default=0) * 1000
        rows = discovery.upcoming(at_ms, longest * (request.windows - 1), back=1)
        errors = list(discovery.errors)
        rows = _per_series(rows, request.windows, at_ms)
        if request.search:
            try:
                rows += search(client, request.search, at_ms)
            except (VenueError, ParseError) as exc:
                errors.append(str(exc))
    return rows, errors


def _per_series(rows: list[DiscoveredMarket], windows: int, at_ms: int) -> list[DiscoveredMarket]:
    """Per series, the last ended window and the first `windows` that have not ended."""
    out: list[DiscoveredMarket] = []
    counts: dict[str, int] = {}
    last_ended: dict[str, DiscoveredMarket] = {}
    for row in rows:
        if row.explicit or row.end_ms is None:
            out.append(row)
        elif row.end_ms <= at_ms:
            last_ended[row.series] = row
        elif counts.get(row.series, 0) < windows:
            counts[row.series] = counts.get(row.series, 0) + 1
            out.append(row)
    return sorted([*last_ended.values(), *out], key=lambda v: (v.explicit, v.series, v.start_ms or 0))


def render_text(rows: list[DiscoveredMarket], errors: list[str], host: str, at_ms: int) -> list[str]:
    lines = [f"Gamma {host}, {iso(at_ms)[:19]}Z"]
    if not rows:
        lines.append("no markets")
    for row in rows:
        g = row.gamma
        window = _window(row)
        tick = f"{g.tick / 1e6:g}" if g else "-"
        size = f"{g.min_size / 1e6:g}" if g else "-"
        fee = "-" if g is None else ("no fee" if not g.fees_enabled else f"{g.fee_rate_ppm / 1e4:g}% taker")
        condition = f"{g.condition_id[:10]}…" if g else "-"
        status = row.status.value
        if row.resolution is not None:
            status = f"RESOLVED {row.resolution.winner.value if row.resolution.winner else 'SPLIT'}"
        lines.append(
            f"{row.series or row.family or '-':<16} {window:<27} {status:<13} tick {tick:<6} min {size:<4}"
            f" {fee:<11} {condition}  {row.key}"
        )
        if row.reason and row.status is not Status.OPEN and row.status is not Status.NEXT:
            lines.append(f"{'':<16} {row.status.value}: {row.reason}")
    lines += [f"error: {e}" for e in errors]
    return lines


def _window(row: DiscoveredMarket) -> str:
    if row.start_ms is None and row.end_ms is None:
        return "-"
    start = iso(row.start_ms)[5:16].replace("T", " ") if row.start_ms is not None else "?"
    end = iso(row.end_ms)[11:16] if row.end_ms is not None else "?"
    if row.end_ms is not None and row.start_ms is not None and row.end_ms - row.start_ms >= 86_400_000:
        end = iso(row.end_ms)[5:16].replace("T", " ")
    return f"{start} → {end} UTC"


def markets_command(
    request: Request,
    settings: Path,
    as_json: bool,
    echo: Callable[[str], None],
    echo_err: Callable[[str], None],
    at_ms: int | None = None,
) -> int:
    at = now_ms() if at_ms is None else at_ms
    try:
        request = from_settings(request, settings)
        rows, errors = collect(request, at)
    except DiscoveryError as exc:
        echo_err(f"bot markets: {exc}")
        return exit_code(exc)
    except VenueError as exc:  # Gamma did not answer: no settings problem, unlike exit_code's 2
        echo_err(f"bot markets: {exc}")
        return EXIT_ERROR
    host = request.host or DEFAULT_HOST
    if as_json:
        doc: dict[str, Any] = {
            "host": host,
            "now": iso(at),
            "markets": [r.to_dict() for r in rows],
            "errors": errors,
        }
        echo(json.dumps(doc, indent=2))
    else:
        for line in render_text(rows, errors, host, at):
            echo(line)
    for error in errors if as_json else []:
        echo_err(f"bot markets: {error}")
    return EXIT_ERROR if errors else EXIT_OK

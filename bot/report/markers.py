"""Markers on the equity curve: a tick for each trade's entry (green, up) and exit (grey,
down) under the curve, and a shaded band for each period a limit stopped entries
(summary["stops"]), labelled with the limit. At most MAX_MARKERS trades are marked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.metrics import ClosedTrade
from bot.report.svg import GREEN, MUTED, RED, Frame, coord, el, text_at

MAX_MARKERS = 500


def _x(frame: Frame, ts_ms: int) -> float:
    return min(max(frame.sx(ts_ms), frame.left), frame.right)


def markers(frame: Frame, summary: Mapping[str, Any], trades: Sequence[ClosedTrade]) -> list[str]:
    out: list[str] = []
    for stop in summary.get("stops") or []:
        x0, x1 = _x(frame, stop["start_ms"]), _x(frame, stop["end_ms"])
        out.append(
            el(
                "rect",
                x=coord(x0),
                y=coord(frame.top),
                width=coord(max(x1 - x0, 2.0)),
                height=coord(frame.height),
                fill=RED,
                fill_opacity="0.10",
                class_="limit-marker",
            )
        )
        out.append(
            text_at(x0 + 3, frame.top + 12, f"entries stopped: {stop['limit']}", font_size=10, fill=RED)
        )
    y = frame.bottom
    for t in trades[:MAX_MARKERS]:
        x = coord(_x(frame, t.entry_ms))
        out.append(el("path", d=f"M{x} {coord(y - 7)}l-4 7h8z", fill=GREEN, class_="trade-marker"))
        x = coord(_x(frame, t.exit_ms))
        out.append(el("path", d=f"M{x} {coord(y - 7)}l-3 -5h6z", fill=MUTED, class_="exit-marker"))
    return out

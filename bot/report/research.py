"""The report's sections for a quant: what the data held, the settings, what stopped
entries, what was left open, the baselines and the markets (summary.json's keys of the
same names). Plain strings, no clock: the same summary gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.report.formatting import esc


def notices(summary: Mapping[str, Any]) -> list[str]:
    """Warnings above everything: strategies that could never fire on this data."""
    out = []
    for idle in summary.get("idle_strategies") or []:
        out.append(
            f'<p class="notice">Strategy {esc(idle["strategy"])} could never fire on this data: '
            f"{esc(idle['reason'])}.</p>"
        )
    return out

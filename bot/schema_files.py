"""JSON Schemas of the state, control and inbox files, shipped in the package (bot/schemas/*.json).

`bot schema NAME` prints one; the tests check the files real runs write against them, with
`additionalProperties: false` wherever a shape is fixed, so a field written but not in the
schema fails a test. The bot itself never validates against them (jsonschema is a dev
dependency only): they document the files for agents and tools.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from bot import layout
from bot.errors import BotError

# name -> the file it describes
NAMES: dict[str, str] = {
    **{name.removesuffix(".json"): f"{layout.STATE}/{name}" for name in layout.STATE_FILES},
    "adjust_risk": f"{layout.CONTROLS}/{layout.ADJUST_RISK} (JSON form)",
    "inbox_forecast": f"{layout.INBOX}/NAME{layout.INBOX_SUFFIX}: a forecast",
    "inbox_order": f"{layout.INBOX}/NAME{layout.INBOX_SUFFIX}: an order intent",
    "inbox_ack": f"{layout.INBOX}/{layout.INBOX_DONE}/NAME{layout.ACCEPTED_SUFFIX} (or .rejected)",
    "signal": f"{layout.LOGS}/{layout.SIGNALS_LOG}: one line",
}


class UnknownSchema(BotError, ValueError):
    """No schema of that name; the message lists the known ones."""


def canonical(name: str) -> str:
    """`status`, `status.json`, `state/status.json`, `ADJUST_RISK` -> the schema's name."""
    key = name.strip().rsplit("/", 1)[-1].removesuffix(".json").lower().replace("-", "_")
    if key not in NAMES:
        raise UnknownSchema(f"no schema named {name!r}; known: {', '.join(NAMES)}")
    return key


def text(name: str) -> str:
    return resources.files("bot").joinpath("schemas", f"{canonical(name)}.json").read_text("utf-8")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text(name))
    return data


def listing() -> str:
    width = max(map(len, NAMES))
    return "\n".join(f"{name:<{width}}  {what}" for name, what in NAMES.items())

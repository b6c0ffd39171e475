"""Field readers for venue JSON: exact micros, text, flags, integers and times, or `ParseError`.

Every reader names the field it read (``book.bids[2].price``) in its error, so a venue answer
the bot cannot read is one line saying where. Shared by the CLOB parsers (wire.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.errors import VenueError
from bot.model import ONE, Micros, to_micros

# Ticks the V2 order builder can sign (0.005 and 0.0025 are new in V2), in micros.
SUPPORTED_TICKS: frozenset[Micros] = frozenset({100_000, 10_000, 5_000, 2_500, 1_000, 100})


class ParseError(VenueError, ValueError):
    """A venue answer the bot cannot read; `field` names what was wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"cannot parse {field}: {problem}")
        self.field = field


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def field_of(data: Any, name: str, where: str) -> Any:
    """`data[name]`, or ParseError naming `where.name`."""
    path = f"{where}.{name}" if where else name
    if not isinstance(data, Mapping):
        raise ParseError(where or name, f"expected an object, got {short(data)}")
    if name not in data:
        raise ParseError(path, "missing")
    return data[name]


def micros(value: Any, field: str) -> Micros:
    """A decimal string or JSON number → exact micros; ParseError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ParseError(field, f"expected a decimal number, got {short(value)}")
    try:
        return to_micros(value.strip() if isinstance(value, str) else value)
    except ValueError as exc:
        raise ParseError(field, str(exc)) from None


def text(value: Any, field: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ParseError(field, f"expected a string, got {short(value)}")
    result = str(value).strip()
    if not result and not allow_empty:
        raise ParseError(field, "empty")
    return result


def flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ParseError(field, f"expected true or false, got {short(value)}")


def integer(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise ParseError(field, f"expected an integer, got {short(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value.strip())
    raise ParseError(field, f"expected an integer, got {short(value)}")


def timestamp_ms(value: Any, field: str) -> int:
    """Unix seconds or milliseconds (number or digits) or ISO-8601 → milliseconds."""
    if isinstance(value, str) and not re.fullmatch(r"\d+(\.\d+)?", value.strip()):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ParseError(field, f"not a timestamp: {short(value)}") from None
        if dt.tzinfo is None:
            raise ParseError(field, f"timestamp without a time zone: {short(value)}")
        return int(dt.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ParseError(field, f"expected a timestamp, got {short(value)}")
    number = float(value)
    if number < 0:
        raise ParseError(field, f"negative timestamp {short(value)}")
    return int(number * 1000) if number < 100_000_000_000 else int(number)


def tick_micros(value: Any, field: str) -> Micros:
    tick = micros(value, field)
    if tick not in SUPPORTED_TICKS:
        raise ParseError(field, f"unsupported tick size {tick / ONE}")
    return tick


def error_message(body: Any, limit: int = 200) -> str:
    """The reason in an error body: ``{"error": ...}``, ``{"errorMsg": ...}`` or plain text."""
    if isinstance(body, Mapping):
        for key in ("error", "errorMsg", "message"):
            if body.get(key):
                body = body[key]
                break
    message = body if isinstance(body, str) else repr(body)
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------
# books

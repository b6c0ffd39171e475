"""The live Polymarket venue (CLOB V2), one module per job:

- credentials.py: the wallet key and API credentials from the environment, masking
- signing.py: order rounding, exact amounts, EIP-712 signing, the L2 request headers
- transport.py: HTTP calls, error mapping (`classify_status`), paging, API-key derivation
- pacing.py: the back-off after ``Retry-After``/425/429 and the refusal streak
- markets.py: the validated markets and their current rules (tick, minimum size)
- placing.py: posting an order; acknowledged, or UNKNOWN when it may have landed
- reads.py: the account's orders, trades and balances, parsed
- tracking.py: our orders (UNKNOWN ones included) and the trades already booked
- reconcile.py: finding UNKNOWN orders and orders that left the book
- poll.py: the poll read on a thread of its own
- wire.py, wire_fields.py: the CLOB's JSON, parsed into typed values
- venue.py: `PolymarketVenue`, the `Venue` port

The names below are loaded on first use (PEP 562), so a reader of wire.py (the feeds, the
market listing) or pacing.py does not load the whole venue.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.venues.polymarket.credentials import PolymarketCredentials, credentials_from_env, mask
    from bot.venues.polymarket.transport import DEFAULT_HOST, classify_status, parse_retry_after
    from bot.venues.polymarket.venue import PolymarketVenue

_HOMES = {
    "DEFAULT_HOST": "transport",
    "PolymarketCredentials": "credentials",
    "PolymarketVenue": "venue",
    "classify_status": "transport",
    "credentials_from_env": "credentials",
    "mask": "credentials",
    "parse_retry_after": "transport",
}

__all__ = [
    "DEFAULT_HOST",
    "PolymarketCredentials",
    "PolymarketVenue",
    "classify_status",
    "credentials_from_env",
    "mask",
    "parse_retry_after",
]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value

"""The live Polymarket venue (CLOB V2), one module per job:

- credentials.py: the wallet key and API credentials from the environment, masking
- signing.py: order rounding, exact amounts, EIP-712 signing, the L2 request headers
- transport.py: HTTP calls, error mapping (`classify_status`), paging, API-key derivation
- pacing.py: the back-off after ``Retry-After``/425/429 and the refusal streak
- reads.py: the account's orders and trades, parsed
- tracking.py: our orders (UNKNOWN ones included) and the trades already booked
- reconcile.py: finding UNKNOWN orders and orders that left the book
- poll.py: the poll read on a thread of its own
- wire.py, wire_fields.py: the CLOB's JSON, parsed into typed values
- venue.py: `PolymarketVenue`, the `Venue` port
"""

from bot.venues.polymarket.credentials import PolymarketCredentials, credentials_from_env, mask
from bot.venues.polymarket.transport import DEFAULT_HOST, classify_status, parse_retry_after
from bot.venues.polymarket.venue import PolymarketVenue

__all__ = [
    "DEFAULT_HOST",
    "PolymarketCredentials",
    "PolymarketVenue",
    "classify_status",
    "credentials_from_env",
    "mask",
    "parse_retry_after",
]

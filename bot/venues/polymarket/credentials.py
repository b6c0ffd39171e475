"""The Polymarket wallet key and L2 API credentials: read from the environment, checked, and
masked wherever they are shown (the private key, API secret and passphrase never are)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

from bot.config import ConfigError

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_PRIVATE_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def mask(value: str | None, head: int = 6, tail: int = 4) -> str:
    """``0x19E7...Ff2A``: enough to recognise a value, not to use it."""
    if not value:
        return "<none>"
    return value if len(value) <= head + tail else f"{value[:head]}...{value[-tail:]}"


@dataclass(frozen=True, slots=True, repr=False)
class PolymarketCredentials:
    """The wallet key and (optionally) the L2 API credentials. The repr shows no secret."""

    private_key: str
    api_key: str | None = None
    api_secret: str | None = None
    api_passphrase: str | None = None

    @property
    def has_api_creds(self) -> bool:
        return bool(self.api_key and self.api_secret and self.api_passphrase)

    def __repr__(self) -> str:
        secret = "<redacted>" if self.api_secret else "<none>"
        passphrase = "<redacted>" if self.api_passphrase else "<none>"
        return (
            f"PolymarketCredentials(private_key=<redacted>, api_key={mask(self.api_key)},"
            f" api_secret={secret}, api_passphrase={passphrase})"
        )

    __str__ = __repr__


def credentials_from_env(environ: Mapping[str, str]) -> PolymarketCredentials:
    """`POLYMARKET_PRIVATE_KEY` (required) and optionally all three of `POLYMARKET_API_KEY`,
    `POLYMARKET_API_SECRET`, `POLYMARKET_API_PASSPHRASE` (else they are derived from the key).
    Raises a one-line `ConfigError` that never contains a secret."""
    key = (environ.get("POLYMARKET_PRIVATE_KEY") or "").strip()
    if not key:
        raise ConfigError(
            "POLYMARKET_PRIVATE_KEY is not set: live trading needs the wallet's private key in the"
            " environment"
        )
    if not _PRIVATE_KEY.match(key) or not 0 < int(key.removeprefix("0x"), 16) < SECP256K1_ORDER:
        raise ConfigError("POLYMARKET_PRIVATE_KEY is malformed: expected 0x followed by 64 hex digits")
    names = ("POLYMARKET_API_KEY", "POLYMARKET_API_SECRET", "POLYMARKET_API_PASSPHRASE")
    api = [(environ.get(n) or "").strip() for n in names]
    if any(api) and not all(api):
        missing = ", ".join(n for n, v in zip(names, api, strict=True) if not v)
        raise ConfigError(f"{missing} not set: give all three API credentials or none (to derive them)")
    if api[1]:
        try:
            base64.urlsafe_b64decode(api[1])
        except (binascii.Error, ValueError):
            raise ConfigError("POLYMARKET_API_SECRET is not valid url-safe base64") from None
    normalized = "0x" + key.removeprefix("0x").lower()
    return PolymarketCredentials(normalized, api[0] or None, api[1] or None, api[2] or None)

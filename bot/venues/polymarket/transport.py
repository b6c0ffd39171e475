"""HTTP to the CLOB: one request with its own timeout, the error each failure maps to, the
pacing after ``Retry-After``/425/429, paging, and the L2 credentials derived once.

Requests go through our own ``httpx`` client (imported on first use) so that each call has
its own timeout (the order POST has a confirmation window), ``Retry-After`` is kept, and a
matched order never stalls in the vendor client's 30 s trade polling.

Errors: only `bot.errors` types leave this module (see `classify_status`). `NoAnswer` is a
request that may have reached the venue without a readable answer coming back.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.errors import OrderRefused, VenueBusy, VenueError, VenueFatal, VenueUnavailable
from bot.venues.polymarket import wire
from bot.venues.polymarket.credentials import PolymarketCredentials
from bot.venues.polymarket.pacing import PERSISTENT_LIMIT_S, RetryGate
from bot.venues.polymarket.signing import OrderFactory, l2_headers

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://clob.polymarket.com"


def classify_status(
    status: int | None, message: str, retry_after_s: float | None = None, persistent: bool = False
) -> VenueError:
    """The bot's error for a failed venue call: what the order manager should do about it.

    None (no answer) / 5xx → `VenueUnavailable` (retry with backoff, counted by the breaker,
    `retry_after_s` from ``Retry-After``); 425 (engine restart) and 429 (rate limit) →
    `VenueBusy` (back off, not a fault), a `persistent` 429 (see pacing.py) →
    `VenueUnavailable`; 400 / 404 / 409 / 422 →
    `OrderRefused` (skip); 401 / 403 and anything unexpected → `VenueFatal` (halt)."""
    if status is None:
        return Unavailable(f"venue unreachable: {message}", retry_after_s, None)
    text = f"HTTP {status}: {message}"
    if status == 425 or (status == 429 and not persistent):
        return VenueBusy(text, retry_after_s)
    if status == 429:
        return Unavailable(f"{text} (rate limited for over {PERSISTENT_LIMIT_S:g} s)", retry_after_s, status)
    if 500 <= status <= 599:
        return Unavailable(text, retry_after_s, status)
    if status in (400, 404, 409, 422):
        return OrderRefused(text)
    return VenueFatal(text)


def parse_retry_after(value: str | None, now_s: float | None = None) -> float | None:
    """``Retry-After``: delay seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))


class Unavailable(VenueUnavailable):
    def __init__(self, message: str, retry_after_s: float | None, status: int | None) -> None:
        super().__init__(message, retry_after_s)
        self.status = status

    @property
    def may_have_landed(self) -> bool:
        """A 5xx may come after the venue acted (even a 503 from a proxy in front of it)."""
        return self.status is not None and self.status >= 500


class NoAnswer(VenueUnavailable):
    """The request may have reached the venue but no readable answer came back."""


class Transport:
    """The CLOB's HTTP API for one account: `call` a path, read every `pages` of a list."""

    def __init__(
        self,
        host: str,
        credentials: PolymarketCredentials,
        factory: OrderFactory,
        *,
        chain_id: int,
        signature_type: int,
        request_timeout_s: float,
        max_pages: int,
    ) -> None:
        import httpx

        self.host = host.rstrip("/")
        self.chain_id = chain_id
        self.signature_type = signature_type
        self.request_timeout_s = request_timeout_s
        self.max_pages = max_pages
        self.gate = RetryGate()
        self._creds = credentials
        self._factory = factory
        self._http: httpx.Client = httpx.Client(
            timeout=httpx.Timeout(request_timeout_s),
            headers={"User-Agent": "touchtrader", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def api_creds(self) -> PolymarketCredentials:
        """The L2 credentials, derived from the key (``create_or_derive_api_key``) once."""
        if self._creds.has_api_creds:
            return self._creds
        from py_clob_client_v2 import ClobClient
        from py_clob_client_v2.exceptions import PolyApiException

        client = ClobClient(
            self.host,
            self.chain_id,
            key=self._creds.private_key,
            signature_type=self.signature_type,
            funder=self._factory.funder or "",
        )
        try:
            derived = client.create_or_derive_api_key()
        except PolyApiException as exc:
            raise classify_status(exc.status_code, wire.error_message(exc.error_msg)) from None
        except Exception as exc:
            raise VenueUnavailable(f"could not derive the API credentials ({type(exc).__name__})") from None
        self._creds = dataclasses.replace(
            self._creds,
            api_key=str(derived.api_key),
            api_secret=str(derived.api_secret),
            api_passphrase=str(derived.api_passphrase),
        )
        return self._creds

    def pages(self, path: str, params: dict[str, str]) -> tuple[list[Any], bool]:
        """Every row of a paged list (at most `max_pages`); False when the rest was left."""
        rows: list[Any] = []
        cursor = "MA=="
        for _ in range(self.max_pages):
            try:
                page, cursor = wire.parse_page(
                    self.call("GET", path, params={**params, "next_cursor": cursor}), path
                )
            except wire.ParseError as exc:
                raise VenueUnavailable(f"unreadable page of {path}: {exc}") from None
            except OrderRefused as exc:  # a refused query is no order refusal: try again later
                raise VenueUnavailable(str(exc)) from None
            rows += page
            if cursor == wire.END_CURSOR:
                return rows, True
        log.warning("%s: more than %d pages, the rest waits for the next poll", path, self.max_pages)
        return rows, False

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        timeout_s: float | None = None,
        order: bool = False,
    ) -> Any:
        """One request. Raises `classify_status`'s errors; `NoAnswer` when the request may
        have been received but no readable answer came back."""
        import httpx

        serialized = None if body is None else json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        headers = {"Content-Type": "application/json"}
        public = method == "GET" and not path.startswith(("/data/", "/balance-allowance"))
        if not public:
            headers.update(l2_headers(self._factory.signer, self.api_creds(), method, path, serialized))
        where = f"{method} {path}"
        self.gate.check(where)
        try:
            response = self._http.request(
                method,
                self.host + path,
                params=params,
                content=serialized,
                headers=headers,
                timeout=timeout_s if timeout_s is not None else self.request_timeout_s,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise VenueUnavailable(f"{where}: cannot connect ({type(exc).__name__})") from None
        except httpx.TimeoutException as exc:
            kind = "no answer within the confirmation window" if order else "timed out"
            raise NoAnswer(f"{where}: {kind} ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise NoAnswer(f"{where}: connection lost ({type(exc).__name__})") from None
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
            if response.is_success:
                raise NoAnswer(f"{where}: unreadable answer (HTTP {response.status_code})") from None
        if response.is_success:
            self.gate.ok()
            return data
        message = wire.error_message(data if data is not None else response.text)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        wait = self.gate.answered(response.status_code, retry_after)
        persistent = self.gate.rate_limited_s() > PERSISTENT_LIMIT_S
        raise classify_status(response.status_code, f"{where}: {message}", wait, persistent)

"""A small Gamma (``https://gamma-api.polymarket.com``) client over httpx: public, no auth.

Only what discovery needs: events by slug (many per request), one event or market by slug,
markets by condition id or token id, and ``/public-search``. Errors are wrapped at this
boundary (bot/errors.py): a timeout, a refused connection, 5xx or 429 is `GammaUnavailable`
(retry later), another 4xx is `GammaRefused`, a body that is not JSON is `ParseError`; a 404
on a by-slug path is an answer ("no such thing"), not an error.

httpx is imported when a client is built, so importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.errors import VenueError, VenueUnavailable
from bot.venues.polymarket.wire import ParseError, error_message

DEFAULT_HOST = "https://gamma-api.polymarket.com"
SLUGS_PER_REQUEST = 50  # Gamma takes up to 100 slugs per request ([3rd]); stay well under


class GammaUnavailable(VenueUnavailable):
    """Gamma did not answer usefully now: try again later."""


class GammaRefused(VenueError):
    """Gamma refused the request (a 4xx other than 404)."""


class GammaClient:
    def __init__(self, host: str = DEFAULT_HOST, timeout_s: float = 5.0, transport: Any = None) -> None:
        try:
            import httpx
        except ImportError:  # pragma: no cover - the live extra installs it
            raise GammaUnavailable("Gamma needs httpx: pip install 'touchtrader[live]'") from None
        self.host = host.rstrip("/")
        self.timeout_s = timeout_s
        self._httpx = httpx
        self._http = httpx.Client(
            base_url=self.host,
            timeout=httpx.Timeout(timeout_s),
            headers={"Accept": "application/json", "User-Agent": "touchtrader"},
            transport=transport,
        )
        self.requests = 0

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GammaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------------
    def events_by_slugs(self, slugs: Sequence[str]) -> list[Any]:
        """``GET /events?slug=a&slug=b...``: the events that exist (missing slugs are absent)."""
        out: list[Any] = []
        for i in range(0, len(slugs), SLUGS_PER_REQUEST):
            batch = list(slugs[i : i + SLUGS_PER_REQUEST])
            params = [("slug", s) for s in batch] + [("limit", str(len(batch)))]
            out.extend(self._list("/events", params))
        return out

    def event_by_slug(self, slug: str) -> Any | None:
        return self._get(f"/events/slug/{slug}", [], missing_ok=True)

    def market_by_slug(self, slug: str) -> Any | None:
        return self._get(f"/markets/slug/{slug}", [], missing_ok=True)

    def markets(self, *, condition_ids: Sequence[str] = (), token_ids: Sequence[str] = ()) -> list[Any]:
        params = [("condition_ids", c) for c in condition_ids] + [("clob_token_ids", t) for t in token_ids]
        return self._list("/markets", params)

    def search(self, text: str, limit: int = 10) -> list[Any]:
        """``GET /public-search?q=...``: the matching events (with their markets)."""
        body = self._get("/public-search", [("q", text), ("limit_per_type", str(limit))])
        if not isinstance(body, dict):
            raise ParseError("public-search", f"expected an object, got {type(body).__name__}")
        events = body.get("events") or []
        if not isinstance(events, list):
            raise ParseError("public-search.events", "expected a list")
        return events

    # -- transport ----------------------------------------------------------------------------
    def _list(self, path: str, params: list[tuple[str, str]]) -> list[Any]:
        body = self._get(path, params)
        if not isinstance(body, list):
            raise ParseError(path.strip("/"), f"expected a list, got {type(body).__name__}")
        return body

    def _get(self, path: str, params: list[tuple[str, str]], missing_ok: bool = False) -> Any:
        httpx = self._httpx
        self.requests += 1
        try:
            response = self._http.get(path, params=tuple(params))
        except httpx.TimeoutException:
            raise GammaUnavailable(f"Gamma {path}: no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise GammaUnavailable(f"Gamma {path}: {type(exc).__name__}: {exc}"[:200]) from None
        status = response.status_code
        if status == 404 and missing_ok:
            return None
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = response.text
        if status >= 500 or status == 429:
            retry = response.headers.get("Retry-After")
            raise GammaUnavailable(
                f"Gamma {path}: HTTP {status} {error_message(body, 120)}".rstrip(),
                retry_after_s=float(retry) if retry and retry.replace(".", "", 1).isdigit() else None,
            )
        if status >= 400:
            raise GammaRefused(f"Gamma {path}: HTTP {status} {error_message(body, 120)}".rstrip())
        if isinstance(body, str):
            raise ParseError(path.strip("/"), f"not JSON: {body[:60]!r}")
        return body

"""One-time download links: a short-lived signed id stands for a staff member's bearer token in a URL.

``POST /api/rooms/{code}/export-link`` (token in the ``Authorization`` header) makes one; the browser
then opens ``/api/rooms/{code}/export.json?dl=<id>`` as a plain link. The id works once, for
``DOWNLOAD_SECONDS``, and only for its room; what reaches an access log is useless afterwards.

The id carries what it stands for (room, member, token generation, expiry and a random nonce), signed
with the server's secret, so any worker can read it. Spending it is a claim on the broker's lease
``workshop:download:<nonce>`` by a fresh owner: the first claim wins and every later one fails, on
every worker that shares the broker (in one process, the in-memory broker). Nothing is kept per
pending id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Final, NamedTuple

DOWNLOAD_SECONDS: Final = 60
_LABEL: Final = b"workshop.download.v1"

#: Spend a nonce once: ``spend(key, ttl)`` is True for the first call with ``key``, False afterwards.
Spend = Callable[[str, float], Awaitable[bool]]


class Download(NamedTuple):
    room: str
    member: str
    generation: int  # of the token that asked for the link (a rotation in between spends it)
    expires: float
    fmt: str = "json"  # the export the link was made for: another format is refused
    anonymised: bool = False  # the link's export is anonymised, whatever the URL says


class Downloads:
    """Issue and spend one-time download ids (any worker reads them; the broker spends them once)."""

    def __init__(
        self,
        secret: bytes,
        spend: Spend,
        *,
        lifetime: float = DOWNLOAD_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = hmac.new(secret, _LABEL, hashlib.sha256).digest()
        self._spend = spend
        self.lifetime = lifetime
        self._clock = clock

    def issue(
        self, room: str, member: str, generation: int = 0, fmt: str = "json", anonymised: bool = False
    ) -> str:
        """An id for ``member`` (whose token had ``generation``) to download ``fmt`` from ``room`` once."""
        claims: dict[str, object] = {
            "r": room,
            "m": member,
            "g": generation,
            "e": round(self._clock() + self.lifetime, 3),
            "f": fmt,
            "a": anonymised,
        }
        claims["n"] = secrets.token_urlsafe(16)
        body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(body)}"

    async def take(self, room: str, key: str, fmt: str, *, spend: bool = True) -> Download | None:
        """The download a valid id stands for, spending it; None when it is forged, for another room or
        another format, expired, or was spent already (a link opened under the wrong format is not spent).
        ``spend=False`` (a HEAD request: a download manager's or a proxy's look before the GET) checks
        it all but the spending, and spends nothing."""
        if not isinstance(key, str) or len(key) > 1024 or not key.isascii():
            return None
        body, dot, mac = key.partition(".")
        if not dot or not hmac.compare_digest(self._mac(body).encode(), mac.encode()):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            download = Download(
                str(claims["r"]),
                str(claims["m"]),
                int(claims["g"]),
                float(claims["e"]),
                str(claims["f"]),
                bool(claims["a"]),
            )
            nonce = str(claims["n"])
        except (ValueError, KeyError, TypeError):
            return None
        left = download.expires - self._clock()
        if download.room != room or download.fmt != fmt or left <= 0:
            return None
        if spend and not await self._spend(f"workshop:download:{nonce}", left):
            return None
        return download

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

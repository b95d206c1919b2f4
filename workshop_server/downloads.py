"""One-time download links: a short-lived random id stands for a staff member's bearer token in a URL.

``POST /api/rooms/{code}/export-link`` (token in the ``Authorization`` header) makes one; the browser
then opens ``/api/rooms/{code}/export.json?dl=<id>`` as a plain link. The id works once, for
``DOWNLOAD_SECONDS``, and only for its room; what reaches an access log is useless afterwards. The ids
are kept in memory, in this process, at most ``MAX_DOWNLOADS`` of them (the oldest go first).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Final, NamedTuple

DOWNLOAD_SECONDS: Final = 60
MAX_DOWNLOADS: Final = 1024


class Download(NamedTuple):
    room: str
    member: str
    generation: int  # of the token that asked for the link (a rotation in between spends it)
    expires: float


class Downloads:
    """The pending one-time download ids of this process."""

    def __init__(
        self,
        *,
        lifetime: float = DOWNLOAD_SECONDS,
        capacity: int = MAX_DOWNLOADS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime = lifetime
        self.capacity = capacity
        self._clock = clock
        self._pending: dict[str, Download] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def issue(self, room: str, member: str, generation: int = 0) -> str:
        """A fresh id for ``member`` (whose token had ``generation``) to download from ``room`` once."""
        now = self._clock()
        pending = self._pending
        for key in [k for k, d in pending.items() if d.expires <= now]:
            del pending[key]
        while len(pending) >= self.capacity:
            del pending[next(iter(pending))]  # the oldest
        key = secrets.token_urlsafe(24)
        pending[key] = Download(room, member, generation, now + self.lifetime)
        return key

    def take(self, room: str, key: str) -> Download | None:
        """The download a valid id stands for; the id is spent (used, expired or not) either way."""
        download = self._pending.pop(key, None)
        if download is None or download.room != room or download.expires <= self._clock():
            return None
        return download

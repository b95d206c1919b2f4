"""Privacy review: what protocol.md and architecture.md say of one-time export links, against downloads.py."""

from __future__ import annotations

import secrets
from pathlib import Path

from workshop_server.broker.memory import MemoryBroker
from workshop_server.downloads import Downloads

ROOT = Path(__file__).resolve().parent.parent


async def test_the_docs_describe_download_links_as_they_are() -> None:
    """protocol.md (export-link) said: "The ids are kept in the memory of the server process that made
    them (at most 1024 pending; a restart forgets them)"; architecture.md: "random ids kept in memory for
    60 seconds". downloads.py signs them instead: nothing is kept, any worker (and the same process after
    a restart) accepts one until it expires, and there is no cap on pending ids."""
    async with MemoryBroker() as broker:

        async def spend(key: str, ttl: float) -> bool:
            return await broker.claim(key, secrets.token_hex(8), ttl)

        before = Downloads(b"s" * 32, spend)
        keys = [before.issue("ROOM42", "m1") for _ in range(1100)]  # more than "at most 1024 pending"
        after_restart = Downloads(b"s" * 32, spend)  # same secret, fresh process memory
        assert await after_restart.take("ROOM42", keys[0], "json") is not None  # what the code does
    protocol = " ".join((ROOT / "protocol.md").read_text().split())
    architecture = " ".join((ROOT / "docs" / "architecture.md").read_text().split())
    assert "a restart forgets them" not in protocol
    assert "at most 1024 pending" not in protocol
    assert "random ids kept in memory" not in architecture

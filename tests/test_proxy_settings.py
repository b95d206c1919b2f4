"""trusted_proxies as the settings accept them and as uvicorn applies them (a network in interface
notation, 192.168.1.10/24, was accepted and never matched; it failed before)."""

from __future__ import annotations

from typing import Any

import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from workshop_server.cli import uvicorn_kwargs
from workshop_server.settings import Settings


async def _client_seen(entry: str, proxy: str) -> str:
    settings = Settings(secret="s" * 40, store="memory", trusted_proxies=entry)
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["client"] = scope["client"][0]

    middleware = ProxyHeadersMiddleware(app, trusted_hosts=uvicorn_kwargs(settings)["forwarded_allow_ips"])
    scope = {
        "type": "http",
        "client": (proxy, 40000),
        "scheme": "http",
        "headers": [(b"x-forwarded-for", b"203.0.113.7")],
    }
    await middleware(scope, None, None)
    return str(seen["client"])


@pytest.mark.parametrize("entry", ["192.168.1.10/24", "10.1.2.3/8"])
async def test_a_network_the_settings_accept_is_the_network_uvicorn_trusts(entry: str) -> None:
    """operations.md: trusted_proxies are "addresses or networks of reverse proxies (or *); anything else
    is refused at start". The new check reads a network with ``strict=False`` (host bits allowed, as
    the interface notation 192.168.1.10/24 has them), and so does the guard (``Admission``: that peer
    is a trusted proxy, no per-address share); uvicorn, which rewrites the client's address, reads it
    strictly, fails, and keeps it as a literal that no address matches. The server starts, and every
    phone behind the proxy has the proxy's address: one bucket for every per-address limit (joins,
    commands, passphrase failures) of the whole workshop."""
    assert (
        await _client_seen(entry, "192.168.1.20" if entry.startswith("192") else "10.9.9.9") == "203.0.113.7"
    )

"""Privacy review: one-time export links, through a real server."""

from __future__ import annotations

from tests.protocol.conftest import Connect
from tests.protocol.test_exports import ideate
from tests.protocol.test_http import http
from tests.support.server import ServerProcess


async def test_an_anonymised_link_cannot_be_turned_into_a_named_export(
    server: ServerProcess, connect: Connect
) -> None:
    """protocol.md: "`?anonymised=1` makes the link's export anonymised". The signed id binds neither
    the anonymisation nor the format: whoever holds a link made for the anonymised report (one a
    facilitator shows or forwards precisely because it has no names) drops ``&anonymised=1`` (or
    changes ``export.md`` to ``export.json``) and gets every name, moderation reason and comment."""
    links, _, ana = await ideate(server, connect, "Anaïs Namedperson")
    code = links["room"]
    await ana.ok("idea.post", text="night buses")
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}
    made = http(
        server, f"/api/rooms/{code}/export-link?format=md&anonymised=1", method="POST", headers=staff
    ).json()
    assert made["url"].endswith("&anonymised=1")
    tampered = made["url"].replace("&anonymised=1", "").replace("export.md", "export.json")
    response = http(server, tampered)
    assert "Namedperson" not in response.body.decode("utf-8")  # failed before: 200, the named JSON export

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


async def test_a_head_request_does_not_spend_a_link(server: ServerProcess, connect: Connect) -> None:
    """Found by review: a download manager or a proxy that looks with HEAD before its GET spent the
    link, and the GET got 404 ``not_found``. A HEAD checks the link and spends nothing."""
    links, _, ana = await ideate(server, connect, "Ana")
    code = links["room"]
    await ana.ok("idea.post", text="night buses")
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}
    url = http(server, f"/api/rooms/{code}/export-link?format=csv", method="POST", headers=staff).json()[
        "url"
    ]
    for _ in range(2):
        looked = http(server, url, method="HEAD")
        assert looked.status == 200 and looked.body == b"", looked.status
        assert looked.headers["content-disposition"].startswith("attachment")
    assert "night buses" in http(server, url).body.decode("utf-8-sig")
    assert http(server, url).status == 404  # spent by the GET

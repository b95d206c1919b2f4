"""Log hygiene: credentials in query strings, and in fragments a link rewriter percent-encoded into the
path, never reach the server's log."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets

from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server.logs import REDACTED, redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/api/rooms/7DURPN?invite=abc", f"/api/rooms/7DURPN?invite={REDACTED}"),
        ("/x?a=1&token=t.k&b=2", f"/x?a=1&token={REDACTED}&b=2"),
        ("/x?dl=1&key=2&passphrase=3", f"/x?dl={REDACTED}&key={REDACTED}&passphrase={REDACTED}"),
        (
            "/x?Token=1&%69nvite=2&pass%70hrase=3",
            f"/x?Token={REDACTED}&%69nvite={REDACTED}&pass%70hrase={REDACTED}",
        ),
        ('1.2.3.4 - "GET /x?token=s HTTP/1.1" 200', f'1.2.3.4 - "GET /x?token={REDACTED} HTTP/1.1" 200'),
        ("/x?tokens=1&mytoken=2&token", "/x?tokens=1&mytoken=2&token"),
        ("/healthz", "/healthz"),
        # A link whose "#" was percent-encoded (a link rewriter, a chat app): the fragment reaches the
        # server in the path, and uvicorn logs it (quoted again). Nothing after it is logged.
        ('"GET /r/7DURPN%23token%3Dt.k HTTP/1.1" 200', f'"GET /r/7DURPN%23{REDACTED} HTTP/1.1" 200'),
        ("/m/7DURPN%23t=abc&x", f"/m/7DURPN%23{REDACTED}"),
        ("/j/7DURPN%2523invite%253Dabc", f"/j/7DURPN%2523{REDACTED}"),
        ("/j/7DURPN#invite=abc?x=1", f"/j/7DURPN#{REDACTED}?x=1"),
        # An HTML-escaped link (&amp;) and an "=" percent-encoded on its way (a review found both logged).
        ("/x?lang=en&amp;token=t.k", f"/x?lang=en&amp;token={REDACTED}"),
        ("/x?invite%3Dabc&y=1", f"/x?invite%3D{REDACTED}&y=1"),
        ("/x?lang%3Den", "/x?lang%3Den"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


async def test_the_server_log_never_shows_query_secrets(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", log_level="info")
    server.start()
    try:
        code = create_room(server.url)["room"]
        for query in (
            "invite=SECRETVALUE",
            "%69nvite=SECRETENCODED",
            "token=SECRETTOKEN",
            "dl=SECRETDL",
            "lang=en&amp;token=SECRETESCAPED",
            "invite%3DSECRETEQUALS",
        ):
            for path in (f"/api/rooms/{code}", f"/api/rooms/{code}/export.json"):
                try:
                    urllib.request.urlopen(f"{server.url}{path}?{query}", timeout=30).close()
                except urllib.error.HTTPError as error:
                    error.close()  # refused (an invalid invite, no token): logged all the same
        for path in (f"/r/{code}%23token=SECRETFRAGMENT", f"/m/{code}%23t%3DSECRETPERSONAL"):
            urllib.request.urlopen(f"{server.url}{path}", timeout=30).close()  # the page, all the same
        client = await Client.connect(f"{server.ws_url}?token=SECRETSOCKET")  # logged by uvicorn.error
        await client.close()
        with pytest.raises(websockets.InvalidStatus):  # a refused handshake is logged too
            await Client.connect(f"{server.ws_url}?key=SECRETREFUSED", origin="https://evil.example")
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    # The requests were logged (at info), without their secrets.
    assert f'"GET /api/rooms/{code}?invite={REDACTED} HTTP/1.1"' in log, log[-4000:]
    assert f'"WebSocket /ws?token={REDACTED}"' in log, log[-4000:]
    for secret in (
        "SECRETVALUE",
        "SECRETENCODED",
        "SECRETTOKEN",
        "SECRETDL",
        "SECRETSOCKET",
        "SECRETREFUSED",
        "SECRETFRAGMENT",
        "SECRETPERSONAL",
        "SECRETESCAPED",
        "SECRETEQUALS",
    ):
        assert secret not in log, secret


@pytest.mark.parametrize("level", ["debug", "trace"])
async def test_debug_and_trace_logs_show_no_credential_nor_idea(tmp_path: Path, level: str) -> None:
    """Below info, the websockets library logs every frame and uvicorn each ASGI scope: a frame's content
    (join ids, tokens, passphrases, ideas) and a scope's query string never reach the log."""
    server = ServerProcess(tmp_path / "data", log_level=level)
    server.start()
    try:
        code = create_room(server.url)["room"]
        client = await Client.connect(f"{server.ws_url}?token=SECRETSOCKET")
        await client.request(
            {"id": "SECRETJOINID", "type": "join", "room": code, "name": "Ann", "accept_rules": 1}
        )
        await client.fails("invalid_token", "auth", token="v1.SECRETAUTHTOKEN.x")
        await client.close()
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "< TEXT [" in log, log[-4000:]  # the frames were logged, by kind and size
    if level == "trace":
        assert "Started scope=" in log and "'query_string': b'token=[redacted]'" in log, log[-4000:]
    for secret in ("SECRETSOCKET", "SECRETJOINID", "SECRETAUTHTOKEN"):
        assert secret not in log, secret

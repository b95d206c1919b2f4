"""The Host header, against a real server: a page on a public name that resolves to the server's private
address (DNS rebinding) cannot use it; the names a LAN or a proxy uses still work (``allowed_hosts``)."""

from __future__ import annotations

import socket

from tests.protocol.conftest import StartServer, server_log
from tests.protocol.test_http import assert_error, http
from tests.support.server import ServerProcess


def handshake(server: ServerProcess, host: str, origin: str | None = None) -> str:
    """The status line of a WebSocket handshake sent with this Host header (and Origin: the host's)."""
    head = (
        "GET /ws HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: workshop.v1.json\r\n"
        f"Origin: {origin or 'http://' + host}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head.encode("latin-1"))
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode()


def create(server: ServerProcess, host: str) -> int:
    headers = {"content-type": "application/json", "host": host, "origin": f"http://{host}"}
    return http(server, "/api/rooms", method="POST", body=b'{"title": "T"}', headers=headers).status


def test_a_rebinding_page_is_refused_by_default(start_server: StartServer) -> None:
    """A page of ``rebind.attacker.example`` (its name made to resolve to the server's address) is a
    same-origin page to the browser: it could create rooms and read join pages through the browser of
    anyone on the LAN who opens it. The server does not answer to that name."""
    server = start_server()
    attacker = f"rebind.attacker.example:{server.port}"
    refused = http(server, "/", headers={"host": attacker})
    error = assert_error(refused, 403, "forbidden")
    assert "allowed_hosts" in error["message"]
    assert "script-src 'self'" in refused.headers["content-security-policy"]  # still every header
    assert create(server, attacker) == 403
    assert_error(http(server, "/api/server", headers={"host": attacker}), 403, "forbidden")
    assert " 403 " in handshake(server, attacker)
    # A load balancer's probes answer whatever name they use.
    assert http(server, "/healthz", headers={"host": attacker}).status == 200
    assert http(server, "/readyz", headers={"host": attacker}).status == 200
    # The names phones and laptops reach a LAN server by: its addresses, its machine name, mDNS.
    for host in (
        f"127.0.0.1:{server.port}",
        f"[::1]:{server.port}",
        "localhost",
        "laptop",
        "laptop.local",
        "workshop.lan",
        "Workshop.Home.Arpa.",
    ):
        assert http(server, "/api/server", headers={"host": host}).status == 200, host
    assert create(server, f"laptop.local:{server.port}") == 201
    assert " 101 " in handshake(server, f"127.0.0.1:{server.port}")
    server.stop()
    log = server_log(server)
    assert log.count("refused a request for host 'rebind.attacker.example'") == 1, log[-2000:]
    assert "WORKSHOP_ALLOWED_HOSTS" in log
    # A refused handshake is no server error: uvicorn logged one line at error level for each.
    assert "without completing handshake" not in log, log[-2000:]


def test_listed_names_and_the_public_url_are_answered(start_server: StartServer) -> None:
    server = start_server(
        allowed_hosts="workshop.example.org,*.events.example.com",
        public_url="https://join.example.net",
        allowed_origins="https://partner.example",
    )
    for host in (
        "workshop.example.org",
        "paris.events.example.com",
        "events.example.com:443",
        "join.example.net",
        "partner.example",
    ):
        assert http(server, "/api/server", headers={"host": host}).status == 200, host
    for host in (
        "example.org",
        "other.example.org",
        "events.example.com.evil.example",
        "evilevents.example.com",
    ):
        assert http(server, "/api/server", headers={"host": host}).status == 403, host
    assert " 101 " in handshake(server, "paris.events.example.com")
    assert " 403 " in handshake(server, "other.example.org")
    anyone = start_server(allowed_hosts="*")
    assert http(anyone, "/api/server", headers={"host": "rebind.attacker.example"}).status == 200

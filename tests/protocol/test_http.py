"""The HTTP side of a real server: room creation, public room info, QR code, health, metrics, export."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.protocol.conftest import Connect, StartServer
from tests.support.client import create_room
from tests.support.server import ServerProcess
from workshop_server.app import qr_svg

# Every room this module creates, and every refused creation, spends one of the address's allowance.
SERVER_SETTINGS = {"rooms_per_ip_per_hour": 1000}

LINK_KEYS = {
    "room",
    "facilitator_token",
    "moderator_invite",
    "screen_token",
    "join_url",
    "facilitator_url",
    "moderator_url",
    "screen_url",
    "info",
}


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    server: ServerProcess,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    request = urllib.request.Request(server.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Response(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
            )
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read())


def post_room(server: ServerProcess, body: Any, raw: bytes | None = None) -> Response:
    data = raw if raw is not None else json.dumps(body).encode()
    return http(server, "/api/rooms", method="POST", body=data, headers={"content-type": "application/json"})


def assert_error(response: Response, status: int, code: str) -> dict[str, Any]:
    assert response.status == status, (response.status, response.body)
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and isinstance(error["temporary"], bool)
    return error


# --- POST /api/rooms ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "code", "mentions"),
    [
        ({"rules": "Be kind."}, 400, "invalid_command", "title"),
        ({"title": ""}, 400, "invalid_command", "title"),
        ({"title": 5}, 400, "invalid_command", "title"),
        ({"title": "T", "access": "secret"}, 400, "invalid_command", "access"),
        ({"title": "T", "access": "passphrase"}, 400, "invalid_command", "passphrase"),
        ({"title": "T", "access": "passphrase", "passphrase": "   "}, 400, "invalid_command", "passphrase"),
        ({"title": "T", "locale": "xx"}, 400, "invalid_command", "locale"),
        ({"title": "T", "owner": "me"}, 400, "invalid_command", "owner"),
        ({"title": "T" * 121}, 400, "text_too_long", "title"),
        ({"title": "T", "brief": "b" * 4001}, 400, "text_too_long", "brief"),
        ({"title": "T", "facilitator_name": "<b>"}, 400, "invalid_name", "name"),
        # The rules of join.name: an empty name is invalid_name, as it is at join, however it is empty.
        ({"title": "T", "facilitator_name": ""}, 400, "invalid_name", "name"),
        ({"title": "T", "facilitator_name": "   "}, 400, "invalid_name", "name"),
        # A room keeps its data 1 day to the server's retention_days (90 here), never longer.
        ({"title": "T", "retention_days": 0}, 400, "invalid_command", "retention_days"),
        ({"title": "T", "retention_days": 91}, 400, "invalid_command", "at most 90 days"),
        ({"title": "T", "retention_days": "30"}, 400, "invalid_command", "retention_days"),
        ({"title": "T", "retention_days": 7.5}, 400, "invalid_command", "retention_days"),
    ],
)
def test_create_room_validation(
    server: ServerProcess, body: dict[str, Any], status: int, code: str, mentions: str
) -> None:
    error = assert_error(post_room(server, body), status, code)
    assert mentions in error["message"]


@pytest.mark.parametrize("field", ["title", "brief", "rules"])
def test_create_room_refuses_control_characters(server: ServerProcess, field: str) -> None:
    body = {"title": "T", field: "bell\x07 and escape\x1b[31m"}
    assert_error(post_room(server, body), 400, "invalid_command")


def test_create_room_refuses_a_body_that_is_not_json(server: ServerProcess) -> None:
    assert_error(post_room(server, None, raw=b"title=T"), 400, "invalid_command")
    assert_error(post_room(server, None, raw=b"[1, 2]"), 400, "invalid_command")


def test_create_room_returns_the_links(server: ServerProcess) -> None:
    response = post_room(
        server, {"title": "  Retro  ", "brief": "Why?", "access": "passphrase", "passphrase": "open sesame"}
    )
    assert response.status == 201
    links = response.json()
    assert set(links) == LINK_KEYS
    code = links["room"]
    assert re.fullmatch(r"[346789ABCDEFGHJKMNPQRTUVWXY]{6}", code)
    assert links["join_url"].endswith(f"/j/{code}")
    assert links["facilitator_url"].endswith(f"/r/{code}#token={links['facilitator_token']}")
    assert links["moderator_url"].endswith(f"/j/{code}#invite={links['moderator_invite']}")
    assert links["screen_url"].endswith(f"/s/{code}#token={links['screen_token']}")
    info = links["info"]
    assert (info["id"], info["title"], info["brief"], info["access"]) == (code, "Retro", "Why?", "passphrase")
    # (A passphrase long enough not to turn up by chance in the random tokens: "pw" once did.)
    assert "open sesame" not in response.body.decode() and "passphrase_hash" not in response.body.decode()
    # Codes are unique.
    assert post_room(server, {"title": "Other"}).json()["room"] != code


def test_a_room_keeps_its_data_as_few_days_as_its_organiser_asks(server: ServerProcess) -> None:
    """The server's retention period is the longest, and the default: the landing page reads it."""
    assert http(server, "/api/server").json()["retention_days"] == 90
    short = post_room(server, {"title": "Short", "retention_days": 7})
    assert short.status == 201, short.body
    assert short.json()["info"]["retention_days"] == 7
    assert http(server, f"/api/rooms/{short.json()['room']}").json()["retention_days"] == 7
    for days in (90, None):
        info = post_room(server, {"title": "Longest", "retention_days": days}).json()["info"]
        assert info["retention_days"] == 90


def test_a_lowered_setting_shortens_the_period_the_pages_announce(start_server: StartServer) -> None:
    """The purge keeps to the shorter of a room's period and the setting in force: the join page's info
    and "my ideas" announce that period, not the longer one recorded with the room."""
    first = start_server()
    links = post_room(first, {"title": "Long"}).json()
    first.stop()
    later = ServerProcess(first.data_dir, retention_days=30, purge_mode="personal").start()
    try:
        info = http(later, f"/api/rooms/{links['room']}").json()
        assert (info["retention_days"], info["purge_mode"]) == (30, "personal")
        mine = http(
            later,
            f"/api/rooms/{links['room']}/mine",
            headers={"authorization": f"Bearer {links['facilitator_token']}"},
        )
        assert mine.status == 200, mine.body
        assert mine.json()["page"]["room"]["retention_days"] == 30
        own = http(
            later,
            f"/api/rooms/{links['room']}/my-data",
            headers={"authorization": f"Bearer {links['facilitator_token']}"},
        )
        assert own.json()["data"]["room"]["retention_days"] == 30
    finally:
        later.stop()


# --- Public room info and QR --------------------------------------------------------------------------------
def test_room_info(server: ServerProcess) -> None:
    links = create_room(server.url, title="Info", brief="Brief", rules="Rule one", locale="fr")
    code = links["room"]
    response = http(server, f"/api/rooms/{code}")
    assert response.status == 200
    info = response.json()
    assert info == {
        "id": code,
        "title": "Info",
        "brief": "Brief",
        "rules": "Rule one",
        "rules_version": 1,
        "access": "code",
        "anonymous": False,
        "locale": "fr",
        "retention_days": 90,
        "created_at": info["created_at"],
        "locked": False,
        "phase": "lobby",
        "purge_mode": "room",
    }
    assert abs(info["created_at"] - time.time()) < 600
    # What people type: lower case, spaces and dashes.
    typed = code[:3].lower() + "-" + code[3:].lower()
    assert http(server, f"/api/rooms/{typed}").json() == info
    assert_error(http(server, "/api/rooms/ZZZZZZ"), 404, "room_not_found")


def test_qr_code(server: ServerProcess) -> None:
    code = create_room(server.url)["room"]
    response = http(server, f"/api/rooms/{code}/qr.svg")
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    text = response.body.decode()
    assert "<svg" in text and text.rstrip().endswith("</svg>")
    assert_error(http(server, "/api/rooms/ZZZZZZ/qr.svg"), 404, "room_not_found")
    # Drawn once per link, not per request (the page needs no credential; drawing takes milliseconds).
    link = f"{server.url}/j/{code}"
    assert qr_svg(link) is qr_svg(link) and qr_svg(link).startswith(b"<?xml")


# --- Health and metrics -------------------------------------------------------------------------------------
def test_healthz(server: ServerProcess) -> None:
    response = http(server, "/healthz")
    assert response.status == 200
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["rooms"], int) and isinstance(body["connections"], int)


def sample(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match is not None, f"no sample {name}{labels} in /metrics"
    return float(match.group(1))


async def test_metrics(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    client = await connect(server)
    await client.join(links["room"], "Metric")
    other = await connect(server, binary=True)
    await other.fails("invalid_token", "auth", token="nope")
    response = http(server, "/metrics")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.body.decode()
    for name in (
        "workshop_connections",
        "workshop_rooms_loaded",
        "workshop_commands_total",
        "workshop_errors_total",
        "workshop_fanout_drops_total",
    ):
        assert re.search(rf"^# TYPE {name} (gauge|counter)$", text, re.MULTILINE), name
    assert sample(text, "workshop_connections") >= 2
    assert sample(text, "workshop_rooms_loaded") >= 1
    assert sample(text, "workshop_commands_total", '{type="_enter"}') >= 1
    assert sample(text, "workshop_errors_total", '{code="invalid_token"}') >= 1
    assert sample(text, "workshop_fanout_drops_total") == 0


# --- Export -------------------------------------------------------------------------------------------------
async def test_export_is_for_staff_only(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url, access="passphrase", passphrase="secret")
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Export me", private=False)
    ana = await connect(server)
    await ana.join(code, "Ana", passphrase="secret")
    await ana.ok("idea.post", text="Exported idea")
    moderator = await connect(server)
    await moderator.join(code, "Mo", invite=links["moderator_invite"])
    assert ana.token is not None and moderator.token is not None

    path = f"/api/rooms/{code}/export.json"
    for token in (links["facilitator_token"], moderator.token):
        response = http(server, path, headers={"authorization": f"Bearer {token}"})
        assert response.status == 200
        assert response.headers["content-disposition"] == f'attachment; filename="{code}.json"'
        state = response.json()
        assert state["id"] == code
        assert [i["text"] for i in state["ideas"]] == ["Exported idea"]
        assert {m["name"] for m in state["members"]} >= {"Ana", "Mo"}
        assert "replies" not in state
        assert "passphrase_hash" not in state["config"] and "passphrase_salt" not in state["config"]
    # Never in the URL (it reaches logs): refused, even with a valid token.
    assert_error(http(server, f"{path}?token={links['facilitator_token']}"), 400, "invalid_command")

    assert_error(http(server, path, headers={"authorization": f"Bearer {ana.token}"}), 403, "forbidden")
    screen = {"authorization": f"Bearer {links['screen_token']}"}
    assert_error(http(server, path, headers=screen), 403, "forbidden")
    assert_error(http(server, path), 401, "invalid_token")
    assert_error(http(server, path, headers={"authorization": "Bearer nonsense"}), 401, "invalid_token")
    # A staff token of another room does not open this one.
    other = create_room(server.url)
    other_token = {"authorization": f"Bearer {other['facilitator_token']}"}
    assert_error(http(server, path, headers=other_token), 401, "invalid_token")


def test_web_pages_are_served(server: ServerProcess) -> None:
    code = create_room(server.url)["room"]
    for path in ("/", f"/j/{code}", f"/r/{code}", f"/s/{code}"):
        response = http(server, path)
        assert response.status == 200, path
        assert response.headers["content-type"].startswith("text/html")


def test_every_http_response_has_the_security_headers(start_server: StartServer) -> None:
    """The app holds staff tokens in its origin's storage: a Content Security Policy (scripts of this
    origin only), no framing by other sites (clickjacking of the console), no sniffing, no Referer."""
    server = start_server()
    code = create_room(server.url)["room"]
    for path in ("/", f"/r/{code}", "/static/app.js", "/api/server", f"/api/rooms/{code}", "/healthz"):
        headers = http(server, path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'self'" in policy, (path, policy)
        assert "unsafe-eval" not in policy and "script-src 'self' 'unsafe-inline'" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "SAMEORIGIN"
    # Pages of the origins allowed to open WebSockets may frame it (a room screen in a partner's page).
    partner = start_server(allowed_origins="https://partner.example")
    headers = http(partner, "/").headers
    assert "frame-ancestors 'self' https://partner.example" in headers["content-security-policy"]
    assert "x-frame-options" not in headers


def connect_sources(policy: str) -> list[str]:
    directive = next(d.strip() for d in policy.split(";") if d.strip().startswith("connect-src "))
    return directive.split()[1:]


def test_the_policy_names_the_websocket_of_the_page_s_own_host(start_server: StartServer) -> None:
    """Safari before 16 (every iPhone left on iOS 15) does not count ws:/wss: of the page's own host as
    ``'self'`` (WebKit bug 201591): with ``connect-src 'self'`` alone its WebSocket is refused and the
    phone stays on "Connecting…". The policy names the page's own host for ws: and wss:, and the
    public URL's host (a proxy may give the server another Host), and no host anyone else's."""
    server = start_server(public_url="https://workshop.example.org/")
    host = f"127.0.0.1:{server.port}"
    for path in ("/", "/j/ABCDEF", "/static/app.js"):
        sources = connect_sources(http(server, path).headers["content-security-policy"])
        assert sources == [
            "'self'",
            f"ws://{host}",
            f"wss://{host}",
            "ws://workshop.example.org",
            "wss://workshop.example.org",
        ], (path, sources)
    # Another name of this server (its LAN address, a DNS alias): its own WebSocket, read from Host.
    named = http(server, "/", headers={"host": "Workshop.LAN:8080"}).headers["content-security-policy"]
    assert connect_sources(named)[1:3] == ["ws://workshop.lan:8080", "wss://workshop.lan:8080"]
    ipv6 = http(server, "/", headers={"host": "[::1]:9000"}).headers["content-security-policy"]
    assert connect_sources(ipv6)[1:3] == ["ws://[::1]:9000", "wss://[::1]:9000"]
    # A Host header that is no host adds nothing (it could otherwise add sources or directives).
    for bad in ("evil.example; script-src *", "a b", "*", "x:y:z", "host:port"):
        policy = http(server, "/", headers={"host": bad}).headers["content-security-policy"]
        assert connect_sources(policy) == [
            "'self'",
            "ws://workshop.example.org",
            "wss://workshop.example.org",
        ]
        assert policy.count("script-src") == 1


def test_the_web_apps_files_are_revalidated_so_an_upgrade_never_mixes_versions(server: ServerProcess) -> None:
    """``/static/*`` had no ``cache-control``: a browser may then cache ``app.js`` heuristically and run
    it, after an upgrade, with the new ``index.html`` and a server speaking the new protocol. Every
    file of the web app is revalidated (``no-cache``; unchanged, a 304 costs no body)."""
    for path in ("/static/app.js", "/static/style.css", "/static/contract.js"):
        response = http(server, path)
        assert response.status == 200 and response.headers.get("cache-control") == "no-cache", path
        again = http(server, path, headers={"if-none-match": response.headers["etag"]})
        assert again.status == 304 and again.headers.get("cache-control") == "no-cache", path
    assert http(server, "/static/nothing.js").status == 404

"""The Starlette application: HTTP API, the WebSocket endpoint, health, metrics and the web app."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import io
import logging
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import orjson
import segno
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request, cookie_parser
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from workshop_server import errors, logs, protocol
from workshop_server.close_codes import CloseCode
from workshop_server.collector import FreezingCollector, LoopLagProbe, PauseObserver
from workshop_server.downloads import DOWNLOAD_SECONDS
from workshop_server.guard import (
    ADMISSION_STATE_KEY,
    DIRECT_EXTENSION,
    HUB_STATE_KEY,
    TICKET_EXTENSION,
    Admission,
    Ticket,
)
from workshop_server.health import Health
from workshop_server.hub import Hub
from workshop_server.metrics import Metrics
from workshop_server.ratelimit import SharedLimiter, address_key, retry_after_header
from workshop_server.rooms import commands as c
from workshop_server.rooms.codes import normalise_code
from workshop_server.rooms.commands import CommandId
from workshop_server.rooms.exports import CSV_DELIMITERS
from workshop_server.rooms.report_text import REPORT_LANGUAGES
from workshop_server.rooms.room import clean_text
from workshop_server.session import Session
from workshop_server.settings import Settings, host_name

WEB_DIR = Path(__file__).resolve().parent.parent / "web"

log = logging.getLogger("workshop_server")


BodyT = TypeVar("BodyT", bound=BaseModel)

#: The shortest passphrase a room may be created with.
PASSPHRASE_MIN = 6


class CreateRoom(BaseModel):
    """The body of ``POST /api/rooms``: typed strictly, as commands are (``"yes"`` is not a boolean)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    #: The client's id of this creation, a secret as a join id is (it leads to the facilitator's
    #: token): a resend with it answers with the room it made instead of making another one.
    id: str | None = Field(default=None, min_length=16, max_length=64)
    title: str = Field(min_length=1)
    brief: str = ""
    rules: str = ""
    access: Literal["code", "passphrase", "invite", "approval"] = "code"
    passphrase: str | None = Field(default=None, max_length=200)
    anonymous: bool = False
    locale: Literal["en", "fr"] = "en"
    facilitator_name: str = "Facilitator"  # the rules of join.name, in the room: empty is invalid_name
    #: How long the room's data is kept, in days from its creation; at most, and by default, the
    #: server's ``retention_days`` (an organiser may promise its community less, never more).
    retention_days: int | None = Field(default=None, ge=1)


class EraseMyData(BaseModel):
    """The body of ``POST /api/rooms/{code}/my-data/erase``: the client's id of the erasure, so that a
    resend after a lost reply is answered from the room's records (applied once), as commands are."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: CommandId


#: The largest body ``POST /api/rooms/{code}/my-data/erase`` reads (an id of at most 64 characters).
ERASE_BODY_LIMIT = 1024


STATUS = {
    "bad_frame": 400,
    "invalid_command": 400,
    "text_too_long": 400,
    "invalid_name": 400,
    "invalid_token": 401,
    "data_erased": 410,
    "create_key_required": 401,
    "forbidden": 403,
    "banned": 403,
    "awaiting_approval": 403,
    "rate_limited": 429,
    "room_not_found": 404,
    "not_found": 404,
    "room_unavailable": 503,
    "server_busy": 503,
    "internal_error": 500,
}


async def read_body(request: Request, model: type[BodyT], limit: int) -> BodyT | Response:
    """The request's JSON body as ``model`` (strict), read up to ``limit`` bytes: past it the answer is
    413 ``frame_too_large``, a client gone mid-body (or cut off by the guard's body deadline) 400. A body
    ``model`` refuses raises ``InvalidCommand`` naming the field."""
    raw = bytearray()
    try:
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:
                exc = errors.FrameTooLarge(f"the request body is limited to {limit} bytes")
                return JSONResponse({"error": exc.to_dict()}, status_code=413)
    except ClientDisconnect:
        return Response(status_code=400)
    try:
        return model.model_validate_json(bytes(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise errors.InvalidCommand(f"{where}: {first['msg']}") from None


def error_response(exc: errors.WorkshopError) -> JSONResponse:
    headers = {}
    if isinstance(exc, errors.RateLimited) and exc.retry_after is not None:
        headers["retry-after"] = retry_after_header(exc.retry_after)
    return JSONResponse({"error": exc.to_dict()}, status_code=STATUS.get(exc.code, 400), headers=headers)


async def no_route(request: Request, exc: Exception) -> Response:
    """An unknown path (404 ``not_found``) or a method the path does not take (405 ``invalid_command``,
    with ``Allow``): the documented JSON error, not Starlette's text/plain page."""
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    if status == 405:
        refusal: errors.WorkshopError = errors.InvalidCommand(f"{request.method} is not allowed on this path")
    else:
        refusal = errors.NotFound("no such endpoint")
    return JSONResponse({"error": refusal.to_dict()}, status_code=status, headers=headers)


@functools.lru_cache(maxsize=256)
def qr_svg(url: str) -> bytes:
    """The join link's QR code. Cached: it takes milliseconds on the event loop, the page asking for it
    needs no credential, and a room's code (so its link) never changes."""
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=8, border=2, dark="#111827", light="#ffffff")
    return out.getvalue()


def client_ip(request: Request) -> str:
    """The client's address (the real one behind a trusted proxy: uvicorn rewrites it)."""
    return address_key(request.client.host) if request.client is not None else "unknown"


def bearer(request: Request) -> str:
    """The ``Authorization: Bearer`` token. Never from the query string: URLs reach access logs."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return ""


def same_secret(given: str, key: str) -> bool:
    """A secret sent by a client against a configured one, in constant time."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), key.encode("utf-8"))


def refuse_tokens_in_url(request: Request) -> None:
    """A credential in the query string (``?token=``, ``?invite=``) is refused, not ignored, so that a
    client that still sends one learns it at once, before its links spread."""
    given = {logs.parameter_name(key) for key in request.query_params}  # "amp;token" too (logs.py)
    for name in ("token", "invite"):
        if name in given:
            raise errors.InvalidCommand(
                f"{name}: credentials are never accepted in a URL (it reaches logs); "
                + ("send it as Authorization: Bearer" if name == "token" else "send it as X-Workshop-Invite")
            )


DEVICE_COOKIE = "wsd"
DEVICE_COOKIE_MAX_AGE = 365 * 24 * 3600


def device_from_scope(hub: Hub, scope: Scope) -> str | None:
    """The device id of the handshake's signed ``wsd`` cookie, or None (no cookie, or not authentic)."""
    for key, value in scope["headers"]:
        if key == b"cookie":
            cookie = cookie_parser(value.decode("latin-1")).get(DEVICE_COOKIE)
            if cookie is not None:
                return hub.signer.verify_device(cookie)
    return None


class WebSocketEndpoint:
    """``/ws``: checks the Origin, picks the encoding from the subprotocols, then runs a session."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        settings = hub.settings
        self.per_ip = max(1, min(settings.max_connections_per_ip, settings.max_connections // 2))
        self.by_ip: dict[str, int] = {}  # open WebSocket connections per client address

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.hub
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if not origin_allowed(hub.settings, scope):
            if hub.metrics is not None:
                hub.metrics.handshake_refused("origin")
            await refuse(
                scope,
                send,
                403,
                errors.Forbidden("this origin may not open a connection"),
                CloseCode.POLICY_VIOLATION,
            )
            return
        if len(hub.sessions) >= hub.settings.max_connections:
            if hub.metrics is not None:
                hub.metrics.handshake_refused("server_full")
            await refuse(
                scope,
                send,
                503,
                errors.ServerBusy("the server is full; retry shortly"),
                CloseCode.TRY_AGAIN_LATER,
            )
            return
        client = scope.get("client")
        ip = address_key(str(client[0])) if client else "unknown"
        ticket = scope.get("extensions", {}).get(TICKET_EXTENSION)
        refusal = ticket.rekey(ip) if isinstance(ticket, Ticket) else None  # behind a proxy: its share
        if refusal is None and self.by_ip.get(ip, 0) >= self.per_ip:
            refusal = "connections_per_ip"
        if refusal is not None:
            if hub.metrics is not None:
                hub.metrics.handshake_refused(refusal)
            await refuse(
                scope,
                send,
                503,
                errors.ServerBusy("too many connections from your address"),
                CloseCode.TRY_AGAIN_LATER,
            )
            return
        self.by_ip[ip] = self.by_ip.get(ip, 0) + 1
        try:
            await self._run(scope, receive, send, ip)
        finally:
            left = self.by_ip[ip] - 1
            if left:
                self.by_ip[ip] = left
            else:
                del self.by_ip[ip]

    async def _run(self, scope: Scope, receive: Receive, send: Send, ip: str) -> None:
        hub = self.hub
        offered: list[str] = list(scope.get("subprotocols") or [])
        codec = protocol.choose_codec(offered)
        chosen = codec.subprotocol if codec.subprotocol in offered else None
        await send({"type": "websocket.accept", "subprotocol": chosen})
        ticket = scope.get("extensions", {}).get(TICKET_EXTENSION)
        if isinstance(ticket, Ticket):
            ticket.disarm()  # the handshake is done; the session's auth deadline runs from here
        device = device_from_scope(hub, scope)  # the browser's signed cookie: what a ban records
        scope["headers"] = ()  # read for the last time; this frame holds the scope for the connection's life
        direct = scope.get("extensions", {}).get(DIRECT_EXTENSION)
        await Session(
            hub,
            send,
            codec,
            ip=ip,
            ticket=ticket if isinstance(ticket, Ticket) else None,
            device=device,
            write_frame=direct if callable(direct) else None,
        ).run(receive)


def origin_allowed(settings: Settings, scope: Scope) -> bool:
    """The handshake's Origin against the allowlist (a helper, so the headers are not kept alive by the
    frame that then runs the connection for hours)."""
    origin = host = None
    for key, value in scope["headers"]:
        if key == b"origin":
            origin = value.decode("latin-1")
        elif key == b"host":
            host = value.decode("latin-1")
    return settings.origin_allowed(origin, host)


#: A Host header that names a host: a DNS name or an IPv4 address, or an IPv6 one in brackets, with an
#: optional port. Anything else (spaces, ``;``, ``*``) never reaches the Content Security Policy.
HOST_HEADER = re.compile(r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def websocket_sources(settings: Settings, host: str | None) -> list[str]:
    """``ws:`` and ``wss:`` of the page's own host (its Host header) and of ``public_url``'s host.

    CSP Level 3 counts them as ``'self'``, but Safari before 16 (iOS 15 and older) does not (WebKit bug
    201591): under ``connect-src 'self'`` alone its WebSocket to the page's own server is refused, and
    the app never connects. They are named, and no other host."""
    hosts: list[str] = []
    if host is not None and HOST_HEADER.fullmatch(host.strip().lower()):
        hosts.append(host.strip().lower())
    if settings.public_url is not None:
        url = urlsplit(settings.public_url)
        name = f"[{url.hostname}]" if ":" in (url.hostname or "") else str(url.hostname)
        public = name if url.port is None else f"{name}:{url.port}"
        if public not in hosts:
            hosts.append(public)
    return [f"{scheme}://{name}" for name in hosts for scheme in ("ws", "wss")]


def security_headers(settings: Settings, host: str | None = None) -> list[tuple[bytes, bytes]]:
    """The headers of every HTTP response (a response that sets one itself keeps its own); ``host``:
    the request's Host header.

    The web app is scripts, styles and images of this origin only (no inline script; views set
    ``style`` attributes), and it holds staff tokens in this origin's storage: a Content Security
    Policy is its second line against script injection. It connects to its own server's WebSocket
    only (:func:`websocket_sources`). Only this origin and ``allowed_origins`` may frame it
    (clickjacking of the facilitator console), and no page leaks its address in a Referer."""
    ancestors = " ".join(["'self'", *settings.allowed_origins])
    connect = " ".join(["'self'", *websocket_sources(settings, host)])
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' blob: data:; connect-src {connect}; object-src 'none'; base-uri 'none'; "
        f"form-action 'self'; frame-ancestors {ancestors}"
    )
    headers = [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if not settings.allowed_origins:  # browsers without frame-ancestors
        headers.append((b"x-frame-options", b"SAMEORIGIN"))
    return headers


class WorkshopApp:
    """The ASGI application: ``/ws`` goes straight to the WebSocket endpoint, everything else (HTTP and
    the lifespan) to Starlette. Every outgoing frame thus skips Starlette's routing and middleware.
    HTTP responses get :func:`security_headers`."""

    def __init__(
        self, http: Starlette, ws: WebSocketEndpoint, hub: Hub, start_problems: list[str] | None = None
    ) -> None:
        self.http = http
        self.ws = ws
        self.hub = hub
        self.start_problems = start_problems if start_problems is not None else []
        self.refused_hosts: set[str] = set()  # host names already logged as refused (at most 100)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and not self._host_allowed(scope):
            await self._refuse_host(scope, receive, send)
        elif scope["type"] == "websocket" and scope["path"] == "/ws":
            await self.ws(scope, receive, send)
        elif scope["type"] == "http":
            if self.hub.metrics is not None:
                self.hub.metrics.http_requests += 1  # (the frozen collector's sweeps: Metrics.churn)
            await self.http(scope, receive, self._with_headers(scope, send))
        elif scope["type"] == "lifespan":
            await self.http(scope, receive, self._one_line_start_failure(send))
        else:
            await self.http(scope, receive, send)

    #: Paths that answer whatever the Host header: a load balancer's or an orchestrator's probes.
    PROBES = frozenset({"/healthz", "/readyz"})

    def _host_allowed(self, scope: Scope) -> bool:
        if scope["path"] in self.PROBES:
            return True
        host = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"host"), None)
        if self.hub.settings.host_allowed(host):
            return True
        name = host_name(host or "")[:80]
        if name not in self.refused_hosts and len(self.refused_hosts) < 100:
            self.refused_hosts.add(name)
            log.warning(
                "refused a request for host %r: add it to WORKSHOP_ALLOWED_HOSTS (or set "
                "WORKSHOP_PUBLIC_URL) if this server is meant to answer to that name",
                name,
            )
        return False

    async def _refuse_host(self, scope: Scope, receive: Receive, send: Send) -> None:
        """403 ``forbidden`` for a host name the server does not answer to (``allowed_hosts``)."""
        refusal = errors.Forbidden("this server does not answer to this host name (see allowed_hosts)")
        if scope["type"] == "websocket":
            if (await receive())["type"] != "websocket.connect":
                return
            if self.hub.metrics is not None:
                self.hub.metrics.handshake_refused("host")
            await refuse(scope, send, 403, refusal, CloseCode.POLICY_VIOLATION)
            return
        await error_response(refusal)(scope, receive, self._with_headers(scope, send))

    def _one_line_start_failure(self, send: Send) -> Send:
        """Starlette reports a failed start with its traceback, which uvicorn logs; when the cause is
        known (Redis or the journal unusable: a replacement worker during an outage), one line."""

        async def sending(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed" and self.start_problems:
                message = {**message, "message": f"cannot start: {self.start_problems[-1]}"}
            await send(message)

        return sending

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        host = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"host"), None)
        extra = security_headers(self.hub.settings, host)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        return sending


def file_in_memory(path: Path, response: Response, cache: dict[Path, tuple[int, int, bytes]]) -> Response:
    """``response`` (a :class:`FileResponse` of ``path``) with the file's bytes in memory: a FileResponse
    holds the file open while it is sent, a second descriptor per connection, for as long as a client
    that does not read keeps it waiting. The web app's files are small and few; ``cache`` keeps them
    until they change."""
    stat = path.stat()
    cached = cache.get(path)
    if cached is None or cached[:2] != (stat.st_mtime_ns, stat.st_size):
        cached = (stat.st_mtime_ns, stat.st_size, path.read_bytes())
        cache[path] = cached
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    return Response(cached[2], status_code=response.status_code, headers=headers)


class WebFiles(StaticFiles):
    """The web app's files, each revalidated before use (``cache-control: no-cache``; a 304 when it did
    not change): a browser's heuristic cache could otherwise run an old ``app.js`` against the
    ``index.html`` and the protocol of an upgraded server. Sent from memory (:func:`file_in_memory`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cache: dict[Path, tuple[int, int, bytes]] = {}

    def file_response(
        self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if isinstance(response, FileResponse):
            return file_in_memory(Path(full_path), response, self.cache)
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["cache-control"] = "no-cache"
        return response


async def refuse(scope: Scope, send: Send, status: int, exc: errors.WorkshopError, close_code: int) -> None:
    """Refuse a WebSocket handshake with an HTTP status and a JSON error body where the server
    supports it (the ASGI ``websocket.http.response`` extension), else with a close before accept."""
    if "websocket.http.response" in scope.get("extensions", {}):
        body = orjson.dumps({"error": exc.to_dict()})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": close_code, "reason": exc.message})


def check_text(value: str, limit: int, what: str, *, required: bool) -> str:
    """A room text from POST /api/rooms: trimmed, within its limit, without control characters."""
    value = value.strip()
    if not value:
        if required:
            raise errors.InvalidCommand(f"{what}: the {what} is empty")
        return value
    return clean_text(value, limit, what)


def configure_logging(level: str) -> None:
    """The server's own logger ("workshop_server") prints like uvicorn's, at the configured level."""
    from uvicorn.logging import DefaultFormatter

    logger = logging.getLogger("workshop_server")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(5 if level == "trace" else level.upper())


def create_app(settings: Settings | None = None) -> WorkshopApp:
    settings = settings or Settings()
    web_dir = settings.web_dir or WEB_DIR
    hub = Hub(settings)
    metrics = Metrics(lambda: len(hub.sessions), lambda: len(hub.hosts), hub.worker_id)
    hub.metrics = metrics
    health = Health(hub)
    logs.install()  # no token from a query string in the access log
    configure_logging(settings.log_level)
    if not (web_dir / "index.html").is_file():  # WORKSHOP_WEB_DIR is checked by the settings
        log.warning(
            "the web app's files are not in %s (installed without the repository?): the pages will be "
            "blank. Set WORKSHOP_WEB_DIR to the repository's web/ directory",
            web_dir,
        )

    body_limit = 4 * (settings.title_max + settings.brief_max + settings.rules_max) + 4096

    def check_create_key(request: Request) -> None:
        key = settings.create_key
        if not key:
            return
        given = bearer(request)
        if not given:
            raise errors.CreateKeyRequired()
        if not same_secret(given, key):
            raise errors.CreateKeyRequired("the organiser key is wrong")

    async def limit(limiter: SharedLimiter, key: str, what: str, who: str = "your address") -> None:
        wait = await limiter.take(key)
        if wait:
            if metrics is not None:
                metrics.rate_limited(limiter.name)
            raise errors.RateLimited(f"too many {what} from {who}; retry later", retry_after=wait)

    async def server_info(request: Request) -> Response:
        """What the landing page must know before creating a room."""
        return JSONResponse(
            {
                "create_key_required": bool(settings.create_key),
                "protocol": protocol.PROTOCOL_VERSION,
                "retention_days": settings.retention_days,
                "purge_mode": settings.purge_mode,
            }
        )

    async def create_room(request: Request) -> Response:
        # A page of another site must not make its visitors' browsers create rooms here (a form or a
        # text/plain fetch needs no preflight): browsers send Origin with every cross-site POST.
        if not settings.origin_allowed(request.headers.get("origin"), request.headers.get("host")):
            return error_response(errors.Forbidden("pages of this origin may not create rooms here"))
        try:
            if settings.create_key:
                # Wrong or missing keys have a budget of their own, so that they cannot use up the
                # organiser's allowance of rooms, and guessing the key is slow: spent before the key is
                # compared (past it, no key is compared, the right one neither), given back when right.
                await limit(hub.limiters.create_key, client_ip(request), "attempts without the organiser key")
                check_create_key(request)
                await hub.limiters.create_key.give(client_ip(request))
            await limit(hub.limiters.create_room, client_ip(request), "new rooms")
        except errors.CreateKeyRequired as refusal:
            response = error_response(refusal)
            response.headers["www-authenticate"] = 'Bearer realm="workshop"'
            return response
        except errors.WorkshopError as refusal:
            return error_response(refusal)
        try:
            body = await read_body(request, CreateRoom, body_limit)
        except errors.InvalidCommand as refusal:
            return error_response(refusal)
        if isinstance(body, Response):
            return body
        try:
            title = check_text(body.title, settings.title_max, "title", required=True)
            brief = check_text(body.brief, settings.brief_max, "brief", required=False)
            rules = check_text(body.rules, settings.rules_max, "rules", required=False)
            if body.access == "passphrase" and not (body.passphrase or "").strip():
                raise errors.InvalidCommand("the passphrase access mode needs a passphrase")
            if body.access == "passphrase" and len((body.passphrase or "").strip()) < PASSPHRASE_MIN:
                raise errors.InvalidCommand(
                    f"a passphrase has at least {PASSPHRASE_MIN} characters (a short one is guessed quickly)"
                )
            if body.retention_days is not None and body.retention_days > settings.retention_days:
                raise errors.InvalidCommand(
                    f"retention_days: this server keeps a room's data at most {settings.retention_days} days"
                )
            host, created = await hub.create_room(
                creation=body.id,
                title=title,
                brief=brief,
                rules=rules,
                access=body.access,
                passphrase=body.passphrase if body.access == "passphrase" else None,
                anonymous=body.anonymous,
                locale=body.locale,
                facilitator_name=body.facilitator_name,
                retention_days=body.retention_days,
            )
            if not created:  # a resend: it made no room, so it spends none of the address's allowance
                await hub.limiters.create_room.give(client_ip(request))
            made = await host.query("links")
            if not created and made["generation"] != 0:
                # The facilitator replaced the links since (room.rotate_links: the old ones leaked, say):
                # the creation's id must not lead to the new ones.
                raise errors.InvalidToken(
                    "this room's links were replaced since it was made: ask its facilitator"
                )
            info = await host.query("public_info")
            links = hub.links(host.room_id, made)
        except errors.WorkshopError as exc:
            return error_response(exc)
        return JSONResponse({**links, "info": retention(info)}, status_code=201)

    def retention(room: dict[str, Any]) -> dict[str, Any]:
        """``room`` (a room's public info, or the ``room`` of "my ideas") with the retention the purge
        keeps to: the shorter of the room's period and the setting in force (``Hub.purge_expired``), and
        what its end does (``purge_mode``), for the data notice."""
        if "retention_days" in room:
            room["retention_days"] = min(room["retention_days"], settings.retention_days)
        room["purge_mode"] = settings.purge_mode
        return room

    async def room_info(request: Request) -> Response:
        code = normalise_code(request.path_params["code"])
        invite_id: str | None = None
        try:
            refuse_tokens_in_url(request)
            host = await hub.lookup(code, client_ip(request))
            token = request.headers.get("x-workshop-invite")
            generation = 0
            if token:
                claims = hub.signer.verify(token, room=code)
                if claims.kind != "invite":
                    raise errors.InvalidToken("this is not an invite")
                invite_id, generation = claims.subject, claims.generation

            # With an invite, tells the join page whether this link makes a moderator.
            info = await host.query("public_info", invite=invite_id, generation=generation)
            if info is None:
                raise errors.InvalidToken("this link was replaced: ask the facilitator for the new one")
        except errors.WorkshopError as exc:
            return error_response(exc)
        return JSONResponse(retention(info))

    async def room_qr(request: Request) -> Response:
        code = normalise_code(request.path_params["code"])
        try:
            await hub.lookup(code, client_ip(request))
        except errors.WorkshopError as exc:
            return error_response(exc)
        svg = qr_svg(f"{settings.base_url.rstrip('/')}/j/{code}")
        return Response(svg, media_type="image/svg+xml", headers={"cache-control": "max-age=3600"})

    def csv_separator(request: Request) -> str:
        """The CSV's ``?sep=``: ``comma`` (the default) or ``semicolon`` (French spreadsheets)."""
        separator = request.query_params.get("sep", "comma")
        if separator not in CSV_DELIMITERS:
            raise errors.InvalidCommand("sep is comma or semicolon")
        return separator

    def report_lang(request: Request) -> str | None:
        """The report's ``?lang=`` (``en`` or ``fr``), or None: the room's language."""
        lang = request.query_params.get("lang")
        if lang is not None and lang not in REPORT_LANGUAGES:
            raise errors.InvalidCommand("lang is en or fr")
        return lang

    async def export_claims(request: Request, code: str, fmt: str) -> tuple[str, str, int, bool]:
        """Who asks for an export, and whether it is anonymised: the Bearer token's claims (and
        ``?anonymised=``), or a one-time link's (``?dl=``), which fixes its format and anonymisation."""
        refuse_tokens_in_url(request)
        key = request.query_params.get("dl")
        if key is not None:  # a one-time link from POST export-link
            download = await hub.downloads.take(code, key, fmt, spend=request.method != "HEAD")
            if download is None:
                raise errors.NotFound("this download link was used or has expired; ask for a new one")
            return "member", download.member, download.generation, download.anonymised
        claims = hub.signer.verify(bearer(request), room=code)
        anonymised = request.query_params.get("anonymised", "0") in ("1", "true", "yes")
        return claims.kind, claims.subject, claims.generation, anonymised

    def looking(request: Request) -> bool:
        """A HEAD with a one-time link: it was checked, not spent; the export is not built (a HEAD
        repeated at will would build it on the room's loop each time)."""
        return request.method == "HEAD" and "dl" in request.query_params

    async def export_text(request: Request, fmt: str, media_type: str) -> Response:
        code = normalise_code(request.path_params["code"])
        anonymised = False
        try:
            # Checked before the claims: a one-time link is spent by reading them.
            separator = csv_separator(request) if fmt == "csv" else "comma"
            lang = report_lang(request) if fmt in ("md", "html") else None
            kind, subject, generation, anonymised = await export_claims(request, code, fmt)
            if looking(request):
                answer: dict[str, Any] = {"text": ""}
            else:
                host = await hub.host(code)
                answer = await host.query(
                    "export_file",
                    kind=kind,
                    subject=subject,
                    generation=generation,
                    fmt=fmt,
                    anonymised=anonymised,
                    separator=separator,
                    lang=lang,
                )
            if "error" in answer:
                raise errors.from_dict(answer["error"])
        except errors.WorkshopError as exc:
            return error_response(exc)
        suffix = "-anonymised" if anonymised else ""
        disposition = f'attachment; filename="{code}{suffix}.{fmt}"'
        return Response(
            answer["text"].encode("utf-8"),
            media_type=media_type,
            headers={"content-disposition": disposition, "cache-control": "no-store"},
        )

    async def export_csv(request: Request) -> Response:
        return await export_text(request, "csv", "text/csv; charset=utf-8; header=present")

    async def export_md(request: Request) -> Response:
        return await export_text(request, "md", "text/markdown; charset=utf-8")

    async def export_html(request: Request) -> Response:
        response = await export_text(request, "html", "text/html; charset=utf-8")
        # A printable page: shown in the browser, not downloaded; it runs nothing and loads nothing.
        response.headers["content-disposition"] = "inline"
        response.headers["content-security-policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        )
        return response

    async def room_figures(request: Request) -> Response:
        code = normalise_code(request.path_params["code"])
        try:
            refuse_tokens_in_url(request)
            claims = hub.signer.verify(bearer(request), room=code)
            host = await hub.host(code)
            answer = await host.query(
                "figures", kind=claims.kind, subject=claims.subject, generation=claims.generation
            )
            if "error" in answer:
                raise errors.from_dict(answer["error"])
        except errors.WorkshopError as exc:
            return error_response(exc)
        return JSONResponse(answer["figures"], headers={"cache-control": "no-store"})

    async def export_json(request: Request) -> Response:
        code = normalise_code(request.path_params["code"])
        try:
            kind, subject, generation, anonymised = await export_claims(request, code, "json")
            if looking(request):
                export: dict[str, Any] = {"state": {}}
            else:
                host = await hub.host(code)
                # Read between batches: never show a state that the journal does not hold yet.
                export = await host.query(
                    "export", kind=kind, subject=subject, generation=generation, anonymised=anonymised
                )
            if "error" in export:
                raise errors.from_dict(export["error"])
        except errors.WorkshopError as exc:
            return error_response(exc)
        state = export["state"]
        disposition = f'attachment; filename="{code}.json"'
        return JSONResponse(state, headers={"content-disposition": disposition, "cache-control": "no-store"})

    async def member_page(request: Request, name: str) -> Response:
        """A member's own follow-up read with its token (``Authorization: Bearer``): the named query
        ``name`` (``my_ideas``, ``contributors``), after the session ended too."""
        code = normalise_code(request.path_params["code"])
        try:
            refuse_tokens_in_url(request)
            claims = hub.signer.verify(bearer(request), room=code)
            # Each read is computed on the room's loop: limited per member token (not per address:
            # a venue's phones share one), so one token cannot keep the room busy.
            await limit(hub.limiters.member_pages, f"{code}\x00{claims.subject}", "reads", "this member")
            host = await hub.host(code)
            answer = await host.query(
                name, kind=claims.kind, subject=claims.subject, generation=claims.generation
            )
            if "error" in answer:
                raise errors.from_dict(answer["error"])
            for part in ("page", "data"):  # "my ideas" and the data download say until when
                found = answer.get(part)
                if isinstance(found, dict) and isinstance(found.get("room"), dict):
                    retention(found["room"])
        except errors.WorkshopError as exc:
            return error_response(exc)
        return JSONResponse(answer, headers={"cache-control": "no-store"})

    async def mine(request: Request) -> Response:
        return await member_page(request, "my_ideas")

    async def contributors(request: Request) -> Response:
        return await member_page(request, "contributors")

    async def my_data(request: Request) -> Response:
        response = await member_page(request, "my_data")
        if response.status_code == 200:
            code = normalise_code(request.path_params["code"])
            response.headers["content-disposition"] = f'attachment; filename="{code}-my-data.json"'
        return response

    async def erase_my_data(request: Request) -> Response:
        """A member erases its own data with its token (``Authorization: Bearer``): the ``member.erase``
        command of itself, submitted to the room as a connection's would be, so that a member removed,
        rejected or waiting in the lobby (whose token no longer connects, or which may not send anything
        else) can erase itself too. Answered once the erasure is journaled and every copy is gone."""
        code = normalise_code(request.path_params["code"])
        # A page of another site must not make its visitors' browsers erase their data here.
        if not settings.origin_allowed(request.headers.get("origin"), request.headers.get("host")):
            return error_response(errors.Forbidden("pages of this origin may not erase data here"))
        try:
            refuse_tokens_in_url(request)
            claims = hub.signer.verify(bearer(request), room=code)
            if claims.kind != "member":
                raise errors.Forbidden("this is for the room's members")
            # Limited per member token (not per address), with a budget of its own: a member's open "my
            # ideas" tabs, reading its pages, must not leave it unable to erase.
            key = f"{code}\x00{claims.subject}\x00erase"
            await limit(hub.limiters.member_pages, key, "erasures", "this member")
            body = await read_body(request, EraseMyData, ERASE_BODY_LIMIT)
            if isinstance(body, Response):
                return body
            host = await hub.host(code)
            known = await host.query("credential", kind=claims.kind, subject=claims.subject)
            if known["member"] is None:
                raise errors.InvalidToken("no such member in this room")
            if claims.generation != known["generation"]:
                raise errors.InvalidToken("this link was replaced: ask the facilitator for the new one")
            # The core decides the rest: itself only, a participant, a resend answered from its records
            # (even once its token is spent), an erased member's new erasure refused (data_erased).
            reply = await host.submit(c.MemberErase(id=body.id), claims.subject, address=client_ip(request))
            if reply.error is not None:
                raise errors.from_dict(reply.error)
        except errors.WorkshopError as exc:
            return error_response(exc)
        return JSONResponse(reply.result, headers={"cache-control": "no-store"})

    async def export_link(request: Request) -> Response:
        """A one-time, short-lived download link for the export, so a browser can download it with a
        plain link and no token ever sits in a URL."""
        code = normalise_code(request.path_params["code"])
        try:
            refuse_tokens_in_url(request)
            claims = hub.signer.verify(bearer(request), room=code)
            host = await hub.host(code)
            refusal = await host.query(
                "staff_check", kind=claims.kind, subject=claims.subject, generation=claims.generation
            )
            if refusal is not None:
                raise errors.from_dict(refusal)
        except errors.WorkshopError as exc:
            return error_response(exc)
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "csv", "md", "html"):
            return error_response(errors.InvalidCommand("format is json, csv, md or html"))
        anonymised = request.query_params.get("anonymised") in ("1", "true", "yes")
        extra = "&anonymised=1" if anonymised else ""
        try:
            separator = csv_separator(request) if fmt == "csv" else "comma"
            lang = report_lang(request) if fmt in ("md", "html") else None
        except errors.WorkshopError as exc:
            return error_response(exc)
        extra += f"&sep={separator}" if separator != "comma" else ""
        extra += f"&lang={lang}" if lang is not None else ""
        key = hub.downloads.issue(code, claims.subject, claims.generation, fmt, anonymised)
        return JSONResponse(
            {"url": f"/api/rooms/{code}/export.{fmt}?dl={key}{extra}", "expires_in": DOWNLOAD_SECONDS},
            headers={"cache-control": "no-store"},
        )

    def is_operator(request: Request) -> bool:
        """The request carries the operator key (``ops_key``; never true when it is unset)."""
        key, given = settings.ops_key, bearer(request)
        return bool(key and given) and same_secret(given, str(key))

    async def operator_key(request: Request) -> bool:
        """Whether ``/healthz`` was asked with the operator key. Guessing it is limited like the
        organiser key (same budget): spent before the key is compared, given back when right. Past
        the budget (or when the budget cannot be checked within the probes' bound) no key is compared,
        the right one neither, and the answer is the health without the rooms: a load balancer probing
        with a stale key still reads 200 or 503."""
        if not (settings.ops_key and bearer(request)):
            return False
        ip = client_ip(request)
        wait = 1.0
        # Within the probes' bound, not the broker's whole timeout: while Redis stalls, a health check
        # sent with the key gets its 503 as soon as one without it, rather than timing out.
        with contextlib.suppress(errors.WorkshopError, TimeoutError):
            async with asyncio.timeout(health.timeout):
                wait = await hub.limiters.create_key.take(ip)
        if wait:
            if hub.metrics is not None:
                hub.metrics.rate_limited("create_key")
            return False
        operator = is_operator(request)
        if operator:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(health.timeout):
                    await hub.limiters.create_key.give(ip)
        return operator

    async def healthz(request: Request) -> Response:
        # The key's budget and the probes at once: together they take no longer than the probes' bound.
        operator, (healthy, body) = await asyncio.gather(operator_key(request), health.report(rooms=True))
        if not operator:
            body.pop("owned", None)
        return JSONResponse(body, status_code=200 if healthy else 503, headers={"cache-control": "no-store"})

    async def readyz(request: Request) -> Response:
        state = hub.state
        return JSONResponse(
            {"status": state},
            status_code=200 if state == "ready" else 503,
            headers={"cache-control": "no-store"},
        )

    async def metrics_endpoint(request: Request) -> Response:
        await health.check()  # workshop_broker_up and workshop_storage_up as of now (cached for 1 s)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    pages: dict[Path, tuple[int, int, bytes]] = {}

    async def index(request: Request) -> Response:
        page = web_dir / "index.html"
        response: Response
        if page.exists():
            response = file_in_memory(page, FileResponse(page, headers={"cache-control": "no-cache"}), pages)
        else:
            fallback = (
                "<!doctype html><title>Workshop server</title><h1>Workshop server</h1>"
                "<p>The web app's files were not found: see the server's log (WORKSHOP_WEB_DIR).</p>"
            )
            response = Response(fallback, media_type="text/html")
        cookie = request.cookies.get(DEVICE_COOKIE)
        if cookie is None or hub.signer.verify_device(cookie) is None:
            # The browser's device id: a ban in a code or passphrase room records it (see protocol.md).
            response.set_cookie(
                DEVICE_COOKIE,
                hub.signer.device_cookie(secrets.token_urlsafe(16)),
                max_age=DEVICE_COOKIE_MAX_AGE,
                path="/",
                httponly=True,
                samesite="lax",
                secure=request.url.scheme == "https",
            )
        return response

    pauses = PauseObserver()

    def lagged(seconds: float) -> None:  # every 20 ms: the loop's lag, and the collections meanwhile
        metrics.loop_lag(seconds)
        for generation, pause in pauses.drain():
            metrics.gc_pause(generation, pause)

    start_problems: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        try:
            await hub.start()
        except (errors.WorkshopError, OSError) as exc:
            cause = exc.__cause__
            start_problems.append(f"{exc} ({cause})" if cause is not None else str(exc))
            raise
        admission = Admission(settings, metrics)
        probe = LoopLagProbe(lagged)
        freezer = FreezingCollector(metrics.churn, lambda: len(hub.sessions)) if settings.gc_freeze else None
        pauses.install()
        probe.start()
        if freezer is not None:
            freezer.start()  # after start-up: what the hub loaded is frozen
        try:
            yield {ADMISSION_STATE_KEY: admission, HUB_STATE_KEY: hub}
        finally:
            try:
                await hub.stop()
            finally:
                if freezer is not None:
                    await freezer.stop()
                await probe.stop()
                pauses.uninstall()

    routes: list[Route | Mount] = [
        Route("/", index),
        Route("/j/{code}", index),
        Route("/r/{code}", index),
        Route("/s/{code}", index),
        Route("/m/{code}", index),
        Route("/api/server", server_info),
        Route("/api/rooms", create_room, methods=["POST"]),
        Route("/api/rooms/{code}", room_info),
        Route("/api/rooms/{code}/qr.svg", room_qr),
        Route("/api/rooms/{code}/export.json", export_json),
        Route("/api/rooms/{code}/export.csv", export_csv),
        Route("/api/rooms/{code}/export.md", export_md),
        Route("/api/rooms/{code}/export.html", export_html),
        Route("/api/rooms/{code}/figures", room_figures),
        Route("/api/rooms/{code}/export-link", export_link, methods=["POST"]),
        Route("/api/rooms/{code}/mine", mine),
        Route("/api/rooms/{code}/contributors", contributors),
        Route("/api/rooms/{code}/my-data", my_data),
        Route("/api/rooms/{code}/my-data/erase", erase_my_data, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
    ]
    if web_dir.is_dir():
        routes.append(Mount("/static", WebFiles(directory=web_dir), name="static"))
    return WorkshopApp(
        Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: no_route, 405: no_route}),
        WebSocketEndpoint(hub),
        hub,
        start_problems,
    )

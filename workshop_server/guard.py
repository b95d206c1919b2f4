"""The connection guard: what a TCP connection may hold before it has proved anything.

uvicorn accepts a connection and then waits, without a deadline, for its HTTP request; a WebSocket then
waits for its first message. Left alone, a host that opens thousands of sockets and never finishes a
request ties up descriptors and memory until the process can no longer accept anybody. The guard sits in
uvicorn's own protocol classes (:class:`GuardedH11Protocol` for HTTP/1.1, :class:`GuardedWebSocketProtocol`
for WebSocket connections after the upgrade) and keeps one :class:`Ticket` per connection in one
:class:`Admission` per process:

* **Pending** connections are those in their HTTP handshake, or WebSockets that have not joined or
  authenticated yet. They count against ``max_pending_connections``, and each client address against its
  share, ``max_pending_per_ip``. A connection past either cap is answered ``503`` and closed at once, so one
  flooding host fills its own share and nobody else's. When every pending place is taken, a newcomer
  takes the oldest of the address holding the most (if it holds at least two more than the newcomer's):
  a few hosts trickling request heads cannot keep everyone else out.
* A connection that has not sent a complete request head within ``handshake_timeout`` is closed, and so is
  a keep-alive connection that starts a request and never finishes it. Once a WebSocket is accepted, the
  session's ``auth_timeout`` takes over until it joins.
* **Open connections** of one client address, HTTP and WebSocket ones alike: at most its share of
  WebSockets (``max_connections_per_ip``, at most half of ``max_connections``) plus its share of pending
  connections (``max_pending_per_ip``); more are answered ``503``.
* A response the client does not read (its socket's buffer full) for ``send_timeout`` seconds is
  aborted: each holds a descriptor, and uvicorn would wait for it without a limit.
* **Descriptors**: at start the soft ``RLIMIT_NOFILE`` is raised to the hard limit. Connections past the
  limit less ``fd_reserve`` (and the descriptors already open at start) are answered ``503`` before the
  process runs out, so ``accept`` itself never fails.

Refusals are counted in ``/metrics`` (``workshop_handshakes_refused_total{reason}``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, cast

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from workshop_server.close_codes import CloseCode
from workshop_server.primitives import Flag, Inbox
from workshop_server.ratelimit import address_key

if TYPE_CHECKING:
    from workshop_server.settings import Settings

__all__ = [
    "ADMISSION_STATE_KEY",
    "DIRECT_EXTENSION",
    "HUB_STATE_KEY",
    "TICKET_EXTENSION",
    "Admission",
    "GuardedH11Protocol",
    "GuardedWebSocketProtocol",
    "Ticket",
    "raise_fd_limit",
]

log = logging.getLogger("workshop_server")

#: Where the admission sits in the lifespan state that uvicorn hands its protocols.
ADMISSION_STATE_KEY: Final = "workshop.admission"
#: Where the hub sits in the same state (the drain period of the CLI reads it).
HUB_STATE_KEY: Final = "workshop.hub"
#: The ASGI scope extension under which a WebSocket connection's ticket reaches the application.
TICKET_EXTENSION: Final = "workshop.ticket"
#: The ASGI scope extension that lets a WebSocket's session write a prebuilt frame straight to the
#: transport (``GuardedWebSocketProtocol.write_frame``), skipping the per-recipient framing of ``send``.
DIRECT_EXTENSION: Final = "workshop.write_frame"
RETRY_AFTER_SECONDS: Final = 5
#: On shutdown, how long a WebSocket's close frame (1012), or an HTTP response in progress, has to leave
#: before its connection is aborted.
SHUTDOWN_FLUSH_SECONDS: Final = 2.0
#: h11's own limit on a request head, when uvicorn is not given one (the server always gives its setting).
H11_HEAD_DEFAULT: Final = 16 * 1024
#: The close reason of the connections open when the server stops (1012, as uvicorn sends).
SHUTDOWN_REASON: Final = "the server is restarting; reconnect"


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit; return (before, after)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return (0, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # pragma: no cover - a sandbox may refuse it
            return (soft, soft)
        return (soft, target)
    return (soft, soft)


def open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # pragma: no cover - no procfs
        return 0


class Ticket:
    """One TCP connection as the guard sees it: its client address and whether it is still pending."""

    __slots__ = ("_timer", "admission", "ip", "opened_by", "pending", "proxy", "released", "transport")

    def __init__(
        self,
        admission: Admission,
        ip: str,
        *,
        proxy: bool = False,
        transport: asyncio.BaseTransport | None = None,
    ) -> None:
        self.admission = admission
        self.transport = transport  # closed if the connection is evicted while pending
        self.ip = ip
        self.proxy = proxy  # from a trusted reverse proxy: no per-address share
        self.opened_by = None if proxy else ip  # the address its open connection counts against
        self.pending = True
        self.released = False
        self._timer: asyncio.TimerHandle | None = None

    def arm(self, loop: asyncio.AbstractEventLoop, on_expiry: Any, delay: float | None = None) -> None:
        """Call ``on_expiry()`` (it closes the connection) unless :meth:`disarm` is called within
        ``delay`` seconds (default: ``handshake_timeout``)."""
        self.disarm()
        timeout = self.admission.handshake_timeout if delay is None else delay
        self._timer = loop.call_later(timeout, on_expiry)

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def settle(self) -> None:
        """No longer pending: a plain HTTP request head arrived, or a WebSocket joined a room."""
        if self.pending and not self.released:
            self.pending = False
            self.admission._unpend(self)

    def repend(self) -> str | None:
        """Pending again (a keep-alive connection upgrades to a WebSocket): None, or why it is refused."""
        if self.pending or self.released:
            return None
        return self.admission._repend(self)

    def rekey(self, ip: str) -> str | None:
        """A connection from a trusted proxy whose client address is now known (its WebSocket handshake,
        X-Forwarded-For): still pending, it counts against that address's share from now on. None, or
        why it is refused."""
        if not self.proxy or self.released:
            return None
        return self.admission._rekey(self, ip)

    def release(self) -> None:
        """The connection is gone (idempotent)."""
        self.disarm()
        if self.released:
            return
        self.released = True
        self.admission._release(self)


class Admission:
    """The counts and caps of one process; see the module docstring."""

    def __init__(self, settings: Settings, metrics: Any = None) -> None:
        self.handshake_timeout = settings.handshake_timeout
        self.body_timeout = settings.body_timeout
        # Behind a trusted reverse proxy every connection comes from the proxy: no per-address share.
        # Entries are addresses or networks (10.0.0.0/8), as uvicorn takes them, or "*" (any peer).
        self._any_proxy = "*" in settings.trusted_proxies
        self._proxy_networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._proxy_names: set[str] = set()  # anything else (a Unix socket's name) is compared as is
        for entry in settings.trusted_proxies:
            try:
                self._proxy_networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._proxy_names.add(entry)
        self._trusted: dict[str, bool] = {}  # peer address -> whether it is a trusted proxy (cached)
        before, after = raise_fd_limit()
        self.fd_limit = after
        in_use = open_descriptors()
        if after:
            self.max_open = max(1, after - settings.fd_reserve - in_use)
        else:  # pragma: no cover - no resource module
            self.max_open = settings.max_connections + settings.max_pending_connections
        self.max_pending = max(1, min(settings.max_pending_connections, settings.max_connections - 1))
        self.max_pending_per_ip = min(settings.max_pending_per_ip, self.max_pending)
        # Open connections of one address, HTTP ones included (a host opening hundreds of requests and
        # never reading the answers): the WebSockets WebSocketEndpoint lets it hold, and beside them as
        # many more as it may have pending (its page loads and API calls).
        websockets = max(1, min(settings.max_connections_per_ip, settings.max_connections // 2))
        self.max_open_per_ip = websockets + self.max_pending_per_ip
        self.send_timeout = settings.send_timeout
        self.metrics = metrics
        self.open = 0
        self.pending = 0
        self.pending_by_ip: dict[str, int] = {}
        self.open_by_ip: dict[str, int] = {}
        # Each address's pending connections (not a trusted proxy's), oldest first: when every pending
        # place is taken, a newcomer takes the oldest of the address holding the most (``_evict``).
        self.pending_of: dict[str, dict[Ticket, None]] = {}
        self._tickets: dict[int, Ticket] = {}
        self._warned_at = 0.0
        self._suppressed = 0
        log.info(
            "file descriptors: soft limit %s (was %s), %d in use at start; accepting at most %d "
            "connections, %d of them pending (%d per address)",
            after,
            before,
            in_use,
            self.max_open,
            self.max_pending,
            self.max_pending_per_ip,
        )

    # --- Decisions -----------------------------------------------------------------------------------
    def trusted_proxy(self, peer: str) -> bool:
        """Whether ``peer`` (the socket's peer address, as it is) is one of ``trusted_proxies``."""
        if self._any_proxy:
            return True
        if not self._proxy_networks and not self._proxy_names:
            return False
        found = self._trusted.get(peer)
        if found is None:
            try:
                address = ipaddress.ip_address(peer)
            except ValueError:
                found = peer in self._proxy_names
            else:
                if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
                    address = address.ipv4_mapped
                found = any(address in network for network in self._proxy_networks)
            if len(self._trusted) >= 1024:
                self._trusted.clear()
            self._trusted[peer] = found
        return found

    def admit(self, transport: asyncio.BaseTransport, ip: str, *, proxy: bool = False) -> Ticket | str:
        """A ticket for a new connection from ``ip`` (its per-address key), or the reason it is refused.
        ``proxy``: the peer is a trusted reverse proxy, which has no per-address share."""
        if self.open >= self.max_open:
            return "descriptors"
        if not proxy and self.pending_by_ip.get(ip, 0) >= self.max_pending_per_ip:
            return "pending_per_ip"
        if not proxy and self.open_by_ip.get(ip, 0) >= self.max_open_per_ip:
            return "connections_per_ip"
        if self.pending >= self.max_pending and not self._evict(self.pending_by_ip.get(ip, 0)):
            return "pending_full"
        ticket = Ticket(self, ip, proxy=proxy, transport=transport)
        self.open += 1
        if not proxy:
            self.open_by_ip[ip] = self.open_by_ip.get(ip, 0) + 1
        self._pend(ticket)
        self._tickets[id(transport)] = ticket
        return ticket

    def ticket_of(self, transport: asyncio.BaseTransport) -> Ticket | None:
        return self._tickets.get(id(transport))

    def forget_transport(self, transport: asyncio.BaseTransport) -> None:
        self._tickets.pop(id(transport), None)

    def refused(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.handshake_refused(reason)
        self.warn(f"refused a connection: {reason}")

    def warn(self, message: str) -> None:
        """One warning line per 10 seconds at most, with a count of what it held back."""
        now = time.monotonic()
        if now - self._warned_at < 10.0:
            self._suppressed += 1
            return
        extra = f" ({self._suppressed} more since the last warning)" if self._suppressed else ""
        self._warned_at, self._suppressed = now, 0
        log.warning("%s%s", message, extra)

    def _evict(self, holding: int) -> bool:
        """Every pending place is taken: close the oldest pending connection of the address holding the
        most, if it holds at least two more than the newcomer's address (``holding``), and say whether
        a place came free. A few hosts trickling request heads (slowloris), each within its share, could
        otherwise keep everyone else out for as long as they keep reopening."""
        if not self.pending_of:
            return False
        ip = max(self.pending_of, key=lambda key: len(self.pending_of[key]))
        if len(self.pending_of[ip]) < holding + 2:
            return False
        victim = next(iter(self.pending_of[ip]))
        self.refused("pending_evicted")
        victim.release()  # its place now; the close follows
        if victim.transport is not None:
            victim.transport.close()
        return True

    # --- Book-keeping ---------------------------------------------------------------------------------
    def _pend(self, ticket: Ticket) -> None:
        ticket.pending = True
        self.pending += 1
        self.pending_by_ip[ticket.ip] = self.pending_by_ip.get(ticket.ip, 0) + 1
        if not ticket.proxy:
            self.pending_of.setdefault(ticket.ip, {})[ticket] = None

    def _unpend(self, ticket: Ticket) -> None:
        self.pending -= 1
        left = self.pending_by_ip.get(ticket.ip, 0) - 1
        if left > 0:
            self.pending_by_ip[ticket.ip] = left
        else:
            self.pending_by_ip.pop(ticket.ip, None)
        tickets = self.pending_of.get(ticket.ip)
        if tickets is not None:
            tickets.pop(ticket, None)
            if not tickets:
                del self.pending_of[ticket.ip]

    def _repend(self, ticket: Ticket) -> str | None:
        if not ticket.proxy and self.pending_by_ip.get(ticket.ip, 0) >= self.max_pending_per_ip:
            return "pending_per_ip"
        if self.pending >= self.max_pending and not self._evict(self.pending_by_ip.get(ticket.ip, 0)):
            return "pending_full"
        self._pend(ticket)
        return None

    def _rekey(self, ticket: Ticket, ip: str) -> str | None:
        if ticket.pending:
            if self.pending_by_ip.get(ip, 0) >= self.max_pending_per_ip:
                return "pending_per_ip"
            self._unpend(ticket)
            ticket.ip, ticket.proxy = ip, False
            self._pend(ticket)
        ticket.ip, ticket.proxy = ip, False
        return None

    def _release(self, ticket: Ticket) -> None:
        self.open -= 1
        if ticket.opened_by is not None:
            left = self.open_by_ip.get(ticket.opened_by, 0) - 1
            if left > 0:
                self.open_by_ip[ticket.opened_by] = left
            else:
                self.open_by_ip.pop(ticket.opened_by, None)
        if ticket.pending:
            ticket.pending = False
            self._unpend(ticket)


def _refusal(reason: str) -> bytes:
    body = orjson.dumps(
        {
            "error": {
                "code": "server_busy",
                "message": f"the server is not taking this connection now ({reason}); retry shortly",
                "temporary": True,
            }
        }
    )
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "content-type: application/json\r\n"
        f"retry-after: {RETRY_AFTER_SECONDS}\r\n"
        "connection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


def _peer(transport: asyncio.BaseTransport) -> str:
    """The socket's peer address as it is ("unix" for a Unix socket)."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "unix"


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the guard's admission, deadlines and descriptor budget.

    A request it cannot read (malformed, or a head over ``max_request_head_bytes``) is answered as the
    HTTP API answers errors, in JSON (``bad_frame``), not uvicorn's text line; and its warning, one line
    per request anybody can send, goes through the admission's rate-limited warning."""

    _ticket: Ticket | None = None
    _refused = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = cast(Any, _QuietInvalidRequests(self.logger, self._admission))

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_unreadable_request(self.config.h11_max_incomplete_event_size))
        self.transport.close()

    def _admission(self) -> Admission | None:
        admission = self.app_state.get(ADMISSION_STATE_KEY)
        return admission if isinstance(admission, Admission) else None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        admission = self._admission()
        if admission is not None:
            peer = _peer(transport)
            decision = admission.admit(transport, address_key(peer), proxy=admission.trusted_proxy(peer))
            if isinstance(decision, str):
                self._refused = True
                admission.refused(decision)
                self.transport = transport
                transport.write(_refusal(decision))
                transport.close()
                return
            self._ticket = decision
            decision.arm(self.loop, self._handshake_expired)
        super().connection_made(transport)

    def _handshake_expired(self) -> None:
        # Also after an upgrade: the WebSocket handshake must be accepted within the same deadline
        # (the application disarms the ticket when it accepts; see WebSocketEndpoint).
        ticket = self._ticket
        if ticket is None or ticket.released or self.transport.is_closing():
            return
        ticket.admission.refused("handshake_timeout")
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused or self.transport.is_closing():
            return
        if self.conn.their_state is h11.IDLE:
            # Reading a request head. h11 refuses a head still incomplete past the limit, not a longer one
            # that arrived whole in one read: both are refused here.
            limit = self.config.h11_max_incomplete_event_size or H11_HEAD_DEFAULT
            buffered = self.conn.trailing_data[0]  # a head's beginning: under the limit
            head = buffered + data if buffered else data
            end = head.find(b"\r\n\r\n")
            if end > limit or (end == -1 and len(head) > limit):
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("")  # and closes: what comes after is not read
                return
        super().data_received(data)
        ticket = self._ticket
        if ticket is None or ticket.released:
            return
        if self.transport.get_protocol() is not self:
            # Upgraded: the WebSocket protocol owns the ticket. A keep-alive connection that upgrades
            # after a plain request is pending again, under the same caps, until it joins a room; the
            # handshake deadline runs until the application accepts (WebSocketEndpoint disarms it).
            if not ticket.pending:
                refusal = ticket.repend()
                if refusal is not None:
                    ticket.admission.refused(refusal)
                    self.transport.write(_refusal(refusal))
                    self.transport.close()
                    return
                ticket.arm(self.loop, self._handshake_expired)
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            return  # still waiting for a whole request head: the deadline runs
        ticket.settle()  # the request head is complete
        if state is h11.SEND_BODY:
            if self._waiting_for != "body":  # the body has its own deadline, from the head on
                self._waiting_for = "body"
                ticket.arm(self.loop, self._body_expired, ticket.admission.body_timeout)
        else:
            self._waiting_for = ""
            ticket.disarm()

    _waiting_for = ""

    def _body_expired(self) -> None:
        if self.transport is None or self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        if self.conn.their_state is h11.SEND_BODY:
            ticket = self._ticket
            if ticket is not None:
                ticket.admission.refused("body_timeout")
            self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        ticket = self._ticket
        if ticket is not None and not ticket.released and not self.transport.is_closing():
            # Keep-alive: uvicorn's own timer closes an idle connection, but data that starts a request
            # cancels it. The guard's deadline covers a request head that never completes.
            self._waiting_for = ""
            ticket.arm(self.loop, self._request_expired)

    def _request_expired(self) -> None:
        if self.transport is None or self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        if self.conn.their_state is h11.IDLE:
            self.transport.close()

    _gone = False

    def shutdown(self) -> None:
        """uvicorn lets a response in progress finish, and waits for it without a limit: a client that
        stopped reading a large one (an export, to a laptop gone to sleep) held the server's stop for
        ever. It has SHUTDOWN_FLUSH_SECONDS, as a WebSocket's close frame; then it is aborted."""
        super().shutdown()
        if not self._gone:
            self.loop.call_later(SHUTDOWN_FLUSH_SECONDS, self._abort_unless_gone)

    def _abort_unless_gone(self) -> None:
        if not self._gone:
            self.transport.abort()

    _stalled: asyncio.TimerHandle | None = None

    def pause_writing(self) -> None:
        """The client does not read what it is sent (the socket's buffer is full): it has
        ``send_timeout`` seconds to read some, else the connection is aborted. uvicorn waits for it
        without a limit, and each such connection holds a descriptor (one host asking for many pages
        and reading none used them all up)."""
        super().pause_writing()
        admission = self._admission()
        if admission is not None and self._stalled is None:
            self._stalled = self.loop.call_later(admission.send_timeout, self._send_expired)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None

    def _send_expired(self) -> None:
        self._stalled = None
        if self._gone or self.transport.get_protocol() is not self:
            return
        admission = self._admission()
        if admission is not None:
            admission.refused("send_timeout")
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._gone = True
        if self._stalled is not None:
            self._stalled.cancel()
            self._stalled = None
        if self._refused:
            return
        ticket = self._ticket
        if ticket is not None:
            ticket.release()
            ticket.admission.forget_transport(self.transport)
        super().connection_lost(exc)


def _unreadable_request(limit: int | None) -> bytes:
    """The answer to a request that cannot be read (malformed, or its head over ``limit`` bytes): the
    HTTP API's JSON error (``bad_frame``), and the connection closes."""
    body = orjson.dumps(
        {
            "error": {
                "code": "bad_frame",
                "message": "the HTTP request could not be read: it is malformed, or its head (the request "
                f"line and headers) is over {limit} bytes (max_request_head_bytes)",
                "temporary": False,
            }
        }
    )
    head = (
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _QuietInvalidRequests:
    """uvicorn's logger for one HTTP connection, but its "Invalid HTTP request received." warning goes
    through the admission's rate-limited warning (:meth:`Admission.warn`)."""

    def __init__(self, logger: logging.Logger, admission: Callable[[], Admission | None]) -> None:
        self._logger = logger
        self._admission = admission

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        admission = self._admission()
        if msg == "Invalid HTTP request received." and admission is not None:
            admission.warn("refused an HTTP request it could not read (malformed, or its head too large)")
        else:
            self._logger.warning(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, holding the connection's ticket, with quiet invalid UTF-8 handling.

    It also holds less for the hours a connection stays open: :mod:`workshop_server.primitives`' inbox
    and flag instead of an ``asyncio.Queue`` and an ``asyncio.Event``, and once the handshake's response
    is out, neither the parsed request nor the response (their headers: about 3 KiB per connection)."""

    _ticket: Ticket | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = cast(Any, Inbox())
        self.writable = cast(Any, Flag())
        self.writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        admission = self.app_state.get(ADMISSION_STATE_KEY)
        if isinstance(admission, Admission):
            self._ticket = admission.ticket_of(transport)

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            extensions = cast(dict[str, Any], scope["extensions"])
            if self._ticket is not None:
                extensions[TICKET_EXTENSION] = self._ticket
            extensions[DIRECT_EXTENSION] = self.write_frame

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            # Accepted (or refused): the handshake's request and response are never read again. The
            # request stays referenced by websockets' parser (a local of its generator), so its headers
            # are emptied rather than only let go.
            self.request.headers.clear()
            del self.request, self.response
        if message["type"] == "websocket.http.response.body" and not message.get("more_body", False):
            # A refusal answered in full (the ASGI denial response: a refused origin, a full server).
            # uvicorn would log "ASGI callable returned without completing handshake." at error level for
            # each: one line per request anybody can send.
            self.handshake_complete = True

    def keepalive_timeout(self) -> None:
        """The ping went unanswered: uvicorn sends 1011 and closes the transport, and a transport's close
        waits until its buffer has drained. Toward a peer that reads nothing (a phone asleep with a full
        TCP window; the write buffer over its high-water mark) that never happens, and the connection,
        its session and its buffer would stay for as long as the peer's TCP stack answers: abort it."""
        super().keepalive_timeout()
        if self.transport.is_closing() and not self.writable.is_set():
            self.transport.abort()

    def shutdown(self) -> None:
        """uvicorn's shutdown sends 1012 (nothing more after the app's own close) and closes the
        transport, whose close waits until its buffer has drained; it also stops the pings that let a
        peer reading nothing go (:meth:`keepalive_timeout`), and then waits for every connection to end,
        without a limit. One phone asleep with a full TCP window held the server's stop for ever (the
        rooms never handed over, until SIGKILL). The close frame has SHUTDOWN_FLUSH_SECONDS to leave;
        then the connection is aborted (the client sees 1006, and resumes). The close frame says why, as
        every close of ours does (uvicorn's carries no reason)."""
        if self.handshake_complete and not self.close_sent:
            self.stop_keepalive()  # uvicorn's shutdown, with a reason
            self.queue.put_nowait({"type": "websocket.disconnect", "code": CloseCode.SERVICE_RESTART})
            self.conn.send_close(CloseCode.SERVICE_RESTART, SHUTDOWN_REASON)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
        else:
            super().shutdown()
        if not self.disconnected:
            self.loop.call_later(SHUTDOWN_FLUSH_SECONDS, self._abort_unless_gone)

    def _abort_unless_gone(self) -> None:
        if not self.disconnected:
            self.transport.abort()

    def write_frame(self, wire: bytes) -> bool:
        """Write ``wire``, one complete unmasked WebSocket frame built once for many connections, if this
        connection can take it now: open, writable (not paused by a slow reader), and without a
        negotiated extension (compression transforms every frame). False: nothing was written, and the
        caller sends through ASGI ``send`` as usual. Frames written here and through ``send`` leave in
        the order of the calls: both write whole frames to the same transport."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.conn.extensions
            or not self.writable.is_set()
            or self.conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(wire)
        return True

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            try:
                data.decode()
            except UnicodeDecodeError:
                # uvicorn logs a traceback per frame here: 1.2 KB of log for every unauthenticated bad
                # frame. One rate-limited line instead, and the standard close code 1007.
                self.frames = []
                admission = self._ticket.admission if self._ticket is not None else None
                if admission is not None:
                    admission.warn("closed a WebSocket that sent invalid UTF-8 (close 1007)")
                self.conn.send_close(CloseCode.INVALID_DATA, "invalid UTF-8")
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()

    def connection_lost(self, exc: Exception | None) -> None:
        ticket = self._ticket
        if ticket is not None:
            ticket.release()
            ticket.admission.forget_transport(self.transport)
        if self.handshake_complete and self.conn.close_rcvd is None:
            # Gone without a close frame: 1006 (RFC 6455, 7.1.5), which the metrics count as network
            # drops. uvicorn says 1005, the code of a close frame without a status; the application reads
            # the first disconnect and never the one uvicorn puts after this.
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
        super().connection_lost(exc)

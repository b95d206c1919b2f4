"""Configuration of the workshop server.

Every setting is read from an environment variable named ``WORKSHOP_<FIELD NAME>`` (for example
``WORKSHOP_PORT=9000``); the command line (see :mod:`workshop_server.cli`) overrides the environment,
which overrides the defaults. The field descriptions are rendered into the operator documentation.

The HMAC secret that signs tokens is resolved by :func:`resolve_secret`: the configured value, or a
random one generated on first start and persisted to ``<data_dir>/secret`` (mode 0600).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from workshop_server.errors import ServerError
from workshop_server.netinfo import lan_addresses

__all__ = ["MIN_SECRET_BYTES", "SECRET_FILE_NAME", "SecretFileError", "Settings", "resolve_secret"]

SECRET_FILE_NAME = "secret"
#: The shortest secret accepted, from WORKSHOP_SECRET or the secret file: 256 bits, as HMAC-SHA256 needs.
MIN_SECRET_BYTES = 32

LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]


class SecretFileError(ServerError):
    """The persisted secret file exists but cannot be used (empty or unreadable)."""

    temporary = False
    default_message = "the secret file cannot be used"


class Settings(BaseSettings):
    """Every setting of the server, read from ``WORKSHOP_*`` environment variables."""

    # Inputs are kept out of validation errors and the secret out of repr(): both end up in logs.
    model_config = SettingsConfigDict(
        env_prefix="WORKSHOP_",
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        allow_inf_nan=False,  # "nan" is no duration: refused as such, not as "less than or equal to 600"
    )

    # --- Network ----------------------------------------------------------------------------------
    host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Interface to listen on. Use 0.0.0.0 (or ::) to accept connections from other machines.",
    )
    port: int = Field(
        default=8000,
        ge=0,
        le=65535,
        description="TCP port to listen on (0 picks a free port).",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=256,
        description=(
            "Worker processes serving the one port (a worker that dies is replaced). More than one needs "
            "broker=redis: the workers share rooms through Redis and the data directory."
        ),
    )
    public_url: str | None = Field(
        default=None,
        description=(
            "Base URL under which participants reach the server (for example https://workshop.example.org), "
            "used to build invite links and QR codes. Default: derived from host and port."
        ),
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Origins (scheme://host[:port]) whose web pages may open WebSocket connections, besides the "
            "server's own origin. Comma-separated (a,b) or a JSON list. Empty: only the server's own origin, "
            "that is the Origin header's host must equal the request's Host header, or the origin be "
            "public_url's."
        ),
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Host names the server answers to (the request's Host header, port aside), besides those it "
            "always answers to: IP addresses, localhost, names without a dot, local names (.local, .lan, "
            ".internal, .home.arpa, .localhost, .svc), public_url's host and allowed_origins' hosts. "
            "Comma-separated; *.example.org also allows its subdomains; * allows any name. Another name is "
            "refused (403; /healthz and /readyz answer any): a page on a public name resolving to this "
            "server's private address (DNS rebinding) cannot use it."
        ),
    )
    websocket_compression: bool = Field(
        default=False,
        description="Negotiate permessage-deflate compression on WebSocket connections.",
    )
    log_level: LogLevel = Field(
        default="info",
        description="Log level: critical, error, warning, info, debug or trace.",
    )

    create_key: str | None = Field(
        default=None,
        repr=False,
        description=(
            "Organiser key required to create rooms (sent as 'Authorization: Bearer <key>'; printable "
            "ASCII, no space at either end, not empty). Unset: anyone who reaches the server may create "
            "rooms (the quick start)."
        ),
    )
    ops_key: str | None = Field(
        default=None,
        repr=False,
        description=(
            "Operator key (sent as 'Authorization: Bearer <key>') that makes /healthz also list the codes "
            "of the rooms this worker owns, for operators' tools (printable ASCII, no space at either "
            "end, not empty). Unset: /healthz never lists room codes "
            "(a room code is the only credential of a room in 'code' access mode)."
        ),
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Addresses or networks (10.0.0.0/8) of reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto headers are believed (comma-separated; * for any peer). Per-address limits "
            "then apply to the real client. Empty: none."
        ),
    )
    drain_seconds: float = Field(
        default=0.0,
        ge=0,
        le=600,
        description=(
            "On SIGTERM or SIGINT, /readyz answers 503 for this many seconds (so a load balancer stops "
            "sending new clients) while the worker closes its connections (1012) and hands its rooms over, "
            "spread over the window; then the server stops."
        ),
    )

    # --- Storage and coordination ---------------------------------------------------------------------
    data_dir: Path = Field(
        default=Path("./data"),
        description=(
            "Directory holding the SQLite databases, snapshots and the generated secret (not empty: . is "
            "the working directory)."
        ),
    )
    secret: str | None = Field(
        default=None,
        repr=False,
        description=(
            "Secret key that signs access tokens (HMAC-SHA256), at least 32 bytes. When unset, a random "
            "one is generated on first start and stored in <data_dir>/secret (mode 0600), then reused. "
            "Every process must use the same secret; changing it invalidates every issued link and token."
        ),
    )
    broker: Literal["memory", "redis"] = Field(
        default="memory",
        description="How processes share room events: memory (single process) or redis (several processes).",
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        repr=False,  # it may hold Redis's password (redis://:PASSWORD@host:6379/0)
        description=(
            "Redis connection URL, used when broker is redis. It may hold a password "
            "(redis://:PASSWORD@host:6379/0; percent-encode its special characters), never printed."
        ),
    )
    redis_timeout: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description=(
            "Every Redis operation (publish, lease, subscribe, connect) fails with a temporary error after "
            "this long; the subscription's probe waits at most the smaller of this and 2 s."
        ),
    )
    synchronous: Literal["NORMAL", "FULL"] = Field(
        default="NORMAL",
        description=(
            "SQLite synchronous mode of the event log. FULL also survives a power loss, at the cost of "
            "an fsync per transaction; NORMAL survives a crash of the server process."
        ),
    )
    web_dir: Path | None = Field(
        default=None,
        description="Folder of the web app's static files; default: the repository's web/ folder.",
    )
    store: Literal["sqlite", "memory"] = Field(
        default="sqlite",
        description=(
            "Where rooms are kept: 'sqlite' journals every command under data_dir before it is "
            "acknowledged; 'memory' keeps nothing across restarts (for tests and benchmarks only)."
        ),
    )
    room_idle_seconds: float = Field(
        default=600.0,
        ge=0,
        le=86400 * 30,
        description=(
            "A room with no connection and no activity for this long is snapshotted and unloaded from "
            "memory (it reloads from the journal on next use); 0 keeps rooms loaded. Only with store=sqlite."
        ),
    )
    snapshot_keep_entries: int = Field(
        default=2000,
        ge=0,
        le=1_000_000,
        description="Journal entries kept behind a snapshot, so that clients can still resume from them.",
    )
    snapshot_every_events: int = Field(
        default=500,
        ge=1,
        le=1_000_000,
        description="Write a room snapshot after this many events since the last one.",
    )
    snapshot_every_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="Write a room snapshot at most this many seconds after an event that is not yet in one.",
    )
    retention_days: int = Field(
        default=90,
        ge=1,
        le=36500,
        description=(
            "Retention period recorded with every new room and shown in its data notice, counted from "
            "the room's creation; after it the purge (purge_mode) runs."
        ),
    )
    figures_interval: float = Field(
        default=2.0,
        ge=0,
        le=3600,
        description="Push the room's figures to staff connections, and its round's progress to staff and "
        "room screens, at most this often while the room changes (seconds); 0: never (staff ask GET "
        "/api/rooms/{code}/figures).",
    )
    purge_mode: Literal["room", "personal"] = Field(
        default="room",
        description=(
            "What the retention purge does to a room past its retention period: delete it whole (room), "
            "or delete its personal data and keep anonymous ideas and results (personal)."
        ),
    )
    purge_every_seconds: float = Field(
        default=3600.0,
        ge=0,
        le=86400 * 7,
        description="How often each worker looks for rooms past their retention period; 0: never "
        "(run `workshop-server purge` instead).",
    )
    max_rooms: int = Field(
        default=10000,
        ge=1,
        description="Most rooms loaded in one process; creating more is refused with server_busy.",
    )

    # --- Limits -------------------------------------------------------------------------------------
    max_frame_bytes: int = Field(
        default=65536,
        ge=1024,
        le=1048576,
        description=(
            "Largest accepted incoming frame in bytes (1 KiB to 1 MiB). Larger frames get a frame_too_large "
            "error; frames above four times this size close the connection."
        ),
    )
    commands_per_second: float = Field(
        default=20.0,
        gt=0,
        le=10000,
        description="Sustained rate of commands allowed per connection (token bucket refill rate).",
    )
    command_burst: int = Field(
        default=40,
        ge=1,
        le=100000,
        description="Commands a connection may send in a burst above the sustained rate (token bucket size).",
    )
    max_connections_per_member: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Open connections allowed per participant (tabs, devices).",
    )
    max_screen_connections: int = Field(
        default=50,
        ge=1,
        le=100000,
        description=(
            "Open connections allowed per room with its room screen link (projectors, a screen shared with "
            "remote viewers), across every worker; one more gets too_many_connections."
        ),
    )
    max_connections: int = Field(
        default=20000,
        ge=1,
        description=(
            "Open WebSocket connections allowed per process; more are refused before the handshake "
            "completes (close 1013, which browsers see as a failed connection)."
        ),
    )
    max_connections_per_ip: int = Field(
        default=2000,
        ge=1,
        description=(
            "Open WebSocket connections one client address may hold in a process, joined or not (at most "
            "half of max_connections; its HTTP connections count too, past max_pending_per_ip more); more "
            "are refused with HTTP 503, so one host cannot fill the server."
        ),
    )
    idea_text_max: int = Field(
        default=500,
        ge=1,
        le=100000,
        description="Maximum length of an idea, in characters.",
    )
    reply_text_max: int = Field(
        default=500,
        ge=1,
        le=100000,
        description="Maximum length of a reply on an idea, in characters.",
    )
    note_text_max: int = Field(
        default=280,
        ge=1,
        le=10000,
        description="Maximum length of a status change's public note, a criterion's description or a "
        "satisfaction question, in characters.",
    )
    announcement_text_max: int = Field(
        default=2000,
        ge=1,
        le=100000,
        description="Maximum length of an announcement (room.announce), in characters.",
    )
    comment_text_max: int = Field(
        default=500,
        ge=1,
        le=100000,
        description="Maximum length of a satisfaction answer's comment, in characters.",
    )
    reason_text_max: int = Field(
        default=500,
        ge=1,
        le=10000,
        description="Maximum length of a moderation reason (mute, remove, reject, shadow mute, hiding an "
        "idea or a reply), in characters.",
    )
    label_max: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Maximum length of an invite's label (who it is for), in characters.",
    )
    filter_words_max: int = Field(
        default=500,
        ge=0,
        le=10000,
        description="Words staff may add to a room's word filter (besides the shipped list).",
    )
    criteria_max: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Selection criteria a room may publish.",
    )
    ideas_per_member_max: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description="Ideas one member may have in a room, all rounds together; more get idea_limit.",
    )
    ideas_per_room_max: int = Field(
        default=5000,
        ge=1,
        le=1_000_000,
        description=(
            "Ideas a room may hold (every snapshot, every newcomer's join carries them); more get idea_limit."
        ),
    )
    replies_per_member_max: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description=(
            "Replies one participant may post in a room (staff have no such cap); more get reply_limit."
        ),
    )
    replies_per_room_max: int = Field(
        default=10000,
        ge=1,
        le=1_000_000,
        description="Replies a room may hold, staff replies included; more get reply_limit.",
    )
    name_max: int = Field(
        default=40,
        ge=1,
        le=1000,
        description="Maximum length of a display name, in characters.",
    )
    title_max: int = Field(
        default=120,
        ge=1,
        le=10000,
        description="Maximum length of a room title, in characters.",
    )
    brief_max: int = Field(
        default=4000,
        ge=1,
        le=100000,
        description="Maximum length of a room's brief, in characters.",
    )
    rules_max: int = Field(
        default=8000,
        ge=1,
        le=200000,
        description="Maximum length of a room's rules (the text participants accept), in characters.",
    )
    send_queue_max: int = Field(
        default=512,
        ge=1,
        le=1_000_000,
        description="Messages queued for one connection before it is disconnected as a slow consumer.",
    )
    flush_window_ms: float = Field(
        default=0.0,
        ge=0,
        le=50,
        description=(
            "Milliseconds (0 to 50) during which outgoing messages are coalesced into one frame; "
            "0 sends at once."
        ),
    )
    flush_tick_ms: float = Field(
        default=10.0,
        ge=0,
        le=100,
        description=(
            "Milliseconds (0 to 100): a connection that was sent a frame less than this long ago gets "
            "what follows together, in one frame, once the tick is up; one idle for longer gets its next "
            "message at once. 0 sends every pass of the event loop."
        ),
    )
    gc_freeze: bool = Field(
        default=True,
        description=(
            "Freeze the objects that survive each full garbage collection (and start-up), so that the "
            "next full collection walks only what is newer, and make full collections frequent (third "
            "threshold 1) so that each stays small: with thousands of connections a full collection "
            "otherwise stalls every room for 0.25-1 s. After as many connections have ended "
            "as are open (at least 1,000), one full sweep frees the cyclic garbage among the frozen "
            "objects. false leaves Python's collector as it is."
        ),
    )
    bad_frames_before_close: int = Field(
        default=50,
        ge=1,
        le=100000,
        description="Invalid frames a connection may send before it is closed.",
    )
    rate_limited_before_close: int = Field(
        default=200,
        ge=1,
        le=100000,
        description=(
            "Frames refused with rate_limited in a row (none passing the rate limit between them) after "
            "which the connection is closed with 4004: a client that does not slow down costs the loop "
            "every room shares a decode and a reply per frame."
        ),
    )
    dedupe_window_seconds: float = Field(
        default=86400.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds during which applied command ids are remembered to de-duplicate resends.",
    )
    dedupe_per_member: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="How many recent command ids are remembered per participant to de-duplicate resends.",
    )
    filter_audit_max: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description=(
            "How many of the word filter's entries (a note held for review) a room's moderation log "
            "keeps; the oldest go first. Staff actions are all kept; a held note keeps its marker."
        ),
    )
    dedupe_per_room: int = Field(
        default=20000,
        ge=1,
        le=10_000_000,
        description=(
            "How many recent command ids (with their replies) a room remembers of its members together; "
            "the oldest are forgotten first, but never a member's last 16 nor a join's. Bounds the room's "
            "memory and snapshots (about 1.5 KB each), which dedupe_per_member alone lets grow with the "
            "members."
        ),
    )

    # --- Abuse limits (per client address; see protocol.md#limits) -------------------------------------
    handshake_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description=(
            "Seconds a new TCP connection has to send a complete HTTP request head (for a WebSocket: to "
            "finish its handshake) before it is closed. Also bounds a keep-alive connection that starts a "
            "request and never finishes it."
        ),
    )
    rate_limit_keys_max: int = Field(
        default=100_000,
        ge=1000,
        le=10_000_000,
        description=(
            "Client addresses (or address and room pairs) each rate limit of this process remembers, and "
            "addresses remembered as guessing room codes; past that, the one quiet the longest is forgotten "
            "(it starts again with a full budget). About 100 bytes each, per limit."
        ),
    )
    max_request_head_bytes: int = Field(
        default=16_384,
        ge=4096,
        le=1_048_576,
        description=(
            "Largest HTTP request head (request line and headers, a WebSocket handshake's included) the "
            "server reads; a larger one is answered 400 bad_frame and the connection closed. Raise it when "
            "a reverse proxy or the browsers' cookies for the domain send large headers."
        ),
    )
    keep_alive_timeout: int = Field(
        default=5,
        ge=1,
        le=3600,
        description=(
            "Seconds an HTTP keep-alive connection may stay idle between requests before the server closes "
            "it. Behind a load balancer or reverse proxy that reuses its connections to the server, set it "
            "above the proxy's own idle timeout (often 60), or the proxy answers 502 now and then."
        ),
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description=(
            "Seconds a request has, from its complete head, to send its whole body (a connection "
            "trickling a body is closed)."
        ),
    )
    send_timeout: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description=(
            "Seconds an HTTP response may wait for a client that reads none of it (its socket's buffer "
            "full) before the connection is aborted; a client that reads slowly is not concerned."
        ),
    )
    max_pending_connections: int = Field(
        default=1000,
        ge=1,
        description=(
            "Connections in their HTTP handshake or not yet joined to a room, across the process. New "
            "connections past it are refused with HTTP 503. Kept below max_connections at start."
        ),
    )
    max_pending_per_ip: int = Field(
        default=64,
        ge=1,
        description=(
            "The share of max_pending_connections one client address may hold; more are refused with "
            "HTTP 503, so one host flooding handshakes cannot keep others out."
        ),
    )
    fd_reserve: int = Field(
        default=64,
        ge=8,
        le=100000,
        description=(
            "File descriptors kept free for the journal, logs and the broker: connections past the "
            "process's descriptor limit minus this reserve are refused with HTTP 503."
        ),
    )
    rooms_per_ip_per_hour: int = Field(
        default=30,
        ge=1,
        le=1_000_000,
        description="Rooms one client address may create per hour (a bucket of this size, refilled evenly).",
    )
    member_pages_per_minute: int = Field(
        default=30,
        ge=1,
        le=1_000_000,
        description=(
            "Reads of a member's own pages (GET mine, contributors, my-data) and erasures of its own data "
            "(POST my-data/erase) one member token may make per minute, all together: each is computed on "
            "the room's loop (tens of ms in a full room)."
        ),
    )
    lookups_per_ip_per_minute: int = Field(
        default=120,
        ge=1,
        le=1_000_000,
        description=(
            "Room-code lookups (GET /api/rooms/{code}, its QR code, and WebSocket joins) one client address "
            "may make per minute."
        ),
    )
    passphrase_failures_per_ip_per_hour: int = Field(
        default=20,
        ge=1,
        le=1_000_000,
        description="Wrong passphrases one client address may send per hour before its joins are refused.",
    )
    passphrase_failures_per_room_per_hour: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description=(
            "Wrong passphrases one room takes per hour from every address together; past it, its passphrase "
            "joins are refused for a while (many addresses, or an IPv6 prefix, cannot guess at will; the "
            "price: a flood of guesses also holds back newcomers)."
        ),
    )
    ip_commands_per_second: float = Field(
        default=50.0,
        gt=0,
        le=100000,
        description=(
            "Sustained commands per second that all connections from one client address may send into one "
            "room together. Raise it when many phones share one public address (a venue's NAT)."
        ),
    )
    ip_command_burst: int = Field(
        default=200,
        ge=1,
        le=1_000_000,
        description="Burst above ip_commands_per_second for one client address in one room.",
    )
    max_members_per_room: int = Field(
        default=2000,
        ge=1,
        le=1_000_000,
        description=(
            "Most members (participants and staff, waiting or admitted; not those removed, rejected or "
            "erased) one room accepts; joins past it get room_full."
        ),
    )

    # --- Timing -------------------------------------------------------------------------------------
    ping_interval: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="Seconds between WebSocket pings sent by the server.",
    )
    ping_timeout: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="Seconds to wait for the answer to a ping before closing the connection.",
    )
    idle_timeout: float = Field(
        default=90.0,
        ge=0,
        allow_inf_nan=False,
        description="Close a connection after this many seconds without a message from it; 0 disables.",
    )
    auth_timeout: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="Seconds a new connection has to join or authenticate before it is closed.",
    )
    round_grace_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="Seconds after a timed round ends during which commands sent in time are still accepted.",
    )
    presence_interval: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Presence changes (who came online, who left) are batched into one event per interval.",
    )
    lease_seconds: float = Field(
        default=3.0,
        ge=0.5,
        le=300,
        description=(
            "A room's owner holds its lease in the broker for this long and renews it every third of it; "
            "when the owner dies, another worker takes the room over within about this time. A heartbeat "
            "is a third of it; workers announce themselves every half heartbeat, and the members of a "
            "worker that stopped announcing itself leave presence within two heartbeats."
        ),
    )
    forward_timeout: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description=(
            "A command, join or query forwarded to the worker that owns the room fails with a temporary "
            "error (the client resends it, and it is applied once) when no answer came within this time."
        ),
    )

    _ORIGIN_SCHEMES: ClassVar[frozenset[str]] = frozenset({"http", "https"})

    # --- Validators ---------------------------------------------------------------------------------
    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: list[str]) -> list[str]:
        normalised = []
        for entry in value:
            if entry == "*":
                normalised.append(entry)
                continue
            try:
                network = ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an address or a network (10.0.0.1, 10.0.0.0/8, fd00::/8) nor *; "
                    "host names and ports are not matched"
                ) from None
            # As uvicorn reads it (strictly: 192.168.1.10/24 would be a literal no address matches).
            normalised.append(str(network) if "/" in entry else entry)
        return normalised

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        hosts: list[str] = []
        for raw in value:
            entry = raw.strip().lower().rstrip(".")
            name = entry[2:] if entry.startswith("*.") else entry
            if entry != "*" and not _HOST_NAME.fullmatch(name):
                raise ValueError(
                    f"{raw!r} is not a host name (workshop.example.org), *.example.org or *; "
                    "ports and schemes are not matched"
                )
            if entry not in hosts:
                hosts.append(entry)
        return hosts

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"allowed_origins is not a valid JSON list: {exc.msg}") from None
            return text.split(",")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _normalise_origins(cls, value: list[str]) -> list[str]:
        origins: list[str] = []
        for raw in value:
            origin = raw.strip().rstrip("/").lower()
            if not origin:
                continue
            parts = urlsplit(origin)
            if (
                parts.scheme not in cls._ORIGIN_SCHEMES
                or not parts.hostname
                or not _port_valid(origin)
                or parts.path
                or parts.query
                or parts.fragment
                or parts.username is not None
            ):
                raise ValueError(f"{raw!r} is not an origin like https://example.org or http://host:8080")
            if origin not in origins:
                origins.append(origin)
        return origins

    @field_validator("secret", mode="before")
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("secret")
    @classmethod
    def _secret_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode("utf-8")) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the secret (WORKSHOP_SECRET or --secret) is {len(value.encode('utf-8'))} bytes long; it "
                f"must be at least {MIN_SECRET_BYTES}. Make one with: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_not_blank(cls, value: object) -> object:
        # WORKSHOP_DATA_DIR=${DIR} with DIR unset: the empty path is the working directory (in Docker the
        # image's, not the volume), which the server would fill and make private. "." says so if meant.
        if isinstance(value, str) and not value.strip():
            raise ValueError("is empty: give the directory (. for the working directory)")
        return value

    @field_validator("create_key", "ops_key")
    @classmethod
    def _check_key(cls, value: str | None) -> str | None:
        # Clients send the key in an Authorization header, which holds printable ASCII (browsers refuse
        # anything else, servers decode it as Latin-1) and loses the spaces at either end: any other key
        # never matches, and an empty one opened room creation to anyone. The value is never echoed.
        if value is None:
            return None
        if not value.strip():
            raise ValueError("is empty: give a key, or unset the variable to do without one")
        if value != value.strip():
            raise ValueError(
                "starts or ends with a space or a line break (an env file written on Windows?): "
                "no client can send it"
            )
        if not all(" " <= char <= "~" for char in value):
            raise ValueError(
                "holds a character other than printable ASCII (letters, digits, punctuation, "
                "spaces): browsers cannot send it in an Authorization header"
            )
        return value

    @field_validator("web_dir")
    @classmethod
    def _check_web_dir(cls, value: Path | None) -> Path | None:
        if value is not None and not (value / "index.html").is_file():
            # Served anyway, the server answered every page with a bare title and 404 for its scripts.
            raise ValueError(f"{str(value)!r} holds no index.html: it is not the web app's folder (web/)")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = value.strip().rstrip("/")
        parts = urlsplit(url)
        if (
            parts.scheme not in cls._ORIGIN_SCHEMES
            or not parts.hostname
            or not _port_valid(url)
            or parts.query
            or parts.fragment
        ):
            # A port past 65535 (a typo: 80800) was accepted, and every request, /healthz too, then
            # failed with a traceback when the pages' security headers read it.
            raise ValueError(
                f"{value!r} is not an http(s) URL like https://workshop.example.org (a port is 1 to 65535)"
            )
        if parts.path:
            # The pages load /static/..., /api/... and /ws from the root of their origin.
            raise ValueError(
                f"{value!r} has a path: the server must be the root of its address (like "
                "https://workshop.example.org); give it a host name of its own behind the proxy"
            )
        return url

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("redis_url must start with redis://, rediss:// or unix://")
        try:
            parts.port  # noqa: B018  # parsed here, so that redis-py's error never echoes a part of the URL
        except ValueError:
            # A password's "/", "#", "?" or "@" unencoded ends the address early: urllib then took a part
            # of the password for the port, and said so in its error (never repeat it: it goes to logs).
            raise ValueError(
                "redis_url has no valid port after its host; percent-encode a password's special "
                "characters (/ # ? @ : % as %2F %23 %3F %40 %3A %25)"
            ) from None
        # redis-py takes a database it cannot read as 0, silently (another installation's, perhaps), and
        # an unencoded "/" in a password ends the address early, leaving the rest for the database.
        database = parts.path.strip("/") if parts.scheme != "unix" else ""
        for name, given in parse_qsl(parts.query, keep_blank_values=True):
            if name == "db":
                database = given
        if database and not database.isdigit():
            raise ValueError(
                "redis_url's database (/N after the host, or ?db=N) is not a number; percent-encode a "
                "password's special characters (/ # ? @ : % as %2F %23 %3F %40 %3A %25)"
            )
        from redis.asyncio.connection import parse_url  # here: only a configured URL needs redis-py

        try:
            parse_url(value)  # its options (?socket_timeout=...): at start its error was a traceback
        except ValueError as exc:
            # redis-py's messages name the option, never its value ("Invalid value for 'db' in ...").
            raise ValueError(f"redis_url: {exc}") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lowercase_log_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("synchronous", mode="before")
    @classmethod
    def _uppercase_synchronous(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("broker", mode="before")
    @classmethod
    def _lowercase_broker(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _several_workers_need_redis(self) -> Settings:
        if self.workers > 1 and self.broker != "redis":
            raise ValueError(
                "several workers need a shared broker: --broker redis --redis-url redis://HOST:PORT/DB "
                "(or WORKSHOP_BROKER=redis and WORKSHOP_REDIS_URL)"
            )
        return self

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, object]) -> Settings:
        """Settings from the environment, with ``overrides`` (field name to value) taking precedence."""
        values: dict[str, Any] = dict(overrides)
        return cls(**values)

    # --- Derived values -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The URL participants open, without a trailing slash: ``public_url`` or one built from host/port.

        A wildcard host (0.0.0.0, ::) is replaced by this machine's first address on the local network,
        so that the links and QR codes phones get work (``localhost`` when it has none); set
        ``public_url`` to choose another.
        """
        if self.public_url is not None:
            return self.public_url
        host = self.host
        if host in {"0.0.0.0", "::", ""}:
            addresses = lan_addresses()
            host = addresses[0] if addresses else "localhost"
        else:
            try:
                if ipaddress.ip_address(host).version == 6:
                    host = f"[{host}]"
            except ValueError:
                pass
        return f"http://{host}:{self.port}"

    def host_allowed(self, host_header: str | None) -> bool:
        """Whether the server answers a request with this Host header (``allowed_hosts``).

        A request without one (HTTP/1.0, a script) is answered: a browser always sends it. An IP
        address, a name without a dot, a local name (:data:`LOCAL_SUFFIXES`), ``public_url``'s host and
        ``allowed_origins``' hosts are always allowed: DNS rebinding needs a public name."""
        if host_header is None or "*" in self.allowed_hosts:
            return True
        host = host_name(host_header)
        if host.startswith("["):
            if not host.endswith("]"):
                return False
            try:
                return ipaddress.ip_address(host[1:-1]).version == 6
            except ValueError:
                return False
        try:
            ipaddress.ip_address(host)
            return True
        except ValueError:
            pass
        if "." not in host or host == "localhost" or host.endswith(LOCAL_SUFFIXES):
            return _HOST_NAME.fullmatch(host) is not None
        known = [urlsplit(url).hostname for url in (self.public_url, *self.allowed_origins) if url]
        if host in known:
            return True
        return any(
            host == entry or (entry.startswith("*.") and (host.endswith(entry[1:]) or host == entry[2:]))
            for entry in self.allowed_hosts
        )

    def origin_allowed(self, origin: str | None, host_header: str | None) -> bool:
        """Whether a browser page served from ``origin`` may open a WebSocket to this server.

        ``origin`` is the request's Origin header and ``host_header`` its Host header. A request without
        an Origin header does not come from a web page (browsers always send one on WebSocket handshakes)
        and is allowed. Otherwise the origin must be the server's own (its host and port equal the Host
        header, or it is ``public_url``'s: a reverse proxy may pass its upstream's address as Host) or be
        listed in ``allowed_origins``. The opaque origin ``null`` is refused.
        """
        if origin is None:
            return True
        normalised = origin.strip().rstrip("/").lower()
        if not normalised or normalised == "null":
            return False
        if normalised in self.allowed_origins:
            return True
        if self.public_url is not None:
            public = urlsplit(self.public_url.lower())
            # As a browser writes it: no user, and no port when it is the scheme's default.
            host = f"[{public.hostname}]" if ":" in (public.hostname or "") else str(public.hostname)
            default = {"http": 80, "https": 443}.get(public.scheme)
            port = "" if public.port in (None, default) else f":{public.port}"
            if normalised == f"{public.scheme}://{host}{port}":
                return True
        try:
            parts = urlsplit(normalised)
        except ValueError:  # not a URL (an unclosed IPv6 bracket...): no origin of ours
            return False
        if parts.scheme not in self._ORIGIN_SCHEMES or not parts.netloc or host_header is None:
            return False
        return parts.netloc == host_header.strip().lower()


#: A host name: labels of letters, digits, hyphens (not at either end) and underscores.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"  # "_": proxies' upstream and containers' names
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")

#: Names no public DNS zone can hold, which a page elsewhere thus cannot make resolve to this server.
LOCAL_SUFFIXES = (".localhost", ".local", ".lan", ".internal", ".home.arpa", ".svc")


def host_name(host_header: str) -> str:
    """The host of a Host header, lowercased, without its port or a final dot (IPv6 in brackets)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        host = name
    return host.rstrip(".")


def _port_valid(url: str) -> bool:
    """Whether ``url`` has no port, or one from 1 to 65535, and no space (a host name holds none)."""
    if any(char.isspace() for char in url):
        return False
    try:
        port = urlsplit(url).port
    except ValueError:  # not a number, or past 65535
        return False
    return port is None or port > 0


def resolve_secret(settings: Settings) -> bytes:
    """The HMAC secret: ``settings.secret``, else the one persisted in ``<data_dir>/secret``.

    On first start the file does not exist: a random secret (``secrets.token_urlsafe(32)``) is written
    to it with mode 0600. Concurrent first starts of several processes agree on one secret: the file is
    written completely under a temporary name and then hard-linked into place, which fails if another
    process won the race, in which case the winner's secret is read.

    The data directory is created (or tightened) to mode 0700 and an existing secret file to 0600. A
    secret file holding fewer than :data:`MIN_SECRET_BYTES` bytes raises :class:`SecretFileError`.
    """
    if settings.secret is not None:
        return settings.secret.encode("utf-8")
    data_dir = settings.data_dir
    path = data_dir / SECRET_FILE_NAME
    # The data directory is the server's alone (0700), whatever the umask, also when an older release
    # or the operator created it more open.
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        if stat.S_IMODE(data_dir.stat().st_mode) != 0o700:
            os.chmod(data_dir, 0o700)
    except OSError as exc:
        raise SecretFileError(f"cannot make the data directory {data_dir} private (0700): {exc}") from exc
    existing = _read_secret_file(path)
    if existing is not None:
        return existing
    generated = secrets.token_urlsafe(32)
    temporary = data_dir / f".{SECRET_FILE_NAME}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            os.fchmod(handle.fileno(), 0o600)  # exactly 0600, whatever the umask took away
            handle.write(generated + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            winner = _read_secret_file(path)
            if winner is None:  # pragma: no cover - removed again between link and read
                raise SecretFileError(f"{path} vanished while it was being created") from None
            return winner
    finally:
        temporary.unlink(missing_ok=True)
    return generated.encode("ascii")


def _read_secret_file(path: Path) -> bytes | None:
    try:
        text = path.read_text(encoding="utf-8")
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            os.chmod(path, 0o600)  # tighten a file an older release or the operator left more open
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretFileError(f"cannot read or protect (0600) the secret file {path}: {exc}") from exc
    secret = text.strip()
    if not secret:
        raise SecretFileError(f"the secret file {path} is empty; delete it or set WORKSHOP_SECRET")
    size = len(secret.encode("utf-8"))
    if size < MIN_SECRET_BYTES:
        raise SecretFileError(
            f"the secret file {path} holds {size} bytes; at least {MIN_SECRET_BYTES} are needed. Delete "
            "it to have a new one generated (links and tokens already issued stop working) or set "
            "WORKSHOP_SECRET"
        )
    return secret.encode("utf-8")

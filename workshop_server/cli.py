"""Command-line entry point: ``python -m workshop_server`` (or the ``workshop-server`` script).

Precedence: command-line flags override ``WORKSHOP_*`` environment variables, which override defaults.
The effective overrides are written back into this process's environment so that every uvicorn worker
process, which builds its app with :func:`workshop_server.app.create_app` and ``Settings()``, sees the
same configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import socket
import sys
import textwrap
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, Literal, TypedDict

from pydantic import ValidationError

from workshop_server.netinfo import phone_hint
from workshop_server.settings import SecretFileError, Settings, resolve_secret

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess
    from multiprocessing.synchronize import Event

    import uvicorn

__all__ = [
    "APP_FACTORY",
    "UvicornOptions",
    "build_parser",
    "main",
    "overrides_from_args",
    "overrides_to_env",
    "serve_workers",
    "uvicorn_kwargs",
]

APP_FACTORY = "workshop_server.app:create_app"
ENV_PREFIX = "WORKSHOP_"


#: The commands besides running the server: their usage and what they do (``--help`` shows them).
COMMANDS: Final = {
    "purge": (
        "workshop-server purge [options]",
        "Purge every room past its retention period now (purge_mode), then exit; for cron, with "
        f"{ENV_PREFIX}PURGE_EVERY_SECONDS=0. Refused beside a running server on the memory broker.",
    ),
    "backup": (
        "workshop-server backup FILE [options]",
        "Copy the journal to FILE (a new file, mode 0600), consistently, while servers run; then exit.",
    ),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of the server or of one of :data:`COMMANDS`; every flag defaults to ``None``
    meaning "not given on the command line"."""
    fields = Settings.model_fields

    def help_for(name: str) -> str:
        description = fields[name].description or ""
        return f"{description} [env {ENV_PREFIX}{name.upper()}]".replace("%", "%%")

    listed = "".join(
        f"\n  {usage}\n" + textwrap.fill(what, 79, initial_indent=" " * 6, subsequent_indent=" " * 6)
        for usage, what in COMMANDS.values()
    )
    parser = argparse.ArgumentParser(
        prog="workshop-server",
        usage=COMMANDS[command][0] if command else "workshop-server [purge | backup FILE] [options]",
        description=textwrap.fill(
            COMMANDS[command][1]
            if command
            else "Self-hosted real-time ideation workshop server. Without a command, run the server until "
            "it is stopped.",
            79,
        ),
        epilog=(f"commands:{listed}\n\n" if not command else "")
        + f"Every setting can also be given as an environment variable {ENV_PREFIX}<NAME>;\nevery one is "
        "in docs/operations.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", help=help_for("host"))
    parser.add_argument("--port", type=int, help=help_for("port"))
    parser.add_argument("--data-dir", type=Path, help=help_for("data_dir"))
    parser.add_argument("--broker", choices=["memory", "redis"], help=help_for("broker"))
    parser.add_argument(
        "--redis-url",
        help=help_for("redis_url") + " With a password, prefer the environment variable: other users can "
        "see command lines.",
    )
    parser.add_argument("--workers", type=int, help=help_for("workers"))
    parser.add_argument(
        "--log-level",
        type=str.lower,
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help=help_for("log_level"),
    )
    parser.add_argument(
        "--secret",
        help=help_for("secret") + " Prefer the environment variable: other users can see command lines.",
    )
    parser.add_argument(
        "--allowed-origins",
        help=help_for("allowed_origins"),
    )
    parser.add_argument("--public-url", help=help_for("public_url"))
    return parser


def overrides_from_args(argv: Sequence[str] | None = None, command: str | None = None) -> dict[str, object]:
    """The settings given on the command line (of ``command``'s, if given), as ``Settings`` field values."""
    namespace = build_parser(command).parse_args(argv)
    return {name: value for name, value in vars(namespace).items() if value is not None}


def overrides_to_env(overrides: Mapping[str, object]) -> dict[str, str]:
    """The ``WORKSHOP_*`` environment variables that reproduce ``overrides`` when read by ``Settings()``."""
    env: dict[str, str] = {}
    for name, value in overrides.items():
        if isinstance(value, (list, tuple)):
            text = json.dumps(list(value))
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        env[f"{ENV_PREFIX}{name.upper()}"] = text
    return env


class UvicornOptions(TypedDict):
    """Keyword arguments of ``uvicorn.run`` and ``uvicorn.Config`` (a plain dict at runtime)."""

    host: str
    port: int
    workers: int
    loop: Literal["uvloop", "asyncio"]
    http: str
    ws: str
    ws_max_size: int
    ws_ping_interval: float
    ws_ping_timeout: float
    ws_per_message_deflate: bool
    log_level: str
    lifespan: Literal["on"]
    proxy_headers: bool
    forwarded_allow_ips: list[str]
    server_header: bool
    timeout_keep_alive: int
    h11_max_incomplete_event_size: int


def uvicorn_kwargs(settings: Settings) -> UvicornOptions:
    """Options for ``uvicorn.run`` / ``uvicorn.Config`` besides the app itself (and ``factory``).

    ``ws_max_size`` is four times ``max_frame_bytes``: frames up to that size reach the app, which answers
    too large ones with a frame_too_large error; larger frames make uvicorn close the connection. The
    protocols are uvicorn's h11 and ``websockets-sansio`` ones (the maintained WebSocket implementation)
    with the connection guard of :mod:`workshop_server.guard` on top: handshake deadlines, caps on
    pending connections per process and per address, and a descriptor budget. Proxy headers are
    believed only from ``trusted_proxies``.
    """
    return UvicornOptions(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio",
        http="workshop_server.guard:GuardedH11Protocol",
        ws="workshop_server.guard:GuardedWebSocketProtocol",
        ws_max_size=4 * settings.max_frame_bytes,
        ws_ping_interval=settings.ping_interval,
        ws_ping_timeout=settings.ping_timeout,
        ws_per_message_deflate=settings.websocket_compression,
        log_level=settings.log_level,
        lifespan="on",
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies),
        server_header=False,
        timeout_keep_alive=settings.keep_alive_timeout,
        h11_max_incomplete_event_size=settings.max_request_head_bytes,
    )


def check_address(settings: Settings) -> int:
    """Try the server's address before anything is printed or started, as uvicorn will bind it (every
    address the host resolves to, IPv6 ones IPv6-only, as asyncio does), then let it go: a port in use,
    or a host that does not resolve or is not this machine's, stops the start with one line naming the
    address and the settings (:class:`ListenError`). Returns the port to serve: with port 0, a free
    one, which the banner, the links and the QR codes then name (they named port 0)."""
    port = settings.port
    try:
        infos = socket.getaddrinfo(
            settings.host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        raise ListenError(_cannot_listen(settings, exc)) from None
    taken: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            taken.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((address[0], port, *address[2:]))
            if port == 0:
                port = sock.getsockname()[1]  # the other addresses get the same one
    except OSError as exc:
        raise ListenError(_cannot_listen(settings, exc)) from None
    finally:
        for sock in taken:
            sock.close()
    return port


def _cannot_listen(settings: Settings, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    return (
        f"cannot listen on {settings.host} port {settings.port} ({ENV_PREFIX}HOST, {ENV_PREFIX}PORT): {why}"
    )


class ListenError(Exception):
    """The server's address cannot be bound (:func:`check_address`)."""


def storage_problem(settings: Settings) -> str | None:
    """Open the journal once before serving, so that a database the server cannot use (a newer schema,
    another application's file) stops it with one clear line instead of a traceback."""
    if settings.store != "sqlite":
        return None
    from workshop_server.storage import DATABASE_FILENAME, Journal, StorageError

    async def check() -> None:
        journal = await Journal.open(
            Path(settings.data_dir) / DATABASE_FILENAME, synchronous=settings.synchronous
        )
        await journal.close()

    try:
        asyncio.run(check())
    except StorageError as exc:
        return f"cannot use the database under {settings.data_dir}: {exc}"
    return None


def broker_problem(settings: Settings) -> str | None:
    """Connect to Redis once before serving (with ``broker=redis``), so that an unreachable or refusing
    Redis stops the server with one clear line instead of a worker's traceback. The problem, or None."""
    if settings.broker != "redis":
        return None
    from workshop_server.broker import BrokerError, create_broker

    async def check() -> None:
        broker = create_broker(
            settings.broker, settings.redis_url, settings.redis_timeout, settings.rate_limit_keys_max
        )
        await broker.connect()
        await broker.disconnect()

    try:
        asyncio.run(check())
    except BrokerError as exc:
        return f"{exc} (WORKSHOP_REDIS_URL; is Redis running and reachable from here?)"
    return None


#: The name of the lock file in the data directory, and the descriptor this process holds it with.
LOCK_FILE_NAME = "server.lock"
_held: list[int] = []


def hold_data_dir(settings: Settings) -> str | None:
    """Lock the data directory for this server's life (the kernel releases it when the process ends,
    however it ends): exclusively with the memory broker, which assumes it is the journal's only
    writer, shared with redis, whose workers and containers share it. The problem, or None."""
    if settings.store != "sqlite":
        return None
    import fcntl

    path = Path(settings.data_dir) / LOCK_FILE_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)
    exclusive = settings.broker == "memory"
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return f"another server uses {settings.data_dir}" + (
            " (with the memory broker, a server must be alone on its data directory)"
            if exclusive
            else " with the memory broker; stop it, or run every server with --broker redis"
        )
    _held.append(fd)
    return None


def purge(settings: Settings, failed: list[str] | None = None) -> list[str]:
    """``workshop-server purge``: purge every room past its retention period now, as the schedule would
    (``purge_mode``), and return their codes; those it could not purge are added to ``failed``.
    :func:`main` holds the data directory first: with the memory broker it is refused while a server
    runs there (that server would never hear of the rooms purged under it); with redis the journal's
    epochs fence off the running owner of a purged room, whose clients then find it gone."""
    from workshop_server.hub import Hub

    async def run() -> list[str]:
        hub = Hub(settings.model_copy(update={"purge_every_seconds": 0.0}))
        await hub.start()
        try:
            return await hub.purge_expired(failed)
        finally:
            await hub.stop()

    return asyncio.run(run())


class BackupError(Exception):
    """``workshop-server backup`` could not make its copy; the message is the one line it prints."""


def backup(settings: Settings, destination: Path) -> str:
    """``workshop-server backup FILE``: a consistent copy of the journal, taken while servers run, with
    SQLite's online backup API (the standard library's: the slim Docker image has no ``sqlite3``
    program). The copy is created with mode 0600, as the data directory is kept, never over an existing
    file, in one file (journal mode DELETE: no ``-wal`` beside it), and checked before it is kept.
    Returns the line to print."""
    import sqlite3

    from workshop_server.storage import DATABASE_FILENAME

    if settings.store != "sqlite":
        raise BackupError(f"store={settings.store} keeps nothing on disk: there is nothing to back up")
    source = Path(settings.data_dir) / DATABASE_FILENAME
    if not source.is_file():
        raise BackupError(f"there is no database at {source} (is --data-dir right?)")
    try:
        fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(f"{destination} exists: back up to a new file") from None
    except OSError as exc:
        raise BackupError(f"cannot create {destination}: {exc.strerror}") from None
    os.close(fd)
    kept = False
    try:
        # Never a read-only open: the server's -wal holds the last commits, which the copy must have.
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(destination)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")
                (check,) = dst.execute("PRAGMA quick_check").fetchone()
                if check != "ok":
                    raise BackupError(f"the copy failed its check ({check}); {destination} was removed")
                (rooms,) = dst.execute("SELECT count(*) FROM rooms").fetchone()
            finally:
                dst.close()
        finally:
            src.close()
        kept = True
    except sqlite3.Error as exc:
        raise BackupError(f"could not back up {source}: {exc}; {destination} was removed") from None
    finally:
        if not kept:
            destination.unlink(missing_ok=True)
    size = destination.stat().st_size
    return (
        f"backed up {rooms} room(s), {size} bytes, to {destination}; keep the secret"
        f" ({Path(settings.data_dir) / 'secret'} or {ENV_PREFIX}SECRET) with it"
    )


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per ``WORKSHOP_*`` variable that names no setting (a misspelt WORKSHOP_CREATE_KEY would
    otherwise leave room creation open), with the closest setting's name; never the value."""
    import difflib

    known = [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields]
    lines = []
    for name in sorted(environ):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            lines.append(f"{name} is not a setting{hint} (unset it; every setting: docs/operations.md)")
    return lines


def main(argv: list[str] | None = None) -> None:
    """Parse flags, build the settings and run the server until it is stopped (or, with the command
    ``purge`` first, run the retention purge once and exit; with ``backup FILE``, copy the journal to
    FILE and exit)."""
    args = list(sys.argv[1:] if argv is None else argv)
    purging = bool(args) and args[0] == "purge"
    destination: Path | None = None
    if args and args[0] == "backup":
        if len(args) >= 2 and args[1] in ("-h", "--help"):
            build_parser("backup").print_help()
            raise SystemExit(0)
        if len(args) < 2 or args[1].startswith("-"):
            sys.stderr.write(f"workshop-server: usage: {COMMANDS['backup'][0]}\n")
            raise SystemExit(2)
        destination, args = Path(args[1]), args[1:]
    command = "purge" if purging else "backup" if destination is not None else None
    overrides = overrides_from_args(args[1:] if command else args, command)
    unknown = unknown_variables(os.environ)
    if unknown:
        for line in unknown:
            sys.stderr.write(f"workshop-server: {line}\n")
        raise SystemExit(2)
    try:
        settings = Settings.with_overrides(overrides)
    except ValidationError as exc:
        # One line per wrong setting, named as the operator sets it (never echoing the value).
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            where = f"{ENV_PREFIX}{name.upper()}: " if name else ""  # a rule across settings names them
            sys.stderr.write(f"workshop-server: {where}{message}\n")
        raise SystemExit(2) from None
    if destination is not None:
        # Beside running servers (it holds nothing): they go on writing while the copy is made.
        try:
            print(f"workshop-server: {backup(settings, destination)}")
        except BackupError as exc:
            sys.stderr.write(f"workshop-server: {exc}\n")
            raise SystemExit(2) from None
        return
    if purging and settings.store == "sqlite":
        from workshop_server.storage import DATABASE_FILENAME

        database = Path(settings.data_dir) / DATABASE_FILENAME
        if not database.is_file():
            # Before anything creates it: a cron job with a wrong path must not read "purged 0 room(s)".
            sys.stderr.write(f"workshop-server: there is no database at {database} (is --data-dir right?)\n")
            raise SystemExit(2)
    problem = storage_problem(settings)
    if problem is not None:
        sys.stderr.write(f"workshop-server: {problem}\n")
        raise SystemExit(2)
    problem = broker_problem(settings)
    if problem is not None:
        sys.stderr.write(f"workshop-server: {problem}\n")
        raise SystemExit(3)  # as when a worker could not reach it (operations.md)
    # Create the secret once before workers start, so that they all read the same file.
    try:
        resolve_secret(settings)
    except SecretFileError as exc:
        sys.stderr.write(f"workshop-server: {exc}\n")
        raise SystemExit(2) from None
    # A purge by hand holds the data directory like a server: with the memory broker a running server
    # would never hear of the rooms purged under it, and would go on serving them from memory.
    problem = hold_data_dir(settings)
    if problem is not None:
        if purging:
            problem = (
                f"cannot purge now: {problem}. A running server purges on its own schedule"
                f" ({ENV_PREFIX}PURGE_EVERY_SECONDS); purge by hand when it is stopped, or run every"
                " server and the purge with --broker redis"
            )
        sys.stderr.write(f"workshop-server: {problem}\n")
        raise SystemExit(2)
    if purging:
        failed: list[str] = []
        purged = purge(settings, failed)
        print(f"workshop-server: purged {len(purged)} room(s) ({settings.purge_mode}): {' '.join(purged)}")
        if failed:
            # A cron job must not read success while rooms past their retention keep their data.
            sys.stderr.write(
                f"workshop-server: could not purge {len(failed)} room(s) that may be past their retention"
                f" (the reasons are above): {' '.join(failed)}\n"
            )
            raise SystemExit(1)
        return
    os.environ.update(overrides_to_env(overrides))

    import uvicorn  # imported late: --help stays fast and tests import this module cheaply

    try:
        port = check_address(settings)
    except ListenError as exc:
        sys.stderr.write(f"workshop-server: {exc}\n")
        raise SystemExit(3) from None  # uvicorn's status for a failed start (operations.md)
    if port != settings.port:  # port 0's pick: the links and every worker's settings name it
        settings = settings.model_copy(update={"port": port})
        os.environ.update(overrides_to_env({"port": port}))
    print(f"Workshop server on {settings.base_url} — open it in a browser", flush=True)
    for line in phone_hint(settings.host, settings.port, settings.public_url):
        print(line, flush=True)
    config = uvicorn.Config(APP_FACTORY, factory=True, **uvicorn_kwargs(settings))
    if settings.workers == 1:
        draining_server(config, settings.drain_seconds).run()
        return
    status = serve_workers(config, settings.drain_seconds)
    if status:
        raise SystemExit(status)


def _draining_server_class() -> type[Any]:
    import uvicorn

    from workshop_server.guard import HUB_STATE_KEY

    class Draining(uvicorn.Server):
        """uvicorn's server with a drain period: on the first SIGTERM or SIGINT, ``/readyz`` answers 503
        for ``drain_seconds`` (a load balancer stops sending new clients) while everything else is
        served as usual; then the normal shutdown starts. A second signal starts it at once; a third
        (or, alone, a second SIGINT) stops without waiting for the connections. ``on_started`` is
        called once the server has started and serves."""

        def __init__(
            self, config: uvicorn.Config, drain_seconds: float, on_started: Callable[[], object] | None
        ) -> None:
            super().__init__(config)
            self.drain_seconds = drain_seconds
            self.on_started = on_started
            self.supervised = False  # a worker of serve_workers (its signals come from the supervisor)
            self._draining = False
            self._loop: asyncio.AbstractEventLoop | None = None

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            self._loop = asyncio.get_running_loop()
            await super().startup(sockets)
            if self.started and self.on_started is not None:
                self.on_started()

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            """uvicorn's, without raising the signal again once shut down (its own command line does, so
            that a SIGTERM ends with status 143 and a SIGINT with a KeyboardInterrupt traceback): a server
            stopped by a signal has stopped as asked, and exits 0 (operations.md)."""
            with super().capture_signals():
                try:
                    yield
                finally:
                    self._captured_signals.clear()

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.supervised:
                if sig == signal.SIGINT:
                    # A worker: Ctrl+C in a terminal reaches every process of the group at once; the
                    # supervisor turns it into one SIGTERM per worker, which drains.
                    return
                if self.should_exit:  # a third signal: stop without waiting for the connections
                    self.force_exit = True
                    return
            loop = self._loop
            if self._draining or not self.drain_seconds or loop is None:
                super().handle_exit(sig, frame)
                return
            self._draining = True
            hub = self.lifespan.state.get(HUB_STATE_KEY) if hasattr(self, "lifespan") else None
            if hub is not None:
                loop.call_soon_threadsafe(hub.begin_drain)
            sys.stderr.write(f"workshop-server: draining for {self.drain_seconds:g} s, then stopping\n")
            loop.call_soon_threadsafe(loop.call_later, self.drain_seconds, super().handle_exit, sig, frame)

    return Draining


def draining_server(config: Any, drain_seconds: float, on_started: Callable[[], object] | None = None) -> Any:
    """A uvicorn server with the drain period of ``drain_seconds`` (see ``_draining_server_class``)."""
    return _draining_server_class()(config, drain_seconds, on_started)


def serve_workers(config: uvicorn.Config, drain_seconds: float) -> int:
    """Serve ``config``'s one port from ``config.workers`` processes until SIGTERM or SIGINT; the exit status.

    The port is bound here, once, and every worker serves that socket: each is a fresh
    interpreter (multiprocessing's ``spawn``) that imports the app factory, reads its settings from the
    ``WORKSHOP_*`` environment (which :func:`main` has filled) and runs the draining server
    (:func:`draining_server`).
    A worker that ends after it started serving is replaced. One that ends before, while no worker has
    served yet (the app, the database or the broker is unusable), stops them all, since its replacement
    would fail alike; once one has served, the settings work, and a replacement that cannot start (Redis
    or the disk failing for a while, which the other workers ride out) is started again after 1, 2, 4...
    up to RESTART_DELAY_MAX seconds.

    On SIGTERM or SIGINT every worker gets one SIGTERM, so each drains for ``drain_seconds`` and stops;
    a second signal is forwarded as well and ends their drain at once, a third stops them without
    waiting. Returns 0 once all have stopped, 3 (uvicorn's status for a failed start) when a worker
    could not start.
    """
    import multiprocessing
    import signal
    from multiprocessing.connection import wait

    from uvicorn.config import STARTUP_FAILURE

    signals: list[int] = []

    def on_signal(sig: int, frame: FrameType | None) -> None:
        signals.append(sig)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    sock = config.bind_socket()
    spawn = multiprocessing.get_context("spawn")

    def start() -> tuple[SpawnProcess, Event]:
        started = spawn.Event()
        worker = spawn.Process(
            target=_serve_worker, args=(config, drain_seconds, [sock], started), name="workshop-worker"
        )
        worker.start()
        return worker, started

    workers = [start() for _ in range(config.workers)]
    status = 0
    forwarded = 0
    served = False  # a worker served: the settings work, and a replacement's failed start is a passing one
    failures: dict[int, int] = {}  # a slot's failed starts in a row since a worker served there
    retry_at: dict[int, float] = {}  # when a slot whose replacement failed to start gets another
    try:
        while any(worker.exitcode is None for worker, _ in workers) or (retry_at and not signals):
            if len(signals) > forwarded:
                forwarded = len(signals)
                for worker, _ in workers:
                    if worker.exitcode is None and worker.pid is not None:
                        os.kill(worker.pid, signal.SIGTERM)
            elif not signals:
                now = time.monotonic()
                for index, (worker, started) in enumerate(workers):
                    if started.is_set():
                        served = True
                        failures.pop(index, None)
                    if worker.exitcode is None:
                        continue
                    if index in retry_at:
                        if now >= retry_at[index]:
                            del retry_at[index]
                            workers[index] = start()
                        continue
                    ending = _ending(worker.exitcode)
                    if started.is_set():
                        sys.stderr.write(f"workshop-server: worker {worker.pid} {ending}; starting another\n")
                        workers[index] = start()
                    elif served:
                        # Redis or the disk failing for a while: the other workers ride it out, and the
                        # server must not stop with them; try again, less and less often.
                        failures[index] = failures.get(index, 0) + 1
                        delay = min(2.0 ** (failures[index] - 1), RESTART_DELAY_MAX)
                        retry_at[index] = now + delay
                        sys.stderr.write(
                            f"workshop-server: worker {worker.pid} {ending} before it served;"
                            f" starting another in {delay:g} s\n"
                        )
                    else:
                        sys.stderr.write(f"workshop-server: worker {worker.pid} {ending} before it served\n")
                        status = STARTUP_FAILURE
                        signals.append(signal.SIGTERM)  # stop the others
                        break
            wait([worker.sentinel for worker, _ in workers if worker.exitcode is None], timeout=0.5)
    finally:
        sock.close()
    return status


#: The longest wait between two starts of a replacement worker that could not start (seconds).
RESTART_DELAY_MAX = 30.0


def _ending(exitcode: int) -> str:
    """How a process ended, from ``multiprocessing``'s exit code (minus the signal number when killed)."""
    if exitcode >= 0:
        return f"exited with status {exitcode}"
    import signal

    try:
        return f"was killed by {signal.Signals(-exitcode).name}"
    except ValueError:
        return f"was killed by signal {-exitcode}"


def _serve_worker(
    config: uvicorn.Config, drain_seconds: float, sockets: list[socket.socket], started: Event
) -> None:
    """One worker of :func:`serve_workers`, in a fresh interpreter: serve ``sockets`` until stopped, and
    set the ``started`` event once serving."""
    config.configure_logging()  # the parent's logging configuration does not cross into a new interpreter
    status = 0
    try:
        server = draining_server(config, drain_seconds, started.set)
        server.supervised = True
        server.run(sockets=sockets)
    except KeyboardInterrupt:  # uvicorn raises a caught SIGINT again once it has shut down
        pass
    except SystemExit as exc:  # a failed start: uvicorn exits with status 3
        status = exc.code if isinstance(exc.code, int) else 1
    # The server has stopped: end now, so that a thread left running (after a failed start, say) cannot
    # keep this worker alive and the supervisor waiting.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)

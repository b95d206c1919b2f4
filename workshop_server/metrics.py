"""Prometheus metrics of one worker (text format at ``/metrics``).

Every metric is documented in ``docs/operations.md``. Labels take values from fixed sets only (command
types, error codes, close codes, refusal reasons, rate-limit scopes), never from what a client sends
verbatim, so that a client cannot grow the registry.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from workshop_server.close_codes import CloseCode
from workshop_server.rooms.commands import Command
from workshop_server.rooms.events import Outcome

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: Seconds: from 0.5 ms (a group commit on a fast disk) to 10 s (a storage stall).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# No "<name>_created" series (a creation timestamp per counter and histogram): they double the series
# and say nothing an operator needs. The switch is process-wide; this process serves one app.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it untyped

# Close codes a connection can end with: ours, the standard ones, and 1006 for "no close frame". A
# client may close with any code from 3000 to 4999; those are counted as "other".
_CLOSE_CODES = frozenset({*(int(code) for code in CloseCode), *range(1000, 1016)})


class Metrics:
    def __init__(self, connections: Callable[[], int], rooms: Callable[[], int], worker: str = "") -> None:
        """``connections`` and ``rooms`` count the worker's open connections and loaded rooms;
        ``workshop_worker_info`` names the ``worker`` (its id, as in ``hello`` and ``/healthz``)."""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.worker = worker
        # The default collectors: process_* (CPU, memory, descriptors), python_info, python_gc_*.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)

        self.connections = Gauge("workshop_connections", "Open WebSocket connections.", registry=r)
        self.connections.set_function(connections)
        self.rooms = Gauge("workshop_rooms_loaded", "Rooms loaded in this worker.", registry=r)
        self.rooms.set_function(rooms)
        self.commands = Counter(
            "workshop_commands", "Commands applied by room hosts, by type.", ["type"], registry=r
        )
        self.errors = Counter("workshop_errors", "Error replies sent, by error code.", ["code"], registry=r)
        self.events = Counter("workshop_events", "Events emitted by rooms.", registry=r)
        self.deliveries = Counter("workshop_deliveries", "Event frames queued to connections.", registry=r)
        self.drops = Counter(
            "workshop_fanout_drops",
            "Connections closed because their outgoing queue overflowed (slow consumers).",
            registry=r,
        )
        self.command_seconds = Histogram(
            "workshop_command_seconds",
            "Time from a command's submission to its room host to its reply (journaled and published).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.journal_append_seconds = Histogram(
            "workshop_journal_append_seconds",
            "Time from a journal append's call to its commit (queueing and group commit included).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.journal_commit_seconds = Histogram(
            "workshop_journal_commit_seconds",
            "Duration of each group-commit transaction of the journal.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.closes = Counter(
            "workshop_closes",
            "WebSocket connections ended, by close code (1006: no close frame; other: a client's own code).",
            ["code"],
            registry=r,
        )
        self.handshakes_refused = Counter(
            "workshop_handshakes_refused",
            "Connections or WebSocket handshakes refused before a session started, by reason.",
            ["reason"],
            registry=r,
        )
        self.rate_limits = Counter(
            "workshop_rate_limited",
            "Requests or commands refused by a rate limit, by scope.",
            ["scope"],
            registry=r,
        )
        self.broker_up = Gauge(
            "workshop_broker_up", "1 when the last broker health probe succeeded, else 0.", registry=r
        )
        self.storage_up = Gauge(
            "workshop_storage_up", "1 when the last journal health probe succeeded, else 0.", registry=r
        )
        # Which worker answered this scrape (several workers serve one port): join on this series.
        self.worker_info = Gauge(
            "workshop_worker_info", "The worker that served this scrape.", ["worker"], registry=r
        )
        self.worker_info.labels(worker).set(1)
        self.loop_lag_seconds = Histogram(
            "workshop_loop_lag_seconds",
            "How late the worker's lag probe woke up from each 20 ms sleep: the event loop's stalls.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.loop_lag_max = Gauge(
            "workshop_loop_lag_max_seconds",
            "The longest event-loop stall the lag probe saw since the worker started.",
            registry=r,
        )
        self.gc_pause_seconds = Histogram(
            "workshop_gc_pause_seconds",
            "Duration of each garbage collection, by generation (2: a full collection).",
            ["generation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        #: WebSocket connections ended since the worker started (what ``workshop_closes`` adds up).
        self.connections_ended = 0
        #: HTTP requests the app received since the worker started (not a metric: see :meth:`churn`).
        self.http_requests = 0
        self._lag_max = 0.0
        self._per_command: dict[type[Command], Counter] = {}  # the counter's child per command, found once
        self.cluster_events = Counter(
            "workshop_cluster_events",
            "Events between workers: broker_lost, resubscribed, takeover, handed_over, forwarded,"
            " forward_timeout, presence_expired, gap, limit_unavailable.",
            ["event"],
            registry=r,
        )

    # --- Rooms and connections ------------------------------------------------------------------------
    def command(self, cmd: Command, outcome: Outcome) -> None:
        kind = type(cmd)
        child = self._per_command.get(kind)
        if child is None:
            child = self._per_command[kind] = self.commands.labels(kind.type_name())
        child.inc()
        if outcome.events:
            self.events.inc(len(outcome.events))

    def command_latency(self, seconds: float) -> None:
        self.command_seconds.observe(seconds)

    def error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def slow_consumer(self) -> None:
        self.drops.inc()

    def delivered(self, frames: int) -> None:
        """``frames`` event frames were just queued to connections (one fan-out of one batch)."""
        if frames:
            self.deliveries.inc(frames)

    def churn(self) -> int:
        """Connections and requests that came and went since the worker started: WebSocket connections
        ended and HTTP requests. The frozen collector sweeps after as many as there are connections open
        (``collector.sweep_due``): a request's objects frozen while it was in flight wait for a sweep
        once they are cyclic garbage, and HTTP traffic alone (room-code lookups) never set one off."""
        return self.connections_ended + self.http_requests

    def closed(self, code: int | None) -> None:
        """A WebSocket connection ended with close ``code`` (``None``: no close frame, counted as 1006)."""
        self.connections_ended += 1
        if code is None:
            label = "1006"
        elif code in _CLOSE_CODES:
            label = str(code)
        else:
            label = "other"
        self.closes.labels(label).inc()

    def handshake_refused(self, reason: str) -> None:
        """A connection was refused before its session started: ``origin``, ``host``, ``server_full``,
        ``pending_full``, ``pending_per_ip``, ``descriptors``, ``handshake_timeout``..."""
        self.handshakes_refused.labels(reason).inc()

    def rate_limited(self, scope: str) -> None:
        """A rate limit refused something: ``create_room``, ``lookup``, ``passphrase``, ``ip_commands``..."""
        self.rate_limits.labels(scope).inc()

    # --- The journal (a :class:`~workshop_server.storage.journal.JournalObserver`) ----------------
    def journal_appended(self, seconds: float) -> None:
        self.journal_append_seconds.observe(seconds)

    def journal_committed(self, seconds: float, appends: int) -> None:
        self.journal_commit_seconds.observe(seconds)

    # --- The event loop and the garbage collector -------------------------------------------------------
    def loop_lag(self, seconds: float) -> None:
        """The lag probe woke up ``seconds`` late."""
        self.loop_lag_seconds.observe(seconds)
        if seconds > self._lag_max:
            self._lag_max = seconds
            self.loop_lag_max.set(seconds)

    def gc_pause(self, generation: int, seconds: float) -> None:
        self.gc_pause_seconds.labels(str(generation)).observe(seconds)

    # --- Health ---------------------------------------------------------------------------------------
    def health(self, *, storage: bool, broker: bool) -> None:
        self.storage_up.set(1 if storage else 0)
        self.broker_up.set(1 if broker else 0)

    def cluster(self, event: str) -> None:
        """One event between workers (see ``workshop_cluster_events``); each is also logged."""
        self.cluster_events.labels(event).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)

"""Prometheus metrics of one worker (text format at ``/metrics``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from workshop_server.rooms.commands import Command
from workshop_server.rooms.events import Outcome

if TYPE_CHECKING:
    from workshop_server.fanout import Fanout
    from workshop_server.hub import Hub


class Metrics:
    def __init__(self, hub: Hub) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.connections = Gauge("workshop_connections", "Open WebSocket connections.", registry=r)
        self.connections.set_function(lambda: len(hub.sessions))
        self.rooms = Gauge("workshop_rooms_loaded", "Rooms loaded in this worker.", registry=r)
        self.rooms.set_function(lambda: len(hub.hosts))
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
        self._delivered: dict[str, int] = {}

    def command(self, cmd: Command, outcome: Outcome) -> None:
        self.commands.labels(cmd.type_name()).inc()
        if outcome.events:
            self.events.inc(len(outcome.events))

    def error(self, code: str) -> None:
        self.errors.labels(code).inc()

    def slow_consumer(self) -> None:
        self.drops.inc()

    def delivered(self, fanout: Fanout) -> None:
        before = self._delivered.get(fanout.room_id, 0)
        if fanout.deliveries > before:
            self.deliveries.inc(fanout.deliveries - before)
            self._delivered[fanout.room_id] = fanout.deliveries

    def render(self) -> bytes:
        return generate_latest(self.registry)

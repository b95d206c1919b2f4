"""``/healthz``: can this process serve? Probes the journal (a real write) and the broker (a ping).

A probe costs a write transaction and a round trip to Redis, so its result is kept for
:data:`CACHE_SECONDS`: a load balancer or an orchestrator may poll ``/healthz`` as often as it likes.
Concurrent requests share one probe. Each probe is bounded by :data:`PROBE_TIMEOUT`; a journal that
cannot finish a write in that time (another process holds the database lock, the disk stalls) or a
broker that does not answer counts as failing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workshop_server import errors
from workshop_server.storage import StorageError

if TYPE_CHECKING:
    from workshop_server.hub import Hub

__all__ = ["CACHE_SECONDS", "PROBE_TIMEOUT", "Check", "Health"]

#: How long a probe's result is reused.
CACHE_SECONDS = 1.0
#: How long a probe may take before the component counts as failing.
PROBE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Check:
    """The health of one component: ``ok`` and a line for the operator."""

    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "detail": self.detail}


class Health:
    """The probes of one worker, with their cached results."""

    def __init__(
        self, hub: Hub, *, cache_seconds: float = CACHE_SECONDS, timeout: float = PROBE_TIMEOUT
    ) -> None:
        self.hub = hub
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._probed_at = -float("inf")
        self._storage = Check(False, "not probed yet")
        self._broker = Check(False, "not probed yet")

    async def report(self, *, rooms: bool = False) -> tuple[bool, dict[str, Any]]:
        """``(healthy, body)`` where body is ``{status, storage, broker, worker, rooms, connections}``,
        and with ``rooms`` (an operator's request) ``owned``: the codes of the rooms this worker owns."""
        storage, broker = await self.check()
        healthy = storage.ok and broker.ok
        hub = self.hub
        body: dict[str, Any] = {
            "status": "ok" if healthy else "failing",
            "storage": storage.to_dict(),
            "broker": broker.to_dict(),
            "worker": hub.worker_id,
            "rooms": len(hub.hosts),
            "connections": len(hub.sessions),
        }
        if rooms:
            body["owned"] = hub.owned
        return healthy, body

    async def check(self) -> tuple[Check, Check]:
        """The storage and broker checks, probing again when the last probe is older than the cache."""
        async with self._lock:  # concurrent requests wait for one probe and share its result
            if time.monotonic() - self._probed_at >= self.cache_seconds:
                self._storage, self._broker = await asyncio.gather(
                    self._probe_storage(), self._probe_broker()
                )
                self._probed_at = time.monotonic()
                metrics = self.hub.metrics
                if metrics is not None:
                    metrics.health(storage=self._storage.ok, broker=self._broker.ok)
        storage = self._storage
        journal = self.hub.journal
        if storage.ok and journal is not None and journal.write_error is not None:
            # A write failed since the probe (an append's group commit): failing until one succeeds.
            storage = Check(False, f"the latest journal write failed: {journal.write_error}")
        return storage, self._broker

    async def _probe_storage(self) -> Check:
        hub = self.hub
        journal = hub.journal
        if journal is None:
            if hub.settings.store == "memory":
                return Check(True, "no journal (store=memory): rooms are not durable")
            return Check(False, "the journal is not open")
        try:
            await journal.probe(self.timeout)
        except StorageError as exc:
            cause = exc.__cause__
            return Check(False, f"the journal cannot write: {cause if cause is not None else exc}")
        if journal.write_error is not None:
            return Check(False, f"the latest journal write failed: {journal.write_error}")
        return Check(True, "the journal commits writes")

    async def _probe_broker(self) -> Check:
        broker = self.hub.broker
        try:
            async with asyncio.timeout(self.timeout):
                await broker.ping()
        except TimeoutError:
            return Check(
                False, f"the {self.hub.settings.broker} broker did not answer within {self.timeout:g} s"
            )
        except errors.WorkshopError as exc:
            return Check(False, f"the {self.hub.settings.broker} broker fails: {exc.message}")
        return Check(True, f"the {self.hub.settings.broker} broker answers")

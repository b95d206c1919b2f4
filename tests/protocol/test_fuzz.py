"""Thousands of malformed frames against a room in the middle of an open round; the room goes on.

Frames come from several connections in both encodings: random bytes, truncated messages, every command
with random types in its fields (and fields missing or extra), deep nesting, long strings within the frame
limit, msgpack extension types, NaN and infinities, unknown types. Every frame gets exactly one reply.
Afterwards the room serves a newcomer, counts votes right, and the facilitator's snapshot holds exactly the
ideas that were posted with valid commands. The server logs no traceback. ``random.Random(seed)`` makes
every run send the same frames.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from typing import Any

import msgpack
import pytest

from tests.protocol.conftest import Connect, server_log
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server.protocol import COMMAND_TYPES

SEED = 20240611
FRAMES_PER_CONNECTION = 500  # six connections: 3000 frames
MAX_FRAME = 16384
SERVER_SETTINGS = {
    "max_frame_bytes": MAX_FRAME,
    "commands_per_second": 10000,
    "command_burst": 100000,
    "ip_commands_per_second": 10000,  # six fuzzing connections share one address
    "ip_command_burst": 100000,
    "bad_frames_before_close": 100000,
}

# A valid value for every field of every command; the fuzzer starts from these and breaks them.
TEMPLATES: dict[str, dict[str, Any]] = {
    "join": {"room": "ROOM", "name": "Fuzz", "accept_rules": 1, "passphrase": None, "invite": None},
    "auth": {"token": "x.y", "epoch": "1", "seq": 0},
    "ping": {},
    "round.open": {
        "kind": "ideate",
        "prompt": "p",
        "duration": 60,
        "max_ideas": 3,
        "private": True,
        "anonymous": None,
        "budget": 3,
        "max_per_idea": 2,
        "hide_totals": True,
    },
    "round.pause": {},
    "round.resume": {},
    "round.extend": {"seconds": 10},
    "round.close": {},
    "round.reveal": {},
    "session.end": {},
    "invite.create": {"role": "participant", "label": "x"},
    "invite.revoke": {"invite": "v1"},
    "idea.post": {"text": "t", "color": "blue"},
    "idea.edit": {"idea": "i1", "text": "t", "color": "pink"},
    "idea.withdraw": {"idea": "i1"},
    "vote.add": {"idea": "i1"},
    "vote.remove": {"idea": "i1"},
    "member.mute": {"member": "m2", "reason": ""},
    "member.unmute": {"member": "m2"},
    "member.remove": {"member": "m2", "reason": ""},
    "member.unban": {"member": "m2"},
    "member.admit": {"member": "m2"},
    "member.reject": {"member": "m2", "reason": ""},
    "idea.hide": {"idea": "i1", "reason": ""},
    "idea.restore": {"idea": "i1"},
    "idea.approve": {"idea": "i1"},
    "room.set": {"locked": True, "approval_queue": False},
    "room.rotate_links": {},
    "theme.create": {"name": "Theme", "color": "blue", "ideas": ["i1"]},
    "theme.update": {"theme": "t1", "name": "Renamed", "color": "pink"},
    "theme.dissolve": {"theme": "t1"},
    "theme.assign": {"theme": "t1", "ideas": ["i1", "i2"]},
    "idea.merge": {"into": "i1", "ideas": ["i2"]},
    "idea.unmerge": {"merge": "g1"},
    "themes.suggest": {"max_groups": 5},
    "idea.status": {"idea": "i1", "status": "shortlisted", "note": "n"},
    "reply.post": {"idea": "i1", "text": "r"},
    "reply.hide": {"reply": "rp1", "reason": ""},
    "reply.restore": {"reply": "rp1"},
    "reply.approve": {"reply": "rp1"},
    "room.announce": {"kind": "thanks", "text": "t", "credit": ["m2"]},
    "criteria.set": {"criteria": [{"name": "Impact", "description": "d", "weight": 2}]},
    "member.jury": {"member": "m2", "juror": True},
    "evaluation.open": {"ideas": ["i1"], "jury": "staff"},
    "evaluation.score": {"idea": "i1", "scores": {"k1": 3}},
    "evaluation.close": {},
    "pulse.open": {"question": "q"},
    "pulse.answer": {"score": 4, "comment": "c"},
    "pulse.close": {},
    "filter.set": {"enabled": True, "words": ["w"]},
    "member.shadow_mute": {"member": "m2", "on": True, "reason": ""},
    "member.erase": {"member": "m2"},
    "room.spotlight": {"idea": "i1"},
}
#: What the fuzzers send: every command but an erasure, which ends the sender's own membership (and its
#: connection, 4103) when it succeeds, as it should; the test needs its fuzzers connected to the end.
FUZZED = sorted(set(TEMPLATES) - {"member.erase"})
WEIRD_TEXT = ["", " ", "\x00", "\u202e", "😀" * 10, "a\nb", "<script>", "é" * 50, "\t", "i1", "m1", "v1"]


def test_templates_cover_every_command() -> None:
    assert set(TEMPLATES) == set(COMMAND_TYPES)


class Fuzzer:
    """Makes malformed frames for one connection."""

    def __init__(self, rng: random.Random, binary: bool, prefix: str) -> None:
        self.rng, self.binary, self.prefix = rng, binary, prefix
        self.count = 0

    def text(self) -> str:
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            return rng.choice(WEIRD_TEXT)
        if kind == 1:
            return "".join(
                chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x80, 0xD7FF)])) for _ in range(20)
            )
        if kind == 2:
            return "x" * rng.randrange(400, 12000)  # long, within the frame limit
        return "".join(rng.choice("abcdefghij ") for _ in range(rng.randrange(1, 30)))

    def value(self, depth: int = 0) -> Any:
        rng = self.rng
        kind = rng.randrange(13 if depth < 3 else 8)
        if kind == 0:
            return None
        if kind == 1:
            return rng.random() < 0.5
        if kind == 2:
            return rng.choice([0, -1, 1, 9, 10, 100, 1001, 86401, 2**31, 2**53, 2**53 + 1])
        if kind == 3:
            return rng.choice([2**64 - 1, -(2**63)]) if self.binary else rng.choice([10**30, -(10**25)])
        if kind == 4:
            floats = [0.5, -1.5, 1e308, 10.0]
            if self.binary:  # JSON has no NaN or infinities; msgpack does
                floats += [math.nan, math.inf, -math.inf]
            return rng.choice(floats)
        if kind in (5, 6, 7):
            return self.text()
        if kind == 8:
            return [self.value(depth + 1) for _ in range(rng.randrange(4))]
        if kind == 9:
            return {self.text()[:10]: self.value(depth + 1) for _ in range(rng.randrange(4))}
        if kind == 10:
            nested: Any = 1
            for _ in range(rng.randrange(10, 300)):
                nested = [nested] if rng.random() < 0.5 else {"a": nested}
            return nested
        if kind == 11 and self.binary:
            return rng.choice(
                [msgpack.ExtType(rng.randrange(128), b"\x01\x02"), msgpack.Timestamp(1, 0), b"\xff\x00"]
            )
        return self.text()

    def command(self) -> dict[str, Any]:
        rng = self.rng
        self.count += 1
        kind = rng.choice(FUZZED) if rng.random() < 0.9 else self.text()[:20]
        message: dict[str, Any] = {"type": kind, **TEMPLATES.get(kind, {})}
        for field in list(message):
            if field == "type":
                continue
            roll = rng.random()
            if roll < 0.45:
                message[field] = self.value()
            elif roll < 0.55:
                del message[field]
        if rng.random() < 0.1:
            message[self.text()[:12] or "extra"] = self.value()
        if rng.random() < 0.05:
            message["type"] = self.value(depth=3)
        roll = rng.random()
        if roll < 0.85:
            message["id"] = f"{self.prefix}{self.count}"  # a string id: the reply is traceable
        elif roll < 0.95:
            message["id"] = rng.choice([None, 7, "", "x" * 65, ["f"], {"id": "f"}])
        return message

    def encode(self, message: Any) -> str | bytes:
        if self.binary:
            packed: bytes = msgpack.packb(message, use_bin_type=True)
            return packed
        return json.dumps(message, allow_nan=False)

    def frame(self) -> str | bytes:
        """A malformed (or, by chance, valid) frame below four times the frame limit."""
        while True:
            frame = self._frame()
            size = len(frame) if isinstance(frame, bytes) else len(frame.encode())
            if size < 4 * MAX_FRAME:  # larger frames close the connection (see test_limits)
                return frame

    def _frame(self) -> str | bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.1:  # random bytes, in a frame of either kind
            data = rng.randbytes(rng.randrange(0, 200))
            return data if rng.random() < 0.7 else data.decode("latin-1")
        if roll < 0.2:  # a valid message cut short
            whole = self.encode({"type": "idea.post", "id": "cut", "text": "truncated"})
            return whole[: rng.randrange(0, len(whole))]
        if roll < 0.25:  # deep nesting beyond what the parsers accept
            return b"\x91" * 5000 + b"\x00" if self.binary else "[" * 5000 + "]" * 5000
        if roll < 0.28 and not self.binary:
            return '{"type": "ping", "id": "nan", "x": ' + rng.choice(["NaN", "Infinity", "-Infinity"]) + "}"
        if roll < 0.3:  # a top-level value that is not a map
            return self.encode(rng.choice([[1, 2], "ping", 5, None]))
        return self.encode(self.command())


async def fuzz(client: Client, fuzzer: Fuzzer) -> dict[str, dict[str, Any]]:
    """Send the frames, wait for one reply per frame; return the messages that were applied, by id."""
    start = len(client.log)
    frames = 0
    for n in range(FRAMES_PER_CONNECTION):
        await client.send_raw(fuzzer.frame())
        frames += 1
        if n % 50 == 49:
            await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while sum(1 for m in client.log[start:] if m.get("type") in ("ok", "error")) < frames:
        assert client.close_code is None, f"closed with {client.close_code} {client.close_reason}"
        assert loop.time() < deadline, "some frames got no reply"
        await asyncio.sleep(0.02)
    replies = [m for m in client.log[start:] if m.get("type") in ("ok", "error")]
    assert len(replies) == frames, "a frame got more than one reply"
    return {m["id"]: m for m in replies if m["type"] == "ok"}


@pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
async def test_a_deeply_nested_type_is_refused_like_any_unknown_type(
    server: ServerProcess, connect: Connect, binary: bool
) -> None:
    depth = 1000  # within what orjson (1024) and msgpack accept; built by hand, as encoders refuse it
    frame: str | bytes
    if binary:
        frame = b"\x82\xa4type" + b"\x81\xa1a" * depth + b"\x01\xa2id\xa4deep"
    else:
        frame = '{"type": ' + '{"a": ' * depth + "1" + "}" * depth + ', "id": "deep"}'
    client = await connect(server, binary=binary)
    await client.send_raw(frame)
    assert (await client.call("ping"))["type"] == "ok"
    assert client.replies["deep"]["code"] == "unknown_command"


async def test_malformed_frames_leave_the_room_working(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    ana = await connect(server)
    await ana.join(code, "Ana")
    ben = await connect(server, binary=True)
    await ben.join(code, "Ben")
    await facilitator.ok("round.open", kind="ideate", prompt="Mid-round", private=False, duration=3600)
    legit = [
        (await ana.ok("idea.post", text="Ana one"))["idea"]["id"],
        (await ben.ok("idea.post", text="Ben one"))["idea"]["id"],
    ]

    fuzzers: list[tuple[Client, Fuzzer]] = []
    for n, (binary, joins) in enumerate(
        [(False, False), (True, False), (False, False), (True, False), (False, True), (True, True)]
    ):
        client = await connect(server, binary=binary)
        if joins:
            await client.join(code, f"Fuzzer{n}")
        fuzzers.append((client, Fuzzer(random.Random(SEED + n), binary, f"f{n}-")))
    applied = await asyncio.gather(*(fuzz(client, fuzzer) for client, fuzzer in fuzzers))

    # Ideas that fuzzers posted with commands that happened to be valid are legitimate too.
    expected = set(legit)
    for oks in applied:
        for reply in sorted(oks.values(), key=lambda r: int(r["seq"])):
            result = reply["result"]
            if isinstance(result.get("idea"), dict):  # idea.post or idea.edit
                expected.add(result["idea"]["id"])
            elif set(result) == {"id"}:  # idea.withdraw
                expected.discard(result["id"])
    assert all(client.close_code is None for client, _ in fuzzers)

    # The room still serves a newcomer, and its idea reaches the facilitator.
    cara = await connect(server, binary=True)
    await cara.join(code, "Cara")
    cara_idea = (await cara.ok("idea.post", text="After the storm"))["idea"]["id"]
    expected.add(cara_idea)
    await facilitator.wait_for(lambda e: e["name"] == "idea.posted" and e["data"]["idea"]["id"] == cara_idea)

    fresh = await connect(server)
    snapshot = (await fresh.auth(links["facilitator_token"]))["snapshot"]
    assert {i["id"] for i in snapshot["ideas"]} == expected
    texts = {i["id"]: i["text"] for i in snapshot["ideas"]}
    assert [texts[i] for i in legit] == ["Ana one", "Ben one"]
    assert snapshot["room"]["phase"] == "round_open"

    # Votes are counted right after the storm.
    await facilitator.ok("round.close")
    vote = (await facilitator.ok("round.open", kind="vote", prompt="Best?", budget=3, max_per_idea=2))[
        "round"
    ]
    await ana.ok("vote.add", idea=legit[1])
    await ana.ok("vote.add", idea=legit[1])
    await ben.ok("vote.add", idea=cara_idea)
    await cara.ok("vote.add", idea=legit[1])
    await facilitator.ok("round.close")
    results = await cara.wait_for(lambda e: e["name"] == "vote.results" and e["data"]["round"] == vote["id"])
    assert results["data"]["totals"] == {legit[1]: 3, cara_idea: 1}
    assert results["data"]["results"][:2] == [
        {"idea": legit[1], "total": 3, "rank": 1},
        {"idea": cara_idea, "total": 1, "rank": 2},
    ]
    assert "Traceback" not in server_log(server)

"""What a kill -9 in the middle of a workshop keeps, what it resets, and how resends behave across it."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import long_run
from tests.durability import VOLATILE, connect, export, snapshot_of, without
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess

GRACE = 0.5  # round_grace_seconds
#: How long after sending the command the server is killed: from "surely not applied" to "surely applied".
KILL_DELAYS = (0.0, 0.001, 0.002, 0.004, 0.008, 0.05)
SETTINGS: dict[str, Any] = {"presence_interval": 0.05, "round_grace_seconds": GRACE}


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in items}


def current_round(snapshot: dict[str, Any]) -> dict[str, Any]:
    rounds = by_id(snapshot["rounds"])
    return rounds[snapshot["current_round"]]


def comparable_snapshot(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A staff snapshot without what a restart rightly changes (presence, seq)."""
    members = [{k: v for k, v in m.items() if k != "online"} for m in snapshot["members"]]
    return {
        "ideas": snapshot["ideas"],
        "rounds": snapshot["rounds"],
        "current_round": snapshot["current_round"],
        "votes": snapshot["votes"],
        "members": members,
        "invites": snapshot["invites"],
        "audit": snapshot["audit"],
        "room": snapshot["room"],
    }


def assert_export_matches_snapshot(exported: dict[str, Any], snapshot: dict[str, Any]) -> None:
    """``export.json`` and a live staff snapshot describe the same room."""
    assert {i["id"]: (i["text"], i["state"], i["author"], i["round"]) for i in exported["ideas"]} == {
        i["id"]: (i["text"], i["state"], i["author"], i["round"]) for i in snapshot["ideas"]
    }
    fields = ("name", "role", "status", "muted", "mute_reason")
    assert {m["id"]: tuple(m[k] for k in fields) for m in exported["members"]} == {
        m["id"]: tuple(m[k] for k in fields) for m in snapshot["members"]
    }
    keys = ("kind", "status", "deadline", "closed_at", "revealed", "opened_at")
    assert {r["id"]: tuple(r[k] for k in keys) for r in exported["rounds"]} == {
        r["id"]: tuple(r[k] for k in keys) for r in snapshot["rounds"]
    }
    for vote in snapshot["votes"]:
        assert by_id(exported["rounds"])[vote["round"]]["totals"] == vote["totals"]
    assert exported["audit"] == snapshot["audit"]
    assert sorted(exported["online"]) == sorted(m["id"] for m in snapshot["members"] if m["online"])


async def test_a_kill_mid_round_keeps_the_room_and_resets_presence(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", **SETTINGS)
    server.start()
    clients: list[Client] = []
    try:
        links = create_room(server.url)
        room, staff = links["room"], links["facilitator_token"]
        facilitator, _ = await connect(server.ws_url, staff)
        ana, bea, cid = [await Client.connect(server.ws_url, binary=b) for b in (False, True, False)]
        clients += [facilitator, ana, bea, cid]
        for client, name in ((ana, "Ana"), (bea, "Bea"), (cid, "Cid")):
            await client.join(room, name)
        assert ana.member and bea.member and cid.member and ana.token and bea.token and cid.token
        a, b, c = ana.member["id"], bea.member["id"], cid.member["id"]

        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=None, private=False)
        a1 = (await ana.ok("idea.post", text="Ana's first"))["idea"]["id"]
        a2 = (await ana.ok("idea.post", text="Ana's second"))["idea"]["id"]
        b1 = (await bea.ok("idea.post", text="Bea's idea"))["idea"]["id"]
        await cid.ok("idea.post", text="Cid's idea")
        await facilitator.ok("round.close")
        vote = (await facilitator.ok("round.open", kind="vote", prompt="Vote", duration=600))["round"]
        await ana.ok("vote.add", idea=b1)
        await ana.ok("vote.add", idea=b1)
        await bea.ok("vote.add", idea=a1)
        await cid.ok("vote.add", idea=a1)
        await facilitator.ok("member.mute", member=b, reason="too loud")
        await facilitator.ok("member.remove", member=c, reason="spam")
        await facilitator.ok("idea.hide", idea=a2, reason="off topic")
        assert await cid.wait_closed() == 4100
        # Presence has settled: the facilitator, Ana and Bea are online.
        await facilitator.wait_for(lambda e: e["name"] == "presence" and e["data"]["online"] == 3)
        ana_before = await snapshot_of(server.ws_url, ana.token)
        staff_before = await snapshot_of(server.ws_url, staff)
        exported_before = export(server.url, room, staff)
        assert sorted(exported_before["online"]) == sorted([facilitator.member["id"], a, b])  # type: ignore[index]
        assert current_round(staff_before)["deadline"] == vote["deadline"]

        server.kill()
        for client in clients:
            await client.close()
        # From now on connections make no presence updates: whatever the room says about presence
        # is what the restart left (a reset when the room is loaded).
        server.settings["presence_interval"] = 3600
        server.start()

        # The first connection after the restart: nobody is online, the round and its timer are intact.
        staff_after = await snapshot_of(server.ws_url, staff)
        assert staff_after["presence"]["online"] == 0
        assert [m["id"] for m in staff_after["members"] if m["online"]] == []
        assert comparable_snapshot(staff_after) == comparable_snapshot(staff_before)
        rnd = current_round(staff_after)
        assert (rnd["id"], rnd["status"], rnd["deadline"]) == (vote["id"], "open", vote["deadline"])
        assert rnd["deadline"] > time.time()
        assert by_id(staff_after["ideas"])[a2]["state"] == "hidden"
        assert by_id(staff_after["members"])[b]["muted"] is True
        assert by_id(staff_after["members"])[c]["status"] == "banned"

        exported_after = export(server.url, room, staff)
        assert exported_after["online"] == []
        assert int(exported_after["epoch"]) > int(exported_before["epoch"])  # type: ignore[call-overload]
        assert without(exported_after, *VOLATILE) == without(exported_before, *VOLATILE)
        assert_export_matches_snapshot(exported_after, staff_after)
        assert [(e["action"], e["target"], e["reason"]) for e in exported_after["audit"]] == [
            ("member.muted", b, "too loud"),
            ("member.removed", c, "spam"),
            ("idea.hidden", a2, "off topic"),
        ]

        # The removed member stays out; the muted one stays muted; dots are where they were.
        cid2 = await Client.connect(server.ws_url)
        clients.append(cid2)
        await cid2.fails("banned", "auth", token=cid.token)
        bea2, bea_result = await connect(server.ws_url, bea.token, binary=True)
        clients.append(bea2)
        assert bea_result["member"]["muted"] is True
        await bea2.fails("muted", "vote.add", idea=a1)
        ana2, ana_result = await connect(server.ws_url, ana.token)
        clients.append(ana2)
        assert ana_result["snapshot"]["votes"] == ana_before["votes"]
        assert ana_result["snapshot"]["ideas"] == ana_before["ideas"]
        # The room goes on: Ana's third dot is accepted, a fourth is over budget.
        await ana2.ok("vote.add", idea=a1)
        await ana2.fails("vote_budget_exceeded", "vote.add", idea=a1)
    finally:
        server.kill()
        for client in clients:
            await client.close()


async def test_timers_follow_their_absolute_deadline_across_a_restart(tmp_path: Path) -> None:
    """Room X's deadline is still ahead after the restart: the restarted server closes it on time.
    Room Y's deadline passed while the server was down: loading the room closes the round, at its deadline.
    """
    server = ServerProcess(tmp_path / "data", **SETTINGS)
    server.start()
    clients: list[Client] = []
    try:
        x, y = create_room(server.url), create_room(server.url)
        fx, _ = await connect(server.ws_url, x["facilitator_token"])
        fy, _ = await connect(server.ws_url, y["facilitator_token"])
        clients += [fx, fy]
        # X's 10 s more than Y's (the shortest round): room for a loaded machine's restart before X's
        # deadline (5 s were not: a restart under load took longer, and X was closed when it came back).
        round_y = (await fy.ok("round.open", kind="ideate", prompt="Y", duration=10, private=False))["round"]
        round_x = (await fx.ok("round.open", kind="ideate", prompt="X", duration=20, private=False))["round"]
        epoch_y, seq_y = fy.epoch, fy.last_seq
        server.kill()

        # Down until Y's deadline and grace have passed (X's are still ahead).
        await asyncio.sleep(max(0.0, round_y["deadline"] + GRACE + 0.3 - time.time()))
        assert time.time() < round_x["deadline"]
        server.start()

        fx2, attached_x = await connect(server.ws_url, x["facilitator_token"])
        clients.append(fx2)
        assert current_round(attached_x["snapshot"])["deadline"] == round_x["deadline"]
        assert current_round(attached_x["snapshot"])["status"] == "open"

        fy2, resumed_y = await connect(server.ws_url, y["facilitator_token"], epoch=epoch_y, seq=seq_y)
        clients.append(fy2)
        assert resumed_y["recovered"] is True
        closed = [e for e in resumed_y["events"] if e["name"] == "round.closed"]
        assert len(closed) == 1
        assert closed[0]["data"]["reason"] == "timer"
        assert closed[0]["data"]["round"]["id"] == round_y["id"]
        assert closed[0]["data"]["round"]["closed_at"] == round_y["deadline"]
        assert current_round(await snapshot_of(server.ws_url, y["facilitator_token"]))["status"] == "closed"

        # X closes by itself, on the timer the restarted server set from the stored deadline.
        event = await fx2.wait_for("round.closed", timeout=round_x["deadline"] + GRACE + 10 - time.time())
        assert event["data"]["reason"] == "timer"
        assert event["data"]["round"]["closed_at"] == round_x["deadline"]
        assert event["at"] >= round_x["deadline"] + GRACE
    finally:
        server.kill()
        for client in clients:
            await client.close()


async def count_ideas(server: ServerProcess, staff: str, text: str) -> list[dict[str, Any]]:
    snapshot = await snapshot_of(server.ws_url, staff)
    return [idea for idea in snapshot["ideas"] if idea["text"] == text]


async def barrier(staff: Client) -> None:
    """Once this returns, every event the room produced before it was delivered to ``staff``."""
    await staff.fails("forbidden", "member.unmute", member="m1")  # refused by the room, after the batch


@pytest.mark.parametrize("stop", ["kill", "stop"])
async def test_an_acknowledged_command_resent_after_a_restart_returns_its_reply(
    tmp_path: Path, stop: str
) -> None:
    """After kill -9 the dedupe record comes from the journal; after a clean stop, from the snapshot."""
    server = ServerProcess(tmp_path / "data", **SETTINGS)
    server.start()
    clients: list[Client] = []
    try:
        links = create_room(server.url)
        staff = links["facilitator_token"]
        facilitator, _ = await connect(server.ws_url, staff)
        participant = await Client.connect(server.ws_url)
        clients += [facilitator, participant]
        await participant.join(links["room"], "Ana")
        assert participant.token is not None
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=None, private=False)
        original = await participant.request({"type": "idea.post", "id": "resend-me", "text": "Only once"})
        assert original["type"] == "ok"
        getattr(server, stop)()
        server.start()

        facilitator2, _ = await connect(server.ws_url, staff)
        again, _ = await connect(server.ws_url, participant.token)
        clients += [facilitator2, again]
        before = len(facilitator2.events)
        reply = await again.request({"type": "idea.post", "id": "resend-me", "text": "Only once"})
        assert reply["type"] == "ok"
        assert reply["result"] == original["result"]
        await barrier(facilitator2)
        assert [e["name"] for e in facilitator2.events[before:] if e["name"].startswith("idea.")] == []
        applied = await count_ideas(server, staff, "Only once")
        assert [i["id"] for i in applied] == [original["result"]["idea"]["id"]]
        assert len(export(server.url, links["room"], staff)["ideas"]) == 1
    finally:
        server.kill()
        for client in clients:
            await client.close()


async def test_a_command_resent_across_a_kill_is_applied_once(tmp_path: Path) -> None:
    """Sent, then the server is killed before the reply is read: the resend applies it exactly once."""
    server = ServerProcess(tmp_path / "data", **SETTINGS)
    server.start()
    clients: list[Client] = []
    try:
        links = create_room(server.url)
        staff = links["facilitator_token"]
        facilitator, _ = await connect(server.ws_url, staff)
        participant = await Client.connect(server.ws_url)
        clients += [facilitator, participant]
        await participant.join(links["room"], "Ana")
        assert participant.token is not None
        token = participant.token
        await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", duration=None, private=False)
        outcomes: Counter[str] = Counter()
        for n in range((2 if long_run() else 1) * len(KILL_DELAYS)):  # every delay once; twice in test-long
            cid, text = f"lost-{n}", f"Sent before kill {n}"
            await participant.send_raw(json.dumps({"type": "idea.post", "id": cid, "text": text}))
            time.sleep(KILL_DELAYS[n % len(KILL_DELAYS)])  # blocks this loop: no reply is read meanwhile
            server.kill()
            first = participant.replies.get(cid)  # the reply may have arrived before the kill
            await participant.close()
            server.start()
            applied = await count_ideas(server, staff, text)
            assert len(applied) <= 1
            outcomes["applied" if applied else "lost"] += 1

            participant, _ = await connect(server.ws_url, token)
            clients.append(participant)
            reply = await participant.request({"type": "idea.post", "id": cid, "text": text})
            assert reply["type"] == "ok", reply
            if first is not None:
                assert reply["result"] == first["result"]
            if applied:
                assert reply["result"]["idea"] == {**applied[0], "mine": True}
            now_applied = await count_ideas(server, staff, text)
            assert [i["id"] for i in now_applied] == [reply["result"]["idea"]["id"]]
        print(f"resend across a kill: {dict(outcomes)}")
    finally:
        server.kill()
        for client in clients:
            await client.close()

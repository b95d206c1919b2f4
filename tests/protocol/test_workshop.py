"""A whole workshop through a real server: several clients, both encodings, every audience.

The facilitator speaks JSON, participants a mix of JSON and msgpack, the room screen authenticates with
the room's screen token, and a moderator joins with the moderator invite. The tests check what each
audience receives (and does not receive), the ordering guarantees (an action's events before its ok,
strictly increasing seqs) and that resends are answered from the dedupe book without a second event.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from tests.protocol.conftest import Connect, StartServer
from tests.support.client import Client, create_room
from tests.support.server import CROWD_FROM_ONE_ADDRESS, ServerProcess

# A crowd from one address (127.0.0.1): the per-address limit of a room must not be what a test meets.
SERVER_SETTINGS = {
    "commands_per_second": 1000,
    "command_burst": 1000,
    "presence_interval": 0.2,
    **CROWD_FROM_ONE_ADDRESS,
}


def seq_of(event: dict[str, Any]) -> int:
    seq: int = event["seq"]
    return seq


def named(client: Client, name: str) -> list[dict[str, Any]]:
    return [e for e in client.events if e["name"] == name]


def assert_ordering(client: Client) -> None:
    """Events arrive with strictly increasing seqs, and no event arrives after an ok whose seq covers it."""
    event_seqs = [m["seq"] for m in client.log if m.get("type") == "event"]
    assert event_seqs == sorted(set(event_seqs)), f"events out of order or repeated: {event_seqs}"
    for position, message in enumerate(client.log):
        if message.get("type") != "ok":
            continue
        late = [
            m for m in client.log[position + 1 :] if m.get("type") == "event" and m["seq"] <= message["seq"]
        ]
        assert not late, f"events {[m['seq'] for m in late]} arrived after the ok {message}"


def caused_before_ok(client: Client, cid: str, event_name: str) -> None:
    """The ok of command ``cid`` comes after the event ``event_name`` it caused (same seq or lower)."""
    position = next(i for i, m in enumerate(client.log) if m.get("type") == "ok" and m.get("id") == cid)
    ok = client.log[position]
    before = [m for m in client.log[:position] if m.get("type") == "event" and m["name"] == event_name]
    assert before, f"no {event_name} event before the ok {ok}"
    assert before[-1]["seq"] <= ok["seq"]


async def everyone_sees(clients: list[Client], name: str, **match: Any) -> list[dict[str, Any]]:
    def check(event: dict[str, Any]) -> bool:
        if event["name"] != name:
            return False
        return all(_dig(event["data"], key) == value for key, value in match.items())

    return list(await asyncio.gather(*(c.wait_for(check) for c in clients)))


def _dig(data: dict[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("__"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


async def test_full_workshop_in_both_encodings(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url, title="Retro")
    code = links["room"]

    facilitator = await connect(server)  # JSON
    auth = await facilitator.auth(links["facilitator_token"])
    assert (auth["role"], auth["audience"], auth["recovered"]) == ("facilitator", "staff", False)
    moderator = await connect(server, binary=True)
    joined = await moderator.join(code, "Mo", invite=links["moderator_invite"])
    assert (joined["role"], joined["audience"]) == ("moderator", "staff")
    assert joined["member"]["role"] == "moderator"
    ana = await connect(server)  # JSON
    ben = await connect(server, binary=True)
    cleo = await connect(server, binary=True)
    for client, name in ((ana, "Ana"), (ben, "Ben"), (cleo, "Cleo")):
        result = await client.join(code, name)
        assert (result["role"], result["audience"]) == ("participant", "public")
        assert result["member"]["name"] == name
    screen = await connect(server, binary=True)
    shown = await screen.auth(links["screen_token"])
    assert (shown["role"], shown["member"], shown["audience"]) == ("screen", None, "public")
    ana_tab = await connect(server, binary=True)  # Ana's second device, msgpack while her first is JSON
    tab = await ana_tab.auth(ana.token or "")
    assert ana.member is not None and tab["member"]["id"] == ana.member["id"]
    assert tab["role"] == "participant"
    staff = [facilitator, moderator]
    everyone = [facilitator, moderator, ana, ana_tab, ben, cleo, screen]

    # --- A private ideate round -----------------------------------------------------------------------
    open_id = "open-" + uuid.uuid4().hex
    opened = await facilitator.request(
        {"type": "round.open", "id": open_id, "kind": "ideate", "prompt": "What slows us?", "duration": 120}
    )
    assert opened["type"] == "ok" and opened["result"]["round"]["private"] is True
    caused_before_ok(facilitator, open_id, "round.opened")
    ideate = opened["result"]["round"]["id"]
    await everyone_sees(everyone, "round.opened", round__id=ideate)

    texts = {"Ana": "Too many meetings", "Ben": "Flaky CI", "Cleo": "Unclear priorities"}
    post_id = "post-" + uuid.uuid4().hex
    reply = await ana.request({"type": "idea.post", "id": post_id, "text": texts["Ana"], "color": "pink"})
    assert reply["type"] == "ok", reply
    caused_before_ok(ana, post_id, "idea.posted")
    idea_a = reply["result"]["idea"]
    assert (idea_a["text"], idea_a["color"], idea_a["mine"]) == (texts["Ana"], "pink", True)
    idea_b = (await ben.ok("idea.post", text=texts["Ben"]))["idea"]
    idea_c = (await cleo.ok("idea.post", text=texts["Cleo"]))["idea"]
    ids = {"Ana": idea_a["id"], "Ben": idea_b["id"], "Cleo": idea_c["id"]}

    for member in staff:  # staff see every idea as it is posted, with its author
        for name, idea_id in ids.items():
            event = await member.wait_for(
                lambda e, i=idea_id: e["name"] == "idea.posted" and e["data"]["idea"]["id"] == i
            )
            assert event["data"]["idea"]["text"] == texts[name]
            assert event["data"]["idea"]["author_name"] == name
    # Ana's other connection receives Ana's own view of her idea.
    mine = await ana_tab.wait_for(lambda e: e["name"] == "idea.posted")
    assert mine["data"]["idea"]["id"] == ids["Ana"] and mine["data"]["idea"]["mine"] is True

    # A third connection of Ana's, opened now, gets her idea (and only hers) in its snapshot.
    ana_late = await connect(server)
    late = await ana_late.auth(ana.token or "")
    assert [i["id"] for i in late["snapshot"]["ideas"]] == [ids["Ana"]]
    assert late["snapshot"]["me"]["id"] == ana.member["id"]
    await ana_late.close()

    reveal_id = "reveal-" + uuid.uuid4().hex
    revealed = await facilitator.request({"type": "round.reveal", "id": reveal_id})
    assert revealed["type"] == "ok" and revealed["result"]["round"]["revealed"] is True
    caused_before_ok(facilitator, reveal_id, "round.revealed")
    reveals = await everyone_sees(everyone, "round.revealed", round=ideate)
    for event in reveals:
        assert sorted(i["text"] for i in event["data"]["ideas"]) == sorted(texts.values())
    reveal_seq = seq_of(reveals[0])
    # Before the reveal, nobody but the author (and staff) received anything holding an idea's text.
    for client, own in ((ana, "Ana"), (ana_tab, "Ana"), (ben, "Ben"), (cleo, "Cleo"), (screen, None)):
        before = [e for e in client.events if seq_of(e) < reveal_seq]
        leaked = [t for name, t in texts.items() if name != own and t in json.dumps(before)]
        assert not leaked, f"{client.member} received {leaked} before the reveal"
        posted = [e["data"]["idea"]["id"] for e in named(client, "idea.posted")]
        assert posted == ([ids[own]] if own else [])

    close_id = "close-" + uuid.uuid4().hex
    closed = await facilitator.request({"type": "round.close", "id": close_id})
    assert closed["type"] == "ok"
    caused_before_ok(facilitator, close_id, "round.closed")
    for event in await everyone_sees(everyone, "round.closed", round__id=ideate):
        assert event["data"]["reason"] == "facilitator"

    # --- A vote round with budgets and hidden totals -------------------------------------------------
    vote = (
        await facilitator.ok(
            "round.open", kind="vote", prompt="Which first?", duration=120, budget=3, max_per_idea=2
        )
    )["round"]
    assert (vote["budget"], vote["max_per_idea"], vote["hide_totals"]) == (3, 2, True)
    await everyone_sees(everyone, "round.opened", round__id=vote["id"])

    first = await ana.ok("vote.add", idea=ids["Ben"])
    assert (first["my_dots"], first["remaining"]) == (1, 2)
    assert "total" not in first  # hidden totals: not even the voter learns the total
    second = await ana.ok("vote.add", idea=ids["Ben"])
    assert (second["my_dots"], second["remaining"]) == (2, 1)
    await ana.fails("vote_cap_exceeded", "vote.add", idea=ids["Ben"])
    third = await ana.ok("vote.add", idea=ids["Ana"])
    assert third["remaining"] == 0
    await ana.fails("vote_budget_exceeded", "vote.add", idea=ids["Cleo"])
    await ben.ok("vote.add", idea=ids["Ana"])
    await ben.ok("vote.add", idea=ids["Ana"])
    await cleo.ok("vote.add", idea=ids["Cleo"])

    # Staff follow the totals live.
    total = {"round": vote["id"], "idea": ids["Ana"], "total": 3}
    await facilitator.wait_for(lambda e: e["name"] == "vote.changed" and e["data"] == total)
    close_vote_id = "close-" + uuid.uuid4().hex
    await facilitator.request({"type": "round.close", "id": close_vote_id})
    caused_before_ok(facilitator, close_vote_id, "vote.results")
    expected = [
        {"idea": ids["Ana"], "total": 3, "rank": 1},
        {"idea": ids["Ben"], "total": 2, "rank": 2},
        {"idea": ids["Cleo"], "total": 1, "rank": 3},
    ]
    for event in await everyone_sees(everyone, "vote.results", round=vote["id"]):
        assert event["data"]["results"] == expected
        assert event["data"]["totals"] == {ids["Ana"]: 3, ids["Ben"]: 2, ids["Cleo"]: 1}

    # Hidden totals: no public vote.changed; a participant sees only its own dots (on every device).
    assert named(screen, "vote.changed") == []
    for client, voter in ((ana, ana), (ana_tab, ana), (ben, ben), (cleo, cleo)):
        changes = named(client, "vote.changed")
        assert changes, "a voter sees its own dots change"
        for event in changes:
            assert "total" not in event["data"], event
            assert set(event["data"]) >= {"idea", "my_dots", "remaining", "mine"}
        assert len(changes) == {ana: 3, ben: 2, cleo: 1}[voter]
    assert len(named(facilitator, "vote.changed")) == 6
    assert len(named(moderator, "vote.changed")) == 6

    for client in everyone:
        assert_ordering(client)


async def test_resent_command_returns_the_same_result_and_no_second_event(
    server: ServerProcess, connect: Connect
) -> None:
    links = create_room(server.url)
    facilitator = await connect(server, binary=True)
    await facilitator.auth(links["facilitator_token"])
    ana = await connect(server)
    await ana.join(links["room"], "Ana")

    open_id = "open-" + uuid.uuid4().hex
    message = {"type": "round.open", "id": open_id, "kind": "ideate", "prompt": "Q", "private": False}
    first_open = await facilitator.request(dict(message))
    again_open = await facilitator.request(dict(message))
    assert first_open["type"] == again_open["type"] == "ok"
    assert again_open["result"] == first_open["result"]

    post_id = "post-" + uuid.uuid4().hex
    first = await ana.request({"type": "idea.post", "id": post_id, "text": "Once only"})
    again = await ana.request({"type": "idea.post", "id": post_id, "text": "Once only"})
    assert first["type"] == again["type"] == "ok"
    assert again["result"] == first["result"]
    # Even a resend with a different body is answered from the book: the id names the command.
    changed = await ana.request({"type": "idea.post", "id": post_id, "text": "Something else"})
    assert changed["result"] == first["result"]

    # A barrier: an event after the resends reaches both, so any second idea.posted would be there.
    await facilitator.ok("round.extend", seconds=5)
    for client in (facilitator, ana):
        await client.wait_for("round.extended")
        assert len(named(client, "round.opened")) == 1
        posted = named(client, "idea.posted")
        assert [e["data"]["idea"]["id"] for e in posted] == [first["result"]["idea"]["id"]]
        assert posted[0]["data"]["idea"]["text"] == "Once only"
    snapshot = (await (await connect(server)).auth(links["facilitator_token"]))["snapshot"]
    assert [i["text"] for i in snapshot["ideas"]] == ["Once only"]
    assert [r["id"] for r in snapshot["rounds"]] == [first_open["result"]["round"]["id"]]

    # A join resent (on another connection, as after a lost reply) gives the same member and token.
    join_id = uuid.uuid4().hex
    body = {"type": "join", "id": join_id, "room": links["room"], "name": "Ben", "accept_rules": 1}
    one = await (await connect(server)).request(dict(body))
    two = await (await connect(server, binary=True)).request(dict(body))
    assert one["type"] == two["type"] == "ok"
    assert one["result"]["member"]["id"] == two["result"]["member"]["id"]
    assert one["result"]["token"] == two["result"]["token"]
    members = (await (await connect(server)).auth(links["facilitator_token"]))["snapshot"]["members"]
    assert [m["name"] for m in members].count("Ben") == 1
    for client in (facilitator, ana):
        assert_ordering(client)


async def test_join_and_auth_replies_come_before_any_event_in_a_busy_room(
    server: ServerProcess, connect: Connect
) -> None:
    """While a participant floods the room, newcomers get their reply first and then every later event."""
    links = create_room(server.url)
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Flood", private=False)
    producer = await connect(server, binary=True)
    await producer.join(code, "Producer")

    async def flood() -> None:
        await asyncio.gather(*(producer.ok("idea.post", text=f"idea {n}") for n in range(200)))

    newcomers: list[Client] = []

    async def arrive(n: int) -> None:
        client = await connect(server, binary=n % 2 == 1)
        newcomers.append(client)
        if n % 3 == 0:
            await client.auth(links["facilitator_token"])  # staff: sees every event, so no gaps
        else:
            await client.join(code, f"P{n}")

    await asyncio.gather(flood(), *(arrive(n) for n in range(12)))
    await facilitator.ok("round.extend", seconds=1)
    last_seq = (await facilitator.wait_for("round.extended"))["seq"]
    for client in newcomers:
        await client.wait_for(lambda e: e["seq"] >= last_seq)
        first = client.log[0]
        assert first["type"] == "ok", f"the first message after hello is not the join/auth reply: {first}"
        start = first["seq"]
        seqs = [m["seq"] for m in client.log if m.get("type") == "event"]
        assert all(s > start for s in seqs), (start, seqs[:5])
        if first["result"]["audience"] == "staff":
            assert seqs == list(range(start + 1, seqs[-1] + 1)), "a staff connection missed events"
        assert_ordering(client)


async def test_a_round_closes_on_its_timer(start_server: StartServer, connect: Connect) -> None:
    server = start_server(round_grace_seconds=0.2)
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    ana = await connect(server, binary=True)
    await ana.join(links["room"], "Ana")
    screen = await connect(server)
    await screen.auth(links["screen_token"])
    opened = (await facilitator.ok("round.open", kind="ideate", prompt="Quick", duration=10))["round"]
    assert opened["deadline"] == opened["opened_at"] + 10
    await ana.ok("idea.post", text="Before the bell")
    for client in (facilitator, ana, screen):
        event = await client.wait_for("round.closed", timeout=20)
        assert event["data"]["reason"] == "timer"
        assert event["data"]["round"]["closed_at"] == opened["deadline"]
        assert event["data"]["round"]["status"] == "closed"
        # A private round is revealed when it closes.
        revealed = await client.wait_for("round.revealed")
        assert [i["text"] for i in revealed["data"]["ideas"]] == ["Before the bell"]
        assert revealed["seq"] == event["seq"] + 1
    await ana.fails("round_closed", "idea.post", text="Too late")

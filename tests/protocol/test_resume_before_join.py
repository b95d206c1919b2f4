"""Through a real server: a resume from a seq before the member joined is answered with a snapshot.
A replay from seq 0 handed a newcomer the text of ideas hidden by a moderator or withdrawn by their
author before it joined (their ``idea.posted`` is still stored with its public view)."""

from __future__ import annotations

from typing import Any

from tests.protocol.conftest import Connect
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess


async def ann_in_an_open_round(
    server: ServerProcess, connect: Connect
) -> tuple[dict[str, Any], Client, Client]:
    """A new room with an open ideation round: its links, the facilitator's client and Ann's."""
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Q", private=False, duration=None)
    ann = await connect(server)
    await ann.join(links["room"], "Ann")
    return links, facilitator, ann


async def taken_off(
    server: ServerProcess, connect: Connect
) -> tuple[dict[str, Any], Client, dict[str, Any], dict[str, Any]]:
    """A room where Ann posted four ideas in an open round: one hidden by the facilitator, one withdrawn,
    one edited (the first three carry SECRET in the text they had), one plain. Returns the room's links,
    Ann, and the edited and the plain ideas' replies."""
    links, facilitator, ann = await ann_in_an_open_round(server, connect)
    hidden = await ann.ok("idea.post", text="SECRET-HIDDEN call 0612345678")
    gone = await ann.ok("idea.post", text="SECRET-WITHDRAWN my boss is a thief")
    edited = await ann.ok("idea.post", text="SECRET-EDITED the first draft")
    kept = await ann.ok("idea.post", text="a plain idea")
    await facilitator.ok("idea.hide", idea=hidden["idea"]["id"], reason="personal data")
    await ann.ok("idea.withdraw", idea=gone["idea"]["id"])
    await ann.ok("idea.edit", idea=edited["idea"]["id"], text="the second draft")
    return links, ann, edited, kept


async def test_a_newcomer_cannot_replay_what_was_hidden_before_it_joined(
    server: ServerProcess, connect: Connect
) -> None:
    links, ann, edited, kept = await taken_off(server, connect)

    bob = await connect(server)
    joined = await bob.join(links["room"], "Bob")
    texts = [idea["text"] for idea in joined["snapshot"]["ideas"]]
    assert texts == ["the second draft", "a plain idea"]
    assert bob.token is not None

    for seq in (0, 1):  # before the join: the room had its round and four ideas by then
        again = await connect(server)
        result = await again.auth(bob.token, epoch=joined["epoch"], seq=seq)
        assert result["recovered"] is False, f"replayed {[e['name'] for e in result['events']]}"
        assert "SECRET" not in repr(result)
        assert [idea["id"] for idea in result["snapshot"]["ideas"]] == [
            edited["idea"]["id"],
            kept["idea"]["id"],
        ]

    # From its own join on, a resume is still a replay (nothing lost, nothing sent twice).
    later = await ann.ok("idea.post", text="after the join")
    again = await connect(server)
    result = await again.auth(bob.token, epoch=joined["epoch"], seq=joined["seq"])
    assert result["recovered"] is True
    posted = [e["data"]["idea"]["id"] for e in result["events"] if e["name"] == "idea.posted"]
    assert posted == [later["idea"]["id"]]


async def test_a_room_screen_cannot_replay_what_was_taken_off_the_wall(
    server: ServerProcess, connect: Connect
) -> None:
    """A room screen has no member record (no join to start from): its resume from seq 0 replayed the
    text of ideas hidden by a moderator, withdrawn or edited since. A resume across such an event gets a
    snapshot; across others it is still a replay."""
    links, ann, edited, kept = await taken_off(server, connect)

    screen = await connect(server)
    attached = await screen.auth(links["screen_token"])
    assert attached["role"] == "screen"
    again = await connect(server)
    result = await again.auth(links["screen_token"], epoch=attached["epoch"], seq=0)
    assert result["recovered"] is False, f"replayed {[e['name'] for e in result['events']]}"
    assert "SECRET" not in repr(result)
    ids = [idea["id"] for idea in result["snapshot"]["ideas"]]
    assert ids == [edited["idea"]["id"], kept["idea"]["id"]]

    # Across plain events a screen's resume is still a replay (nothing lost, nothing sent twice).
    later = await ann.ok("idea.post", text="after the screen came")
    again = await connect(server)
    result = await again.auth(links["screen_token"], epoch=attached["epoch"], seq=attached["seq"])
    assert result["recovered"] is True
    posted = [e["data"]["idea"]["id"] for e in result["events"] if e["name"] == "idea.posted"]
    assert posted == [later["idea"]["id"]]


async def test_a_phone_away_while_a_note_came_and_went_gets_a_snapshot(
    server: ServerProcess, connect: Connect
) -> None:
    """Bob's phone slept while a note was posted and hidden by a moderator: its replay handed it the
    text (then took it away). A resume whose events carry a text and then take something off the wall
    gets a snapshot; one across a hide of a note Bob had seen already stays a replay."""
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Q", private=False, duration=None)
    ann, bob = await connect(server), await connect(server)
    await ann.join(links["room"], "Ann")
    joined = await bob.join(links["room"], "Bob")
    seen = await ann.ok("idea.post", text="an idea Bob saw")
    await bob.wait_for(lambda e: e["name"] == "idea.posted")
    asleep = (joined["epoch"], bob.last_seq)
    assert bob.token is not None
    await bob.close()
    secret = await ann.ok("idea.post", text="SECRET call 0612345678")
    await facilitator.ok("idea.hide", idea=secret["idea"]["id"], reason="personal data")
    woken = await connect(server)
    result = await woken.auth(bob.token, epoch=asleep[0], seq=asleep[1])
    assert result["recovered"] is False, f"replayed {[e['name'] for e in result['events']]}"
    assert "SECRET" not in repr(result)
    assert [idea["id"] for idea in result["snapshot"]["ideas"]] == [seen["idea"]["id"]]

    # Away while only a note it had seen was hidden: a replay (nothing to keep from it).
    asleep = (result["epoch"], result["seq"])
    await woken.close()
    await facilitator.ok("idea.hide", idea=seen["idea"]["id"], reason="off topic")
    again = await connect(server)
    result = await again.auth(bob.token, epoch=asleep[0], seq=asleep[1])
    assert result["recovered"] is True
    assert [e["name"] for e in result["events"]] == ["idea.hidden"]


async def test_a_note_brought_back_by_an_undone_merge_then_hidden_is_not_replayed(
    server: ServerProcess, connect: Connect
) -> None:
    """Found by review: ``idea.unmerged`` carries the texts of the notes it brings back, but the replay's
    check knew only the usual carriers (posted, edited...). Bob joined after a note was merged away,
    slept while the merge was undone and the note hidden as abusive: his replay handed him its text."""
    links, facilitator, ann = await ann_in_an_open_round(server, connect)
    kept = await ann.ok("idea.post", text="keep this")
    abusive = await ann.ok("idea.post", text="ABUSIVE call 0612345678")
    merged = await facilitator.ok("idea.merge", into=kept["idea"]["id"], ideas=[abusive["idea"]["id"]])
    bob = await connect(server)
    joined = await bob.join(links["room"], "Bob")
    assert "ABUSIVE" not in repr(joined)
    asleep = (joined["epoch"], joined["seq"])
    assert bob.token is not None
    await bob.close()
    await facilitator.ok("idea.unmerge", merge=merged["merge"])
    await facilitator.ok("idea.hide", idea=abusive["idea"]["id"], reason="abusive")
    woken = await connect(server)
    result = await woken.auth(bob.token, epoch=asleep[0], seq=asleep[1])
    assert result["recovered"] is False, f"replayed {[e['name'] for e in result['events']]}"
    assert "ABUSIVE" not in repr(result)
    assert [idea["id"] for idea in result["snapshot"]["ideas"]] == [kept["idea"]["id"]]

"""Themes, merges, votes on themes and suggested themes through a real server."""

from __future__ import annotations

from tests.protocol.conftest import Connect
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess


async def setup(server: ServerProcess, connect: Connect) -> tuple[Client, Client, Client, list[str]]:
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    ann, bob = await connect(server), await connect(server, binary=True)
    await ann.join(links["room"], "Ann")
    await bob.join(links["room"], "Bob")
    await facilitator.ok("round.open", kind="ideate", prompt="How might we?", private=False, duration=None)
    texts = [
        (ann, "Free coffee in the morning"),
        (bob, "Breakfast snacks for everyone"),
        (ann, "More bike parking"),
        (bob, "A covered bike shed"),
        (ann, "Free coffee in the morning!"),
    ]
    ideas = [(await who.ok("idea.post", text=text))["idea"]["id"] for who, text in texts]
    await facilitator.ok("round.close")
    return facilitator, ann, bob, ideas


async def test_grouping_merging_and_a_vote_on_themes(server: ServerProcess, connect: Connect) -> None:
    facilitator, ann, bob, ideas = await setup(server, connect)
    food = (await facilitator.ok("theme.create", name="Food", color="orange", ideas=ideas[:2]))["theme"]
    assert food["ideas"] == ideas[:2]
    bikes = (await facilitator.ok("theme.create", name="Bikes"))["theme"]["id"]
    await facilitator.ok("theme.assign", theme=bikes, ideas=ideas[2:4])
    created = await bob.wait_for(lambda e: e["name"] == "theme.created")
    assert created["data"]["theme"]["name"] == "Food"
    moved = await bob.wait_for(lambda e: e["name"] == "theme.ideas")
    assert moved["data"] == {"theme": bikes, "ideas": ideas[2:4]}

    merge = await facilitator.ok("idea.merge", into=ideas[0], ideas=[ideas[4]])
    merged = await bob.wait_for(lambda e: e["name"] == "idea.merged")
    assert merged["data"]["merged"] == [ideas[4]]
    assert "coauthors" not in merged["data"]["idea"]  # Ann wrote both: nobody else to credit
    assert merge["idea"]["theme"] == food["id"]

    await facilitator.ok("round.open", kind="vote", prompt="Which theme?", target="themes", budget=2)
    await ann.ok("vote.add", theme=food["id"])
    await bob.ok("vote.add", theme=bikes)
    await bob.ok("vote.add", theme=bikes)
    refused = await ann.call("vote.add", idea=ideas[0])
    assert refused["code"] == "invalid_command"
    await facilitator.ok("round.close")
    results = await ann.wait_for(lambda e: e["name"] == "vote.results")
    assert [r["theme"] for r in results["data"]["results"]] == [bikes, food["id"]]


async def test_suggested_themes_are_for_staff_and_change_nothing(
    server: ServerProcess, connect: Connect
) -> None:
    facilitator, ann, _, ideas = await setup(server, connect)
    refused = await ann.call("themes.suggest")
    assert refused["code"] == "forbidden"
    before = len(facilitator.events)
    reply = await facilitator.ok("themes.suggest")
    suggestions = reply["suggestions"]
    assert isinstance(suggestions, list)
    assert reply["additions"] == []  # no theme yet
    grouped = [i for s in suggestions for i in s["ideas"]]
    assert len(grouped) == len(set(grouped)) and set(grouped) <= set(ideas)
    assert all(s["name"] and len(s["ideas"]) >= 2 for s in suggestions)
    await facilitator.call("ping")
    changed = [e["name"] for e in facilitator.events[before:] if e["name"] != "presence"]
    assert changed == []  # nothing was applied
    # Accepting one is an ordinary staff command with explicit groups.
    if suggestions:
        first = suggestions[0]
        created = await facilitator.ok("theme.create", name=first["name"], ideas=first["ideas"])
        assert created["theme"]["ideas"] == first["ideas"]


async def test_suggestions_propose_notes_for_the_existing_themes(
    server: ServerProcess, connect: Connect
) -> None:
    """Once staff made a theme, the notes that belong with its notes come back as an addition for it
    (accepted with an ordinary theme.assign), not as a new group; other notes still make new groups,
    and no note is proposed twice."""
    facilitator, _, _, ideas = await setup(server, connect)
    food = (await facilitator.ok("theme.create", name="Food", ideas=ideas[:1]))["theme"]["id"]
    reply = await facilitator.ok("themes.suggest")
    additions = reply["additions"]
    assert [a["theme"] for a in additions] == [food]
    assert ideas[4] in additions[0]["ideas"]  # the same note again
    assert not set(additions[0]["ideas"]) & set(ideas[2:4])  # bikes are not food
    proposed = additions[0]["ideas"] + [i for s in reply["suggestions"] for i in s["ideas"]]
    assert len(proposed) == len(set(proposed)) and set(proposed) <= set(ideas[1:])
    assert [set(s["ideas"]) for s in reply["suggestions"]] == [set(ideas[2:4])]
    moved = await facilitator.ok("theme.assign", theme=food, ideas=additions[0]["ideas"])
    assert moved["theme"] == food and moved["ideas"] == additions[0]["ideas"]
    again = await facilitator.ok("themes.suggest")
    assert again["additions"] == []  # nothing left that belongs there


async def test_a_voter_whose_dot_a_merge_moved_is_told_where_it_is(
    server: ServerProcess, connect: Connect
) -> None:
    """In a vote that hides totals, a merge moved Bob's dot onto the merged note and told Bob nothing:
    his client kept the dot on a note that had left the wall. Now his own vote.totals view says where his
    dots are, and still no total."""
    facilitator, _ann, bob, ideas = await setup(server, connect)
    await facilitator.ok("round.open", kind="vote", prompt="Vote", hide_totals=True, budget=3)
    await bob.ok("vote.add", idea=ideas[4])
    await facilitator.ok("idea.merge", into=ideas[0], ideas=[ideas[4]])
    view = (await bob.wait_for(lambda e: e["name"] == "vote.totals"))["data"]
    assert view["mine"] == {ideas[0]: 1} and view["remaining"] == 2 and view["refunded"] == 0
    assert "changes" not in view

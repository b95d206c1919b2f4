"""The follow-up (#11) through a real server: statuses, replies, a jury's private scores, announcements,
the satisfaction pulse, and the "my ideas" and contributors endpoints."""

from __future__ import annotations

from typing import Any

from tests.protocol.conftest import Connect
from tests.protocol.test_http import assert_error, http
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess

CRITERIA = [
    {"name": "Impact", "description": "How many people it helps", "weight": 3},
    {"name": "Cost", "description": "Cheap is better", "weight": 1},
]


def bearer(token: str | None) -> dict[str, str]:
    assert token is not None
    return {"authorization": f"Bearer {token}"}


async def snapshot(server: ServerProcess, connect: Connect, token: str) -> dict[str, Any]:
    """The room as ``token``'s member sees it now, from a fresh connection."""
    viewer = await connect(server)
    result = await viewer.auth(token)
    state: dict[str, Any] = result["snapshot"]
    await viewer.close()
    return state


def views_of(client: Client, name: str) -> list[dict[str, Any]]:
    return [e["data"] for e in client.events if e["name"] == name]


async def test_the_whole_story_of_an_idea(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("room.set", brand="Acme")
    jury = [(await facilitator.ok("invite.create", role="juror", label=n))["invite"] for n in ("Jo", "Kim")]
    ana, bob = await connect(server), await connect(server, binary=True)
    jo, kim = await connect(server), await connect(server)
    await ana.join(code, "Ana")
    await bob.join(code, "Bob")
    joined = await jo.join(code, "Jo", invite=jury[0]["token"])
    assert joined["member"]["juror"] is True and joined["member"]["role"] == "participant"
    await kim.join(code, "Kim", invite=jury[1]["token"])
    assert ana.member is not None and ana.member["juror"] is False
    await facilitator.ok("round.open", kind="ideate", prompt="How might we?", private=False, duration=None)
    idea = (await ana.ok("idea.post", text="A quiet room for calls"))["idea"]["id"]
    await facilitator.ok("round.close")

    # Staff reply: the staff badge and the brand's name, seen by everyone.
    reply = (await facilitator.ok("reply.post", idea=idea, text="Thanks, we will look at it"))["reply"]
    assert (reply["staff"], reply["brand"], reply["idea"]) == (True, "Acme", idea)
    seen = await bob.wait_for(
        lambda e: e["name"] == "reply.posted" and e["data"]["reply"]["id"] == reply["id"]
    )
    assert seen["data"]["reply"]["staff"] is True and seen["data"]["reply"]["brand"] == "Acme"
    await ana.ok("reply.post", idea=idea, text="Even a small one would do")

    # Shortlisted, with a public note and its history.
    await facilitator.ok("idea.status", idea=idea, status="shortlisted", note="Promising")
    change = await bob.wait_for(lambda e: e["name"] == "idea.status")
    assert change["data"]["idea"]["status"] == "shortlisted"
    assert change["data"]["change"]["previous"] == "new" and change["data"]["change"]["note"] == "Promising"
    assert change["data"]["change"]["by_name"] == "Facilitator"

    # Published criteria, an evaluation by the invited jurors.
    await facilitator.ok("criteria.set", criteria=CRITERIA)
    criteria = (await bob.wait_for("selection.criteria"))["data"]["criteria"]
    assert [(k["id"], k["name"], k["weight"]) for k in criteria] == [("k1", "Impact", 3), ("k2", "Cost", 1)]
    opened = (await facilitator.ok("evaluation.open", jury="jurors"))["evaluation"]
    assert opened["ideas"] == [idea] and opened["jury_size"] == 2
    moved = await ana.wait_for(lambda e: e["name"] == "idea.status" and e["data"]["change"].get("via"))
    assert moved["data"]["idea"]["status"] == "in_review"
    await bob.wait_for("evaluation.opened")

    mine = await jo.ok("evaluation.score", idea=idea, scores={"k1": 5, "k2": 3})
    assert mine["scores"] == {"k1": 5, "k2": 3}
    own = await jo.wait_for("evaluation.scored")
    assert own["data"]["scores"] == {"k1": 5, "k2": 3} and own["data"]["progress"] == {idea: 1}
    staff_view = await facilitator.wait_for("evaluation.scored")
    assert staff_view["data"] == {"evaluation": opened["id"], "progress": {idea: 1}}
    await kim.ok("evaluation.score", idea=idea, scores={"k1": 3, "k2": 1})
    await facilitator.wait_for(
        lambda e: e["name"] == "evaluation.scored" and e["data"]["progress"][idea] == 2
    )
    # Before the close nobody sees another juror's scores: not the other juror, not a participant, not
    # staff (who see only how many jurors scored).
    await jo.call("ping")
    await bob.call("ping")
    assert [v["scores"] for v in views_of(jo, "evaluation.scored")] == [{"k1": 5, "k2": 3}]
    assert views_of(bob, "evaluation.scored") == [] and views_of(ana, "evaluation.scored") == []
    assert all("scores" not in v for v in views_of(facilitator, "evaluation.scored"))
    assert jo.token is not None and links["facilitator_token"]
    (jo_eval,) = (await snapshot(server, connect, jo.token))["evaluations"]
    assert jo_eval["mine"] == {idea: {"k1": 5, "k2": 3}} and jo_eval["juror"] is True
    assert "scores" not in jo_eval and "results" not in jo_eval
    (staff_eval,) = (await snapshot(server, connect, links["facilitator_token"]))["evaluations"]
    assert "scores" not in staff_eval and staff_eval["progress"] == {idea: 2}

    # The close: weighted results for everyone, individual scores for staff only.
    closed = (await facilitator.ok("evaluation.close"))["evaluation"]
    public = (await bob.wait_for("evaluation.closed"))["data"]["evaluation"]
    assert public["status"] == "closed" and public["jurors"] == 2 and "scores" not in public
    (result,) = public["results"]
    # Impact (5 + 3) / 2 = 4, cost (3 + 1) / 2 = 2; weighted (3 * 4 + 1 * 2) / 4 = 3.5.
    assert (result["idea"], result["criteria"], result["score"], result["jurors"], result["rank"]) == (
        idea,
        {"k1": 4.0, "k2": 2.0},
        3.5,
        2,
        1,
    )
    assert sorted((s["name"], s["scores"]["k1"]) for s in closed["scores"]) == [("Jo", 5), ("Kim", 3)]
    staff_closed = (await facilitator.wait_for("evaluation.closed"))["data"]["evaluation"]
    assert len(staff_closed["scores"]) == 2

    await facilitator.ok("idea.status", idea=idea, status="adopted", note="We build it in May")
    await facilitator.ok("room.announce", text="1 idea adopted: the quiet room opens in May")
    await facilitator.ok("session.end")

    # After the end, the author's "my ideas" page tells the whole story.
    page = http(server, f"/api/rooms/{code}/mine", headers=bearer(ana.token))
    assert page.status == 200 and page.headers["cache-control"] == "no-store"
    story = page.json()["page"]
    assert story["room"]["phase"] == "ended" and story["room"]["brand"] == "Acme" and not story["staff"]
    (mine_idea,) = story["ideas"]
    assert mine_idea["id"] == idea and mine_idea["mine"] is True and mine_idea["status"] == "adopted"
    assert [(h["previous"], h["status"]) for h in mine_idea["history"]] == [
        ("new", "shortlisted"),
        ("shortlisted", "in_review"),
        ("in_review", "adopted"),
    ]
    assert mine_idea["history"][1]["via"] == opened["id"]
    assert mine_idea["history"][2]["note"] == "We build it in May"
    replies = mine_idea["replies"]
    assert [(r["staff"], r.get("brand")) for r in replies] == [(True, "Acme"), (False, None)]
    assert replies[0]["text"] == "Thanks, we will look at it"
    kinds = [(entry["kind"], entry.get("status")) for entry in story["selection"]]
    assert kinds == [("evaluation", "closed"), ("decision", "adopted")]
    assert story["selection"][0]["results"] == public["results"]
    assert [a["text"] for a in story["announcements"]] == ["1 idea adopted: the quiet room opens in May"]
    assert story["announcements"][0]["kind"] == "update" and story["announcements"][0]["brand"] == "Acme"
    assert story["contribution"]["ideas"] == 1 and story["contribution"]["adopted"] == 1
    # Bob posted nothing: his page has no idea, the same announcements and selection log.
    other = http(server, f"/api/rooms/{code}/mine", headers=bearer(bob.token)).json()["page"]
    assert other["ideas"] == [] and other["selection"] == story["selection"]
    # After the end a participant can no longer reply; staff still can.
    await ana.fails("invalid_transition", "reply.post", idea=idea, text="One more thing")
    await facilitator.ok("reply.post", idea=idea, text="Done: it is open")


async def test_my_ideas_and_contributors_need_the_members_own_token(server: ServerProcess) -> None:
    links = create_room(server.url)
    other = create_room(server.url)
    code = links["room"]
    for path in ("mine", "contributors"):
        assert_error(http(server, f"/api/rooms/{code}/{path}"), 401, "invalid_token")
        assert_error(
            http(server, f"/api/rooms/{code}/{path}", headers=bearer(other["facilitator_token"])),
            401,
            "invalid_token",
        )
        assert_error(
            http(server, f"/api/rooms/{code}/{path}", headers=bearer(links["screen_token"])), 403, "forbidden"
        )
        assert_error(
            http(server, f"/api/rooms/{code}/{path}?token={links['facilitator_token']}"),
            400,
            "invalid_command",
        )
    staff_page = http(server, f"/api/rooms/{code}/mine", headers=bearer(links["facilitator_token"]))
    assert staff_page.status == 200 and staff_page.json()["page"]["staff"] is True


async def test_bad_input_gets_its_code_and_changes_nothing(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    code, staff_token = links["room"], links["facilitator_token"]
    facilitator = await connect(server)
    await facilitator.auth(staff_token)
    ana, bob = await connect(server), await connect(server)
    await ana.join(code, "Ana")
    await bob.join(code, "Bob")
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False, duration=None)
    idea = (await ana.ok("idea.post", text="Standing desks"))["idea"]["id"]
    await facilitator.ok("round.close")
    await facilitator.ok("round.open", kind="ideate", prompt="Private ideas?", private=True, duration=None)
    private = (await ana.ok("idea.post", text="Still private"))["idea"]["id"]
    await facilitator.ok("idea.status", idea=idea, status="shortlisted")
    await facilitator.ok("criteria.set", criteria=CRITERIA)
    await facilitator.ok("evaluation.open")  # jury: staff; the shortlisted idea moves to in_review

    keys = ("ideas", "replies", "announcements", "criteria", "evaluations", "pulses", "themes")
    before = await snapshot(server, connect, staff_token)

    reply = await facilitator.fails("invalid_command", "idea.status", idea=idea, status="archived")
    assert "status" in reply["message"]
    await facilitator.fails("invalid_transition", "idea.status", idea=idea, status="done")
    await facilitator.fails("invalid_command", "idea.status", status="adopted")  # neither idea nor theme
    await ana.fails("forbidden", "idea.status", idea=idea, status="adopted")
    await facilitator.fails("invalid_score", "evaluation.score", idea=idea, scores={"k1": 6, "k2": 3})
    await facilitator.fails("invalid_score", "evaluation.score", idea=idea, scores={"k1": 4})
    await bob.fails("not_juror", "evaluation.score", idea=idea, scores={"k1": 3, "k2": 3})
    await facilitator.fails("invalid_transition", "criteria.set", criteria=CRITERIA)  # evaluation open
    # A reply to an idea still private to its author: idea_private for who can see it, else not_found.
    await facilitator.fails("idea_private", "reply.post", idea=private, text="Nice")
    await ana.fails("idea_private", "reply.post", idea=private, text="Mine")
    await bob.fails("not_found", "reply.post", idea=private, text="Guess")
    await ana.fails("forbidden", "room.announce", text="Everyone: my idea is the best")
    await bob.fails("forbidden", "criteria.set", criteria=CRITERIA)
    await bob.fails("forbidden", "evaluation.close")
    await facilitator.fails("forbidden", "pulse.answer", score=3)  # participants answer, not staff
    after = await snapshot(server, connect, staff_token)
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}

    await facilitator.ok("evaluation.score", idea=idea, scores={"k1": 4, "k2": 2})
    await facilitator.ok("evaluation.close")
    closed = await snapshot(server, connect, staff_token)
    await facilitator.fails("evaluation_closed", "evaluation.score", idea=idea, scores={"k1": 5, "k2": 5})
    await facilitator.fails("evaluation_closed", "evaluation.close")
    again = await snapshot(server, connect, staff_token)
    assert again["evaluations"] == closed["evaluations"]
    (evaluation,) = again["evaluations"]
    assert evaluation["scores"][0]["scores"] == {"k1": 4, "k2": 2}


async def test_the_pulse_shows_staff_the_figures_and_each_participant_its_own_answer(
    server: ServerProcess, connect: Connect
) -> None:
    links = create_room(server.url)
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    ana, bob = await connect(server), await connect(server)
    await ana.join(code, "Ana")
    await bob.join(code, "Bob")
    await ana.fails("invalid_transition", "pulse.answer", score=4)  # nothing is open
    opened = (await facilitator.ok("pulse.open", question="How useful was this workshop?"))["pulse"]
    asked = await ana.wait_for("pulse.opened")
    assert asked["data"]["pulse"]["question"] == "How useful was this workshop?"
    assert "answers" not in asked["data"]["pulse"] and "average" not in asked["data"]["pulse"]

    await facilitator.ok("session.end")  # participants answer after the end too
    answered = await ana.ok("pulse.answer", score=4, comment="Good pace")
    assert answered["pulse"]["mine"]["score"] == 4 and "average" not in answered["pulse"]
    await bob.ok("pulse.answer", score=1)
    await bob.ok("pulse.answer", score=2)  # answering again replaces
    await ana.fails("invalid_score", "pulse.answer", score=6)
    await ana.fails("invalid_command", "pulse.answer", score="5")

    figures = await facilitator.wait_for(
        lambda e: e["name"] == "pulse.answered" and e["data"]["answer"]["score"] == 2
    )
    assert figures["data"]["pulse"]["count"] == 2 and figures["data"]["pulse"]["average"] == 3.0
    assert figures["data"]["pulse"]["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 0}
    assert figures["data"]["answer"]["name"] == "Bob"

    # A participant sees only its own answer: never another's, nor the figures.
    await ana.call("ping")
    assert [v["pulse"]["mine"]["score"] for v in views_of(ana, "pulse.answered")] == [4]
    assert all("average" not in v["pulse"] for v in views_of(ana, "pulse.answered"))
    assert ana.token is not None
    (ana_pulse,) = (await snapshot(server, connect, ana.token))["pulses"]
    assert ana_pulse["mine"] == {"score": 4, "comment": "Good pace", "at": ana_pulse["mine"]["at"]}
    assert not {"answers", "count", "average", "distribution"} & set(ana_pulse)
    (staff_pulse,) = (await snapshot(server, connect, links["facilitator_token"]))["pulses"]
    assert sorted((a["name"], a["score"]) for a in staff_pulse["answers"]) == [("Ana", 4), ("Bob", 2)]

    await facilitator.ok("pulse.close")
    closed = await bob.wait_for("pulse.closed")
    assert closed["data"]["pulse"]["id"] == opened["id"] and closed["data"]["pulse"]["status"] == "closed"
    assert "answers" not in closed["data"]["pulse"]
    await bob.fails("invalid_transition", "pulse.answer", score=5)
    page = http(server, f"/api/rooms/{code}/mine", headers=bearer(bob.token)).json()["page"]
    assert page["pulses"][0]["mine"]["score"] == 2 and "answers" not in page["pulses"][0]


async def contributors_room(
    server: ServerProcess, connect: Connect, *, anonymous: bool
) -> tuple[dict[str, Any], Client, Client]:
    links = create_room(server.url, anonymous=anonymous)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    ana, bob = await connect(server), await connect(server)
    await ana.join(links["room"], "Ana")
    await bob.join(links["room"], "Bob")
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False, duration=None)
    first = (await ana.ok("idea.post", text="Plants in the office"))["idea"]["id"]
    await ana.ok("idea.post", text="A library corner")
    duplicate = (await bob.ok("idea.post", text="More plants, please"))["idea"]["id"]
    await facilitator.ok("round.close")
    await facilitator.ok("idea.merge", into=first, ideas=[duplicate])
    await facilitator.ok("idea.status", idea=first, status="adopted")
    return links, ana, bob


def contributors(server: ServerProcess, code: str, token: str | None) -> dict[str, Any]:
    response = http(server, f"/api/rooms/{code}/contributors", headers=bearer(token))
    assert response.status == 200 and response.headers["cache-control"] == "no-store"
    answer: dict[str, Any] = response.json()
    return answer


def rows(answer: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    return [(r["name"], r["ideas"], r["shortlisted"], r["adopted"]) for r in answer["contributors"]]


async def test_contributors_are_named_except_in_an_anonymous_room(
    server: ServerProcess, connect: Connect
) -> None:
    # A named room: everyone sees every row; the merge credits Bob on the adopted idea too.
    links, ana, bob = await contributors_room(server, connect, anonymous=False)
    seen = contributors(server, links["room"], ana.token)
    assert seen["named"] is True
    assert rows(seen) == [("Ana", 2, 1, 1), ("Bob", 1, 1, 1)]
    assert contributors(server, links["room"], bob.token) == seen

    # An anonymous room: a participant sees only its own row; staff see everyone.
    links, ana, bob = await contributors_room(server, connect, anonymous=True)
    own = contributors(server, links["room"], bob.token)
    assert own["named"] is False and rows(own) == [("Bob", 1, 1, 1)]
    assert rows(contributors(server, links["room"], ana.token)) == [("Ana", 2, 1, 1)]
    staff = contributors(server, links["room"], links["facilitator_token"])
    assert staff["named"] is True and rows(staff) == [("Ana", 2, 1, 1), ("Bob", 1, 1, 1)]


async def test_the_answers_to_an_idea_stay_with_its_author_after_a_merge(
    server: ServerProcess, connect: Connect
) -> None:
    """Staff answer Ana's note, then merge it into Bob's duplicate: the brand's answer (and Bob's) stay
    on Ana's "my ideas" page and in her snapshot, as they were on her board before the merge. Nobody
    else is shown them again (the merged note is off the wall); undoing the merge puts them back."""
    links = create_room(server.url)
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("room.set", brand="Acme")
    ana, bob, cyd = await connect(server), await connect(server), await connect(server)
    await ana.join(code, "Ana")
    await bob.join(code, "Bob")
    await cyd.join(code, "Cyd")
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False, duration=None)
    absorbed = (await ana.ok("idea.post", text="A coffee machine"))["idea"]["id"]
    kept = (await bob.ok("idea.post", text="Better coffee"))["idea"]["id"]
    await facilitator.ok("round.close")
    answer = (await facilitator.ok("reply.post", idea=absorbed, text="Thanks, we are on it"))["reply"]
    await bob.ok("reply.post", idea=absorbed, text="Same as mine")
    await facilitator.ok("idea.status", idea=absorbed, status="shortlisted", note="Promising")
    merge = (await facilitator.ok("idea.merge", ideas=[absorbed], into=kept))["merge"]

    page = http(server, f"/api/rooms/{code}/mine", headers=bearer(ana.token)).json()["page"]
    mine = {i["id"]: i for i in page["ideas"]}
    assert mine[absorbed]["state"] == "merged"
    assert [r["text"] for r in mine[absorbed]["replies"]] == ["Thanks, we are on it", "Same as mine"]
    assert mine[absorbed]["replies"][0]["brand"] == "Acme"

    async def sees_the_answer(member: Client) -> bool:
        replies = (await snapshot(server, connect, member.token or ""))["replies"]
        return answer["id"] in {r["id"] for r in replies}

    assert await sees_the_answer(ana)
    # Cyd is not credited on the merged note: it is off the wall for her, and so are its replies.
    assert not await sees_the_answer(cyd)
    await facilitator.ok("idea.unmerge", merge=merge)
    assert await sees_the_answer(cyd)

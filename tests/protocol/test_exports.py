"""CSV and Markdown exports, the figures and one-time export links, through a real server."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from typing import Any

from tests.protocol.conftest import Connect
from tests.protocol.test_http import assert_error, http
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server.rooms.exports import CSV_COLUMNS


async def ideate(
    server: ServerProcess, connect: Connect, participant: str
) -> tuple[dict[str, Any], Client, Client]:
    """A new room in an open, non-private ideate round: its links, the facilitator and a participant."""
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=False)
    person = await connect(server)
    await person.join(links["room"], participant)
    return links, facilitator, person


async def test_csv_markdown_and_figures_are_for_staff_only(server: ServerProcess, connect: Connect) -> None:
    links, _, ana = await ideate(server, connect, "Anaïs")
    code = links["room"]
    await ana.ok("idea.post", text="=1+1 café")
    assert ana.token is not None
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}

    response = http(server, f"/api/rooms/{code}/export.csv", headers=staff)
    assert response.status == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="{code}.csv"'
    assert response.body.startswith(b"\xef\xbb\xbf")
    header, row = list(csv.reader(io.StringIO(response.body.decode("utf-8-sig"), newline="")))
    assert dict(zip(header, row, strict=True))["text"] == "'=1+1 café"
    assert dict(zip(header, row, strict=True))["author"] == "Anaïs"

    anonymised = http(server, f"/api/rooms/{code}/export.csv?anonymised=1", headers=staff)
    assert "Anaïs" not in anonymised.body.decode("utf-8")
    report = http(server, f"/api/rooms/{code}/export.md", headers=staff)
    assert report.status == 200 and report.headers["content-type"].startswith("text/markdown")
    assert "## Figures" in report.body.decode("utf-8")

    printable = http(server, f"/api/rooms/{code}/export.html", headers=staff)
    assert printable.status == 200 and printable.headers["content-type"].startswith("text/html")
    assert printable.headers["content-disposition"] == "inline"
    assert "default-src 'none'" in printable.headers["content-security-policy"]
    assert "<h2>Figures</h2>" in printable.body.decode("utf-8")

    figures = http(server, f"/api/rooms/{code}/figures", headers=staff).json()
    assert (figures["participants"], figures["ideas"], figures["participation_rate"]) == (1, 1, 1.0)

    participant = {"authorization": f"Bearer {ana.token}"}
    for path in ("export.csv", "export.md", "export.html", "figures"):
        assert_error(http(server, f"/api/rooms/{code}/{path}", headers=participant), 403, "forbidden")
        assert_error(http(server, f"/api/rooms/{code}/{path}"), 401, "invalid_token")


async def test_a_one_time_link_downloads_the_csv_once(server: ServerProcess, connect: Connect) -> None:
    links = create_room(server.url)
    code = links["room"]
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}
    made = http(server, f"/api/rooms/{code}/export-link?format=csv", method="POST", headers=staff).json()
    assert made["url"].startswith(f"/api/rooms/{code}/export.csv?dl=")
    # Opened under another format, it is refused and not spent (it was spent, and the CSV then refused).
    assert_error(http(server, made["url"].replace("export.csv", "export.json")), 404, "not_found")
    first = http(server, made["url"])
    assert first.status == 200 and first.body.startswith(b"\xef\xbb\xbf")
    assert_error(http(server, made["url"]), 404, "not_found")
    assert_error(
        http(server, f"/api/rooms/{code}/export-link?format=xls", method="POST", headers=staff),
        400,
        "invalid_command",
    )


async def test_the_csv_can_use_semicolons_for_french_spreadsheets(
    server: ServerProcess, connect: Connect
) -> None:
    """French Excel reads a comma-separated file as one column: ``?sep=semicolon`` (on the export and
    on its one-time link) separates the cells with semicolons; anything else is refused."""
    links, _, ana = await ideate(server, connect, "Anaïs")
    code = links["room"]
    await ana.ok("idea.post", text="du café, des fruits; le matin")
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}

    direct = http(server, f"/api/rooms/{code}/export.csv?sep=semicolon", headers=staff)
    link = f"/api/rooms/{code}/export-link?format=csv&sep=semicolon"
    made = http(server, link, method="POST", headers=staff)
    assert made.json()["url"].endswith("&sep=semicolon")
    for response in (direct, http(server, made.json()["url"])):
        assert response.status == 200 and response.body.startswith(b"\xef\xbb\xbf")
        text = response.body.decode("utf-8-sig")
        assert text.splitlines()[0] == ";".join(CSV_COLUMNS)
        header, row = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
        assert dict(zip(header, row, strict=True))["text"] == "du café, des fruits; le matin"

    comma = http(server, f"/api/rooms/{code}/export.csv", headers=staff).body.decode("utf-8-sig")
    assert comma.splitlines()[0] == ",".join(CSV_COLUMNS)
    # A wrong separator on a one-time link does not spend it.
    asked = http(server, f"/api/rooms/{code}/export-link?format=csv", method="POST", headers=staff)
    link = asked.json()["url"]
    assert_error(http(server, link + "&sep=tab"), 400, "invalid_command")
    assert http(server, link).status == 200
    for path in ("export.csv?sep=tab", "export-link?format=csv&sep=%3B"):
        method = "POST" if path.startswith("export-link") else "GET"
        refused = http(server, f"/api/rooms/{code}/{path}", method=method, headers=staff)
        assert_error(refused, 400, "invalid_command")


async def test_the_report_is_in_the_rooms_language_or_the_one_asked(
    server: ServerProcess, connect: Connect
) -> None:
    """A French room's report is in French; ``?lang=en`` (on the export and on its one-time link)
    asks for English; another language is refused."""
    links = create_room(server.url, locale="fr")
    code = links["room"]
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}
    french = http(server, f"/api/rooms/{code}/export.md", headers=staff).body.decode("utf-8")
    assert "## Manches" in french and "## Indicateurs" in french
    english = http(server, f"/api/rooms/{code}/export.md?lang=en", headers=staff).body.decode("utf-8")
    assert "## Rounds" in english and "## Figures" in english
    made = http(server, f"/api/rooms/{code}/export-link?format=html&lang=en", method="POST", headers=staff)
    page = http(server, made.json()["url"]).body.decode("utf-8")
    assert '<html lang="en">' in page and "<h2>Figures</h2>" in page
    for path, method in (("export.html?lang=de", "GET"), ("export-link?format=md&lang=de", "POST")):
        refused = http(server, f"/api/rooms/{code}/{path}", method=method, headers=staff)
        assert_error(refused, 400, "invalid_command")


async def test_the_json_export_has_totals_but_no_voters_dots(server: ServerProcess, connect: Connect) -> None:
    links, facilitator, ana = await ideate(server, connect, "Anaïs")
    code = links["room"]
    idea = (await ana.ok("idea.post", text="a bus"))["idea"]["id"]
    await facilitator.ok("round.close")
    await facilitator.ok("round.open", kind="vote", prompt="Vote")
    await ana.ok("vote.add", idea=idea)
    staff = {"authorization": f"Bearer {links['facilitator_token']}"}
    state = http(server, f"/api/rooms/{code}/export.json", headers=staff).json()
    vote = state["rounds"][1]
    assert vote["totals"] == {idea: 1} and "dots" not in vote
    anonymised = http(server, f"/api/rooms/{code}/export.json?anonymised=1", headers=staff).json()
    assert "Anaïs" not in json.dumps(anonymised)
    assert [i["text"] for i in anonymised["ideas"]] == ["a bus"]
    # The voter reads its own dots in its own data download.
    assert ana.token is not None
    own = http(server, f"/api/rooms/{code}/my-data", headers={"authorization": f"Bearer {ana.token}"})
    assert own.headers["content-disposition"] == f'attachment; filename="{code}-my-data.json"'
    assert own.json()["data"]["dots"] == [{"round": vote["id"], "target": "ideas", "dots": {idea: 1}}]


SERVER_SETTINGS = {"figures_interval": 0.2}


async def live_message(client: Client, kind: str, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
    """The first ``figures`` or ``progress`` message whose data satisfies ``predicate``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for message in client.other:
            if message.get("type") == kind and predicate(message["data"]):
                return message
        await asyncio.sleep(0.02)
    raise TimeoutError([m.get("type") for m in client.other])


async def figures_message(client: Client, predicate: Any) -> dict[str, Any]:
    return await live_message(client, "figures", predicate)


async def test_staff_get_the_figures_live_and_participants_never(
    server: ServerProcess, connect: Connect
) -> None:
    _, facilitator, ana = await ideate(server, connect, "Ana")
    await ana.ok("idea.post", text="one")
    first = await figures_message(facilitator, lambda f: f["ideas"] == 1)
    assert first["data"]["participation_rate"] == 1.0 and first["epoch"] == facilitator.epoch
    await ana.ok("idea.post", text="two")
    second = await figures_message(facilitator, lambda f: f["ideas"] == 2)
    assert second["seq"] > first["seq"]
    assert [m for m in ana.other if m.get("type") == "figures"] == []


async def test_staff_and_screens_get_the_progress_of_a_private_round_without_its_text(
    server: ServerProcess, connect: Connect
) -> None:
    """The room screen and the console show the counts; participants' phones are not sent them live
    (their snapshot has the progress as it was)."""
    links = create_room(server.url)
    code = links["room"]
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    screen = await connect(server)
    await screen.auth(links["screen_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?", private=True)
    ana, ben = await connect(server), await connect(server)
    await ana.join(code, "Ana")
    await ben.join(code, "Ben")
    await ana.ok("idea.post", text="a secret plan")
    await ana.ok("idea.post", text="another secret")
    seen = await live_message(screen, "progress", lambda p: p.get("ideas") == 2)
    assert seen["data"] == {"round": seen["data"]["round"], "participants": 2, "ideas": 2, "contributors": 1}
    await live_message(facilitator, "progress", lambda p: p.get("ideas") == 2)
    await ben.ok("idea.post", text="one more")  # one more change, and one more push, to come
    await live_message(screen, "progress", lambda p: p.get("ideas") == 3)
    for client in (ana, ben):
        await client.ok("ping")  # what was pushed to it before this reply has arrived
        assert [m for m in client.other if m.get("type") == "progress"] == []
    for client in (screen, ben):
        assert "secret" not in json.dumps(client.log)


async def test_a_screen_that_comes_later_has_the_progress_and_then_its_changes(
    server: ServerProcess, connect: Connect
) -> None:
    """While only participants are online the progress is neither computed nor pushed (nobody shows
    it); a room screen that comes then finds it current in its snapshot, and gets the next change."""
    links = create_room(server.url)
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Ideas?")
    ana = await connect(server)
    await ana.join(links["room"], "Ana")
    await facilitator.close()
    for text in ("one", "two"):
        await ana.ok("idea.post", text=text)
    await asyncio.sleep(1.5)  # the facilitator's absence known (presence_interval), figures_interval past
    screen = await connect(server)
    attached = await screen.auth(links["screen_token"])
    assert attached["snapshot"]["progress"]["ideas"] == 2
    await ana.ok("idea.post", text="three")
    await live_message(screen, "progress", lambda p: p.get("ideas") == 3)

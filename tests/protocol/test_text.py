"""Text that people actually type, through a real server, in JSON and in msgpack.

The corpus of ``tests/support/text_corpus.py`` goes through ``POST /api/rooms``, ``join``,
``round.open``, ``idea.post`` and ``idea.edit``: what the people wrote comes back to everyone as typed
(NFC); what is refused is refused with the documented code and a message naming the character. Lone
surrogates cannot be carried by UTF-8: a JSON ``\\ud800`` escape without its pair and a msgpack ``str``
that is not UTF-8 are ``bad_frame`` errors, and the connection stays usable. The server's log is checked
for tracebacks when the module's server stops.
"""

from __future__ import annotations

import json
import urllib.error
import uuid
from typing import Any

import msgpack
import pytest

from tests.protocol.conftest import Connect
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from tests.support.text_corpus import IDEAS, NAMES, REFUSED_NAMES, REFUSED_TEXTS, Refused

SERVER_SETTINGS = {
    "commands_per_second": 1000,
    "command_burst": 1000,
    "ip_commands_per_second": 1000,
    "ip_command_burst": 1000,
}
ENCODINGS = pytest.mark.parametrize("binary", [False, True], ids=["json", "msgpack"])
TITLE = "Atelier «\u202fmoins de réunions\u202f»\u202f: pourquoi pas\u202f? 🏳\ufe0f\u200d🌈"
FACILITATOR = ("Zoe\u0301 👩🏽\u200d💻", "Zoé 👩🏽\u200d💻")


async def usable(client: Client) -> None:
    reply = await client.call("ping")
    assert reply["type"] == "ok", reply
    assert client.close_code is None


async def raw_error(client: Client, frame: str | bytes) -> dict[str, Any]:
    """Send a raw frame; return the one error it got (before the reply to the ping that follows)."""
    start = len(client.log)
    await client.send_raw(frame)
    await usable(client)
    errors = [m for m in client.log[start:] if m.get("type") == "error"]
    assert len(errors) == 1, client.log[start:]
    return errors[0]


def join_fields(code: str, name: str) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex, "room": code, "name": name, "accept_rules": 1}


@ENCODINGS
async def test_the_corpus_comes_back_as_typed(server: ServerProcess, connect: Connect, binary: bool) -> None:
    links = create_room(server.url, title=TITLE, brief=IDEAS[-3].typed, facilitator_name=FACILITATOR[0])
    assert links["info"]["title"] == TITLE
    assert links["info"]["brief"] == IDEAS[-3].stored
    facilitator = await connect(server, binary=binary)
    assert (await facilitator.auth(links["facilitator_token"]))["member"]["name"] == FACILITATOR[1]
    prompt = IDEAS[0]
    opened = await facilitator.ok("round.open", kind="ideate", prompt=prompt.typed, private=False)
    assert opened["round"]["prompt"] == prompt.stored

    ana = await connect(server, binary=binary)
    await ana.join(links["room"], NAMES[2].typed)
    assert ana.member is not None and ana.member["name"] == NAMES[2].stored
    posted = []
    for sample in IDEAS:
        idea = (await ana.ok("idea.post", text=sample.typed))["idea"]
        assert idea["text"] == sample.stored, sample.label
        posted.append(idea["id"])
    last = posted[-1]
    await facilitator.wait_for(lambda e: e["name"] == "idea.posted" and e["data"]["idea"]["id"] == last)
    seen = [e["data"]["idea"] for e in facilitator.events if e["name"] == "idea.posted"]
    assert [i["text"] for i in seen] == [s.stored for s in IDEAS]
    assert {i["author_name"] for i in seen} == {NAMES[2].stored}

    # Edits: each idea gets the text of the next sample.
    for idea_id, sample in zip(posted, IDEAS[1:] + IDEAS[:1], strict=True):
        assert (await ana.ok("idea.edit", idea=idea_id, text=sample.typed))["idea"]["text"] == sample.stored
    await facilitator.wait_for(lambda e: e["name"] == "idea.edited" and e["data"]["idea"]["id"] == last)
    edited = [e["data"]["idea"]["text"] for e in facilitator.events if e["name"] == "idea.edited"]
    assert edited == [s.stored for s in IDEAS[1:] + IDEAS[:1]]

    for sample in REFUSED_TEXTS:
        if sample.surrogate:
            continue
        reply = await ana.fails("invalid_command", "idea.post", text=sample.typed)
        assert reply["message"] == f"the idea contains {sample.shown}, which is not allowed"
        reply = await ana.fails("invalid_command", "idea.edit", idea=posted[0], text=sample.typed)
        assert sample.shown in reply["message"]
    await usable(ana)


@ENCODINGS
async def test_names_come_back_as_typed(server: ServerProcess, connect: Connect, binary: bool) -> None:
    links = create_room(server.url, title="Names")
    for sample in NAMES:
        client = await connect(server, binary=binary)
        result = await client.join(links["room"], sample.typed)
        assert result["member"]["name"] == sample.stored, sample.label
        await client.close()

    client = await connect(server, binary=binary)
    for sample in REFUSED_NAMES:
        if sample.surrogate:
            continue
        reply = await client.fails("invalid_name", "join", **join_fields(links["room"], sample.typed))
        assert sample.shown in reply["message"], reply
    await usable(client)


@pytest.mark.parametrize("text", ["half \\ud83d an emoji", "\\udc00", "a\\ud800\\u0041"])
async def test_lone_surrogate_escapes_in_json_are_bad_frames(
    server: ServerProcess, connect: Connect, text: str
) -> None:
    """Python's json would decode these escapes to lone surrogates; the server's decoder refuses them,
    so they never reach the room."""
    assert any(0xD800 <= ord(ch) <= 0xDFFF for ch in json.loads(f'"{text}"'))
    links = create_room(server.url, title="Surrogates")
    client = await connect(server)
    await client.join(links["room"], "Ana")
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Go", private=False)

    frame = json.dumps({"type": "idea.post", "id": "s1", "text": "TEXT"}).replace('"TEXT"', f'"{text}"')
    error = await raw_error(client, frame)
    assert (error["code"], error["id"]) == ("bad_frame", None), error
    assert "surrogate" in error["message"]
    joiner = await connect(server)
    frame = json.dumps(join_fields(links["room"], "NAME")).replace('"NAME"', f'"{text}"')
    error = await raw_error(joiner, frame)
    assert (error["code"], error["id"]) == ("bad_frame", None), error
    # A surrogate pair is one character, and fine.
    reply = await client.request(json.loads('{"type": "idea.post", "text": "\\ud83d\\ude00 ok"}'))
    assert reply["type"] == "ok" and reply["result"]["idea"]["text"] == "😀 ok", reply
    await facilitator.wait_for("idea.posted")
    assert [e["name"] for e in facilitator.events].count("idea.posted") == 1


async def test_surrogates_in_msgpack_are_bad_frames(server: ServerProcess, connect: Connect) -> None:
    """msgpack can only carry them as a ``str`` that is not UTF-8: refused by the decoder."""
    links = create_room(server.url, title="Surrogates")
    client = await connect(server, binary=True)
    await client.join(links["room"], "Ana")
    facilitator = await connect(server)
    await facilitator.auth(links["facilitator_token"])
    await facilitator.ok("round.open", kind="ideate", prompt="Go", private=False)

    for text in ("half \ud83d an emoji", "\udc00", "\ud83d\ude00"):
        frame = msgpack.packb({"type": "idea.post", "id": "s1", "text": text}, unicode_errors="surrogatepass")
        error = await raw_error(client, frame)
        assert (error["code"], error["id"]) == ("bad_frame", None), error
    joiner = await connect(server, binary=True)
    frame = msgpack.packb(join_fields(links["room"], "Ann\udc00"), unicode_errors="surrogatepass")
    error = await raw_error(joiner, frame)
    assert (error["code"], error["id"]) == ("bad_frame", None), error
    assert (await client.ok("idea.post", text="😀 ok"))["idea"]["text"] == "😀 ok"
    await facilitator.wait_for("idea.posted")
    assert [e["name"] for e in facilitator.events].count("idea.posted") == 1


REFUSED_IN_ROOM_TEXTS = [s for s in REFUSED_TEXTS if s.label in ("bidi U+202E", "nul", "escape")]


@pytest.mark.parametrize("field", ["title", "brief", "rules"])
@pytest.mark.parametrize("sample", REFUSED_IN_ROOM_TEXTS, ids=lambda s: s.label)
def test_room_texts_name_the_refused_character(server: ServerProcess, field: str, sample: Refused) -> None:
    body = {"title": "T", field: f"Fine, then {sample.typed}"}
    with pytest.raises(urllib.error.HTTPError) as info:
        create_room(server.url, **body)
    assert info.value.code == 400
    error = json.loads(info.value.read())["error"]
    assert error["code"] == "invalid_command"
    assert error["message"].startswith(f"the {field} contains"), error
    assert error["message"].endswith(f"contains {sample.shown}, which is not allowed"), error

"""``protocol.md`` is the contract: it must name everything the code accepts and sends.

The lists are read from the code (the command models, the error tree, the close codes, the room core's
``_emit`` calls, the settings), so adding a command, an event, an error, a close code or a limit without
documenting it fails here. The checked-in ``protocol.schema.json`` must be the one the code generates.

The last section checks parts of the contract that were once broken: no command without a member, a
read-only room screen, no facilitator token for moderators, the subprotocol handshake, close reasons,
and resume after admission from the lobby.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import typing
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

import workshop_server.app  # noqa: F401  (imports every module that defines error classes)
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess
from workshop_server import errors, protocol, settings
from workshop_server.close_codes import CloseCode
from workshop_server.rooms import commands as c
from workshop_server.rooms import exports
from workshop_server.rooms import room as room_module
from workshop_server.rooms.events import EventName
from workshop_server.rooms.registry import REGISTRY
from workshop_server.rooms.room import Room
from workshop_server.rooms.state import IdeaStatus, Limits, RoomConfig
from workshop_server.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DOC_PATH = REPO / "protocol.md"
SCHEMA_PATH = REPO / "protocol.schema.json"
CONTRACT_PATH = REPO / "web" / "contract.js"
REGENERATE = "run `python scripts/gen_schema.py`"


# --- Reading protocol.md ------------------------------------------------------------------------------
def doc() -> str:
    return DOC_PATH.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the ``## <title>`` section, up to the next ``## `` heading."""
    text = doc()
    match = re.search(rf"^## {re.escape(title)}[ \t]*$", text, flags=re.MULTILINE)
    assert match is not None, f"protocol.md has no '## {title}' section"
    rest = text[match.end() :]
    end = re.search(r"^## ", rest, flags=re.MULTILINE)
    return rest if end is None else rest[: end.start()]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``text`` (separator rows left out)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or re.fullmatch(r"\|[\s:|-]+\|", line):
            continue
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def first_code_span(cell: str) -> str | None:
    match = re.match(r"`([^`]+)`", cell)
    return None if match is None else match.group(1)


def headed_names(text: str, level: str = "###") -> set[str]:
    """Names given as ``### `name``` headings in ``text``."""
    return set(re.findall(rf"^{level} `([^`]+)`[ \t]*$", text, flags=re.MULTILINE))


def documented_names(text: str) -> set[str]:
    """Names documented as a heading or as the first cell of a table row, in backquotes."""
    rows = {first_code_span(row[0]) for row in table_rows(text)}
    return headed_names(text) | {name for name in rows if name is not None}


def fenced_blocks(info: str) -> Iterator[str]:
    """The bodies of the fenced code blocks whose info string is exactly ``info``."""
    for match in re.finditer(
        rf"^```{re.escape(info)}[ \t]*\n(.*?)^```", doc(), flags=re.MULTILINE | re.DOTALL
    ):
        yield match.group(1)


# --- (a) The JSON Schema -----------------------------------------------------------------------------
def test_the_checked_in_schema_is_the_generated_one() -> None:
    assert SCHEMA_PATH.exists(), f"protocol.schema.json is missing: {REGENERATE}"
    assert SCHEMA_PATH.read_text(encoding="utf-8") == protocol.json_schema_text(), (
        f"protocol.schema.json differs from workshop_server.protocol.json_schema_text(): {REGENERATE}"
    )


def test_the_web_apps_registries_are_generated_from_the_code() -> None:
    """The web app keeps no copy of the room core's lists by hand: it imports them from
    ``web/contract.js``, which is the generated one."""
    assert CONTRACT_PATH.exists(), f"web/contract.js is missing: {REGENERATE}"
    assert CONTRACT_PATH.read_text(encoding="utf-8") == protocol.web_contract_text(), (
        f"web/contract.js differs from workshop_server.protocol.web_contract_text(): {REGENERATE}"
    )
    assert set(protocol.ROUND_BOUND) == {
        cls.type_name() for cls in c.Command.__subclasses__() if "round" in cls.model_fields
    }
    for path in (REPO / "web").rglob("*.js"):
        if path == CONTRACT_PATH:
            continue
        source = path.read_text(encoding="utf-8")
        # A hand-kept list of command types or of statuses: an array literal of them.
        for array in re.findall(r"\[\s*\"[^\]]*\]", source):
            items = set(re.findall(r'"([^"]+)"', array))
            for kind, known in (
                ("commands", protocol.COMMAND_TYPES),
                ("statuses", {str(s.value) for s in IdeaStatus}),
            ):
                assert len(items & known) < 3, f"{path.name} keeps a list of {kind} by hand: {array[:80]}"


def test_the_schema_names_every_event() -> None:
    """The event envelope's ``name`` is the registry's enumeration, not any string: a client generated
    from the schema knows every event, and one the server does not send fails validation."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    name = schema["$defs"]["EventMessage"]["properties"]["name"]
    enum = schema["$defs"][name["$ref"].rsplit("/", 1)[1]]["enum"] if "$ref" in name else name.get("enum")
    assert enum == [str(e.value) for e in EventName]


def test_the_schema_describes_every_command() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    described = {
        definition["properties"]["type"]["const"]
        for definition in schema["$defs"].values()
        if "const" in definition.get("properties", {}).get("type", {})
    }
    assert described >= protocol.COMMAND_TYPES, (
        f"not in the schema: {sorted(protocol.COMMAND_TYPES - described)}"
    )


def test_the_schema_describes_every_server_message_of_the_messages_section() -> None:
    """Each ``### `type``` of Messages (hello, ok, error, event, snapshot) is a server message of the
    schema, and protocol.md never says that one is missing from it."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    refs = [one["$ref"].rsplit("/", 1)[1] for one in schema["properties"]["server_to_client"]["anyOf"]]
    described = {schema["$defs"][ref]["properties"]["type"]["const"] for ref in refs}
    documented = headed_names(section("Messages"))
    assert documented == described, f"Messages headings {sorted(documented)}, schema {sorted(described)}"
    assert "not in `protocol.schema.json`" not in doc()


# --- (b) Commands ---------------------------------------------------------------------------------------
def test_every_command_type_is_documented() -> None:
    documented = headed_names(section("Commands"))
    missing = sorted(protocol.COMMAND_TYPES - documented)
    assert not missing, (
        f"commands without a '### `type`' heading in protocol.md's Commands section: {missing}"
    )


def test_the_commands_section_documents_no_command_that_does_not_exist() -> None:
    stale = sorted(headed_names(section("Commands")) - protocol.COMMAND_TYPES)
    assert not stale, f"protocol.md documents commands the server does not accept: {stale}"


def test_the_permission_table_matches_the_room_core() -> None:
    """Each role's 'yes' in the table of protocol.md is exactly what ``PERMISSIONS`` allows."""
    roles = ["facilitator", "moderator", "participant", "screen"]
    allowed: dict[str, set[str]] = {role: set() for role in roles}
    table = [row for row in table_rows(section("Commands")) if len(row) == 6 and row[0] != "Command group"]
    assert table, "protocol.md's Commands section has no permission table"
    for row in table:
        if row[0] == "session":
            continue
        names = set(re.findall(r"`([^`]+)`", row[1]))
        for role, cell in zip(roles, row[2:], strict=True):
            if cell == "yes":
                allowed[role] |= names
    for role in roles:
        expected = {cls.type_name() for cls in room_module.PERMISSIONS[role]}
        assert allowed[role] == expected, f"{role}: protocol.md says {sorted(allowed[role])}"


def permission_groups() -> dict[str, set[str]]:
    """The permission table's groups: each group's name (``replies, jury`` gives two) -> its commands."""
    groups: dict[str, set[str]] = {}
    for row in table_rows(section("Commands")):
        if len(row) == 6 and row[0] != "Command group" and row[0] != "session":
            for name in row[0].split(", "):
                groups.setdefault(name, set()).update(re.findall(r"`([^`]+)`", row[1]))
    return groups


def test_the_commands_accepted_after_the_session_end_are_those_protocol_md_names() -> None:
    """ "Errors every command can get" names the groups (and commands) that go on after ``session.end``;
    they are exactly those the registry accepts once the session has ended (``after_end``), and the
    commands it refuses with ``muted`` are those the registry silences. ``session.end`` says the same."""
    text = " ".join(section("Commands").split())
    match = re.search(r"once the session has ended \(every command except the (.*?) groups and (.*?):", text)
    assert match is not None, "protocol.md no longer says which commands go on after session.end"
    groups = permission_groups()
    named = [name for part in match.group(1).split(", ") for name in part.split(" and ")]
    unknown = [name for name in named if name not in groups]
    assert not unknown, f"not groups of the permission table: {unknown}"
    documented = {cmd for name in named for cmd in groups[name]} | set(
        re.findall(r"`([^`]+)`", match.group(2))
    )
    clients = {reg.command.type_name(): reg for reg in REGISTRY.values() if reg.roles}
    after_end = {name for name, reg in clients.items() if reg.after_end}
    assert documented == after_end, (
        f"accepted after session.end but not named: {sorted(after_end - documented)}; "
        f"named but refused: {sorted(documented - after_end)}"
    )
    silenced = {name for name, reg in clients.items() if reg.silenced}
    muted = re.search(r"`muted` \(a muted member sent (.*?)\)", text)
    assert muted is not None and set(re.findall(r"`([^`]+)`", muted.group(1))) == silenced
    mute = " ".join(command_sections()["member.mute"].split())
    assert set(re.findall(r"`([a-z]+\.[a-z_]+)`", mute.split("are refused with `muted`")[0])) == silenced, (
        "member.mute does not name every command a muted member is refused"
    )
    end = " ".join(command_sections()["session.end"].split())
    assert "every command but the moderation group" not in end


def command_sections() -> dict[str, str]:
    """The text under each ``### `type``` heading of the Commands section."""
    parts = re.split(r"^### `([^`]+)`[ \t]*$", section("Commands"), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_field_tables_of_the_commands_match_the_models() -> None:
    """Each command's table names exactly its fields, and says "yes" in Required exactly for the fields
    the schema requires (a join without ``accept_rules`` is valid: it is refused by the room instead)."""
    models = {cls.type_name(): cls for cls in c.Command.__subclasses__()}
    problems = []
    for name, body in command_sections().items():
        model = models[name]
        fields = set(model.model_fields) - {"type"}
        rows = table_rows(body)
        if not rows:
            if fields - {"id"}:
                problems.append(f"{name}: fields {sorted(fields - {'id'})} but no table")
            continue
        assert rows[0][:3] == ["Field", "Type", "Required"], (name, rows[0])
        required = {first_code_span(row[0]): row[2].startswith("yes") for row in rows[1:]}
        if set(required) | {"id"} != fields | {"id"}:
            problems.append(f"{name}: the table names {sorted(required)}, the model {sorted(fields)}")
        for field, yes in required.items():
            if field is not None and yes != model.model_fields[field].is_required():
                problems.append(f"{name}.{field}: Required says {'yes' if yes else 'no'}")
        for row in rows[1:]:  # "or null" in Type exactly for the fields that take null
            field = first_code_span(row[0])
            if field is None or field == "id":
                continue
            nullable = type(None) in typing.get_args(model.model_fields[field].annotation)
            if nullable != row[1].endswith("or null"):
                problems.append(
                    f"{name}.{field}: Type says {row[1]!r}, null {'is' if nullable else 'is not'} accepted"
                )
    assert not problems, "; ".join(problems)


# --- (c) Errors and close codes -------------------------------------------------------------------------
def error_rows() -> dict[str, list[str]]:
    return {
        code: row for row in table_rows(section("Errors")) if (code := first_code_span(row[0])) is not None
    }


def test_every_error_code_is_in_the_error_table() -> None:
    rows = error_rows()
    missing = sorted(set(errors.all_error_codes()) - set(rows))
    assert not missing, f"error codes missing from protocol.md's Errors table: {missing}"
    stale = sorted(set(rows) - set(errors.all_error_codes()))
    assert not stale, f"protocol.md's Errors table lists codes the server never sends: {stale}"


def test_the_error_table_says_which_codes_are_temporary() -> None:
    rows = error_rows()
    for code in errors.all_error_codes():
        flags = {cls.temporary for cls in errors.all_error_classes() if cls.code == code}
        cell = rows[code][2].lower()
        if flags == {True}:
            assert cell.startswith("yes"), f"{code} is temporary; protocol.md says {cell!r}"
        elif flags == {False}:
            assert cell.startswith("no"), f"{code} is never temporary; protocol.md says {cell!r}"
        else:
            assert not cell.startswith(("yes", "no")), (
                f"{code} is sometimes temporary; protocol.md says {cell!r}"
            )


def close_rows() -> dict[int, list[str]]:
    return {int(row[0]): row for row in table_rows(section("Close codes")) if row[0].isdigit()}


def test_every_close_code_is_in_the_close_code_table() -> None:
    rows = close_rows()
    missing = sorted(int(code) for code in CloseCode if int(code) not in rows)
    assert not missing, f"close codes missing from protocol.md's Close codes table: {missing}"
    for code in CloseCode:  # with its name, standard codes too
        assert f"`{code.name}`" in rows[int(code)][1], f"{int(code)}: the name should be `{code.name}`"


def test_the_server_sends_no_close_code_that_is_not_in_the_registry() -> None:
    """Every close code the server sends is a ``CloseCode`` (so protocol.md's table, checked above, has
    it): no bare number is passed to a close."""
    found = []
    for path in sorted((REPO / "workshop_server").rglob("*.py")):
        if path.name == "close_codes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if not re.search("close|refuse", name, re.IGNORECASE):
                continue
            for arg in [*node.args, *(keyword.value for keyword in node.keywords)]:
                if isinstance(arg, ast.Constant) and type(arg.value) is int and 1000 <= arg.value < 5000:
                    found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)[:80]}")
    assert not found, "close codes sent as bare numbers:\n" + "\n".join(found)


def test_the_close_code_table_says_reconnect_or_terminal() -> None:
    rows = close_rows()
    for code in CloseCode:
        if code < 4000:
            continue
        action = rows[int(code)][-1]
        word = "Reconnect" if code.reconnect else "Terminal"
        assert action.startswith(word), f"{int(code)} {code.name}: the action should start with {word!r}"
        assert f"`{code.name}`" in rows[int(code)][1], f"{int(code)}: the name should be `{code.name}`"


# --- (d) Events -------------------------------------------------------------------------------------------
def emitted_event_names() -> set[str]:
    """Every event name the room core can emit: the registry ``rooms.events.EventName``."""
    return {str(name.value) for name in EventName}


def test_every_registered_event_name_is_emitted_by_a_concern() -> None:
    """The registry holds no dead names: each one is emitted (``EventName.X``) in a concern module."""
    sources = "".join(inspect.getsource(module) for module in room_module.CONCERNS)
    unused = [name.name for name in EventName if f"EventName.{name.name}" not in sources]
    assert not unused, f"event names no concern module emits: {unused}"


def test_the_event_scan_finds_the_events() -> None:
    names = emitted_event_names()
    # A scan that finds nothing would make the next test pass vacuously.
    assert {"round.opened", "round.paused", "member.muted", "idea.hidden", "member.joined"} <= names
    assert len(names) >= 20, sorted(names)


def test_every_event_the_room_core_emits_is_documented() -> None:
    events = section("Events")
    documented = documented_names(events)
    missing = sorted(emitted_event_names() - documented)
    assert not missing, (
        f"events without a '### `name`' heading or a table row in protocol.md's Events section: {missing}"
    )
    assert re.search(r"^### The `snapshot` message", events, flags=re.MULTILINE), "the snapshot message"
    assert re.search(r"^### `snapshot`", section("Messages"), flags=re.MULTILINE), "the snapshot envelope"


def test_the_events_section_documents_no_event_that_does_not_exist() -> None:
    stale = sorted(headed_names(section("Events")) - emitted_event_names())
    assert not stale, f"protocol.md documents events the room never emits: {stale}"


# --- (e) Limits -----------------------------------------------------------------------------------------
LIMIT_NAME = re.compile(r"^max_|_max$|_burst$|_per_|_timeout$|_interval$|_before_close$")


def limit_fields() -> list[str]:
    """The settings that are limits: the fields of the Limits and Timing sections of ``settings.py``,
    and every field whose name says it is one (``max_rooms``...)."""
    lines = inspect.getsource(settings).splitlines()
    start = next((n for n, line in enumerate(lines, 1) if re.match(r"\s*# --- Limits", line)), None)
    end = next((n for n, line in enumerate(lines, 1) if re.match(r"\s*# --- Validators", line)), None)
    in_sections: set[str] = set()
    if start is not None and end is not None:
        tree = ast.parse("\n".join(lines))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == "Settings":
                for item in node.body:
                    if (
                        isinstance(item, ast.AnnAssign)
                        and isinstance(item.target, ast.Name)
                        and start < item.lineno < end
                    ):
                        in_sections.add(item.target.id)
    by_name = {name for name in Settings.model_fields if LIMIT_NAME.search(name)}
    fields = sorted((in_sections & set(Settings.model_fields)) | by_name)
    assert len(fields) >= 15, f"the limit scan of settings.py found too few fields: {fields}"
    return fields


def test_every_limit_setting_is_in_the_limits_table() -> None:
    rows = {
        name: row for row in table_rows(section("Limits")) if (name := first_code_span(row[0])) is not None
    }
    problems = []
    for name in limit_fields():
        row = rows.get(name)
        env = f"WORKSHOP_{name.upper()}"
        if row is None:
            problems.append(f"{name}: no row")
            continue
        if len(row) < 4 or row[1] != f"`{env}`":
            problems.append(f"{name}: the environment variable column should be `{env}`")
            continue
        default = Settings.model_fields[name].default
        if isinstance(default, bool):  # a switch: `true` or `false`
            if row[2] != str(default).lower():
                problems.append(f"{name}: the default is {default}, protocol.md says {row[2]!r}")
            continue
        number = re.match(r"-?\d+(\.\d+)?", row[2])
        if number is None or float(number.group()) != float(default):
            problems.append(f"{name}: the default is {default}, protocol.md says {row[2]!r}")
    assert not problems, "protocol.md's Limits table: " + "; ".join(problems)


async def test_the_limits_sent_in_hello_are_documented(live_server: ServerProcess) -> None:
    client = await Client.connect(live_server.ws_url)
    await client.close()
    sent = set(client.hello["limits"])
    rows = {first_code_span(row[0]) for row in table_rows(section("Limits"))}
    assert sent <= rows, f"hello.limits not in protocol.md's Limits table: {sorted(sent - rows)}"
    example = json.loads(next(fenced_blocks("json server")))
    assert example["type"] == "hello" and set(example["limits"]) == sent, "the hello example in Messages"
    hello = section("Messages").split("### `hello`", 1)[1].split("\n### ", 1)[0]
    keys = {first_code_span(row[0]) for row in table_rows(hello)} - {None}
    assert keys == sent, f"the table of hello.limits in Messages: {sorted(keys ^ sent)}"
    worked = [
        json.loads(body)
        for body in fenced_blocks("json server")
        if body in section("Worked example") and '"type": "hello"' in body
    ]
    assert [set(m["limits"]) for m in worked] == [sent], "the hello of the worked example"


# --- The examples -----------------------------------------------------------------------------------------
def test_every_client_example_is_a_valid_command() -> None:
    blocks = list(fenced_blocks("json client"))
    assert len(blocks) >= 10
    for body in blocks:
        message = json.loads(body)
        protocol.parse_command(message)  # raises with the field at fault


def test_every_server_example_is_a_known_message() -> None:
    events = emitted_event_names()
    blocks = list(fenced_blocks("json server"))
    assert len(blocks) >= 10
    for body in blocks:
        value: Any = json.loads(body)
        for message in value if isinstance(value, list) else [value]:
            assert message["type"] in {"hello", "ok", "error", "event", "snapshot"}, message
            if message["type"] == "event":
                assert message["name"] in events, message["name"]
            if message["type"] == "error":
                assert message["code"] in errors.all_error_codes(), message["code"]


def test_the_ping_reply_of_the_worked_example_carries_the_seq_delivered_so_far() -> None:
    """A ``ping`` is answered with the room seq up to which events were delivered to the connection:
    in the worked example, the greatest seq shown before it."""
    example = section("Worked example")
    blocks = list(
        re.finditer(r"^```json (client|server)[ \t]*\n(.*?)^```", example, re.MULTILINE | re.DOTALL)
    )
    pings = [
        n for n, m in enumerate(blocks) if m.group(1) == "client" and json.loads(m.group(2))["type"] == "ping"
    ]
    assert pings, "the worked example has no ping"
    for n in pings:
        cid = json.loads(blocks[n].group(2))["id"]
        reply = json.loads(blocks[n + 1].group(2))
        assert (reply["type"], reply["id"]) == ("ok", cid)
        seen = [
            int(x)
            for m in blocks[:n]
            if m.group(1) == "server"
            for x in re.findall(r'"seq": (\d+)', m.group(2))
        ]
        assert reply["seq"] == max(seen), f"the ping reply says seq {reply['seq']}; {max(seen)} was delivered"


def test_the_worked_example_covers_a_whole_session() -> None:
    example = section("Worked example")
    for needed in (
        "POST /api/rooms",
        '"type": "auth"',
        '"type": "join"',
        '"type": "idea.post"',
        '"name": "vote.results"',
        '"recovered": true',
    ):
        assert needed in example, needed


# --- Contract checks on access, tokens, handshakes and resume ---------------------------------------------
def core_room() -> Room:
    return Room.create("ROOM42", RoomConfig(title="t", rules="r"), now=1_000_000.0, limits=Limits())


def test_the_keys_of_the_json_export_are_those_protocol_md_lists() -> None:
    """A newcomer reading ``export.json`` finds the top-level keys the HTTP API section names."""
    text = section("HTTP API").split("### `GET /api/rooms/{code}/export.json`", 1)[1]
    match = re.search(r"is the room's internal state: `\{([^}]*)\}`", text)
    assert match is not None, "protocol.md no longer lists the keys of export.json"
    documented = {key.strip() for key in match.group(1).split(",")}
    sent = set(exports.state_export(core_room()))
    assert documented == sent, (
        f"not documented: {sorted(sent - documented)}; not sent: {sorted(documented - sent)}"
    )


@pytest.mark.parametrize(
    "cmd",
    [
        c.RoundOpen(id="x1", kind="ideate", prompt="p"),
        c.SessionEnd(id="x2"),
        c.RoomSet(id="x3", locked=True),
    ],
    ids=lambda cmd: type(cmd).type_name(),
)
def test_the_room_core_refuses_client_commands_without_an_actor(cmd: c.Command) -> None:
    room = core_room()
    outcome = room.handle(cmd, None, 1_000_001.0)
    assert outcome.error is not None and outcome.error.code in ("forbidden", "not_joined")
    assert not outcome.events


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("protocol-doc") / "data") as server:
        yield server


async def test_a_room_screen_is_read_only(live_server: ServerProcess) -> None:
    links = create_room(live_server.url)
    screen = await Client.connect(live_server.ws_url)
    try:
        await screen.auth(links["screen_token"])
        await screen.fails("forbidden", "round.open", kind="ideate", prompt="from the screen")
    finally:
        await screen.close()


async def test_a_moderator_never_receives_the_facilitator_token(live_server: ServerProcess) -> None:
    links = create_room(live_server.url)
    moderator = await Client.connect(live_server.ws_url)
    try:
        result = await moderator.join(links["room"], "Mo", invite=links["moderator_invite"])
        assert result["role"] == "moderator"
        assert links["facilitator_token"] not in json.dumps(result)
    finally:
        await moderator.close()


async def test_unknown_subprotocols_get_json_without_a_subprotocol(live_server: ServerProcess) -> None:
    async with websockets.connect(live_server.ws_url, subprotocols=["chat.v2"]) as ws:  # type: ignore[list-item]
        hello = json.loads(await ws.recv())
        assert ws.subprotocol is None
        assert hello["type"] == "hello"


async def test_a_removal_with_a_long_non_ascii_reason_closes_with_4100(live_server: ServerProcess) -> None:
    links = create_room(live_server.url)
    facilitator = await Client.connect(live_server.ws_url)
    participant = await Client.connect(live_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        joined = await participant.join(links["room"], "Zoë")
        await facilitator.ok("member.remove", member=joined["member"]["id"], reason="é" * 100)
        assert await participant.wait_closed() == CloseCode.REMOVED
    finally:
        await facilitator.close()
        await participant.close()


async def test_a_member_admitted_while_offline_gets_a_snapshot_on_resume(live_server: ServerProcess) -> None:
    links = create_room(live_server.url, access="approval")
    facilitator = await Client.connect(live_server.ws_url)
    lobby = await Client.connect(live_server.ws_url)
    back = await Client.connect(live_server.ws_url)
    try:
        await facilitator.auth(links["facilitator_token"])
        await facilitator.ok("round.open", kind="ideate", prompt="Before you came", private=False)
        waiting = await lobby.join(links["room"], "Wes")
        assert waiting["audience"] == "lobby"
        await lobby.close()
        await facilitator.ok("member.admit", member=waiting["member"]["id"])
        result = await back.auth(waiting["token"], epoch=waiting["epoch"], seq=waiting["seq"])
        assert result["recovered"] is False
        assert result["snapshot"]["current_round"] is not None
    finally:
        for client in (facilitator, lobby, back):
            if client.close_code is None:
                await client.close()


def test_join_ids_are_long_random_strings_in_the_examples() -> None:
    """The documented rule for join ids holds in the examples (so nobody copies a bad one)."""
    for body in fenced_blocks("json client"):
        message = json.loads(body)
        if message["type"] == "join":
            assert len(message["id"]) >= 16
            uuid.UUID(message["id"])  # 128 random bits in hex

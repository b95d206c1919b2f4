"""The wire protocol: subprotocols, codecs, envelopes and the JSON Schema (see ``protocol.md``).

A frame carries one message object, or (server to client only) an array of message objects that the
server coalesced into one frame. JSON travels in text frames, msgpack in binary frames.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgpack
import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from workshop_server import errors
from workshop_server.rooms import CLIENT_COMMANDS, ClientCommand, EventName
from workshop_server.rooms.commands import Command
from workshop_server.rooms.followup_views import DECISIONS
from workshop_server.rooms.state import STATUS_TRANSITIONS, IdeaStatus

PROTOCOL_VERSION = 1
SUBPROTOCOL_JSON = "workshop.v1.json"
SUBPROTOCOL_MSGPACK = "workshop.v1.msgpack"
SUBPROTOCOLS = (SUBPROTOCOL_JSON, SUBPROTOCOL_MSGPACK)

Message = dict[str, Any]


class Codec:
    """Decodes client frames and encodes server messages for one encoding."""

    name: str
    subprotocol: str
    binary: bool

    def decode(self, frame: str | bytes) -> Message:
        raise NotImplementedError

    def encode(self, message: Message) -> str | bytes:
        raise NotImplementedError

    def join(self, frames: list[str | bytes]) -> str | bytes:
        """Coalesce already-encoded messages into one frame holding an array of them."""
        raise NotImplementedError


class JsonCodec(Codec):
    name = "json"
    subprotocol = SUBPROTOCOL_JSON
    binary = False

    def decode(self, frame: str | bytes) -> Message:
        if isinstance(frame, bytes):
            raise errors.BadFrame("this connection speaks JSON in text frames; got a binary frame")
        try:
            value = orjson.loads(frame)
        except orjson.JSONDecodeError as exc:
            raise errors.BadFrame(f"invalid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise errors.BadFrame("a message is a JSON object")
        return value

    def encode(self, message: Message) -> str:
        return orjson.dumps(message).decode()

    def join(self, frames: list[str | bytes]) -> str:
        return "[" + ",".join(f for f in frames if isinstance(f, str)) + "]"


class MsgpackCodec(Codec):
    name = "msgpack"
    subprotocol = SUBPROTOCOL_MSGPACK
    binary = True

    def decode(self, frame: str | bytes) -> Message:
        if isinstance(frame, str):
            raise errors.BadFrame("this connection speaks msgpack in binary frames; got a text frame")
        try:
            value = msgpack.unpackb(frame, raw=False, strict_map_key=True)
        except Exception as exc:  # msgpack raises many unrelated types for bad input
            raise errors.BadFrame(f"invalid msgpack: {type(exc).__name__}") from None
        if not isinstance(value, dict):
            raise errors.BadFrame("a message is a msgpack map")
        return value

    def encode(self, message: Message) -> bytes:
        return msgpack.packb(message, use_bin_type=True)  # type: ignore[no-any-return]

    def join(self, frames: list[str | bytes]) -> bytes:
        n = len(frames)
        if n < 16:
            header = bytes([0x90 | n])
        elif n < 65536:
            header = b"\xdc" + n.to_bytes(2, "big")
        else:
            header = b"\xdd" + n.to_bytes(4, "big")
        return header + b"".join(f for f in frames if isinstance(f, bytes))


CODECS: dict[str, Codec] = {SUBPROTOCOL_JSON: JsonCodec(), SUBPROTOCOL_MSGPACK: MsgpackCodec()}


def choose_codec(offered: list[str]) -> Codec:
    """The first subprotocol the client offers that we speak; JSON when it offers none we know."""
    for name in offered:
        if name in CODECS:
            return CODECS[name]
    return CODECS[SUBPROTOCOL_JSON]


_command_adapter: TypeAdapter[Command] = TypeAdapter(ClientCommand)
#: Every command type a client may send, derived from the room core's handler registry.
COMMAND_TYPES: frozenset[str] = frozenset(cls.type_name() for cls in CLIENT_COMMANDS)
#: Each command type's fields, and the longest list or map each field accepts: checked before the
#: model, so that a frame of thousands of unknown fields or entries is refused at the cost of a dict
#: lookup per key, not of one validation error built per key.
_FIELDS: dict[str, frozenset[str]] = {cls.type_name(): frozenset(cls.model_fields) for cls in CLIENT_COMMANDS}
_MAX_ITEMS: dict[str, dict[str, int]] = {
    cls.type_name(): {
        name: bound
        for name, info in cls.model_fields.items()
        for bound in [min((m.max_length for m in info.metadata if getattr(m, "max_length", None)), default=0)]
        if bound
    }
    for cls in CLIENT_COMMANDS
}


def _bounded(kind: str, message: Message) -> tuple[Message, object]:
    """``message`` without its unknown keys and with every list or map cut to one item more than its
    field allows, and its first unknown key (None when there is none). Validating that costs at most
    what a valid command costs, whatever the frame holds: a frame of thousands of unknown fields or
    entries would otherwise build one validation error per key (milliseconds per frame)."""
    fields, bounds = _FIELDS[kind], _MAX_ITEMS[kind]
    unknown = next((key for key in message if key not in fields), None)
    cut = [
        name
        for name, bound in bounds.items()
        if isinstance(message.get(name), list | dict) and len(message[name]) > bound
    ]
    if unknown is None and not cut:
        return message, None
    bounded = {key: value for key, value in message.items() if key in fields}
    for name in cut:
        value, keep = bounded[name], bounds[name] + 1
        bounded[name] = value[:keep] if isinstance(value, list) else dict(list(value.items())[:keep])
    return bounded, unknown


def parse_command(message: Message) -> Command:
    """Validate a decoded message into a command, or raise a protocol error naming the problem."""
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in COMMAND_TYPES:
        shown = repr(kind[:40]) if isinstance(kind, str) else f"of type {type(kind).__name__}"
        raise errors.UnknownCommand(f"unknown command type {shown}")
    bounded, unknown = _bounded(kind, message)
    try:
        command = _command_adapter.validate_python(bounded)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "message"
        raise errors.InvalidCommand(f"{kind}: {where}: {first['msg']}") from None
    if unknown is not None:  # the known fields are valid: the unknown key is what is wrong
        if not isinstance(unknown, str):
            raise errors.InvalidCommand(f"{kind}: {unknown!r:.40}: Keys should be strings")
        raise errors.InvalidCommand(f"{kind}: {unknown[:40]}: Extra inputs are not permitted")
    return command


def message_id(message: Message) -> str | None:
    cid = message.get("id")
    return cid if isinstance(cid, str) and 0 < len(cid) <= 64 else None


# --- Server to client envelopes ----------------------------------------------------------------------
class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hello(_Envelope):
    """First message on every connection."""

    type: Literal["hello"] = "hello"
    protocol: int = PROTOCOL_VERSION
    server_time: float = Field(description="Server clock, Unix seconds; use it to correct countdowns.")
    worker: str = Field(
        default="", description="The server process holding this connection (host:pid:random)."
    )
    limits: dict[str, float] = Field(description="The limits in force; see protocol.md, Limits.")


class Ok(_Envelope):
    """The reply to a command that was applied (or a resend of one: same result)."""

    type: Literal["ok"] = "ok"
    id: str
    result: dict[str, Any]
    seq: int = Field(description="Room seq once the command was applied; its events have seq <= this.")
    server_time: float


class Error(_Envelope):
    """The reply to a command that was refused; nothing was applied. ``id`` is null for a frame
    that could not be read far enough to find its id."""

    type: Literal["error"] = "error"
    id: str | None
    code: str = Field(
        description="The error code: protocol.md's table of errors.",
        json_schema_extra={"enum": list(errors.CODES)},
    )
    message: str
    temporary: bool
    retry_after: float | None = Field(
        default=None, description="rate_limited only (and then not always): seconds to wait before resending."
    )


class EventMessage(_Envelope):
    """Something happened in the room. ``data`` is the view of the event this viewer may see."""

    type: Literal["event"] = "event"
    epoch: str
    seq: int
    name: EventName = Field(description="The event's name: one of the room core's registry of events.")
    at: float
    data: dict[str, Any]


class SnapshotMessage(_Envelope):
    """A fresh view of the room for this connection, replacing what it had (sent after admission
    from the lobby). Events with seq <= ``seq`` are included in it."""

    type: Literal["snapshot"] = "snapshot"
    epoch: str
    seq: int
    state: dict[str, Any]


class FiguresMessage(_Envelope):
    """The room's figures (KPIs), pushed to staff connections while the room changes, at most once per
    ``figures_interval`` seconds. Not an event: it has no seq, is not journaled nor replayed; a
    connection that (re)attaches gets the next one, or asks ``GET /api/rooms/{code}/figures``."""

    type: Literal["figures"] = "figures"
    epoch: str
    seq: int = Field(description="The room's seq the figures were computed at.")
    data: dict[str, Any]


class ProgressMessage(_Envelope):
    """The current round's progress, without any text, pushed to staff connections and room screens
    (not to participants) when it changes, at most once per ``figures_interval`` seconds: ideas posted
    (private ones counted, never shown) or how many have voted. Not an event; the snapshot's
    ``progress`` has it too."""

    type: Literal["progress"] = "progress"
    epoch: str
    seq: int
    data: dict[str, Any]


ServerMessage = Hello | Ok | Error | EventMessage | SnapshotMessage | FiguresMessage | ProgressMessage


def ok(cid: str, result: Message, seq: int, now: float) -> Message:
    return {"type": "ok", "id": cid, "result": result, "seq": seq, "server_time": now}


def error(cid: str | None, exc: errors.WorkshopError) -> Message:
    return {"type": "error", "id": cid, **exc.to_dict()}


def progress(epoch: str, seq: int, data: Message) -> Message:
    return {"type": "progress", "epoch": epoch, "seq": seq, "data": data}


def figures(epoch: str, seq: int, data: Message) -> Message:
    return {"type": "figures", "epoch": epoch, "seq": seq, "data": data}


def event(epoch: str, seq: int, name: str, at: float, data: Message) -> Message:
    return {"type": "event", "epoch": epoch, "seq": seq, "name": name, "at": at, "data": data}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of every client command and every server envelope."""
    client = TypeAdapter(ClientCommand).json_schema(ref_template="#/$defs/{model}")
    server = TypeAdapter(ServerMessage).json_schema(ref_template="#/$defs/{model}")
    defs = {**client.pop("$defs", {}), **server.pop("$defs", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"Workshop server protocol v{PROTOCOL_VERSION}",
        "$defs": defs,
        "properties": {"client_to_server": client, "server_to_client": server},
    }


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


#: Commands bound to the round they were made in (they have a ``round`` field): the web app fills it in,
#: so that a command queued offline is refused (``round_closed``) rather than applied to a later round.
ROUND_BOUND: tuple[str, ...] = tuple(
    cls.type_name() for cls in CLIENT_COMMANDS if "round" in cls.model_fields
)


def web_contract() -> dict[str, Any]:
    """What the web app needs to know of the room core's registries, so that it keeps no copy by hand."""
    return {
        "ROUND_BOUND": list(ROUND_BOUND),
        "STATUSES": [str(s.value) for s in IdeaStatus],
        "STATUS_TRANSITIONS": {
            str(s.value): [str(t.value) for t in IdeaStatus if t in STATUS_TRANSITIONS[s]] for s in IdeaStatus
        },
        "DECISIONS": [str(s.value) for s in IdeaStatus if s in DECISIONS],
    }


def web_contract_text() -> str:
    """``web/contract.js``: :func:`web_contract` as an ES module (written by ``scripts/gen_schema.py``)."""
    lines = [
        "// Generated by scripts/gen_schema.py from the server's registries (protocol.web_contract).",
        "// Do not edit by hand: tests/test_protocol_doc.py fails when it differs from the code.",
        "",
    ]
    for name, value in web_contract().items():
        lines.append(f"export const {name} = Object.freeze({json.dumps(value)});")
    return "\n".join(lines) + "\n"

"""The one exception tree of the workshop server.

Every error a client can see is a subclass of :class:`WorkshopError`. Its ``code`` is the protocol's
error code (see ``protocol.md``), ``temporary`` tells a client whether retrying the same command later
may succeed. The module is pure: the sans-I/O room core raises these too. The whole tree, with each
class's code and, for classes defined elsewhere, their module (``tests/test_errors_tree.py`` checks
that this drawing is the tree)::

    WorkshopError (internal_error)
    ├── ProtocolError (bad_frame)
    │   ├── BadFrame (bad_frame)
    │   ├── FrameTooLarge (frame_too_large)
    │   ├── UnknownCommand (unknown_command)
    │   ├── InvalidCommand (invalid_command)
    │   │   ├── TextTooLong (text_too_long)
    │   │   └── InvalidName (invalid_name)
    │   └── RateLimited (rate_limited)
    ├── AccessError (forbidden)
    │   ├── NotJoined (not_joined)
    │   ├── AlreadyJoined (already_joined)
    │   ├── InvalidToken (invalid_token)
    │   │   └── DataErased (data_erased)
    │   ├── RoomNotFound (room_not_found)
    │   │   └── RoomNotStored (room_not_found) [storage.journal]
    │   ├── WrongPassphrase (wrong_passphrase)
    │   ├── InviteRequired (invite_required)
    │   ├── InviteRevoked (invite_revoked)
    │   ├── RulesNotAccepted (rules_not_accepted)
    │   ├── RoomLocked (room_locked)
    │   ├── Banned (banned)
    │   ├── AwaitingApproval (awaiting_approval)
    │   ├── Forbidden (forbidden)
    │   ├── Muted (muted)
    │   ├── RoomFull (room_full)
    │   ├── CreateKeyRequired (create_key_required)
    │   ├── NotJuror (not_juror)
    │   └── TooManyConnections (too_many_connections)
    ├── RuleError (invalid_transition)
    │   ├── InvalidTransition (invalid_transition)
    │   ├── RoundClosed (round_closed)
    │   ├── WrongRoundKind (wrong_round_kind)
    │   ├── IdeaLimit (idea_limit)
    │   ├── ReplyLimit (reply_limit)
    │   ├── VoteBudgetExceeded (vote_budget_exceeded)
    │   ├── VoteCapExceeded (vote_cap_exceeded)
    │   ├── NoDot (no_dot)
    │   ├── NotFound (not_found)
    │   ├── IdeaPrivate (idea_private)
    │   ├── InvalidScore (invalid_score)
    │   └── EvaluationClosed (evaluation_closed)
    └── ServerError (internal_error)
        ├── RoomUnavailable (room_unavailable)
        │   └── CorruptRoom (room_unavailable) [storage.journal]
        ├── ServerBusy (server_busy)
        │   └── RoomMoved (server_busy)
        ├── SecretFileError (internal_error) [settings]
        ├── SuggestionsUnavailable (internal_error) [suggesting]
        ├── StorageError (internal_error) [storage.journal]
        │   ├── DatabaseTooNew (internal_error) [storage.journal]
        │   ├── RoomExists (internal_error) [storage.journal]
        │   ├── JournalConflict (internal_error) [storage.journal]
        │   └── CorruptRoom (room_unavailable) [storage.journal]
        └── BrokerError (server_busy) [broker.base]
"""

from __future__ import annotations

from typing import ClassVar


class WorkshopError(Exception):
    """Base class of every error that maps to a protocol error code."""

    code: ClassVar[str] = "internal_error"
    temporary: ClassVar[bool] = False
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "temporary": self.temporary}


# --- Framing and validation -------------------------------------------------------------------------
class ProtocolError(WorkshopError):
    """The frame or message does not follow the protocol."""

    code = "bad_frame"
    default_message = "the frame is not a valid message"


class BadFrame(ProtocolError):
    code = "bad_frame"
    default_message = "the frame could not be decoded (invalid JSON, msgpack or UTF-8, or not an object)"


class FrameTooLarge(ProtocolError):
    code = "frame_too_large"
    default_message = "the frame is larger than the maximum frame size"


class UnknownCommand(ProtocolError):
    code = "unknown_command"
    default_message = "unknown command type"


class InvalidCommand(ProtocolError):
    code = "invalid_command"
    default_message = "the command's fields are missing or invalid"


class TextTooLong(InvalidCommand):
    code = "text_too_long"
    default_message = "the text is longer than allowed"


class InvalidName(InvalidCommand):
    code = "invalid_name"
    default_message = "the display name is empty, too long or has characters that are not allowed"


class RateLimited(ProtocolError):
    """Too many commands, joins, lookups or passphrase attempts. ``retry_after`` (seconds), when known,
    is sent with the error and as the HTTP ``Retry-After`` header."""

    code = "rate_limited"
    temporary = True
    default_message = "too many commands; slow down"

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        if self.retry_after is not None:
            data["retry_after"] = round(self.retry_after, 3)
        return data


# --- Session and access -------------------------------------------------------------------------------
class AccessError(WorkshopError):
    """The connection may not (yet) do this."""

    code = "forbidden"


class NotJoined(AccessError):
    code = "not_joined"
    default_message = "join or authenticate first"


class AlreadyJoined(AccessError):
    code = "already_joined"
    default_message = "this connection has already joined a room"


class InvalidToken(AccessError):
    code = "invalid_token"
    default_message = "the token is invalid, expired or for another room"


class DataErased(InvalidToken):
    """The token's member erased its data (or had it erased): the token will never work again. Apart
    from ``invalid_token`` so that a device that missed the erasure's reply (a lost reply, then a
    reload) can say "your data was erased" rather than "this link cannot open the room"."""

    code = "data_erased"
    default_message = "this member's data was erased: this token no longer works"


class RoomNotFound(AccessError):
    code = "room_not_found"
    default_message = "no room has this code"


class WrongPassphrase(AccessError):
    code = "wrong_passphrase"
    default_message = "the passphrase is wrong"


class InviteRequired(AccessError):
    code = "invite_required"
    default_message = "this room is joined with a personal invite link"


class InviteRevoked(AccessError):
    code = "invite_revoked"
    default_message = "this invite was revoked"


class RulesNotAccepted(AccessError):
    code = "rules_not_accepted"
    default_message = "accept the current version of the room's rules to join"


class RoomLocked(AccessError):
    code = "room_locked"
    default_message = "the room is locked against new joins"


class Banned(AccessError):
    code = "banned"
    default_message = "you were removed from this room"


class AwaitingApproval(AccessError):
    code = "awaiting_approval"
    default_message = "a moderator has not admitted you yet"


class Forbidden(AccessError):
    code = "forbidden"
    default_message = "your role may not do this"


class Muted(AccessError):
    code = "muted"
    default_message = "a moderator muted you; you can still follow the room"


class RoomFull(AccessError):
    code = "room_full"
    default_message = "this room has as many members as it may take"


class CreateKeyRequired(AccessError):
    code = "create_key_required"
    default_message = "creating rooms on this server needs the organiser key"


class NotJuror(AccessError):
    code = "not_juror"
    default_message = "only the jury of this evaluation may score"


class TooManyConnections(AccessError):
    code = "too_many_connections"
    temporary = True
    default_message = "too many open connections for this participant"


# --- Room rules ---------------------------------------------------------------------------------------
class RuleError(WorkshopError):
    """The command is well formed and allowed for the role, but the room's state refuses it."""

    code = "invalid_transition"


class InvalidTransition(RuleError):
    code = "invalid_transition"
    default_message = "the room is not in a phase that allows this"


class RoundClosed(RuleError):
    code = "round_closed"
    default_message = "the round is closed"


class WrongRoundKind(RuleError):
    code = "wrong_round_kind"
    default_message = "the current round is not of the kind this command needs"


class IdeaLimit(RuleError):
    code = "idea_limit"
    default_message = "you reached the maximum number of ideas for this round"


class ReplyLimit(RuleError):
    code = "reply_limit"
    default_message = "you reached the maximum number of replies in this room"


class VoteBudgetExceeded(RuleError):
    code = "vote_budget_exceeded"
    default_message = "you have no dots left in this round"


class VoteCapExceeded(RuleError):
    code = "vote_cap_exceeded"
    default_message = "this idea already has the maximum number of your dots"


class NoDot(RuleError):
    code = "no_dot"
    default_message = "you have no dot on this idea"


class NotFound(RuleError):
    code = "not_found"
    default_message = "no such item in this room"


class IdeaPrivate(RuleError):
    code = "idea_private"
    default_message = "this idea is not on the wall yet: only its author sees it"


class InvalidScore(RuleError):
    code = "invalid_score"
    default_message = "scores are whole numbers from 1 to 5"


class EvaluationClosed(RuleError):
    code = "evaluation_closed"
    default_message = "no evaluation is open: scores are accepted only while one is"


# --- Server side --------------------------------------------------------------------------------------
class ServerError(WorkshopError):
    code = "internal_error"
    temporary = True
    default_message = "internal error; the command was not applied"


class RoomUnavailable(ServerError):
    code = "room_unavailable"
    temporary = False
    default_message = "this room cannot be loaded right now"


class ServerBusy(ServerError):
    code = "server_busy"
    temporary = True
    default_message = "the server is busy; retry shortly"


class RoomMoved(ServerBusy):
    """A request forwarded to the worker that owned a room found that it no longer does (it handed the
    room over, or lost it). Nothing was applied; the forwarding worker asks again who owns the room
    and sends the request there once before a client ever sees this."""

    code = "server_busy"
    default_message = "the room is moving between workers; retry"


def all_error_classes() -> list[type[WorkshopError]]:
    """Every concrete error class, for documentation and tests."""
    seen: list[type[WorkshopError]] = []
    stack: list[type[WorkshopError]] = [WorkshopError]
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.append(cls)
            stack.extend(cls.__subclasses__())
    return seen


def all_error_codes() -> list[str]:
    return sorted({cls.code for cls in all_error_classes()})


def from_dict(data: dict[str, object]) -> WorkshopError:
    """The error that ``to_dict()`` gave ``data`` (it crossed from another worker): the class of this
    module with that code (the most specific one defined), with the same message."""
    cls = _BY_CODE.get(str(data.get("code")), ServerError)
    message = data.get("message")
    text = message if isinstance(message, str) else None
    if cls is RateLimited:
        retry_after = data.get("retry_after")
        wait = float(retry_after) if isinstance(retry_after, int | float) else None
        return RateLimited(text, retry_after=wait)
    return cls(text)


#: Each code's class, the last defined of those sharing it (BadFrame, not ProtocolError), but
#: ServerBusy for server_busy (RoomMoved travels as such: see remote.py).
_BY_CODE: dict[str, type[WorkshopError]] = {
    value.code: value
    for value in list(globals().values())
    if isinstance(value, type) and issubclass(value, WorkshopError) and value.__module__ == __name__
}
_BY_CODE[ServerBusy.code] = ServerBusy
#: Every error code a client can receive: those of this module's classes (the classes defined elsewhere
#: reuse them; ``tests/test_errors_tree.py`` checks it). The JSON Schema's ``Error.code`` lists them.
CODES: tuple[str, ...] = tuple(sorted(_BY_CODE))

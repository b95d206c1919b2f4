"""WebSocket close codes of the protocol.

Codes 4000-4099 mean "reconnect": the client should reconnect (with backoff) and resume.
Codes 4100-4199 mean "terminal": reconnecting with the same credentials will not work; tell the person.
The module is pure so that the room core can name the codes its effects ask for.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    # Standard codes the server uses.
    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down or restarting: reconnect and resume
    INVALID_DATA = 1007  # a text frame that is not valid UTF-8 (the connection guard)
    POLICY_VIOLATION = 1008  # origin refused, before accept (clients see the handshake's HTTP 403)
    MESSAGE_TOO_BIG = 1009  # a frame over 4 x max_frame_bytes (closed by the WebSocket layer)
    INTERNAL_ERROR = 1011  # no pong within ping_timeout (closed by the WebSocket layer)
    SERVICE_RESTART = 1012  # this worker is draining (a deploy): reconnect (to another worker) and resume
    TRY_AGAIN_LATER = 1013  # server or address full, before accept (clients see the handshake's HTTP 503)
    # 4000-4099: reconnect and resume.
    IDLE_TIMEOUT = 4000  # nothing received for idle_timeout seconds
    SLOW_CONSUMER = 4001  # the outgoing queue overflowed: the client did not read fast enough
    AUTH_TIMEOUT = 4002  # no join or auth within auth_timeout seconds
    ROOM_RELOADED = 4003  # the room was reloaded (e.g. it moved to another worker): resume
    PROTOCOL_VIOLATIONS = 4004  # too many bad frames in a row; fix the client, then reconnect
    # 4100-4199: terminal.
    REMOVED = 4100  # a moderator removed (banned) this member
    REJECTED = 4101  # a moderator rejected this member's request to join
    ROOM_DELETED = 4102  # the room was deleted (retention)
    TOKEN_REVOKED = 4103  # the credential is no longer valid

    @property
    def reconnect(self) -> bool:
        return self < 4100


CLOSE_REASONS: dict[CloseCode, str] = {
    CloseCode.NORMAL: "normal closure",
    CloseCode.GOING_AWAY: "the server is restarting; reconnect and resume",
    CloseCode.SERVICE_RESTART: "this worker is restarting; reconnect and resume",
    CloseCode.IDLE_TIMEOUT: "nothing received for too long; reconnect and resume",
    CloseCode.SLOW_CONSUMER: "the client did not read fast enough; reconnect and resume",
    CloseCode.AUTH_TIMEOUT: "no join or auth command in time",
    CloseCode.ROOM_RELOADED: "the room was reloaded; reconnect and resume",
    CloseCode.PROTOCOL_VIOLATIONS: "too many invalid frames",
    CloseCode.REMOVED: "you were removed from this room",
    CloseCode.REJECTED: "your request to join was declined",
    CloseCode.ROOM_DELETED: "the room no longer exists",
    CloseCode.TOKEN_REVOKED: "this credential is no longer valid",
}

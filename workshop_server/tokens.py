"""Signed access tokens.

A token is the compact, URL-safe text ``v1.<b64url(payload)>.<b64url(mac)>`` (base64url without
padding). The payload is a compact JSON object ``{"k": kind, "r": room, "s": subject}`` with sorted keys,
plus ``"g": generation`` when the generation is not 0; the MAC is HMAC-SHA256 over a domain-separation
prefix followed by ``v1.<b64url(payload)>``. Signing is deterministic: the same claims always give the
same token, so a resent join gets the same token back.

Tokens do not expire; revocation (banned members, revoked invites, rotated staff links) is decided by
the room's state. The generation is what makes the staff links (facilitator, moderator invite, screen)
revocable: the room keeps the current one, and a link of an older generation is refused.

The same secret also keys, each under its own domain-separation label:

* :meth:`TokenSigner.join_key`: the keyed hash under which a join id is stored (never the id itself);
* :meth:`TokenSigner.creation_key`: the keyed hash under which a room's creation id is stored (idem);
* :meth:`TokenSigner.device_cookie` / :meth:`TokenSigner.verify_device`: the signed device cookie;
* :meth:`TokenSigner.device_key`: a device id's keyed hash for one room (what a ban records).

The module is pure: no I/O, no clock, no randomness (callers bring random ids).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

from workshop_server.errors import InvalidToken

__all__ = ["MAX_TOKEN_LENGTH", "TOKEN_VERSION", "TokenClaims", "TokenKind", "TokenSigner"]

TokenKind = Literal["member", "invite", "screen"]

TOKEN_VERSION: Final = "v1"
MAX_TOKEN_LENGTH: Final = 512
SCREEN_SUBJECT: Final = "screen"

_KINDS: Final[frozenset[str]] = frozenset(get_args(TokenKind))
_DOMAIN: Final = b"workshop_server/token/v1\x00"
_JOIN_LABEL: Final = b"workshop_server/join-id/v1"
_DEVICE_LABEL: Final = b"workshop_server/device-cookie/v1"
_DEVICE_ROOM_LABEL: Final = b"workshop_server/device-room/v1"
_CREATION_LABEL: Final = b"workshop_server/room-creation/v1"
_DEVICE_ID: Final = re.compile(r"[A-Za-z0-9_-]{16,64}")
MAX_GENERATION: Final = 2**31
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
_MAC_TEXT_LENGTH: Final = 43  # 32 bytes in unpadded base64url


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token grants: access of ``kind`` to ``room`` as ``subject``.

    ``subject`` is a member id for ``member``, an invite id for ``invite`` and the literal ``"screen"``
    for the room's screen. ``generation`` is the staff-link generation the token was signed for (0 for
    every other token, and for staff links until the room's first rotation).
    """

    room: str
    kind: TokenKind
    subject: str
    generation: int = 0


class TokenSigner:
    """Signs and verifies tokens with one HMAC secret."""

    __slots__ = ("_creation_key", "_device_key", "_join_key", "_secret")

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes) or not secret:
            raise ValueError("the token secret must be non-empty bytes")
        self._secret = secret
        self._join_key = hmac.new(secret, _JOIN_LABEL, hashlib.sha256).digest()
        self._device_key = hmac.new(secret, _DEVICE_LABEL, hashlib.sha256).digest()
        self._creation_key = hmac.new(secret, _CREATION_LABEL, hashlib.sha256).digest()

    def sign(self, claims: TokenClaims) -> str:
        """The token for ``claims``. Raises ``ValueError`` for claims no token can carry."""
        problem = _claims_problem(claims.room, claims.kind, claims.subject)
        if problem is None:
            problem = _generation_problem(claims.generation)
        if problem is not None:
            raise ValueError(f"cannot sign these claims: {problem}")
        fields: dict[str, object] = {"k": claims.kind, "r": claims.room, "s": claims.subject}
        if claims.generation:
            fields["g"] = claims.generation
        payload = json.dumps(
            fields,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
        )
        signed = f"{TOKEN_VERSION}.{_b64encode(payload.encode('ascii'))}"
        token = f"{signed}.{self._mac(signed)}"
        if len(token) > MAX_TOKEN_LENGTH:
            raise ValueError(f"the claims are too long for a token of at most {MAX_TOKEN_LENGTH} characters")
        return token

    def verify(self, token: str, *, room: str | None = None) -> TokenClaims:
        """The claims of a valid token, which must be for ``room`` when given.

        Raises :class:`~workshop_server.errors.InvalidToken` for anything else: not a string, too long,
        malformed, signed with another secret or tampered with, unknown kind, or for another room.
        """
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise InvalidToken()
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidToken()
        version, payload_text, mac_text = parts
        if (
            version != TOKEN_VERSION
            or len(mac_text) != _MAC_TEXT_LENGTH
            or _B64URL.fullmatch(payload_text) is None
            or _B64URL.fullmatch(mac_text) is None
        ):
            raise InvalidToken()
        expected = self._mac(f"{version}.{payload_text}")
        if not hmac.compare_digest(expected.encode("ascii"), mac_text.encode("ascii")):
            raise InvalidToken()
        claims = _decode_payload(payload_text)
        if room is not None and claims.room != room:
            raise InvalidToken("the token is for another room")
        return claims

    def _mac(self, signed: str) -> str:
        digest = hmac.new(self._secret, _DOMAIN + signed.encode("ascii"), hashlib.sha256).digest()
        return _b64encode(digest)

    # --- Keyed hashes and the device cookie ---------------------------------------------------------------
    def join_key(self, room: str, cid: str) -> str:
        """The keyed hash (64 hex digits) under which a join id is stored and deduplicated.

        A join id leads to a member token, so the room's journal and snapshots keep only this hash: a
        resend of the join hashes to the same value (the dedupe still works), and a stolen database file
        holds nothing that can be replayed as a join.
        """
        message = room.encode("utf-8") + b"\x00" + cid.encode("utf-8", "surrogatepass")
        return hmac.new(self._join_key, message, hashlib.sha256).hexdigest()

    def creation_key(self, cid: str) -> str:
        """The keyed hash (64 hex digits) of the client's id of a room's creation (``POST /api/rooms``):
        the room's meta keeps it, and the room's code is drawn from it, so a resend finds the room it
        made. The id leads to the facilitator's token, so, as a join id, it is never stored."""
        return hmac.new(self._creation_key, cid.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def device_cookie(self, device_id: str) -> str:
        """The value of the device cookie for ``device_id`` (16 to 64 base64url characters):
        ``<device id>.<b64url(mac)>``."""
        if _DEVICE_ID.fullmatch(device_id) is None:
            raise ValueError("a device id has 16 to 64 base64url characters")
        return f"{device_id}.{self._device_mac(device_id)}"

    def verify_device(self, cookie: str) -> str | None:
        """The device id of an authentic device cookie, or None for anything else."""
        if not isinstance(cookie, str) or len(cookie) > 64 + 1 + _MAC_TEXT_LENGTH or not cookie.isascii():
            return None
        device_id, dot, mac_text = cookie.partition(".")
        if not dot or _DEVICE_ID.fullmatch(device_id) is None or len(mac_text) != _MAC_TEXT_LENGTH:
            return None
        if not hmac.compare_digest(self._device_mac(device_id).encode("ascii"), mac_text.encode("ascii")):
            return None
        return device_id

    def device_key(self, room: str, device_id: str) -> str:
        """A device's keyed hash for one room (64 hex digits): what a member and a ban record. It cannot
        be turned back into a cookie, and it links nothing across rooms."""
        message = _DEVICE_ROOM_LABEL + b"\x00" + room.encode("utf-8") + b"\x00" + device_id.encode("ascii")
        return hmac.new(self._device_key, message, hashlib.sha256).hexdigest()

    def _device_mac(self, device_id: str) -> str:
        return _b64encode(hmac.new(self._device_key, device_id.encode("ascii"), hashlib.sha256).digest())


def _decode_payload(payload_text: str) -> TokenClaims:
    # Only reached for authenticated payloads, so failures here mean a signer bug or a leaked secret;
    # they are still reported as InvalidToken rather than crashing the caller.
    try:
        raw = base64.urlsafe_b64decode(payload_text + "=" * (-len(payload_text) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise InvalidToken() from None
    if not isinstance(data, dict) or set(data) - {"g"} != {"k", "r", "s"}:
        raise InvalidToken()
    room, kind, subject = data["r"], data["k"], data["s"]
    if not isinstance(room, str) or not isinstance(kind, str) or not isinstance(subject, str):
        raise InvalidToken()
    if _claims_problem(room, kind, subject) is not None:
        raise InvalidToken()
    generation = data.get("g", 0)
    # Signed tokens never carry "g": 0 (it is omitted), so there is one token per claims.
    if "g" in data and (_generation_problem(generation) is not None or generation == 0):
        raise InvalidToken()
    kind_literal: TokenKind = "member" if kind == "member" else "invite" if kind == "invite" else "screen"
    return TokenClaims(room=room, kind=kind_literal, subject=subject, generation=generation)


def _generation_problem(generation: object) -> str | None:
    if type(generation) is not int or not 0 <= generation < MAX_GENERATION:
        return f"the generation must be an integer from 0 to {MAX_GENERATION - 1}"
    return None


def _claims_problem(room: object, kind: object, subject: object) -> str | None:
    if not isinstance(room, str) or not room:
        return "room must be a non-empty string"
    if kind not in _KINDS:
        return f"kind must be one of {sorted(_KINDS)}"
    if not isinstance(subject, str) or not subject:
        return "subject must be a non-empty string"
    if kind == "screen" and subject != SCREEN_SUBJECT:
        return f"the subject of a screen token must be {SCREEN_SUBJECT!r}"
    return None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

"""Signed access tokens.

A token is the compact, URL-safe text ``v1.<b64url(payload)>.<b64url(mac)>`` (base64url without
padding). The payload is a compact JSON object ``{"k": kind, "r": room, "s": subject}`` with sorted keys;
the MAC is HMAC-SHA256 over a domain-separation prefix followed by ``v1.<b64url(payload)>``. Signing is
deterministic: the same claims always give the same token, so a resent join gets the same token back.

Tokens do not expire; revocation (banned members, revoked invites) is decided by the room's state.
The module is pure: no I/O, no clock.
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
_B64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
_MAC_TEXT_LENGTH: Final = 43  # 32 bytes in unpadded base64url


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token grants: access of ``kind`` to ``room`` as ``subject``.

    ``subject`` is a member id for ``member``, an invite id for ``invite`` and the literal ``"screen"``
    for the room's screen.
    """

    room: str
    kind: TokenKind
    subject: str


class TokenSigner:
    """Signs and verifies tokens with one HMAC secret."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes) or not secret:
            raise ValueError("the token secret must be non-empty bytes")
        self._secret = secret

    def sign(self, claims: TokenClaims) -> str:
        """The token for ``claims``. Raises ``ValueError`` for claims no token can carry."""
        problem = _claims_problem(claims.room, claims.kind, claims.subject)
        if problem is not None:
            raise ValueError(f"cannot sign these claims: {problem}")
        payload = json.dumps(
            {"k": claims.kind, "r": claims.room, "s": claims.subject},
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


def _decode_payload(payload_text: str) -> TokenClaims:
    # Only reached for authenticated payloads, so failures here mean a signer bug or a leaked secret;
    # they are still reported as InvalidToken rather than crashing the caller.
    try:
        raw = base64.urlsafe_b64decode(payload_text + "=" * (-len(payload_text) % 4))
        data = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise InvalidToken() from None
    if not isinstance(data, dict) or set(data) != {"k", "r", "s"}:
        raise InvalidToken()
    room, kind, subject = data["r"], data["k"], data["s"]
    if not isinstance(room, str) or not isinstance(kind, str) or not isinstance(subject, str):
        raise InvalidToken()
    if _claims_problem(room, kind, subject) is not None:
        raise InvalidToken()
    kind_literal: TokenKind = "member" if kind == "member" else "invite" if kind == "invite" else "screen"
    return TokenClaims(room=room, kind=kind_literal, subject=subject)


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

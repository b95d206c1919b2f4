"""Signed tokens: format, round trip, determinism and refusal of everything else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workshop_server.errors import InvalidToken, WorkshopError
from workshop_server.tokens import MAX_TOKEN_LENGTH, TokenClaims, TokenSigner

SECRET = b"test-secret-0123456789abcdef"
B64URL_ALPHABET = string.ascii_letters + string.digits + "-_"

MEMBER = TokenClaims(room="ROOM42", kind="member", subject="m_7f3a")
INVITE = TokenClaims(room="ROOM42", kind="invite", subject="inv_1")
SCREEN = TokenClaims(room="ROOM42", kind="screen", subject="screen")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(payload: object, secret: bytes = SECRET, version: str = "v1") -> str:
    """A token with a valid MAC over an arbitrary payload, computed from the documented format."""
    signed = f"{version}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(secret, b"workshop_server/token/v1\x00" + signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{b64(mac)}"


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET)


# --- Format and round trip ------------------------------------------------------------------------------
@pytest.mark.parametrize("claims", [MEMBER, INVITE, SCREEN])
def test_round_trip(signer: TokenSigner, claims: TokenClaims) -> None:
    token = signer.sign(claims)
    assert signer.verify(token) == claims
    assert signer.verify(token, room="ROOM42") == claims


def test_token_format(signer: TokenSigner) -> None:
    token = signer.sign(MEMBER)
    version, payload, mac = token.split(".")
    assert version == "v1"
    assert set(payload + mac) <= set(B64URL_ALPHABET)
    padded = payload + "=" * (-len(payload) % 4)
    assert base64.urlsafe_b64decode(padded) == b'{"k":"member","r":"ROOM42","s":"m_7f3a"}'
    assert len(base64.urlsafe_b64decode(mac + "=")) == 32


def test_mac_is_domain_separated_hmac_sha256(signer: TokenSigner) -> None:
    token = signer.sign(MEMBER)
    signed, _, mac = token.rpartition(".")
    plain = hmac.new(SECRET, signed.encode(), hashlib.sha256).digest()
    separated = hmac.new(SECRET, b"workshop_server/token/v1\x00" + signed.encode(), hashlib.sha256).digest()
    assert mac == b64(separated)
    assert mac != b64(plain)


def test_signing_is_deterministic(signer: TokenSigner) -> None:
    assert signer.sign(MEMBER) == signer.sign(TokenClaims("ROOM42", "member", "m_7f3a"))
    assert TokenSigner(SECRET).sign(MEMBER) == signer.sign(MEMBER)
    tokens = {
        signer.sign(claims)
        for claims in [
            MEMBER,
            INVITE,
            SCREEN,
            TokenClaims("ROOM43", "member", "m_7f3a"),
            TokenClaims("ROOM42", "member", "m_7f3b"),
            TokenClaims("ROOM42", "invite", "m_7f3a"),
        ]
    }
    assert len(tokens) == 6


def test_non_ascii_claims_round_trip(signer: TokenSigner) -> None:
    claims = TokenClaims(room="salle-été", kind="member", subject="😀\u0000\"'.")
    token = signer.sign(claims)
    assert token.isascii()
    assert signer.verify(token, room="salle-été") == claims


# Room codes and member/invite ids are short ASCII; non-ASCII claims are covered above.
_IDS = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=60)


@given(room=_IDS, kind=st.sampled_from(["member", "invite"]), subject=_IDS)
def test_round_trip_of_any_short_claims(room: str, kind: str, subject: str) -> None:
    signer = TokenSigner(SECRET)
    claims = TokenClaims(room=room, kind=kind, subject=subject)  # type: ignore[arg-type]
    token = signer.sign(claims)
    assert len(token) <= MAX_TOKEN_LENGTH
    assert signer.verify(token, room=room) == claims


# --- Refusals -------------------------------------------------------------------------------------------
def test_invalid_token_is_a_workshop_error() -> None:
    assert issubclass(InvalidToken, WorkshopError)
    assert InvalidToken.code == "invalid_token"


def test_wrong_room(signer: TokenSigner) -> None:
    token = signer.sign(MEMBER)
    with pytest.raises(InvalidToken):
        signer.verify(token, room="ROOM43")
    with pytest.raises(InvalidToken):
        signer.verify(token, room="")


def test_wrong_secret(signer: TokenSigner) -> None:
    token = signer.sign(MEMBER)
    with pytest.raises(InvalidToken):
        TokenSigner(b"another-secret").verify(token)
    with pytest.raises(InvalidToken):
        TokenSigner(SECRET + b"x").verify(token)


@pytest.mark.parametrize("claims", [MEMBER, SCREEN])
def test_any_changed_character_is_detected(signer: TokenSigner, claims: TokenClaims) -> None:
    token = signer.sign(claims)
    for index, char in enumerate(token):
        if char in B64URL_ALPHABET:
            replacement = B64URL_ALPHABET[(B64URL_ALPHABET.index(char) + 1) % len(B64URL_ALPHABET)]
        else:
            replacement = "A"
        tampered = token[:index] + replacement + token[index + 1 :]
        with pytest.raises(InvalidToken):
            signer.verify(tampered)


def test_flipped_mac_tail_bits_are_detected(signer: TokenSigner) -> None:
    """The last base64 character of the MAC has unused bits: every other value of it must be refused."""
    token = signer.sign(MEMBER)
    for replacement in B64URL_ALPHABET:
        if replacement != token[-1]:
            with pytest.raises(InvalidToken):
                signer.verify(token[:-1] + replacement)


def test_parts_cannot_be_swapped_between_tokens(signer: TokenSigner) -> None:
    member_payload = signer.sign(MEMBER).split(".")[1]
    invite_mac = signer.sign(INVITE).split(".")[2]
    with pytest.raises(InvalidToken):
        signer.verify(f"v1.{member_payload}.{invite_mac}")


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "..",
        "v1",
        "v1.",
        "v1..",
        "v1.e30.",
        "v1..AAAA",
        "v1.e30.AAAA",
        "v1.e30=.AAAA",
        "v1.e30",
        "v1.é.x",
        "v1.ZXhhbXBsZQ.ZXhhbXBsZQ.ZXhhbXBsZQ",
        "\x00" * 10,
        "é" * 600,
        "A" * 100_000,
        "v1." + "A" * 600 + "." + "A" * 43,
        "garbage",
        "Bearer v1.e30.AAAA",
    ],
)
def test_garbage_is_refused(signer: TokenSigner, token: str) -> None:
    with pytest.raises(InvalidToken):
        signer.verify(token)


def test_whitespace_and_case_changes_are_refused(signer: TokenSigner) -> None:
    token = signer.sign(MEMBER)
    for variant in [f" {token}", f"{token}\n", token.upper(), token.lower(), token + ".", "V1" + token[2:]]:
        with pytest.raises(InvalidToken):
            signer.verify(variant)


@pytest.mark.parametrize("value", [None, 42, b"v1.e30.AAAA", ["v1"]])
def test_non_strings_are_refused(signer: TokenSigner, value: object) -> None:
    with pytest.raises(InvalidToken):
        signer.verify(value)  # type: ignore[arg-type]


def test_token_longer_than_the_limit_is_refused_even_with_a_valid_mac(signer: TokenSigner) -> None:
    token = forge({"k": "member", "r": "R", "s": "x" * 600})
    assert len(token) > MAX_TOKEN_LENGTH
    with pytest.raises(InvalidToken):
        signer.verify(token)


@pytest.mark.parametrize(
    "payload",
    [
        {"k": "admin", "r": "ROOM42", "s": "m_1"},
        {"k": "screen", "r": "ROOM42", "s": "m_1"},
        {"k": "member", "r": "", "s": "m_1"},
        {"k": "member", "r": "ROOM42", "s": ""},
        {"k": "member", "r": "ROOM42"},
        {"k": "member", "r": "ROOM42", "s": "m_1", "x": 1},
        {"k": "member", "r": 42, "s": "m_1"},
        ["member", "ROOM42", "m_1"],
        "member",
        None,
    ],
)
def test_authentic_but_invalid_payloads_are_refused(signer: TokenSigner, payload: object) -> None:
    with pytest.raises(InvalidToken):
        signer.verify(forge(payload))


def test_forge_helper_matches_the_signer(signer: TokenSigner) -> None:
    """The refusals above are meaningful only if ``forge`` produces tokens the signer accepts."""
    assert signer.verify(forge({"k": "member", "r": "ROOM42", "s": "m_7f3a"})) == MEMBER
    with pytest.raises(InvalidToken):
        signer.verify(forge({"k": "member", "r": "ROOM42", "s": "m_7f3a"}, version="v2"))


@given(st.text(max_size=700))
def test_arbitrary_text_only_ever_raises_invalid_token(text: str) -> None:
    with pytest.raises(InvalidToken):
        TokenSigner(SECRET).verify(text)


# --- Signing refusals -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "claims",
    [
        TokenClaims(room="", kind="member", subject="m_1"),
        TokenClaims(room="ROOM42", kind="member", subject=""),
        TokenClaims(room="ROOM42", kind="screen", subject="m_1"),
        TokenClaims(room="ROOM42", kind="admin", subject="m_1"),  # type: ignore[arg-type]
        TokenClaims(room="R" * 400, kind="member", subject="m_1"),
    ],
)
def test_unsignable_claims(signer: TokenSigner, claims: TokenClaims) -> None:
    with pytest.raises(ValueError):
        signer.sign(claims)


def test_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        TokenSigner(b"")

"""The signer's generation claim, join-id hashes, the device cookie, and one-time download ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

import pytest

from workshop_server.broker import MemoryBroker, MemoryHub
from workshop_server.downloads import Downloads, Spend
from workshop_server.errors import InvalidToken
from workshop_server.tokens import TOKEN_VERSION, TokenClaims, TokenSigner

SECRET = b"a-test-secret-that-is-long-enough-0123456789"


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(SECRET)


def payload(token: str) -> dict[str, object]:
    text = token.split(".")[1]
    data: dict[str, object] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return data


def forge(signer_secret: bytes, data: dict[str, object]) -> str:
    body = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    signed = f"{TOKEN_VERSION}.{base64.urlsafe_b64encode(body).rstrip(b'=').decode()}"
    mac = hmac.new(signer_secret, b"workshop_server/token/v1\x00" + signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


# --- The generation claim ---------------------------------------------------------------------------------
def test_generation_zero_is_omitted_so_existing_tokens_stay_valid(signer: TokenSigner) -> None:
    old = TokenClaims(room="ROOM42", kind="member", subject="m1")
    token = signer.sign(old)
    assert payload(token) == {"k": "member", "r": "ROOM42", "s": "m1"}
    assert signer.verify(token).generation == 0
    # The same bytes as a token signed before generations existed.
    assert token == forge(SECRET, {"k": "member", "r": "ROOM42", "s": "m1"})


def test_a_generation_is_signed_and_verified(signer: TokenSigner) -> None:
    claims = TokenClaims(room="ROOM42", kind="screen", subject="screen", generation=3)
    token = signer.sign(claims)
    assert payload(token)["g"] == 3
    assert signer.verify(token, room="ROOM42") == claims
    assert token != signer.sign(TokenClaims(room="ROOM42", kind="screen", subject="screen", generation=2))


@pytest.mark.parametrize("g", [0, -1, 1.0, True, "1", None, 2**31])
def test_authentic_tokens_with_a_bad_generation_are_refused(signer: TokenSigner, g: object) -> None:
    with pytest.raises(InvalidToken):
        signer.verify(forge(SECRET, {"g": g, "k": "member", "r": "ROOM42", "s": "m1"}))


@pytest.mark.parametrize("g", [-1, 2**31])
def test_unsignable_generations(signer: TokenSigner, g: int) -> None:
    with pytest.raises(ValueError):
        signer.sign(TokenClaims(room="R", kind="member", subject="m1", generation=g))


# --- Join ids -----------------------------------------------------------------------------------------------
def test_join_keys_are_keyed_per_room_and_hide_the_id(signer: TokenSigner) -> None:
    cid = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    key = signer.join_key("ROOM42", cid)
    assert len(key) == 64 and int(key, 16) >= 0
    assert cid not in key
    assert key == signer.join_key("ROOM42", cid)  # a resend dedupes
    assert key != signer.join_key("ROOM43", cid)
    assert key != TokenSigner(SECRET + b"x").join_key("ROOM42", cid)  # a stolen file alone is useless
    assert key != hashlib.sha256(f"ROOM42\x00{cid}".encode()).hexdigest()  # keyed, not a plain hash


# --- The device cookie --------------------------------------------------------------------------------------
def test_device_cookies_round_trip_and_refuse_forgeries(signer: TokenSigner) -> None:
    device = "Zm9vYmFyYmF6cXV4MTIz"
    cookie = signer.device_cookie(device)
    assert signer.verify_device(cookie) == device
    assert TokenSigner(b"another-secret").verify_device(cookie) is None
    tampered = ("A" if device[0] != "A" else "B") + cookie[1:]
    for bad in (tampered, device, device + ".", cookie + "x", "", "é" * 20, cookie.replace(".", ":")):
        assert signer.verify_device(bad) is None
    with pytest.raises(ValueError):
        signer.device_cookie("short")


def test_device_keys_are_per_room_and_not_the_cookie(signer: TokenSigner) -> None:
    device = "Zm9vYmFyYmF6cXV4MTIz"
    key = signer.device_key("ROOM42", device)
    assert len(key) == 64 and device not in key
    assert key == signer.device_key("ROOM42", device)
    assert key != signer.device_key("ROOM43", device)
    assert key != signer.device_key("ROOM42", device + "x")


# --- One-time download ids ---------------------------------------------------------------------------------
async def test_download_ids_work_once_for_their_room_until_they_expire() -> None:
    now = [100.0]
    async with MemoryBroker() as broker:

        async def spend(key: str, ttl: float) -> bool:
            return await broker.claim(key, secrets.token_hex(8), ttl)

        downloads = Downloads(b"s" * 32, spend, lifetime=60, clock=lambda: now[0])
        # A member id long enough not to turn up by chance in the key's random text ("m1" once did).
        key = downloads.issue("ROOM42", "member-alpha-7", 2)
        assert len(key) >= 32 and "member-alpha-7" not in key
        taken = await downloads.take("ROOM42", key, "json")
        assert taken is not None and (taken.member, taken.generation) == ("member-alpha-7", 2)
        assert await downloads.take("ROOM42", key, "json") is None  # single use
        csv = downloads.issue("ROOM42", "m1", fmt="csv")
        assert await downloads.take("ROOM42", csv, "json") is None  # another export's link...
        assert await downloads.take("ROOM42", csv, "csv") is not None  # ... is not spent by it
        other_room = downloads.issue("ROOM42", "m1")
        assert await downloads.take("ROOM43", other_room, "json") is None
        assert await downloads.take("ROOM42", other_room, "json") is not None
        late = downloads.issue("ROOM42", "m1")
        now[0] += 60
        assert await downloads.take("ROOM42", late, "json") is None
        forged = key.split(".")[0] + "." + "A" * 43
        assert await downloads.take("ROOM42", forged, "json") is None
        other_secret = Downloads(b"t" * 32, spend, clock=lambda: now[0])
        assert await downloads.take("ROOM42", other_secret.issue("ROOM42", "m1"), "json") is None


async def test_a_download_id_issued_by_one_worker_is_spent_once_on_any_worker() -> None:
    """Two workers share the broker: the id works on either, once in all."""
    shared = MemoryHub()
    async with MemoryBroker(shared) as one, MemoryBroker(shared) as two:

        def spender(broker: MemoryBroker) -> Spend:
            async def spend(key: str, ttl: float) -> bool:
                return await broker.claim(key, secrets.token_hex(8), ttl)

            return spend

        a, b = Downloads(b"s" * 32, spender(one)), Downloads(b"s" * 32, spender(two))
        key = a.issue("ROOM42", "m1")
        assert await b.take("ROOM42", key, "json") is not None
        assert await a.take("ROOM42", key, "json") is None

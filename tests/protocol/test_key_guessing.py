"""The guessing budgets of the operator and organiser keys: past them no key is compared, the right
one neither (before, only wrong keys got 429 and the right one answered: a guesser read its verdict)."""

from __future__ import annotations

import httpx

from tests.protocol.conftest import StartServer
from tests.support.client import create_room

ATTACKER = "127.0.0.2"
OPS_KEY = "operator-key-0123456789abcdef0123456789"
CREATE_KEY = "organiser-key-0123456789abcdef012345678"


def test_a_guess_past_the_operator_key_budget_is_not_checked(start_server: StartServer) -> None:
    """``/healthz`` compares the bearer with the operator key *before* it spends from the wrong-key
    budget, and a right key never spends: once the budget is gone every wrong guess gets 429 and the
    right one 200 with the room list. A guesser ignores the 429s and reads its verdict from the status
    at HTTP speed, as without a limit. Past the budget, a key must not be compared at all (as a
    passphrase join is refused before scrypt: "right ones too")."""
    server = start_server(passphrase_failures_per_ip_per_hour=3, ops_key=OPS_KEY)
    create_room(server.url)
    with httpx.Client(transport=httpx.HTTPTransport(local_address=ATTACKER), timeout=10) as client:
        for n in range(10):
            guess = client.get(server.url + "/healthz", headers={"authorization": f"Bearer guess-{n}"})
            assert guess.status_code == 200 and "owned" not in guess.json()  # a probe still reads its health
        found = client.get(server.url + "/healthz", headers={"authorization": f"Bearer {OPS_KEY}"})
    assert found.status_code == 200
    assert "owned" not in found.json()  # failed: the right key, past the budget, still listed the rooms


def test_a_guess_past_the_organiser_key_budget_is_not_checked(start_server: StartServer) -> None:
    """The same for ``POST /api/rooms``: past the wrong-key budget the right key still creates a room
    (201), so the status tells a guesser which key was right."""
    server = start_server(passphrase_failures_per_ip_per_hour=3, create_key=CREATE_KEY)
    with httpx.Client(transport=httpx.HTTPTransport(local_address=ATTACKER), timeout=10) as client:

        def post(key: str) -> int:
            return client.post(
                server.url + "/api/rooms",
                json={"title": "T"},
                headers={"authorization": f"Bearer {key}"},
            ).status_code

        statuses = [post(f"guess-{n}") for n in range(10)]
        assert 429 in statuses
        assert post(CREATE_KEY) == 429  # failed: 201, a room made with the guessed key

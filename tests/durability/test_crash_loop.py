"""Post an idea, kill -9 the server, start it again: 50 times (200 with ``make test-long``). Nothing
acknowledged is ever lost or doubled.

Most iterations wait for the ack before the kill. Every fifth one kills the server right after sending
the command (0 to 8 ms after), before reading the reply: that idea may or may not have been applied, but
never twice, and every other of those is sent again (same command id) after the restart, which must then
apply it exactly once.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import long_run
from tests.durability import connect, database, export, integrity_check, snapshot_of
from tests.support.client import Client, create_room
from tests.support.server import ServerProcess

ITERATIONS = 200 if long_run() else 12  # 12 kills (two before the ack, one resend); make test-long: 200
KILL_BEFORE_ACK_EVERY = 5  # iteration i with i % 5 == 4 kills right after sending
RESEND_EVERY = 2  # every 2nd of those is resent with the same id after the restart
KILL_DELAYS = (0.0, 0.001, 0.002, 0.004, 0.008)

pytestmark = pytest.mark.slow


def post(cid: str, text: str) -> dict[str, Any]:
    return {"type": "idea.post", "id": cid, "text": text}


async def test_crash_loop_loses_and_doubles_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ServerProcess(data_dir)
    server.start()
    try:
        links = create_room(server.url)
        room, staff_token = links["room"], links["facilitator_token"]
        facilitator, _ = await connect(server.ws_url, staff_token)
        await facilitator.ok("round.open", kind="ideate", prompt="Crash loop", duration=None, private=False)
        await facilitator.close()
        joiner = await Client.connect(server.ws_url)
        await joiner.join(room, "Crash")
        await joiner.close()
        assert joiner.token is not None
        token = joiner.token

        acked: dict[str, str] = {}  # text -> the idea id in its ack
        unacked: dict[str, str] = {}  # text -> command id, sent but never acknowledged
        pending: tuple[str, str] | None = None  # an unacknowledged (command id, text) to resend
        unacked_seen = 0
        for i in range(ITERATIONS):
            if i:
                server.start()
            client, result = await connect(server.ws_url, token)
            # The participant's own ideas are all in its snapshot: nothing acknowledged went missing.
            mine = Counter(idea["text"] for idea in result["snapshot"]["ideas"])
            assert all(mine[text] == 1 for text in acked), f"iteration {i}: an acknowledged idea is lost"
            assert all(count == 1 for count in mine.values()), f"iteration {i}: an idea is doubled"
            if pending is not None:
                cid, text = pending
                reply = await client.request(post(cid, text))
                assert reply["type"] == "ok", reply
                assert reply["result"]["idea"]["text"] == text
                acked[text] = reply["result"]["idea"]["id"]
                del unacked[text]
                pending = None
            cid, text = f"crash-{i}", f"idea {i} of the crash loop"
            if i % KILL_BEFORE_ACK_EVERY == KILL_BEFORE_ACK_EVERY - 1:
                await client.send_raw(json.dumps(post(cid, text)))
                # Block this event loop for a while, so that no reply is read, then kill: the shorter
                # delays kill before the command is applied, the longer ones after it was journaled.
                time.sleep(KILL_DELAYS[(i // KILL_BEFORE_ACK_EVERY) % len(KILL_DELAYS)])
                server.kill()
                early = client.replies.get(cid)
                if early is not None:  # the ack arrived before the kill after all
                    assert early["type"] == "ok", early
                    acked[text] = early["result"]["idea"]["id"]
                else:
                    unacked[text] = cid
                    unacked_seen += 1
                    if unacked_seen % RESEND_EVERY == 0:
                        pending = (cid, text)
            else:
                reply = await client.request(post(cid, text))
                assert reply["type"] == "ok", reply
                acked[text] = reply["result"]["idea"]["id"]
                server.kill()
            await client.close()

        server.start()
        snapshot = await snapshot_of(server.ws_url, staff_token)
        exported = export(server.url, room, staff_token)
        server.stop()
        assert integrity_check(database(data_dir)) == "ok"

        applied = [text for text in unacked if text in {idea["text"] for idea in snapshot["ideas"]}]
        print(f"crash loop: {len(acked)} acked, {len(unacked)} unacked ({len(applied)} of them applied)")
        assert len(acked) >= ITERATIONS * (KILL_BEFORE_ACK_EVERY - 1) // KILL_BEFORE_ACK_EVERY
        for ideas in (snapshot["ideas"], exported["ideas"]):
            by_text = Counter(idea["text"] for idea in ideas)
            assert set(by_text) <= set(acked) | set(unacked), "an idea nobody sent"
            assert {t: n for t, n in by_text.items() if n != 1} == {}, "an idea appears twice"
            ids = {idea["text"]: idea["id"] for idea in ideas}
            assert {text: ids.get(text) for text in acked} == acked, "an acknowledged idea is lost"
            assert len({idea["id"] for idea in ideas}) == len(ideas)
    finally:
        server.kill()

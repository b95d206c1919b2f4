"""Suggested themes as the facilitator accepts them (``themes.suggest`` then ``theme.create``)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_cluster import Wire, new_room, settings, two_hubs
from workshop_server.suggest import MAX_NOTES

ROOT = Path(__file__).resolve().parent.parent


async def test_every_suggestion_can_be_accepted_with_one_theme_create(tmp_path: Path) -> None:
    """A brigaded wall (520 copies of one note: the "organised brigading" of PRODUCT.md). protocol.md says
    staff accept a suggested group with ``theme.create`` carrying its ideas; that command takes at most
    500 ideas, so the one suggestion the server makes here could not be accepted. Through a real hub and
    session (``themes.suggest`` is answered by the connection)."""
    config = settings(
        tmp_path / "data",
        commands_per_second=10_000,
        command_burst=100_000,
        ip_commands_per_second=100_000,
        ip_command_burst=1_000_000,
        ideas_per_member_max=1000,  # one participant posts the whole brigade
    )
    async with two_hubs(config) as (a, _):
        code, links = await new_room(a)
        fay = Wire(a)
        await fay.attached("auth", token=links["facilitator_token"])
        ana = Wire(a)
        await ana.attached("join", room=code, name="Ana", accept_rules=1)
        await fay.ok("round.open", kind="ideate", prompt="Ideas", private=False, duration=None)
        for _ in range(520):
            await ana.ok("idea.post", text="Free coffee in the morning")
        for text in ["bike parking", "a covered bike shed", "more bike racks"]:
            await ana.ok("idea.post", text=text)
        await fay.ok("round.close")
        suggestions = (await fay.ok("themes.suggest"))["suggestions"]
        assert suggestions
        for s in suggestions:
            reply = await fay.call("theme.create", name=s["name"], ideas=s["ideas"])
            assert reply["type"] == "ok", (len(s["ideas"]), reply)


def test_the_notes_cap_of_suggested_themes_is_in_the_contract() -> None:
    """Only the first MAX_NOTES ungrouped notes are ever considered (later ones are never suggested):
    a limit of the contract that protocol.md's ``themes.suggest`` section must state."""
    doc = (ROOT / "protocol.md").read_text(encoding="utf-8")
    match = re.search(r"^### `themes\.suggest`$(.*?)^### ", doc, flags=re.MULTILINE | re.DOTALL)
    assert match is not None
    section = match.group(1)
    assert f"{MAX_NOTES:,}" in section or str(MAX_NOTES) in section, section

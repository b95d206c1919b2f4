"""A room whose personal data was purged is an archive: staff cannot write new personal text into it,
which no purge would remove (the purge runs once). It failed before text rules 6."""

from __future__ import annotations

from pathlib import Path

from tests.test_retention import DAY, Clock, busy_room, clock, files_holding, two_hubs

__all__ = ["clock"]

REAL = "Jeanne Realname-Kept"


async def test_staff_text_written_after_a_personal_purge_is_purged_too(tmp_path: Path, clock: Clock) -> None:
    """The personal purge empties every hide reason, audit reason and invite label (it counts them as
    personal data), then marks the room purged: no later purge touches it again. Staff could still write
    hide reasons and invite labels naming people into the purged room, kept for ever, past the retention
    period the data notice announced. The room now refuses every member's command."""
    data = tmp_path / "data"
    async with two_hubs(data, clock, purge_mode="personal") as (a, b):
        code, fay, zoe = await busy_room(a, b)
        clock.now += 91 * DAY
        assert await b.purge_expired() == [code]
        await zoe.until(lambda: zoe.closed is not None)
        idea = next(iter(a.hosts[code].room.ideas))
        hidden = await fay.call("idea.hide", idea=idea, reason=f"posted by {REAL} from accounting")
        invited = await fay.call("invite.create", role="moderator", label=f"for {REAL}")
        wrote = [m["type"] for m in (hidden, invited)]
        clock.now += 91 * DAY  # the retention period of what was written then is over too
        await a.purge_expired()
        await b.purge_expired()
        await fay.close()
    assert wrote == ["error", "error"]  # the purged room is read-only
    assert hidden["code"] == invited["code"] == "invalid_transition"
    assert files_holding(data, REAL.encode()) == []

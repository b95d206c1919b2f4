"""A purged room is an archive (text rules 6), but its staff links stay revocable."""

from __future__ import annotations

from tests.rooms.helpers import FACILITATOR, Workshop
from tests.rooms.test_organiser_figures import lobby_brigade
from workshop_server.rooms import commands as c


def test_the_staff_links_of_a_purged_archive_can_still_be_rotated() -> None:
    """After the personal purge staff tokens still read and export the archive (its ideas are
    confidential and kept). A facilitator link that leaks later must still be revocable, as
    access.rotate_links says ("allowed after the session ended: a link that leaks later must still be
    revocable"); rotating writes no personal text. Text rules 6 refuse it with invalid_transition."""
    w = Workshop()
    w.ok(None, c.Purge, mode="personal")
    assert w.room.purged == "personal"
    out = w.do(FACILITATOR, c.RoomRotateLinks)
    assert out.error is None, f"{out.error.code}: {out.error.message}"  # failed: invalid_transition
    assert out.result == {"generation": 1}


def test_a_moderator_of_a_purged_archive_can_still_be_removed() -> None:
    """The personal purge erases participants (their tokens stop working) but keeps moderators, renamed
    "Moderator N", whose member tokens still read the archive. A moderator who left must still lose
    that access: member.remove with no reason writes no personal text. Refused since text rules 6, so
    nothing (not even a link rotation, see above) ever ends a moderator's access to the archive."""
    w = Workshop()
    mod = w.moderator("Mo")
    w.ok(None, c.Purge, mode="personal")
    assert w.room.members[mod].erased is False  # still reads the archive with its token
    out = w.do(FACILITATOR, c.MemberRemove, member=mod)
    assert out.error is None, f"{out.error.code}: {out.error.message}"  # failed: invalid_transition


def test_lobby_removals_loaded_from_a_snapshot_older_than_the_field_are_not_participants() -> None:
    """``Member.admitted`` (figures: people removed from the approval lobby are not participants) has no
    value in snapshots written before it: the default, True, counts every lobby removal of such a room
    as a participant again, so the same room's figures change with how it was loaded (replaying the
    journal gives 1 participant here, its older snapshot 4)."""
    from workshop_server.rooms.figures import figures
    from workshop_server.rooms.room import Room

    w, _ = lobby_brigade()
    assert figures(w.room)["participants"] == 1
    old = w.room.to_state()
    for member in old["members"].values() if isinstance(old["members"], dict) else old["members"]:
        member.pop("admitted", None)  # a snapshot of the release before the field
    assert figures(Room.from_state(old))["participants"] == 1  # failed: 4

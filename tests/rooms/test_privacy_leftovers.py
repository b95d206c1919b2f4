"""Privacy review: personal data left after an erasure or a personal purge, in the room core."""

from __future__ import annotations

import json

from tests.rooms.helpers import FACILITATOR, Workshop
from workshop_server.rooms import commands as c
from workshop_server.rooms.exports import state_export
from workshop_server.rooms.text import ARCHIVE_FIXES

LABEL = "Zed S. from accounting"


def test_erasure_empties_the_personal_invites_label_everywhere_the_room_keeps_it() -> None:
    """privacy.md: erasure empties "the label of the member's personal invite (the name of whom it was
    for)". The invite's own field is emptied, but the same label stays as the reason of the
    ``invite.create`` audit entry (shown to staff, in export.json, in the compacted snapshot) and in
    the facilitator's stored reply to ``invite.create`` (the dedupe record)."""
    w = Workshop()
    invite = w.ok(FACILITATOR, c.InviteCreate, role="participant", label=LABEL)["invite"]["id"]
    zed = w.join("Zed Secretname", invite=invite)
    w.ok(zed, c.MemberErase)
    assert w.room.invites[invite].label == ""
    assert LABEL not in json.dumps(state_export(w.room))  # failed before: the audit entry's reason
    assert LABEL not in json.dumps(w.room.to_state())  # failed before: the audit and the dedupe record


def test_privacy_md_says_what_the_personal_purge_does_with_join_and_consent_times() -> None:
    """privacy.md's table said: "Join time, rules version accepted, consent time ... What removes it:
    the retention purge". The ``personal`` purge keeps every member's ``joined_at`` and ``consent_at``
    (harmless next to a pseudonym, but the table is what a data-protection officer reads)."""
    from pathlib import Path

    w = Workshop()
    w.advance(3600)
    ann = w.join("Ann")
    w.ok(None, c.Purge, mode="personal")
    member = w.room.members[ann]
    assert (member.joined_at, member.consent_at) == (w.now, w.now)  # kept
    doc = (Path(__file__).resolve().parents[2] / "docs" / "privacy.md").read_text()
    (row,) = [line for line in doc.splitlines() if line.startswith("| Join time")]
    assert not row.rstrip(" |").endswith("the retention purge")  # failed before: the table says "removed"


def test_no_new_member_joins_a_room_whose_personal_data_was_purged() -> None:
    """After the ``personal`` purge the room is marked as purged and never purged again; a newcomer's
    name would be kept past the retention period (tests/test_purge_leftovers.py shows it end to
    end)."""
    w = Workshop()
    w.join("Ann")
    w.ok(None, c.Purge, mode="personal")
    w.join_fail("invalid_transition", "Newcomer Realname")  # failed before: the join is accepted


def test_the_json_export_shows_no_jurors_scores_while_the_evaluation_is_open() -> None:
    """selection.py: "Until the close a juror's scores are seen by that juror alone; staff see how
    many jurors scored each idea" (tests/rooms/test_followup.py: "not even other staff"). state_export
    says it leaves out "what no staff view shows" (it drops the voters' dots for that reason) but keeps
    ``evaluations[].scores`` of an open evaluation: any moderator downloads export.json and reads each
    juror's sheet before the close, anonymised or not."""
    from tests.rooms.test_followup import evaluation, wall

    w = Workshop()
    mod = w.moderator()
    _, ideas = wall(w, "coffee", "tea")
    evaluation(w, ideas)
    w.ok(FACILITATOR, c.EvaluationScore, idea=ideas[0], scores={"k1": 5, "k2": 2})
    assert "scores" not in w.room.snapshot(mod, "moderator")["evaluations"][0]  # what the views keep
    for anonymised in (False, True):
        (exported,) = state_export(w.room, anonymised=anonymised)["evaluations"]
        assert exported["status"] == "open"
        assert not exported["scores"]  # failed before: {"m1": {"i1": {"k1": 5, "k2": 2}}}


def test_a_purged_room_takes_no_members_command_but_older_journals_replay_as_they_were() -> None:
    w = Workshop()
    ann = w.join("Ann")
    w.open_ideate(private=False)
    idea = w.post(ann, "coffee")
    w.ok(None, c.Purge, mode="personal")
    w.fail(FACILITATOR, c.IdeaHide, "invalid_transition", idea=idea, reason="named someone")
    w.room.text_rules = ARCHIVE_FIXES - 1  # an entry handled under text rules 5
    w.ok(FACILITATOR, c.IdeaHide, idea=idea, reason="named someone")

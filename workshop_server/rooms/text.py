"""The rules for the texts people type: ideas, prompts, room texts and display names.

Everything a phone keyboard or a word processor produces is accepted: emoji ZWJ sequences (👩🏽‍💻,
🏳️‍🌈), flags, skin tones, ZWNJ, the no-break space U+00A0 and the French narrow no-break space U+202F,
smart quotes, dashes, any script, and characters newer than this Python's Unicode database. Texts are
NFC-normalised, so a decomposed ``e`` + U+0301 is stored as ``é``; limits count code points after that.

What is refused, with an error that names the character:

* control characters (category Cc) other than newline and tab in texts, and every control character
  in names (so no newline or tab in a name);
* lone surrogates (category Cs): a Python string can hold them, UTF-8 cannot;
* the bidirectional embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, which reorder
  what is displayed around them ("Trojan Source" spoofing). The marks U+200E/U+200F stay allowed;
* in names also: the line and paragraph separators U+2028/U+2029, the zero-width spaces U+200B,
  U+2060 and U+FEFF (invisible, they only make one name look like another), and the markup
  characters ``< > " ` \\ { }``.

The module is pure: no I/O, deterministic, so a replayed journal gives the same texts.
"""

from __future__ import annotations

import re
import unicodedata

from workshop_server import errors

#: Bidirectional embeddings, overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Markup characters a display name may not contain.
NAME_FORBIDDEN = frozenset('<>"`\\{}')
#: Invisible characters a display name may not contain (besides controls and bidi controls).
NAME_INVISIBLE = frozenset("\u2028\u2029\u200b\u2060\ufeff")

# Category Cc is exactly U+0000-U+001F and U+007F-U+009F; Cs is U+D800-U+DFFF.
_BIDI = "\u202a-\u202e\u2066-\u2069"
_TEXT_REFUSED = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff{_BIDI}]")
_NAME_REFUSED = re.compile(
    f"[\x00-\x1f\x7f-\x9f\ud800-\udfff{_BIDI}"
    + re.escape("".join(sorted(NAME_INVISIBLE | NAME_FORBIDDEN)))
    + "]"
)
# White space trimmed from both ends: Unicode white space (NBSP, U+202F, U+3000... included), but not
# the control characters that Python also counts as white space (U+001C-U+001F, U+0085): those are
# refused, not silently dropped.
_TRIM = "".join(ch for ch in map(chr, range(0x3001)) if ch.isspace() and ch not in "\x1c\x1d\x1e\x1f\x85")
_SPACES = re.compile(" {2,}")

#: The Unicode name aliases of the control characters (``unicodedata.name`` knows none of them).
CONTROL_NAMES: dict[int, str] = {
    0x00: "NULL",
    0x01: "START OF HEADING",
    0x02: "START OF TEXT",
    0x03: "END OF TEXT",
    0x04: "END OF TRANSMISSION",
    0x05: "ENQUIRY",
    0x06: "ACKNOWLEDGE",
    0x07: "ALERT",
    0x08: "BACKSPACE",
    0x09: "CHARACTER TABULATION",
    0x0A: "LINE FEED",
    0x0B: "LINE TABULATION",
    0x0C: "FORM FEED",
    0x0D: "CARRIAGE RETURN",
    0x0E: "SHIFT OUT",
    0x0F: "SHIFT IN",
    0x10: "DATA LINK ESCAPE",
    0x11: "DEVICE CONTROL ONE",
    0x12: "DEVICE CONTROL TWO",
    0x13: "DEVICE CONTROL THREE",
    0x14: "DEVICE CONTROL FOUR",
    0x15: "NEGATIVE ACKNOWLEDGE",
    0x16: "SYNCHRONOUS IDLE",
    0x17: "END OF TRANSMISSION BLOCK",
    0x18: "CANCEL",
    0x19: "END OF MEDIUM",
    0x1A: "SUBSTITUTE",
    0x1B: "ESCAPE",
    0x1C: "INFORMATION SEPARATOR FOUR",
    0x1D: "INFORMATION SEPARATOR THREE",
    0x1E: "INFORMATION SEPARATOR TWO",
    0x1F: "INFORMATION SEPARATOR ONE",
    0x7F: "DELETE",
    0x80: "PADDING CHARACTER",
    0x81: "HIGH OCTET PRESET",
    0x82: "BREAK PERMITTED HERE",
    0x83: "NO BREAK HERE",
    0x84: "INDEX",
    0x85: "NEXT LINE",
    0x86: "START OF SELECTED AREA",
    0x87: "END OF SELECTED AREA",
    0x88: "CHARACTER TABULATION SET",
    0x89: "CHARACTER TABULATION WITH JUSTIFICATION",
    0x8A: "LINE TABULATION SET",
    0x8B: "PARTIAL LINE FORWARD",
    0x8C: "PARTIAL LINE BACKWARD",
    0x8D: "REVERSE LINE FEED",
    0x8E: "SINGLE SHIFT TWO",
    0x8F: "SINGLE SHIFT THREE",
    0x90: "DEVICE CONTROL STRING",
    0x91: "PRIVATE USE ONE",
    0x92: "PRIVATE USE TWO",
    0x93: "SET TRANSMIT STATE",
    0x94: "CANCEL CHARACTER",
    0x95: "MESSAGE WAITING",
    0x96: "START OF GUARDED AREA",
    0x97: "END OF GUARDED AREA",
    0x98: "START OF STRING",
    0x99: "SINGLE GRAPHIC CHARACTER INTRODUCER",
    0x9A: "SINGLE CHARACTER INTRODUCER",
    0x9B: "CONTROL SEQUENCE INTRODUCER",
    0x9C: "STRING TERMINATOR",
    0x9D: "OPERATING SYSTEM COMMAND",
    0x9E: "PRIVACY MESSAGE",
    0x9F: "APPLICATION PROGRAM COMMAND",
}


def describe(ch: str) -> str:
    """``U+202E RIGHT-TO-LEFT OVERRIDE``: a character's code point and name, for error messages."""
    cp = ord(ch)
    if 0xD800 <= cp <= 0xDFFF:
        return f"U+{cp:04X} (a lone surrogate)"
    name = unicodedata.name(ch, "") or CONTROL_NAMES.get(cp, "")
    return f"U+{cp:04X} {name}" if name else f"U+{cp:04X}"


def first_refused(text: str, *, name: bool = False) -> str | None:
    """The first character of ``text`` that a text (or, with ``name``, a display name) may not
    contain, or None when there is none."""
    found = (_NAME_REFUSED if name else _TEXT_REFUSED).search(text)
    return found.group() if found else None


#: Characters that show nothing although they are not white space nor format characters (text rules
#: version 5 on): the Hangul fillers (letters), the Braille blank (a symbol), the combining grapheme
#: joiner, the Mongolian free variation selectors and the variation selectors (marks).
BLANKS = frozenset(
    "\u115f\u1160\u3164\uffa0\u2800\u034f\u180b\u180c\u180d\u180f"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
#: From this text rules version on, a text or a name made only of :data:`BLANKS` (and white space and
#: format characters) is refused as showing nothing.
BLANKS_FROM = 5


def _invisible(text: str, blanks: bool = True) -> bool:
    """True when nothing in ``text`` shows: only white space and format characters (ZWJ, ...), and,
    with ``blanks``, the :data:`BLANKS`."""
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" or (blanks and ch in BLANKS) for ch in text)


def clean_text(raw: str, limit: int, what: str = "text", *, blanks: bool = True) -> str:
    """An idea, a prompt or a room text: NFC, line ends as ``\\n``, trimmed, 1 to ``limit`` code
    points, no refused character. Raises ``invalid_command`` or ``text_too_long``."""
    text = unicodedata.normalize("NFC", raw).replace("\r\n", "\n").replace("\r", "\n").strip(_TRIM)
    if not text:
        raise errors.InvalidCommand(f"the {what} is empty")
    if len(text) > limit:
        raise errors.TextTooLong(f"the {what} has {len(text)} characters; the limit is {limit}")
    bad = first_refused(text)
    if bad is not None:
        raise errors.InvalidCommand(f"the {what} contains {describe(bad)}, which is not allowed")
    if _invisible(text, blanks):
        raise errors.InvalidCommand(f"the {what} has no visible character")
    return text


def clean_name(raw: str, limit: int, *, blanks: bool = True) -> str:
    """A display name: NFC, trimmed, runs of ASCII spaces folded into one (no-break spaces are kept as
    typed), 1 to ``limit`` code points, no refused character. Raises ``invalid_name``."""
    name = _SPACES.sub(" ", unicodedata.normalize("NFC", raw).strip(_TRIM))
    if not name or len(name) > limit:
        raise errors.InvalidName(f"a display name has 1 to {limit} characters")
    bad = first_refused(name, name=True)
    if bad is not None:
        why = (
            'a display name may not contain any of < > " ` \\ { }'
            if bad in NAME_FORBIDDEN
            else "a display name is one line of visible text"
        )
        raise errors.InvalidName(f"the display name contains {describe(bad)}, which is not allowed: {why}")
    if _invisible(name, blanks):
        raise errors.InvalidName("a display name needs at least one visible character")
    return name


# --- Versions ---------------------------------------------------------------------------------------
#: The text rules new commands are handled under. Each journal entry records the version it was handled
#: under, so that a replay applies the same rules and gives the same texts (an entry without one was
#: written under version 1).
TEXT_RULES = 24
"""Version 3 adds the word filter (``rooms/triage.py``): the cleaning is version 2's. Version 4 (the
same texts) fixes merges and results, which changed what some commands emit: :data:`MERGE_FIXES`.
Version 5 refuses texts and names made only of characters that show nothing (:data:`BLANKS_FROM`)
and fixes access and moderation rules found by a review (:data:`RULE_FIXES`). Version 6 makes a
purged room an archive and theme names unique (:data:`ARCHIVE_FIXES`). Version 7 closes two gaps of
the shadow mute (:data:`SHADOW_FIXES`). Version 8 makes the shared vote order unpredictable before the
vote and tells a voter where a merge moved its dots (:data:`VOTE_FIXES`). Version 9 fixes what undoing
a merge tells, and who may edit a merged idea (:data:`GROUPING_FIXES`). Version 10 tells the authors
of a merged idea when a reply it kept for them is hidden, restored or approved (:data:`KEPT_REPLY_FIXES`).
Version 11 lets a personal invite whose member erased its data admit a new member
(:data:`ERASED_INVITE_FIXES`). Version 12 puts moderation reasons and invite labels under the text rules
(:data:`REASON_FIXES`). Version 13 makes an erasure rewrite the member's own name only
(:data:`ERASURE_FIXES`). Version 14 lets a removed, rejected or waiting member erase its own data
(:data:`SELF_ERASE_FIXES`). Version 15 lets a jury invite in past the passphrase, the approval lobby and
the lock (:data:`JURY_INVITE_FIXES`). Version 16 lets a ``_limits`` command change the cap on the word
filter's entries in the moderation log (:data:`LIMITS_FIXES`). Version 17 lets a shadow-muted member put
dots on its own shadowed ideas, as on any it sees (:data:`SHADOW_VOTE_FIXES`). Version 18 keeps a removed
or rejected member's personal invite bound to it after it erased its data (:data:`BANNED_ERASURE_FIXES`).
Version 19 keeps a shadow-muted member's shadowed ideas in their themes in its own views
(:data:`SHADOW_THEME_FIXES`). Version 20 makes an erasure and the personal purge drop the stored replies
that held personal text, and lets an unban lift the device ban of an erased member
(:data:`ERASED_RECORDS_FIXES`). Version 21 counts only the members still in the room against its member
cap (:data:`MEMBER_CAP_FIXES`). Version 22 makes a vote with hidden totals say what a hide, a merge, an
undoing or a removal did to its dots even when they did nothing (:data:`VOTE_GAP_FIXES`). Version 23
gives staff the staff form of a member in every event (:data:`STAFF_FORM_FIXES`). Version 24 makes a
rotation of the staff links give a revoked moderator invite back under its new link (:data:`ROTATE_FIXES`)."""
#: From this version on (entries handled under it, and everything live): a merged idea that absorbed a
#: note of an anonymous round names no co-author (``RoomState.anonymous_credit``); undoing a merge
#: gives back only the dots it moved, not those it refunded, and takes back the credit it had added to
#: the ideas that absorbed its idea in turn (``rooms/themes.py``); an evaluation's results leave out the
#: text of a note that is not on the wall any more (``rooms/followup_views.py``). Journals written
#: before replay as they were.
MERGE_FIXES = 4
#: From this version on: a room whose personal data was purged takes no new member; a member removed
#: from the approval queue and then unbanned gets a snapshot when it resumes (its public history starts
#: at the unban); nobody lifts its own mute; an author cannot withdraw an idea whose status is not new
#: any more (staff took it up: shortlisted, in an evaluation, decided); only the jury's sheets count at
#: an evaluation's close (a removed juror's leave it); a shadow-muted member may reply to its own
#: (shadowed) ideas, as it may to any it sees. Journals written before replay as they were.
RULE_FIXES = 5
#: From this version on: a room whose personal data was purged is an archive, which takes no member's
#: command but those that end access to it (``room.py``; staff would otherwise write new personal
#: text, a reason or a label, that no purge removes: the purge runs once); two themes may not share a
#: name, case aside.
ARCHIVE_FIXES = 6
#: From this version on: an idea edited by a shadow-muted member is shadowed (editing an idea posted
#: before the shadow mute published new text to everyone); restoring an idea or a reply posted under a
#: shadow mute publishes it (a mistaken shadow mute left them off the wall for good).
SHADOW_FIXES = 7
#: From this version on: a vote round's shared order also hashes the time the round opened, so that no
#: participant can compute it while notes can still be posted and withdrawn (posting again until one's
#: note hashed first put it at the top of every ballot: ``rooms/rounds.py``); a voter whose dots a
#: merge, or its undoing, moved gets a view of its own saying where its dots are now (``rooms/themes.py``).
VOTE_FIXES = 8
#: From this version on: undoing a merge whose idea was merged in turn sends the new credit of the ideas
#: above it (``outer`` in ``idea.unmerged``: ``rooms/themes.py``; the console, the room screen and the
#: authors kept showing the credit taken back); an idea on which a merge credits other authors cannot
#: be edited by its author: they follow it as their own, so they received a new text that is not on
#: the wall (held for approval, or written under a shadow mute: ``rooms/ideas.py``). Journals written
#: before replay as they were.
GROUPING_FIXES = 9
#: From this version on: the authors an idea merged into another credits, who keep the replies it
#: received (``followup_views.reply_kept_for``), get the events that hide, restore or approve one of
#: them (``rooms/replies.py``): their open board kept showing a reply a moderator had hidden, which
#: their snapshot no longer held. Journals written before replay as they were.
KEPT_REPLY_FIXES = 10
#: From this version on: a personal invite whose member erased its data admits the next person who opens
#: it as a new member, bound to it from then on (``rooms/access.py``). Before, it gave back the erased
#: member, whose every token is refused: the person who had asked for the erasure, opening the invite
#: again, was told the link was not valid and could not take part any more. Journals written before
#: replay as they were.
ERASED_INVITE_FIXES = 11
#: From this version on: moderation reasons (mute, remove, reject, shadow mute, hiding an idea or a reply)
#: and invite labels follow the text rules (``RoomState.clean_reason``, ``clean_label``), within the
#: limits ``reason_text_max`` and ``label_max``; a blank one is none. Before, they were only trimmed: a
#: reason could carry control characters (an escape sequence, into staff's screens and the close frame
#: sent to a removed member), bidirectional overrides or a decomposed text. Journals written before
#: replay as they were.
REASON_FIXES = 12
#: From this version on: an erasure (and the personal purge) rewrites a member's name only in the name
#: fields that belong to it and, as a word of its own, in the reasons staff typed
#: (``rooms/privacy.py:scrub``). Before, it replaced every string equal to the name anywhere in the
#: stored replies (a state "visible", a colour, a theme's name, another member of the same name) and the
#: name as a word in every text of them (someone's idea) and in every audit reason (the jury's "juror",
#: the server's "its author was removed"). Journals written before replay as they were.
ERASURE_FIXES = 13
#: From this version on: a member removed by a moderator, rejected from the approval lobby or still
#: waiting in it may erase its own data (``member.erase`` of itself; ``room.py``'s authorisation, which
#: refuses it every other command, and anyone else's erasure). Before, it was refused with ``banned``
#: or ``awaiting_approval``: a refused command may still be journaled (the clock closed a round first),
#: so journals written before replay as they were. A member erased while waiting has left the lobby:
#: admitting or rejecting it is refused (``moderation._waiting``).
SELF_ERASE_FIXES = 14
#: From this version on: a jury invite (an expert the facilitator invited by name to score) joins without
#: the room's passphrase, straight past the approval lobby, and into a locked room: the invite is the
#: facilitator's own admission (``access.enter``). Before, the expert was asked for the passphrase, waited
#: in the lobby or was refused. Journals written before replay as they were.
JURY_INVITE_FIXES = 15
#: From this version on: a ``_limits`` command (journaled when a room loads under settings that differ
#: from its recorded limits) also sets ``filter_audit_max`` (``access.set_limits``). Before, it was left
#: out: a room created before the cap kept every entry of the word filter in its moderation log for good
#: (the growth the cap was made for), and a changed ``WORKSHOP_FILTER_AUDIT_MAX`` never reached a room
#: created before the change. Journals written before replay as they were.
LIMITS_FIXES = 16
#: From this version on: a shadow-muted member may put dots on its own shadowed ideas, which it sees on the
#: wall as published (``votes.eligible``). Before, the vote was refused with ``not_found``: the one answer
#: that told a shadow-muted member about the mute. Nobody but the author and staff learns of those dots:
#: the public's totals and results leave the shadowed ideas out, and the author's own views (the vote's
#: order, totals and results) hold them where they would be if they were public (``views.order_for``,
#: ``views.results_for``). Journals written before replay as they were.
SHADOW_VOTE_FIXES = 17
#: From this version on: the personal invite of a member that was removed or rejected stays bound to it when
#: it erases its own data, so using the invite again is still refused with ``banned`` until ``member.unban``
#: (``access.enter``). Before, the erasure unbound the invite like any other member's
#: (:data:`ERASED_INVITE_FIXES`), and its next use made a new, active member: in an ``invite`` room, a
#: removed person came back by erasing its data first. Journals written before replay as they were.
BANNED_ERASURE_FIXES = 18
#: From this version on: an idea of a theme that its shadow-muted author edits (it is then shadowed) stays in
#: that theme in the author's own views, as if it were published (``RoomState.seen_on_wall``): the theme's
#: ideas in its snapshot and in the theme events it receives, the theme on its "my ideas" page, the theme's
#: status, which such an idea follows as the theme's published ideas do, and the ranking by theme of a vote
#: on ideas. In a vote on themes, a theme holding none of the public's ideas but one of the author's is in
#: the author's order, takes its dots and is ranked in its results, and keeps those dots when the public's
#: ideas leave it. Before, the author saw its idea leave the theme, and a dot on such a theme was refused
#: with ``not_found``. Nobody but staff learns of it: the public sees the theme without the idea, and the
#: dots on a theme that holds none of the public's ideas are kept from the public. Journals written before
#: replay as they were.
SHADOW_THEME_FIXES = 19
#: From this version on: an erasure drops the erased member's stored replies (``RoomState.replies``, the
#: dedupe records: they held the texts it had withdrawn or replaced by an edit, which no view shows but which
#: stayed in the room's state and its snapshot; its token no longer works, so nothing can be resent), and the
#: personal purge drops every stored reply (the room is an archive then). A removed member's device key
#: stays in its record through an erasure, as it stays in the ban list, so that ``member.unban`` still lifts
#: the ban of its browser (then the key goes). Before, the texts stayed until the room was deleted, and an
#: unbanned erased member's browser stayed banned. Journals written before replay as they were.
ERASED_RECORDS_FIXES = 20
#: From this version on: the member cap (``max_members_per_room``, recorded in each join) counts only the
#: members still in the room: not those removed, rejected or erased (``access._full``); the records kept
#: (a removed member's ban holds through its record) are bounded at twice the cap. Before, every record
#: counted: one address that knew a ``code`` room's code filled it with scripted joins, and removing them
#: freed nothing, so nobody could join again. Journals written before replay as they were.
MEMBER_CAP_FIXES = 21
#: From this version on: in a vote whose totals are hidden, a target leaving the vote (an idea hidden or
#: merged, a theme dissolved or emptied), an undone merge and a removal always emit the totals event that
#: says what they did to the dots (staff's view; each voter concerned gets its own), even when no dots
#: moved. Before, it was emitted only when some had: the others, who receive nothing of it, saw a gap in
#: the seqs exactly when someone else had dots there, which told them so (one bit of a hidden ballot).
#: Journals written before replay as they were.
VOTE_GAP_FIXES = 22
#: From this version on: every member view that reaches staff is the staff form, with ``shadow_muted`` and
#: ``erased``: in ``member.joined``, ``member.waiting``, ``member.muted``, ``member.unmuted``,
#: ``member.removed``, ``member.unbanned``, ``member.admitted``, ``member.rejected`` and ``member.jury``, and
#: in those commands' replies. Before, only the staff snapshot and ``member.shadow`` carried them, and a
#: console that replaced its record of a member with the event's lost them: mute a shadow-muted member and
#: the console showed it as not shadow-muted. Journals written before replay as they were.
STAFF_FORM_FIXES = 23
#: From this version on: ``room.rotate_links`` gives a moderator invite revoked with ``invite.revoke`` back
#: under its new link (the old link stays refused, as every replaced staff link), and ``room.links_rotated``
#: carries that invite to staff. Before, the new moderator link it handed out was refused with
#: ``invite_revoked`` for good, with no way to lift it. Journals written before replay as they were.
ROTATE_FIXES = 24


def legacy_clean_name(raw: str, limit: int) -> str:
    """Version 1 (before NFC): all white space folded, ``str.isprintable``. Replays only."""
    name = " ".join(raw.split())
    if not name or len(name) > limit:
        raise errors.InvalidName(f"a display name has 1 to {limit} characters")
    if any(not ch.isprintable() or ch in NAME_FORBIDDEN for ch in name):
        raise errors.InvalidName('a display name may not contain control characters or any of < > " ` \\ { }')
    return name


def legacy_clean_text(raw: str, limit: int, what: str = "text") -> str:
    """Version 1 (before NFC): stripped, ``str.isprintable`` besides newline and tab. Replays only."""
    text = raw.strip()
    if not text:
        raise errors.InvalidCommand(f"the {what} is empty")
    if len(text) > limit:
        raise errors.TextTooLong(f"the {what} has {len(text)} characters; the limit is {limit}")
    if any(not ch.isprintable() and ch not in "\n\t" for ch in text):
        raise errors.InvalidCommand(f"the {what} contains control characters")
    return text


def name_under(version: int, raw: str, limit: int) -> str:
    """:func:`clean_name` under the text rules of ``version``."""
    return (
        clean_name(raw, limit, blanks=version >= BLANKS_FROM)
        if version >= 2
        else legacy_clean_name(raw, limit)
    )


def text_under(version: int, raw: str, limit: int, what: str = "text") -> str:
    """:func:`clean_text` under the text rules of ``version``."""
    if version < 2:
        return legacy_clean_text(raw, limit, what)
    return clean_text(raw, limit, what, blanks=version >= BLANKS_FROM)

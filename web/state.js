// The client's copy of a room: loaded from a snapshot, then kept current by applying events in order.

export class RoomState {
  constructor() {
    this.clear();
  }

  clear() {
    this.loaded = false;
    this.epoch = null;
    this.seq = 0;
    this.room = null;
    this.presence = { online: 0, participants: 0, screens: 0 };
    this.me = null;
    this.role = null;
    this.rounds = new Map();
    this.current = null;
    this.ideas = new Map();
    this.votes = new Map();
    this.themes = new Map();
    this.merges = new Map();
    this.members = new Map();
    this.invites = new Map();
    this.audit = [];
    this.links = this.links || null;
    // The follow-up (#11): replies, announcements, the selection and the satisfaction pulses.
    this.replies = new Map();
    this.announcements = [];
    this.criteria = [];
    this.evaluations = new Map();
    this.pulses = new Map();
    // The room screen (#13): what is in the spotlight, and the current round's progress (no text).
    this.spotlight = null;
    this.progress = null;
  }

  /** Replace everything with a snapshot (at join, after a resume without events, after admission). */
  load(snap, role) {
    const links = snap.links || this.links;
    this.clear();
    this.links = links;
    this.loaded = true;
    this.role = role || this.role;
    this.epoch = snap.epoch;
    this.seq = snap.seq;
    this.room = snap.room || null;
    this.presence = snap.presence || this.presence;
    this.me = snap.me || null;
    this.filter = snap.filter || null; // staff: the word filter (#12)
    for (const r of snap.rounds || []) this.rounds.set(r.id, r);
    this.current = snap.current_round || null;
    for (const idea of snap.ideas || []) this.ideas.set(idea.id, idea);
    for (const theme of snap.themes || []) this.putTheme(theme);
    for (const m of snap.merges || []) {
      if (!m.undone) this.merges.set(m.id, { id: m.id, into: m.into, ideas: m.ideas || [], round: m.round, moved: m.moved || {} });
    }
    for (const v of snap.votes || []) {
      this.votes.set(v.round, {
        totals: v.totals || null,
        results: v.results || null,
        themeResults: v.theme_results || null,
        mine: v.mine || {},
        remaining: v.remaining,
      });
    }
    for (const m of snap.members || []) this.members.set(m.id, m);
    for (const v of snap.invites || []) this.invites.set(v.id, v);
    this.audit = (snap.audit || []).slice();
    for (const r of snap.replies || []) this.replies.set(r.id, r);
    this.announcements = (snap.announcements || []).slice();
    this.criteria = (snap.criteria || []).slice();
    for (const e of snap.evaluations || []) this.evaluations.set(e.id, e);
    for (const p of snap.pulses || []) this.pulses.set(p.id, p);
    this.spotlight = snap.spotlight || null;
    this.progress = snap.progress || null;
  }

  get currentRound() {
    return this.current ? this.rounds.get(this.current) || null : null;
  }

  get isStaff() {
    return this.role === "facilitator" || this.role === "moderator";
  }

  voteOf(roundId) {
    let v = this.votes.get(roundId);
    if (!v) {
      const rnd = this.rounds.get(roundId);
      v = { totals: null, results: null, themeResults: null, mine: {}, remaining: rnd ? rnd.budget : 0 };
      this.votes.set(roundId, v);
    }
    return v;
  }

  isMine(idea) {
    return Boolean(idea.mine || (this.me && idea.author === this.me.id));
  }

  /** Whether participants can see the idea (and so vote on it). */
  publiclyVisible(idea) {
    const rnd = this.rounds.get(idea.round);
    return idea.state === "visible" && Boolean(rnd && (rnd.revealed || !rnd.private));
  }

  putIdea(idea) {
    const old = this.ideas.get(idea.id);
    const merged = { ...idea };
    if (old && old.mine && !merged.mine) merged.mine = true;
    this.ideas.set(idea.id, merged);
  }

  /** A theme's name and colour; which ideas it holds is each idea's `theme` (see themeIdeas). */
  putTheme(theme) {
    if (!theme) return;
    const old = this.themes.get(theme.id);
    this.themes.set(theme.id, {
      id: theme.id,
      name: theme.name,
      color: theme.color,
      status: theme.status || (old && old.status) || "new",
      history: theme.history || (old && old.history) || [],
    });
    for (const id of theme.ideas || []) this.setTheme(id, theme.id);
  }

  setTheme(ideaId, themeId) {
    const idea = this.ideas.get(ideaId);
    if (!idea || (idea.theme || null) === themeId) return;
    const next = { ...idea };
    if (themeId) next.theme = themeId;
    else delete next.theme;
    this.ideas.set(ideaId, next);
  }

  putMember(member) {
    if (!member) return;
    // Merged: a room written before text rules 23 sends staff the member without shadow_muted and erased.
    if (this.isStaff) this.members.set(member.id, { ...this.members.get(member.id), ...member });
    if (this.me && member.id === this.me.id) this.me = { ...this.me, ...member };
  }

  addAudit(entry) {
    if (!entry) return;
    for (const e of Array.isArray(entry) ? entry : [entry]) this.audit.push(e);
    if (this.audit.length > 500) this.audit.splice(0, this.audit.length - 500);
  }

  /** Apply one event. Returns false when it was already applied (an older seq). */
  apply(ev) {
    if (ev.epoch !== this.epoch) return false;
    if (ev.seq <= this.seq) return false;
    this.seq = ev.seq;
    const d = ev.data || {};
    switch (ev.name) {
      case "presence":
        this.presence = { online: d.online, participants: d.participants, screens: d.screens };
        if (this.isStaff) {
          for (const id of d.came || []) this.setOnline(id, true);
          for (const id of d.left || []) this.setOnline(id, false);
        }
        break;
      case "member.joined":
      case "member.waiting":
      case "member.muted":
      case "member.unmuted":
      case "member.removed":
      case "member.unbanned":
      case "member.admitted":
      case "member.rejected":
        this.putMember(d.member);
        if (d.invite) this.invites.set(d.invite.id, { ...this.invites.get(d.invite.id), ...d.invite });
        this.addAudit(d.audit);
        break;
      case "round.opened":
      case "round.paused":
      case "round.resumed":
      case "round.extended":
      case "round.closed":
        this.rounds.set(d.round.id, d.round);
        this.current = d.round.id;
        if (ev.name === "round.opened" && d.round.kind === "vote") this.voteOf(d.round.id);
        break;
      case "round.revealed": {
        const rnd = this.rounds.get(d.round);
        if (rnd) this.rounds.set(d.round, { ...rnd, revealed: true });
        for (const idea of d.ideas || []) this.putIdea(idea);
        break;
      }
      case "idea.posted":
      case "idea.edited":
      case "idea.hidden":
      case "idea.restored":
      case "idea.approved":
        if (d.idea) this.putIdea(d.idea);
        for (const r of d.replies || []) this.replies.set(r.id, r);
        if (d.removed) this.ideas.delete(d.removed);
        this.addAudit(d.audit);
        break;
      case "idea.withdrawn":
        this.ideas.delete(d.id);
        break;
      case "vote.changed": {
        const v = this.voteOf(d.round || this.current);
        if (d.mine !== undefined) {
          v.mine = d.mine;
          v.remaining = d.remaining;
        }
        if (d.total !== undefined) {
          v.totals = v.totals || {};
          v.totals[d.idea ?? d.theme] = d.total;
        }
        break;
      }
      case "vote.totals": {
        // A removed member's dots, or a merge moving dots; a voter refunded by a merge gets its own
        // view ({refunded, mine, remaining}).
        const v = this.voteOf(d.round);
        if (d.mine !== undefined) {
          v.mine = d.mine;
          v.remaining = d.remaining;
        }
        if (d.changes) {
          v.totals = v.totals || {};
          for (const change of d.changes) v.totals[change.idea ?? change.theme] = change.total;
        }
        break;
      }
      case "vote.results": {
        const v = this.voteOf(d.round);
        v.results = d.results;
        v.totals = d.totals;
        v.themeResults = d.theme_results || null;
        break;
      }
      case "theme.created":
      case "theme.updated":
        this.putTheme(d.theme);
        break;
      case "theme.dissolved":
        this.themes.delete(d.theme);
        for (const idea of Array.from(this.ideas.values())) if (idea.theme === d.theme) this.setTheme(idea.id, null);
        break;
      case "theme.ideas":
        for (const id of d.ideas || []) this.setTheme(id, d.theme || null);
        break;
      case "idea.merged":
        if (d.idea) this.putIdea(d.idea);
        for (const id of d.merged || []) {
          const old = this.ideas.get(id);
          if (old) this.ideas.set(id, { ...old, state: "merged", merged_into: d.idea.id });
        }
        if (this.isStaff) this.merges.set(d.merge, { id: d.merge, into: d.idea.id, ideas: d.merged || [], round: this.current, moved: {} });
        break;
      case "idea.unmerged": {
        // Each form is exact (not putIdea, which keeps `mine`): an author whose credit the undo took
        // back gets the public form, and the note must leave its "My notes".
        const kept = (d.restored || []).map((id) => this.ideas.get(id)?.merged_into).find(Boolean);
        if (d.idea) this.ideas.set(d.idea.id, { ...d.idea });
        else if (kept && !this.isStaff) this.ideas.delete(kept); // no form for this viewer: not its to see
        for (const idea of d.outer || []) this.ideas.set(idea.id, { ...idea });
        const back = new Set();
        for (const idea of d.ideas || []) {
          this.ideas.set(idea.id, { ...idea });
          back.add(idea.id);
        }
        // Restored ideas this viewer may not see: drop the stale merged copy.
        for (const id of d.restored || []) if (!back.has(id) && this.ideas.get(id)?.state === "merged") this.ideas.delete(id);
        this.merges.delete(d.merge);
        break;
      }
      case "room.updated":
      case "session.ended":
        this.room = d.room;
        this.addAudit(d.audit);
        break;
      case "room.spotlight":
        this.spotlight = d.spotlight || null;
        break;
      case "room.links_rotated": // with the moderator invite when a rotation gave it back (text rules 24)
      case "invite.created":
      case "invite.revoked":
        if (d.invite) this.invites.set(d.invite.id, { ...this.invites.get(d.invite.id), ...d.invite });
        this.addAudit(d.audit);
        break;
      // --- The follow-up ---
      case "idea.status":
        if (d.idea) this.putIdea(d.idea);
        break;
      case "theme.status":
        this.putTheme(d.theme);
        break;
      case "reply.posted":
      case "reply.hidden":
      case "reply.restored":
      case "reply.approved":
        if (d.reply) this.replies.set(d.reply.id, d.reply);
        if (d.removed) this.replies.delete(d.removed);
        this.addAudit(d.audit);
        break;
      case "room.announcement":
        if (d.announcement && !this.announcements.some((a) => a.id === d.announcement.id)) this.announcements.push(d.announcement);
        break;
      case "selection.criteria":
        this.criteria = d.criteria || [];
        this.addAudit(d.audit);
        break;
      case "member.jury":
        this.putMember(d.member);
        this.addAudit(d.audit);
        break;
      case "evaluation.opened":
      case "evaluation.closed":
        if (d.evaluation) this.evaluations.set(d.evaluation.id, { ...this.evaluations.get(d.evaluation.id), ...d.evaluation });
        this.addAudit(d.audit);
        break;
      case "evaluation.scored": {
        const e = this.evaluations.get(d.evaluation);
        if (!e) break;
        const next = { ...e };
        if (d.progress) next.progress = d.progress;
        if (d.idea && d.scores) next.mine = { ...(e.mine || {}), [d.idea]: d.scores };
        this.evaluations.set(e.id, next);
        break;
      }
      // --- Triage and personal data (#12) ---
      case "filter.updated":
        if (d.filter) this.filter = d.filter;
        this.addAudit(d.audit);
        break;
      case "member.shadow":
        this.putMember(d.member);
        this.addAudit(d.audit);
        break;
      case "member.erased":
        this.renameMember(d.member, d.name);
        this.addAudit(d.audit);
        break;
      case "pulse.opened":
      case "pulse.answered":
      case "pulse.closed": {
        if (!d.pulse) break;
        const old = this.pulses.get(d.pulse.id) || {};
        const next = { ...old, ...d.pulse };
        if (d.answer) next.answers = [...(old.answers || []).filter((a) => a.member !== d.answer.member), d.answer];
        this.pulses.set(d.pulse.id, next);
        break;
      }
      default:
        break;
    }
    return true;
  }

  /** An erased member's pseudonym, wherever this copy shows its name (a snapshot follows anyway). */
  renameMember(id, name) {
    if (!id || !name) return;
    const m = this.members.get(id);
    if (m) this.members.set(id, { ...m, name, erased: true });
    const rename = (x) => (x && x.id === id ? { ...x, name } : x);
    for (const idea of this.ideas.values()) {
      if (idea.author === id || (idea.coauthors || []).some((c) => c.id === id)) {
        this.ideas.set(idea.id, { ...idea, author_name: idea.author === id ? name : idea.author_name, coauthors: idea.coauthors ? idea.coauthors.map(rename) : idea.coauthors });
      }
    }
    for (const r of this.replies.values()) if (r.author === id) this.replies.set(r.id, { ...r, author_name: name });
  }

  setOnline(id, online) {
    const m = this.members.get(id);
    if (m) this.members.set(id, { ...m, online });
  }

  /** Ideas for the wall of the current round, as this viewer may see them. */
  wallIdeas({ staff = false } = {}) {
    const rnd = this.currentRound;
    const all = Array.from(this.ideas.values());
    if (!rnd) return all.filter((i) => staff || this.publiclyVisible(i) || this.isMine(i));
    if (rnd.kind === "ideate") return all.filter((i) => i.round === rnd.id);
    return all.filter((i) => this.publiclyVisible(i) || (staff && i.state !== "visible"));
  }

  /** The ideas of a theme that this viewer may see, oldest first (merged ones excluded). */
  themeIdeas(themeId, { staff = false } = {}) {
    return Array.from(this.ideas.values()).filter(
      (i) => i.theme === themeId && i.state !== "merged" && (staff ? true : this.publiclyVisible(i)),
    );
  }

  /**
   * Split `ideas` by theme: `[{theme, ideas}]` in the order the themes were created, for themes holding
   * at least one of them, then `{theme: null, ideas}` for the rest (present even when empty).
   */
  groupByTheme(ideas) {
    const byTheme = new Map();
    const loose = [];
    for (const idea of ideas) {
      if (idea.theme && this.themes.has(idea.theme)) {
        if (!byTheme.has(idea.theme)) byTheme.set(idea.theme, []);
        byTheme.get(idea.theme).push(idea);
      } else loose.push(idea);
    }
    const groups = [];
    for (const theme of this.themes.values()) if (byTheme.has(theme.id)) groups.push({ theme, ideas: byTheme.get(theme.id) });
    groups.push({ theme: null, ideas: loose });
    return groups;
  }

  /** Themes that participants can see and vote on: those holding a publicly visible idea. */
  publicThemes() {
    return Array.from(this.themes.values()).filter((theme) => this.themeIdeas(theme.id).length > 0);
  }

  /** The merges of `ideaId` (staff) that are not undone, oldest first. */
  mergesInto(ideaId) {
    return Array.from(this.merges.values()).filter((m) => m.into === ideaId);
  }

  /** The replies of an idea this viewer may see, oldest first. */
  repliesOf(ideaId) {
    return Array.from(this.replies.values())
      .filter((r) => r.idea === ideaId)
      .sort((a, b) => a.at - b.at);
  }

  /** The evaluation that is open, or null. */
  get openEvaluation() {
    for (const e of this.evaluations.values()) if (e.status === "open") return e;
    return null;
  }

  /** The satisfaction question that is open, or null. */
  get openPulse() {
    for (const p of this.pulses.values()) if (p.status === "open") return p;
    return null;
  }

  /** Whether this viewer may score in evaluation `e` (its jury: staff, jurors, or both). */
  isJurorOf(e) {
    if (!e || !this.me) return false;
    if (this.isStaff) return e.jury !== "jurors";
    return this.role === "participant" && e.jury !== "staff" && Boolean(this.me.juror);
  }

  /**
   * `items` (ideas or themes, with an `id`) in the vote round's shared order (`rnd.order`, chosen by the
   * server: the same for every voter); those not in it go after, by id.
   */
  inVoteOrder(rnd, items) {
    const order = rnd && Array.isArray(rnd.order) ? rnd.order : [];
    const pos = new Map(order.map((id, i) => [id, i]));
    const byId = (a, b) => String(a.id).localeCompare(String(b.id), "en", { numeric: true });
    return items.slice().sort((a, b) => {
      const pa = pos.get(a.id);
      const pb = pos.get(b.id);
      if (pa !== undefined && pb !== undefined) return pa - pb;
      if (pa !== undefined) return -1;
      if (pb !== undefined) return 1;
      return byId(a, b);
    });
  }

  /** The current round's progress ({round, participants, ideas, contributors} or {..., voters}), or null. */
  progressOf(rnd) {
    const p = this.progress;
    return p && rnd && p.round === rnd.id ? p : null;
  }

  /** The latest vote round that has results. */
  latestResults() {
    let found = null;
    for (const rnd of this.rounds.values()) {
      const v = this.votes.get(rnd.id);
      if (rnd.kind === "vote" && v && v.results) found = { round: rnd, vote: v };
    }
    return found;
  }
}

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
    this.members = new Map();
    this.invites = new Map();
    this.audit = [];
    this.links = this.links || null;
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
    for (const r of snap.rounds || []) this.rounds.set(r.id, r);
    this.current = snap.current_round || null;
    for (const idea of snap.ideas || []) this.ideas.set(idea.id, idea);
    for (const v of snap.votes || []) {
      this.votes.set(v.round, {
        totals: v.totals || null,
        results: v.results || null,
        mine: v.mine || {},
        remaining: v.remaining,
      });
    }
    for (const m of snap.members || []) this.members.set(m.id, m);
    for (const v of snap.invites || []) this.invites.set(v.id, v);
    this.audit = (snap.audit || []).slice();
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
      v = { totals: null, results: null, mine: {}, remaining: rnd ? rnd.budget : 0 };
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

  putMember(member) {
    if (!member) return;
    if (this.isStaff) this.members.set(member.id, member);
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
          v.totals[d.idea] = d.total;
        }
        break;
      }
      case "vote.totals": {
        const v = this.voteOf(d.round);
        v.totals = v.totals || {};
        for (const change of d.changes || []) v.totals[change.idea] = change.total;
        break;
      }
      case "vote.results": {
        const v = this.voteOf(d.round);
        v.results = d.results;
        v.totals = d.totals;
        break;
      }
      case "room.updated":
      case "session.ended":
        this.room = d.room;
        this.addAudit(d.audit);
        break;
      case "room.links_rotated":
        this.addAudit(d.audit);
        break;
      case "invite.created":
      case "invite.revoked":
        if (d.invite) this.invites.set(d.invite.id, { ...this.invites.get(d.invite.id), ...d.invite });
        this.addAudit(d.audit);
        break;
      default:
        break;
    }
    return true;
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

// Entry point: picks the page from the URL, builds the shared chrome, and runs the room session.
//   /          landing (create a room, join with a code)
//   /j/CODE    join as a participant (#invite=TOKEN: with an invite, e.g. the moderator link)
//   /r/CODE    facilitator or moderator console (#token=TOKEN)
//   /s/CODE    room screen (#token=TOKEN)
//   /m/CODE    a participant's "my ideas" page (the token this browser stored, or #t=TOKEN)

import { h, setChildren } from "./dom.js";
import { chooseLocale, onLocaleChange, t } from "./i18n.js";
import { pageTitle, renderConnection, topBar } from "./chrome.js";
import { RoomSession, storedMember, storeMember } from "./session.js";
import { announce, beep, Milestones, unlockAudioOnGesture } from "./timer.js";
import { mountLanding } from "./views/landing.js";
import { mountJoin, mountLobby } from "./views/join.js";
import { mountBoard } from "./views/board.js";
import { returnToDraft } from "./outbox.js";
import { consoleLabel, mountConsole, ownConsoleUrl } from "./views/console.js";
import { mountScreen } from "./views/screen.js";
import { mountMessage } from "./views/message.js";
import { goneDataCard } from "./views/mydata.js";
import { mountMine } from "./views/mine.js";
import { rememberRoom } from "./views/rooms.js";
import { ROUND_BOUND as ROUND_BOUND_LIST } from "./contract.js";

const root = document.getElementById("app");
// The commands with a `round` field, from the server's registry (web/contract.js is generated).
const ROUND_BOUND = new Set(ROUND_BOUND_LIST);
// A round closed by its timer longer ago than this, heard while catching up (a page that slept), is
// announced as closed, without the beep and "Time's up".
const LATE_CLOSE_SECONDS = 10;

function parseHash() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  return { token: params.get("token"), invite: params.get("invite") };
}

function route() {
  const m = location.pathname.match(/^\/(j|r|s|m)\/([^/]+)\/?$/);
  if (!m) return { page: location.pathname === "/" ? "landing" : "notfound" };
  let raw;
  try {
    raw = decodeURIComponent(m[2]);
  } catch {
    return { page: "notfound" }; // broken percent-encoding (a link cut short): no such room
  }
  const code = raw.toUpperCase().replace(/[\s_-]/g, "");
  return { page: { j: "join", r: "console", s: "screen", m: "mine" }[m[1]], code, ...parseHash() };
}

// --- Room pages -------------------------------------------------------------------------------------------
/** Focus the first shown main heading of `view` (else its <main>), focusable by script only. */
function focusHeading(view) {
  const main = view.querySelector("main") || view;
  const target = Array.from(main.querySelectorAll("h1")).find((el) => el.getClientRects().length > 0) || main;
  if (!target.hasAttribute("tabindex")) target.tabIndex = -1;
  target.focus({ preventScroll: true });
}

function errorText(error) {
  const key = "error." + error.code;
  const text = t(key);
  return text === key ? error.message || error.code : text;
}

/**
 * A staff action refused because the room already is where it led (another device of the facilitator,
 * or another moderator, did it first; a double tap): what the room is now, rather than "That is not
 * possible right now". The events that did it arrive before the refusal. "" when that is not the case.
 */
function alreadyDone(type, fields, state) {
  const rnd = fields.round ? state.rounds.get(fields.round) : state.currentRound;
  const idea = fields.idea ? state.ideas.get(fields.idea) : null;
  const member = fields.member ? state.members.get(fields.member) : null;
  switch (type) {
    case "round.open":
      return rnd && rnd.status !== "closed" ? t("already.roundOpen", { prompt: rnd.prompt }) : "";
    case "round.close":
    case "round.extend":
      return rnd && rnd.status === "closed" ? t("already.roundClosed") : "";
    case "round.pause":
      if (rnd && rnd.status === "closed") return t("already.roundClosed");
      return rnd && rnd.status === "paused" ? t("already.roundPaused") : "";
    case "round.resume":
      if (rnd && rnd.status === "closed") return t("already.roundClosed");
      return rnd && rnd.status === "open" ? t("already.roundRunning") : "";
    case "idea.approve":
      if (idea && idea.state === "hidden") return t("already.hiddenMeanwhile");
      return idea && idea.state === "visible" ? t("already.approved") : "";
    case "idea.hide":
      return idea && idea.state === "hidden" ? t("already.hidden") : "";
    case "idea.restore":
      return idea && idea.state === "visible" ? t("already.restored") : "";
    case "member.admit":
    case "member.reject":
      if (member && member.status === "active") return t("already.admitted", { name: member.name });
      return member && member.status === "rejected" ? t("already.rejected", { name: member.name }) : "";
    default:
      return "";
  }
}

// The views of a live session; leaving one for a terminal message is announced.
const LIVE_VIEWS = new Set(["lobby", "board", "console", "screen"]);

/** Runs a session on a room page and swaps the view (join form, lobby, board, console, screen). */
class RoomPage {
  constructor(r) {
    this.r = r;
    this.code = r.code;
    this.session = null;
    this.view = null;
    this.viewKind = null;
    this.info = null;
    this.milestones = new Milestones((name, rnd) => this.onMilestone(name, rnd));
    this.ctx = {
      page: this,
      session: null,
      code: this.code,
      t,
      act: (type, fields, options) => this.act(type, fields, options),
      refresh: () => this.scheduleRender(),
      toast: (text, kind) => this.toast(text, kind),
      errorText,
      now: () => (this.session ? this.session.conn.serverNow() : Date.now() / 1000),
      limits: () => (this.session ? this.session.conn.limits : {}),
    };
  }

  start() {
    const r = this.r;
    if (r.page === "console" || r.page === "screen") {
      if (!r.token) {
        this.showMessage("message.noToken", "message.noTokenBody");
        return;
      }
      // The console's commands survive a reload too (a moderation click while the Wi-Fi is down).
      this.startSession(r.page === "console" ? { token: r.token, outboxSlot: "staff" } : { token: r.token });
      return;
    }
    const stored = storedMember(this.code);
    if (stored && stored.token && (!r.invite || stored.invite === r.invite)) {
      this.startSession({ token: stored.token, remember: true, invite: stored.invite });
      return;
    }
    this.showJoin();
  }

  startSession(options) {
    if (this.session) this.session.stop();
    const session = new RoomSession({
      code: this.code,
      ...options,
      onChange: () => this.scheduleRender(),
      onEvent: (ev, state) => this.onEvent(ev, state),
      onJoinError: (error) => this.onJoinError(error),
      // A command an earlier page left unanswered was refused when resent (the round closed meanwhile...).
      onRestored: (msg, ok, error) => {
        if (ok || !error || error.code === "closed") return;
        if (msg.type === "idea.post") {
          // A note sent before a reload and refused after it: its text back in the draft, as board.js
          // does for a note refused before any reload, and the same words for a round closed meanwhile.
          const draft = returnToDraft(this.ctx.code, msg.text);
          if (this.ctx.draftReturned) this.ctx.draftReturned(draft);
          this.toast(error.code === "round_closed" ? t("board.postTooLate") : errorText(error), "error");
        } else this.toast(errorText(error), "error");
      },
    });
    this.session = session;
    this.ctx.session = session;
    window.__workshop = { session, state: session.state, conn: session.conn };
    session.start();
    this.scheduleRender();
  }

  async showJoin() {
    this.mountView("join", () =>
      mountJoin(this.ctx, {
        info: this.info,
        invite: this.r.invite,
        onInfo: (info) => {
          this.info = info;
          if (info && info.locale) chooseLocale(info.locale);
          this.retitle();
        },
        onSubmit: (join) => {
          this.pendingJoin = join;
          this.startSession({ join, remember: true, invite: join.invite || null });
        },
      }),
    );
  }

  onJoinError(error) {
    if (this.view && this.view.joinFailed) this.view.joinFailed(errorText(error), error);
    if (this.session) this.session.stop();
    this.session = null;
    this.ctx.session = null;
  }

  showMessage(titleKey, bodyKey, extra, after = null) {
    this.mountView("message:" + titleKey, () => mountMessage(this.ctx, { titleKey, bodyKey, extra, after: after ? after() : null }));
  }

  mountView(kind, factory) {
    if (this.viewKind === kind && this.view) {
      this.view.update?.();
      this.retitle();
      return;
    }
    // The focus was in the view being replaced, or on "Join the workshop" (disabled while it joins, so
    // already on <body>): it goes to the new view's heading rather than falling to <body>, where a
    // keyboard or screen reader user would start over.
    const active = document.activeElement;
    const hadFocus = root.contains(active) || (this.viewKind === "join" && (!active || active === document.body));
    this.view?.destroy?.();
    this.viewKind = kind;
    this.view = factory();
    setChildren(root, this.view.el);
    // A new view starts at its top: the board kept the join form's scroll, its round card above the screen.
    window.scrollTo(0, 0);
    this.view.update?.();
    this.retitle();
    if (hadFocus && !root.contains(document.activeElement)) focusHeading(this.view.el);
  }

  /** The document's title: the console or the room screen, or a message, and the room's title. */
  retitle() {
    const s = this.session;
    const state = s && s.state.loaded ? s.state : null;
    const room = (state && state.room && state.room.title) || (this.info && this.info.title) || "";
    const kind = this.viewKind || "";
    let label = "";
    if (kind === "console" && state) label = consoleLabel(s.role === "facilitator" ? "facilitator" : "moderator", state.me ? state.me.name : "");
    else if (kind === "screen") label = t("rooms.screen");
    else if (kind.startsWith("message:")) label = t(kind.slice(8));
    pageTitle(label, room);
  }

  remount() {
    const kind = this.viewKind;
    this.viewKind = null;
    this.view?.destroy?.();
    this.view = null;
    if (kind === "join") this.showJoin();
    else this.render(kind);
  }

  scheduleRender() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      this.render();
    });
  }

  render(forceKind) {
    const s = this.session;
    if (forceKind && forceKind.startsWith("message:") && !s) {
      const titleKey = forceKind.slice(8);
      this.showMessage(titleKey, titleKey + "Body");
      return;
    }
    if (!s) {
      if (this.viewKind === "join") this.view.update?.();
      else if (forceKind === "join" || !this.viewKind) this.showJoin();
      return;
    }
    if (s.terminal) {
      const code = s.terminal.code;
      // A participant's token is revoked only by the erasure of its data (member.erase, #12).
      const erased = s.erased || (code === 4103 && s.role === "participant");
      const key = erased ? "erased" : { 4100: "removed", 4101: "rejected", 4102: "roomDeleted", 4103: "tokenRevoked" }[code] || "closed";
      const reason = s.terminal.reason ? t("terminal.reason", { reason: s.terminal.reason }) : "";
      // A removed or rejected member may still download or erase its data, with its token alone.
      const gone = !erased && (code === 4100 || code === 4101) && s.token && s.role !== "moderator";
      const after = gone ? () => goneDataCard(this.ctx) : null;
      // The page swaps under a screen reader: say what happened, once (not on a reload onto the message).
      if (LIVE_VIEWS.has(this.viewKind)) announce(t("terminal." + key));
      this.showMessage("terminal." + key, "terminal." + key + "Body", reason, after);
      return;
    }
    if (s.failure) {
      const code = s.failure.code;
      if (this.r.page === "join" && code === "invalid_token") {
        this.session = null;
        this.ctx.session = null;
        storeMember(this.code, null);
        this.showJoin();
        return;
      }
      this.showMessage("message.cannotOpen", null, errorText(s.failure));
      return;
    }
    const state = s.state;
    if (!state.loaded) {
      if (this.viewKind === "join") {
        this.view.update?.();
        renderConnection(this.ctx);
        return;
      }
      this.mountView("connecting", () => mountMessage(this.ctx, { titleKey: "message.connecting", busy: true }));
      return;
    }
    if (this.viewKind === "join" || this.viewKind === "connecting") {
      // Every page, the room screen included, follows the browser's language first (#13): a French
      // projector laptop shows French in an English room; the top bar and the screen have a switch.
      if (state.room && state.room.locale) chooseLocale(state.room.locale);
    }
    const role = s.role;
    let kind;
    if (role === "screen") kind = "screen";
    else if (role === "facilitator" || role === "moderator") kind = "console";
    else if (state.me && state.me.status === "waiting") kind = "lobby";
    else kind = "board";
    const factories = {
      screen: () => mountScreen(this.ctx),
      console: () => mountConsole(this.ctx),
      lobby: () => mountLobby(this.ctx),
      board: () => mountBoard(this.ctx),
    };
    // Let in from the lobby: the board replaces it without a word, so the live region says so.
    if (this.viewKind === "lobby" && kind === "board") announce(t("lobby.admitted"));
    this.mountView(kind, factories[kind]);
    if (kind === "console") this.remember(state, role);
    renderConnection(this.ctx);
  }

  /** "Your rooms" on the landing page lists every room this browser facilitated or moderated (#13). */
  remember(state, role) {
    const links = (role === "facilitator" && state.links) || {};
    const room = {
      code: this.code,
      title: (state.room && state.room.title) || "",
      role,
      // Its own link (its member token): a moderator's page is the shared invite's, which would make a new one.
      console_url: ownConsoleUrl(this.code, this.session && this.session.token),
      facilitator_url: role === "facilitator" ? location.href : null,
      moderator_url: links.moderator_url,
      join_url: links.join_url || `${location.origin}/j/${this.code}`,
      screen_url: links.screen_url,
    };
    const sig = JSON.stringify(room);
    if (sig === this.rememberedSig) return;
    this.rememberedSig = sig;
    rememberRoom(room);
  }

  /** Send a command; a refusal is toasted (`options.errorText(error)`: the view's own words for it, or ""). */
  act(type, fields = {}, options = {}) {
    const s = this.session;
    if (!s) return Promise.resolve(null);
    // Bound to the round it was made in: queued offline, it is refused (round_closed) rather than
    // applied to whatever round is current when the connection comes back.
    if (ROUND_BOUND.has(type) && s.state.current && fields.round === undefined) fields = { ...fields, round: s.state.current };
    return s.send(type, fields).catch((error) => {
      const already = error.code === "invalid_transition" ? alreadyDone(type, fields, s.state) : "";
      const own = options.errorText ? options.errorText(error) : "";
      if (own) this.toast(own, "error");
      else if (already) this.toast(already);
      else if (error.code !== "closed") this.toast(errorText(error), "error");
      throw error;
    });
  }

  toast(text, kind = "info") {
    // In index.html from the start: a live region created with its first text is not read.
    let region = document.getElementById("toasts");
    if (!region) {
      region = h("div", { id: "toasts", class: "toasts", role: "status", "aria-live": "polite" });
      document.body.append(region);
    }
    const item = h("div", { class: "toast toast-" + kind, text });
    region.append(item);
    setTimeout(() => item.remove(), kind === "error" ? 6000 : 3500);
  }

  onEvent(ev, state) {
    const d = ev.data || {};
    const rnd = d.round && typeof d.round === "object" ? d.round : null;
    switch (ev.name) {
      case "round.opened":
        announce(t("announce.opened", { prompt: rnd.prompt }));
        this.milestones.check(rnd, this.ctx.now());
        break;
      case "round.paused":
        announce(t("announce.paused"));
        break;
      case "round.resumed":
      case "round.extended":
        if (ev.name === "round.resumed") announce(t("announce.resumed"));
        else announce(t("announce.extended", { time: "" }));
        this.milestones.reset(rnd, this.ctx.now());
        break;
      case "round.closed": {
        // The countdown may have said "Time's up" already (its milestone at 0:00): not a second time.
        // Nor minutes late: a page that slept through the end (a projector's lid) and catches up hears
        // that the round is closed, without a beep.
        const late = rnd && typeof rnd.closed_at === "number" && this.ctx.now() - rnd.closed_at > LATE_CLOSE_SECONDS;
        if (d.reason !== "timer" || late) announce(t("announce.closed"));
        if (this.milestones.closed(rnd) && d.reason === "timer" && !late) {
          beep();
          announce(t("announce.timeUp"));
        }
        break;
      }
      case "vote.results":
        announce(t("announce.results"));
        break;
      case "vote.totals":
        // A merge put this voter above the cap on the merged note: the excess dots came back.
        if (d.refunded && state.role === "participant") {
          const text = t("vote.refunded", { count: d.refunded });
          announce(text);
          this.toast(text);
        }
        break;
      case "member.muted":
        if (state.me && d.member && d.member.id === state.me.id) announce(t("board.mutedBanner"));
        break;
      // The follow-up: what a participant should hear about without looking.
      case "room.announcement":
        if (d.announcement && !state.isStaff) announce(t("announce.new", { text: d.announcement.text }));
        break;
      case "idea.status":
        if (d.idea && state.role === "participant" && state.isMine(d.idea)) announce(t("followup.yourStatus", { text: d.idea.text, status: t("istatus." + d.idea.status) }));
        break;
      case "reply.posted":
        if (d.reply && d.reply.staff && state.role === "participant") {
          const idea = state.ideas.get(d.reply.idea);
          if (idea && state.isMine(idea)) announce(t("reply.staffReplied", { name: d.reply.brand || d.reply.author_name || "" }));
        }
        break;
      case "pulse.opened":
        if (state.role === "participant") announce(t("pulse.opened"));
        break;
      case "evaluation.opened":
        if (d.evaluation && state.role === "participant" && state.isJurorOf(d.evaluation)) announce(t("selection.juryOpened"));
        break;
      default:
        break;
    }
  }

  onMilestone(name) {
    if (name === "minute") announce(t("announce.minute"));
    else if (name === "ten") announce(t("announce.ten"));
    else if (name === "end") {
      announce(t("announce.timeUp"));
      beep();
    }
  }

  /** Called four times a second: timers and milestones. */
  tick() {
    const s = this.session;
    // Not while the page woke up and has not heard from the server yet: its round may have been
    // extended or paused meanwhile (a projector must not beep "Time's up" on a deadline that moved).
    if (s) s.conn.checkClock();
    if (s && s.state.loaded && !s.conn.stale) this.milestones.check(s.state.currentRound, this.ctx.now());
    this.view?.tick?.();
  }
}

// --- Boot -------------------------------------------------------------------------------------------------
function boot() {
  const r = route();
  chooseLocale(null);
  unlockAudioOnGesture();
  if (r.page === "landing" || r.page === "notfound") {
    const ctx = { t, toast: () => {} };
    const mount = () => {
      const view = r.page === "landing" ? mountLanding(ctx) : mountMessage(ctx, { titleKey: "message.notFound", bodyKey: "message.notFoundBody" });
      setChildren(root, view.el);
      pageTitle(r.page === "landing" ? "" : t("message.notFound"));
    };
    mount();
    onLocaleChange(() => {
      const focused = document.activeElement && document.activeElement.id;
      mount();
      if (focused) document.getElementById(focused)?.focus();
    });
    return;
  }
  if (r.page === "mine") {
    const ctx = { t, toast: (text) => announce(text), code: r.code };
    ctx.chrome = (title) => {
      pageTitle(t("mine.title"), title);
      return topBar(ctx, { title });
    };
    const view = mountMine(root, ctx, { code: r.code, onRoom: (room) => room && room.locale && chooseLocale(room.locale) });
    onLocaleChange(() => view.render());
    window.addEventListener("hashchange", () => location.reload());
    return;
  }
  const page = new RoomPage(r);
  page.start();
  onLocaleChange(() => {
    const focused = document.activeElement && document.activeElement.id;
    page.remount();
    if (focused) document.getElementById(focused)?.focus();
  });
  setInterval(() => page.tick(), 250);
  // A pasted link that only differs by its #token or #invite does not reload the page by itself.
  window.addEventListener("hashchange", () => location.reload());
  window.addEventListener("online", () => renderConnection(page.ctx));
  window.addEventListener("offline", () => renderConnection(page.ctx));
}

boot();

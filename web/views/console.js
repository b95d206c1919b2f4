// The staff console. Facilitators run rounds and moderate; moderators get the same moderation panel
// without the round controls. Every action is a button; actions that need a reason open a small form.

import { h, renderRow, setChildren, setText, show, syncList } from "../dom.js";
import { formatTime, inEveryLocale, t } from "../i18n.js";
import { netBanner, topBar } from "../chrome.js";
import { linkRow } from "./landing.js";
import { authorOf, colorClass, resultsList, roundKindLabel, roundStatusLabel, timerBlock } from "./parts.js";
import { buildThemesBoard, groupable, grouping, unmerge } from "./themes.js";
import { fu, replyBox, repliesList, statusControl, statusLine } from "./followup.js";
import { buildConsoleFollowup } from "./followup_console.js";
import { buildInsights } from "./dashboard.js";
import { buildExports, buildFilterCard, shadowBadge, shadowButton, triageBadges } from "./triage.js";
import { isSpotlit, spotlightBar, spotlightButton } from "./spotlight.js";

// Kept across a language switch and re-renders.
const form = {
  kind: "ideate",
  prompt: "",
  duration: "5",
  unit: "60",
  timer: true,
  maxIdeas: "",
  private: true,
  anonymous: null,
  budget: "3",
  maxPerIdea: "2",
  hideTotals: true,
  target: "ideas",
};
// The open reason forms ("kind:id" -> the text typed so far): several can be open at once, so opening
// one never discards another that was half-filled (#13).
const ui = { prompts: new Map(), confirmEnd: false, confirmRotate: false, newLinks: null };

function short(text, n = 60) {
  const one = String(text).replace(/\s+/g, " ").trim();
  return one.length > n ? one.slice(0, n - 1) + "…" : one;
}

/** "Facilitator console · Ada", or just "Facilitator console" when the name is empty or only the role's
 * default name ("Facilitator", "Animateur"): never "Facilitator console · Facilitator". */
export function consoleLabel(role, name) {
  const clean = String(name || "").trim();
  const defaults = inEveryLocale("role." + role).map((x) => x.toLowerCase());
  if (!clean || defaults.includes(clean.toLowerCase())) return t(role === "facilitator" ? "console.facilitatorConsole" : "console.moderatorConsole");
  return t(role === "facilitator" ? "console.asFacilitator" : "console.asModerator", { name: clean });
}

/**
 * This console's own link: the console page with this member's token in the fragment (`/r/CODE#token=`),
 * which reopens it as the same member on any device. A moderator who came in through the shared
 * moderator invite (`/j/CODE#invite=`) is on that invite's page: its address would make a new moderator.
 */
export function ownConsoleUrl(code, token) {
  if (!token) return location.href;
  return `${location.origin}/r/${encodeURIComponent(code)}#token=${token}`;
}

export function mountConsole(ctx) {
  const session = ctx.session;
  const state = session.state;
  const facilitator = () => session.role === "facilitator";
  if (form.anonymous === null) form.anonymous = Boolean(state.room && state.room.anonymous);

  // --- Round panel ------------------------------------------------------------------------------------------
  const kindBadge = h("span", { class: "badge badge-kind" });
  const statusBadge = h("span", { class: "badge badge-status" });
  const prompt = h("h2", { class: "prompt prompt-console", id: "console-prompt" });
  const timer = timerBlock();
  const stats = h("p", { class: "stats", id: "round-stats" });
  const btn = (id, key, onclick, cls = "btn-secondary") => h("button", { type: "button", id, class: "btn " + cls, text: t(key), onclick });
  const pauseBtn = btn("round-pause", "console.pause", () => ctx.act("round.pause").catch(() => {}));
  const resumeBtn = btn("round-resume", "console.resume", () => ctx.act("round.resume").catch(() => {}));
  const extend30 = btn("round-extend-30", "console.extend30", () => ctx.act("round.extend", { seconds: 30 }).catch(() => {}));
  const extend60 = btn("round-extend-60", "console.extend60", () => ctx.act("round.extend", { seconds: 60 }).catch(() => {}));
  const closeBtn = btn("round-close", "console.close", () => ctx.act("round.close").catch(() => {}), "btn-danger-outline");
  const revealBtn = btn("round-reveal", "console.reveal", () => ctx.act("round.reveal").catch(() => {}), "btn-primary");
  const controls = h("div", { class: "round-controls", role: "group", "aria-label": t("console.roundControls") }, pauseBtn, resumeBtn, extend30, extend60, revealBtn, closeBtn);
  const current = h(
    "section",
    { class: "card round-card", id: "current-round", "aria-labelledby": "console-prompt" },
    h("div", { class: "round-head" }, kindBadge, statusBadge),
    prompt,
    timer.el,
    stats,
    controls,
  );

  const openForm = buildOpenForm(ctx, state);

  const endBtn = h("button", { type: "button", id: "session-end", class: "btn btn-ghost btn-small" });
  const endConfirm = h("button", { type: "button", id: "session-end-confirm", class: "btn btn-danger btn-small", text: t("console.endConfirm") });
  const endCancel = h("button", { type: "button", class: "btn btn-ghost btn-small", text: t("common.cancel") });
  endBtn.addEventListener("click", () => {
    ui.confirmEnd = true;
    update();
    endConfirm.focus();
  });
  endCancel.addEventListener("click", () => {
    ui.confirmEnd = false;
    update();
    endBtn.focus();
  });
  endConfirm.addEventListener("click", () => {
    ui.confirmEnd = false;
    ctx.act("session.end").catch(() => {});
    update();
  });
  const endText = h("span", { class: "confirm-text", text: t("console.endQuestion") });
  const endRow = h("div", { class: "end-row" }, endBtn, endText, endConfirm, endCancel);

  // --- Wall (with themes), approval queue, results ----------------------------------------------------------
  const themesBoard = buildThemesBoard(ctx, state, { updateNote: (el, idea) => updateStaffNote(el, idea), refresh: () => update() });
  const wall = themesBoard.el;
  const spotBar = spotlightBar(ctx, state);
  const results = resultsList({ id: "console-results" });
  const themeResults = resultsList({ id: "console-theme-results" });
  const themeResultsBox = h("div", { class: "results-by-theme" }, h("h3", { class: "section-subtitle", text: t("results.byTheme") }), themeResults.el);
  const resultsSection = h("section", { class: "section", "aria-labelledby": "console-results-title" }, h("h2", { class: "section-title", id: "console-results-title", text: t("results.title") }), results.el, themeResultsBox);

  // --- Sidebar --------------------------------------------------------------------------------------------------
  const share = buildShare(ctx, state, facilitator());
  const presence = h("p", { class: "presence-line", id: "presence-line" });
  const lockSwitch = switchButton("room-lock", t("console.lock"), t("console.lockHint"), (on) => ctx.act("room.set", { locked: on }).catch(() => {}));
  const queueSwitch = switchButton("room-queue", t("console.queue"), t("console.queueHint"), (on) => ctx.act("room.set", { approval_queue: on }).catch(() => {}));
  const roomCard = h("section", { class: "card", "aria-labelledby": "room-settings-title" }, h("h2", { class: "section-title", id: "room-settings-title", text: t("console.room") }), presence, lockSwitch.el, queueSwitch.el);

  const lobbyList = h("ul", { class: "rows", id: "lobby-list" });
  const lobbyEmpty = h("p", { class: "empty", text: t("console.lobbyEmpty") });
  const lobbyCard = h("section", { class: "card", id: "lobby-card", "aria-labelledby": "lobby-title" }, h("h2", { class: "section-title", id: "lobby-title", text: t("console.lobby") }), lobbyEmpty, lobbyList);

  const pendingList = h("ul", { class: "notes notes-staff notes-compact", id: "pending-list" });
  const pendingEmpty = h("p", { class: "empty", text: t("console.pendingEmpty") });
  const pendingCard = h("section", { class: "card", id: "pending-card", "aria-labelledby": "pending-title" }, h("h2", { class: "section-title", id: "pending-title", text: t("console.pending") }), pendingEmpty, pendingList);

  const memberList = h("ul", { class: "rows", id: "member-list" });
  const memberTitle = h("h2", { class: "section-title", id: "members-title" });
  const memberCard = h("section", { class: "card", "aria-labelledby": "members-title" }, memberTitle, memberList);

  const bannedList = h("ul", { class: "rows", id: "banned-list" });
  const bannedCard = h("section", { class: "card", id: "banned-card", "aria-labelledby": "banned-title" }, h("h2", { class: "section-title", id: "banned-title", text: t("console.banned") }), bannedList);

  const invites = buildInvites(ctx, state);
  const staffCard = buildStaffCard(ctx, state, () => update());

  // The log scrolls inside its card: focusable, so that keyboard users can scroll it too (WCAG 2.1.1).
  const auditList = h("ol", { class: "audit", id: "audit-list", reversed: true, tabindex: "0", "aria-labelledby": "audit-title" });
  const auditEmpty = h("p", { class: "empty", text: t("console.auditEmpty") });
  const auditCard = h("section", { class: "card", "aria-labelledby": "audit-title" }, h("h2", { class: "section-title", id: "audit-title", text: t("console.audit") }), auditEmpty, auditList);

  const endedBanner = h("div", { class: "banner banner-info", id: "ended-banner", role: "status", text: t("console.ended") });
  const followup = buildConsoleFollowup(ctx, state, () => update());
  // Figures, exports and the word filter (#12): a one-line bar on top until opened.
  const insights = buildInsights(ctx, state, { exportsCard: buildExports(ctx), filterCard: buildFilterCard(ctx, state) });
  const roleLine = h("p", { class: "eyebrow", id: "console-role" });
  const mainCol = h(
    "div",
    { class: "console-main" },
    roleLine,
    insights.el,
    endedBanner,
    current,
    resultsSection,
    openForm.el,
    spotBar.el,
    wall,
    endRow,
  );
  const side = h("aside", { class: "console-side", "aria-label": t("console.sidebar") }, lobbyCard, pendingCard, share.el, invites.el, roomCard, memberCard, bannedCard, auditCard, staffCard.el, followup.el);
  const el = h(
    "div",
    { class: "page page-console" },
    topBar(ctx, { title: state.room ? state.room.title : "", sound: true }),
    netBanner(ctx),
    h("main", { class: "console", id: "main" }, mainCol, side),
  );

  // --- Rows -----------------------------------------------------------------------------------------------
  function reasonForm(kind, id, labelKey, confirmKey, onConfirm, hintKey = null) {
    const key = `${kind}:${id}`;
    const inputId = `reason-${kind}-${id}`;
    const hintId = hintKey ? `reason-${kind}-${id}-hint` : null;
    const input = h("input", { type: "text", id: inputId, class: "reason-input", maxlength: String(Number(ctx.limits().reason_text_max) || 500), value: ui.prompts.get(key) || "", "data-focus": "reason-" + kind, "aria-describedby": hintId });
    input.addEventListener("input", () => {
      if (ui.prompts.has(key)) ui.prompts.set(key, input.value);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") closePrompt(kind, id);
    });
    return h(
      "form",
      {
        class: "reason-form",
        onsubmit: (e) => {
          e.preventDefault();
          const reason = input.value.trim();
          closePrompt(kind, id);
          onConfirm(reason);
        },
      },
      h("label", { for: inputId, text: t(labelKey) }),
      input,
      hintKey ? h("p", { class: "hint reason-hint", id: hintId, text: t(hintKey) }) : null,
      h(
        "div",
        { class: "row-actions" },
        h("button", { type: "submit", class: "btn btn-small btn-danger", "data-focus": "confirm-" + kind, text: t(confirmKey) }),
        h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "cancel-" + kind, text: t("common.cancel"), onclick: () => closePrompt(kind, id) }),
      ),
    );
  }

  function openPrompt(kind, id) {
    const key = `${kind}:${id}`;
    if (!ui.prompts.has(key)) ui.prompts.set(key, "");
    update();
    document.getElementById(`reason-${kind}-${id}`)?.focus();
  }

  function closePrompt(kind, id) {
    ui.prompts.delete(`${kind}:${id}`);
    update();
  }

  const prompting = (kind, id) => ui.prompts.has(`${kind}:${id}`);
  const small = (key, focus, onclick, cls = "btn-ghost", label = null) =>
    h("button", { type: "button", class: "btn btn-small " + cls, "data-focus": focus, text: t(key), "aria-label": label, onclick });

  function memberName(id) {
    if (id === "server") return t("audit.server");
    const m = state.members.get(id);
    return m ? m.name : id;
  }

  function updateStaffNote(el, idea) {
    const rnd = state.rounds.get(idea.round);
    const cur = state.currentRound;
    const v = cur && cur.kind === "vote" && cur.target !== "themes" ? state.votes.get(cur.id) : null;
    const total = v && v.totals ? v.totals[idea.id] || 0 : null;
    const hiding = prompting("hide", idea.id);
    const selectable = groupable(state, idea);
    const selected = selectable && grouping.selected.has(idea.id);
    // Merges into this note: the absorbed notes, and an undo while the round of the merge is current.
    const merges = state.mergesInto(idea.id).map((m) => ({
      id: m.id,
      texts: m.ideas.map((id) => state.ideas.get(id)).filter(Boolean).map((i) => short(i.text, 50)),
      undo: m.round === state.current,
      error: grouping.unmergeErrors.get(m.id) || "",
    }));
    const credit = authorOf(state, idea, { staff: true });
    el.className = "note staff-note " + colorClass(idea.color) + " is-" + idea.state + (selected ? " is-selected" : "");
    el.dataset.idea = idea.id;
    // The follow-up: the status (and its form), the replies with their moderation, the staff's reply box.
    const replies = state.repliesOf(idea.id);
    const onWall = state.publiclyVisible(idea);
    const statusOpen = Boolean(fu.status && fu.status.kind === "idea" && fu.status.id === idea.id);
    const follow = [idea.status, idea.history, replies, onWall, statusOpen, fu.replying === idea.id];
    const sig = JSON.stringify([idea.text, credit, idea.state, idea.shadowed, idea.hide_reason, total, hiding, rnd && rnd.private && !rnd.revealed, selectable, selected, merges, follow, isSpotlit(state, { idea: idea.id })]);
    renderRow(el, sig, () => {
      const label = short(idea.text);
      const badges = [];
      if (idea.state === "pending") badges.push(h("span", { class: "badge badge-pending", text: t("note.pending") }));
      badges.push(...triageBadges(idea));
      if (idea.state === "hidden") badges.push(h("span", { class: "badge badge-hidden", text: idea.hide_reason ? t("note.hiddenReason", { reason: idea.hide_reason }) : t("note.hidden") }));
      if (idea.state === "visible" && rnd && rnd.private && !rnd.revealed) badges.push(h("span", { class: "badge", text: t("note.private") }));
      if (total !== null) badges.push(h("span", { class: "badge badge-dots", text: t("results.dots", { count: total }) }));
      const replying = fu.replying === idea.id;
      const reply = replyBox(ctx, idea, { canReply: onWall, refresh: () => update(), maxLength: Number(ctx.limits().reply_text_max) || 500 });
      const actions = [];
      if (idea.state === "pending") actions.push(small("console.approve", "approve", () => ctx.act("idea.approve", { idea: idea.id }).catch(() => {}), "btn-secondary", t("console.approveLabel", { text: label })));
      if (idea.state !== "hidden") actions.push(small("console.hide", "hide", () => openPrompt("hide", idea.id), "btn-ghost", t("console.hideLabel", { text: label })));
      else actions.push(small("console.restore", "restore", () => ctx.act("idea.restore", { idea: idea.id }).catch(() => {}), "btn-ghost", t("console.restoreLabel", { text: label })));
      // Written under a shadow mute (seen by its author and staff only): a moderator may publish it.
      if (idea.state === "visible" && idea.shadowed) actions.push(small("console.publish", "publish", () => ctx.act("idea.restore", { idea: idea.id }).catch(() => {}), "btn-ghost", t("console.publishLabel", { text: label })));
      for (const m of merges) {
        if (m.undo) actions.push(small("themes.unmerge", "unmerge-" + m.id, () => unmerge(ctx, m.id, update), "btn-ghost", t("themes.unmergeLabel", { text: label })));
      }
      const check = selectable
        ? h("input", {
            type: "checkbox",
            class: "note-select",
            id: "select-" + idea.id,
            "data-focus": "select",
            checked: selected,
            "aria-label": t("themes.selectLabel", { text: label }),
            onchange: (e) => themesBoard.select(idea.id, e.target.checked),
          })
        : null;
      return [
        // The room screen shows this note full screen (#13): a small screen icon in the card's corner
        // (only a note on the wall can be spotlighted).
        h("div", { class: "note-top" }, check, h("p", { class: "note-text", text: idea.text }), onWall ? spotlightButton(ctx, state, { idea: idea.id }, idea.text) : null),
        h("p", { class: "note-meta" }, h("span", { class: "note-author", text: credit }), badges),
        merges.length
          ? h(
              "div",
              { class: "note-merges" },
              merges.map((m) => h("p", { class: "note-merged-from", text: t("themes.mergedFrom", { texts: m.texts.map((x) => t("themes.quoted", { text: x })).join(", ") }) })),
              merges.filter((m) => m.error).map((m) => h("p", { class: "form-error note-error", role: "alert", text: t("themes.unmergeRefused", { reason: m.error }) })),
            )
          : null,
        statusLine(idea),
        hiding
          ? reasonForm("hide", idea.id, "console.hideReason", "console.hide", (reason) => ctx.act("idea.hide", { idea: idea.id, reason }).catch(() => {}))
          : h(
              "div",
              { class: "note-actions" },
              actions,
              idea.state !== "merged" && !statusOpen ? statusControl(ctx, idea, "idea", { refresh: () => update() }) : null,
              replying ? null : reply,
            ),
        statusOpen ? statusControl(ctx, idea, "idea", { refresh: () => update() }) : null,
        repliesList(ctx, state, replies, { staff: true, id: "replies-" + idea.id }),
        replying ? reply : null,
      ];
    });
  }

  /** The facilitator erases a participant's personal data on their behalf (a request by email, say):
   * irreversible, so it asks first, in the row. */
  function eraseForm(m) {
    const cancel = () => closePrompt("erase", m.id);
    return h(
      "div",
      { class: "reason-form erase-form", role: "group", "aria-labelledby": `erase-q-${m.id}` },
      h("p", { id: `erase-q-${m.id}`, class: "erase-question", text: t("console.eraseQuestion", { name: m.name }) }),
      h(
        "div",
        { class: "row-actions" },
        h("button", {
          type: "button",
          class: "btn btn-small btn-danger",
          "data-focus": "confirm-erase",
          text: t("console.eraseYes"),
          onclick: () => {
            closePrompt("erase", m.id);
            ctx.act("member.erase", { member: m.id }).catch(() => {});
          },
        }),
        h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "cancel-erase", text: t("common.cancel"), onclick: cancel }),
      ),
    );
  }

  function updateMember(el, m) {
    const muting = prompting("mute", m.id);
    const removing = prompting("remove", m.id);
    const erasing = prompting("erase", m.id);
    const self = state.me && state.me.id === m.id;
    el.className = "row member-row" + (m.online ? " is-online" : "");
    // In a code or passphrase room, a removed person can come back as someone new from another browser
    // (protocol.md, "What a ban holds against"): the remove form says so, and what keeps them out.
    const access = state.room ? state.room.access : null;
    const comeBack = access === "code" || access === "passphrase";
    const sig = JSON.stringify([m.name, m.role, m.muted, m.mute_reason, m.online, m.status, muting, removing, erasing, self, m.shadow_muted, m.erased, facilitator(), comeBack]);
    renderRow(el, sig, () => {
      const actions = [];
      if (m.role !== "facilitator" && !self) {
        if (m.muted) actions.push(small("console.unmute", "unmute", () => ctx.act("member.unmute", { member: m.id }).catch(() => {}), "btn-ghost", t("console.unmuteLabel", { name: m.name })));
        else actions.push(small("console.mute", "mute", () => openPrompt("mute", m.id), "btn-ghost", t("console.muteLabel", { name: m.name })));
        actions.push(small("console.remove", "remove", () => openPrompt("remove", m.id), "btn-danger-outline", t("console.removeLabel", { name: m.name })));
        actions.push(shadowButton(ctx, m));
      }
      if (facilitator() && m.role === "participant" && !m.erased) {
        actions.push(small("console.erase", "erase", () => openPrompt("erase", m.id), "btn-ghost", t("console.eraseLabel", { name: m.name })));
      }
      return [
        h(
          "div",
          { class: "row-main" },
          h("span", { class: "presence-dot" + (m.online ? " is-on" : ""), "aria-hidden": "true" }),
          h("span", { class: "row-name", text: m.name }),
          h("span", { class: "sr-only", text: m.online ? t("console.online") : t("console.offline") }),
          m.role !== "participant" ? h("span", { class: "badge", text: t("role." + m.role) }) : null,
          self ? h("span", { class: "badge", text: t("note.you") }) : null,
          m.muted ? h("span", { class: "badge badge-warn", text: m.mute_reason ? t("console.mutedReason", { reason: m.mute_reason }) : t("console.muted") }) : null,
          shadowBadge(m),
        ),
        muting ? reasonForm("mute", m.id, "console.muteReason", "console.mute", (reason) => ctx.act("member.mute", { member: m.id, reason }).catch(() => {})) : null,
        removing ? reasonForm("remove", m.id, "console.removeReason", "console.remove", (reason) => ctx.act("member.remove", { member: m.id, reason }).catch(() => {}), comeBack ? "console.removeComeBack" : null) : null,
        erasing ? eraseForm(m) : null,
        !muting && !removing && !erasing && actions.length ? h("div", { class: "row-actions" }, actions) : null,
      ];
    });
  }

  function updateWaiting(el, m) {
    const rejecting = prompting("reject", m.id);
    el.className = "row";
    renderRow(el, JSON.stringify([m.name, rejecting]), () => [
      h("div", { class: "row-main" }, h("span", { class: "row-name", text: m.name })),
      rejecting
        ? reasonForm("reject", m.id, "console.rejectReason", "console.reject", (reason) => ctx.act("member.reject", { member: m.id, reason }).catch(() => {}))
        : h(
            "div",
            { class: "row-actions" },
            small("console.admit", "admit", () => ctx.act("member.admit", { member: m.id }).catch(() => {}), "btn-secondary", t("console.admitLabel", { name: m.name })),
            small("console.reject", "reject", () => openPrompt("reject", m.id), "btn-ghost", t("console.rejectLabel", { name: m.name })),
          ),
    ]);
  }

  function updateBanned(el, m) {
    el.className = "row";
    renderRow(el, JSON.stringify([m.name, m.status]), () => [
      h("div", { class: "row-main" }, h("span", { class: "row-name", text: m.name }), h("span", { class: "badge badge-hidden", text: t("status." + m.status) })),
      h("div", { class: "row-actions" }, small("console.unban", "unban", () => ctx.act("member.unban", { member: m.id }).catch(() => {}), "btn-ghost", t("console.unbanLabel", { name: m.name }))),
    ]);
  }

  function auditText(entry) {
    const actor = memberName(entry.actor);
    let target = entry.target;
    if (entry.action.startsWith("member.")) target = memberName(entry.target);
    else if (entry.action.startsWith("idea.")) {
      const idea = state.ideas.get(entry.target);
      target = idea ? t("themes.quoted", { text: short(idea.text, 40) }) : entry.target;
    } else if (entry.action.startsWith("reply.")) {
      const reply = state.replies.get(entry.target);
      target = reply ? t("themes.quoted", { text: short(reply.text, 40) }) : entry.target;
    }
    let action = entry.action;
    let reason = entry.reason;
    // The follow-up's entries whose "reason" is a value, not a person's words.
    if (action === "member.jury") {
      action = reason ? "member.jury.on" : "member.jury.off";
      reason = "";
    } else if (action === "evaluation.open") {
      target = t("selection.jury_" + reason);
      reason = "";
    }
    const key = "audit." + action;
    const base = t(key, { actor, target });
    const text = base === key ? `${actor}: ${entry.action} ${target}` : base;
    return reason ? t("audit.withReason", { text, reason }) : text;
  }

  // --- Update ---------------------------------------------------------------------------------------------
  function update() {
    const rnd = state.currentRound;
    const room = state.room || {};
    const isFac = facilitator();
    const ended = room.phase === "ended";
    setText(roleLine, consoleLabel(isFac ? "facilitator" : "moderator", state.me ? state.me.name : ""));
    show(endedBanner, ended);

    show(current, Boolean(rnd));
    if (rnd) {
      setText(kindBadge, roundKindLabel(rnd));
      setText(statusBadge, roundStatusLabel(rnd));
      statusBadge.className = "badge badge-status is-" + rnd.status;
      setText(prompt, rnd.prompt);
      timer.update(rnd, ctx.now());
      // The round's ideas as the figures count them: its notes not merged into another.
      const count = Array.from(state.ideas.values()).filter((i) => i.round === rnd.id && i.state !== "merged").length;
      const voters = state.votes.get(rnd.id);
      setText(
        stats,
        rnd.kind === "ideate"
          ? t("console.statsIdeate", { count, online: state.presence.online })
          : t("console.statsVote", { count: voters && voters.totals ? Object.values(voters.totals).reduce((a, b) => a + b, 0) : 0, online: state.presence.online }),
      );
      const live = rnd.status !== "closed" && !ended;
      show(controls, isFac && (live || (rnd.kind === "ideate" && rnd.private && !rnd.revealed)));
      show(pauseBtn, live && rnd.status === "open");
      show(resumeBtn, live && rnd.status === "paused");
      const timed = rnd.deadline !== null || rnd.remaining !== null;
      show(extend30, live && timed);
      show(extend60, live && timed);
      show(closeBtn, live);
      show(revealBtn, rnd.kind === "ideate" && rnd.private && !rnd.revealed && !ended);
    }
    show(openForm.el, isFac && !ended && (!rnd || rnd.status === "closed"));
    openForm.update();
    show(endRow, isFac && !ended);
    setText(endBtn, t("console.end"));
    show(endBtn, !ui.confirmEnd);
    show(endText, ui.confirmEnd);
    show(endConfirm, ui.confirmEnd);
    show(endCancel, ui.confirmEnd);

    // Wall, with its themes.
    const ideas = state.wallIdeas({ staff: true }).filter((i) => i.state !== "pending" && i.state !== "merged");
    spotBar.update();
    themesBoard.update(ideas, {
      titleText: rnd ? (rnd.kind === "vote" ? t("console.wallVote") : t("console.wallRound")) : t("console.wallAll"),
      voteRound: rnd && rnd.kind === "vote" ? rnd : null,
    });
    const found = state.latestResults();
    const showResults = Boolean(found && rnd && found.round.id === rnd.id);
    show(resultsSection, showResults);
    results.update(state, showResults ? found : null);
    const byTheme = Boolean(showResults && found.vote.themeResults && found.vote.themeResults.length);
    show(themeResultsBox, byTheme);
    themeResults.update(state, byTheme ? found : null, { byTheme: true });

    followup.update(isFac);
    insights.update();

    // Sidebar.
    share.update();
    staffCard.update(isFac);
    invites.update(isFac, room, memberName);
    setText(presence, t("console.presence", { online: state.presence.online, participants: t("console.participantsCount", { count: state.presence.participants }), screens: t("console.screensCount", { count: state.presence.screens }) }));
    lockSwitch.set(Boolean(room.locked));
    queueSwitch.set(Boolean(room.approval_queue));

    const members = Array.from(state.members.values());
    // A member erased while it waited left the lobby (admitting it is refused).
    const waiting = members.filter((m) => m.status === "waiting" && !m.erased);
    show(lobbyCard, waiting.length > 0 || room.access === "approval");
    syncList(lobbyList, waiting, (m) => m.id, () => h("li", { class: "row" }), updateWaiting);
    show(lobbyEmpty, waiting.length === 0);

    const pending = Array.from(state.ideas.values()).filter((i) => i.state === "pending");
    show(pendingCard, pending.length > 0 || Boolean(room.approval_queue));
    show(pendingEmpty, pending.length === 0);
    syncList(pendingList, pending, (i) => i.id, () => h("li", { class: "note" }), updateStaffNote);

    const active = members.filter((m) => m.status === "active");
    active.sort((a, b) => Number(b.online) - Number(a.online) || a.name.localeCompare(b.name));
    setText(memberTitle, t("console.members", { count: active.filter((m) => m.role === "participant").length }));
    syncList(memberList, active, (m) => m.id, () => h("li", { class: "row" }), updateMember);

    const banned = members.filter((m) => m.status === "banned" || m.status === "rejected");
    show(bannedCard, banned.length > 0);
    syncList(bannedList, banned, (m) => m.id, () => h("li", { class: "row" }), updateBanned);

    const audit = state.audit.slice(-100).reverse();
    show(auditEmpty, audit.length === 0);
    syncList(
      auditList,
      audit.map((e, i) => ({ ...e, key: `${e.at}:${e.action}:${e.target}:${state.audit.length - i}` })),
      (e) => e.key,
      () => h("li", { class: "audit-entry" }),
      (li, e) =>
        renderRow(li, auditText(e) + formatTime(e.at), () => [h("time", { class: "audit-time", text: formatTime(e.at) }), h("span", { text: auditText(e) })]),
    );
  }

  return {
    el,
    update,
    tick() {
      const rnd = state.currentRound;
      if (rnd) timer.update(rnd, ctx.now());
    },
  };
}

/** A toggle button (role=switch) with its label and hint. */
function switchButton(id, label, hint, onToggle) {
  let on = false;
  const button = h("button", { type: "button", id, role: "switch", class: "switch", "aria-checked": "false", "aria-describedby": id + "-hint" }, h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })), h("span", { class: "switch-label", text: label }));
  button.addEventListener("click", () => onToggle(!on));
  const el = h("div", { class: "switch-row" }, button, h("p", { class: "hint", id: id + "-hint", text: hint }));
  return {
    el,
    set(value) {
      on = value;
      button.setAttribute("aria-checked", String(value));
    },
  };
}

function buildShare(ctx, state, isFacilitator) {
  const code = ctx.code;
  const rowsFor = (links) => {
    const joinUrl = links.join_url || `${location.origin}/j/${code}`;
    const rows = [linkRow({ id: "share-participant", labelKey: "share.participantLink", url: joinUrl, ctx })];
    // This console's own link (its token in the fragment), to reopen it on another device (#13).
    rows.push(linkRow({ id: "share-console", labelKey: isFacilitator ? "share.facilitatorLink" : "share.consoleLink", url: ownConsoleUrl(code, ctx.session && ctx.session.token), hintKey: "share.consoleHint", open: false, ctx }));
    if (links.screen_url) rows.push(linkRow({ id: "share-screen", labelKey: "share.screenLink", url: links.screen_url, ctx }));
    const moderators = state.invites.get("v1"); // the moderator invite: revoked, its link works no more
    if (isFacilitator && links.moderator_url && !(moderators && moderators.revoked)) rows.push(linkRow({ id: "share-moderator", labelKey: "share.moderatorLink", url: links.moderator_url, hintKey: "share.moderatorHint", ctx }));
    return rows;
  };
  // The links change when the facilitator replaces them (room.rotate_links), and the moderator link goes
  // while its invite is revoked: re-render then.
  const moderatorsRevoked = () => Boolean(state.invites.get("v1") && state.invites.get("v1").revoked);
  let shown = state.links;
  let revoked = moderatorsRevoked();
  const rows = h("div", { class: "share-links" }, rowsFor(shown || {}));
  const qr = h("img", { class: "qr", src: `/api/rooms/${encodeURIComponent(code)}/qr.svg`, alt: t("share.qrAlt", { code }), width: "160", height: "160" });
  const qrButton = h("button", { type: "button", class: "qr-button", "aria-label": t("share.qrEnlarge"), "aria-expanded": "false" }, qr);
  qrButton.addEventListener("click", () => {
    const big = !qrButton.classList.contains("is-big");
    qrButton.classList.toggle("is-big", big);
    qrButton.setAttribute("aria-expanded", String(big));
  });
  const el = h(
    "section",
    { class: "card share-card", "aria-labelledby": "share-title" },
    h("h2", { class: "section-title", id: "share-title", text: t("share.title") }),
    h("div", { class: "share-top" }, qrButton, h("div", {}, h("p", { class: "room-code-label", text: t("share.roomCode") }), h("p", { class: "room-code", id: "console-code", text: code }))),
    rows,
  );
  return {
    el,
    update() {
      if (state.links === shown && moderatorsRevoked() === revoked) return;
      shown = state.links;
      revoked = moderatorsRevoked();
      setChildren(rows, rowsFor(shown || {}));
    },
  };
}

/**
 * Staff links and data: download the room's data (staff, through a one-time link, so that no token is
 * ever in a URL), and replace the staff links when one got out (facilitator, with a confirmation).
 */
function buildStaffCard(ctx, state, refresh) {
  const session = ctx.session;
  const exportBtn = h("button", { type: "button", id: "export-data", class: "btn btn-small btn-secondary", text: t("console.export"), "aria-describedby": "export-hint" });
  exportBtn.addEventListener("click", async () => {
    exportBtn.disabled = true;
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(ctx.code)}/export-link`, {
        method: "POST",
        headers: { accept: "application/json", authorization: "Bearer " + session.token },
      });
      if (!response.ok) throw new Error("export-link " + response.status);
      const { url } = await response.json();
      const link = h("a", { href: url, download: `${ctx.code}.json`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
    } catch {
      ctx.toast(t("console.exportFailed"), "error");
    } finally {
      exportBtn.disabled = false;
    }
  });

  const rotateBtn = h("button", { type: "button", id: "links-rotate", class: "btn btn-small btn-danger-outline", text: t("console.rotate"), "aria-describedby": "links-rotate-hint" });
  const rotateText = h("p", { class: "confirm-text", id: "links-rotate-question", text: t("console.rotateQuestion") });
  const rotateConfirm = h("button", { type: "button", id: "links-rotate-confirm", class: "btn btn-small btn-danger", text: t("console.rotateConfirm") });
  const rotateCancel = h("button", { type: "button", class: "btn btn-small btn-ghost", text: t("common.cancel") });
  const fresh = h("div", { class: "new-links stack", id: "new-links", role: "status" });
  rotateBtn.addEventListener("click", () => {
    ui.confirmRotate = true;
    refresh();
    rotateConfirm.focus();
  });
  rotateCancel.addEventListener("click", () => {
    ui.confirmRotate = false;
    refresh();
    rotateBtn.focus();
  });
  rotateConfirm.addEventListener("click", () => {
    ui.confirmRotate = false;
    rotateConfirm.disabled = true;
    refresh();
    ctx
      .act("room.rotate_links")
      .then((result) => {
        const links = result && result.links;
        if (!links) return;
        // From now on this console is the new facilitator link: reconnects use the new token, and a
        // reload (or a bookmark) opens the new URL. replaceState fires no hashchange (no reload).
        session.token = links.facilitator_token;
        history.replaceState(null, "", `${location.pathname}${location.search}#token=${links.facilitator_token}`);
        state.links = links;
        ui.newLinks = links;
        ctx.toast(t("console.rotated"));
        refresh();
        document.getElementById("new-link-facilitator")?.focus();
      })
      .catch(() => {})
      .finally(() => {
        rotateConfirm.disabled = false;
      });
  });
  const rotateBox = h(
    "div",
    { class: "rotate-links stack" },
    h("p", { class: "hint", id: "links-rotate-hint", text: t("console.rotateHint") }),
    rotateBtn,
    rotateText,
    h("div", { class: "row-actions" }, rotateConfirm, rotateCancel),
    fresh,
  );
  const el = h(
    "section",
    { class: "card", id: "staff-links-card", "aria-labelledby": "staff-links-title" },
    h("h2", { class: "section-title", id: "staff-links-title", text: t("console.staffLinks") }),
    h("div", { class: "stack" }, h("div", { class: "stack" }, h("p", { class: "hint", id: "export-hint", text: t("console.exportHint") }), exportBtn), rotateBox),
  );
  let shownLinks = null;
  return {
    el,
    update(isFacilitator) {
      show(rotateBox, isFacilitator);
      show(rotateBtn, !ui.confirmRotate);
      show(rotateText, ui.confirmRotate);
      show(rotateConfirm.parentElement, ui.confirmRotate);
      show(fresh, Boolean(ui.newLinks));
      if (ui.newLinks && ui.newLinks !== shownLinks) {
        shownLinks = ui.newLinks;
        const links = ui.newLinks;
        setChildren(
          fresh,
          h("h3", { class: "section-subtitle", text: t("console.newLinks") }),
          h("p", { class: "hint", text: t("console.rotated") }),
          linkRow({ id: "new-link-facilitator", labelKey: "share.facilitatorLink", url: links.facilitator_url, hintKey: "console.newFacilitatorHint", open: false, ctx }),
          linkRow({ id: "new-link-moderator", labelKey: "share.moderatorLink", url: links.moderator_url, hintKey: "share.moderatorHint", open: false, ctx }),
          linkRow({ id: "new-link-screen", labelKey: "share.screenLink", url: links.screen_url, hintKey: "share.screenHint", ctx }),
        );
      }
    },
  };
}

/** Personal invites (facilitator): create one per person, copy its link, see who used it, revoke it. */
function buildInvites(ctx, state) {
  const labelInput = h("input", { type: "text", id: "invite-label", maxlength: String(Number(ctx.limits().label_max) || 100), autocomplete: "off" });
  const list = h("ul", { class: "rows", id: "invite-list" });
  const empty = h("p", { class: "empty", text: t("console.invitesEmpty") });
  const create = h("form", {
    class: "invite-form",
    onsubmit: (e) => {
      e.preventDefault();
      const label = labelInput.value.trim();
      ctx
        .act("invite.create", { role: "participant", label })
        .then((result) => {
          const invite = result && result.invite;
          // The token comes only in this reply (and in later snapshots): keep it with the invite.
          if (invite) state.invites.set(invite.id, { ...state.invites.get(invite.id), ...invite });
          labelInput.value = "";
          ctx.refresh?.();
        })
        .catch(() => {});
    },
  },
  h("label", { for: "invite-label", text: t("console.inviteLabel") }),
  h("div", { class: "invite-create" }, labelInput, h("button", { type: "submit", id: "invite-create", class: "btn btn-small btn-primary", text: t("console.inviteCreate") })));
  const el = h(
    "section",
    { class: "card", id: "invites-card", "aria-labelledby": "invites-title" },
    h("h2", { class: "section-title", id: "invites-title", text: t("console.invites") }),
    h("p", { class: "hint", text: t("console.invitesHint") }),
    create,
    empty,
    list,
  );
  let lastName = (id) => id;
  function updateInvite(li, invite) {
    const label = invite.label || t("console.inviteNoLabel", { id: invite.id });
    const status = invite.revoked ? t("console.inviteRevoked") : invite.member ? t("console.inviteUsed", { name: lastName(invite.member) }) : t("console.inviteUnused");
    li.className = "row invite-row" + (invite.revoked ? " is-revoked" : "");
    renderRow(li, JSON.stringify([label, status, invite.token || "", invite.revoked]), () => [
      h("div", { class: "row-main" }, h("span", { class: "row-name", text: label }), h("span", { class: "badge" + (invite.revoked ? " badge-hidden" : ""), text: status })),
      invite.revoked
        ? null
        : invite.token
          ? linkRow({ id: "invite-link-" + invite.id, labelKey: "console.inviteLink", url: `${location.origin}/j/${encodeURIComponent(ctx.code)}#invite=${invite.token}`, open: false, ctx })
          : h("p", { class: "hint", text: t("console.inviteLinkLater") }),
      invite.revoked
        ? null
        : h("div", { class: "row-actions" }, h("button", { type: "button", class: "btn btn-small btn-danger-outline", "data-focus": "revoke", text: t("console.inviteRevoke"), "aria-label": t("console.inviteRevokeLabel", { label }), onclick: () => ctx.act("invite.revoke", { invite: invite.id }).catch(() => {}) })),
    ]);
  }
  return {
    el,
    update(isFacilitator, room, memberName) {
      lastName = memberName;
      const personal = Array.from(state.invites.values()).filter((v) => v.role === "participant");
      show(el, isFacilitator && (room.access === "invite" || personal.length > 0));
      show(empty, personal.length === 0);
      syncList(list, personal, (v) => v.id, () => h("li", { class: "row" }), updateInvite);
    },
  };
}

/** The form that opens a round (facilitator). Its values live in `form`, so they survive re-renders. */
function buildOpenForm(ctx, state) {
  const bindInput = (el, key) => {
    const sync = () => {
      form[key] = el.type === "checkbox" ? el.checked : el.value;
      refresh();
    };
    el.addEventListener("input", sync);
    el.addEventListener("change", sync);
    return el;
  };
  const kinds = ["ideate", "vote"].map((k) => {
    const input = bindInput(h("input", { type: "radio", name: "round-kind", id: "round-kind-" + k, value: k, checked: form.kind === k }), "kind");
    return h("span", { class: "seg" }, input, h("label", { for: "round-kind-" + k, text: t(k === "vote" ? "round.kindVote" : "round.kindIdeate") }));
  });
  const promptInput = bindInput(h("textarea", { id: "round-prompt", rows: "2", value: form.prompt, required: true, maxlength: "500" }), "prompt");
  const duration = bindInput(h("input", { id: "round-duration", type: "number", min: "1", step: "any", inputmode: "decimal", value: form.duration, class: "input-short" }), "duration");
  const unit = bindInput(
    h("select", { id: "round-unit", "aria-label": t("console.unit") }, h("option", { value: "60", selected: form.unit === "60" }, t("console.minutes")), h("option", { value: "1", selected: form.unit === "1" }, t("console.seconds"))),
    "unit",
  );
  const timed = bindInput(h("input", { type: "checkbox", id: "round-timed", checked: form.timer }), "timer");
  const maxIdeas = bindInput(h("input", { id: "round-max-ideas", type: "number", min: "1", max: "1000", value: form.maxIdeas, class: "input-short", placeholder: "∞", "aria-describedby": "round-max-ideas-hint" }), "maxIdeas");
  const priv = bindInput(h("input", { type: "checkbox", id: "round-private", checked: form.private }), "private");
  const anon = bindInput(h("input", { type: "checkbox", id: "round-anonymous", checked: form.anonymous }), "anonymous");
  const budget = bindInput(h("input", { id: "round-budget", type: "number", min: "1", max: "100", value: form.budget, class: "input-short" }), "budget");
  const maxPer = bindInput(h("input", { id: "round-max-per", type: "number", min: "1", max: "100", value: form.maxPerIdea, class: "input-short" }), "maxPerIdea");
  const hideTotals = bindInput(h("input", { type: "checkbox", id: "round-hide-totals", checked: form.hideTotals }), "hideTotals");
  // Vote on: notes, or themes (offered once a theme holds a note on the wall).
  const targets = ["ideas", "themes"].map((k) => {
    const input = bindInput(h("input", { type: "radio", name: "round-target", id: "round-target-" + k, value: k, checked: form.target === k, "aria-describedby": "round-target-hint" }), "target");
    return { k, input, el: h("span", { class: "seg" }, input, h("label", { for: "round-target-" + k, text: t(k === "themes" ? "console.targetThemes" : "console.targetIdeas") })) };
  });
  const targetHint = h("p", { class: "hint", id: "round-target-hint" });
  const maxPerLabel = h("label", { for: "round-max-per" });
  const error = h("p", { class: "form-error", role: "alert", id: "round-error", hidden: true });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "round-open", text: t("console.openRound") });

  const check = (input, key, hintKey) => h("div", { class: "check" }, input, h("label", { for: input.id }, h("span", { text: t(key) }), hintKey ? h("span", { class: "hint", text: t(hintKey) }) : null));
  const field = (id, key, control, hintKey) => h("div", { class: "field" }, h("label", { for: id, text: t(key) }), control, hintKey ? h("p", { class: "hint", id: id + "-hint", text: t(hintKey) }) : null);

  const ideateOpts = h("div", { class: "opts", id: "ideate-options" }, field("round-max-ideas", "console.maxIdeas", maxIdeas, "console.maxIdeasHint"), check(priv, "console.private", "console.privateHint"));
  const voteOpts = h(
    "div",
    { class: "opts", id: "vote-options" },
    h("fieldset", { class: "segmented", id: "round-target" }, h("legend", { text: t("console.target") }), targets.map((x) => x.el), targetHint),
    h("div", { class: "field-row" }, field("round-budget", "console.budget", budget), h("div", { class: "field" }, maxPerLabel, maxPer)),
    check(hideTotals, "console.hideTotals", "console.hideTotalsHint"),
  );
  const durationRow = h("div", { class: "inline-form" }, duration, unit);

  const el = h(
    "section",
    { class: "card open-round", id: "open-round", "aria-labelledby": "open-round-title" },
    h("h2", { class: "section-title", id: "open-round-title", text: t("console.openTitle") }),
    h(
      "form",
      {
        class: "stack",
        id: "round-form",
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          error.hidden = true;
          const text = promptInput.value.trim();
          if (!text) {
            error.textContent = t("console.promptRequired");
            error.hidden = false;
            promptInput.focus();
            return;
          }
          const cmd = { kind: form.kind, prompt: text, anonymous: anon.checked };
          if (timed.checked) {
            const seconds = Math.round(Number(duration.value) * Number(unit.value));
            if (!Number.isFinite(seconds) || seconds < 10 || seconds > 86400) {
              error.textContent = t("console.durationInvalid");
              error.hidden = false;
              duration.focus();
              return;
            }
            cmd.duration = seconds;
          } else cmd.duration = null;
          if (form.kind === "ideate") {
            cmd.private = priv.checked;
            if (maxIdeas.value) cmd.max_ideas = Math.max(1, Math.round(Number(maxIdeas.value)));
          } else {
            cmd.budget = Math.max(1, Math.round(Number(budget.value) || 3));
            cmd.max_per_idea = Math.max(1, Math.round(Number(maxPer.value) || 1));
            cmd.hide_totals = hideTotals.checked;
            cmd.target = form.target === "themes" && state.publicThemes().length ? "themes" : "ideas";
          }
          submit.disabled = true;
          ctx
            .act("round.open", cmd)
            .then(() => {
              form.prompt = "";
              promptInput.value = "";
            })
            .catch(() => {})
            .finally(() => {
              submit.disabled = false;
            });
        },
      },
      h("fieldset", { class: "segmented" }, h("legend", { text: t("console.kind") }), kinds),
      field("round-prompt", "console.prompt", promptInput),
      h("div", { class: "field" }, h("label", { for: "round-duration", text: t("console.duration") }), h("div", { class: "duration-row" }, durationRow, check(timed, "console.timed"))),
      ideateOpts,
      voteOpts,
      check(anon, "console.anonymous", "console.anonymousHint"),
      error,
      h("div", { class: "form-foot" }, submit),
    ),
  );

  function refresh() {
    show(ideateOpts, form.kind === "ideate");
    show(voteOpts, form.kind === "vote");
    const themesReady = state.publicThemes().length > 0;
    if (!themesReady && form.target === "themes") form.target = "ideas";
    for (const x of targets) {
      x.input.checked = form.target === x.k;
      if (x.k === "themes") x.input.disabled = !themesReady;
    }
    setText(targetHint, themesReady ? t("console.targetHint") : t("console.targetNoThemes"));
    setText(maxPerLabel, form.target === "themes" ? t("console.maxPerTheme") : t("console.maxPer"));
    duration.disabled = !form.timer;
    unit.disabled = !form.timer;
    if (!promptInput.placeholder || promptInput.dataset.kind !== form.kind) {
      promptInput.placeholder = form.kind === "vote" ? t("console.promptVotePlaceholder") : t("console.promptPlaceholder");
      promptInput.dataset.kind = form.kind;
    }
  }
  refresh();
  return { el, update: refresh };
}

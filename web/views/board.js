// The participant's board (phone first): the prompt and timer, writing notes, the wall, dot voting and
// the results. Everything is a real button or form control, so the board works with a keyboard alone.

import { h, renderRow, setText, show, syncList } from "../dom.js";
import { t } from "../i18n.js";
import { netBanner, topBar } from "../chrome.js";
import { authorOf, colorClass, COLORS, resultsList, roundKindLabel, roundStatusLabel, swatchClass, themeChip, timerBlock } from "./parts.js";
import { announce, closedByTimer } from "../timer.js";
import { fu, replyBox, repliesList, statusLine } from "./followup.js";
import { buildBoardFollowup } from "./followup_board.js";
import { boardDataCard } from "./mydata.js";
import { loadDraft, returnToDraft, saveDraft } from "../outbox.js";

// What the server counts: Unicode code points after NFC. An emoji with a skin tone is 2, not the 4
// UTF-16 units of String.length, and a decomposed "é" (e + U+0301) is 1.
function textLength(text) {
  let n = 0;
  for (const _ of text.normalize("NFC")) n += 1;
  return n;
}

function short(text, n = 60) {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > n ? one.slice(0, n - 1) + "…" : one;
}

// Kept across a language switch.
const ui = { draft: "", color: "yellow", editing: null, editDraft: "", confirm: null, outgoing: [] };

export function mountBoard(ctx) {
  const session = ctx.session;
  const state = session.state;
  const maxText = () => Number(ctx.limits().idea_text_max) || 500;

  // --- Skeleton -----------------------------------------------------------------------------------------
  const banners = h("div", { class: "banners", id: "banners" });
  const kind = h("span", { class: "badge badge-kind" });
  const status = h("span", { class: "badge badge-status" });
  const prompt = h("h1", { class: "prompt", id: "prompt" });
  const timer = timerBlock();
  const roundHint = h("p", { class: "round-hint", id: "round-hint" });
  const roundCard = h("section", { class: "card round-card", id: "round-card", "aria-labelledby": "prompt" }, h("div", { class: "round-head" }, kind, status), prompt, timer.el, roundHint);

  const idleTitle = h("h1", { class: "idle-title", id: "idle-title" });
  const idleBrief = h("p", { class: "brief" });
  const idleCard = h("section", { class: "card idle-card", id: "idle", "aria-labelledby": "idle-title" }, h("div", { class: "waiting-dots", "aria-hidden": "true" }, h("span"), h("span"), h("span")), idleTitle, idleBrief);

  // Composer.
  const textarea = h("textarea", { id: "idea-text", rows: "3", "aria-describedby": "idea-counter idea-limit idea-too-long", enterkeyhint: "send" });
  // The unsent note survives a reload and a killed browser (outbox.js).
  if (!ui.draft) ui.draft = loadDraft(ctx.code);
  textarea.value = ui.draft;
  // A note sent before a reload and refused after it (app.js, onRestored) comes back here too.
  ctx.draftReturned = (draft) => {
    ui.draft = textarea.value = draft;
    update();
  };
  const counter = h("span", { class: "counter", id: "idea-counter" });
  const limitNote = h("span", { class: "limit-note", id: "idea-limit" });
  const tooLong = h("p", { class: "too-long", id: "idea-too-long", hidden: true });
  // Commands waiting for their reply, kept across reloads (outbox.js): notes posted shown as "Sending…",
  // dots placed offline already counted.
  const pending = () => session.conn.pendingMessages();
  // A post's own idea.posted arrives before its reply: a post sent over the live connection whose note
  // is already here (same text, mine, this round) is shown once, as that note, not also as "Sending…".
  const pendingPosts = () => {
    const rnd = state.currentRound;
    // A post made in an earlier round is not shown in this one (the server refuses it: round_closed).
    const posts = pending().filter((m) => m.type === "idea.post" && (!m.round || !rnd || m.round === rnd.id));
    if (!posts.length) return posts;
    const unsent = new Set(session.conn.unsentMessages().map((m) => m.id));
    // The server stores a note's text trimmed and in NFC ("e\u0301" arrives as "é"): compare so.
    const norm = (text) => String(text).normalize("NFC").trim();
    const here = new Map();
    for (const idea of state.ideas.values()) {
      if (rnd && idea.round === rnd.id && state.isMine(idea)) here.set(norm(idea.text), (here.get(norm(idea.text)) || 0) + 1);
    }
    return posts.filter((m) => {
      const text = norm(m.text);
      if (unsent.has(m.id) || !here.get(text)) return true;
      here.set(text, here.get(text) - 1);
      return false;
    });
  };
  // An edit waiting in the outbox (offline): its note shows the new text, marked "Sending…", instead of
  // going back to the old one until the connection returns. The last edit of a note wins. null: none.
  const pendingEdit = (ideaId) => {
    let text = null;
    for (const m of pending()) if (m.type === "idea.edit" && m.idea === ideaId) text = m.text;
    return text;
  };
  // Replies waiting in the outbox, shown under their idea as "Sending…". One sent over the live
  // connection whose reply.posted is already here (mine, same text) is shown once, as that reply.
  const pendingReplies = (ideaId, replies) => {
    const posts = pending().filter((m) => m.type === "reply.post" && m.idea === ideaId);
    if (!posts.length) return [];
    const unsent = new Set(session.conn.unsentMessages().map((m) => m.id));
    const norm = (text) => String(text).normalize("NFC").trim();
    const here = new Map();
    for (const r of replies) {
      if (r.mine || (state.me && r.author === state.me.id)) here.set(norm(r.text), (here.get(norm(r.text)) || 0) + 1);
    }
    return posts
      .filter((m) => {
        const text = norm(m.text);
        if (unsent.has(m.id) || !here.get(text)) return true;
        here.set(text, here.get(text) - 1);
        return false;
      })
      .map((m) => ({ id: "out-" + m.id, idea: ideaId, text: m.text, at: null, staff: false, state: "visible", mine: true, outgoing: true }));
  };
  const colorChoices = COLORS.map((c) => {
    const input = h("input", { type: "radio", name: "idea-color", id: "color-" + c, value: c, checked: ui.color === c, class: "swatch-input" });
    input.addEventListener("change", () => {
      ui.color = c;
    });
    return h("span", { class: "swatch-wrap" }, input, h("label", { for: "color-" + c, class: "swatch " + colorClass(c), title: t("color." + c) }, h("span", { class: "sr-only", text: t("color." + c) })));
  });
  const postBtn = h("button", { type: "submit", class: "btn btn-primary", id: "idea-post", text: t("board.post") });
  const composer = h(
    "section",
    { class: "card composer", id: "composer", "aria-labelledby": "composer-title" },
    h("h2", { id: "composer-title", class: "section-title", text: t("board.composerTitle") }),
    h(
      "form",
      { id: "idea-form", onsubmit: (e) => (e.preventDefault(), post()) },
      h("label", { for: "idea-text", class: "sr-only", text: t("board.ideaLabel") }),
      textarea,
      h("div", { class: "composer-meta" }, counter, limitNote),
      tooLong,
      h("div", { class: "composer-foot" }, h("fieldset", { class: "swatches" }, h("legend", { class: "sr-only", text: t("board.color") }), colorChoices), postBtn),
    ),
  );
  textarea.addEventListener("input", (e) => {
    // The textarea stops at the server's limit, counted as the server counts (code points after NFC).
    if (!e.isComposing && textLength(textarea.value) > maxText()) {
      textarea.value = Array.from(textarea.value.normalize("NFC")).slice(0, maxText()).join("");
    }
    ui.draft = textarea.value;
    saveDraft(ctx.code, ui.draft);
    updateComposer();
  });
  // Ctrl+Enter posts. On a touch screen the keyboard's Enter key reads "Send" (enterkeyhint): it posts
  // too, instead of typing a new line under a label that promised to send (Shift+Enter: a new line).
  const touch = window.matchMedia("(pointer: coarse)");
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.isComposing && (e.ctrlKey || e.metaKey || (touch.matches && !e.shiftKey))) {
      e.preventDefault();
      post();
    }
  });

  const myList = h("ul", { class: "notes notes-mine", id: "my-notes-list" });
  const mineEmpty = h("p", { class: "empty", text: t("board.mineEmpty") });
  const mine = h("section", { class: "section", id: "my-notes", "aria-labelledby": "my-notes-title" }, h("h2", { class: "section-title", id: "my-notes-title", text: t("board.mine") }), mineEmpty, myList);

  const wallTitle = h("h2", { class: "section-title", id: "wall-title", text: t("board.wall") });
  const wallEmpty = h("p", { class: "empty", id: "wall-empty" });
  // Notes grouped into themes (one section per theme), then the notes without a theme.
  const wallThemes = h("div", { class: "theme-groups", id: "wall-themes" });
  const wallLooseTitle = h("h3", { class: "theme-group-title theme-loose-title", id: "wall-loose-title", text: t("themes.none") });
  const wallList = h("ul", { class: "notes notes-wall", id: "wall-list" });
  const wall = h("section", { class: "section", id: "wall", "aria-labelledby": "wall-title" }, wallTitle, wallEmpty, wallThemes, wallLooseTitle, wallList);

  const budgetText = h("span", { class: "budget-text", id: "budget-text" });
  const budgetDots = h("span", { class: "budget-dots", "aria-hidden": "true" });
  const budget = h("p", { class: "budget", id: "budget", "aria-live": "polite" }, budgetDots, budgetText);
  const voteThemes = h("div", { class: "theme-groups", id: "vote-themes" });
  const voteLooseTitle = h("h3", { class: "theme-group-title theme-loose-title", id: "vote-loose-title", text: t("themes.none") });
  const voteList = h("ul", { class: "notes notes-vote", id: "vote-list" });
  const voteEmpty = h("p", { class: "empty", id: "vote-empty", text: t("board.voteEmpty") });
  const vote = h("section", { class: "section vote", id: "vote", "aria-labelledby": "vote-title" }, h("div", { class: "vote-head" }, h("h2", { class: "section-title", id: "vote-title", text: t("board.vote") }), budget), voteEmpty, voteThemes, voteLooseTitle, voteList);

  // Everyone's ranked notes show their status and public note as staff give them (step 6: the decision
  // on an idea is public, not only its author's to see).
  // So do the public replies (the brand's answers), as under the notes on the wall before the vote.
  const resultReplies = (item) => state.repliesOf(item.id);
  const results = resultsList({
    id: "results-list",
    detail: (item) => [statusLine(item), repliesList(ctx, state, resultReplies(item), { id: "result-replies-" + item.id })],
    detailKey: resultReplies,
  });
  const themeResults = resultsList({ id: "results-themes", detail: (item) => statusLine(item) });
  const themeResultsBox = h("div", { class: "results-by-theme" }, h("h3", { class: "section-subtitle", id: "results-themes-title", text: t("results.byTheme") }), themeResults.el);
  const resultsSection = h("section", { class: "section", id: "results", "aria-labelledby": "results-title" }, h("h2", { class: "section-title", id: "results-title", text: t("results.title") }), results.el, themeResultsBox);

  const whoami = h("p", { class: "whoami", id: "whoami" });
  const aboutBrief = h("p", { class: "brief" });
  const aboutRules = h("p", { class: "rules-text" });
  const about = h("details", { class: "about" }, h("summary", { text: t("board.about") }), aboutBrief, h("h3", { text: t("join.rules") }), aboutRules);

  const followup = buildBoardFollowup(ctx, state, () => update());
  const main = h("main", { class: "board-main", id: "main" }, banners, roundCard, idleCard, followup.top, composer, vote, resultsSection, mine, wall, followup.bottom, h("footer", { class: "board-foot" }, whoami, about, boardDataCard(ctx)));
  const el = h("div", { class: "page page-board" }, topBar(ctx, { title: state.room ? state.room.title : "", sound: true }), netBanner(ctx), main);

  // --- Actions ------------------------------------------------------------------------------------------
  function post() {
    const text = textarea.value.trim();
    if (!text || textLength(text) > maxText() || !canPost()) return;
    ui.draft = "";
    textarea.value = "";
    // The command is in the (stored) outbox before the draft is forgotten: nothing is lost in between.
    // Refused because the round closed before it arrived (written just before the deadline, sent late
    // from a bad network): say that this note was not posted and that its text is back in the draft.
    const sent = ctx.act("idea.post", { text, color: ui.color }, { errorText: (error) => (error.code === "round_closed" ? t("board.postTooLate") : "") });
    saveDraft(ctx.code, "");
    update();
    textarea.focus();
    sent
      .catch(() => {
        // Refused (the round closed while it waited...): its text goes back to the draft, after any
        // other refused note's, so that no text is lost.
        ui.draft = textarea.value = returnToDraft(ctx.code, text);
      })
      .finally(() => update());
  }

  function canPost() {
    const rnd = state.currentRound;
    return Boolean(rnd && rnd.kind === "ideate" && rnd.status === "open" && state.me && !state.me.muted && state.room && state.room.phase !== "ended");
  }

  function myCount(rnd) {
    let n = pendingPosts().length;
    for (const idea of state.ideas.values()) if (idea.round === rnd.id && state.isMine(idea)) n += 1;
    return n;
  }

  // --- Rendering ------------------------------------------------------------------------------------------
  function updateComposer() {
    const rnd = state.currentRound;
    const len = textLength(textarea.value.trim());
    const max = maxText();
    setText(counter, t("board.counter", { count: len, max }));
    counter.classList.toggle("is-over", len > max);
    // The textarea stops at the server's limit (hello.limits.idea_text_max): the input handler cuts at
    // `max` code points; maxlength (UTF-16 units: an emoji is 2) only bounds a paste.
    textarea.setAttribute("maxlength", String(2 * max));
    // Text longer than the limit (pasted into a restored draft, or decomposed accents): say why "Post" is off.
    setText(tooLong, len > max ? t("board.tooLong", { count: len - max, max }) : "");
    show(tooLong, len > max);
    let limitText = "";
    let full = false;
    if (rnd && rnd.max_ideas) {
      const left = Math.max(0, rnd.max_ideas - myCount(rnd));
      full = left === 0;
      // At the limit, say so (and so why "Post" is off: the textarea is described by this line), rather
      // than "You can post 0 more ideas".
      limitText = full ? t("board.ideasDone", { count: rnd.max_ideas }) : t("board.ideasLeft", { count: left });
    }
    setText(limitNote, limitText);
    postBtn.disabled = !canPost() || len === 0 || len > max || full;
    textarea.disabled = !canPost();
  }

  function banner(id, kind, text) {
    return h("div", { class: `banner banner-${kind}`, id, role: "status", text });
  }

  function updateBanners(rnd) {
    const items = [];
    const me = state.me;
    if (me && me.muted) items.push(["muted-banner", "warn", me.mute_reason ? t("board.mutedReason", { reason: me.mute_reason }) : t("board.mutedBanner")]);
    if (state.room && state.room.phase === "ended") items.push(["ended-banner", "info", t("board.ended")]);
    else if (rnd && rnd.status === "closed") items.push(["closed-banner", "info", rnd.kind === "vote" ? t("board.voteClosed") : t(closedByTimer(rnd) ? "board.roundClosed" : "board.roundClosedEarly")]);
    else if (rnd && rnd.status === "paused") items.push(["paused-banner", "info", t("board.paused")]);
    renderRow(banners, JSON.stringify(items), () => items.map(([id, k, text]) => banner(id, k, text)));
  }

  function noteCard(idea, { editable }) {
    const li = h("li", { class: "note" });
    li._editable = editable;
    return li;
  }

  function updateMine(el, stored) {
    const rnd = state.currentRound;
    const edited = stored.outgoing ? null : pendingEdit(stored.id);
    const idea = edited === null ? stored : { ...stored, text: edited, editSending: true };
    // Only the author edits (a co-author credited by a merge follows the note but cannot change it), and
    // not a note that credits co-authors (`coauthors`, empty in an anonymous round): the server refuses.
    const own = idea.outgoing || !state.me || !idea.author || idea.author === state.me.id;
    const editable = Boolean(rnd && rnd.status === "open" && rnd.kind === "ideate" && idea.round === rnd.id && !idea.outgoing && own && idea.state !== "merged" && !("coauthors" in idea) && !(state.me && state.me.muted));
    const theme = idea.theme && idea.state !== "merged" ? state.themes.get(idea.theme) : null;
    const into = idea.state === "merged" ? state.ideas.get(idea.merged_into) : null;
    const credit = idea.coauthors && idea.coauthors.length ? authorOf(state, idea) : "";
    const editing = ui.editing === idea.id && editable;
    const confirming = ui.confirm === idea.id && editable;
    el.className = "note " + colorClass(idea.color) + (idea.outgoing || idea.editSending ? " is-pending" : "") + (idea.state !== "visible" ? " is-" + idea.state : "");
    const follow = followupOf(idea);
    el.dataset.idea = idea.id;
    const sig = JSON.stringify([idea.text, idea.color, idea.state, idea.hide_reason, idea.outgoing, idea.editSending, editable, editing, confirming, rnd && rnd.revealed, theme, into && into.text, credit, follow.sig]);
    renderRow(el, sig, () => {
      if (editing) return editForm(idea);
      const badges = [];
      if (theme) badges.push(h("span", { class: "badge badge-theme" }, h("span", { class: "theme-swatch " + swatchClass(theme.color), "aria-hidden": "true" }), t("note.inTheme", { name: theme.name })));
      if (idea.outgoing || idea.editSending) badges.push(h("span", { class: "badge badge-pending", text: t("note.sending") }));
      if (idea.outgoing) {
        // A note not posted yet has no state of its own.
      } else if (idea.state === "merged") badges.push(h("span", { class: "badge badge-merged", text: into ? t("note.mergedInto", { text: short(into.text, 40) }) : t("note.merged") }));
      else if (idea.state === "pending") badges.push(h("span", { class: "badge badge-pending", text: idea.held ? t("note.held") : t("note.pending") }));
      else if (idea.state === "hidden") badges.push(h("span", { class: "badge badge-hidden", text: idea.hide_reason ? t("note.hiddenReason", { reason: idea.hide_reason }) : t("note.hidden") }));
      else if (rnd && rnd.private && !rnd.revealed && idea.round === rnd.id) badges.push(h("span", { class: "badge", text: t("note.private") }));
      const actions = [];
      if (confirming) {
        // Escape cancels, as the Cancel button does (the focus is on one of the two buttons).
        const onkeydown = (e) => {
          if (e.key !== "Escape") return;
          e.preventDefault();
          cancelWithdraw(idea);
        };
        actions.push(
          h("span", { class: "confirm-text", text: t("note.withdrawConfirm") }),
          h("button", { type: "button", class: "btn btn-small btn-danger", "data-focus": "withdraw-yes", text: t("note.withdrawYes"), onclick: () => withdraw(idea), onkeydown }),
          h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "withdraw-no", text: t("common.cancel"), onclick: () => cancelWithdraw(idea), onkeydown }),
        );
      } else if (editable) {
        actions.push(
          h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "edit", "aria-label": t("note.editLabel", { text: short(idea.text) }), text: t("note.edit"), onclick: () => startEdit(idea) }),
          h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "withdraw", "aria-label": t("note.withdrawLabel", { text: short(idea.text) }), text: t("note.withdraw"), onclick: () => askWithdraw(idea) }),
        );
      }
      return [
        h("p", { class: "note-text", text: idea.text }),
        credit ? h("p", { class: "note-author", text: credit }) : null,
        badges.length ? h("p", { class: "note-meta" }, badges) : null,
        actions.length ? h("div", { class: "note-actions" }, actions) : null,
        ...follow.build(),
      ];
    });
  }

  function startEdit(idea) {
    ui.editing = idea.id;
    ui.editDraft = idea.text;
    ui.confirm = null;
    update();
    document.getElementById("edit-" + idea.id)?.focus();
  }

  function editForm(idea) {
    const area = h("textarea", { id: "edit-" + idea.id, rows: "3", class: "edit-area", "aria-describedby": "edit-counter-" + idea.id });
    area.value = ui.editDraft;
    const count = h("span", { class: "counter", id: "edit-counter-" + idea.id });
    const save = h("button", { type: "submit", class: "btn btn-small btn-primary", "data-focus": "save", text: t("common.save") });
    const refresh = () => {
      const len = textLength(area.value.trim());
      setText(count, t("board.counter", { count: len, max: maxText() }));
      count.classList.toggle("is-over", len > maxText());
      save.disabled = len === 0 || len > maxText();
    };
    area.addEventListener("input", () => {
      ui.editDraft = area.value;
      refresh();
    });
    area.addEventListener("keydown", (e) => {
      if (e.key === "Escape") cancelEdit();
    });
    refresh();
    return h(
      "form",
      {
        class: "edit-form",
        onsubmit: (e) => {
          e.preventDefault();
          const text = area.value.trim();
          if (!text || textLength(text) > maxText()) return;
          ui.editing = null;
          update();
          // Offline, the note shows the new text as "Sending…" (pendingEdit). Refused: the form opens
          // again with that text (when the note can still be edited), so that it is not lost.
          ctx.act("idea.edit", { idea: idea.id, text }).catch((error) => {
            if (error.code === "closed" || ui.editing) return;
            ui.editing = idea.id;
            ui.editDraft = text;
            update();
          });
        },
      },
      h("label", { for: "edit-" + idea.id, class: "sr-only", text: t("note.editLabel", { text: short(idea.text) }) }),
      area,
      h("div", { class: "note-actions" }, count, save, h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "cancel", text: t("common.cancel"), onclick: cancelEdit })),
    );
  }

  function cancelEdit() {
    const id = ui.editing;
    ui.editing = null;
    update();
    myList.querySelector(`[data-key="${id}"] [data-focus="edit"]`)?.focus();
  }

  // The confirmation opens on Cancel (as erasing one's data does): a second Enter or tap on the same
  // spot does not withdraw the note. Cancel (or Escape) returns the focus to "Withdraw".
  function askWithdraw(idea) {
    ui.confirm = idea.id;
    update();
    myList.querySelector(`[data-key="${idea.id}"] [data-focus="withdraw-no"]`)?.focus();
  }

  function cancelWithdraw(idea) {
    ui.confirm = null;
    update();
    myList.querySelector(`[data-key="${idea.id}"] [data-focus="withdraw"]`)?.focus();
  }

  function withdraw(idea) {
    ui.confirm = null;
    update();
    ctx.act("idea.withdraw", { idea: idea.id }).catch(() => {});
    textarea.focus();
  }

  /** The follow-up under a note on the wall or among mine: its status and note, its replies, a reply box. */
  function followupOf(idea) {
    const room = state.room || {};
    const canReply = Boolean(!idea.outgoing && state.publiclyVisible(idea) && room.phase !== "ended" && state.me && !state.me.muted);
    const stored = idea.outgoing ? [] : state.repliesOf(idea.id);
    const replies = idea.outgoing ? [] : [...stored, ...pendingReplies(idea.id, stored)];
    const sig = [idea.status, idea.history, replies, canReply, fu.replying === idea.id];
    const build = () => [
      statusLine(idea),
      repliesList(ctx, state, replies, { id: "replies-" + idea.id }),
      replyBox(ctx, idea, { canReply, refresh: () => update(), maxLength: Number(ctx.limits().reply_text_max) || 500 }),
    ];
    return { sig, build };
  }

  function updateWallCard(el, stored) {
    // My own note in a theme on the wall: with its edit waiting in the outbox, as among mine.
    const edited = state.isMine(stored) ? pendingEdit(stored.id) : null;
    const idea = edited === null ? stored : { ...stored, text: edited };
    el.className = "note " + colorClass(idea.color);
    el.dataset.idea = idea.id;
    const author = authorOf(state, idea);
    const follow = followupOf(idea);
    renderRow(el, JSON.stringify([idea.text, author, follow.sig]), () => [
      h("p", { class: "note-text", text: idea.text }),
      author ? h("p", { class: "note-author", text: author }) : null,
      ...follow.build(),
    ]);
  }

  // The dot buttons stay focusable when they do nothing (aria-disabled, not disabled): pressing Enter
  // again on "+" at the cap would otherwise land on "−", where renderRow moves the focus, and take a
  // dot back. Pressed while off, they say why instead.
  function dotControls({ addLabel, removeLabel, myDots, waiting = 0, canAdd, canRemove, max, remaining, target }) {
    const add = () => {
      if (!canAdd) {
        if (myDots >= max) announce(t("vote.capReached", { count: max }));
        else if (remaining <= 0) announce(t("error.vote_budget_exceeded"));
        return;
      }
      if (myDots + 1 >= max) announce(t("vote.capReached", { count: max }));
      ctx.act("vote.add", target).catch(() => {});
    };
    const remove = () => {
      if (canRemove) ctx.act("vote.remove", target).catch(() => {});
    };
    return h(
      "div",
      { class: "vote-controls" },
      h("button", { type: "button", class: "dot-btn dot-remove", "data-focus": "remove", "aria-disabled": canRemove ? null : "true", "aria-label": removeLabel, onclick: remove }, h("span", { "aria-hidden": "true", text: "−" })),
      h(
        "span",
        { class: "my-dots" },
        h("span", { class: "dot-icons", "aria-hidden": "true" }, Array.from({ length: max }, (_, i) => h("span", { class: "dot" + (i < myDots ? " is-on" : "") }))),
        h("span", { class: "my-dots-text", text: t("vote.myDots", { count: myDots }) }),
        waiting ? h("span", { class: "badge badge-pending dot-pending", text: t("note.sending") }) : null,
      ),
      h("button", { type: "button", class: "dot-btn dot-add", "data-focus": "add", "aria-disabled": canAdd ? null : "true", "aria-label": addLabel, onclick: add }, h("span", { "aria-hidden": "true", text: "+" })),
    );
  }

  /** Dots placed or taken back that wait in the outbox (offline): counted at once, marked pending. Only
   * those not sent yet: one sent over the live connection may already be counted by its event. */
  function pendingDots(key = null) {
    let n = 0;
    for (const m of session.conn.unsentMessages()) {
      if ((m.type !== "vote.add" && m.type !== "vote.remove") || (key !== null && (m.idea ?? m.theme) !== key)) continue;
      if (m.round && m.round !== state.current) continue; // made in an earlier vote: refused when sent
      n += m.type === "vote.add" ? 1 : -1;
    }
    return n;
  }

  function dotState(rnd, v, key) {
    const waiting = pendingDots(key);
    const myDots = Math.max(0, ((v.mine && v.mine[key]) || 0) + waiting);
    const remaining = v.remaining - pendingDots();
    const open = rnd.status === "open" && !(state.me && state.me.muted);
    const total = v.totals && v.totals[key] !== undefined ? v.totals[key] : null;
    return {
      myDots,
      waiting,
      remaining,
      canAdd: open && remaining > 0 && myDots < rnd.max_per_idea,
      canRemove: rnd.status === "open" && myDots > 0,
      total: total !== null && (!rnd.hide_totals || rnd.status === "closed") ? total : null,
    };
  }

  function updateVoteCard(el, idea, rnd, v) {
    const { myDots, waiting, remaining, canAdd, canRemove, total } = dotState(rnd, v, idea.id);
    const author = rnd.anonymous ? "" : authorOf(state, idea);
    el.className = "note vote-card " + colorClass(idea.color) + (myDots ? " has-dots" : "") + (waiting ? " is-pending" : "");
    const sig = JSON.stringify([idea.text, author, myDots, waiting, canAdd, canRemove, total, idea.status, idea.history]);
    renderRow(el, sig, () => [
      h("p", { class: "note-text", text: idea.text }),
      author ? h("p", { class: "note-author", text: author }) : null,
      statusLine(idea),
      dotControls({ addLabel: t("vote.addLabel", { text: short(idea.text) }), removeLabel: t("vote.removeLabel", { text: short(idea.text) }), myDots, waiting, canAdd, canRemove, max: rnd.max_per_idea, remaining, target: { idea: idea.id } }),
      total !== null ? h("p", { class: "vote-total", text: t("vote.total", { count: total }) }) : null,
    ]);
  }

  /** A theme in a vote round on themes: its name, its notes, and the dot buttons. */
  function updateThemeVoteCard(el, theme, rnd, v) {
    const { myDots, waiting, remaining, canAdd, canRemove, total } = dotState(rnd, v, theme.id);
    const ideas = state.themeIdeas(theme.id);
    el.className = "note vote-card theme-vote-card " + colorClass(theme.color) + (myDots ? " has-dots" : "") + (waiting ? " is-pending" : "");
    const sig = JSON.stringify([theme.name, ideas.map((i) => i.text), myDots, waiting, canAdd, canRemove, total]);
    renderRow(el, sig, () => [
      h("h3", { class: "theme-vote-name", text: theme.name }),
      h("p", { class: "theme-vote-count", text: t("themes.count", { count: ideas.length }) }),
      h("ul", { class: "theme-vote-notes" }, ideas.map((i) => h("li", { text: i.text }))),
      dotControls({ addLabel: t("vote.addThemeLabel", { name: short(theme.name) }), removeLabel: t("vote.removeThemeLabel", { name: short(theme.name) }), myDots, waiting, canAdd, canRemove, max: rnd.max_per_idea, remaining, target: { theme: theme.id } }),
      total !== null ? h("p", { class: "vote-total", text: t("vote.total", { count: total }) }) : null,
    ]);
  }

  /**
   * Notes grouped by theme: a section per theme (header with its colour) in `container`. Returns the
   * notes without a theme (`rest`) and whether any theme was shown (`grouped`).
   */
  function syncThemed(container, ideas, cardClass, updateCard) {
    const groups = state.groupByTheme(ideas);
    const rest = groups.pop().ideas;
    syncList(
      container,
      groups,
      (g) => g.theme.id,
      (g) => {
        const title = h("h3", { class: "theme-group-title", id: `${container.id}-${g.theme.id}` });
        const list = h("ul", { class: "notes " + cardClass });
        const section = h("section", { class: "theme-group", "aria-labelledby": title.id }, title, list);
        section._title = title;
        section._list = list;
        return section;
      },
      (section, g) => {
        section.dataset.theme = g.theme.id;
        section.className = "theme-group theme-group-" + (g.theme.color || "blue");
        renderRow(section._title, JSON.stringify([g.theme.name, g.theme.color, g.ideas.length]), () => themeChip(g.theme, { count: g.ideas.length }));
        syncList(section._list, g.ideas, (i) => i.id, () => h("li", { class: "note" }), updateCard);
      },
    );
    return { rest, grouped: groups.length > 0 };
  }

  function update() {
    const rnd = state.currentRound;
    const room = state.room || {};
    const me = state.me || {};
    updateBanners(rnd);
    setText(whoami, me.name ? t("board.whoami", { name: me.name }) : "");
    setText(aboutBrief, room.brief || "");
    setText(aboutRules, room.rules || "");
    show(about, Boolean(room.brief || room.rules));

    show(roundCard, Boolean(rnd));
    show(idleCard, !rnd);
    if (!rnd) {
      setText(idleTitle, room.phase === "ended" ? t("board.endedTitle") : t("board.idle"));
      setText(idleBrief, room.brief || "");
    } else {
      setText(kind, roundKindLabel(rnd));
      setText(status, roundStatusLabel(rnd));
      status.className = "badge badge-status is-" + rnd.status;
      setText(prompt, rnd.prompt);
      let hint = "";
      if (rnd.status === "closed") hint = "";
      else if (rnd.kind === "ideate" && rnd.private && !rnd.revealed) hint = t("board.privateHint");
      else if (rnd.kind === "vote") hint = t(rnd.target === "themes" ? "board.voteThemesHint" : "board.voteHint", { count: rnd.budget, budget: rnd.budget, max: rnd.max_per_idea });
      setText(roundHint, hint);
      timer.update(rnd, ctx.now());
    }

    const ideate = Boolean(rnd && rnd.kind === "ideate");
    show(composer, ideate && rnd.status !== "closed" && room.phase !== "ended");
    updateComposer();

    // My notes (ideate) and the wall. Once a vote's results are out, the discussion starts: my notes of
    // the ideas round before it come back, with the statuses and replies staff give them.
    const discussed = !ideate && rnd && rnd.kind === "vote" && rnd.status === "closed" ? ideasRoundBefore(rnd) : null;
    const notesRound = ideate ? rnd : discussed;
    const myIdeas = notesRound ? Array.from(state.ideas.values()).filter((i) => i.round === notesRound.id && state.isMine(i)) : [];
    const outgoing = ideate ? pendingPosts().map((m) => ({ id: "out-" + m.id, text: m.text, color: m.color, state: "visible", outgoing: true, round: rnd.id })) : [];
    show(mine, ideate ? myIdeas.length + outgoing.length > 0 || rnd.status !== "closed" : myIdeas.length > 0);
    syncList(myList, [...myIdeas, ...outgoing], (i) => i.id, (i) => noteCard(i, { editable: true }), updateMine);
    show(mineEmpty, ideate && myIdeas.length + outgoing.length === 0);

    // The wall: notes in themes (everyone's, yours included), then the others' notes without a theme.
    const onWall = ideate ? Array.from(state.ideas.values()).filter((i) => i.round === rnd.id && state.publiclyVisible(i)) : [];
    const themed = syncThemed(wallThemes, onWall, "notes-wall", updateWallCard);
    const loose = themed.rest.filter((i) => !state.isMine(i));
    show(wallLooseTitle, themed.grouped && loose.length > 0);
    show(wall, ideate);
    if (ideate) {
      const secret = rnd.private && !rnd.revealed;
      const any = loose.length > 0 || wallThemes.children.length > 0;
      // Only my own notes on the wall (they are under "Your notes"): not "No notes yet".
      const onlyMine = themed.rest.length > loose.length;
      setText(wallEmpty, secret ? t("board.wallPrivate") : any ? "" : t(onlyMine ? "board.wallOnlyMine" : "board.wallEmpty"));
      show(wallEmpty, secret || !any);
    }
    syncList(wallList, loose, (i) => i.id, () => h("li", { class: "note" }), updateWallCard);

    // Voting.
    const voting = Boolean(rnd && rnd.kind === "vote");
    show(vote, voting && !(rnd.status === "closed" && state.votes.get(rnd.id)?.results));
    const onThemes = voting && rnd.target === "themes";
    vote.classList.toggle("vote-themes", onThemes);
    if (voting) {
      const v = state.voteOf(rnd.id);
      const remaining = v.remaining - pendingDots();
      setText(budgetText, t("vote.budget", { count: remaining, budget: rnd.budget }));
      renderRow(budgetDots, String([remaining, rnd.budget]), () =>
        Array.from({ length: rnd.budget }, (_, i) => h("span", { class: "dot" + (i < remaining ? " is-on" : "") })),
      );
      budget.classList.toggle("is-empty", remaining === 0);
      if (onThemes) {
        // Dots go on themes: one card per theme that holds a visible note.
        const themes = state.inVoteOrder(rnd, state.publicThemes());
        setText(voteEmpty, t("board.voteThemesEmpty"));
        show(voteEmpty, themes.length === 0);
        syncList(voteThemes, [], (g) => g.theme.id, () => null, () => {});
        show(voteLooseTitle, false);
        syncList(voteList, themes, (th) => th.id, () => h("li", { class: "note vote-card theme-vote-card" }), (el, theme) => updateThemeVoteCard(el, theme, rnd, v));
      } else {
        // The shared order chosen by the server (round.order): the same for every voter, own notes included.
        const candidates = state.inVoteOrder(rnd, Array.from(state.ideas.values()).filter((i) => state.publiclyVisible(i)));
        setText(voteEmpty, t("board.voteEmpty"));
        show(voteEmpty, candidates.length === 0);
        const { rest, grouped } = syncThemed(voteThemes, candidates, "notes-vote", (el, idea) => updateVoteCard(el, idea, rnd, v));
        show(voteLooseTitle, grouped && rest.length > 0);
        syncList(voteList, rest, (i) => i.id, () => h("li", { class: "note vote-card" }), (el, idea) => updateVoteCard(el, idea, rnd, v));
      }
    } else {
      syncList(voteThemes, [], (g) => g.theme.id, () => null, () => {});
      syncList(voteList, [], (i) => i.id, () => null, () => {});
      show(voteLooseTitle, false);
    }

    followup.update();

    const found = state.latestResults();
    const showResults = Boolean(found && rnd && found.round.id === rnd.id);
    show(resultsSection, showResults);
    results.update(state, showResults ? found : null);
    const byTheme = Boolean(showResults && found.vote.themeResults && found.vote.themeResults.length);
    show(themeResultsBox, byTheme);
    themeResults.update(state, byTheme ? found : null, { byTheme: true });
  }

  /** The last ideas round opened before ``rnd`` (rounds keep their opening order), or null. */
  function ideasRoundBefore(rnd) {
    let found = null;
    for (const r of state.rounds.values()) {
      if (r.id === rnd.id) break;
      if (r.kind === "ideate") found = r;
    }
    return found;
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

// The participant's board (phone first): the prompt and timer, writing notes, the wall, dot voting and
// the results. Everything is a real button or form control, so the board works with a keyboard alone.

import { h, renderRow, setText, show, syncList } from "../dom.js";
import { t } from "../i18n.js";
import { netBanner, topBar } from "../chrome.js";
import { authorOf, colorClass, COLORS, resultsList, roundKindLabel, roundStatusLabel, timerBlock } from "./parts.js";

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
  const textarea = h("textarea", { id: "idea-text", rows: "3", "aria-describedby": "idea-counter idea-limit", enterkeyhint: "send" });
  textarea.value = ui.draft;
  const counter = h("span", { class: "counter", id: "idea-counter" });
  const limitNote = h("span", { class: "limit-note", id: "idea-limit" });
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
      h("div", { class: "composer-foot" }, h("fieldset", { class: "swatches" }, h("legend", { class: "sr-only", text: t("board.color") }), colorChoices), postBtn),
    ),
  );
  textarea.addEventListener("input", () => {
    ui.draft = textarea.value;
    updateComposer();
  });
  textarea.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      post();
    }
  });

  const myList = h("ul", { class: "notes notes-mine", id: "my-notes-list" });
  const mineEmpty = h("p", { class: "empty", text: t("board.mineEmpty") });
  const mine = h("section", { class: "section", id: "my-notes", "aria-labelledby": "my-notes-title" }, h("h2", { class: "section-title", id: "my-notes-title", text: t("board.mine") }), mineEmpty, myList);

  const wallTitle = h("h2", { class: "section-title", id: "wall-title", text: t("board.wall") });
  const wallEmpty = h("p", { class: "empty", id: "wall-empty" });
  const wallList = h("ul", { class: "notes notes-wall", id: "wall-list" });
  const wall = h("section", { class: "section", id: "wall", "aria-labelledby": "wall-title" }, wallTitle, wallEmpty, wallList);

  const budgetText = h("span", { class: "budget-text", id: "budget-text" });
  const budgetDots = h("span", { class: "budget-dots", "aria-hidden": "true" });
  const budget = h("p", { class: "budget", id: "budget", "aria-live": "polite" }, budgetDots, budgetText);
  const voteList = h("ul", { class: "notes notes-vote", id: "vote-list" });
  const voteEmpty = h("p", { class: "empty", id: "vote-empty", text: t("board.voteEmpty") });
  const vote = h("section", { class: "section vote", id: "vote", "aria-labelledby": "vote-title" }, h("div", { class: "vote-head" }, h("h2", { class: "section-title", id: "vote-title", text: t("board.vote") }), budget), voteEmpty, voteList);

  const results = resultsList({ id: "results-list" });
  const resultsSection = h("section", { class: "section", id: "results", "aria-labelledby": "results-title" }, h("h2", { class: "section-title", id: "results-title", text: t("results.title") }), results.el);

  const whoami = h("p", { class: "whoami", id: "whoami" });
  const aboutBrief = h("p", { class: "brief" });
  const aboutRules = h("p", { class: "rules-text" });
  const about = h("details", { class: "about" }, h("summary", { text: t("board.about") }), aboutBrief, h("h3", { text: t("join.rules") }), aboutRules);

  const main = h("main", { class: "board-main", id: "main" }, banners, roundCard, idleCard, composer, vote, resultsSection, mine, wall, h("footer", { class: "board-foot" }, whoami, about));
  const el = h("div", { class: "page page-board" }, topBar(ctx, { title: state.room ? state.room.title : "", sound: true }), netBanner(ctx), main);

  // --- Actions ------------------------------------------------------------------------------------------
  function post() {
    const text = textarea.value.trim();
    if (!text || textLength(text) > maxText() || !canPost()) return;
    const local = { key: "out-" + Math.random().toString(36).slice(2), text, color: ui.color };
    ui.outgoing.push(local);
    ui.draft = "";
    textarea.value = "";
    update();
    textarea.focus();
    ctx
      .act("idea.post", { text, color: ui.color })
      .catch(() => {
        if (!textarea.value) {
          textarea.value = text;
          ui.draft = text;
        }
      })
      .finally(() => {
        ui.outgoing = ui.outgoing.filter((o) => o !== local);
        update();
      });
  }

  function canPost() {
    const rnd = state.currentRound;
    return Boolean(rnd && rnd.kind === "ideate" && rnd.status === "open" && state.me && !state.me.muted && state.room && state.room.phase !== "ended");
  }

  function myCount(rnd) {
    let n = ui.outgoing.length;
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
    // maxlength counts UTF-16 units: room for emoji and decomposed accents; the counter has the last word.
    textarea.setAttribute("maxlength", String(4 * max));
    let limitText = "";
    let full = false;
    if (rnd && rnd.max_ideas) {
      const left = Math.max(0, rnd.max_ideas - myCount(rnd));
      full = left === 0;
      limitText = t("board.ideasLeft", { count: left });
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
    else if (rnd && rnd.status === "closed") items.push(["closed-banner", "info", rnd.kind === "vote" ? t("board.voteClosed") : t("board.roundClosed")]);
    else if (rnd && rnd.status === "paused") items.push(["paused-banner", "info", t("board.paused")]);
    renderRow(banners, JSON.stringify(items), () => items.map(([id, k, text]) => banner(id, k, text)));
  }

  function noteCard(idea, { editable }) {
    const li = h("li", { class: "note" });
    li._editable = editable;
    return li;
  }

  function updateMine(el, idea) {
    const rnd = state.currentRound;
    const editable = Boolean(rnd && rnd.status === "open" && rnd.kind === "ideate" && idea.round === rnd.id && !idea.outgoing && !(state.me && state.me.muted));
    const editing = ui.editing === idea.id && editable;
    const confirming = ui.confirm === idea.id && editable;
    el.className = "note " + colorClass(idea.color) + (idea.outgoing ? " is-pending" : "") + (idea.state !== "visible" ? " is-" + idea.state : "");
    const sig = JSON.stringify([idea.text, idea.color, idea.state, idea.hide_reason, idea.outgoing, editable, editing, confirming, rnd && rnd.revealed]);
    renderRow(el, sig, () => {
      if (editing) return editForm(idea);
      const badges = [];
      if (idea.outgoing) badges.push(h("span", { class: "badge badge-pending", text: t("note.sending") }));
      else if (idea.state === "pending") badges.push(h("span", { class: "badge badge-pending", text: t("note.pending") }));
      else if (idea.state === "hidden") badges.push(h("span", { class: "badge badge-hidden", text: idea.hide_reason ? t("note.hiddenReason", { reason: idea.hide_reason }) : t("note.hidden") }));
      else if (rnd && rnd.private && !rnd.revealed && idea.round === rnd.id) badges.push(h("span", { class: "badge", text: t("note.private") }));
      const actions = [];
      if (confirming) {
        actions.push(
          h("span", { class: "confirm-text", text: t("note.withdrawConfirm") }),
          h("button", { type: "button", class: "btn btn-small btn-danger", "data-focus": "withdraw-yes", text: t("note.withdrawYes"), onclick: () => withdraw(idea) }),
          h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "withdraw-no", text: t("common.cancel"), onclick: () => ((ui.confirm = null), update()) }),
        );
      } else if (editable) {
        actions.push(
          h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "edit", "aria-label": t("note.editLabel", { text: short(idea.text) }), text: t("note.edit"), onclick: () => startEdit(idea) }),
          h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "withdraw", "aria-label": t("note.withdrawLabel", { text: short(idea.text) }), text: t("note.withdraw"), onclick: () => ((ui.confirm = idea.id), update()) }),
        );
      }
      return [
        h("p", { class: "note-text", text: idea.text }),
        badges.length ? h("p", { class: "note-meta" }, badges) : null,
        actions.length ? h("div", { class: "note-actions" }, actions) : null,
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
          ctx.act("idea.edit", { idea: idea.id, text }).catch(() => {});
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

  function withdraw(idea) {
    ui.confirm = null;
    update();
    ctx.act("idea.withdraw", { idea: idea.id }).catch(() => {});
    textarea.focus();
  }

  function updateWallCard(el, idea) {
    el.className = "note " + colorClass(idea.color);
    const author = authorOf(state, idea);
    renderRow(el, JSON.stringify([idea.text, author]), () => [
      h("p", { class: "note-text", text: idea.text }),
      author ? h("p", { class: "note-author", text: author }) : null,
    ]);
  }

  function updateVoteCard(el, idea, rnd, v) {
    const myDots = (v.mine && v.mine[idea.id]) || 0;
    const open = rnd.status === "open" && !(state.me && state.me.muted);
    const canAdd = open && v.remaining > 0 && myDots < rnd.max_per_idea;
    const canRemove = rnd.status === "open" && myDots > 0;
    const total = v.totals && v.totals[idea.id] !== undefined ? v.totals[idea.id] : null;
    const showTotal = total !== null && (!rnd.hide_totals || rnd.status === "closed");
    const author = rnd.anonymous ? "" : authorOf(state, idea);
    el.className = "note vote-card " + colorClass(idea.color) + (myDots ? " has-dots" : "");
    const sig = JSON.stringify([idea.text, author, myDots, canAdd, canRemove, showTotal && total]);
    renderRow(el, sig, () => [
      h("p", { class: "note-text", text: idea.text }),
      author ? h("p", { class: "note-author", text: author }) : null,
      h(
        "div",
        { class: "vote-controls" },
        h("button", { type: "button", class: "dot-btn dot-remove", "data-focus": "remove", disabled: !canRemove, "aria-label": t("vote.removeLabel", { text: short(idea.text) }), onclick: () => ctx.act("vote.remove", { idea: idea.id }).catch(() => {}) }, h("span", { "aria-hidden": "true", text: "−" })),
        h(
          "span",
          { class: "my-dots" },
          h("span", { class: "dot-icons", "aria-hidden": "true" }, Array.from({ length: rnd.max_per_idea }, (_, i) => h("span", { class: "dot" + (i < myDots ? " is-on" : "") }))),
          h("span", { class: "my-dots-text", text: t("vote.myDots", { count: myDots }) }),
        ),
        h("button", { type: "button", class: "dot-btn dot-add", "data-focus": "add", disabled: !canAdd, "aria-label": t("vote.addLabel", { text: short(idea.text) }), onclick: () => ctx.act("vote.add", { idea: idea.id }).catch(() => {}) }, h("span", { "aria-hidden": "true", text: "+" })),
      ),
      showTotal ? h("p", { class: "vote-total", text: t("vote.total", { count: total }) }) : null,
    ]);
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
      else if (rnd.kind === "vote") hint = t("board.voteHint", { budget: rnd.budget, max: rnd.max_per_idea });
      setText(roundHint, hint);
      timer.update(rnd, ctx.now());
    }

    const ideate = Boolean(rnd && rnd.kind === "ideate");
    show(composer, ideate && rnd.status !== "closed" && room.phase !== "ended");
    updateComposer();

    // My notes (ideate) and the wall.
    const myIdeas = ideate ? Array.from(state.ideas.values()).filter((i) => i.round === rnd.id && state.isMine(i)) : [];
    const outgoing = ideate ? ui.outgoing.map((o) => ({ id: o.key, text: o.text, color: o.color, state: "visible", outgoing: true, round: rnd.id })) : [];
    show(mine, ideate && (myIdeas.length + outgoing.length > 0 || rnd.status !== "closed"));
    syncList(myList, [...myIdeas, ...outgoing], (i) => i.id, (i) => noteCard(i, { editable: true }), updateMine);
    show(mineEmpty, ideate && myIdeas.length + outgoing.length === 0);

    const others = ideate ? Array.from(state.ideas.values()).filter((i) => i.round === rnd.id && !state.isMine(i) && state.publiclyVisible(i)) : [];
    show(wall, ideate);
    if (ideate) {
      const secret = rnd.private && !rnd.revealed;
      setText(wallEmpty, secret ? t("board.wallPrivate") : others.length ? "" : t("board.wallEmpty"));
      show(wallEmpty, secret || !others.length);
    }
    syncList(wallList, others, (i) => i.id, () => h("li", { class: "note" }), updateWallCard);

    // Voting.
    const voting = Boolean(rnd && rnd.kind === "vote");
    show(vote, voting && !(rnd.status === "closed" && state.votes.get(rnd.id)?.results));
    if (voting) {
      const v = state.voteOf(rnd.id);
      const candidates = Array.from(state.ideas.values()).filter((i) => state.publiclyVisible(i));
      setText(budgetText, t("vote.budget", { count: v.remaining, budget: rnd.budget }));
      renderRow(budgetDots, String([v.remaining, rnd.budget]), () =>
        Array.from({ length: rnd.budget }, (_, i) => h("span", { class: "dot" + (i < v.remaining ? " is-on" : "") })),
      );
      budget.classList.toggle("is-empty", v.remaining === 0);
      show(voteEmpty, candidates.length === 0);
      syncList(voteList, candidates, (i) => i.id, () => h("li", { class: "note vote-card" }), (el, idea) => updateVoteCard(el, idea, rnd, v));
    } else {
      syncList(voteList, [], (i) => i.id, () => null, () => {});
    }

    const found = state.latestResults();
    const showResults = Boolean(found && rnd && found.round.id === rnd.id);
    show(resultsSection, showResults);
    results.update(state, showResults ? found : null);
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

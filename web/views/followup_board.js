// The participant's side of the follow-up on the board: the satisfaction question, the jury's scoring
// form (jurors, while an evaluation is open), announcements, the selection log and the personal link
// to the "my ideas" page.

import { h, renderRow, show } from "../dom.js";
import { t } from "../i18n.js";
import { announcementsList, myIdeasCard, SCORES, scoringForm, selectionLogList, selectionLogOf } from "./followup.js";
import { criteriaCard } from "./parts.js";

// Kept across re-renders and a language switch.
const pulseUi = { editing: false, score: 0, comment: "" };

export function buildBoardFollowup(ctx, state, refresh) {
  // --- The satisfaction question ---
  const pulseBox = h("section", { class: "card pulse-card", id: "pulse-card", "aria-labelledby": "pulse-title" });

  function pulseForm(p) {
    const question = p.question || t("pulse.defaultQuestion");
    const error = h("p", { class: "form-error", role: "alert", hidden: true });
    const choices = SCORES.map((n) => {
      const id = "pulse-score-" + n;
      const input = h("input", { type: "radio", name: "pulse-score", id, value: String(n), checked: pulseUi.score === n, "data-focus": id, onchange: () => (pulseUi.score = n) });
      return h("span", { class: "score-choice" }, input, h("label", { for: id }, h("span", { "aria-hidden": "true", text: String(n) }), h("span", { class: "sr-only", text: t("pulse.scoreOf", { score: n }) })));
    });
    const comment = h("textarea", { id: "pulse-comment", rows: "2", maxlength: "2000", "data-focus": "pulse-comment", oninput: (e) => (pulseUi.comment = e.target.value) });
    comment.value = pulseUi.comment;
    const submit = h("button", { type: "submit", class: "btn btn-primary btn-small", id: "pulse-submit", "data-focus": "pulse-submit", text: t("pulse.send") });
    return h(
      "form",
      {
        class: "pulse-form stack",
        id: "pulse-form",
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          if (!pulseUi.score) {
            error.textContent = t("pulse.chooseScore");
            error.hidden = false;
            document.getElementById("pulse-score-1")?.focus();
            return;
          }
          submit.disabled = true;
          ctx
            .act("pulse.answer", { score: pulseUi.score, comment: comment.value.trim() })
            .then(() => {
              pulseUi.editing = false;
              ctx.toast(t("pulse.thanks"));
              refresh();
              document.getElementById("pulse-title")?.focus();
            })
            .catch(() => {})
            .finally(() => {
              submit.disabled = false;
            });
        },
      },
      h("fieldset", { class: "score-group" }, h("legend", { text: question }), h("div", { class: "score-scale" }, choices), h("p", { class: "hint", text: t("pulse.scaleHint") })),
      h("div", { class: "field" }, h("label", { for: "pulse-comment", text: t("pulse.comment") }), comment),
      error,
      h("div", { class: "row-actions" }, submit, p.mine ? h("button", { type: "button", class: "btn btn-small btn-ghost", text: t("common.cancel"), onclick: () => ((pulseUi.editing = false), refresh()) }) : null),
    );
  }

  function updatePulse() {
    const p = state.openPulse;
    show(pulseBox, Boolean(p) && state.role === "participant");
    if (!p || state.role !== "participant") return;
    const answered = Boolean(p.mine) && !pulseUi.editing;
    renderRow(pulseBox, JSON.stringify([p.id, p.question, p.mine || null, answered]), () => [
      h("h2", { class: "section-title", id: "pulse-title", tabindex: "-1", text: t("pulse.title") }),
      answered
        ? h(
            "div",
            { class: "stack", id: "pulse-mine" },
            h("p", { class: "pulse-question", text: p.question || t("pulse.defaultQuestion") }),
            h("p", { class: "pulse-yours", text: t("pulse.yours", { score: p.mine.score }) }),
            p.mine.comment ? h("p", { class: "status-note", text: t("followup.noteQuoted", { note: p.mine.comment }) }) : null,
            h("div", { class: "row-actions" }, h("button", { type: "button", class: "btn btn-small btn-ghost", id: "pulse-change", "data-focus": "pulse-change", text: t("pulse.change"), onclick: () => {
              pulseUi.editing = true;
              pulseUi.score = p.mine.score;
              pulseUi.comment = p.mine.comment || "";
              refresh();
              document.getElementById("pulse-score-" + pulseUi.score)?.focus();
            } })),
          )
        : pulseForm(p),
    ]);
  }

  // --- The jury's scoring form ---
  const juryBox = h("section", { class: "card jury-card", id: "jury-card", "aria-labelledby": "jury-title" });
  function updateJury() {
    const e = state.openEvaluation;
    const juror = Boolean(e) && state.role === "participant" && state.isJurorOf(e);
    show(juryBox, juror);
    if (!juror) return;
    const ideas = e.ideas.map((id) => state.ideas.get(id)).filter(Boolean);
    const done = ideas.filter((i) => e.mine && e.mine[i.id]).length;
    renderRow(juryBox, JSON.stringify([e.id, e.criteria, ideas.map((i) => [i.id, i.text]), e.mine || null]), () => [
      h("h2", { class: "section-title", id: "jury-title", text: t("selection.juryTitle") }),
      h("p", { class: "hint", text: t("selection.juryLead") }),
      h("p", { class: "jury-progress", role: "status", text: t("selection.yourProgress", { done, count: ideas.length }) }),
      h("div", { class: "stack" }, ideas.map((idea) => scoringForm(ctx, e, idea, { refresh, idPrefix: "jscore" }))),
    ]);
  }

  // --- Announcements ---
  const announceBox = h("section", { class: "section", id: "announcements", "aria-labelledby": "announcements-title" });
  function updateAnnouncements() {
    const items = state.announcements;
    show(announceBox, items.length > 0);
    renderRow(announceBox, JSON.stringify(items), () => [
      h("h2", { class: "section-title", id: "announcements-title", text: t("announce.title") }),
      announcementsList(items, { id: "announcement-list", meId: state.me && state.me.id }),
    ]);
  }

  // --- The selection log ---
  const logBox = h("section", { class: "section", id: "selection-log", "aria-labelledby": "selection-log-title" });
  function updateLog() {
    const entries = selectionLogOf(state);
    show(logBox, entries.length > 0);
    renderRow(logBox, JSON.stringify(entries), () => [
      h("h2", { class: "section-title", id: "selection-log-title", text: t("selection.logTitle") }),
      selectionLogList(entries, { id: "selection-log-list" }),
    ]);
  }

  // --- The published criteria (public: everyone knows what ideas are judged on before an evaluation) ---
  const criteriaBox = h("div", { class: "criteria-slot", id: "board-criteria-slot" });
  function updateCriteria() {
    const criteria = state.criteria || [];
    renderRow(criteriaBox, JSON.stringify(criteria), () => (criteria.length ? criteriaCard(criteria, { id: "board-criteria" }) : null));
  }

  // --- The personal link to "my ideas" ---
  const linkTop = h("div", { class: "my-ideas-slot", id: "my-ideas-top" });
  const linkBottom = h("div", { class: "my-ideas-slot", id: "my-ideas-bottom" });
  function updateLink() {
    const ended = Boolean(state.room && state.room.phase === "ended");
    const token = ctx.session && ctx.session.token;
    const participant = state.role === "participant";
    renderRow(linkTop, JSON.stringify([ended && participant, token]), () => (ended && participant ? myIdeasCard(ctx, { ended: true }) : null));
    renderRow(linkBottom, JSON.stringify([!ended && participant, token]), () => (!ended && participant ? myIdeasCard(ctx) : null));
  }

  return {
    top: h("div", { class: "followup-top" }, linkTop, pulseBox, juryBox, announceBox),
    bottom: h("div", { class: "followup-bottom" }, criteriaBox, logBox, linkBottom),
    update() {
      updatePulse();
      updateJury();
      updateAnnouncements();
      updateCriteria();
      updateLog();
      updateLink();
    },
  };
}


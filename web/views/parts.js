// Pieces shared by the board, the console and the room screen: note cards, the timer, results.

import { h, renderRow, setText } from "../dom.js";
import { t } from "../i18n.js";
import { formatClock, fractionLeft, secondsLeft } from "../timer.js";

export const COLORS = ["yellow", "pink", "blue", "green", "orange", "purple"];

export function colorClass(color) {
  return "note-" + (COLORS.includes(color) ? color : "yellow");
}

/** The author line of a note, or "" when the viewer may not see it. */
export function authorOf(state, idea) {
  if (state.isMine(idea)) return t("note.you");
  return idea.author_name || "";
}

/** A round's label: "Ideas · open", for the header of a round card. */
export function roundKindLabel(rnd) {
  return rnd.kind === "vote" ? t("round.kindVote") : t("round.kindIdeate");
}

export function roundStatusLabel(rnd) {
  if (rnd.status === "paused") return t("round.paused");
  if (rnd.status === "closed") return t("round.closed");
  return t("round.open");
}

/** The timer block: a big clock (role=timer) and a progress bar; `update(round, now)` refreshes it. */
export function timerBlock({ large = false } = {}) {
  const clock = h("span", { class: "timer-clock", role: "timer", "aria-live": "off" });
  const label = h("span", { class: "timer-label" });
  const fill = h("span", { class: "timer-fill" });
  const bar = h("span", { class: "timer-bar", "aria-hidden": "true" }, fill);
  const el = h("div", { class: "timer" + (large ? " timer-large" : "") }, h("div", { class: "timer-row" }, clock, label), bar);
  return {
    el,
    update(rnd, now) {
      const left = secondsLeft(rnd, now);
      el.hidden = !rnd || rnd.duration === null || (left === null && rnd.status !== "paused");
      if (!rnd) return;
      setText(clock, left === null ? "" : formatClock(left));
      const aria = rnd.status === "closed" ? t("timer.timeUp") : left === null ? "" : t("timer.aria", { time: formatClock(left) });
      if (clock.getAttribute("aria-label") !== aria) clock.setAttribute("aria-label", aria);
      setText(label, rnd.status === "paused" ? t("round.paused") : rnd.status === "closed" ? t("timer.timeUp") : "");
      const fraction = fractionLeft(rnd, now);
      bar.hidden = fraction === null || rnd.status === "closed";
      if (fraction !== null) fill.style.transform = `scaleX(${fraction})`;
      el.classList.toggle("is-low", rnd.status === "open" && left !== null && left <= 30);
      el.classList.toggle("is-paused", rnd.status === "paused");
      el.classList.toggle("is-over", rnd.status === "closed");
    },
  };
}

/** The ranked results of a vote round, animated in. */
export function resultsList({ limit = 100, id = null, large = false } = {}) {
  const list = h("ol", { class: "results" + (large ? " results-large" : ""), id });
  return {
    el: list,
    update(state, found) {
      if (!found) {
        renderRow(list, "none", () => []);
        return;
      }
      const { round, vote } = found;
      const rows = (vote.results || []).filter((r) => state.ideas.has(r.idea)).slice(0, limit);
      const max = Math.max(1, ...rows.map((r) => r.total));
      const sig = JSON.stringify([round.id, rows, rows.map((r) => state.ideas.get(r.idea).text)]);
      renderRow(list, sig, () =>
        rows.map((r, i) => {
          const idea = state.ideas.get(r.idea);
          const author = round.anonymous ? "" : authorOf(state, idea);
          return h(
            "li",
            { class: "result " + colorClass(idea.color) + (r.rank === 1 ? " is-top" : ""), style: `--i:${i}`, dataset: { idea: r.idea } },
            h("span", { class: "result-rank", "aria-label": t("results.rank", { rank: r.rank }), text: String(r.rank) }),
            h(
              "div",
              { class: "result-body" },
              h("p", { class: "result-text", text: idea.text }),
              author ? h("p", { class: "result-author", text: author }) : null,
              h("span", { class: "result-bar", "aria-hidden": "true" }, h("span", { class: "result-fill", style: `--w:${(r.total / max) * 100}%` })),
            ),
            h("span", { class: "result-total", text: t("results.dots", { count: r.total }) }),
          );
        }),
      );
    },
  };
}

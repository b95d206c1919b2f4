// Pieces shared by the board, the console and the room screen: note cards, the timer, results.

import { h, renderRow, setText } from "../dom.js";
import { locale, t } from "../i18n.js";
import { closedByTimer, formatClock, fractionLeft, secondsLeft } from "../timer.js";

export const COLORS = ["yellow", "pink", "blue", "green", "orange", "purple"];

export function colorClass(color) {
  return "note-" + (COLORS.includes(color) ? color : "yellow");
}

/** The solid dot that stands for a theme's colour (stronger than the pale note colour). */
export function swatchClass(color) {
  return "swatch-" + (COLORS.includes(color) ? color : "blue");
}

/** "A, B and C" in the current language. */
export function listNames(names) {
  if (names.length < 2) return names.join("");
  try {
    return new Intl.ListFormat(locale(), { style: "long", type: "conjunction" }).format(names);
  } catch {
    return names.join(", ");
  }
}

/** "Thanks to A and B" / "Merci à A et à B": French repeats the "à" before each name. */
export function thankedText(names) {
  return t("announce.thanked", { names: listNames(names.map((name) => t("announce.thankedName", { name }))) });
}

/** The published criteria on one line: "How ideas will be judged: Impact ×3, Feasibility ×2". */
export function criteriaLine(criteria) {
  return t("selection.publicLine", { list: criteria.map((k) => t("selection.publicCriterion", { name: k.name, weight: k.weight })).join(", ") });
}

/** The published criteria (public: everyone knows what ideas are judged on), with their weights and
 * descriptions, as a card for the board and the "my ideas" page. `id`: the card's id. */
export function criteriaCard(criteria, { id }) {
  return h(
    "section",
    { class: "card public-criteria", id, "aria-labelledby": id + "-title" },
    h("h2", { class: "section-title", id: id + "-title", text: t("selection.publicTitle") }),
    h(
      "ul",
      { class: "public-criteria-list" },
      criteria.map((k) =>
        h(
          "li",
          { class: "public-criterion" },
          h("strong", { class: "public-criterion-name", text: k.name }),
          " ",
          h("span", { class: "badge", text: "×" + k.weight }),
          k.description ? h("span", { class: "hint public-criterion-description", text: k.description }) : null,
        ),
      ),
    ),
  );
}

/**
 * The author line of a note, or "" when the viewer may not see it: every author credited on a merged
 * note ("Ana, Ben and you"), "You" for the viewer's own, nothing in an anonymous round (but "You").
 */
export function authorOf(state, idea, { staff = false } = {}) {
  const rnd = state.rounds.get(idea.round);
  const anonymous = !staff && Boolean(rnd && rnd.anonymous);
  const me = state.me ? state.me.id : null;
  const credited = [{ id: idea.author, name: idea.author_name }, ...(idea.coauthors || [])];
  const names = [];
  let mine = false;
  for (const person of credited) {
    if (!person.id && !person.name) continue;
    if (me && person.id === me) mine = true;
    else if (!anonymous && person.name) names.push(person.name);
  }
  if (!mine && !staff && idea.mine && !idea.coauthors?.length) mine = true;
  if (mine) names.push(names.length ? t("note.youInList") : t("note.you"));
  return listNames(names);
}

/** A theme's name with its colour, as a small chip (headers of theme groups, results). */
export function themeChip(theme, { tag = "span", id = null, count = null } = {}) {
  return h(
    tag,
    { class: "theme-chip", id },
    h("span", { class: "theme-swatch " + swatchClass(theme.color), "aria-hidden": "true" }),
    h("span", { class: "theme-chip-name", text: theme.name }),
    count === null ? null : h("span", { class: "theme-chip-count", text: t("themes.count", { count }) }),
  );
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
      const over = closedByTimer(rnd) ? t("timer.timeUp") : t("timer.closed");
      const aria = rnd.status === "closed" ? over : left === null ? "" : t("timer.aria", { time: formatClock(left) });
      if (clock.getAttribute("aria-label") !== aria) clock.setAttribute("aria-label", aria);
      setText(label, rnd.status === "paused" ? t("round.paused") : rnd.status === "closed" ? over : "");
      const fraction = fractionLeft(rnd, now);
      bar.hidden = fraction === null || rnd.status === "closed";
      if (fraction !== null) fill.style.transform = `scaleX(${fraction})`;
      el.classList.toggle("is-low", rnd.status === "open" && left !== null && left <= 30);
      el.classList.toggle("is-paused", rnd.status === "paused");
      el.classList.toggle("is-over", rnd.status === "closed");
    },
  };
}

/**
 * The ranked results of a vote round, animated in. `update(state, found, {byTheme})`: the round's own
 * results (notes, or themes in a round on themes), or with `byTheme` its ranking by theme
 * (`theme_results`, a round on notes in a room with themes).
 */
/** A result's rank: the number as shown (hidden from screen readers) and "Rank N" read instead. A label on
 * a plain span is not read by every screen reader, so the words are real, visually hidden text. */
export function rankBadge(rank) {
  return [
    h("span", { class: "result-rank", "aria-hidden": "true", text: String(rank) }),
    h("span", { class: "sr-only", text: t("results.rank", { rank }) }),
  ];
}

export function resultsList({ limit = 100, id = null, large = false, detail = null, detailKey = null } = {}) {
  const list = h("ol", { class: "results" + (large ? " results-large" : ""), id });
  return {
    el: list,
    update(state, found, { byTheme = false } = {}) {
      if (!found) {
        renderRow(list, "none", () => []);
        return;
      }
      const { round, vote } = found;
      const source = byTheme ? vote.themeResults || [] : vote.results || [];
      const rows = source.filter((r) => (r.theme ? state.themes.has(r.theme) : state.ideas.has(r.idea))).slice(0, limit);
      const max = Math.max(1, ...rows.map((r) => r.total));
      const label = (r) => {
        if (r.theme) {
          const theme = state.themes.get(r.theme);
          return [theme.name, theme.color, state.themeIdeas(r.theme).length];
        }
        const idea = state.ideas.get(r.idea);
        return [idea.text, idea.color, round.anonymous ? "" : authorOf(state, idea, { staff: state.isStaff })];
      };
      // `detail(item)`: what a row shows under its text (the board: the status and its public note, the
      // public replies); `detailKey(item)`: what that depends on, beyond the status (the replies).
      const itemOf = (r) => (r.theme ? state.themes.get(r.theme) : state.ideas.get(r.idea));
      const keyOf = (item) => [item.status, item.history, detailKey ? detailKey(item) : null];
      const sig = JSON.stringify([round.id, byTheme, rows, rows.map(label), detail ? rows.map((r) => keyOf(itemOf(r))) : null]);
      renderRow(list, sig, () =>
        rows.map((r, i) => {
          const [text, color, extra] = label(r);
          const sub = r.theme ? t("themes.count", { count: extra }) : extra;
          return h(
            "li",
            {
              class: "result " + colorClass(color) + (r.rank === 1 ? " is-top" : "") + (r.theme ? " result-theme" : ""),
              style: `--i:${i}`,
              dataset: r.theme ? { theme: r.theme } : { idea: r.idea },
            },
            rankBadge(r.rank),
            h(
              "div",
              { class: "result-body" },
              h("p", { class: "result-text", text: text }),
              sub ? h("p", { class: "result-author", text: sub }) : null,
              h("span", { class: "result-bar", "aria-hidden": "true" }, h("span", { class: "result-fill", style: `--w:${(r.total / max) * 100}%` })),
              detail ? detail(itemOf(r)) : null,
            ),
            h("span", { class: "result-total", text: t("results.dots", { count: r.total }) }),
          );
        }),
      );
    },
  };
}

/**
 * The largest font between `floor` and `ceiling` (px) at which each of `items` (indices) fits, searched
 * for all of them at once (one layout per step): `setFont(i, px)` sets one, `fits(i)` measures one.
 * Returns the items that do not fit even at the floor (left at it, for the caller to cut). The room
 * screen's cards and the results' rows use it.
 */
export function largestFonts(items, floor, ceiling, setFont, fits) {
  items.forEach((i) => setFont(i, floor));
  const cut = items.filter((i) => !fits(i));
  const open = items.filter((i) => !cut.includes(i));
  const lo = new Map(open.map((i) => [i, floor]));
  const hi = new Map(open.map((i) => [i, ceiling]));
  for (let k = 0; k < 8 && open.length; k++) {
    open.forEach((i) => setFont(i, (lo.get(i) + hi.get(i)) / 2));
    for (const i of open) {
      if (fits(i)) lo.set(i, (lo.get(i) + hi.get(i)) / 2);
      else hi.set(i, (lo.get(i) + hi.get(i)) / 2);
    }
  }
  open.forEach((i) => setFont(i, lo.get(i)));
  return cut;
}

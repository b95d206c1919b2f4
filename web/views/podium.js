// The results on the room screen (#13): a ranked bar chart that always fits the screen, whatever the
// number of notes. Each page holds as many rows as fit at a size readable from the back row; the first
// three ranks are the podium. The rest is one key away (→ / ← / Page Down / Page Up, Home) and pages
// turn by themselves every few seconds. Rows slide in and bars grow when a page appears (none of it
// with "reduce motion"). A row shows its whole text when it can: its font shrinks until the text fits,
// down to a readable floor; only then is the text cut at a line's end, with an ellipsis.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { authorOf, colorClass, largestFonts, rankBadge } from "./parts.js";
import { statusLabel } from "./followup.js";

const AUTO_PAGE_MS = 9000;
const GAP = 10;

/** The rows of `found` ({round, vote}): [{key, rank, total, text, color, sub, theme, status}], best first
 * (`status`: a note's or theme's status once staff gave it one, else null). */
const given = (item) => (item && item.status && item.status !== "new" ? item.status : null);

export function rankingRows(state, found, { byTheme = false } = {}) {
  if (!found) return [];
  const { round, vote } = found;
  const source = byTheme ? vote.themeResults || [] : vote.results || [];
  return source
    .filter((r) => (r.theme ? state.themes.has(r.theme) || r.name : state.ideas.has(r.idea)))
    .map((r) => {
      if (r.theme) {
        const theme = state.themes.get(r.theme);
        // A theme dissolved since the close: its name at the close, no colour, no count.
        if (!theme) return { key: "t:" + r.theme, theme: r.theme, rank: r.rank, total: r.total, text: r.name, color: "", sub: "" };
        return { key: "t:" + r.theme, theme: r.theme, rank: r.rank, total: r.total, text: theme.name, color: theme.color, sub: t("themes.count", { count: state.themeIdeas(r.theme).length }), status: given(theme) };
      }
      const idea = state.ideas.get(r.idea);
      return { key: "i:" + r.idea, idea: r.idea, rank: r.rank, total: r.total, text: idea.text, color: idea.color, sub: round.anonymous ? "" : authorOf(state, idea, { staff: state.isStaff }), status: given(idea) };
    });
}

/** The smallest font (px) of a row before its text is cut: 14 px, about 17 at 1080p. */
export function readableRowFont() {
  return Math.max(14, window.innerHeight * 0.016);
}

/** Whether nothing of row `li` is pushed out of it. */
function fitsRow(li) {
  return li.scrollHeight <= li.clientHeight + 1 && li.scrollWidth <= li.clientWidth + 1;
}

/** How many rows of at least `minRow` px fit in `height` px (at least 1, at most `most`). */
export function rowsPerPage(height, minRow, most = 10, gap = GAP) {
  return Math.max(1, Math.min(most, Math.floor((height + gap) / (minRow + gap))));
}

/**
 * A paged ranking: `el` holds the list (`ol#id`, one `li.result` per row of the page shown) and a
 * pager line. `update(rows)` shows page 1 of new results; `fit()` lays the page out again after a
 * resize; `next()`, `prev()`, `first()` turn pages; `destroy()` stops the automatic paging.
 */
export function rankingChart({ id, labelKey = "results.title" }) {
  const list = h("ol", { class: "results podium-list", id, "aria-label": t(labelKey) });
  const pager = h("p", { class: "podium-pager", id: id + "-pager", "aria-live": "polite" });
  const el = h("div", { class: "podium" }, list, pager);
  let rows = [];
  let sig = "";
  let page = 0;
  let perPage = 1;
  let lastBox = "";
  let timer = null;

  const pages = () => Math.max(1, Math.ceil(rows.length / perPage));

  function row(r, i, max) {
    const podium = r.rank <= 3 ? " is-podium is-rank-" + r.rank : "";
    return h(
      "li",
      {
        class: "result " + colorClass(r.color) + (r.rank === 1 ? " is-top" : "") + (r.theme ? " result-theme" : "") + podium,
        style: `--i:${i}`,
        dataset: r.theme ? { theme: r.theme, rank: String(r.rank) } : { idea: r.idea, rank: String(r.rank) },
      },
      rankBadge(r.rank),
      h(
        "div",
        { class: "result-body" },
        h("p", { class: "result-text", text: r.text }),
        h("span", { class: "result-bar", "aria-hidden": "true" }, h("span", { class: "result-fill", style: `--w:${Math.max(2, (r.total / max) * 100)}%` })),
      ),
      h(
        "div",
        { class: "result-side" },
        // The status beside the dots (on the same line: the row's height stays that of two lines).
        h(
          "span",
          { class: "result-side-top" },
          r.status ? h("span", { class: "badge badge-istatus result-status is-" + r.status, text: statusLabel(r.status) }) : null,
          h("span", { class: "result-total", text: t("results.dots", { count: r.total }) }),
        ),
        r.sub ? h("span", { class: "result-author", text: r.sub }) : null,
      ),
    );
  }

  /**
   * Fit each row's text: whole, on as many lines as the row holds, at the largest font from `base` down
   * to readableRowFont(); a text too long even at that floor is cut at a line's end by the line clamp
   * (its ellipsis) and the row marked `is-clipped`. Nothing is pushed out of a row. The rows are
   * searched all at once: one layout per step.
   */
  function shrink(base) {
    const items = Array.from(list.children);
    const texts = items.map((li) => li.querySelector(".result-text"));
    const fits = (i) => {
      const text = texts[i];
      return fitsRow(items[i]) && text.scrollHeight <= text.clientHeight + 1 && text.scrollWidth <= text.clientWidth + 1;
    };
    const setFont = (i, px) => {
      items[i].style.fontSize = px.toFixed(1) + "px";
    };
    for (const li of items) li.style.setProperty("--lines", "none");
    const tight = items.map((_, i) => i).filter((i) => !fits(i));
    if (!tight.length) return;
    const cut = largestFonts(tight, Math.min(base, readableRowFont()), base, setFont, fits);
    // At the floor and still too long: as many whole lines as the row holds, then the ellipsis.
    for (const i of cut) {
      const li = items[i];
      const text = texts[i];
      const style = getComputedStyle(li);
      const room = li.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
      const excess = Math.max(0, text.parentElement.offsetHeight - room);
      const line = parseFloat(getComputedStyle(text).lineHeight) || 16;
      let lines = Math.max(1, Math.floor((text.offsetHeight - excess) / line));
      li.classList.add("is-clipped");
      li.style.setProperty("--lines", String(lines));
      while (lines > 1 && !fitsRow(li)) li.style.setProperty("--lines", String(--lines));
    }
  }

  function render() {
    const height = el.clientHeight - pager.offsetHeight - 4;
    if (height <= 0 || !rows.length) {
      list.replaceChildren();
      return;
    }
    // A row is at least ~9 % of the window's height (about 97 px at 1080p, 65 px at 720p).
    const minRow = Math.max(48, window.innerHeight * 0.09);
    perPage = rowsPerPage(height, minRow);
    page = Math.min(page, pages() - 1);
    const shown = rows.slice(page * perPage, (page + 1) * perPage);
    const rowH = Math.min(minRow * 1.5, (height - (perPage - 1) * GAP) / perPage);
    // Two lines of text and the bar fill a row.
    const font = Math.max(12, Math.min(44, (rowH - 10) / 2.7));
    list.style.setProperty("--row-h", `${Math.floor(rowH)}px`);
    list.style.setProperty("--row-font", `${font.toFixed(1)}px`);
    const max = Math.max(1, ...rows.map((r) => r.total));
    list.replaceChildren(...shown.map((r, i) => row(r, i, max)));
    shrink(font);
    const n = pages();
    pager.hidden = n <= 1;
    pager.textContent = n > 1 ? t("screen.resultsPage", { from: page * perPage + 1, to: page * perPage + shown.length, total: rows.length }) + " · " + t("screen.resultsKeys") : "";
    el.dataset.page = String(page + 1);
    el.dataset.pages = String(n);
  }

  function schedule() {
    clearInterval(timer);
    timer = null;
    if (pages() > 1) timer = setInterval(() => turn(1, true), AUTO_PAGE_MS);
  }

  function turn(step, auto = false) {
    const n = pages();
    if (n <= 1) return;
    page = (page + step + n) % n;
    render();
    if (!auto) schedule();
  }

  return {
    el,
    update(next) {
      const nextSig = JSON.stringify(next.map((r) => [r.key, r.rank, r.total, r.text, r.color, r.sub, r.status]));
      if (nextSig === sig) return;
      const fresh = !sig || next.length === 0;
      sig = nextSig;
      rows = next;
      if (fresh) page = 0;
      render();
      schedule();
    },
    fit() {
      const box = `${el.clientWidth}x${el.clientHeight}`;
      if (box === lastBox) return;
      lastBox = box;
      render();
      schedule();
    },
    next: () => turn(1),
    prev: () => turn(-1),
    first() {
      page = 0;
      render();
      schedule();
    },
    destroy() {
      clearInterval(timer);
    },
  };
}

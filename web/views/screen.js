// The room screen (projector, read-only): the join QR code and code, the prompt and a big timer, the
// round's live progress (counts, never text), the wall of notes (fitted to the screen without
// scrolling), the spotlight the console chooses (one note or theme full screen), the results as a
// paged ranking that fits the screen (podium.js), each note's status once staff gave it one, and, when
// the session has ended, the newest announcement and the notes taken forward. Its language follows the
// browser, or its own switch.

import { h, renderRow, setText, show, syncList } from "../dom.js";
import { LOCALES, locale, setLocale, t } from "../i18n.js";
import { authorOf, colorClass, criteriaLine, largestFonts, roundKindLabel, thankedText, themeChip, timerBlock } from "./parts.js";
import { latestChange, statusLabel } from "./followup.js";
import { STATUSES } from "../contract.js";
import { netBanner } from "../chrome.js";
import { rankingChart, rankingRows } from "./podium.js";

const GAP = 14;
// The statuses that say a note goes on ("new" and "declined" do not), and how many such notes the ended
// screen lists (newest decision first; the phones' "my ideas" pages have them all).
const FORWARD = STATUSES.filter((s) => s !== "new" && s !== "declined");
const FORWARD_MAX = 4;
const MAX_CARD_H = 330;

/** Columns and card height that make `n` cards as large as possible in a W×H area. */
export function fitGrid(n, width, height, gap = GAP) {
  let best = { cols: 1, rows: 1, w: width, h: height, score: 0 };
  for (let cols = 1; cols <= Math.max(1, n); cols++) {
    const rows = Math.ceil(n / cols);
    const w = (width - (cols - 1) * gap) / cols;
    const hgt = (height - (rows - 1) * gap) / rows;
    if (w <= 0 || hgt <= 0) continue;
    const cardH = Math.min(hgt, w * 0.8, MAX_CARD_H);
    const cardW = Math.min(w, cardH * 1.5);
    const score = cardW * cardH;
    // Larger cards win; at (nearly) the same size, fewer rows (a wall reads left to right).
    if (score > best.score * 1.01 || (score >= best.score * 0.99 && rows < best.rows)) {
      best = { cols, rows, w: cardW, h: cardH, score };
    }
  }
  return best;
}

/**
 * Theme columns: the largest cards (w×h) such that every column fits the height with its notes in
 * `sub` sub-columns, and all columns side by side fit the width. `counts` holds the notes per column;
 * `head` is the height of a column's header. Cards are 1.45 times as wide as high, or narrower (down
 * to 0.85) when many columns make the width the limit. Returns {h, w, subs}.
 */
const ASPECTS = [1.45, 1.25, 1.05, 0.85];
export function fitColumns(counts, width, height, head, gap = GAP, colGap = counts.length > 6 ? GAP : 2 * GAP) {
  const fits = (hgt, aspect) => {
    const w = hgt * aspect;
    const rows = Math.floor((height - head + gap) / (hgt + gap));
    if (rows < 1) return null;
    const subs = counts.map((k) => Math.max(1, Math.ceil(k / rows)));
    const used = subs.reduce((sum, n) => sum + n * w + (n - 1) * gap, 0) + (counts.length - 1) * colGap;
    return used <= width ? { subs, used, w } : null;
  };
  let best = null;
  for (const aspect of ASPECTS) {
    let lo = 4;
    let hi = Math.min(MAX_CARD_H, height - head);
    for (let i = 0; i < 40 && hi - lo > 0.5; i++) {
      const mid = (lo + hi) / 2;
      if (fits(mid, aspect)) lo = mid;
      else hi = mid;
    }
    const found = fits(lo, aspect);
    if (!found) continue;
    // Larger cards win; nearly the same size keeps the wider shape (it was tried first).
    if (!best || lo * found.w > best.h * best.w * 1.08) best = { h: lo, ...found };
  }
  if (!best) best = { h: 4, w: 4 * ASPECTS[0], subs: counts.map(() => 1), used: width };
  // Spread the width that is left over the cards (a little wider, never more than 1.8 × the height).
  const cards = best.subs.reduce((a, b) => a + b, 0);
  const w = Math.min(best.h * 1.8, best.w + Math.max(0, width - best.used) / cards);
  return { h: best.h, w, subs: best.subs, colGap };
}

/** The smallest font (px) a note on the room screen gets before its text is cut: 12 px, 18 at 1080p. */
export function readableFont() {
  return Math.max(12, window.innerHeight / 60);
}

/**
 * Shows each card's whole text when the wall has the room: `box` holds `cards` of `card` size ({w, h})
 * in slots of `room` size, at `font` px. Cards that do not fit their text first grow, all alike, up to
 * their slot (no larger than the text needs); a card still too small then gets a smaller font, down to
 * readableFont(); a text that does not fit even so is cut at a line's end by the line clamp (its
 * ellipsis), and the card is marked `is-clipped`. Nothing ever overflows a card.
 */
export function fitCards(box, cards, card, room, font) {
  const texts = cards.map((c) => c.querySelector(".screen-card-text"));
  const fits = (i) => cards[i].scrollHeight <= cards[i].clientHeight + 1 && texts[i].scrollHeight <= texts[i].clientHeight + 1;
  const all = cards.map((_, i) => i);
  const size = (s) => {
    box.style.setProperty("--card-h", `${Math.floor(card.h + (room.h - card.h) * s)}px`);
    box.style.setProperty("--card-w", `${Math.floor(card.w + (room.w - card.w) * s)}px`);
  };
  box.style.setProperty("--note-font", `${font.toFixed(1)}px`);
  for (const c of cards) {
    c.style.removeProperty("--note-font");
    c.style.removeProperty("--lines");
    c.classList.remove("is-clipped");
  }
  size(0);
  if (!all.every(fits) && (room.h > card.h + 1 || room.w > card.w + 1)) {
    // Grow as little as makes every text fit, or into the whole slot.
    size(1);
    if (all.every(fits)) {
      let lo = 0;
      let hi = 1;
      for (let k = 0; k < 8; k++) {
        const mid = (lo + hi) / 2;
        size(mid);
        if (all.every(fits)) hi = mid;
        else lo = mid;
      }
      size(hi);
    }
  }
  const tight = all.filter((i) => !fits(i));
  if (!tight.length) return;
  // The largest font at which each tight card's text fits, searched for all of them at once (one layout
  // per step).
  const setFont = (i, px) => cards[i].style.setProperty("--note-font", `${px.toFixed(1)}px`);
  const cut = largestFonts(tight, Math.min(font, readableFont()), font, setFont, fits);
  // At the floor and still too long: as many whole lines as the card holds, then the ellipsis.
  for (const i of cut) {
    const c = cards[i];
    const text = texts[i];
    const line = parseFloat(getComputedStyle(text).lineHeight) || 16;
    let lines = Math.max(1, Math.floor((text.offsetHeight - Math.max(0, c.scrollHeight - c.clientHeight)) / line));
    c.classList.add("is-clipped");
    c.style.setProperty("--lines", String(lines));
    while (lines > 1 && c.scrollHeight > c.clientHeight + 1) c.style.setProperty("--lines", String(--lines));
  }
}

export function mountScreen(ctx) {
  const state = ctx.session.state;
  const code = ctx.code;
  const joinAddress = `${location.host}/j/${code}`;
  document.body.classList.add("is-screen");

  const title = h("h1", { class: "screen-title" });
  const people = h("p", { class: "screen-people", id: "screen-people" });
  const miniQr = h("img", { class: "screen-mini-qr", src: `/api/rooms/${encodeURIComponent(code)}/qr.svg`, alt: t("share.qrAlt", { code }) });
  // After the session's end, as in the ended lobby: no address or code to join with, and the QR code
  // says "Scan to follow your ideas" (the room's link opens a member's own board and "my ideas").
  const joinAt = h("p", { class: "screen-join-at", text: t("screen.joinAt") });
  const joinAddressEl = h("p", { class: "screen-join-address", text: joinAddress });
  const codeSmall = h("p", { class: "screen-code-small", text: code });
  const joinStrip = h("div", { class: "screen-join-strip" }, h("div", {}, joinAt, joinAddressEl), codeSmall, miniQr);
  // The screen's own language switch: the projector laptop's language is not the audience's.
  const langSelect = h(
    "select",
    { id: "screen-lang", class: "lang-select screen-lang", "aria-label": t("chrome.language"), onchange: (e) => setLocale(e.target.value, { persist: true }) },
    LOCALES.map((l) => h("option", { value: l, lang: l, selected: l === locale() }, t("lang." + l))),
  );
  const top = h("header", { class: "screen-top" }, h("div", { class: "screen-top-left" }, h("span", { class: "brand-mark", "aria-hidden": "true" }), title), people, joinStrip, langSelect);

  // Lobby: big QR.
  const lobbyTitle = h("h2", { class: "screen-lobby-title" });
  const lobbyBrief = h("p", { class: "screen-lobby-brief" });
  // After the end nobody joins: the room's link opens a member's own board and "my ideas" page.
  const scan = h("p", { class: "screen-scan", id: "screen-scan" });
  // The published criteria (public): what the ideas will be judged on, in the lobby and over a round.
  const lobbyCriteria = h("p", { class: "screen-criteria", id: "screen-lobby-criteria", hidden: true });
  // Once the session has ended: the newest announcement, and the notes taken forward.
  const announced = h("div", { class: "screen-announcement", id: "screen-announcement", hidden: true });
  const forward = h("section", { class: "screen-forward", id: "screen-forward", "aria-labelledby": "screen-forward-title", hidden: true });
  const lobby = h(
    "section",
    { class: "screen-lobby", id: "screen-lobby" },
    h("img", { class: "screen-qr", src: `/api/rooms/${encodeURIComponent(code)}/qr.svg`, alt: t("share.qrAlt", { code }) }),
    h(
      "div",
      { class: "screen-lobby-text" },
      lobbyTitle,
      scan,
      h("p", { class: "screen-or", text: t("screen.orGo", { address: location.host }) }),
      h("p", { class: "screen-code", id: "screen-code", text: code }),
      lobbyCriteria,
      lobbyBrief,
      announced,
      forward,
    ),
  );

  // Round.
  const kind = h("span", { class: "badge badge-kind" });
  const prompt = h("h2", { class: "screen-prompt", id: "screen-prompt" });
  const timer = timerBlock({ large: true });
  // Live progress: "12 ideas posted by 7 people", "8 of 15 people have voted" (counts only).
  const progress = h("p", { class: "screen-progress", id: "screen-progress", "aria-live": "polite" });
  const roundCriteria = h("p", { class: "screen-criteria", id: "screen-criteria", hidden: true });
  const head = h("div", { class: "screen-head" }, h("div", { class: "screen-head-text" }, kind, prompt, progress, roundCriteria), timer.el);
  const note = h("p", { class: "screen-note", id: "screen-note" });
  const wall = h("ul", { class: "screen-wall", id: "screen-wall" });
  // Once notes are grouped: one column per theme (its header in its colour), then the notes without one.
  const themed = h("div", { class: "screen-themes", id: "screen-themes" });
  const results = rankingChart({ id: "screen-results" });
  const resultsTitle = h("h3", { class: "screen-results-title", text: t("results.title") });
  const themeResults = rankingChart({ id: "screen-theme-results", labelKey: "results.byTheme" });
  const themeResultsCol = h("div", { class: "screen-results-col" }, h("h3", { class: "screen-results-title", text: t("results.byTheme") }), themeResults.el);
  const resultsBox = h("div", { class: "screen-results-box" }, h("div", { class: "screen-results-col" }, resultsTitle, results.el), themeResultsCol);
  const body = h("div", { class: "screen-body" }, note, wall, themed, resultsBox);
  const round = h("section", { class: "screen-round", id: "screen-round" }, head, body);

  // The spotlight: one note, or one theme with its notes, full screen while the console keeps it there.
  const spotText = h("p", { class: "spotlight-text", id: "spotlight-text" });
  const spotMeta = h("p", { class: "spotlight-meta" });
  const spotNotes = h("ul", { class: "spotlight-notes" });
  const spotCard = h("div", { class: "spotlight-card" }, spotText, spotNotes, spotMeta);
  const spotlight = h("section", { class: "screen-spotlight", id: "screen-spotlight", "aria-label": t("screen.spotlight"), hidden: true }, spotCard);

  const el = h("div", { class: "page page-screen" }, netBanner(ctx), top, h("main", { class: "screen-main", id: "main" }, lobby, round, spotlight));

  // A fit is redone when the area or any card's text (its note, author, status, dots) changed.
  const cardsKey = (cards) => cards.map((c) => c.textContent).join("\u0001");
  let lastFit = "";
  function fit() {
    const cards = Array.from(wall.children);
    const n = cards.length;
    if (!n || wall.hidden) return;
    const width = wall.clientWidth;
    const height = wall.clientHeight;
    const key = `${width}:${height}:${cardsKey(cards)}`;
    if (key === lastFit) return;
    lastFit = key;
    // A few pixels of slack: the cards are slightly rotated, and must not overflow the wall.
    const g = fitGrid(n, width - 8, height - 8);
    const font = Math.max(12, Math.min(44, Math.sqrt(g.w * g.h) / 8.5));
    // Each card's slot: the cards may grow into it when their text needs the room.
    const room = { w: (width - 8 - (g.cols - 1) * GAP) / g.cols, h: (height - 8 - (g.rows - 1) * GAP) / g.rows };
    wall.style.setProperty("--cols", String(g.cols));
    fitCards(wall, cards, g, room, font);
  }
  let lastThemedFit = "";
  function fitThemed() {
    const cols = Array.from(themed.children);
    if (!cols.length || themed.hidden) return;
    const counts = cols.map((c) => c._list.children.length);
    const width = themed.clientWidth;
    const height = themed.clientHeight;
    const cards = cols.flatMap((c) => Array.from(c._list.children));
    const key = `${counts}:${width}:${height}:${cardsKey(cards)}`;
    if (key === lastThemedFit) return;
    lastThemedFit = key;
    const head = Math.round(Math.max(30, Math.min(64, height * 0.075)));
    const g = fitColumns(counts, width - 8, height - 8, head + GAP);
    const font = Math.max(12, Math.min(40, Math.sqrt(g.w * g.h) / 8.5));
    // The room the cards may grow into: the tallest column's rows fill the height, the sub-columns the width.
    const rows = Math.max(...counts.map((k, i) => Math.ceil(k / g.subs[i])));
    const subs = g.subs.reduce((a, b) => a + b, 0);
    const gaps = (cols.length - 1) * g.colGap + g.subs.reduce((sum, k) => sum + (k - 1) * GAP, 0);
    const room = { w: Math.max(g.w, (width - 8 - gaps) / subs), h: Math.max(g.h, (height - 8 - head - GAP - (rows - 1) * GAP) / rows) };
    themed.style.setProperty("--head-h", `${head}px`);
    themed.style.setProperty("--col-gap", `${g.colGap}px`);
    cols.forEach((c, i) => c.style.setProperty("--sub", String(g.subs[i])));
    fitCards(themed, cards, g, room, font);
  }
  /** The largest font (px) at which the spotlight's text fits its card without clipping. */
  let lastSpotFit = "";
  function fitSpotlight(key) {
    if (spotlight.hidden) return;
    const box = `${key}:${spotCard.clientWidth}x${spotCard.clientHeight}`;
    if (box === lastSpotFit) return;
    lastSpotFit = box;
    let lo = 14;
    let hi = Math.max(lo, Math.min(160, window.innerHeight / 6));
    const fits = () => spotCard.scrollHeight <= spotCard.clientHeight + 1 && spotCard.scrollWidth <= spotCard.clientWidth + 1;
    for (let i = 0; i < 12 && hi - lo > 1; i++) {
      const mid = (lo + hi) / 2;
      spotCard.style.setProperty("--spot-font", `${mid}px`);
      if (fits()) lo = mid;
      else hi = mid;
    }
    spotCard.style.setProperty("--spot-font", `${Math.floor(lo)}px`);
  }

  // A long question (up to 500 characters) takes at most a fifth of the screen's height (nearly half
  // when nothing else is on it): its font shrinks to that, down to a readable floor (18 px at 720p, 27 at
  // 1080p), and only then are its lines cut, with the clamp's ellipsis. At 3vw a 500-character question
  // took half of a 1080p screen from the wall (more than the whole screen in the focus layout).
  let lastPromptFit = "";
  function fitPrompt() {
    if (round.hidden) return;
    const focus = round.classList.contains("is-focus");
    const key = [prompt.textContent, innerWidth, innerHeight, focus, round.classList.contains("is-results")].join("\u0001");
    if (key === lastPromptFit) return;
    lastPromptFit = key;
    prompt.style.removeProperty("font-size");
    prompt.classList.remove("is-clipped");
    const max = innerHeight * (focus ? 0.45 : 0.2);
    const floor = Math.max(16, innerHeight / 40);
    let size = parseFloat(getComputedStyle(prompt).fontSize);
    while (prompt.offsetHeight > max && size > floor) {
      size = Math.max(floor, size * 0.92);
      prompt.style.fontSize = `${size.toFixed(1)}px`;
    }
    if (prompt.offsetHeight > max) {
      const line = parseFloat(getComputedStyle(prompt).lineHeight) || size * 1.15;
      prompt.style.setProperty("--prompt-lines", String(Math.max(1, Math.floor(max / line))));
      prompt.classList.add("is-clipped");
    }
  }

  // The lobby never runs off the projector (which does not scroll): a long brief (up to 4,000
  // characters) gets the lines the screen has left under the title, the code and the scan line, cut at a
  // line's end with the clamp's ellipsis; the QR code stays centred beside it.
  let lastLobbyFit = "";
  function fitLobby() {
    if (lobby.hidden) return;
    const key = [lobby.textContent, lobby.className, innerWidth, innerHeight].join("\u0001");
    if (key === lastLobbyFit) return;
    lastLobbyFit = key;
    lobbyBrief.classList.remove("is-clipped");
    const box = lobbyBrief.parentElement;
    const style = getComputedStyle(lobby);
    const room = lobby.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    const over = box.offsetHeight - room;
    if (over <= 0 || !lobbyBrief.textContent) return;
    const line = parseFloat(getComputedStyle(lobbyBrief).lineHeight) || 24;
    let lines = Math.max(1, Math.floor((lobbyBrief.offsetHeight - over) / line));
    lobbyBrief.style.setProperty("--brief-lines", String(lines));
    lobbyBrief.classList.add("is-clipped");
    while (lines > 1 && box.offsetHeight > room) lobbyBrief.style.setProperty("--brief-lines", String(--lines));
  }

  const observer = new ResizeObserver(() => {
    lastLobbyFit = "";
    fitLobby();
    lastPromptFit = "";
    fitPrompt();
    lastFit = "";
    lastThemedFit = "";
    lastSpotFit = "";
    fit();
    fitThemed();
    results.fit();
    themeResults.fit();
    fitSpotlight(spotSig);
  });
  observer.observe(wall);
  observer.observe(themed);
  observer.observe(resultsBox);
  observer.observe(spotlight);
  observer.observe(lobby);

  // More results one key away (the projector's clicker sends Page Down / Page Up or the arrows).
  const onKey = (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || (e.target && e.target.closest && e.target.closest("select, input, textarea"))) return;
    const step = { ArrowRight: 1, PageDown: 1, ArrowDown: 1, " ": 1, ArrowLeft: -1, PageUp: -1, ArrowUp: -1 }[e.key];
    if (e.key === "Home") {
      results.first();
      themeResults.first();
    } else if (step) {
      e.preventDefault();
      for (const chart of [results, themeResults]) if (step > 0) chart.next();
      else chart.prev();
    }
  };
  document.addEventListener("keydown", onKey);

  let spotSig = "";
  /** What the spotlight shows, or null: an idea on the wall, or a theme with its notes on the wall. */
  function spotlightView() {
    const spot = state.spotlight;
    if (!spot) return null;
    if (spot.idea) {
      const idea = state.ideas.get(spot.idea);
      if (!idea || !state.publiclyVisible(idea)) return null;
      const rnd = state.currentRound;
      const v = rnd && rnd.kind === "vote" && rnd.target !== "themes" ? state.votes.get(rnd.id) : null;
      const total = v && v.totals && (!rnd.hide_totals || rnd.status === "closed") ? v.totals[idea.id] || 0 : null;
      const theme = idea.theme ? state.themes.get(idea.theme) : null;
      const meta = [authorOf(state, idea), theme ? theme.name : "", total !== null ? t("results.dots", { count: total }) : ""].filter(Boolean).join(" · ");
      return { kind: "idea", id: idea.id, text: idea.text, color: idea.color, notes: [], meta };
    }
    if (spot.theme) {
      const theme = state.themes.get(spot.theme);
      const notes = theme ? state.themeIdeas(theme.id) : [];
      if (!theme || !notes.length) return null;
      return { kind: "theme", id: theme.id, text: theme.name, color: theme.color, notes: notes.map((i) => ({ id: i.id, text: i.text, color: i.color })), meta: t("themes.count", { count: notes.length }) };
    }
    return null;
  }

  function updateSpotlight() {
    const view = spotlightView();
    show(spotlight, Boolean(view));
    el.classList.toggle("has-spotlight", Boolean(view));
    const sig = JSON.stringify(view);
    if (sig === spotSig) return Boolean(view);
    spotSig = sig;
    if (!view) return false;
    spotlight.dataset.kind = view.kind;
    spotlight.dataset.id = view.id;
    spotCard.className = "spotlight-card spotlight-" + view.kind + " " + (view.kind === "theme" ? "screen-theme-" + view.color : colorClass(view.color));
    setText(spotText, view.text);
    setText(spotMeta, view.meta);
    spotNotes.replaceChildren(...view.notes.map((n) => h("li", { class: "spotlight-note " + colorClass(n.color), text: n.text })));
    show(spotNotes, view.notes.length > 0);
    // Restart the entrance animation for each new spotlight.
    spotCard.style.animation = "none";
    void spotCard.offsetWidth;
    spotCard.style.animation = "";
    lastSpotFit = "";
    fitSpotlight(sig);
    return true;
  }

  function progressText(rnd) {
    const p = state.progressOf(rnd);
    if (!p) return "";
    if (rnd.kind === "vote") return p.voters === undefined ? "" : t("screen.voted", { count: p.voters, total: p.participants });
    if (p.ideas === undefined) return "";
    const posted = t("screen.ideasPosted", { count: p.ideas });
    return p.ideas ? posted + " " + t("screen.byPeople", { count: p.contributors || 0 }) : posted;
  }

  function themeColumn() {
    const title = h("h3", { class: "screen-theme-title" });
    const list = h("ul", { class: "screen-theme-cards" });
    const col = h("section", { class: "screen-theme" }, title, list);
    col._title = title;
    col._list = list;
    return col;
  }

  function updateColumn(col, group) {
    const theme = group.theme || { id: "", name: t("themes.none"), color: null };
    col.className = "screen-theme" + (group.theme ? " screen-theme-" + theme.color : " screen-theme-none");
    col.dataset.theme = theme.id;
    renderRow(col._title, JSON.stringify([theme.name, theme.color, group.ideas.length, group.dots]), () => [
      group.theme ? themeChip(theme, { count: group.ideas.length }) : h("span", { class: "theme-chip" }, h("span", { class: "theme-chip-name", text: theme.name })),
      group.dots === null ? null : h("span", { class: "screen-theme-dots", text: t("results.dots", { count: group.dots }) }),
    ]);
    syncList(col._list, group.ideas, (i) => i.id, () => h("li", { class: "screen-card" }), updateCard);
  }

  function updateCard(li, idea) {
    li.className = "screen-card " + colorClass(idea.color);
    const author = authorOf(state, idea);
    const rnd = state.currentRound;
    const v = rnd && rnd.kind === "vote" ? state.votes.get(rnd.id) : null;
    const total = v && v.totals && rnd.target !== "themes" && (!rnd.hide_totals || rnd.status === "closed") ? v.totals[idea.id] || 0 : null;
    const rndOfIdea = state.rounds.get(idea.round);
    const merged = Boolean(idea.coauthors && idea.coauthors.length && !(rndOfIdea && rndOfIdea.anonymous));
    li.classList.toggle("is-merged", merged);
    const status = idea.status && idea.status !== "new" ? idea.status : null;
    renderRow(li, JSON.stringify([idea.text, author, total, status, locale()]), () => [
      h("p", { class: "screen-card-text", text: idea.text }),
      author || total !== null || status
        ? h(
            "p",
            { class: "screen-card-meta" },
            h("span", { text: author }),
            status ? h("span", { class: "badge badge-istatus screen-card-status is-" + status, text: statusLabel(status) }) : null,
            total !== null ? h("span", { class: "screen-card-total", text: t("results.dots", { count: total }) }) : null,
          )
        : null,
    ]);
  }

  /** The session's end: the newest announcement (with its credits) and the notes taken forward. */
  function updateEnded(ended) {
    const latest = ended && state.announcements.length ? state.announcements[state.announcements.length - 1] : null;
    show(announced, Boolean(latest));
    const names = latest ? (latest.credit || []).map((c) => c.name) : [];
    renderRow(announced, JSON.stringify([latest && latest.id, latest && latest.text, names, locale()]), () =>
      latest
        ? [
            h("p", { class: "screen-announcement-text", text: latest.text }),
            names.length ? h("p", { class: "screen-announcement-credit", text: thankedText(names) }) : null,
          ]
        : [],
    );
    const goingOn = ended
      ? [...state.ideas.values()]
          .filter((i) => state.publiclyVisible(i) && FORWARD.includes(i.status))
          .sort((a, b) => ((latestChange(b) || {}).at || 0) - ((latestChange(a) || {}).at || 0))
      : [];
    show(forward, goingOn.length > 0);
    const shown = goingOn.slice(0, FORWARD_MAX);
    renderRow(forward, JSON.stringify([shown.map((i) => [i.id, i.text, i.status]), goingOn.length, locale()]), () => [
      h("h3", { class: "screen-forward-title", id: "screen-forward-title", text: t("screen.forward") }),
      h(
        "ul",
        { class: "screen-forward-list" },
        shown.map((i) =>
          h("li", { class: "screen-forward-item", "data-idea": i.id }, h("span", { class: "badge badge-istatus is-" + i.status, text: statusLabel(i.status) }), h("span", { class: "screen-forward-text", text: i.text })),
        ),
      ),
      goingOn.length > shown.length ? h("p", { class: "screen-forward-more", text: t("screen.forwardMore", { count: goingOn.length - shown.length }) }) : null,
    ]);
  }

  /** When staff last followed up: the newest announcement or status change (Unix seconds), or 0. */
  function lastFollowUp() {
    let at = 0;
    for (const a of state.announcements) at = Math.max(at, a.at || 0);
    for (const i of state.ideas.values()) at = Math.max(at, (latestChange(i) || {}).at || 0);
    return at;
  }

  function update() {
    const room = state.room || {};
    const rnd = state.currentRound;
    setText(title, room.title || "");
    setText(people, t("screen.people", { count: state.presence.participants }));
    const ended = room.phase === "ended";
    const found = state.latestResults();
    const showResults = Boolean(found && rnd && found.round.id === rnd.id);
    // After the end the last vote's results stay, until staff follow up (an announcement, a status)
    // after that vote closed: then the screen thanks the room and says what happens next.
    const followedUp = ended && showResults && lastFollowUp() > (found.round.closed_at || 0);
    const lobbyMode = !rnd || (ended && (!showResults || followedUp));
    // Nobody new gets into a locked room, nor into an invite room without a personal invite: the screen
    // says so instead of asking the room to scan or type a code that only leads to a refusal.
    const closed = !ended && (room.locked || room.access === "invite");
    show(joinStrip, !lobbyMode && !closed);
    setText(joinAt, t(ended ? "screen.scanEnded" : "screen.joinAt"));
    show(joinAddressEl, !ended);
    show(codeSmall, !ended);
    setText(lobbyTitle, ended ? t("screen.thanks") : room.title || "");
    setText(lobbyBrief, ended ? "" : room.brief || "");
    setText(scan, t(ended ? "screen.scanEnded" : room.locked ? "join.locked" : room.access === "invite" ? "join.inviteOnly" : "screen.scan"));
    lobby.classList.toggle("is-ended", ended);
    const criteria = ended ? "" : state.criteria && state.criteria.length ? criteriaLine(state.criteria) : "";
    for (const line of [lobbyCriteria, roundCriteria]) {
      setText(line, criteria);
      show(line, Boolean(criteria));
    }
    lobby.classList.toggle("is-closed", closed);
    updateEnded(ended && lobbyMode);
    const spotted = updateSpotlight();
    show(round, !lobbyMode && !spotted);
    show(lobby, lobbyMode && !spotted);
    if (lobbyMode) {
      fitLobby();
      return;
    }

    setText(kind, roundKindLabel(rnd));
    setText(prompt, rnd.prompt);
    timer.update(rnd, ctx.now());
    if (rnd.status === "closed") timer.el.hidden = true;
    const progressLine = showResults ? "" : progressText(rnd);
    setText(progress, progressLine);
    show(progress, Boolean(progressLine));
    const secret = rnd.kind === "ideate" && rnd.private && !rnd.revealed;
    const ideas = secret ? [] : state.wallIdeas().filter((i) => state.publiclyVisible(i));
    show(resultsBox, showResults);
    results.update(rankingRows(state, showResults ? found : null));
    const byTheme = Boolean(showResults && found.vote.themeResults && found.vote.themeResults.length);
    show(themeResultsCol, byTheme);
    resultsBox.classList.toggle("has-themes", byTheme);
    setText(resultsTitle, byTheme ? t("results.byNote") : t("results.title"));
    themeResults.update(rankingRows(state, byTheme ? found : null, { byTheme: true }));
    const groups = state.groupByTheme(ideas);
    const grouped = groups.length > 1;
    // In a vote on themes whose totals are shown, each column's header has the theme's dots.
    const v = rnd.kind === "vote" && rnd.target === "themes" ? state.votes.get(rnd.id) : null;
    const showDots = Boolean(v && v.totals && (!rnd.hide_totals || rnd.status === "closed"));
    for (const g of groups) g.dots = showDots && g.theme ? v.totals[g.theme.id] || 0 : null;
    if (!groups[groups.length - 1].ideas.length) groups.pop();
    show(themed, !showResults && grouped);
    syncList(themed, !showResults && grouped ? groups : [], (g) => (g.theme ? g.theme.id : "none"), themeColumn, updateColumn);
    show(wall, !showResults && !grouped && ideas.length > 0);
    let noteText = "";
    if (showResults) noteText = "";
    else if (secret) noteText = t("screen.private");
    else if (!ideas.length) noteText = rnd.kind === "vote" ? t("board.voteEmpty") : t("screen.empty");
    setText(note, noteText);
    show(note, Boolean(noteText));
    round.classList.toggle("is-focus", Boolean(noteText));
    round.classList.toggle("is-results", showResults);
    syncList(wall, grouped ? [] : ideas, (i) => i.id, () => h("li", { class: "screen-card" }), updateCard);
    fitPrompt();
    fit();
    fitThemed();
    results.fit();
    themeResults.fit();
  }

  return {
    el,
    update,
    tick() {
      const rnd = state.currentRound;
      if (rnd && rnd.status !== "closed") timer.update(rnd, ctx.now());
    },
    destroy() {
      observer.disconnect();
      document.removeEventListener("keydown", onKey);
      results.destroy();
      themeResults.destroy();
      document.body.classList.remove("is-screen");
    },
  };
}

// The console's live figures (issue #12): a small KPI dashboard for staff. It reads
// GET /api/rooms/CODE/figures once when the console opens, then follows the `figures` messages the
// server pushes to staff connections (at most every `figures_interval` seconds; see protocol.md).
// The charts are inline SVG drawn here (no chart library), each with a text alternative: an
// accessible name and description, and the same numbers as a table.

import { h, renderRow, setText } from "../dom.js";
import { locale, t } from "../i18n.js";
import { roundStatusLabel } from "./parts.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element (the `h()` builder makes HTML elements only). */
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = String(value);
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) el.append(child);
  return el;
}

export function percent(x) {
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 0 }).format(Number(x) || 0);
}

export function decimal(x, digits = 2) {
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: 0, maximumFractionDigits: digits }).format(Number(x) || 0);
}

/** Keep the newest figures: a push or a read is older when its (epoch, seq) is below what we have. */
function newer(a, b) {
  if (!a) return true;
  if (String(a.epoch) !== String(b.epoch)) return true;
  return Number(b.seq) >= Number(a.seq);
}

/** Round labels: "Round 2" in the order the rounds were opened. */
function roundLabel(state, id) {
  const ids = Array.from(state.rounds.keys());
  const n = ids.indexOf(id);
  return t("kpi.roundN", { n: n >= 0 ? n + 1 : id });
}

/**
 * Bars of notes posted per time bucket (`timeline`: `notes` posted, `ideas` of them not merged away),
 * with its title and description for screen readers. A merge never changes what was posted when, so
 * the bars are notes posted; the description and the table also give the ideas once duplicates are
 * merged, which add up to the "Ideas" tile.
 */
function timelineChart(timeline) {
  const W = 320;
  const H = 140;
  const pad = { l: 26, r: 6, t: 10, b: 22 };
  const max = Math.max(1, ...timeline.map((p) => p.notes));
  const n = Math.max(1, timeline.length);
  const step = (W - pad.l - pad.r) / n;
  const y = (v) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const size = timeline.length > 1 ? timeline[1].t - timeline[0].t : 60;
  const total = timeline.reduce((a, p) => a + p.notes, 0);
  const ideas = timeline.reduce((a, p) => a + p.ideas, 0);
  const peak = timeline.reduce((best, p) => (p.notes > best.notes ? p : best), { t: 0, notes: -1 });
  const minutes = (sec) => Math.round(sec / 60);
  const desc = timeline.length
    ? t("kpi.timelineDesc", { count: total, minutes: minutes(timeline[timeline.length - 1].t + size), peak: peak.notes, at: minutes(peak.t) }) + (ideas !== total ? " " + t("kpi.timelineMerged", { count: ideas }) : "")
    : t("kpi.timelineEmpty");
  const bars = timeline.map((p, i) =>
    s("rect", { class: "kpi-bar", x: (pad.l + i * step + step * 0.12).toFixed(1), y: y(p.notes).toFixed(1), width: Math.max(1, step * 0.76).toFixed(1), height: (H - pad.b - y(p.notes)).toFixed(1) }),
  );
  const svg = s(
    "svg",
    { class: "kpi-chart", id: "kpi-timeline-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "kpi-timeline-title kpi-timeline-desc", preserveAspectRatio: "xMidYMid meet" },
    s("title", { id: "kpi-timeline-title", text: t("kpi.timeline") }),
    s("desc", { id: "kpi-timeline-desc", text: desc }),
    s("line", { class: "kpi-axis", x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b }),
    s("line", { class: "kpi-grid", x1: pad.l, y1: pad.t, x2: W - pad.r, y2: pad.t }),
    s("text", { class: "kpi-tick", x: pad.l - 4, y: pad.t + 4, "text-anchor": "end", text: String(max) }),
    s("text", { class: "kpi-tick", x: pad.l - 4, y: H - pad.b, "text-anchor": "end", text: "0" }),
    s("text", { class: "kpi-tick", x: pad.l, y: H - 6, text: t("kpi.minutes", { n: 0 }) }),
    timeline.length > 1 ? s("text", { class: "kpi-tick", x: W - pad.r, y: H - 6, "text-anchor": "end", text: t("kpi.minutes", { n: minutes(timeline[timeline.length - 1].t) }) }) : null,
    bars,
  );
  const table = h(
    "table",
    { class: "kpi-table" },
    h("caption", { class: "sr-only", text: t("kpi.timeline") }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("kpi.fromMinute") }), h("th", { scope: "col", text: t("kpi.notesCol") }), h("th", { scope: "col", text: t("kpi.ideasCol") }))),
    h("tbody", {}, timeline.map((p) => h("tr", {}, h("td", { text: t("kpi.minutes", { n: minutes(p.t) }) }), h("td", { text: String(p.notes) }), h("td", { text: String(p.ideas) })))),
  );
  return h(
    "figure",
    { class: "kpi-figure", id: "kpi-timeline" },
    h("figcaption", { class: "kpi-caption" }, h("span", { class: "kpi-caption-title", text: t("kpi.timeline") }), h("span", { class: "hint", text: desc })),
    timeline.length ? svg : h("p", { class: "empty", text: t("kpi.timelineEmpty") }),
    timeline.length ? h("details", { class: "kpi-details" }, h("summary", { text: t("kpi.asTable") }), h("div", { class: "kpi-scroll" }, table)) : null,
  );
}

/** Horizontal bars: participation (ideate rounds) or turnout (vote rounds) per round. */
function roundsChart(state, rounds) {
  const W = 320;
  const rowH = 26;
  const labelW = 92;
  const H = Math.max(1, rounds.length) * rowH + 4;
  const share = (r) => (r.kind === "vote" ? r.turnout : r.participation) || 0;
  const label = (r) => `${roundLabel(state, r.round)} · ${t(r.kind === "vote" ? "kpi.kindVote" : "kpi.kindIdeate")}`;
  const desc = rounds.map((r) => t("kpi.roundShare", { round: label(r), share: percent(share(r)) })).join(t("kpi.separator"));
  const barW = W - labelW - 44;
  const rows = rounds.map((r, i) => {
    const y0 = 2 + i * rowH;
    return s(
      "g",
      {},
      s("text", { class: "kpi-tick kpi-row-label", x: 0, y: y0 + 16, text: label(r) }),
      s("rect", { class: "kpi-track", x: labelW, y: y0 + 4, width: barW, height: rowH - 10, rx: 3 }),
      s("rect", { class: "kpi-bar" + (r.kind === "vote" ? " is-vote" : ""), x: labelW, y: y0 + 4, width: (barW * Math.min(1, share(r))).toFixed(1), height: rowH - 10, rx: 3 }),
      s("text", { class: "kpi-tick", x: W, y: y0 + 16, "text-anchor": "end", text: percent(share(r)) }),
    );
  });
  return h(
    "figure",
    { class: "kpi-figure", id: "kpi-rounds-chart" },
    h("figcaption", { class: "kpi-caption" }, h("span", { class: "kpi-caption-title", text: t("kpi.perRoundChart") }), h("span", { class: "hint", text: t("kpi.perRoundHint") })),
    rounds.length
      ? s(
          "svg",
          { class: "kpi-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "kpi-rounds-title kpi-rounds-desc" },
          s("title", { id: "kpi-rounds-title", text: t("kpi.perRoundChart") }),
          s("desc", { id: "kpi-rounds-desc", text: desc }),
          rows,
        )
      : h("p", { class: "empty", text: t("kpi.noRounds") }),
  );
}

/** An ideate round's count: its ideas once duplicates are merged, and the notes posted when they differ. */
function roundIdeas(r) {
  const ideas = t("kpi.ideasN", { count: r.ideas });
  return r.notes !== undefined && r.notes !== r.ideas ? t("kpi.ideasOfNotes", { ideas, notes: t("kpi.notesN", { count: r.notes }) }) : ideas;
}

/** The per-round table (every figure of each round). */
function roundsTable(state, rounds) {
  if (!rounds.length) return null;
  const dash = "–";
  return h(
    "div",
    { class: "kpi-scroll" },
    h(
      "table",
      { class: "kpi-table", id: "kpi-rounds-table" },
      h("caption", { class: "kpi-table-caption", text: t("kpi.perRound") }),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["kpi.round", "kpi.countCol", "kpi.peopleCol", "kpi.shareCol", "kpi.top3", "kpi.dotsGini"].map((key) => h("th", { scope: "col", text: t(key) })),
        ),
      ),
      h(
        "tbody",
        {},
        rounds.map((r) =>
          h(
            "tr",
            { dataset: { round: r.round } },
            h("th", { scope: "row" }, roundLabel(state, r.round), h("span", { class: "kpi-sub", text: ` ${t(r.kind === "vote" ? "kpi.kindVote" : "kpi.kindIdeate")}, ${roundStatusLabel(r)}` })),
            h("td", { text: r.kind === "vote" ? t("kpi.dotsN", { count: r.dots }) : roundIdeas(r) }),
            h("td", { text: r.kind === "vote" ? t("kpi.votersN", { count: r.voters }) : t("kpi.contributorsN", { count: r.contributors }) }),
            h("td", { text: percent(r.kind === "vote" ? r.turnout : r.participation) }),
            h("td", { text: r.kind === "vote" ? percent(r.top3_share) : dash }),
            h("td", { text: r.kind === "vote" ? decimal(r.dots_gini) : dash }),
          ),
        ),
      ),
    ),
  );
}

function themeMix(themes) {
  const list = (themes && themes.themes) || [];
  const ungrouped = (themes && themes.ungrouped) || 0;
  const total = list.reduce((a, x) => a + x.ideas, 0) + ungrouped;
  const rows = list.map((x) => ({ name: x.name, ideas: x.ideas, share: x.share }));
  if (ungrouped) rows.push({ name: t("themes.none"), ideas: ungrouped, share: total ? ungrouped / total : 0, loose: true });
  return h(
    "div",
    { class: "kpi-block", id: "kpi-themes" },
    h("h3", { class: "section-subtitle", text: t("kpi.themes") }),
    rows.length
      ? h(
          "ul",
          { class: "kpi-bars" },
          rows.map((r) =>
            h(
              "li",
              { class: "kpi-bar-row" + (r.loose ? " is-loose" : "") },
              h("span", { class: "kpi-bar-label", text: r.name }),
              h("span", { class: "kpi-meter", "aria-hidden": "true" }, h("span", { class: "kpi-meter-fill", style: `width:${Math.round(Math.min(1, r.share) * 100)}%` })),
              h("span", { class: "kpi-bar-value", text: t("kpi.themeValue", { count: r.ideas, share: percent(r.share) }) }),
            ),
          ),
        )
      : h("p", { class: "empty", text: t("kpi.noIdeasYet") }),
  );
}

function satisfaction(sat) {
  if (!sat) return null;
  const dist = sat.distribution || {};
  const counts = [1, 2, 3, 4, 5].map((k) => Number(dist[k] ?? dist[String(k)] ?? 0));
  const max = Math.max(1, ...counts);
  return h(
    "div",
    { class: "kpi-block", id: "kpi-satisfaction" },
    h("h3", { class: "section-subtitle", text: t("kpi.satisfaction") }),
    h("p", { class: "kpi-sat-line", text: sat.count ? t("kpi.satisfactionLine", { average: decimal(sat.average, 1), count: sat.count }) : t("kpi.satisfactionNone") }),
    h(
      "ul",
      { class: "kpi-bars" },
      counts.map((c, i) =>
        h(
          "li",
          { class: "kpi-bar-row" },
          h("span", { class: "kpi-bar-label", text: t("kpi.score", { n: i + 1 }) }),
          h("span", { class: "kpi-meter", "aria-hidden": "true" }, h("span", { class: "kpi-meter-fill", style: `width:${Math.round((c / max) * 100)}%` })),
          h("span", { class: "kpi-bar-value", text: String(c) }),
        ),
      ),
    ),
  );
}

/** The dashboard card. `update()` is called with the console's; it re-renders only when figures change. */
export function buildDashboard(ctx, state) {
  const session = ctx.session;
  let current = null; // {epoch, seq, data}
  let loadError = false;
  const body = h("div", { class: "kpi-body", id: "kpi-body" });
  const stamp = h("p", { class: "hint kpi-stamp", id: "kpi-stamp" });
  const el = h(
    "section",
    { class: "card kpi-card", id: "kpi-card", "aria-labelledby": "kpi-title" },
    h("div", { class: "kpi-head" }, h("h2", { class: "section-title", id: "kpi-title", text: t("kpi.title") }), stamp),
    body,
  );

  function take(candidate) {
    if (!candidate || !candidate.data) return;
    if (!newer(current, candidate)) return;
    current = candidate;
    render();
  }

  async function load() {
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(ctx.code)}/figures`, {
        headers: { accept: "application/json", authorization: "Bearer " + session.token },
        cache: "no-store",
      });
      if (!response.ok) throw new Error("figures " + response.status);
      const data = await response.json();
      // A read carries no seq: it is as new as the state this console has now.
      take({ epoch: state.epoch, seq: state.seq, data });
    } catch {
      loadError = true;
      render();
    }
  }

  function tile(id, labelKey, value, hintKey) {
    return h("div", { class: "kpi-tile", id }, h("dt", { class: "kpi-label", text: t(labelKey) }), h("dd", { class: "kpi-value", text: value }), hintKey ? h("dd", { class: "kpi-hint hint", text: t(hintKey) }) : null);
  }

  function render() {
    const d = current && current.data;
    const { at, ...rest } = d || {};
    renderRow(body, JSON.stringify([rest, loadError, locale()]), () => {
      if (!d) return h("p", { class: "empty", text: loadError ? t("kpi.failed") : t("kpi.loading") });
      const votes = (d.rounds || []).filter((r) => r.kind === "vote");
      const lastVote = votes[votes.length - 1] || null;
      const silent = d.silent || [];
      return [
        h(
          "dl",
          { class: "kpi-tiles" },
          tile("kpi-participants", "kpi.participants", String(d.participants)),
          tile("kpi-active", "kpi.active", String(d.active)),
          tile("kpi-ideas", "kpi.ideas", String(d.ideas), "kpi.ideasHint"),
          tile("kpi-notes", "kpi.notes", String(d.notes), "kpi.notesHint"),
          tile("kpi-participation", "kpi.participation", percent(d.participation_rate), "kpi.participationHint"),
          tile("kpi-per-participant", "kpi.perParticipant", decimal(d.ideas_per_participant)),
          tile("kpi-gini", "kpi.gini", decimal(d.contribution_gini), "kpi.giniHint"),
          tile("kpi-turnout", "kpi.turnout", percent(d.vote_turnout)),
          lastVote ? tile("kpi-top3", "kpi.top3Last", percent(lastVote.top3_share)) : null,
          lastVote ? tile("kpi-dots-gini", "kpi.dotsGiniLast", decimal(lastVote.dots_gini)) : null,
        ),
        h(
          "div",
          { class: "kpi-block", id: "kpi-silent" },
          h("h3", { class: "section-subtitle", text: t("kpi.silent", { count: silent.length }) }),
          silent.length
            ? [
                h("p", { class: "hint", text: t("kpi.silentHint") }),
                h(
                  "ul",
                  { class: "kpi-silent-list", id: "kpi-silent-list" },
                  silent.map((m) => h("li", { class: "kpi-silent-item" }, h("span", { class: "presence-dot" + (m.online ? " is-on" : ""), "aria-hidden": "true" }), h("span", { text: m.name }), h("span", { class: "sr-only", text: m.online ? t("console.online") : t("console.offline") }))),
                ),
              ]
            : h("p", { class: "empty", text: d.participants ? t("kpi.silentNone") : t("kpi.noParticipants") }),
        ),
        h("div", { class: "kpi-charts" }, timelineChart(d.timeline || []), roundsChart(state, d.rounds || [])),
        roundsTable(state, d.rounds || []),
        h("div", { class: "kpi-charts" }, themeMix(d.themes), satisfaction(d.satisfaction)),
      ];
    });
    setText(stamp, d ? t("kpi.live") : "");
  }

  render();
  load();
  return {
    el,
    update() {
      const pushed = session.figures;
      if (pushed) take(pushed);
      if (current) render();
    },
  };
}

const FOLD_KEY = "workshop.insights.open";

/**
 * The console's "Figures and reports" section: the live figures, the exports and the word filter. It
 * folds into one line at the top of the console by default (the wall is what matters during the
 * rounds, and the wall's drag and drop needs both ends on screen); "Show" opens it, and this browser
 * remembers the choice.
 */
export function buildInsights(ctx, state, { exportsCard, filterCard }) {
  const dashboard = buildDashboard(ctx, state);
  let open = false;
  try {
    open = localStorage.getItem(FOLD_KEY) === "1";
  } catch {
    open = false;
  }
  const grid = h("div", { class: "insights-grid", id: "insights-grid" }, h("p", { class: "hint", text: t("insights.lead") }), dashboard.el, h("div", { class: "insights-side" }, exportsCard.el, filterCard.el));
  const toggle = h("button", {
    type: "button",
    id: "insights-toggle",
    class: "btn btn-small btn-secondary",
    "aria-controls": "insights-grid",
    onclick: () => {
      open = !open;
      try {
        localStorage.setItem(FOLD_KEY, open ? "1" : "0");
      } catch {
        // storage unavailable: the choice lasts for this page
      }
      refresh();
    },
  });
  const el = h(
    "section",
    { class: "section insights", id: "insights", "aria-labelledby": "insights-title" },
    h("div", { class: "insights-head" }, h("h2", { class: "insights-title", id: "insights-title", text: t("insights.title") }), toggle),
    grid,
  );
  function refresh() {
    grid.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    setText(toggle, open ? t("insights.hide") : t("insights.show"));
    dashboard.update();
    filterCard.update();
  }
  refresh();
  return { el, update: refresh };
}

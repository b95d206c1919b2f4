// The follow-up (#11), shared by the console, the board and the "my ideas" page: statuses with their
// notes and history, replies under ideas, the jury's scoring form, the selection log, announcements
// and the satisfaction pulse.

import { h } from "../dom.js";
import { formatNumber, formatTime, locale, t } from "../i18n.js";
import { linkRow } from "./landing.js";
import { listNames, thankedText } from "./parts.js";
import { triageBadges } from "./triage.js";
// The statuses, where each may go next and which are decisions: generated from the server's tables.
import { DECISIONS, STATUSES, STATUS_TRANSITIONS } from "../contract.js";

export { STATUSES, STATUS_TRANSITIONS };

export const SCORES = [1, 2, 3, 4, 5];

// Kept across re-renders and a language switch: open forms and their drafts.
export const fu = {
  status: null, // {kind: "idea"|"theme", id}
  statusDraft: { status: "", note: "" },
  replying: null, // idea id
  replyDraft: "",
  scores: {}, // idea id -> {criterion id -> score}
};

export function short(text, n = 60) {
  const one = String(text || "").replace(/\s+/g, " ").trim();
  return one.length > n ? one.slice(0, n - 1) + "…" : one;
}

export function statusLabel(status) {
  return t("istatus." + status);
}

/** A date and time in the current language (the follow-up spans days: the date matters). */
export function formatWhen(seconds) {
  if (!seconds) return "";
  try {
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(new Date(seconds * 1000));
  } catch {
    return formatTime(seconds);
  }
}

/** A date alone ("February 26, 2027", "26 février 2027"). */
export function formatDate(seconds) {
  if (!seconds) return "";
  try {
    return new Intl.DateTimeFormat(locale(), { dateStyle: "long" }).format(new Date(seconds * 1000));
  } catch {
    return new Date(seconds * 1000).toDateString();
  }
}

export function formatScore(value) {
  if (value === null || value === undefined) return "–";
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 2 }).format(value);
}

/** The last change of an idea's (or theme's) status, or null. */
export function latestChange(item) {
  const history = (item && item.history) || [];
  return history.length ? history[history.length - 1] : null;
}

/** The status badge and the latest public note of an idea or theme (nothing while it is "new" and untouched). */
export function statusLine(item, { id = null } = {}) {
  const status = (item && item.status) || "new";
  const last = latestChange(item);
  if (status === "new" && !last) return null;
  return h(
    "p",
    { class: "status-line", id },
    h("span", { class: "badge badge-istatus is-" + status, text: statusLabel(status) }),
    last && last.note ? h("span", { class: "status-note", text: t("followup.noteQuoted", { note: last.note }) }) : null,
  );
}

/** An idea's (or theme's) status history, oldest first: time, status, note, who decided. */
export function historyList(item, { id = null } = {}) {
  const history = (item && item.history) || [];
  if (!history.length) return null;
  return h(
    "ol",
    { class: "history", id, "aria-label": t("followup.history") },
    history.map((c) =>
      h(
        "li",
        { class: "history-entry is-" + c.status },
        h("time", { class: "history-time", datetime: new Date(c.at * 1000).toISOString(), text: formatWhen(c.at) }),
        h("span", { class: "badge badge-istatus is-" + c.status, text: statusLabel(c.status) }),
        c.note ? h("span", { class: "history-note", text: t("followup.noteQuoted", { note: c.note }) }) : null,
        h("span", { class: "history-by", text: c.by_name ? t("followup.decidedBy", { name: c.by_name }) : c.via && c.via.startsWith("e") ? t("followup.byEvaluation") : "" }),
      ),
    ),
  );
}

/** Who wrote a reply: the staff badge and the brand's name, or the author ("You" for one's own). */
function replyAuthor(reply, state) {
  if (reply.staff) {
    return [h("span", { class: "badge badge-staff", text: t("reply.staff") }), h("span", { class: "reply-name", text: reply.brand || reply.author_name || "" })];
  }
  const mine = reply.mine || (state && state.me && reply.author === state.me.id);
  return [h("span", { class: "reply-name", text: mine ? t("note.you") : reply.author_name || t("reply.anonymous") })];
}

/**
 * The replies under an idea. `staff`: every reply with its state and the moderation buttons.
 * Returns null when there is nothing to show.
 */
export function repliesList(ctx, state, replies, { staff = false, id = null } = {}) {
  if (!replies.length) return null;
  return h(
    "ul",
    { class: "replies", id, "aria-label": t("reply.listLabel", { count: replies.length }) },
    replies.map((r) => {
      const badges = [];
      // A reply waiting in the outbox (offline, the board): "Sending…", as a note.
      if (r.outgoing) badges.push(h("span", { class: "badge badge-pending", text: t("note.sending") }));
      else if (r.state === "pending") badges.push(h("span", { class: "badge badge-pending", text: staff || !r.held ? t("reply.pending") : t("note.held") }));
      if (staff) badges.push(...triageBadges(r));
      if (r.state === "hidden") badges.push(h("span", { class: "badge badge-hidden", text: r.hide_reason ? t("note.hiddenReason", { reason: r.hide_reason }) : t("note.hidden") }));
      const actions = [];
      if (staff) {
        const label = short(r.text, 40);
        if (r.state === "pending") actions.push(h("button", { type: "button", class: "btn btn-small btn-secondary", "data-focus": "reply-approve-" + r.id, "aria-label": t("reply.approveLabel", { text: label }), text: t("console.approve"), onclick: () => ctx.act("reply.approve", { reply: r.id }).catch(() => {}) }));
        if (r.state !== "hidden") actions.push(h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "reply-hide-" + r.id, "aria-label": t("reply.hideLabel", { text: label }), text: t("console.hide"), onclick: () => ctx.act("reply.hide", { reply: r.id }).catch(() => {}) }));
        else actions.push(h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "reply-restore-" + r.id, "aria-label": t("reply.restoreLabel", { text: label }), text: t("console.restore"), onclick: () => ctx.act("reply.restore", { reply: r.id }).catch(() => {}) }));
      }
      return h(
        "li",
        { class: "reply" + (r.staff ? " is-staff" : "") + " is-" + r.state + (r.outgoing ? " is-sending" : ""), dataset: { reply: r.id } },
        h("p", { class: "reply-meta" }, replyAuthor(r, state), h("time", { class: "reply-time", text: formatWhen(r.at) }), badges),
        h("p", { class: "reply-text", text: r.text }),
        actions.length ? h("div", { class: "row-actions" }, actions) : null,
      );
    }),
  );
}

/** The reply box of an idea: a "Reply" button, or the form once opened. `canReply` false: nothing. */
export function replyBox(ctx, idea, { canReply, refresh, maxLength = 500 }) {
  if (!canReply) return null;
  const label = short(idea.text, 40);
  if (fu.replying !== idea.id) {
    return h("button", {
      type: "button",
      class: "btn btn-small btn-ghost reply-open",
      "data-focus": "reply-open",
      "aria-label": t("reply.openLabel", { text: label }),
      text: t("reply.open"),
      onclick: () => {
        fu.replying = idea.id;
        fu.replyDraft = "";
        refresh();
        document.getElementById("reply-text-" + idea.id)?.focus();
      },
    });
  }
  const area = h("textarea", { id: "reply-text-" + idea.id, class: "reply-area", rows: "2", maxlength: String(4 * maxLength), "data-focus": "reply-text" });
  area.value = fu.replyDraft;
  const close = () => {
    fu.replying = null;
    fu.replyDraft = "";
    refresh();
  };
  area.addEventListener("input", () => {
    fu.replyDraft = area.value;
  });
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") close();
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      area.form.requestSubmit();
    }
  });
  return h(
    "form",
    {
      class: "reply-form",
      onsubmit: (e) => {
        e.preventDefault();
        const text = area.value.trim();
        if (!text) return;
        close();
        ctx.act("reply.post", { idea: idea.id, text }).catch(() => {
          fu.replying = idea.id;
          fu.replyDraft = text;
          refresh();
        });
      },
    },
    h("label", { for: area.id, class: "reply-label", text: t("reply.label", { text: label }) }),
    area,
    h(
      "div",
      { class: "row-actions" },
      h("button", { type: "submit", class: "btn btn-small btn-primary", "data-focus": "reply-send", text: t("reply.send") }),
      h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "reply-cancel", text: t("common.cancel"), onclick: close }),
    ),
  );
}

/**
 * Staff: the status of an idea or a theme. A "Status" button, or the form (the statuses the table
 * allows next, and a short public note). `target`: {idea} or {theme}.
 */
export function statusControl(ctx, item, kind, { refresh }) {
  const next = STATUS_TRANSITIONS[item.status || "new"] || [];
  if (!next.length) return null;
  const label = short(item.text || item.name, 40);
  const open = fu.status && fu.status.kind === kind && fu.status.id === item.id;
  if (!open) {
    return h("button", {
      type: "button",
      class: "btn btn-small btn-ghost status-open",
      id: `status-open-${kind}-${item.id}`,
      "data-focus": "status-open",
      "aria-label": t(kind === "theme" ? "followup.statusThemeLabel" : "followup.statusLabel", { text: label }),
      text: t("followup.status"),
      onclick: () => {
        fu.status = { kind, id: item.id };
        fu.statusDraft = { status: next[0], note: "" };
        refresh();
        document.getElementById(`status-select-${kind}-${item.id}`)?.focus();
      },
    });
  }
  if (!next.includes(fu.statusDraft.status)) fu.statusDraft.status = next[0];
  const selectId = `status-select-${kind}-${item.id}`;
  const noteId = `status-note-${kind}-${item.id}`;
  const select = h(
    "select",
    { id: selectId, "data-focus": "status-select", onchange: (e) => (fu.statusDraft.status = e.target.value) },
    next.map((s) => h("option", { value: s, selected: s === fu.statusDraft.status }, statusLabel(s))),
  );
  const note = h("input", { type: "text", id: noteId, maxlength: "1000", value: fu.statusDraft.note, "data-focus": "status-note", "aria-describedby": noteId + "-hint", oninput: (e) => (fu.statusDraft.note = e.target.value) });
  const cancel = () => {
    fu.status = null;
    refresh();
    document.getElementById(`status-open-${kind}-${item.id}`)?.focus();
  };
  const form = h(
    "form",
    {
      class: "status-form",
      id: `status-form-${kind}-${item.id}`,
      onsubmit: (e) => {
        e.preventDefault();
        const cmd = { status: select.value, note: note.value.trim() };
        cmd[kind] = item.id;
        fu.status = null;
        refresh();
        ctx.act("idea.status", cmd).catch(() => {});
      },
      onkeydown: (e) => {
        if (e.key === "Escape") cancel();
      },
    },
    h("div", { class: "field" }, h("label", { for: selectId, text: t("followup.newStatus") }), select),
    h("div", { class: "field" }, h("label", { for: noteId, text: t("followup.note") }), note, h("p", { class: "hint", id: noteId + "-hint", text: t(kind === "theme" ? "followup.themeNoteHint" : "followup.noteHint") })),
    h(
      "div",
      { class: "row-actions" },
      h("button", { type: "submit", class: "btn btn-small btn-primary", "data-focus": "status-save", text: t("followup.setStatus") }),
      h("button", { type: "button", class: "btn btn-small btn-ghost", "data-focus": "status-cancel", text: t("common.cancel"), onclick: cancel }),
    ),
  );
  return form;
}

/**
 * A juror's scoring form for one idea: 1 to 5 on each criterion (radio groups: arrow keys move), then
 * "Save the scores". `mine`: the scores already given (shown, and changed by scoring again).
 */
export function scoringForm(ctx, evaluation, idea, { refresh, idPrefix = "score" }) {
  const criteria = evaluation.criteria || [];
  const mine = (evaluation.mine && evaluation.mine[idea.id]) || null;
  const draft = fu.scores[idea.id] || (fu.scores[idea.id] = { ...(mine || {}) });
  const error = h("p", { class: "form-error", role: "alert", hidden: true });
  const groups = criteria.map((k) => {
    const name = `${idPrefix}-${idea.id}-${k.id}`;
    return h(
      "fieldset",
      { class: "score-group" },
      h("legend", {}, h("span", { class: "score-criterion", text: k.name }), h("span", { class: "hint", text: t("selection.weight", { weight: k.weight }) })),
      k.description ? h("p", { class: "hint", text: k.description }) : null,
      h(
        "div",
        { class: "score-scale" },
        SCORES.map((n) => {
          const id = `${name}-${n}`;
          const input = h("input", {
            type: "radio",
            name,
            id,
            value: String(n),
            checked: draft[k.id] === n,
            "data-focus": id,
            onchange: () => {
              draft[k.id] = n;
            },
          });
          return h("span", { class: "score-choice" }, input, h("label", { for: id, title: t("selection.scoreOf", { score: n }) }, h("span", { "aria-hidden": "true", text: String(n) }), h("span", { class: "sr-only", text: t("selection.scoreOf", { score: n }) })));
        }),
      ),
    );
  });
  const submit = h("button", { type: "submit", class: "btn btn-small btn-primary", "data-focus": "score-save", text: mine ? t("selection.rescore") : t("selection.score") });
  return h(
    "form",
    {
      class: "scoring-form stack",
      id: `${idPrefix}-form-${idea.id}`,
      "aria-label": t("selection.scoreLabel", { text: short(idea.text, 40) }),
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        const missing = criteria.filter((k) => !draft[k.id]);
        if (missing.length) {
          error.textContent = t("selection.scoreMissing", { names: listNames(missing.map((k) => k.name)) });
          error.hidden = false;
          return;
        }
        const scores = {};
        for (const k of criteria) scores[k.id] = draft[k.id];
        submit.disabled = true;
        ctx
          .act("evaluation.score", { idea: idea.id, scores })
          .then(() => {
            ctx.toast(t("selection.scored"));
            refresh();
          })
          .catch(() => {})
          .finally(() => {
            submit.disabled = false;
          });
      },
    },
    h("p", { class: "score-idea", text: idea.text }),
    mine ? h("p", { class: "badge badge-done score-done", text: t("selection.scoredYours") }) : null,
    groups,
    h("p", { class: "hint", text: t("selection.scaleHint") }),
    error,
    h("div", { class: "row-actions" }, submit),
  );
}

/**
 * A table that stacks in a narrow box (the console's side column, a phone): each row becomes a small card
 * whose cells carry their column's name (`data-label`). The roles are explicit, since a table laid out as
 * blocks loses its table semantics in some browsers. `head`: the column names; `rows`: per row, its cells
 * as [text, {header, class}] (`header`: the row's header cell).
 */
export function stackedTable({ id = null, caption = null, label, head, rows }) {
  return h(
    "div",
    { class: "table-wrap table-stackable", tabindex: "0", role: "region", "aria-label": label },
    h(
      "table",
      { class: "results-table", id, role: "table" },
      caption ? h("caption", { text: caption }) : null,
      h("thead", { role: "rowgroup" }, h("tr", { role: "row" }, head.map((name) => h("th", { scope: "col", role: "columnheader", text: name })))),
      h(
        "tbody",
        { role: "rowgroup" },
        rows.map(({ key, cells }) =>
          h(
            "tr",
            { role: "row", dataset: key ? { idea: key } : {} },
            cells.map(([text, opts = {}], i) =>
              opts.header
                ? h("th", { scope: "row", role: "rowheader", class: opts.class || null, text })
                : h("td", { role: "cell", class: opts.class || null, "data-label": head[i], text }),
            ),
          ),
        ),
      ),
    ),
  );
}

/** The weighted results of a closed evaluation: a ranked table (rank, idea, each criterion, score, jurors). */
export function resultsTable(evaluation, { id = null, caption = null } = {}) {
  const criteria = evaluation.criteria || [];
  const rows = evaluation.results || [];
  return stackedTable({
    id,
    caption,
    label: caption || t("selection.results"),
    head: [t("selection.rank"), t("selection.idea"), t("selection.weighted"), ...criteria.map((k) => t("selection.criterionWeight", { name: k.name, weight: k.weight })), t("selection.jurors")],
    rows: rows.map((r) => ({
      key: r.idea,
      cells: [
        [String(r.rank)],
        [r.text, { header: true }],
        [formatScore(r.score), { class: "score-total" }],
        ...criteria.map((k) => [formatScore(r.criteria ? r.criteria[k.id] : null)]),
        [formatNumber(r.jurors || 0)],
      ],
    })),
  });
}

/**
 * The selection log, oldest first: each closed evaluation (criteria, jurors, weighted results) and each
 * decision (adopted, declined, done) with its note. `entries` as GET /mine's "selection".
 */
export function selectionLogList(entries, { id = null } = {}) {
  if (!entries.length) return null;
  return h(
    "ol",
    { class: "selection-log", id },
    entries.map((e) => {
      if (e.kind === "evaluation") {
        return h(
          "li",
          { class: "log-entry log-evaluation" },
          h("p", { class: "log-head" }, h("time", { text: formatWhen(e.at) }), " ", h("strong", { text: t("selection.evaluationClosed", { count: e.jurors || 0 }) })),
          h("p", { class: "hint", text: t("selection.criteriaList", { list: (e.criteria || []).map((k) => t("selection.criterionWeight", { name: k.name, weight: k.weight })).join(", ") }) }),
          resultsTable(e),
        );
      }
      return h(
        "li",
        { class: "log-entry log-decision" },
        h(
          "p",
          { class: "log-head" },
          h("time", { text: formatWhen(e.at) }),
          " ",
          h("span", { class: "badge badge-istatus is-" + e.status, text: statusLabel(e.status) }),
          " ",
          h("span", { class: "log-text", text: e.theme ? t("selection.themeDecision", { name: e.text }) : e.text }),
        ),
        e.note ? h("p", { class: "status-note", text: t("followup.noteQuoted", { note: e.note }) }) : null,
        e.by_name ? h("p", { class: "hint", text: t("followup.decidedBy", { name: e.by_name }) }) : null,
      );
    }),
  );
}

/** The selection log computed from the room state (as the server's selection_log). */
export function selectionLogOf(state) {
  const log = [];
  const decisions = new Set(DECISIONS);
  for (const e of state.evaluations.values()) if (e.status === "closed") log.push({ kind: "evaluation", at: e.closed_at, ...e });
  for (const idea of state.ideas.values()) {
    if (!state.isStaff && !state.publiclyVisible(idea)) continue;
    if (state.isStaff && idea.state !== "visible") continue;
    for (const c of idea.history || []) if (decisions.has(c.status)) log.push({ kind: "decision", idea: idea.id, text: idea.text, ...c });
  }
  for (const theme of state.themes.values()) for (const c of theme.history || []) if (decisions.has(c.status)) log.push({ kind: "decision", theme: theme.id, text: theme.name, ...c });
  log.sort((a, b) => (a.at || 0) - (b.at || 0));
  return log;
}

/** Announcements, newest first: an update or a thanks (naming contributors), from the brand. */
export function announcementsList(items, { id = null, meId = null } = {}) {
  if (!items.length) return null;
  return h(
    "ul",
    { class: "announcements", id },
    items
      .slice()
      .reverse()
      .map((a) => {
        const names = (a.credit || []).map((c) => (meId && c.id === meId ? t("note.youInList") : c.name));
        return h(
          "li",
          { class: "announcement is-" + a.kind },
          h(
            "p",
            { class: "announcement-meta" },
            h("span", { class: "badge badge-" + (a.kind === "thanks" ? "thanks" : "update"), text: t(a.kind === "thanks" ? "announce.kindThanks" : "announce.kindUpdate") }),
            h("span", { class: "reply-name", text: a.brand || a.by_name || "" }),
            h("time", { class: "reply-time", text: formatWhen(a.at) }),
          ),
          h("p", { class: "announcement-text", text: a.text }),
          a.credited_you && !names.length ? h("p", { class: "announcement-credit", text: t("announce.creditedYou") }) : null,
          names.length ? h("p", { class: "announcement-credit", text: thankedText(names) }) : null,
        );
      }),
  );
}

/** The distribution of a pulse's answers (1 to 5) as bars, the count and the average. */
export function pulseFigures(pulse, { id = null } = {}) {
  const dist = pulse.distribution || {};
  const count = pulse.count || 0;
  const max = Math.max(1, ...SCORES.map((n) => dist[String(n)] || 0));
  return h(
    "div",
    { class: "pulse-figures", id },
    h("p", { class: "pulse-summary", text: count ? t("pulse.summary", { count, average: formatScore(pulse.average) }) : t("pulse.noAnswer") }),
    h(
      "ul",
      { class: "pulse-bars", "aria-label": t("pulse.distribution") },
      SCORES.map((n) => {
        const v = dist[String(n)] || 0;
        return h(
          "li",
          { class: "pulse-bar" },
          h("span", { class: "pulse-score", text: String(n) }),
          h("span", { class: "pulse-track", "aria-hidden": "true" }, h("span", { class: "pulse-fill", style: `width:${(v / max) * 100}%` })),
          h("span", { class: "pulse-count", text: t("pulse.answersAt", { count: v, score: n }) }),
        );
      }),
    ),
  );
}

/** The personal "my ideas" link of a member: the page at /m/CODE with the token in the fragment. */
export function myIdeasUrl(code, token) {
  return `${location.origin}/m/${encodeURIComponent(code)}#t=${encodeURIComponent(token)}`;
}

/** The card with the participant's personal link (copy it: after the session it is the key). */
export function myIdeasCard(ctx, { id = "my-ideas-card", ended = false } = {}) {
  const token = ctx.session && ctx.session.token;
  if (!token) return null;
  const url = myIdeasUrl(ctx.code, token);
  return h(
    "section",
    { class: "card my-ideas-card" + (ended ? " is-ended" : ""), id, "aria-labelledby": id + "-title" },
    h("h2", { class: "section-title", id: id + "-title", text: t("mine.linkTitle") }),
    h("p", { class: "hint", text: ended ? t("mine.linkEnded") : t("mine.linkLead") }),
    linkRow({ id: id + "-link", labelKey: "mine.linkLabel", url, hintKey: "mine.linkHint", ctx }),
  );
}


// The console's exports and triage (issue #12): the exports through one-time links, the room's word
// filter, the staff-only shadow mute, and the markers that tell moderators why a note waits.

import { h, show } from "../dom.js";
import { locale, t } from "../i18n.js";

const FORMATS = [
  { format: "json", key: "exports.json", ext: "json" },
  { format: "csv", key: "exports.csv", ext: "csv" },
  { format: "md", key: "exports.md", ext: "md" },
  { format: "html", key: "exports.html", ext: "html", open: true },
];
const LANGUAGES = ["en", "fr"];

/** Ask the server for a one-time link to an export (the token in a header, never in a URL). The CSV
 * comes with semicolons in French: a French spreadsheet reads a comma-separated file as one column;
 * the report is written in the console's language. */
async function exportLink(ctx, format, anonymised) {
  const query = new URLSearchParams({ format });
  if (anonymised) query.set("anonymised", "1");
  if (format === "csv" && locale() === "fr") query.set("sep", "semicolon");
  if (format === "md" || format === "html") query.set("lang", locale());
  const response = await fetch(`/api/rooms/${encodeURIComponent(ctx.code)}/export-link?${query}`, {
    method: "POST",
    headers: { accept: "application/json", authorization: "Bearer " + ctx.session.token },
  });
  if (!response.ok) throw new Error("export-link " + response.status);
  const { url } = await response.json();
  return url;
}

/** The exports card: JSON, CSV, Markdown and the printable report (a new tab), each also anonymised. */
export function buildExports(ctx) {
  const anon = h("input", { type: "checkbox", id: "export-anonymised" });
  const status = h("p", { class: "hint", id: "exports-status", role: "status" });
  const buttons = FORMATS.map((f) => {
    const button = h("button", { type: "button", id: "export-" + f.format, class: "btn btn-small btn-secondary", text: t(f.key), "aria-describedby": "exports-hint" });
    button.addEventListener("click", async () => {
      // A tab opened after an await is a popup the browser may block: open it now, point it later.
      const tab = f.open ? window.open("", "_blank") : null;
      if (tab) tab.opener = null;
      button.disabled = true;
      status.textContent = "";
      try {
        const url = await exportLink(ctx, f.format, anon.checked);
        if (tab) tab.location.href = url;
        else {
          const name = `${ctx.code}${anon.checked ? "-anonymised" : ""}.${f.ext}`;
          const link = h("a", { href: url, download: name, hidden: true });
          document.body.append(link);
          link.click();
          link.remove();
        }
        status.textContent = f.open ? t("exports.opened") : t("exports.started");
      } catch {
        tab?.close();
        ctx.toast(t("console.exportFailed"), "error");
      } finally {
        button.disabled = false;
      }
    });
    return button;
  });
  const el = h(
    "section",
    { class: "card", id: "exports-card", "aria-labelledby": "exports-title" },
    h("h2", { class: "section-title", id: "exports-title", text: t("exports.title") }),
    h("p", { class: "hint", id: "exports-hint", text: t("exports.hint") }),
    h("div", { class: "check" }, anon, h("label", { for: "export-anonymised" }, h("span", { text: t("exports.anonymised") }), h("span", { class: "hint", text: t("exports.anonymisedHint") }))),
    h("div", { class: "row-actions exports-buttons", role: "group", "aria-label": t("exports.title") }, buttons),
    status,
  );
  return { el };
}

/** Split the words a moderator typed (one per line, or separated by commas). */
function parseWords(text) {
  const words = [];
  for (const part of String(text).split(/[\n,;]+/)) {
    const word = part.trim();
    if (word && !words.includes(word)) words.push(word);
  }
  return words;
}

/** The word filter: on/off, the shipped lists that apply, the room's own words. */
export function buildFilterCard(ctx, state) {
  const ui = { draft: null, error: "" };
  const toggle = h("button", { type: "button", id: "filter-enabled", role: "switch", class: "switch", "aria-checked": "false", "aria-describedby": "filter-enabled-hint" }, h("span", { class: "switch-track", "aria-hidden": "true" }, h("span", { class: "switch-thumb" })), h("span", { class: "switch-label", text: t("filter.enabled") }));
  toggle.addEventListener("click", () => {
    const on = toggle.getAttribute("aria-checked") !== "true";
    ctx.act("filter.set", { enabled: on }).catch(() => {});
  });
  const langs = LANGUAGES.map((code) => {
    const input = h("input", { type: "checkbox", id: "filter-lang-" + code, value: code });
    input.addEventListener("change", () => {
      const chosen = LANGUAGES.filter((c) => document.getElementById("filter-lang-" + c)?.checked);
      ctx.act("filter.set", { languages: chosen }).catch(() => {});
    });
    return { code, input, el: h("span", { class: "check check-inline" }, input, h("label", { for: input.id, text: t("lang." + code) })) };
  });
  const words = h("textarea", { id: "filter-words", rows: "3", "aria-describedby": "filter-words-hint", autocomplete: "off", spellcheck: "false" });
  words.addEventListener("input", () => {
    ui.draft = words.value;
  });
  const error = h("p", { class: "form-error", role: "alert", id: "filter-error", hidden: true });
  const save = h("button", { type: "submit", id: "filter-save", class: "btn btn-small btn-primary", text: t("filter.save") });
  const summary = h("p", { class: "hint", id: "filter-summary" });
  const form = h(
    "form",
    {
      class: "stack",
      onsubmit: (e) => {
        e.preventDefault();
        const list = parseWords(words.value);
        save.disabled = true;
        error.hidden = true;
        ctx
          .act("filter.set", { words: list })
          .then(() => {
            ui.draft = null;
            ctx.toast(t("filter.saved"));
            ctx.refresh?.();
          })
          .catch((err) => {
            error.textContent = ctx.errorText ? ctx.errorText(err) : String(err.message || err);
            error.hidden = false;
          })
          .finally(() => {
            save.disabled = false;
          });
      },
    },
    h("label", { for: "filter-words", text: t("filter.words") }),
    words,
    h("p", { class: "hint", id: "filter-words-hint", text: t("filter.wordsHint") }),
    error,
    h("div", { class: "row-actions" }, save),
  );
  const el = h(
    "section",
    { class: "card", id: "filter-card", "aria-labelledby": "filter-title" },
    h("h2", { class: "section-title", id: "filter-title", text: t("filter.title") }),
    h("div", { class: "switch-row" }, toggle, h("p", { class: "hint", id: "filter-enabled-hint", text: t("filter.enabledHint") })),
    h("fieldset", { class: "filter-langs" }, h("legend", { text: t("filter.languages") }), langs.map((l) => l.el)),
    summary,
    form,
  );
  return {
    el,
    update() {
      const f = state.filter;
      show(el, Boolean(f));
      if (!f) return;
      toggle.setAttribute("aria-checked", String(Boolean(f.enabled)));
      for (const l of langs) l.input.checked = (f.languages || []).includes(l.code);
      summary.textContent = t("filter.summary", { shipped: f.shipped || 0, count: (f.words || []).length });
      const text = (f.words || []).join("\n");
      if (ui.draft === null && document.activeElement !== words && words.value !== text) words.value = text;
    },
  };
}

/** The staff-only marker of a shadow-muted participant (never shown to the member). */
export function shadowBadge(m) {
  return m && m.shadow_muted ? h("span", { class: "badge badge-shadow", text: t("shadow.marker"), title: t("shadow.markerHint") }) : null;
}

/** The shadow mute toggle for a participant's row on the console. */
export function shadowButton(ctx, m) {
  if (!m || m.role !== "participant") return null;
  const on = Boolean(m.shadow_muted);
  return h("button", {
    type: "button",
    class: "btn btn-small btn-ghost",
    "data-focus": on ? "shadow-off" : "shadow-on",
    text: t(on ? "shadow.stop" : "shadow.start"),
    "aria-label": t(on ? "shadow.stopLabel" : "shadow.startLabel", { name: m.name }),
    title: t("shadow.markerHint"),
    onclick: () => ctx.act("member.shadow_mute", { member: m.id, on: !on }).catch(() => {}),
  });
}

/**
 * Why an idea or reply waits, for staff: held by the word filter; and the note of a shadow-muted author
 * (seen by staff and its author only).
 */
export function triageBadges(item) {
  if (!item) return [];
  const out = [];
  if (item.held === "filter") out.push(h("span", { class: "badge badge-filter", text: t("filter.held") }));
  if (item.shadowed) out.push(h("span", { class: "badge badge-shadow", text: t("shadow.noteMarker") }));
  return out;
}


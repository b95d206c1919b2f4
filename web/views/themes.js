// The console's notes and themes: the staff wall split into theme columns and a "No theme" area.
// Staff create, rename, recolour and dissolve themes; move notes one at a time or several at once, by
// drag and drop or by keyboard (tick notes with Space, then "Move to" or "Move here"); merge duplicates
// and undo a merge; ask the server for suggested themes and accept, edit or reject each one, and for
// notes that belong with existing themes (leave single notes out, then accept or reject the rest).
// Nothing moves without a staff action: every change is one command.

import { h, renderRow, setText, show, syncList } from "../dom.js";
import { t } from "../i18n.js";
import { colorClass, COLORS, swatchClass, themeChip } from "./parts.js";
import { isSpotlit, spotlightButton } from "./spotlight.js";

// Kept across re-renders and a language switch.
export const grouping = {
  selected: new Set(),
  merging: false,
  mergeInto: null,
  mergeError: "",
  renaming: null,
  renameDraft: "",
  dissolving: null,
  newName: "",
  newColor: null, // null: the colour the fewest themes have
  moveTarget: "",
  suggestions: null,
  additions: null, // notes proposed for existing themes: [{key, theme, name, ideas}], shown before the suggestions
  suggesting: false,
  unmergeErrors: new Map(),
  // Notes sent to a theme (or out of themes: null) whose answer has not come yet: idea id -> {theme,
  // move}. The board shows them there at once, marked as moving, so that a move on a slow network does
  // not look undone (and is not made again); the answer ends it, a refusal puts them back.
  moving: new Map(),
};

let dragging = null; // the idea ids being dragged, between dragstart and drop/dragend
// Keys of the suggestions and additions, never reused: a card of an earlier answer is not mistaken for
// one of the next (its buttons would act on the earlier item).
let suggestionSeq = 0;
const THEME_NAME_MAX = 60;

/** Whether staff can group or merge the idea: on the wall (visible, not written under a shadow mute,
 * its round public or revealed), as the server's rule is. */
export function groupable(state, idea) {
  return Boolean(idea && idea.state === "visible" && !idea.shadowed && state.publiclyVisible(idea));
}

/** The colour the fewest themes have (the first such in the palette): new themes stand apart. */
export function freshColor(state) {
  const uses = new Map(COLORS.map((c) => [c, 0]));
  for (const theme of state.themes.values()) uses.set(theme.color, (uses.get(theme.color) || 0) + 1);
  return COLORS.reduce((best, c) => (uses.get(c) < uses.get(best) ? c : best), COLORS[0]);
}

export function short(text, n = 60) {
  const one = String(text).replace(/\s+/g, " ").trim();
  return one.length > n ? one.slice(0, n - 1) + "…" : one;
}

/** What the server says when an undo is refused, in the reader's language when we know the reason. */
function unmergeReason(ctx, error) {
  const message = String((error && error.message) || "");
  if (/new round/i.test(message)) return t("themes.unmergeNewRound");
  if (/has closed|closed/i.test(message)) return t("themes.unmergeVoteClosed");
  if (/already undone/i.test(message)) return t("themes.unmergeDone");
  // Any other reason: the translated text of its error code, not the server's English message.
  return ctx.errorText(error);
}

/** Undo a merge; when the server refuses, keep its reason to show on the note. */
export function unmerge(ctx, mergeId, refresh) {
  grouping.unmergeErrors.delete(mergeId);
  return ctx
    .act("idea.unmerge", { merge: mergeId })
    .then(() => {
      ctx.toast(t("themes.unmerged"));
      refresh();
    })
    .catch((error) => {
      grouping.unmergeErrors.set(mergeId, unmergeReason(ctx, error));
      refresh();
    });
}

/**
 * The staff wall with themes. `updateNote(el, idea)` renders one note card (console.js); `refresh()`
 * re-renders the whole console.
 */
export function buildThemesBoard(ctx, state, { updateNote, refresh }) {
  const select = (id, on) => {
    if (on) grouping.selected.add(id);
    else grouping.selected.delete(id);
    if (grouping.selected.size < 2) grouping.merging = false;
    refresh();
  };

  // --- Moving notes -------------------------------------------------------------------------------------
  function themeName(themeId) {
    const theme = themeId ? state.themes.get(themeId) : null;
    return theme ? theme.name : t("themes.none");
  }

  function moveTo(themeId, ids) {
    // Where each note shows (a move on its way included): dragged back before the first move's answer,
    // it goes back; dropped where it already shows, nothing is sent.
    const ideas = ids.filter((id) => {
      const idea = state.ideas.get(id);
      return groupable(state, idea) && themeOf(idea) !== themeId;
    });
    if (!ideas.length) return Promise.resolve(null);
    const move = {};
    for (const id of ideas) grouping.moving.set(id, { theme: themeId, move });
    const retick = untick(ideas);
    // This move's notes stop being shown as moving (a later move of the same note keeps its own).
    const settle = () => {
      for (const id of ideas) if (grouping.moving.get(id)?.move === move) grouping.moving.delete(id);
    };
    return ctx
      .act("theme.assign", { theme: themeId, ideas })
      .then((result) => {
        settle();
        ctx.toast(t("themes.moved", { count: ideas.length, name: themeName(themeId) }));
        refresh();
        return result;
      })
      .catch(() => {
        settle();
        retick();
        return null;
      });
  }

  /** The theme a note shows in: where a move on its way puts it, else its own (null: none). */
  function themeOf(idea) {
    const moving = grouping.moving.get(idea.id);
    return moving ? moving.theme : idea.theme || null;
  }

  // The notes sent are unticked as the command leaves, not when its answer comes: the room's event can
  // move them (and redraw them) before the answer, and a note ticked again in between stays ticked.
  // A refusal ticks them again. Returns the function that does.
  function untick(ids) {
    for (const id of ids) grouping.selected.delete(id);
    refresh();
    return () => {
      for (const id of ids) grouping.selected.add(id);
      refresh();
    };
  }

  function dropZone(el, themeId) {
    el.addEventListener("dragover", (e) => {
      if (!dragging) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
      el.classList.add("is-over");
    });
    el.addEventListener("dragleave", (e) => {
      if (!e.relatedTarget || !el.contains(e.relatedTarget)) el.classList.remove("is-over");
    });
    el.addEventListener("drop", (e) => {
      e.preventDefault();
      el.classList.remove("is-over");
      const ids = dragging || String(e.dataTransfer.getData("text/plain") || "").split(",").filter(Boolean);
      dragging = null;
      moveTo(themeId === undefined ? el.dataset.theme || null : themeId, ids);
    });
  }

  function noteCard() {
    const li = h("li", { class: "note" });
    li.addEventListener("dragstart", (e) => {
      const id = li.dataset.key;
      dragging = grouping.selected.has(id) ? Array.from(grouping.selected) : [id];
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", dragging.join(","));
      li.classList.add("is-dragging");
      board.classList.add("is-dragging");
    });
    li.addEventListener("dragend", () => {
      dragging = null;
      li.classList.remove("is-dragging");
      board.classList.remove("is-dragging");
      for (const zone of board.querySelectorAll(".is-over")) zone.classList.remove("is-over");
    });
    return li;
  }

  function syncNotes(list, ideas) {
    syncList(list, ideas, (i) => i.id, noteCard, (li, idea) => {
      updateNote(li, idea);
      const moving = grouping.moving.has(idea.id);
      li.classList.toggle("is-moving", moving);
      if (moving) li.setAttribute("aria-busy", "true");
      else li.removeAttribute("aria-busy");
      const can = groupable(state, idea);
      if (li.draggable !== can) li.draggable = can;
      li.classList.toggle("is-draggable", can);
    });
  }

  // --- Toolbar: selection, move, merge, new theme, suggestions -------------------------------------------
  const status = h("p", { class: "selection-status", id: "selection-status", "aria-live": "polite" });
  const moveSelect = h("select", { id: "move-target" });
  moveSelect.addEventListener("change", () => {
    grouping.moveTarget = moveSelect.value;
  });
  const moveBtn = h("button", { type: "button", id: "move-selected", class: "btn btn-small btn-primary", text: t("themes.move") });
  moveBtn.addEventListener("click", () => moveTo(moveSelect.value || null, Array.from(grouping.selected)));
  const mergeBtn = h("button", { type: "button", id: "merge-open", class: "btn btn-small btn-secondary", text: t("themes.mergeOpen"), "aria-expanded": "false", "aria-controls": "merge-form" });
  mergeBtn.addEventListener("click", () => {
    grouping.merging = true;
    grouping.mergeError = "";
    const first = Array.from(grouping.selected)[0];
    if (!grouping.selected.has(grouping.mergeInto)) grouping.mergeInto = first;
    refresh();
    document.querySelector("#merge-form input[type=radio]:checked")?.focus();
  });
  const clearBtn = h("button", { type: "button", id: "selection-clear", class: "btn btn-small btn-ghost", text: t("themes.clear") });
  clearBtn.addEventListener("click", () => {
    grouping.selected.clear();
    grouping.merging = false;
    refresh();
  });
  const selectionTools = h(
    "div",
    { class: "selection-tools", role: "group", "aria-label": t("themes.selectionTools") },
    h("label", { for: "move-target", class: "inline-label", text: t("themes.moveTo") }),
    moveSelect,
    moveBtn,
    mergeBtn,
    clearBtn,
  );

  // Merge: which of the selected notes stays.
  const mergeChoices = h("div", { class: "merge-choices" });
  const mergeError = h("p", { class: "form-error", role: "alert", hidden: true });
  const mergeForm = h(
    "form",
    {
      class: "merge-form",
      id: "merge-form",
      onsubmit: (e) => {
        e.preventDefault();
        const ids = Array.from(grouping.selected);
        const into = ids.includes(grouping.mergeInto) ? grouping.mergeInto : ids[0];
        const others = ids.filter((id) => id !== into);
        if (!into || !others.length) return;
        ctx
          .act("idea.merge", { into, ideas: others })
          .then(() => {
            grouping.selected.clear();
            grouping.merging = false;
            ctx.toast(t("themes.merged", { count: ids.length }));
            refresh();
            // The kept note's checkbox (a selector list would match its card first, which takes no focus).
            document.querySelector(`[data-key="${into}"] .note-select`)?.focus();
          })
          .catch((error) => {
            grouping.mergeError = ctx.errorText(error);
            refresh();
          });
      },
    },
    h("fieldset", {}, h("legend", { text: t("themes.mergeWhich") }), h("p", { class: "hint", text: t("themes.mergeHint") }), mergeChoices),
    mergeError,
    h(
      "div",
      { class: "row-actions" },
      h("button", { type: "submit", id: "merge-confirm", class: "btn btn-small btn-primary", text: t("themes.mergeConfirm") }),
      h("button", {
        type: "button",
        class: "btn btn-small btn-ghost",
        text: t("common.cancel"),
        onclick: () => {
          grouping.merging = false;
          refresh();
          mergeBtn.focus();
        },
      }),
    ),
  );
  mergeForm.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      grouping.merging = false;
      refresh();
      mergeBtn.focus();
    }
  });

  // New theme (with the selected notes).
  const nameInput = h("input", { type: "text", id: "theme-name", maxlength: String(THEME_NAME_MAX * 2), autocomplete: "off", value: grouping.newName, "aria-describedby": "theme-create-hint" });
  nameInput.addEventListener("input", () => {
    grouping.newName = nameInput.value;
  });
  const colorSelect = colorPicker("theme-color", grouping.newColor || freshColor(state), (c) => {
    grouping.newColor = c;
  });
  const createHint = h("p", { class: "hint", id: "theme-create-hint" });
  const createBtn = h("button", { type: "submit", id: "theme-create", class: "btn btn-small btn-primary", text: t("themes.create") });
  const createForm = h(
    "form",
    {
      class: "theme-form",
      id: "theme-form",
      onsubmit: (e) => {
        e.preventDefault();
        const name = nameInput.value.trim();
        if (!name) {
          nameInput.focus();
          return;
        }
        const ideas = Array.from(grouping.selected).filter((id) => groupable(state, state.ideas.get(id)));
        createBtn.disabled = true;
        const retick = untick(ideas);
        ctx
          .act("theme.create", { name, color: colorSelect.value, ideas })
          .then(() => {
            grouping.newName = "";
            nameInput.value = "";
            grouping.newColor = null;
            ctx.toast(t("themes.created", { name }));
            refresh();
          })
          .catch(retick)
          .finally(() => {
            createBtn.disabled = false;
          });
      },
    },
    h("div", { class: "field" }, h("label", { for: "theme-name", text: t("themes.newName") }), nameInput),
    h("div", { class: "field field-color" }, h("label", { for: "theme-color", text: t("themes.color") }), colorSelect),
    createBtn,
    createHint,
  );

  // Suggested themes.
  const suggestBtn = h("button", { type: "button", id: "themes-suggest", class: "btn btn-small btn-secondary", "aria-describedby": "themes-suggest-hint" });
  suggestBtn.addEventListener("click", () => {
    grouping.suggesting = true;
    refresh();
    ctx
      .act("themes.suggest", {})
      .then((result) => {
        grouping.suggestions = ((result && result.suggestions) || []).map((s) => ({
          key: "s" + suggestionSeq++,
          name: s.name,
          draft: s.name,
          ideas: s.ideas || [],
        }));
        // A theme dissolved before the answer came has nothing to take the notes.
        grouping.additions = ((result && result.additions) || [])
          .filter((a) => state.themes.has(a.theme))
          .map((a) => ({ key: "a" + suggestionSeq++, theme: a.theme, name: state.themes.get(a.theme).name, ideas: a.ideas || [] }));
        ctx.toast(t("themes.suggested", { count: grouping.suggestions.length + grouping.additions.length }));
      })
      .catch(() => {})
      .finally(() => {
        grouping.suggesting = false;
        refresh();
        document.getElementById("suggestions-title")?.focus();
      });
  });
  const suggestList = h("ul", { class: "suggestions", id: "suggestion-list" });
  // The place of the card holding `el` in the list (before it changes).
  const cardAt = (el) => Array.from(suggestList.querySelectorAll("li.suggestion")).indexOf(el.closest("li.suggestion"));
  // After the card at `at` left the list (accepted): the Accept that can act of the card that took its
  // place or of a later one, else of the nearest one before, else "Suggest themes".
  const focusNextAccept = (at) => {
    const accepts = Array.from(suggestList.querySelectorAll("li.suggestion")).map((li) => li.querySelector("[data-focus=accept]:not([disabled])"));
    const from = Math.max(at, 0);
    const next = accepts.slice(from).find(Boolean) || accepts.slice(0, from).reverse().find(Boolean);
    (next || suggestBtn).focus();
  };
  // "Reject" on a suggestion or an addition: it leaves this console's list; the focus goes to the Reject
  // of the card that takes its place (the next one), else of the card before, else to "Suggest themes".
  const rejectButton = (label, remove) => {
    const button = h("button", {
      type: "button",
      class: "btn btn-small btn-ghost",
      "data-focus": "reject",
      text: t("themes.reject"),
      "aria-label": label,
      onclick: () => {
        const at = Array.from(suggestList.querySelectorAll("[data-focus=reject]")).indexOf(button);
        remove();
        refresh();
        const left = suggestList.querySelectorAll("[data-focus=reject]");
        (left[Math.min(Math.max(at, 0), left.length - 1)] || suggestBtn).focus();
      },
    });
    return button;
  };
  const suggestEmpty = h("p", { class: "empty", id: "suggestions-empty", text: t("themes.suggestEmpty") });
  const suggestClose = h("button", { type: "button", class: "btn btn-small btn-ghost", id: "suggestions-close", text: t("themes.suggestClose") });
  suggestClose.addEventListener("click", () => {
    grouping.suggestions = null;
    grouping.additions = null;
    refresh();
    suggestBtn.focus();
  });
  const suggestions = h(
    "section",
    { class: "suggestions-box", id: "suggestions", "aria-labelledby": "suggestions-title" },
    h("div", { class: "suggestions-head" }, h("h3", { class: "section-subtitle", id: "suggestions-title", tabindex: "-1", text: t("themes.suggestions") }), suggestClose),
    h("p", { class: "hint", text: t("themes.suggestionsHint") }),
    suggestEmpty,
    suggestList,
  );

  const toolbar = h(
    "div",
    { class: "themes-toolbar" },
    h("div", { class: "selection-bar" }, status, selectionTools),
    mergeForm,
    createForm,
    h("div", { class: "suggest-row" }, suggestBtn, h("p", { class: "hint", id: "themes-suggest-hint", text: t("themes.suggestHint") })),
    suggestions,
  );

  // --- Columns ----------------------------------------------------------------------------------------
  const columns = h("div", { class: "theme-columns", id: "theme-columns" });
  const noneTitle = h("h3", { class: "theme-col-title", id: "theme-none-title", text: t("themes.none") });
  const noneMove = h("button", { type: "button", class: "btn btn-small btn-secondary theme-move-here", id: "theme-move-none" });
  noneMove.addEventListener("click", () => moveTo(null, Array.from(grouping.selected)));
  const wallList = h("ul", { class: "notes notes-staff", id: "staff-wall" });
  const wallEmpty = h("p", { class: "empty", text: t("console.wallEmpty") });
  const none = h(
    "section",
    { class: "theme-none", id: "theme-none", "aria-labelledby": "theme-none-title" },
    h("div", { class: "theme-col-head" }, noneTitle, noneMove),
    wallEmpty,
    wallList,
  );
  dropZone(none, null);
  const board = h("div", { class: "themes-board" }, columns, none);

  const title = h("h2", { class: "section-title", id: "staff-wall-title" });
  const help = h("p", { class: "hint themes-help", id: "themes-help", text: t("themes.help") });
  const el = h("section", { class: "section themes-section", id: "themes", "aria-labelledby": "staff-wall-title" }, title, help, toolbar, board);

  function themeColumn() {
    const head = h("div", { class: "theme-col-head" });
    const list = h("ul", { class: "notes notes-staff notes-theme" });
    const empty = h("p", { class: "empty theme-drop-hint", text: t("themes.dropHere") });
    const col = h("section", { class: "theme-col" }, head, empty, list);
    col._head = head;
    col._list = list;
    col._empty = empty;
    dropZone(col);
    return col;
  }

  function updateColumn(col, { theme, ideas, dots }) {
    col.dataset.theme = theme.id;
    col.className = "theme-col theme-col-" + theme.color;
    col.setAttribute("aria-labelledby", "theme-title-" + theme.id);
    const renaming = grouping.renaming === theme.id;
    const dissolving = grouping.dissolving === theme.id;
    const selected = grouping.selected.size;
    // A theme with a note on the wall can be spotlighted on the room screen (#13).
    const onWall = ideas.some((i) => state.publiclyVisible(i));
    const sig = JSON.stringify([theme.name, theme.color, ideas.length, dots, renaming, dissolving, selected, onWall, isSpotlit(state, { theme: theme.id })]);
    renderRow(col._head, sig, () => {
      const label = short(theme.name, 40);
      const parts = [
        h("h3", { class: "theme-col-title", id: "theme-title-" + theme.id }, themeChip(theme, { count: ideas.length })),
        dots === null ? null : h("span", { class: "badge badge-dots", text: t("results.dots", { count: dots }) }),
      ];
      if (renaming) {
        const input = h("input", { type: "text", id: "theme-rename-input-" + theme.id, maxlength: String(THEME_NAME_MAX * 2), value: grouping.renameDraft, "data-focus": "rename-input" });
        input.addEventListener("input", () => {
          grouping.renameDraft = input.value;
        });
        input.addEventListener("keydown", (e) => {
          if (e.key === "Escape") {
            grouping.renaming = null;
            refresh();
            document.getElementById("theme-rename-" + theme.id)?.focus();
          }
        });
        parts.push(
          h(
            "form",
            {
              class: "theme-rename",
              onsubmit: (e) => {
                e.preventDefault();
                const name = input.value.trim();
                grouping.renaming = null;
                refresh();
                document.getElementById("theme-rename-" + theme.id)?.focus();
                if (name && name !== theme.name) ctx.act("theme.update", { theme: theme.id, name }).catch(() => {});
              },
            },
            h("label", { for: input.id, text: t("themes.renameLabel", { name: label }) }),
            input,
            h(
              "div",
              { class: "row-actions" },
              h("button", { type: "submit", class: "btn btn-small btn-primary", "data-focus": "rename-save", text: t("common.save") }),
              h("button", {
                type: "button",
                class: "btn btn-small btn-ghost",
                "data-focus": "rename-cancel",
                text: t("common.cancel"),
                onclick: () => {
                  grouping.renaming = null;
                  refresh();
                  document.getElementById("theme-rename-" + theme.id)?.focus();
                },
              }),
            ),
          ),
        );
      } else if (dissolving) {
        parts.push(
          h(
            "div",
            { class: "theme-dissolve-confirm" },
            h("p", { class: "confirm-text", text: t("themes.dissolveQuestion") }),
            h(
              "div",
              { class: "row-actions" },
              h("button", {
                type: "button",
                class: "btn btn-small btn-danger",
                id: "theme-dissolve-confirm-" + theme.id,
                "data-focus": "dissolve-yes",
                text: t("themes.dissolve"),
                onclick: () => {
                  grouping.dissolving = null;
                  ctx.act("theme.dissolve", { theme: theme.id }).then(() => ctx.toast(t("themes.dissolved", { name: theme.name }))).catch(() => {});
                  refresh();
                  document.getElementById("themes-suggest")?.focus();
                },
              }),
              h("button", {
                type: "button",
                class: "btn btn-small btn-ghost",
                "data-focus": "dissolve-no",
                text: t("common.cancel"),
                onclick: () => {
                  grouping.dissolving = null;
                  refresh();
                  document.getElementById("theme-dissolve-" + theme.id)?.focus();
                },
              }),
            ),
          ),
        );
      } else {
        const color = colorPicker("theme-color-" + theme.id, theme.color, (c) => ctx.act("theme.update", { theme: theme.id, color: c }).catch(() => {}), t("themes.colorOf", { name: label }));
        color.dataset.focus = "color";
        parts.push(
          h(
            "div",
            { class: "theme-col-actions" },
            selected
              ? h("button", {
                  type: "button",
                  class: "btn btn-small btn-secondary theme-move-here",
                  id: "theme-move-" + theme.id,
                  "data-focus": "move-here",
                  text: t("themes.moveHere", { count: selected }),
                  "aria-label": t("themes.moveHereLabel", { count: selected, name: label }),
                  onclick: () => moveTo(theme.id, Array.from(grouping.selected)),
                })
              : null,
            h("button", {
              type: "button",
              class: "btn btn-small btn-ghost",
              id: "theme-rename-" + theme.id,
              "data-focus": "rename",
              text: t("themes.rename"),
              "aria-label": t("themes.renameLabel", { name: label }),
              onclick: () => {
                grouping.renaming = theme.id;
                grouping.renameDraft = theme.name;
                grouping.dissolving = null;
                refresh();
                document.getElementById("theme-rename-input-" + theme.id)?.select();
              },
            }),
            color,
            onWall ? spotlightButton(ctx, state, { theme: theme.id }, theme.name) : null,
            h("button", {
              type: "button",
              class: "btn btn-small btn-danger-outline",
              id: "theme-dissolve-" + theme.id,
              "data-focus": "dissolve",
              text: t("themes.dissolve"),
              "aria-label": t("themes.dissolveLabel", { name: label }),
              onclick: () => {
                grouping.dissolving = theme.id;
                grouping.renaming = null;
                refresh();
                document.getElementById("theme-dissolve-confirm-" + theme.id)?.focus();
              },
            }),
          ),
        );
      }
      return parts;
    });
    show(col._empty, ideas.length === 0);
    syncNotes(col._list, ideas);
  }

  function updateSuggestion(li, s) {
    const ideas = s.ideas.map((id) => state.ideas.get(id)).filter((idea) => groupable(state, idea) && !idea.theme);
    li.className = "suggestion";
    renderRow(li, JSON.stringify([s.name, ideas.map((i) => i.text)]), () => {
      const inputId = "suggestion-name-" + s.key;
      const input = h("input", { type: "text", id: inputId, class: "suggestion-name", maxlength: String(THEME_NAME_MAX * 2), value: s.draft, "data-focus": "name" });
      input.addEventListener("input", () => {
        s.draft = input.value;
        // The buttons' labels name the theme as it will be created.
        const name = short(s.draft.trim() || s.name, 40);
        li.querySelector("[data-focus=accept]")?.setAttribute("aria-label", t("themes.acceptLabel", { name }));
        li.querySelector("[data-focus=reject]")?.setAttribute("aria-label", t("themes.rejectLabel", { name }));
      });
      return [
        h("label", { for: inputId, class: "suggestion-label", text: t("themes.suggestionName") }),
        input,
        h("ul", { class: "suggestion-notes" }, ideas.map((i) => h("li", { class: colorClass(i.color), text: i.text }))),
        // Every note it proposed was grouped or hidden meanwhile: nothing left to accept, say so.
        ideas.length ? null : h("p", { class: "empty suggestion-gone", text: t("themes.suggestionGone") }),
        h(
          "div",
          { class: "row-actions" },
          h("button", {
            type: "button",
            class: "btn btn-small btn-primary",
            "data-focus": "accept",
            text: t("themes.accept"),
            "aria-label": t("themes.acceptLabel", { name: short(s.draft || s.name, 40) }),
            disabled: ideas.length === 0,
            onclick: (event) => {
              const at = cardAt(event.currentTarget);
              const name = input.value.trim() || s.name;
              const ids = s.ideas.filter((id) => {
                const idea = state.ideas.get(id);
                return groupable(state, idea) && !idea.theme;
              });
              if (!ids.length) {
                ctx.toast(t("themes.suggestionGone"));
                grouping.suggestions = grouping.suggestions.filter((x) => x !== s);
                refresh();
                focusNextAccept(at);
                return;
              }
              ctx
                .act("theme.create", { name, color: freshColor(state), ideas: ids })
                .then(() => {
                  grouping.suggestions = (grouping.suggestions || []).filter((x) => x !== s);
                  ctx.toast(t("themes.created", { name }));
                  refresh();
                  focusNextAccept(at);
                })
                .catch(() => {});
            },
          }),
          rejectButton(t("themes.rejectLabel", { name: short(s.draft || s.name, 40) }), () => {
            grouping.suggestions = grouping.suggestions.filter((x) => x !== s);
          }),
        ),
      ];
    });
  }

  // The notes of an addition that can still go into its theme: on the wall and in no theme.
  function additionIdeas(a) {
    if (!state.themes.has(a.theme)) return [];
    return a.ideas.map((id) => state.ideas.get(id)).filter((idea) => groupable(state, idea) && !idea.theme);
  }

  function dropAddition(a) {
    grouping.additions = (grouping.additions || []).filter((x) => x !== a);
  }

  // Notes proposed for an existing theme: each can be left out, then the rest accepted (theme.assign).
  function updateAddition(li, a) {
    const theme = state.themes.get(a.theme);
    if (theme) a.name = theme.name; // renamed meanwhile: its new name
    const ideas = additionIdeas(a);
    li.className = "suggestion suggestion-addition" + (theme ? " suggestion-" + theme.color : "");
    renderRow(li, JSON.stringify(["add", a.name, theme ? theme.color : null, ideas.map((i) => [i.id, i.text, i.color])]), () => {
      const name = short(a.name, 40);
      // After a note is left out: the next note's button, else Accept (Reject when nothing is left).
      const focusAfter = (index) => {
        const leave = li.querySelectorAll("[data-leave]");
        (leave[index] || li.querySelector("[data-focus=accept]:not([disabled])") || li.querySelector("[data-focus=reject]"))?.focus();
      };
      return [
        h("h4", { class: "suggestion-title" }, theme ? h("span", { class: "theme-swatch " + swatchClass(theme.color), "aria-hidden": "true" }) : null, h("span", { text: t("themes.additionTitle", { name }) })),
        ideas.length
          ? h(
              "ul",
              { class: "suggestion-notes" },
              ideas.map((idea, index) =>
                h(
                  "li",
                  { class: "suggestion-note " + colorClass(idea.color) },
                  h("span", { class: "suggestion-note-text", text: idea.text }),
                  h("button", {
                    type: "button",
                    class: "btn btn-small btn-ghost suggestion-leave",
                    "data-focus": "leave-" + idea.id,
                    "data-leave": idea.id,
                    text: t("themes.leaveOut"),
                    "aria-label": t("themes.leaveOutLabel", { text: short(idea.text, 60) }),
                    onclick: () => {
                      a.ideas = a.ideas.filter((id) => id !== idea.id);
                      refresh();
                      focusAfter(index);
                    },
                  }),
                ),
              ),
            )
          : null,
        // The theme was dissolved, or every note it proposed was grouped, hidden or left out: say so.
        theme ? null : h("p", { class: "empty suggestion-gone", text: t("themes.additionThemeGone") }),
        theme && !ideas.length ? h("p", { class: "empty suggestion-gone", text: t("themes.additionGone") }) : null,
        h(
          "div",
          { class: "row-actions" },
          h("button", {
            type: "button",
            class: "btn btn-small btn-primary",
            "data-focus": "accept",
            text: t("themes.accept"),
            "aria-label": t("themes.acceptAdditionLabel", { name }),
            disabled: ideas.length === 0,
            onclick: (event) => {
              const at = cardAt(event.currentTarget);
              const ids = additionIdeas(a).map((i) => i.id);
              if (!ids.length) {
                ctx.toast(t("themes.additionGone"));
                dropAddition(a);
                refresh();
                focusNextAccept(at);
                return;
              }
              ctx
                .act("theme.assign", { theme: a.theme, ideas: ids })
                .then((result) => {
                  dropAddition(a);
                  const count = result && Array.isArray(result.ideas) ? result.ideas.length : ids.length;
                  ctx.toast(t("themes.added", { count, name: a.name }));
                  refresh();
                  focusNextAccept(at);
                })
                .catch(() => {});
            },
          }),
          rejectButton(t("themes.rejectAdditionLabel", { name }), () => dropAddition(a)),
        ),
      ];
    });
  }

  // --- Update -------------------------------------------------------------------------------------------
  function update(wallIdeas, { titleText, voteRound }) {
    setText(title, titleText);
    const themes = Array.from(state.themes.values());
    // Each theme column shows every note it holds (from any round); the "No theme" area the wall's others.
    const every = Array.from(state.ideas.values());
    const columnsData = themes.map((theme) => {
      const ideas = every.filter((i) => themeOf(i) === theme.id && i.state !== "merged" && i.state !== "pending");
      let dots = null;
      if (voteRound) {
        const v = state.votes.get(voteRound.id);
        const totals = (v && v.totals) || {};
        dots = voteRound.target === "themes" ? totals[theme.id] || 0 : ideas.reduce((sum, i) => sum + (totals[i.id] || 0), 0);
      }
      return { theme, ideas, dots };
    });
    const loose = wallIdeas.filter((i) => !themeOf(i) || !state.themes.has(themeOf(i)));

    // Forget selections that can no longer be grouped (hidden, merged, withdrawn).
    for (const id of Array.from(grouping.selected)) if (!groupable(state, state.ideas.get(id))) grouping.selected.delete(id);
    const count = grouping.selected.size;
    if (count < 2) grouping.merging = false;
    const canGroup = wallIdeas.some((i) => groupable(state, i)) || themes.length > 0;
    show(help, canGroup);
    show(toolbar, canGroup);
    setText(status, count ? t("themes.selected", { count }) : t("themes.selectHint"));

    // Move-to choices: every theme, then "No theme".
    const options = [...themes.map((th) => [th.id, th.name]), ["", t("themes.none")]];
    const optSig = JSON.stringify(options);
    if (moveSelect._sig !== optSig) {
      moveSelect._sig = optSig;
      moveSelect.replaceChildren(...options.map(([value, text]) => h("option", { value, text })));
    }
    if (options.some(([v]) => v === grouping.moveTarget)) moveSelect.value = grouping.moveTarget;
    else grouping.moveTarget = moveSelect.value;
    moveBtn.disabled = count === 0;
    mergeBtn.disabled = count < 2;
    mergeBtn.setAttribute("aria-expanded", String(grouping.merging));
    clearBtn.disabled = count === 0;
    setText(createHint, count ? t("themes.createWithSelected", { count }) : t("themes.createHint"));
    if (!grouping.newColor) colorSelect.value = freshColor(state);

    show(mergeForm, grouping.merging);
    if (grouping.merging) {
      const ids = Array.from(grouping.selected);
      if (!ids.includes(grouping.mergeInto)) grouping.mergeInto = ids[0];
      renderRow(mergeChoices, JSON.stringify([ids, grouping.mergeInto, ids.map((id) => state.ideas.get(id)?.text)]), () =>
        ids.map((id) => {
          const idea = state.ideas.get(id);
          const input = h("input", { type: "radio", name: "merge-into", id: "merge-into-" + id, value: id, checked: id === grouping.mergeInto, "data-focus": "into-" + id });
          input.addEventListener("change", () => {
            grouping.mergeInto = id;
          });
          return h("div", { class: "check merge-choice" }, input, h("label", { for: input.id }, h("span", { class: "merge-choice-text", text: short(idea.text, 120) }), h("span", { class: "hint", text: idea.author_name || "" })));
        }),
      );
      setText(mergeError, grouping.mergeError);
      show(mergeError, Boolean(grouping.mergeError));
    }

    setText(suggestBtn, grouping.suggesting ? t("themes.suggesting") : t("themes.suggest"));
    suggestBtn.disabled = grouping.suggesting;
    show(suggestions, grouping.suggestions !== null);
    if (grouping.suggestions) {
      // The additions to existing themes first, then the new groups.
      const items = [...(grouping.additions || []), ...grouping.suggestions];
      show(suggestEmpty, items.length === 0);
      syncList(suggestList, items, (s) => s.key, () => h("li", { class: "suggestion" }), (li, s) => (s.theme ? updateAddition(li, s) : updateSuggestion(li, s)));
    }

    syncList(columns, columnsData, (c) => c.theme.id, themeColumn, updateColumn);
    show(columns, columnsData.length > 0);
    show(noneTitle, themes.length > 0);
    none.classList.toggle("has-themes", themes.length > 0);
    show(noneMove, count > 0 && themes.length > 0);
    // Hidden with nothing selected: no "Move 0 here: the selected note…" left in its text or its label.
    setText(noneMove, count > 0 ? t("themes.moveHere", { count }) : "");
    if (count > 0) noneMove.setAttribute("aria-label", t("themes.moveOutLabel", { count }));
    else noneMove.removeAttribute("aria-label");
    show(wallEmpty, loose.length === 0 && columnsData.length === 0);
    syncNotes(wallList, loose);
  }

  return { el, update, select };
}

/** A colour choice for a theme: a labelled select of the six note colours. */
function colorPicker(id, value, onChange, ariaLabel = null) {
  const select = h("select", { id, class: "color-select", "aria-label": ariaLabel }, COLORS.map((c) => h("option", { value: c, selected: c === value, text: t("color." + c) })));
  select.value = value;
  select.addEventListener("change", () => onChange(select.value));
  return select;
}

// The staff's side of the follow-up, in the console: the brand on staff replies, replies waiting for
// approval, theme statuses, the selection (criteria, jurors, evaluations and their results),
// announcements, the satisfaction pulse and the contributors list.

import { h, renderRow, setChildren, show, syncList } from "../dom.js";
import { formatNumber, t } from "../i18n.js";
import { linkRow } from "./landing.js";
import { themeChip } from "./parts.js";
import {
  announcementsList,
  formatScore,
  formatWhen,
  fu,
  pulseFigures,
  repliesList,
  resultsTable,
  stackedTable,
  scoringForm,
  short,
  statusControl,
  statusLine,
} from "./followup.js";

// Kept across re-renders and a language switch.
const draft = {
  brand: null,
  criteria: null, // [{name, description, weight}]
  jury: "staff",
  announceKind: "update",
  announceText: "",
  credit: new Set(),
  pulseQuestion: "",
  juryLabel: "",
  scoresOpen: false,
  creditVersion: 0,
  open: null, // the follow-up panel: null = open once there is something to follow up
};

export function buildConsoleFollowup(ctx, state, refresh) {
  const session = ctx.session;
  const act = (type, fields) => ctx.act(type, fields);
  const card = (id, titleKey, ...children) =>
    h("section", { class: "card followup-card", id, "aria-labelledby": id + "-title" }, h("h3", { class: "section-title", id: id + "-title", text: t(titleKey) }), ...children);

  // --- The brand (shown on staff replies) ---
  const brandInput = h("input", { type: "text", id: "room-brand", maxlength: "200", autocomplete: "organization", "aria-describedby": "room-brand-hint" });
  brandInput.addEventListener("input", () => {
    draft.brand = brandInput.value;
  });
  const brandCard = card(
    "brand-card",
    "brand.title",
    h(
      "form",
      {
        class: "invite-form",
        onsubmit: (e) => {
          e.preventDefault();
          const brand = brandInput.value.trim();
          act("room.set", { brand })
            .then(() => {
              draft.brand = null;
              ctx.toast(t("brand.saved"));
            })
            .catch(() => {});
        },
      },
      h("label", { for: "room-brand", text: t("brand.label") }),
      h("div", { class: "invite-create" }, brandInput, h("button", { type: "submit", id: "room-brand-save", class: "btn btn-small btn-primary", text: t("common.save") })),
      h("p", { class: "hint", id: "room-brand-hint", text: t("brand.hint") }),
    ),
  );

  // --- Replies waiting for approval ---
  const pendingBox = h("div", { id: "pending-replies" });
  const repliesCard = card("replies-card", "reply.pendingTitle", pendingBox);

  // --- Theme statuses ---
  const themeList = h("ul", { class: "rows", id: "theme-status-list" });
  const themesCard = card("theme-status-card", "followup.themesTitle", h("p", { class: "hint", text: t("followup.themesHint") }), themeList);

  // --- Criteria ---
  const criteriaShown = h("div", { id: "criteria-current" });
  const criteriaRows = h("div", { class: "stack", id: "criteria-rows" });
  const criteriaError = h("p", { class: "form-error", role: "alert", id: "criteria-error", hidden: true });
  const criteriaLocked = h("p", { class: "hint", id: "criteria-locked", text: t("selection.criteriaLocked") });
  const addCriterion = h("button", { type: "button", id: "criterion-add", class: "btn btn-small btn-ghost", text: t("selection.addCriterion") });
  const publishCriteria = h("button", { type: "submit", id: "criteria-publish", class: "btn btn-small btn-primary", text: t("selection.publish") });
  const criteriaForm = h(
    "form",
    {
      class: "stack",
      id: "criteria-form",
      novalidate: true,
      onsubmit: (e) => {
        e.preventDefault();
        criteriaError.hidden = true;
        const criteria = draft.criteria
          .map((k) => ({ name: k.name.trim(), description: k.description.trim(), weight: Math.min(10, Math.max(1, Math.round(Number(k.weight) || 1))) }))
          .filter((k) => k.name);
        if (!criteria.length) {
          criteriaError.textContent = t("selection.criteriaRequired");
          criteriaError.hidden = false;
          document.getElementById("criterion-name-0")?.focus();
          return;
        }
        act("criteria.set", { criteria })
          .then(() => ctx.toast(t("selection.published")))
          .catch(() => {});
      },
    },
    h("p", { class: "hint", text: t("selection.criteriaHint") }),
    criteriaRows,
    criteriaError,
    h("div", { class: "row-actions" }, addCriterion, publishCriteria),
  );
  function criteriaDraftFromState() {
    draft.criteria = state.criteria.length ? state.criteria.map((k) => ({ name: k.name, description: k.description || "", weight: k.weight })) : [{ name: "", description: "", weight: 1 }];
  }
  function renderCriteriaRows() {
    if (!draft.criteria) criteriaDraftFromState();
    setChildren(
      criteriaRows,
      draft.criteria.map((k, i) => {
        const bind = (key) => (e) => {
          k[key] = e.target.value;
        };
        return h(
          "fieldset",
          { class: "criterion-row" },
          h("legend", { text: t("selection.criterionN", { n: i + 1 }) }),
          h(
            "div",
            { class: "field-row" },
            h("div", { class: "field field-grow" }, h("label", { for: "criterion-name-" + i, text: t("selection.name") }), h("input", { type: "text", id: "criterion-name-" + i, maxlength: "60", value: k.name, oninput: bind("name") })),
            h("div", { class: "field" }, h("label", { for: "criterion-weight-" + i, text: t("selection.weightLabel") }), h("input", { type: "number", id: "criterion-weight-" + i, min: "1", max: "10", class: "input-short", value: String(k.weight), oninput: bind("weight") })),
          ),
          h("div", { class: "field" }, h("label", { for: "criterion-desc-" + i, text: t("selection.description") }), h("input", { type: "text", id: "criterion-desc-" + i, maxlength: "280", value: k.description, oninput: bind("description") })),
          draft.criteria.length > 1
            ? h("button", {
                type: "button",
                class: "btn btn-small btn-ghost",
                text: t("selection.removeCriterion"),
                "aria-label": t("selection.removeCriterionLabel", { n: i + 1 }),
                onclick: () => {
                  draft.criteria.splice(i, 1);
                  renderCriteriaRows();
                  document.getElementById("criterion-name-" + Math.max(0, i - 1))?.focus();
                },
              })
            : null,
        );
      }),
    );
  }
  addCriterion.addEventListener("click", () => {
    draft.criteria.push({ name: "", description: "", weight: 1 });
    renderCriteriaRows();
    document.getElementById("criterion-name-" + (draft.criteria.length - 1))?.focus();
  });
  renderCriteriaRows();
  const criteriaCard = card("criteria-card", "selection.criteriaTitle", criteriaShown, criteriaLocked, criteriaForm);

  // --- Jurors ---
  const jurorList = h("ul", { class: "rows", id: "juror-list" });
  const juryInviteLabel = h("input", { type: "text", id: "jury-invite-label", maxlength: String(Number(ctx.limits().label_max) || 100), autocomplete: "off", value: draft.juryLabel, oninput: (e) => (draft.juryLabel = e.target.value) });
  const juryInvites = h("ul", { class: "rows", id: "jury-invite-list" });
  const juryCard = card(
    "jurors-card",
    "selection.jurorsTitle",
    h("p", { class: "hint", text: t("selection.jurorsHint") }),
    jurorList,
    h(
      "form",
      {
        class: "invite-form",
        onsubmit: (e) => {
          e.preventDefault();
          act("invite.create", { role: "juror", label: juryInviteLabel.value.trim() })
            .then((result) => {
              const invite = result && result.invite;
              if (invite) state.invites.set(invite.id, { ...state.invites.get(invite.id), ...invite });
              juryInviteLabel.value = "";
              draft.juryLabel = "";
              refresh();
            })
            .catch(() => {});
        },
      },
      h("label", { for: "jury-invite-label", text: t("selection.juryInviteLabel") }),
      h("div", { class: "invite-create" }, juryInviteLabel, h("button", { type: "submit", id: "jury-invite-create", class: "btn btn-small btn-secondary", text: t("selection.juryInviteCreate") })),
    ),
    juryInvites,
  );
  function updateJurorRow(li, m) {
    renderRow(li, JSON.stringify([m.name, m.juror, m.online]), () => {
      const id = "juror-" + m.id;
      return h(
        "div",
        { class: "check" },
        h("input", { type: "checkbox", id, checked: Boolean(m.juror), "data-focus": "juror", onchange: (e) => act("member.jury", { member: m.id, juror: e.target.checked }).catch(() => refresh()) }),
        h("label", { for: id, text: t("selection.jurorOf", { name: m.name }) }),
      );
    });
  }
  function updateJuryInvite(li, v) {
    const status = v.revoked ? t("console.inviteRevoked") : v.member ? t("console.inviteUsed", { name: (state.members.get(v.member) || {}).name || v.member }) : t("console.inviteUnused");
    renderRow(li, JSON.stringify([v.label, status, v.token || "", v.revoked]), () => [
      h("div", { class: "row-main" }, h("span", { class: "row-name", text: v.label || t("console.inviteNoLabel", { id: v.id }) }), h("span", { class: "badge", text: status })),
      !v.revoked && v.token ? linkRow({ id: "jury-invite-link-" + v.id, labelKey: "selection.juryInviteLink", url: `${location.origin}/j/${encodeURIComponent(ctx.code)}#invite=${v.token}`, open: false, ctx }) : null,
    ]);
  }

  // --- Evaluations ---
  const evalBox = h("div", { class: "stack", id: "evaluation-box" });
  const evalCard = card("evaluation-card", "selection.evaluationTitle", evalBox);
  const juryChoice = () =>
    h(
      "fieldset",
      { class: "segmented", id: "evaluation-jury" },
      h("legend", { text: t("selection.jury") }),
      ["staff", "jurors", "staff_and_jurors"].map((k) =>
        h(
          "span",
          { class: "seg" },
          h("input", { type: "radio", name: "evaluation-jury", id: "evaluation-jury-" + k, value: k, checked: draft.jury === k, onchange: () => (draft.jury = k) }),
          h("label", { for: "evaluation-jury-" + k, text: t("selection.jury_" + k) }),
        ),
      ),
    );
  function evaluationView(isFac) {
    const open = state.openEvaluation;
    const closed = Array.from(state.evaluations.values()).filter((e) => e.status === "closed");
    const parts = [];
    if (open) {
      const ideas = open.ideas.map((id) => state.ideas.get(id)).filter(Boolean);
      const size = open.jury_size || 0;
      parts.push(
        h("p", { class: "hint", text: t("selection.openSince", { time: formatWhen(open.opened_at), jury: t("selection.jury_" + open.jury) }) }),
        h(
          "ul",
          { class: "rows", id: "evaluation-progress", "aria-live": "polite" },
          ideas.map((idea) => {
            const n = (open.progress && open.progress[idea.id]) || 0;
            return h(
              "li",
              { class: "row progress-row", dataset: { idea: idea.id } },
              h("span", { class: "row-name", text: short(idea.text, 80) }),
              h("progress", { max: String(Math.max(1, size)), value: String(n), "aria-label": t("selection.progressLabel", { text: short(idea.text, 40) }) }),
              h("span", { class: "progress-text", text: t("selection.progress", { count: n, size }) }),
            );
          }),
        ),
      );
      if (state.isJurorOf(open)) {
        parts.push(h("h4", { class: "section-subtitle", text: t("selection.yourScores") }), ideas.map((idea) => scoringForm(ctx, open, idea, { refresh, idPrefix: "score" })));
      }
      if (isFac) parts.push(h("div", { class: "row-actions" }, h("button", { type: "button", id: "evaluation-close", class: "btn btn-small btn-danger-outline", text: t("selection.close"), onclick: () => act("evaluation.close").catch(() => {}) })));
    } else if (isFac) {
      const shortlisted = Array.from(state.ideas.values()).filter((i) => i.status === "shortlisted" && state.publiclyVisible(i));
      parts.push(
        h(
          "form",
          {
            class: "stack",
            id: "evaluation-form",
            onsubmit: (e) => {
              e.preventDefault();
              act("evaluation.open", { jury: draft.jury }).catch(() => {});
            },
          },
          h("p", { class: "hint", id: "evaluation-hint", text: state.criteria.length ? t("selection.openHint", { count: shortlisted.length }) : t("selection.needCriteria") }),
          juryChoice(),
          h("div", { class: "row-actions" }, h("button", { type: "submit", id: "evaluation-open", class: "btn btn-small btn-primary", disabled: !state.criteria.length || !shortlisted.length, "aria-describedby": "evaluation-hint", text: t("selection.open") })),
        ),
      );
    } else if (!closed.length) parts.push(h("p", { class: "empty", text: t("selection.noEvaluation") }));
    const latest = closed[closed.length - 1];
    if (latest) {
      parts.push(h("h4", { class: "section-subtitle", text: t("selection.resultsOf", { time: formatWhen(latest.closed_at), count: latest.jurors || 0 }) }), resultsTable(latest, { id: "evaluation-results" }));
      if (latest.scores && latest.scores.length) {
        const kids = latest.criteria || [];
        parts.push(
          h(
            "details",
            { class: "scores-details", id: "evaluation-scores", open: draft.scoresOpen, ontoggle: (e) => (draft.scoresOpen = e.currentTarget.open) },
            h("summary", { text: t("selection.individual") }),
            stackedTable({
              label: t("selection.individual"),
              head: [t("selection.juror"), t("selection.idea"), ...kids.map((k) => k.name)],
              rows: latest.scores.map((s) => {
                const idea = state.ideas.get(s.idea);
                return { key: null, cells: [[s.name, { header: true }], [idea ? short(idea.text, 60) : s.idea], ...kids.map((k) => [formatScore(s.scores[k.id])])] };
              }),
            }),
          ),
        );
      }
    }
    return parts;
  }

  // --- Announcements ---
  const announceText = h("textarea", { id: "announce-text", rows: "3", maxlength: "8000", oninput: (e) => (draft.announceText = e.target.value) });
  announceText.value = draft.announceText;
  const creditBox = h("fieldset", { class: "credit-box", id: "announce-credit" });
  const announceList = h("div", { id: "announce-history" });
  const kinds = ["update", "thanks"].map((k) =>
    h(
      "span",
      { class: "seg" },
      h("input", {
        type: "radio",
        name: "announce-kind",
        id: "announce-kind-" + k,
        value: k,
        checked: draft.announceKind === k,
        onchange: () => {
          draft.announceKind = k;
          refresh();
        },
      }),
      h("label", { for: "announce-kind-" + k, text: t(k === "thanks" ? "announce.kindThanks" : "announce.kindUpdate") }),
    ),
  );
  const announceCard = card(
    "announce-card",
    "announce.staffTitle",
    h(
      "form",
      {
        class: "stack",
        id: "announce-form",
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          const text = announceText.value.trim();
          if (!text) {
            announceText.focus();
            return;
          }
          const cmd = { kind: draft.announceKind, text };
          if (draft.announceKind === "thanks") cmd.credit = Array.from(draft.credit);
          act("room.announce", cmd)
            .then(() => {
              draft.announceText = "";
              announceText.value = "";
              draft.credit.clear();
              draft.creditVersion += 1;
              ctx.toast(t("announce.posted"));
              refresh();
            })
            .catch(() => {});
        },
      },
      h("fieldset", { class: "segmented" }, h("legend", { text: t("announce.kind") }), kinds),
      h("div", { class: "field" }, h("label", { for: "announce-text", text: t("announce.text") }), announceText, h("p", { class: "hint", text: t("announce.hint") })),
      creditBox,
      h("div", { class: "row-actions" }, h("button", { type: "submit", id: "announce-post", class: "btn btn-small btn-primary", text: t("announce.post") })),
    ),
    announceList,
  );
  /** Whom a thanks can name: every active participant credited on an idea that is not hidden. */
  function creditable() {
    const ids = new Set();
    for (const idea of state.ideas.values()) {
      if (idea.state === "hidden" || idea.state === "merged") continue;
      if (idea.author) ids.add(idea.author);
      for (const c of idea.coauthors || []) ids.add(c.id);
    }
    return Array.from(ids)
      .map((id) => state.members.get(id))
      .filter((m) => m && m.status === "active" && m.role === "participant")
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  // --- The satisfaction pulse ---
  const pulseQuestion = h("input", { type: "text", id: "pulse-question", maxlength: "1000", value: draft.pulseQuestion, placeholder: t("pulse.defaultQuestion"), oninput: (e) => (draft.pulseQuestion = e.target.value) });
  const pulseOpenForm = h(
    "form",
    {
      class: "stack",
      id: "pulse-open-form",
      onsubmit: (e) => {
        e.preventDefault();
        act("pulse.open", { question: pulseQuestion.value.trim() })
          .then(() => {
            draft.pulseQuestion = "";
            pulseQuestion.value = "";
            // The form hides under the focus (the question is open): the focus goes to what closes it.
            refresh();
            document.getElementById("pulse-close")?.focus();
          })
          .catch(() => {});
      },
    },
    h("div", { class: "field" }, h("label", { for: "pulse-question", text: t("pulse.question") }), pulseQuestion),
    h("div", { class: "row-actions" }, h("button", { type: "submit", id: "pulse-open", class: "btn btn-small btn-primary", text: t("pulse.open") })),
  );
  // Not a live region: it is drawn again on each answer, and a screen reader would read the whole card
  // (question, figures, every comment so far) once per answer.
  const pulseLive = h("div", { class: "stack", id: "pulse-live" });
  const pulseCard = card("pulse-staff-card", "pulse.staffTitle", pulseOpenForm, pulseLive);

  // --- Contributors ---
  const contribBox = h("div", { id: "contributors-box" });
  const contribRefresh = h("button", { type: "button", id: "contributors-refresh", class: "btn btn-small btn-secondary", text: t("contributors.load") });
  let contribLoading = false;
  async function loadContributors() {
    if (contribLoading) return;
    contribLoading = true;
    contribRefresh.disabled = true;
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(ctx.code)}/contributors`, { headers: { accept: "application/json", authorization: "Bearer " + session.token } });
      if (!response.ok) throw new Error("contributors " + response.status);
      const { contributors } = await response.json();
      renderContributors(contributors || []);
      contribRefresh.textContent = t("contributors.refresh");
    } catch {
      ctx.toast(t("contributors.failed"), "error");
    } finally {
      contribLoading = false;
      contribRefresh.disabled = false;
    }
  }
  function renderContributors(rows) {
    setChildren(
      contribBox,
      rows.length
        ? h(
            "div",
            { class: "table-wrap", tabindex: "0", role: "region", "aria-label": t("contributors.title") },
            h(
              "table",
              { class: "results-table", id: "contributors-table" },
              h("thead", {}, h("tr", {}, ["contributors.name", "contributors.ideas", "contributors.dots", "contributors.shortlisted", "contributors.adopted"].map((k) => h("th", { scope: "col", text: t(k) })))),
              h("tbody", {}, rows.map((r) => h("tr", {}, h("th", { scope: "row", text: r.name }), [r.ideas, r.dots, r.shortlisted, r.adopted].map((n) => h("td", { text: formatNumber(n) }))))),
            ),
          )
        : h("p", { class: "empty", text: t("contributors.empty") }),
    );
  }
  contribRefresh.addEventListener("click", loadContributors);
  const contribCard = card("contributors-card", "contributors.title", h("p", { class: "hint", text: t("contributors.hint") }), contribRefresh, contribBox);

  // The panel folds away while nothing has been followed up yet (the wall is what matters during the
  // rounds); it opens by itself once the session ended or anything of the follow-up exists.
  const grid = h("div", { class: "followup-grid", id: "followup-grid" }, repliesCard, criteriaCard, juryCard, evalCard, themesCard, announceCard, pulseCard, contribCard, brandCard);
  const toggle = h("button", {
    type: "button",
    id: "followup-toggle",
    class: "btn btn-small btn-secondary",
    "aria-expanded": "false",
    "aria-controls": "followup-grid",
    onclick: () => {
      draft.open = !isOpen();
      refresh();
      if (draft.open) document.getElementById("followup-title")?.scrollIntoView({ block: "start" });
    },
  });
  const el = h(
    "section",
    { class: "section followup", id: "followup", "aria-labelledby": "followup-title" },
    h("div", { class: "followup-head" }, h("h2", { class: "section-title", id: "followup-title", text: t("followup.title") }), toggle),
    h("p", { class: "hint", text: t("followup.lead") }),
    grid,
  );
  function isOpen() {
    if (draft.open !== null) return draft.open;
    const room = state.room || {};
    return (
      room.phase === "ended" ||
      Boolean(room.brand) ||
      state.criteria.length > 0 ||
      state.evaluations.size > 0 ||
      state.pulses.size > 0 ||
      state.announcements.length > 0 ||
      state.replies.size > 0 ||
      Array.from(state.ideas.values()).some((i) => i.history && i.history.length)
    );
  }

  return {
    el,
    update(isFac) {
      const room = state.room || {};
      const open = isOpen();
      show(grid, open);
      toggle.setAttribute("aria-expanded", String(open));
      toggle.textContent = open ? t("followup.hide") : t("followup.show");
      if (!open) return;
      // Brand.
      if (draft.brand === null && document.activeElement !== brandInput && brandInput.value !== (room.brand || "")) brandInput.value = room.brand || "";

      // Replies waiting for approval (any idea).
      const pending = Array.from(state.replies.values()).filter((r) => r.state === "pending");
      show(repliesCard, pending.length > 0 || Boolean(room.approval_queue));
      renderRow(pendingBox, JSON.stringify(pending), () => [
        pending.length
          ? pending.map((r) => {
              const idea = state.ideas.get(r.idea);
              return h("div", { class: "pending-reply" }, h("p", { class: "hint", text: t("reply.on", { text: idea ? short(idea.text, 60) : r.idea }) }), repliesList(ctx, state, [r], { staff: true }));
            })
          : h("p", { class: "empty", text: t("reply.pendingEmpty") }),
      ]);

      // Theme statuses.
      const themes = Array.from(state.themes.values());
      show(themesCard, themes.length > 0);
      syncList(themeList, themes, (th) => th.id, () => h("li", { class: "row theme-status-row" }), (li, theme) => {
        const open = Boolean(fu.status && fu.status.kind === "theme" && fu.status.id === theme.id);
        renderRow(li, JSON.stringify([theme.name, theme.color, theme.status, theme.history, open]), () => [
          h("div", { class: "row-main" }, themeChip(theme), statusLine(theme)),
          statusControl(ctx, theme, "theme", { refresh }),
        ]);
      });

      // Criteria (the facilitator edits them; they are fixed while an evaluation is open).
      const evaluating = state.openEvaluation;
      renderRow(criteriaShown, JSON.stringify(state.criteria), () =>
        state.criteria.length
          ? h(
              "ul",
              { class: "criteria-list", id: "criteria-list" },
              state.criteria.map((k) => h("li", {}, h("strong", { text: k.name }), " ", h("span", { class: "badge", text: t("selection.weight", { weight: k.weight }) }), k.description ? h("span", { class: "hint", text: " " + k.description }) : null)),
            )
          : h("p", { class: "empty", text: t("selection.noCriteria") }),
      );
      show(criteriaForm, isFac && !evaluating);
      show(criteriaLocked, isFac && Boolean(evaluating));

      // Jurors (facilitator).
      show(juryCard, isFac);
      if (isFac) {
        const participants = Array.from(state.members.values()).filter((m) => m.role === "participant" && m.status === "active");
        syncList(jurorList, participants, (m) => m.id, () => h("li", { class: "row" }), updateJurorRow);
        const invites = Array.from(state.invites.values()).filter((v) => v.role === "juror");
        syncList(juryInvites, invites, (v) => v.id, () => h("li", { class: "row invite-row" }), updateJuryInvite);
      }

      // Evaluations.
      const evals = Array.from(state.evaluations.values());
      const shortlisted = Array.from(state.ideas.values()).filter((i) => i.status === "shortlisted" && state.publiclyVisible(i)).map((i) => [i.id, i.text]);
      renderRow(evalBox, JSON.stringify([isFac, evals, state.criteria, shortlisted, evaluating ? evaluating.ideas.map((id) => state.ideas.get(id)?.text) : null]), () => evaluationView(isFac));

      // Announcements.
      const thanks = draft.announceKind === "thanks";
      const people = thanks ? creditable() : [];
      renderRow(creditBox, JSON.stringify([thanks, people.map((m) => [m.id, m.name]), draft.creditVersion]), () =>
        thanks
          ? [
              h("legend", { text: t("announce.credit") }),
              people.length
                ? people.map((m) =>
                    h(
                      "div",
                      { class: "check" },
                      h("input", { type: "checkbox", id: "credit-" + m.id, checked: draft.credit.has(m.id), onchange: (e) => (e.target.checked ? draft.credit.add(m.id) : draft.credit.delete(m.id)) }),
                      h("label", { for: "credit-" + m.id, text: m.name }),
                    ),
                  )
                : h("p", { class: "empty", text: t("announce.nobody") }),
            ]
          : [],
      );
      show(creditBox, thanks);
      renderRow(announceList, JSON.stringify(state.announcements), () =>
        state.announcements.length ? [h("h4", { class: "section-subtitle", text: t("announce.history") }), announcementsList(state.announcements, { id: "announce-list" })] : [],
      );

      // The pulse.
      const pulse = state.openPulse;
      const pulses = Array.from(state.pulses.values());
      const shown = pulse || pulses[pulses.length - 1] || null;
      show(pulseOpenForm, !pulse);
      renderRow(pulseLive, JSON.stringify(shown), () => {
        if (!shown) return [];
        const comments = (shown.answers || []).filter((a) => a.comment);
        return [
          h("p", { class: "pulse-question" }, h("span", { class: "badge" + (pulse ? " badge-live" : ""), text: pulse ? t("pulse.isOpen") : t("pulse.isClosed") }), " ", shown.question || t("pulse.defaultQuestion")),
          pulseFigures(shown, { id: "pulse-figures" }),
          comments.length
            ? h(
                "ul",
                { class: "pulse-comments", id: "pulse-comments", "aria-label": t("pulse.comments") },
                comments.map((a) => h("li", {}, h("span", { class: "reply-name", text: t("pulse.commentBy", { name: a.name, score: a.score }) }), h("p", { class: "reply-text", text: a.comment }))),
              )
            : null,
          pulse ? h("div", { class: "row-actions" }, h("button", { type: "button", id: "pulse-close", class: "btn btn-small btn-danger-outline", text: t("pulse.close"), onclick: () => act("pulse.close").catch(() => {}) })) : null,
        ];
      });
    },
  };
}


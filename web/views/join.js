// Join page (phone first): room info, name, passphrase, rules and data notice; and the approval lobby.

import { h, setChildren } from "../dom.js";
import { t } from "../i18n.js";
import { netBanner, pageTitle, topBar } from "../chrome.js";
import { formatDate } from "./followup.js";
import { goneDataCard } from "./mydata.js";

const draft = { name: "", passphrase: "", accepted: false };

export function mountJoin(ctx, { info, invite, onInfo, onSubmit }) {
  const main = h("main", { class: "join-main", id: "main" });
  const el = h("div", { class: "page page-join" }, topBar(ctx), netBanner(ctx), main);
  let room = info;
  let submitting = false;
  // What the link's invite makes: "moderator" (the moderator link, which is not one of room.invite's),
  // "juror" (a jury invite), or null (a participant's, or no invite).
  const invitedAs = (r) => (!invite ? null : !r.invite || r.invite.role === "moderator" ? "moderator" : r.invite.role === "juror" ? "juror" : null);
  const submitText = (kind) => t(kind === "moderator" ? "join.submitModerator" : kind === "juror" ? "join.submitJuror" : "join.submit");
  let formError = null;
  let submitBtn = null;

  const renderLoading = () =>
    setChildren(main, h("section", { class: "card join-card", "aria-busy": "true" }, h("div", { class: "spinner", "aria-hidden": "true" }), h("p", { text: t("join.loading") })));

  // The tab says what went wrong, as every other message page does ("Room not found — Workshop"): the
  // room's title, which would name the tab, is unknown here.
  const renderError = (titleKey, bodyKey) => {
    pageTitle(t(titleKey));
    setChildren(
      main,
      h(
        "section",
        { class: "card join-card" },
        h("h1", { text: t(titleKey) }),
        bodyKey ? h("p", { text: t(bodyKey) }) : null,
        h("a", { class: "btn btn-secondary", href: "/", text: t("message.home") }),
      ),
    );
  };

  const renderForm = () => {
    const kind = invitedAs(room);
    const moderator = kind === "moderator";
    // Staff and jury invites are the facilitator's own admission: no passphrase, lobby or lock for them.
    const invited = kind !== null;
    const nameMax = 40;
    const name = h("input", {
      id: "join-name",
      type: "text",
      required: true,
      maxlength: String(4 * nameMax), // UTF-16 units, not the code points the server counts: room for emoji
      autocomplete: "nickname",
      enterkeyhint: "go",
      value: draft.name,
    });
    name.addEventListener("input", () => {
      draft.name = name.value;
    });
    const needsPass = room.access === "passphrase" && !invited;
    const pass = needsPass
      ? h("input", { id: "join-passphrase", type: "password", required: true, autocomplete: "off", value: draft.passphrase })
      : null;
    pass?.addEventListener("input", () => {
      draft.passphrase = pass.value;
    });
    const accept = h("input", { id: "join-accept", type: "checkbox", required: true, checked: draft.accepted, "aria-describedby": "join-notice" });
    accept.addEventListener("change", () => {
      draft.accepted = accept.checked;
    });
    formError = h("p", { class: "form-error", id: "join-error", role: "alert", hidden: true });
    // A locked room lets nobody new in: its banner says so once, and "Join" stays off until "Check again"
    // finds the room unlocked (the page is not told of the lock live).
    const locked = Boolean(room.locked && !invited);
    submitBtn = h("button", { type: "submit", class: "btn btn-primary btn-block btn-large", id: "join-submit", disabled: locked, "aria-describedby": locked ? "join-locked" : null, text: submitText(kind) });
    const inviteOnly = room.access === "invite" && !invite;
    const form = h(
      "form",
      {
        id: "join-form",
        class: "stack",
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          if (submitting || locked) return;
          formError.hidden = true;
          const value = name.value.trim();
          if (!value) return showError(t("join.nameRequired"), name);
          if (needsPass && !pass.value.trim()) return showError(t("join.passphraseRequired"), pass);
          if (!accept.checked) return showError(t("join.acceptRequired"), accept);
          submitting = true;
          submitBtn.disabled = true;
          submitBtn.textContent = t("join.joining");
          onSubmit({
            name: value,
            accept_rules: room.rules_version,
            passphrase: needsPass ? pass.value : null,
            invite: invite || null,
          });
        },
      },
      h("div", { class: "field" }, h("label", { for: "join-name", text: t("join.name") }), h("p", { class: "hint", text: room.anonymous ? t("join.nameHintAnonymous") : t("join.nameHint") }), name),
      needsPass ? h("div", { class: "field" }, h("label", { for: "join-passphrase", text: t("join.passphrase") }), pass) : null,
      h(
        "div",
        { class: "check check-accept" },
        accept,
        h("label", { for: "join-accept", text: t("join.accept") }),
      ),
      h(
        "details",
        { class: "notice" },
        h("summary", { text: t("join.noticeTitle") }),
        h("p", { id: "join-notice", text: room.created_at && room.retention_days ? t(room.purge_mode === "personal" ? "join.noticeUntilPersonal" : "join.noticeUntil", { date: formatDate(room.created_at + room.retention_days * 86400) }) : t("join.notice") }),
      ),
      formError,
      submitBtn,
    );
    setChildren(
      main,
      h(
        "section",
        { class: "card join-card", "aria-labelledby": "join-title" },
        h("p", { class: "eyebrow", text: moderator ? t("join.eyebrowModerator") : kind === "juror" ? t("join.eyebrowJuror") : t("join.eyebrow", { code: ctx.code }) }),
        h("h1", { id: "join-title", text: room.title }),
        room.brief ? h("p", { class: "brief", text: room.brief }) : null,
        room.rules
          ? h("section", { class: "rules", "aria-labelledby": "rules-title" }, h("h2", { id: "rules-title", text: t("join.rules") }), h("p", { class: "rules-text", text: room.rules }))
          : null,
        locked && room.phase !== "ended"
          ? h(
              "div",
              { class: "banner banner-warn join-locked" },
              h("p", { id: "join-locked", text: t("join.locked") }),
              h("button", { type: "button", class: "btn btn-small btn-secondary", id: "join-locked-retry", text: t("join.lockedRetry"), onclick: () => recheck() }),
            )
          : null,
        // Nobody joins an ended session (invites included): no form, but where a participant's ideas are.
        room.phase === "ended" ? h("div", { class: "banner banner-info", id: "join-ended" }, h("p", { text: t("join.ended") }), h("p", { text: t("join.endedBody") })) : null,
        room.access === "approval" && !invited ? h("p", { class: "banner banner-info", text: t("join.approvalNote") }) : null,
        room.phase === "ended" ? null : inviteOnly ? h("p", { class: "banner banner-warn", text: t("join.inviteOnly") }) : form,
      ),
    );
  };

  // "Check again" on a locked room: its information asked again; the form comes back with the focus on
  // "Join" once the room is open, or on "Check again" while it stays locked.
  async function recheck() {
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(ctx.code)}`, { headers: { accept: "application/json", ...(invite ? { "x-workshop-invite": invite } : {}) } });
      if (!response.ok) return;
      room = await response.json();
      onInfo?.(room);
    } catch {
      return;
    }
    renderForm();
    (room.locked ? document.getElementById("join-locked-retry") : submitBtn)?.focus();
  }

  function showError(text, focus) {
    formError.textContent = text;
    formError.hidden = false;
    focus?.focus();
  }

  // A room that is unavailable for now (its worker died and another one is taking it over, Redis is
  // restarting: a 503 or 429) or a network that failed is asked again by itself, with backoff: someone
  // who scanned the QR code meanwhile is never left on an error until they think of reloading.
  const RETRY_MS = [1000, 2000, 4000, 8000];
  let retries = 0;
  let retryTimer = null;
  const retryLater = () => {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(load, RETRY_MS[Math.min(retries++, RETRY_MS.length - 1)]);
  };

  async function load() {
    if (!retries) renderLoading();
    try {
      // The invite goes in a header, never in the URL: URLs reach access logs.
      const headers = { accept: "application/json" };
      if (invite) headers["x-workshop-invite"] = invite;
      const response = await fetch(`/api/rooms/${encodeURIComponent(ctx.code)}`, { headers });
      if (response.status === 404) return renderError("join.notFound", "join.notFoundBody");
      if (response.status === 401 && invite) return renderError("terminal.tokenRevoked", "terminal.tokenRevokedBody");
      if (!response.ok) {
        renderError("join.unavailable", "join.unavailableBody");
        if (response.status === 429 || response.status >= 500) retryLater();
        return;
      }
      room = await response.json();
      onInfo?.(room);
      renderForm();
    } catch {
      renderError("join.unavailable", "join.offlineBody");
      retryLater();
    }
  }

  if (room) renderForm();
  else load();

  return {
    el,
    destroy() {
      clearTimeout(retryTimer);
    },
    joinFailed(text, error) {
      submitting = false;
      // Locked meanwhile: the page now knows, and shows the lock once (its banner, "Join" off), not also
      // as the form's error.
      if (error && error.code === "room_locked" && room) {
        room = { ...room, locked: true };
        renderForm();
        document.getElementById("join-locked-retry")?.focus();
        return;
      }
      if (submitBtn) {
        submitBtn.disabled = false;
        submitBtn.textContent = submitText(room ? invitedAs(room) : invite ? "moderator" : null);
      }
      if (formError) {
        formError.textContent = text;
        formError.hidden = false;
      }
    },
  };
}

export function mountLobby(ctx) {
  const state = ctx.session.state;
  const el = h(
    "div",
    { class: "page page-lobby" },
    topBar(ctx, { title: state.room ? state.room.title : "" }),
    netBanner(ctx),
    h(
      "main",
      { class: "join-main", id: "main" },
      h(
        "section",
        { class: "card join-card lobby-card", "aria-live": "polite" },
        h("div", { class: "waiting-dots", "aria-hidden": "true" }, h("span"), h("span"), h("span")),
        h("h1", { id: "lobby-title", text: t("lobby.title") }),
        h("p", { text: t("lobby.body", { name: state.me ? state.me.name : "" }) }),
        state.room && state.room.brief ? h("p", { class: "brief", text: state.room.brief }) : null,
      ),
      // Waiting members may download or erase their data (over HTTP: they may send no command yet).
      goneDataCard(ctx),
    ),
  );
  return { el };
}

// Landing page: create a room (then share its links), or join one with a code.

import { copyText, h, randomId } from "../dom.js";
import { locale, t, tIn } from "../i18n.js";
import { topBar } from "../chrome.js";
import { downloadLink, linksText, mailtoHref, rememberRoom, yourRooms } from "./rooms.js";

// Kept across a language switch (the page is rebuilt in the new language).
const draft = {
  title: "",
  brief: "",
  rules: "",
  access: "code",
  passphrase: "",
  anonymous: false,
  locale: null,
  facilitator: "",
  retention: "",
  code: "",
};
let created = null;
// Until the facilitator link was copied, saved, emailed or opened, leaving the room-ready page asks first:
// that link is the only key to the room (#13).
let keySaved = false;
window.addEventListener("beforeunload", (e) => {
  if (!created || keySaved || location.pathname !== "/") return;
  e.preventDefault();
  e.returnValue = "";
});

const CREATION_KEY = "workshop.creation";

/**
 * The id of this tab's unanswered creation of the same room (sessionStorage: the same fields sent), or a
 * fresh one for another room: a secret, as a join id.
 */
function pendingCreationId(body) {
  const fields = JSON.stringify(body);
  try {
    const pending = JSON.parse(sessionStorage.getItem(CREATION_KEY) || "null");
    if (pending && typeof pending.id === "string" && pending.id.length >= 16 && pending.fields === fields) return pending.id;
    const fresh = randomId(16);
    sessionStorage.setItem(CREATION_KEY, JSON.stringify({ id: fresh, fields }));
    return fresh;
  } catch {
    return randomId(16);
  }
}

function forgetCreationId() {
  try {
    sessionStorage.removeItem(CREATION_KEY);
  } catch {
    // storage unavailable
  }
}

function field(id, labelKey, control, hintKey) {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id, text: t(labelKey) }),
    hintKey ? h("p", { class: "hint", id: id + "-hint", text: t(hintKey) }) : null,
    control,
  );
}

function bind(el, key) {
  el.addEventListener("input", () => {
    draft[key] = el.type === "checkbox" ? el.checked : el.value;
  });
  el.addEventListener("change", () => {
    draft[key] = el.type === "checkbox" ? el.checked : el.value;
  });
  return el;
}

export function linkRow({ id, labelKey, url, hintKey, open = true, ctx }) {
  const input = h("input", {
    id,
    class: "link-input",
    type: "text",
    readonly: true,
    value: url,
    "aria-describedby": hintKey ? id + "-hint" : null,
    onfocus: (e) => e.target.select(),
  });
  const copy = h("button", {
    type: "button",
    class: "btn btn-small btn-secondary",
    "data-copy": id,
    "aria-label": t("share.copyLabel", { what: t(labelKey) }),
    text: t("share.copy"),
    onclick: async (e) => {
      const btn = e.currentTarget;
      const ok = await copyText(url);
      btn.textContent = ok ? t("share.copied") : t("share.copyFailed");
      ctx?.toast?.(ok ? t("share.copied") : t("share.copyFailed"));
      setTimeout(() => {
        btn.textContent = t("share.copy");
      }, 2000);
    },
  });
  const opener = open
    ? h("a", {
        class: "btn btn-small btn-ghost",
        href: url,
        target: "_blank",
        rel: "noopener",
        "aria-label": t("share.openLabel", { what: t(labelKey) }),
        text: t("share.open"),
      })
    : null;
  return h(
    "div",
    { class: "link-row" },
    h("label", { for: id, class: "link-label", text: t(labelKey) }),
    hintKey ? h("p", { class: "hint", id: id + "-hint", text: t(hintKey) }) : null,
    h("div", { class: "link-controls" }, input, copy, opener),
  );
}

function renderCreated(ctx, result) {
  const code = result.room;
  const room = { code, title: result.title || "", ...result };
  const saved = () => {
    keySaved = true;
  };
  // The facilitator link is the key: say so before anything else, and offer three ways to keep it.
  const keep = h(
    "div",
    { class: "key-warning", id: "key-warning", role: "note", "aria-labelledby": "key-warning-title" },
    h("p", { class: "key-warning-title", id: "key-warning-title", text: t("rooms.keyTitle") }),
    h("p", { text: t("rooms.keyWarning") }),
    h(
      "div",
      { class: "row-actions" },
      downloadLink({ id: "key-download", text: linksText(room), filename: `workshop-${code}.txt`, label: t("rooms.download"), onclick: saved }),
      h("a", { class: "btn btn-small btn-secondary", id: "key-email", href: mailtoHref(room), text: t("rooms.email"), onclick: saved }),
    ),
  );
  const card = h(
    "section",
    { class: "card created-card", id: "created", "aria-labelledby": "created-title", tabindex: "-1" },
    h("h2", { id: "created-title", text: t("landing.createdTitle") }),
    h("p", { class: "lead", text: t("landing.createdLead") }),
    keep,
    h(
      "div",
      { class: "created-grid" },
      h(
        "div",
        { class: "created-qr" },
        h("img", {
          class: "qr",
          src: `/api/rooms/${encodeURIComponent(code)}/qr.svg`,
          alt: t("share.qrAlt", { code }),
          width: "220",
          height: "220",
        }),
        h("p", { class: "room-code-label", text: t("share.roomCode") }),
        h("p", { class: "room-code", id: "created-code", text: code }),
      ),
      h(
        "div",
        { class: "created-links" },
        h(
          "a",
          { class: "btn btn-primary btn-block", id: "open-console", href: result.facilitator_url },
          t("landing.openConsole"),
        ),
        linkRow({ id: "link-facilitator", labelKey: "share.facilitatorLink", url: result.facilitator_url, hintKey: "share.facilitatorHint", ctx }),
        linkRow({ id: "link-moderator", labelKey: "share.moderatorLink", url: result.moderator_url, hintKey: "share.moderatorHint", ctx }),
        linkRow({ id: "link-participant", labelKey: "share.participantLink", url: result.join_url, hintKey: "share.participantHint", ctx }),
        linkRow({ id: "link-screen", labelKey: "share.screenLink", url: result.screen_url, hintKey: "share.screenHint", ctx }),
      ),
    ),
  );
  card.addEventListener("click", (e) => {
    if (e.target.closest && e.target.closest('[data-copy="link-facilitator"], #open-console')) saved();
  });
  return card;
}

export function mountLanding(ctx) {
  const error = h("p", { class: "form-error", id: "create-error", role: "alert", hidden: true });
  const title = bind(h("input", { id: "room-title", type: "text", required: true, maxlength: "120", value: draft.title, autocomplete: "off" }), "title");
  const brief = bind(h("textarea", { id: "room-brief", rows: "3", "aria-describedby": "room-brief-hint", value: draft.brief }), "brief");
  const rules = bind(h("textarea", { id: "room-rules", rows: "3", "aria-describedby": "room-rules-hint", value: draft.rules || "" }), "rules");
  if (!draft.rules) rules.placeholder = t("landing.rulesPlaceholder");
  const access = bind(
    h(
      "select",
      { id: "room-access" },
      ["code", "passphrase", "invite", "approval"].map((a) =>
        h("option", { value: a, selected: draft.access === a }, t("access." + a)),
      ),
    ),
    "access",
  );
  const passphrase = bind(h("input", { id: "room-passphrase", type: "text", maxlength: "200", value: draft.passphrase, autocomplete: "off" }), "passphrase");
  const passField = field("room-passphrase", "landing.passphrase", passphrase);
  passField.hidden = draft.access !== "passphrase";
  access.addEventListener("change", () => {
    passField.hidden = access.value !== "passphrase";
    passphrase.required = access.value === "passphrase";
  });
  const anonymous = bind(h("input", { id: "room-anonymous", type: "checkbox", checked: draft.anonymous }), "anonymous");
  const lang = bind(
    h(
      "select",
      { id: "room-locale" },
      ["en", "fr"].map((l) => h("option", { value: l, lang: l, selected: (draft.locale || locale()) === l }, t("lang." + l))),
    ),
    "locale",
  );
  // The organiser key: asked for only when the server says it needs one (GET /api/server, or a 401).
  const createKey = h("input", { id: "room-create-key", type: "password", autocomplete: "off", value: sessionStorage.getItem("workshop.createKey") || "" });
  const keyField = field("room-create-key", "landing.createKey", createKey, "landing.createKeyHint");
  keyField.hidden = true;
  const askForKey = () => {
    keyField.hidden = false;
    createKey.required = true;
  };
  // How long the room's data is kept: the server's retention period at most, and by default.
  const retention = bind(h("input", { id: "room-retention", type: "number", inputmode: "numeric", min: "1", step: "1", value: draft.retention, "aria-describedby": "room-retention-hint" }), "retention");
  const retentionField = field("room-retention", "landing.retention", retention, "landing.retentionHint");
  retentionField.hidden = true;
  let retentionMax = null;
  fetch("/api/server")
    .then((r) => (r.ok ? r.json() : {}))
    .then((info) => {
      if (info.create_key_required) askForKey();
      if (Number.isInteger(info.retention_days)) {
        retentionMax = info.retention_days;
        retention.max = String(retentionMax);
        if (!draft.retention) retention.value = String(retentionMax);
        const hint = info.purge_mode === "personal" ? "landing.retentionHintPersonal" : "landing.retentionHint";
        retentionField.querySelector(".hint").textContent = t(hint, { max: retentionMax });
        retentionField.hidden = false;
      }
    })
    .catch(() => {});
  const facilitator = bind(h("input", { id: "room-facilitator", type: "text", maxlength: "40", value: draft.facilitator, autocomplete: "name" }), "facilitator");
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", id: "create-submit", text: t("landing.create") });

  const createdSlot = h("div", { id: "created-slot" });

  const form = h(
    "form",
    {
      class: "stack",
      id: "create-form",
      novalidate: true,
      onsubmit: async (e) => {
        e.preventDefault();
        error.hidden = true;
        if (!title.value.trim()) {
          error.textContent = t("landing.titleRequired");
          error.hidden = false;
          title.focus();
          return;
        }
        if (access.value === "passphrase" && passphrase.value.trim().length < 6) {
          error.textContent = t(passphrase.value.trim() ? "landing.passphraseShort" : "landing.passphraseRequired");
          error.hidden = false;
          passphrase.focus();
          return;
        }
        let days = null;
        retention.removeAttribute("aria-invalid");
        retention.setAttribute("aria-describedby", "room-retention-hint");
        // A number field's value is "" for text it cannot read (badInput): refused too, never the default.
        if (retentionMax !== null && (retention.value.trim() !== "" || retention.validity.badInput)) {
          days = Number(retention.value);
          if (retention.validity.badInput || !Number.isInteger(days) || days < 1 || days > retentionMax) {
            error.textContent = t("landing.retentionInvalid", { max: retentionMax });
            error.hidden = false;
            retention.setAttribute("aria-invalid", "true");
            retention.setAttribute("aria-describedby", "room-retention-hint create-error");
            retention.focus();
            return;
          }
        }
        const body = {
          title: title.value.trim(),
          brief: brief.value.trim(),
          rules: rules.value.trim(),
          access: access.value,
          anonymous: anonymous.checked,
          locale: lang.value,
        };
        if (access.value === "passphrase") body.passphrase = passphrase.value;
        if (days !== null) body.retention_days = days;
        // The default name is read by the room, so it is in the room's language, not this page's.
        body.facilitator_name = facilitator.value.trim() || tIn(lang.value, "role.facilitator");
        // One id per creation, kept until it is answered (across a reload of the tab too): a resend after
        // a lost reply gets the room the first request made, never a second one. Other fields: another room.
        body.id = pendingCreationId(body);
        submit.disabled = true;
        submit.textContent = t("landing.creating");
        try {
          const headers = { "content-type": "application/json" };
          if (createKey.value) headers.authorization = "Bearer " + createKey.value;
          const response = await fetch("/api/rooms", {
            method: "POST",
            headers,
            body: JSON.stringify(body),
          });
          const data = await response.json().catch(() => ({}));
          if (response.ok || (data.error && !data.error.temporary)) forgetCreationId();
          if (!response.ok) {
            const code = data.error ? data.error.code : "internal_error";
            if (code === "create_key_required") {
              askForKey();
              sessionStorage.removeItem("workshop.createKey");
              createKey.focus();
            }
            const key = "error." + code;
            error.textContent = t(key) === key ? (data.error && data.error.message) || code : t(key);
            error.hidden = false;
            return;
          }
          if (createKey.value) sessionStorage.setItem("workshop.createKey", createKey.value);
          created = { ...data, title: body.title };
          keySaved = false;
          rememberRoom({
            code: data.room,
            title: body.title,
            role: "facilitator",
            console_url: data.facilitator_url,
            facilitator_url: data.facilitator_url,
            moderator_url: data.moderator_url,
            join_url: data.join_url,
            screen_url: data.screen_url,
          });
          showCreated();
        } catch {
          error.textContent = t("error.network");
          error.hidden = false;
        } finally {
          submit.disabled = false;
          submit.textContent = t("landing.create");
        }
      },
    },
    field("room-title", "landing.title", title),
    field("room-brief", "landing.brief", brief, "landing.briefHint"),
    field("room-rules", "landing.rules", rules, "landing.rulesHint"),
    h(
      "div",
      { class: "field-row field-row-wide" },
      field("room-access", "landing.access", access),
      field("room-locale", "landing.language", lang),
    ),
    passField,
    h(
      "div",
      { class: "check" },
      anonymous,
      h("label", { for: "room-anonymous" }, h("span", { text: t("landing.anonymous") }), h("span", { class: "hint", text: t("landing.anonymousHint") })),
    ),
    field("room-facilitator", "landing.facilitatorName", facilitator),
    retentionField,
    keyField,
    error,
    submit,
  );

  const codeInput = h("input", {
    id: "join-code",
    type: "text",
    inputmode: "text",
    autocapitalize: "characters",
    autocomplete: "off",
    spellcheck: "false",
    maxlength: "12",
    class: "code-input",
    value: draft.code,
    placeholder: "ABC123",
  });
  bind(codeInput, "code");
  const joinError = h("p", { class: "form-error", role: "alert", hidden: true });
  const joinForm = h(
    "form",
    {
      class: "join-code-form",
      id: "join-code-form",
      onsubmit: (e) => {
        e.preventDefault();
        const code = codeInput.value.toUpperCase().replace(/[^0-9A-Z]/g, "");
        if (!code) {
          joinError.textContent = t("landing.codeRequired");
          joinError.hidden = false;
          codeInput.focus();
          return;
        }
        location.assign("/j/" + encodeURIComponent(code));
      },
    },
    h("label", { for: "join-code", text: t("landing.codeLabel") }),
    h("div", { class: "inline-form" }, codeInput, h("button", { type: "submit", class: "btn btn-primary", id: "join-code-submit", text: t("landing.join") })),
    joinError,
  );

  const createCard = h("section", { class: "card", "aria-labelledby": "create-title" }, h("h2", { id: "create-title", text: t("landing.createTitle") }), form);
  const phoneFirst = window.matchMedia("(max-width: 600px)").matches;
  // "Your rooms": every room this browser created or facilitated, with its links (localStorage).
  const roomsSlot = h("div", { id: "your-rooms-slot" });
  const showRooms = () => roomsSlot.replaceChildren(...[yourRooms(showRooms)].filter(Boolean));
  showRooms();
  const el = h(
    "div",
    { class: "page page-landing" },
    topBar(ctx),
    h(
      "main",
      { class: "landing-main", id: "main" },
      h(
        "section",
        { class: "hero" },
        h("div", { class: "hero-notes", "aria-hidden": "true" }, ["yellow", "pink", "blue", "green", "orange", "purple"].map((c) => h("span", { class: "hero-note note-" + c }))),
        h("h1", { text: t("landing.headline") }),
        h("p", { class: "lead", text: t("landing.lead") }),
      ),
      createdSlot,
      h(
        "div",
        { class: "landing-grid" + (phoneFirst ? " is-phone" : "") },
        phoneFirst ? null : createCard,
        h(
          "section",
          { class: "card join-card", "aria-labelledby": "join-title" },
          h("h2", { id: "join-title", text: t("landing.joinTitle") }),
          h("p", { class: "hint", text: t("landing.joinLead") }),
          joinForm,
          h(
            "ul",
            { class: "features" },
            ["f1", "f2", "f3", "f4"].map((f) => h("li", { text: t("landing." + f) })),
          ),
        ),
        // On a phone, joining comes first and creating a room below it (in the DOM too, for the focus order).
        phoneFirst ? createCard : null,
      ),
      roomsSlot,
    ),
    h("footer", { class: "footer", text: t("landing.footer") }),
  );
  const hero = el.querySelector(".hero");
  const grid = el.querySelector(".landing-grid");
  function showCreated() {
    hero.hidden = true;
    grid.hidden = true;
    roomsSlot.hidden = true;
    const again = h("button", {
      type: "button",
      class: "btn btn-ghost",
      id: "create-another",
      text: t("landing.createAnother"),
      onclick: () => {
        created = null;
        showRooms();
        draft.title = draft.brief = draft.passphrase = "";
        createdSlot.replaceChildren();
        hero.hidden = false;
        grid.hidden = false;
        roomsSlot.hidden = false;
        title.value = "";
        brief.value = "";
        passphrase.value = "";
        title.focus();
      },
    });
    createdSlot.replaceChildren(renderCreated(ctx, created), h("p", { class: "again" }, again));
    window.scrollTo(0, 0);
    document.getElementById("created")?.focus();
  }
  if (created) showCreated();
  return { el };
}

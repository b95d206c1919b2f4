// The shared chrome of every page: the top bar (brand, title, connection, sound, language) and the
// network banner.

import { h } from "./dom.js";
import { LOCALES, locale, setLocale, t } from "./i18n.js";
import { announce, setSound, soundOn } from "./timer.js";

/** The top bar: brand or room title, connection state, language and sound switches. */
export function topBar(ctx, { title = "", sound = false } = {}) {
  const langSelect = h(
    "select",
    {
      id: "lang-select",
      class: "lang-select",
      "aria-label": t("chrome.language"),
      onchange: (e) => setLocale(e.target.value, { persist: true }),
    },
    LOCALES.map((l) => h("option", { value: l, lang: l, selected: l === locale() }, t("lang." + l))),
  );
  const soundBtn = sound
    ? h("button", {
        type: "button",
        id: "sound-toggle",
        class: "icon-btn",
        "aria-pressed": String(soundOn()),
        "aria-label": t("chrome.sound"),
        title: t("chrome.sound"),
        onclick: (e) => {
          const on = !soundOn();
          setSound(on);
          e.currentTarget.setAttribute("aria-pressed", String(on));
          e.currentTarget.replaceChildren(speakerIcon(on));
          announce(on ? t("chrome.soundOn") : t("chrome.soundOff"));
        },
      }, speakerIcon(soundOn()))
    : null;
  const status = h("span", { class: "conn-pill", id: "conn-pill", hidden: true });
  const bar = h(
    "header",
    { class: "topbar" },
    h(
      "div",
      { class: "topbar-inner" },
      h("a", { class: "brand", href: "/", "aria-label": t("chrome.home") }, h("span", { class: "brand-mark", "aria-hidden": "true" }), h("span", { class: "brand-name", text: t("brand") })),
      title ? h("span", { class: "topbar-title", text: title }) : null,
      h("div", { class: "topbar-tools" }, status, soundBtn, langSelect),
    ),
  );
  ctx.statusPill = status;
  return bar;
}

/** The document's title: what the page is, then the room, then the brand ("Room screen — Title —
 * Workshop"), so that tabs and windows are told apart; empty parts are left out. */
export function pageTitle(...parts) {
  const title = [...parts, t("brand")].filter(Boolean).join(" — ");
  if (document.title !== title) document.title = title;
}

/** The network banner and pill, from the session's connection status and outbox. */
export function renderConnection(ctx) {
  const s = ctx.session;
  if (!s) return;
  const pill = ctx.statusPill;
  const banner = ctx.netBanner;
  const status = s.status;
  const bad = status === "reconnecting" || status === "offline" || (status === "connecting" && s.conn.everAttached);
  // The banner comes and goes; the live region says each change once (not each pending count).
  if (bad && !ctx.netWasBad) announce(navigator.onLine === false || status === "offline" ? t("net.offline") : t("net.reconnecting"));
  else if (!bad && ctx.netWasBad && status === "online") announce(t("net.back"));
  if (bad || status === "online") ctx.netWasBad = bad;
  if (pill) {
    pill.hidden = !(bad || status === "online");
    pill.className = "conn-pill " + (bad ? "is-bad" : "is-ok");
    const offline = navigator.onLine === false || status === "offline";
    pill.textContent = bad ? (offline ? t("net.offlineShort") : t("net.reconnectingShort")) : t("net.live");
  }
  if (banner) {
    banner.hidden = !bad;
    if (bad) {
      const offline = navigator.onLine === false || status === "offline";
      banner.textContent =
        (offline ? t("net.offline") : t("net.reconnecting")) +
        (s.pending ? " " + t("net.pending", { count: s.pending }) : "");
    }
  }
}

/** The banner under the top bar that says the connection is down (and how much waits to be sent). */
export function netBanner(ctx) {
  // Not a live region: renderConnection announces its changes through #announcer (a region that
  // appears with its text is not read by every screen reader, and the pending count would be chatty).
  const el = h("div", { class: "net-banner", id: "net-banner", hidden: true });
  ctx.netBanner = el;
  return el;
}

/** A speaker icon (inline SVG: no icon font, no emoji font needed). */
function speakerIcon(on) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "20");
  svg.setAttribute("height", "20");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const paths = ["M11 5 6 9H2v6h4l5 4z"];
  if (on) paths.push("M15.5 8.5a5 5 0 0 1 0 7", "M18.5 5.5a9 9 0 0 1 0 13");
  else paths.push("M16 9l6 6", "M22 9l-6 6");
  paths.forEach((d, i) => {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", i === 0 ? "currentColor" : "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
    svg.append(path);
  });
  return svg;
}

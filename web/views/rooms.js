// "Your rooms" (#13): every room this browser created or facilitated, with its links, kept in
// localStorage (this device only; nothing is sent anywhere), so that a facilitator never loses a room.
// The landing page lists them; the room-ready page offers the facilitator link as a file and by email.

import { h } from "../dom.js";
import { formatTime, t } from "../i18n.js";

const KEY = "workshop.rooms";
const MAX_ROOMS = 50;

export function knownRooms() {
  try {
    const value = JSON.parse(localStorage.getItem(KEY) || "[]");
    return Array.isArray(value) ? value.filter((r) => r && typeof r.code === "string") : [];
  } catch {
    return [];
  }
}

function saveRooms(rooms) {
  try {
    localStorage.setItem(KEY, JSON.stringify(rooms.slice(0, MAX_ROOMS)));
  } catch {
    // storage unavailable: the list lasts for this page only
  }
}

/**
 * Remember a room (merged with what is known of it): {code, title, role, console_url, facilitator_url,
 * moderator_url, join_url, screen_url}. The most recent first. A facilitator's entry is never
 * downgraded by opening the moderator link later.
 */
export function rememberRoom(room) {
  const rooms = knownRooms();
  const old = rooms.find((r) => r.code === room.code) || {};
  const next = { ...old };
  for (const [k, v] of Object.entries(room)) if (v) next[k] = v;
  if (old.role === "facilitator" && room.role === "moderator") {
    next.role = "facilitator";
    next.console_url = old.console_url;
  }
  next.at = old.at || Date.now() / 1000;
  next.seen = Date.now() / 1000;
  const same = JSON.stringify({ ...old, seen: 0 }) === JSON.stringify({ ...next, seen: 0 });
  if (same && rooms[0] && rooms[0].code === room.code) return;
  saveRooms([next, ...rooms.filter((r) => r.code !== room.code)]);
}

export function forgetRoom(code) {
  saveRooms(knownRooms().filter((r) => r.code !== code));
}

/** The text of the file "Download the links" saves, and of the email to oneself. */
export function linksText(room) {
  const lines = [t("rooms.fileTitle", { title: room.title || room.code, code: room.code }), "", t("rooms.fileWarning"), ""];
  const add = (key, url) => url && lines.push(t(key) + ":", url, "");
  add("share.facilitatorLink", room.facilitator_url);
  add("share.moderatorLink", room.moderator_url);
  add("share.participantLink", room.join_url);
  add("share.screenLink", room.screen_url);
  return lines.join("\n");
}

export function mailtoHref(room) {
  const subject = t("rooms.mailSubject", { title: room.title || room.code, code: room.code });
  return "mailto:?subject=" + encodeURIComponent(subject) + "&body=" + encodeURIComponent(linksText(room));
}

/** A link that saves `text` as a file (a Blob URL; nothing leaves the browser). */
export function downloadLink({ id, text, filename, label, onclick }) {
  const a = h("a", { class: "btn btn-small btn-secondary", id, download: filename, text: label, onclick });
  a.href = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  return a;
}

/** The "Your rooms" section of the landing page, or null when this browser knows no room. */
export function yourRooms(onChange) {
  const rooms = knownRooms();
  if (!rooms.length) return null;
  const item = (r) => {
    const title = r.title || r.code;
    const when = r.at ? new Date(r.at * 1000) : null;
    const date = when ? new Intl.DateTimeFormat(document.documentElement.lang || "en", { dateStyle: "medium" }).format(when) + " " + formatTime(r.at).slice(0, 5) : "";
    const links = [];
    if (r.console_url) links.push(h("a", { class: "btn btn-small btn-primary", href: r.console_url, "aria-label": t("rooms.openLabel", { title }), text: t("rooms.open") }));
    if (r.screen_url) links.push(h("a", { class: "btn btn-small btn-ghost", href: r.screen_url, target: "_blank", rel: "noopener", "aria-label": t("rooms.screen") + " — " + title, text: t("rooms.screen") }));
    if (r.join_url) links.push(h("a", { class: "btn btn-small btn-ghost", href: r.join_url, "aria-label": t("rooms.join") + " — " + title, text: t("rooms.join") }));
    if (r.facilitator_url) {
      links.push(downloadLink({ id: "room-download-" + r.code, text: linksText(r), filename: `workshop-${r.code}.txt`, label: t("rooms.download"), onclick: null }));
    }
    links.push(
      h("button", {
        type: "button",
        class: "btn btn-small btn-ghost",
        "aria-label": t("rooms.forgetLabel", { title }),
        text: t("rooms.forget"),
        onclick: () => {
          forgetRoom(r.code);
          onChange();
        },
      }),
    );
    return h(
      "li",
      { class: "your-room", dataset: { code: r.code } },
      h("div", { class: "your-room-head" }, h("p", { class: "your-room-title", text: title }), h("p", { class: "your-room-meta", text: [r.code, t("role." + (r.role || "facilitator")), date].filter(Boolean).join(" · ") })),
      h("div", { class: "row-actions your-room-links" }, links),
    );
  };
  return h(
    "section",
    { class: "card your-rooms", id: "your-rooms", "aria-labelledby": "your-rooms-title" },
    h("h2", { id: "your-rooms-title", text: t("rooms.title") }),
    h("p", { class: "hint", text: t("rooms.lead") }),
    h("ul", { class: "your-rooms-list", id: "your-rooms-list" }, rooms.map(item)),
  );
}

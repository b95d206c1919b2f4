// A page with one message: connecting, not found, removed, declined...

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { netBanner, topBar } from "../chrome.js";

/** `after`: an element shown under the message's card (a removed member's data card). */
export function mountMessage(ctx, { titleKey, bodyKey = null, extra = "", busy = false, after = null }) {
  const body = bodyKey ? t(bodyKey) : "";
  const el = h(
    "div",
    { class: "page page-message" },
    topBar(ctx),
    netBanner(ctx),
    h(
      "main",
      { class: "message-main", id: "main" },
      h(
        "section",
        { class: "card message-card", "aria-busy": busy ? "true" : null },
        busy ? h("div", { class: "spinner", "aria-hidden": "true" }) : null,
        h("h1", { class: "message-title", text: t(titleKey) }),
        body ? h("p", { class: "message-body", text: body }) : null,
        extra ? h("p", { class: "message-extra", text: extra }) : null,
        busy ? null : h("p", {}, h("a", { class: "btn btn-secondary", href: "/", text: t("message.home") })),
      ),
      after,
    ),
  );
  return { el };
}

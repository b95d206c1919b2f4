// The console's side of the room screen's spotlight (#13): a "Spotlight" button on each note and theme
// on the wall puts it full screen on every room screen (room.spotlight), and a bar above the wall says
// what the screen shows, with "Back to the wall".

import { h, setText, show } from "../dom.js";
import { t } from "../i18n.js";

function short(text, n = 60) {
  const one = String(text).replace(/\s+/g, " ").trim();
  return one.length > n ? one.slice(0, n - 1) + "…" : one;
}

/** Whether `target` ({idea} or {theme}) is what the room screen shows now. */
export function isSpotlit(state, target) {
  const spot = state.spotlight;
  if (!spot) return false;
  return target.idea ? spot.idea === target.idea : spot.theme === target.theme;
}

/** A projector icon (a screen on a stand), drawn inline: no icon font, nothing fetched. */
function screenIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "18");
  svg.setAttribute("height", "18");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ["M3 4h18v12H3z", "M12 16v4", "M8 20h8"]) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linejoin", "round");
    svg.append(path);
  }
  return svg;
}

/**
 * A small toggle button with a screen icon (compact: note cards keep their actions on one row): put
 * `target` in the spotlight, or take it out (back to the wall). Its name is its aria-label (no visible
 * text), its tooltip the same words.
 */
export function spotlightButton(ctx, state, target, text) {
  const on = isSpotlit(state, target);
  const label = target.idea ? t("spotlight.ideaLabel", { text: short(text) }) : t("spotlight.themeLabel", { name: short(text) });
  return h(
    "button",
    {
      type: "button",
      class: "btn btn-small spotlight-btn " + (on ? "btn-primary is-on" : "btn-ghost"),
      "data-focus": "spotlight",
      "aria-pressed": String(on),
      "aria-label": label,
      title: on ? t("spotlight.on") : label,
      onclick: () => ctx.act("room.spotlight", on ? {} : target).catch(() => {}),
    },
    screenIcon(),
  );
}

/** The bar above the wall: what is in the spotlight, and "Back to the wall". */
export function spotlightBar(ctx, state) {
  const text = h("p", { class: "spotlight-bar-text", id: "spotlight-now" });
  const back = h("button", {
    type: "button",
    class: "btn btn-small btn-secondary",
    id: "spotlight-off",
    text: t("spotlight.off"),
    onclick: () => ctx.act("room.spotlight", {}).catch(() => {}),
  });
  const el = h("div", { class: "spotlight-bar", id: "spotlight-bar", role: "status", hidden: true }, h("span", { class: "spotlight-bar-icon", "aria-hidden": "true" }), text, back);
  return {
    el,
    update() {
      // What the room screen really shows (screen.js): only what is on the wall. A note another staff
      // device hid or merged, or a theme with no note left on the wall, is not on the screen any more,
      // though the spotlight still names it (restored, it is shown again).
      const spot = state.spotlight;
      let what = "";
      if (spot && spot.idea) {
        const idea = state.ideas.get(spot.idea);
        what = idea && state.publiclyVisible(idea) ? t("spotlight.nowIdea", { text: short(idea.text) }) : "";
      } else if (spot && spot.theme) {
        const theme = state.themes.get(spot.theme);
        what = theme && state.themeIdeas(theme.id).length ? t("spotlight.nowTheme", { name: short(theme.name) }) : "";
      }
      setText(text, what);
      show(el, Boolean(what));
    },
  };
}

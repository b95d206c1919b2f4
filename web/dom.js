// Tiny DOM helpers. User text only ever goes through textContent (never innerHTML): no markup injection.

/**
 * Create an element. `attrs` keys: `class`, `text`, `on<Event>` (listener), `dataset` (object),
 * boolean attributes (true adds, false/null/undefined omits), anything else via setAttribute.
 * A textarea or text input gets dir="auto" unless `dir` is given: what people type there (notes,
 * names, replies) may be Arabic or Hebrew, laid out right to left with its punctuation on the left.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  if ((tag === "textarea" || (tag === "input" && TEXT_INPUTS.has(String((attrs && attrs.type) || "text")))) && !(attrs && "dir" in attrs)) el.dir = "auto";
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

const TEXT_INPUTS = new Set(["text", "search"]);

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Set text only when it changed (keeps selection and avoids needless layout). */
export function setText(el, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (el.textContent !== value) el.textContent = value;
}

/** Show or hide an element with the `hidden` attribute. */
export function show(el, visible) {
  if (el.hidden === Boolean(visible)) el.hidden = !visible;
}

/**
 * Keyed list reconciliation: keeps existing elements (and so keyboard focus) for items whose key
 * stays, creates new ones, removes stale ones, and only moves nodes whose order changed.
 */
export function syncList(container, items, key, create, update) {
  const existing = new Map();
  for (const child of Array.from(container.children)) {
    if (child.dataset.key !== undefined) existing.set(child.dataset.key, child);
  }
  const wanted = [];
  for (const item of items) {
    const k = String(key(item));
    let el = existing.get(k);
    if (el) existing.delete(k);
    else {
      el = create(item);
      el.dataset.key = k;
    }
    update(el, item);
    wanted.push(el);
  }
  // An item that leaves the list while it holds the keyboard focus (a note approved out of the queue,
  // a person admitted out of the lobby) hands the focus to the item that takes its place.
  const active = document.activeElement;
  let lost = null;
  for (const el of existing.values()) {
    if (active && el.contains(active)) lost = { at: Array.prototype.indexOf.call(container.children, el), key: active.dataset.focus };
    el.remove();
  }
  let cursor = container.firstElementChild;
  for (const el of wanted) {
    if (el === cursor) {
      cursor = cursor.nextElementSibling;
      continue;
    }
    container.insertBefore(el, cursor);
  }
  if (lost && container.isConnected && !container.contains(document.activeElement)) focusNear(container, lost);
}

const FOCUSABLE = "button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), a[href]";

function focusNear(container, { at, key }) {
  const items = container.children;
  const next = items[Math.min(at, items.length - 1)];
  let target = next && key ? next.querySelector(`[data-focus="${key}"]:not([disabled])`) : null;
  if (!target && next) target = next.querySelector(FOCUSABLE);
  if (!target) {
    target = container;
    container.tabIndex = -1;
  }
  target.focus();
}

/** A random id from the CSPRNG (works on plain http too, unlike crypto.randomUUID). */
export function randomId(bytes = 12) {
  const data = new Uint8Array(bytes);
  crypto.getRandomValues(data);
  return Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Copy text; falls back to a hidden textarea where the async clipboard is unavailable (plain http). */
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the legacy path
  }
  const area = h("textarea", { class: "copy-buffer", "aria-hidden": "true", readonly: true });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/**
 * Rebuild the content of `el` with `build()` only when `sig` changed. Keyboard focus inside `el` is
 * kept: it returns to the element with the same `data-focus` key if it is still enabled, else to the
 * first enabled button of `el`, else to `el` itself.
 */
export function renderRow(el, sig, build) {
  if (el._sig === sig) return false;
  el._sig = sig;
  const active = document.activeElement;
  const hadFocus = active && el.contains(active) && active !== el;
  const focusKey = hadFocus ? active.dataset.focus : null;
  el.replaceChildren(...[build()].flat(Infinity).filter(Boolean));
  if (hadFocus) {
    let target = focusKey ? el.querySelector(`[data-focus="${focusKey}"]`) : null;
    if (!target || target.disabled) target = el.querySelector("button:not([disabled]), textarea, input");
    if (target) target.focus();
    else {
      el.tabIndex = -1;
      el.focus();
    }
  }
  return true;
}

// What a phone must not lose (#13): the commands waiting for their reply, and the note being written.
//
// Both are kept in localStorage, written at once (synchronously) on every change, so they survive a
// reload, a closed tab and a killed browser. The outbox is kept per room together with the member token
// that sent it: after a reload the session authenticates with that token and resends every command
// with its original id, and the server answers a resend with the original reply (it dedupes by id per
// member), so a note posted offline exists exactly once.

const OUTBOX_PREFIX = "workshop.outbox.";
const DRAFT_PREFIX = "workshop.draft.";

function read(key) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function write(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // storage unavailable or full: the commands still wait in memory until the page closes
  }
}

/**
 * The stored outbox of room `code`: `load(token)` gives the commands that member left unanswered
 * (oldest first), `sentAt(token)` when each was first sent (`{id: Date.now()}`, for those that were),
 * `save(token, messages, sent)` replaces them (an empty list forgets them). `slot` keeps the console's
 * outbox apart from a participant's in the same browser ("staff" for the console).
 */
export function outboxStore(code, slot = "") {
  const key = OUTBOX_PREFIX + code + (slot ? "." + slot : "");
  const mine = (token) => {
    const value = read(key);
    return value && token && value.token === token && Array.isArray(value.messages) ? value : null;
  };
  return {
    load(token) {
      const value = mine(token);
      if (!value) return [];
      return value.messages.filter((m) => m && typeof m.id === "string" && typeof m.type === "string");
    },
    sentAt(token) {
      const value = mine(token);
      return value && value.sent && typeof value.sent === "object" ? value.sent : {};
    },
    save(token, messages, sent = {}) {
      write(key, token && messages.length ? { token, messages, sent } : null);
    },
  };
}

/** The unsent note of room `code` ("" when none). */
export function loadDraft(code) {
  const value = read(DRAFT_PREFIX + code);
  return value && typeof value.text === "string" ? value.text : "";
}

export function saveDraft(code, text) {
  write(DRAFT_PREFIX + code, text ? { text } : null);
}

/**
 * A refused note's `text` back in the unsent note of room `code`, after what is there (unless it holds it
 * already, so that no text is lost nor doubled); returns the new draft.
 */
export function returnToDraft(code, text) {
  const draft = loadDraft(code);
  if (!text || draft.includes(text)) return draft;
  const next = draft ? draft + "\n\n" + text : text;
  saveDraft(code, next);
  return next;
}

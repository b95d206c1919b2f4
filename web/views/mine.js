// The "my ideas" page (/m/CODE): what became of a participant's ideas, during the session and after it.
// The key is the member's own token: the one this browser stored when it joined the room, or the one
// in the personal link's fragment (#t=TOKEN; the server never accepts tokens in a URL it sees). The
// page reads GET /api/rooms/CODE/mine with it, and stays live: it listens on the room's WebSocket
// with the same token and reads the page again after events: 0.3 s after the first, and at most once
// every 2 s (the server allows a member token 30 reads a minute and answers 429 past that; the page
// then waits as long as it is told and keeps what it shows).

import { h, randomId, setChildren } from "../dom.js";
import { formatNumber, t } from "../i18n.js";
import { Connection } from "../net.js";
import { forgetMember, storedMember } from "../session.js";
import { colorClass, criteriaCard, listNames, themeChip } from "./parts.js";
import { announcementsList, formatDate, formatWhen, historyList, myIdeasUrl, repliesList, selectionLogList, statusLine } from "./followup.js";
import { linkRow } from "./landing.js";
import { announce } from "../timer.js";
import { httpErase, myDataCard } from "./mydata.js";

const REFETCH_MS = 300; // after an event, let the room settle
const MIN_INTERVAL_MS = 2000; // at most one read every 2 s: the server's member_pages_per_minute (30)

// What the page says when the server refuses it: [title, body] per error code (or status_NNN).
const REFUSALS = {
  invalid_token: ["mine.failed", "mine.invalidToken"],
  status_401: ["mine.failed", "mine.invalidToken"],
  banned: ["terminal.removed", "mine.bannedBody"],
  awaiting_approval: ["mine.failed", "error.awaiting_approval"],
  forbidden: ["mine.noToken", "mine.noTokenBody"],
  room_not_found: ["terminal.roomDeleted", "terminal.roomDeletedBody"],
  status_404: ["terminal.roomDeleted", "terminal.roomDeletedBody"],
};

/** The token for the page: the link's fragment (#t=), else what this browser stored for the room. */
export function mineToken(code) {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const fromLink = params.get("t");
  if (fromLink) return fromLink;
  const stored = storedMember(code);
  return stored && stored.token ? stored.token : null;
}

/**
 * Mount the page in `root`. `onRoom(room)`: called with the room (its language) at the first read.
 * Returns {render() (a language switch), stop()}.
 */
export function mountMine(root, ctx, { code, onRoom }) {
  const token = mineToken(code);
  let page = null;
  let error = null;
  let timer = null;
  let lastLoad = 0;
  let inFlight = false;
  let again = false;
  let conn = null;
  let live = false;
  // The participant's own data (#12): download it, or erase it (then the token is gone for good).
  let erased = false;
  const markErased = () => {
    erased = true;
    clearTimeout(timer);
    conn?.stop();
    render();
  };
  // Erased over HTTP with the token alone: a removed or waiting member (whose page is refused, and
  // whose token may send no command) keeps this card under the refusal's message.
  const dataCard = token
    ? myDataCard(ctx, { code, token: () => token, erase: httpErase(code, () => token), onErased: markErased })
    : null;
  const KEEPS_DATA = new Set(["banned", "awaiting_approval"]);

  async function load() {
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    lastLoad = Date.now();
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(code)}/mine`, { headers: { accept: "application/json", authorization: "Bearer " + token }, cache: "no-store" });
      const body = await response.json().catch(() => ({}));
      if (response.status === 429) {
        // Too many reads for this token: read again when told, and keep showing the page meanwhile.
        const wait = Number(body && body.error && body.error.retry_after) || MIN_INTERVAL_MS / 1000;
        schedule(wait * 1000);
      } else if (!response.ok) {
        error = (body && body.error && body.error.code) || "status_" + response.status;
        if (error === "data_erased") {
          // This member's data was erased (on another device, or an erasure whose reply was lost):
          // say so, and forget what this browser kept of that member (its token, the note being written).
          if (storedMember(code)?.token === token) forgetMember(code);
          markErased();
          return;
        }
        if (response.status === 401 || response.status === 403 || response.status === 404) {
          // Refused for good (removed, room deleted...): the page it showed is no longer theirs to see.
          page = null;
          conn?.stop();
        }
      } else {
        const first = !page;
        page = body.page;
        error = null;
        if (first) onRoom?.(page.room);
      }
    } catch {
      error = error || "network";
    } finally {
      inFlight = false;
      render();
      if (again) {
        again = false;
        load();
      }
    }
  }

  /** Read the page again after `delay` ms, and not within MIN_INTERVAL_MS of the last read; a read
   * already due stays (events keep coming in a busy room: a debounce would never read). */
  function schedule(delay = REFETCH_MS) {
    if (timer !== null || erased) return;
    const wait = Math.max(delay, lastLoad + MIN_INTERVAL_MS - Date.now());
    timer = setTimeout(() => {
      timer = null;
      load();
    }, wait);
  }

  function startLive() {
    conn = new Connection({
      attachCommand: () => ({ type: "auth", id: randomId(), token }),
      onAttached: () => schedule(),
      onAttachError: (err) => {
        if (err.temporary) return "retry";
        // Refused for good (removed, erased, the room deleted meanwhile): the page's read says which.
        load();
        return "stop";
      },
      onEvent: (msg) => {
        if (msg.name !== "presence") schedule();
      },
      onSnapshot: () => schedule(),
      onStatus: (status) => {
        const now = status === "online";
        if (now !== live) {
          live = now;
          render();
        }
      },
      onTerminal: (closeCode) => {
        if (closeCode === 4103) markErased();
        else load(); // removed, room deleted: the page's read says which
        render();
      },
    });
    conn.start();
  }

  function message(titleKey, bodyKey) {
    return h("main", { class: "page-message mine-main", id: "main" }, h("section", { class: "card stack" }, h("h1", { class: "section-title", text: t(titleKey) }), bodyKey ? h("p", { text: t(bodyKey) }) : null));
  }

  function ideaCard(idea, me) {
    const others = [];
    if (idea.author && idea.author !== me && idea.author_name) others.push(idea.author_name);
    for (const c of idea.coauthors || []) if (c.id !== me && c.name) others.push(c.name);
    const badges = [];
    if (idea.state === "pending") badges.push(h("span", { class: "badge badge-pending", text: t("note.pending") }));
    if (idea.state === "hidden") badges.push(h("span", { class: "badge badge-hidden", text: idea.hide_reason ? t("note.hiddenReason", { reason: idea.hide_reason }) : t("note.hidden") }));
    // A note merged away: its outcome is the outcome of the note that holds it now (the merge credits
    // every author), which the server sends as `merged_into_idea`.
    const holder = idea.state === "merged" ? idea.merged_into_idea || null : null;
    const mergedText = holder ? holder.text : idea.merged_into_text;
    if (idea.state === "merged") badges.push(h("span", { class: "badge badge-merged", text: mergedText ? t("note.mergedInto", { text: mergedText }) : t("note.merged") }));
    const titleId = "mine-idea-" + idea.id;
    return h(
      "li",
      { class: "mine-idea", dataset: { idea: idea.id } },
      h(
        "article",
        { class: "card mine-idea-card", "aria-labelledby": titleId },
        h("div", { class: "note " + colorClass(idea.color) }, h("h3", { class: "note-text", id: titleId, text: idea.text })),
        h(
          "p",
          { class: "note-meta mine-facts" },
          idea.theme ? h("span", { class: "mine-theme" }, themeChip(idea.theme)) : null,
          h("span", { class: "badge badge-dots", text: t("results.dots", { count: idea.dots || 0 }) }),
          badges,
        ),
        others.length ? h("p", { class: "note-author", text: t("mine.with", { names: listNames(others) }) }) : null,
        holder ? null : statusLine(idea, { id: "mine-status-" + idea.id }),
        idea.history && idea.history.length
          ? h("div", { class: "mine-history" }, h("h4", { class: "section-subtitle", text: t("followup.history") }), historyList(idea, { id: "mine-history-" + idea.id }))
          : holder
            ? null
            : h("p", { class: "hint", text: t("mine.noDecision") }),
        holder ? mergedOutcome(idea, holder, me) : null,
        idea.replies && idea.replies.length
          ? h("div", { class: "mine-replies" }, h("h4", { class: "section-subtitle", text: t("mine.replies", { count: idea.replies.length }) }), repliesList(null, { me: { id: me } }, idea.replies, { id: "mine-replies-" + idea.id }))
          : null,
      ),
    );
  }

  /** What became of the note `idea` was merged into (`holder`): its status, decisions and replies. */
  function mergedOutcome(idea, holder, me) {
    const history = holder.history || [];
    const replies = holder.replies || [];
    return h(
      "div",
      { class: "mine-outcome", id: "mine-outcome-" + idea.id },
      h("p", { class: "mine-outcome-lead", text: t("mine.mergedOutcome", { text: holder.text }) }),
      statusLine(holder, { id: "mine-outcome-status-" + idea.id }),
      history.length
        ? h("div", { class: "mine-history" }, h("h4", { class: "section-subtitle", text: t("followup.history") }), historyList(holder, { id: "mine-outcome-history-" + idea.id }))
        : h("p", { class: "hint", text: t("mine.noDecisionMerged") }),
      replies.length ? h("div", { class: "mine-replies" }, h("h4", { class: "section-subtitle", text: t("mine.replies", { count: replies.length }) }), repliesList(null, { me: { id: me } }, replies, { id: "mine-outcome-replies-" + idea.id })) : null,
    );
  }

  function body() {
    if (erased) return message("terminal.erased", "terminal.erasedBody");
    if (!token) return message("mine.noToken", "mine.noTokenBody");
    if (!page) {
      if (error) {
        const refused = message(...(REFUSALS[error] || ["mine.failed", "mine.failedBody"]));
        if (dataCard && KEEPS_DATA.has(error)) refused.append(dataCard);
        return refused;
      }
      return message("message.connecting", null);
    }
    const me = page.me ? page.me.id : null;
    const room = page.room || {};
    const ended = room.phase === "ended";
    const c = page.contribution;
    const answered = (page.pulses || []).filter((p) => p.mine);
    const sections = [];
    sections.push(
      h(
        "header",
        { class: "mine-head" },
        h("p", { class: "eyebrow", text: room.title || "" }),
        h("h1", { class: "mine-title", id: "mine-title", text: t("mine.title") }),
        h("p", { class: "hint", id: "mine-who", text: page.me ? t("mine.who", { name: page.me.name }) : "" }),
        h("p", { class: "mine-live", id: "mine-live", role: "status" }, h("span", { class: "presence-dot" + (live ? " is-on" : ""), "aria-hidden": "true" }), live ? t("mine.live") : ended ? t("mine.ended") : t("net.reconnectingShort")),
        c ? h("p", { class: "mine-contribution", id: "mine-contribution", text: t("mine.contribution", { ideas: formatNumber(c.ideas), dots: formatNumber(c.dots), shortlisted: formatNumber(c.shortlisted), adopted: formatNumber(c.adopted) }) }) : null,
        !ended && storedMember(code) ? h("p", {}, h("a", { href: `/j/${encodeURIComponent(code)}`, class: "btn btn-small btn-ghost", text: t("mine.backToBoard") })) : null,
      ),
    );
    sections.push(
      h(
        "section",
        { class: "section", id: "mine-ideas", "aria-labelledby": "mine-ideas-title" },
        h("h2", { class: "section-title", id: "mine-ideas-title", text: t("mine.ideasTitle", { count: page.ideas.length }) }),
        page.ideas.length ? h("ul", { class: "mine-list", id: "mine-list" }, page.ideas.map((i) => ideaCard(i, me))) : h("p", { class: "empty", text: t("mine.noIdeas") }),
      ),
    );
    // The published criteria are public: what the ideas are (or were) judged on.
    if (page.criteria && page.criteria.length) sections.push(criteriaCard(page.criteria, { id: "mine-criteria" }));
    if (page.announcements && page.announcements.length) {
      sections.push(h("section", { class: "section", id: "mine-announcements", "aria-labelledby": "mine-announcements-title" }, h("h2", { class: "section-title", id: "mine-announcements-title", text: t("announce.title") }), announcementsList(page.announcements, { meId: me })));
    }
    if (page.selection && page.selection.length) {
      sections.push(
        h(
          "section",
          { class: "section", id: "mine-selection", "aria-labelledby": "mine-selection-title" },
          h("h2", { class: "section-title", id: "mine-selection-title", text: t("selection.logTitle") }),
          selectionLogList(page.selection, { id: "mine-selection-log" }),
        ),
      );
    }
    if (answered.length) {
      sections.push(
        h(
          "section",
          { class: "section", id: "mine-pulse", "aria-labelledby": "mine-pulse-title" },
          h("h2", { class: "section-title", id: "mine-pulse-title", text: t("pulse.title") }),
          h(
            "ul",
            { class: "rows" },
            answered.map((p) => h("li", { class: "row" }, h("p", { class: "pulse-question", text: p.question || t("pulse.defaultQuestion") }), h("p", { text: t("pulse.yours", { score: p.mine.score }) + (p.mine.comment ? " " + t("followup.noteQuoted", { note: p.mine.comment }) : "") }), h("time", { class: "hint", text: formatWhen(p.mine.at) }))),
          ),
        ),
      );
    }
    if (dataCard && page.me && page.me.role === "participant") sections.push(dataCard);
    sections.push(
      h(
        "section",
        { class: "card my-ideas-card", id: "mine-link-card", "aria-labelledby": "mine-link-title" },
        h("h2", { class: "section-title", id: "mine-link-title", text: t("mine.linkTitle") }),
        // The retention period counts from the room's creation: the date the link stops working.
        h("p", { class: "hint", id: "mine-link-until", text: t("mine.linkKeep", { date: formatDate((room.created_at || 0) + (room.retention_days || 0) * 86400) }) }),
        linkRow({ id: "mine-link", labelKey: "mine.linkLabel", url: myIdeasUrl(code, token), hintKey: "mine.linkHint", open: false, ctx }),
      ),
    );
    return h("main", { class: "mine-main", id: "main" }, sections);
  }

  let lastSig = null;
  function render() {
    const sig = JSON.stringify([page, error, live, token, erased]);
    if (sig === lastSig) return;
    const updated = lastSig !== null && page && JSON.parse(lastSig)[0] !== null && JSON.stringify(JSON.parse(lastSig)[0]) !== JSON.stringify(page);
    lastSig = sig;
    const focused = document.activeElement && document.activeElement.id;
    setChildren(root, ctx.chrome(page ? page.room.title : ""), body());
    if (focused) document.getElementById(focused)?.focus();
    if (updated) announce(t("mine.updated"));
  }

  render();
  if (token) {
    load();
    startLive();
  }
  return {
    render() {
      lastSig = null;
      render();
    },
    stop() {
      clearTimeout(timer);
      conn?.stop();
    },
  };
}

// A participant's own data (issue #12, GDPR): download everything the room holds about you
// (GET /api/rooms/CODE/my-data with your own token, saved as a JSON file), or erase yourself
// (`member.erase`, after a clear confirmation). After an erasure the server closes the connection
// with 4103 and the token stops working: the page says the data was erased and forgets the token and
// the note being written (a shared device keeps nothing of the room).
// A member removed, rejected or waiting in the approval lobby may send no command (a removed one's token
// no longer connects): its pages erase over HTTP with the token alone (POST /api/rooms/CODE/my-data/erase,
// goneDataCard), which the server allows for one's own data only.

import { h, randomId, show } from "../dom.js";
import { t } from "../i18n.js";
import { forgetMember } from "../session.js";

/**
 * The "Your data" card. options: code; token() -> the member's token; erase() -> a promise (sends
 * member.erase); onErased() (the erasure succeeded: forget the token, say so).
 */
export function myDataCard(ctx, { code, token, erase, onErased }) {
  const status = h("p", { class: "hint", id: "mydata-status", role: "status" });
  const download = h("button", { type: "button", id: "mydata-download", class: "btn btn-small btn-secondary", text: t("mydata.download"), "aria-describedby": "mydata-download-hint" });
  download.addEventListener("click", async () => {
    download.disabled = true;
    status.textContent = "";
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(code)}/my-data`, {
        headers: { accept: "application/json", authorization: "Bearer " + token() },
        cache: "no-store",
      });
      if (!response.ok) throw new Error("my-data " + response.status);
      const blob = new Blob([await response.text()], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `${code}-my-data.json`, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      status.textContent = t("mydata.downloaded");
    } catch {
      status.textContent = t("mydata.downloadFailed");
    } finally {
      download.disabled = false;
    }
  });

  const eraseBtn = h("button", { type: "button", id: "mydata-erase", class: "btn btn-small btn-danger-outline", text: t("mydata.erase"), "aria-describedby": "mydata-erase-hint" });
  const question = h("p", { class: "confirm-text", id: "mydata-erase-question", text: t("mydata.eraseQuestion") });
  const confirm = h("button", { type: "button", id: "mydata-erase-confirm", class: "btn btn-small btn-danger", text: t("mydata.eraseConfirm") });
  const cancel = h("button", { type: "button", id: "mydata-erase-cancel", class: "btn btn-small btn-ghost", text: t("common.cancel") });
  const confirmBox = h("div", { class: "stack mydata-confirm", role: "group", "aria-labelledby": "mydata-erase-question" }, question, h("div", { class: "row-actions" }, confirm, cancel));
  const setAsking = (asking) => {
    show(confirmBox, asking);
    show(eraseBtn, !asking);
  };
  setAsking(false);
  eraseBtn.addEventListener("click", () => {
    setAsking(true);
    cancel.focus();
  });
  cancel.addEventListener("click", () => {
    setAsking(false);
    eraseBtn.focus();
  });
  const erased = () => {
    // Nothing of the room stays on this device (a shared one): the token, and the unsent note.
    forgetMember(code);
    onErased?.();
  };
  confirm.addEventListener("click", () => {
    confirm.disabled = true;
    Promise.resolve(erase())
      .then(erased)
      .catch((error) => {
        // The server may close the connection (4103) before its reply arrives: that is a success too.
        if (error && error.code === "closed") return;
        // Already erased (an earlier try whose reply was lost): the data is gone, as asked.
        if (error && error.code === "data_erased") return erased();
        status.textContent = ctx.errorText ? ctx.errorText(error) : t("mydata.eraseFailed");
        setAsking(false);
      })
      .finally(() => {
        confirm.disabled = false;
      });
  });

  return h(
    "section",
    { class: "card mydata-card", id: "mydata-card", "aria-labelledby": "mydata-title" },
    h("h2", { class: "section-title", id: "mydata-title", text: t("mydata.title") }),
    h("p", { class: "hint", id: "mydata-download-hint", text: t("mydata.downloadHint") }),
    download,
    h("p", { class: "hint", id: "mydata-erase-hint", text: t("mydata.eraseHint") }),
    eraseBtn,
    confirmBox,
    status,
  );
}

/** The card on the board: the session's token, and the erasure through the session's outbox. */
export function boardDataCard(ctx) {
  const session = ctx.session;
  return myDataCard(ctx, {
    code: ctx.code,
    token: () => session.token,
    erase: () => session.send("member.erase", {}),
    onErased: () => {
      // The server closes this connection with 4103 next; say so now, and do not reconnect.
      if (!session.terminal) session.terminal = { code: 4103, reason: "" };
      session.conn.stop();
      ctx.refresh();
    },
  });
}

/**
 * The erasure over HTTP with the member's token alone (POST my-data/erase). One id per erasure, kept
 * across retries: a resend after a lost reply gets the same answer, and the server applies it once.
 * Rejects with the server's error ({code, message, temporary}), or {code: "network"}.
 */
export function httpErase(code, token) {
  let id = null;
  return async () => {
    id = id || randomId(16);
    let response;
    try {
      response = await fetch(`/api/rooms/${encodeURIComponent(code)}/my-data/erase`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", authorization: "Bearer " + token() },
        body: JSON.stringify({ id }),
        cache: "no-store",
      });
    } catch {
      throw { code: "network", message: "", temporary: true };
    }
    const body = await response.json().catch(() => ({}));
    if (response.ok) return body;
    throw (body && body.error) || { code: "status_" + response.status, message: "", temporary: response.status >= 500 };
  };
}

/**
 * The card on the pages of a member who may send no command: removed, rejected (the message page) or
 * waiting in the approval lobby. It erases over HTTP; then the page says the data was erased.
 */
export function goneDataCard(ctx) {
  const session = ctx.session;
  const card = myDataCard(ctx, {
    code: ctx.code,
    token: () => session.token,
    erase: httpErase(ctx.code, () => session.token),
    onErased: () => {
      session.erased = true;
      session.terminal = { code: 4103, reason: "" };
      session.conn.stop();
      ctx.refresh();
    },
  });
  card.prepend(h("p", { class: "hint", id: "mydata-gone-hint", text: t("mydata.goneHint") }));
  card.prepend(card.querySelector("#mydata-title"));
  return card;
}

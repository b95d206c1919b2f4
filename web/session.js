// One person's presence in a room: the connection, the room state, and what happened to them.

import { randomId } from "./dom.js";
import { Connection } from "./net.js";
import { outboxStore, saveDraft } from "./outbox.js";
import { RoomState } from "./state.js";

const STORE_PREFIX = "workshop.room.";

/** The member credentials kept for a room on this device (so a reload resumes), or null. */
export function storedMember(code) {
  try {
    const raw = localStorage.getItem(STORE_PREFIX + code);
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

export function storeMember(code, value) {
  try {
    if (value) localStorage.setItem(STORE_PREFIX + code, JSON.stringify(value));
    else localStorage.removeItem(STORE_PREFIX + code);
  } catch {
    // storage unavailable: the session still works until the page closes
  }
}

/** This device keeps nothing more of the member of room `code`: its token and the note being written
 * (after an erasure of its data, or a deleted room: a shared device keeps no personal text). */
export function forgetMember(code) {
  storeMember(code, null);
  saveDraft(code, "");
}

const JOIN_PREFIX = "workshop.join.";

/** The id of this tab's unanswered join in room `code` (sessionStorage), or a fresh one. */
function pendingJoinId(code) {
  try {
    const id = sessionStorage.getItem(JOIN_PREFIX + code);
    if (id && id.length >= 16) return id;
    const fresh = randomId(16);
    sessionStorage.setItem(JOIN_PREFIX + code, fresh);
    return fresh;
  } catch {
    return randomId(16);
  }
}

function forgetJoinId(code) {
  try {
    sessionStorage.removeItem(JOIN_PREFIX + code);
  } catch {
    // storage unavailable
  }
}

/**
 * options: code, token (auth) or join {name, accept_rules, passphrase, invite}; remember (store the
 * member's token on this device, and the commands waiting for their reply: outbox.js); outboxSlot (keep
 * only the commands waiting for their reply, in that slot: the console); onChange();
 * onEvent(event, state); onJoinError(error); onRestored(msg, ok, resultOrError): how a command left
 * unanswered by an earlier page ended.
 */
export class RoomSession {
  constructor(options) {
    this.code = options.code;
    this.token = options.token || null;
    this.join = options.join || null;
    this.invite = options.invite || null;
    // A join whose reply was lost is resent with its id, even after a reload of the tab (the server then
    // returns the member it made, not a second one); the id is forgotten once answered.
    this.joinId = this.join ? pendingJoinId(this.code) : randomId(16);
    this.remember = Boolean(options.remember);
    this.onChange = options.onChange || (() => {});
    this.onEventHook = options.onEvent || (() => {});
    this.onJoinError = options.onJoinError || (() => {});
    this.onRestored = options.onRestored || (() => {});
    // The commands waiting for their reply survive a reload: a participant's (with its stored token)
    // and the console's (its token is in the link; the outbox is kept in its own slot).
    this.store = this.remember || options.outboxSlot ? outboxStore(this.code, options.outboxSlot || "") : null;
    this.state = new RoomState();
    this.role = null;
    this.terminal = null;
    this.failure = null;
    this.pending = 0;
    this.conn = new Connection({
      attachCommand: () => this.attachCommand(),
      onAttached: (result) => this.onAttached(result),
      onAttachError: (error) => this.onAttachError(error),
      onEvent: (msg) => this.onEvent(msg),
      onSnapshot: (msg) => {
        this.state.load(msg.state, this.role);
        this.changed();
      },
      onStatus: () => this.changed(),
      onTerminal: (code, reason) => {
        this.terminal = { code, reason };
        // The room deleted, or this member's token revoked (its data erased): this device keeps nothing
        // of the room, neither the token nor the note being written.
        if (this.remember && (code === 4102 || code === 4103)) forgetMember(this.code);
        this.changed();
      },
      onProgress: (data) => {
        this.state.progress = data;
        this.changed();
      },
      persist: (messages, sent) => this.store?.save(this.token, messages, sent),
      onFigures: (msg) => {
        // The latest figures pushed to staff (views/dashboard.js keeps the newest by epoch and seq).
        this.figures = { epoch: msg.epoch, seq: msg.seq, data: msg.data };
        this.changed();
      },
      onOutbox: (count) => {
        this.pending = count;
        this.changed();
      },
    });
  }

  start() {
    if (this.store && this.token) {
      const settled = (msg, ok, value) => this.onRestored(msg, ok, value);
      this.conn.restore(this.store.load(this.token), settled, this.store.sentAt(this.token));
    }
    this.conn.start();
  }

  stop() {
    this.conn.stop();
  }

  get status() {
    return this.conn.status;
  }

  changed() {
    this.onChange(this);
  }

  attachCommand() {
    if (this.token) {
      const cmd = { type: "auth", id: randomId(), token: this.token };
      if (this.state.loaded && this.state.epoch !== null) {
        cmd.epoch = this.state.epoch;
        cmd.seq = this.state.seq;
      }
      return cmd;
    }
    const j = this.join;
    const cmd = { type: "join", id: this.joinId, room: this.code, name: j.name, accept_rules: j.accept_rules };
    if (j.passphrase) cmd.passphrase = j.passphrase;
    if (j.invite) cmd.invite = j.invite;
    return cmd;
  }

  onAttached(result) {
    if (this.join) forgetJoinId(this.code);
    this.token = result.token;
    this.role = result.role;
    if (this.remember && result.token) {
      storeMember(this.code, { token: result.token, invite: (this.join && this.join.invite) || this.invite || null });
    }
    if (result.snapshot) {
      this.state.load(result.snapshot, result.role);
    } else {
      this.state.role = result.role;
      // A resume may cross into a new epoch (the room was loaded again, or another worker took it
      // over): the seqs go on, and the replayed events carry the new epoch.
      if (result.epoch) this.state.epoch = result.epoch;
      for (const ev of result.events || []) this.applyEvent(ev);
      this.state.seq = Math.max(this.state.seq, result.seq);
    }
    if (result.member) this.state.me = { ...(this.state.me || {}), ...result.member };
    this.changed();
  }

  onAttachError(error) {
    if (error.temporary) return "retry";
    if (!this.token) {
      forgetJoinId(this.code);
      this.onJoinError(error);
      return "stop";
    }
    if (error.code === "banned") this.terminal = { code: 4100, reason: "" };
    else if (error.code === "data_erased") {
      // This member's data was erased (the erasure's own reply may have been lost, then the page
      // reloaded): say so, and keep nothing of the room on this device, as after the erasure itself.
      this.erased = true;
      this.terminal = { code: 4103, reason: "" };
      if (this.remember) forgetMember(this.code);
    } else this.failure = error;
    if (this.remember && (error.code === "invalid_token" || error.code === "room_not_found")) {
      storeMember(this.code, null);
    }
    this.changed();
    return "stop";
  }

  applyEvent(msg) {
    if (!this.state.apply(msg)) return;
    const d = msg.data || {};
    const me = this.state.me;
    if ((msg.name === "member.removed" || msg.name === "member.rejected") && me && d.member && d.member.id === me.id) {
      // The server closes this connection next (4100 or 4101); say so now, and do not reconnect.
      this.terminal = { code: msg.name === "member.removed" ? 4100 : 4101, reason: d.reason || "" };
      this.conn.stop();
    }
    this.onEventHook(msg, this.state);
  }

  onEvent(msg) {
    this.applyEvent(msg);
    this.changed();
  }

  /** Send a command through the outbox. */
  send(type, fields) {
    return this.conn.send(type, fields);
  }
}

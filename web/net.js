// The WebSocket connection: hello, join/auth, reconnect with backoff, resume, and the outbox.
//
// Every command goes through the outbox. It is sent at once when the connection is attached, and kept
// until its ok or error arrives. After a reconnect (and a successful auth) every pending command is sent
// again with the SAME id: the server answers a resend with the original reply instead of applying it
// twice, so a note posted while offline exists exactly once.

import { randomId } from "./dom.js";

export const SUBPROTOCOL = "workshop.v1.json";
const BACKOFF_MS = [300, 700, 1500, 3000, 5000, 8000, 12000];
const OFFLINE_RETRY_MS = 10000;
const PING_EVERY_MS = 20000;
// A ping unanswered this long means a dead connection (a half-open socket: the laptop slept, the
// server gave up on it). Only an unanswered ping counts: a tab in the background has its timers held to
// one a minute, and a quiet room sends nothing in between, which is no sign of a dead connection. On a
// slow network (a crowded venue's Wi-Fi, 2G) the wait is three of its last round trips, up to a
// heartbeat: a connection that answers in 5 s is alive, and a new one would take longer to set up.
const PONG_WAIT_MS = 4000;
const PONG_WAIT_RTTS = 3;
// The wall clock moved this much more (or less) than the page's own timers did: the device slept (its
// timers stopped, its clock did not), the page was frozen, or its clock was set.
const CLOCK_JUMP_MS = 3000;
const WATCH_EVERY_MS = 1000;
const TEMPORARY_RETRIES = 5;
// The server remembers for certain only a member's last 16 replies (protocol.md, "Ids and idempotency";
// a busy room forgets older ones). So a command is sent for the first time only while fewer than 16 were
// sent since the oldest one still waiting for its reply: every command that may have been applied
// without its reply reaching this page is then among the member's last 16, and its resend is answered
// with the original reply, never applied twice. The others wait in the outbox, in order.
export const SEND_WINDOW = 16;
// A resend is answered from the server's records for `dedupe_window_seconds` (hello.limits) after the
// command was applied; after that it would be applied again. A command that may have been applied (it was
// sent) and has had no reply for longer than the window, less this margin for the way there, is not sent
// again: it is settled as `expired` (the user checks whether it happened), never applied twice.
const EXPIRY_MARGIN = 0.1;
const EXPIRY_MARGIN_MAX_MS = 60000;

export function isTerminal(code) {
  return code >= 4100 && code <= 4199;
}

/** A refused command: `code` is the protocol error code, `message` the server's English text. */
export class CommandError extends Error {
  constructor(reply) {
    super(reply.message || reply.code);
    this.code = reply.code;
    this.temporary = Boolean(reply.temporary);
  }
}

/**
 * handlers:
 *  attachCommand() -> the join or auth message to send after hello (with an id)
 *  onAttached(result, reply), onAttachError(error) -> "retry" | "stop"
 *  onEvent(message), onSnapshot(message), onStatus(status), onTerminal(code, reason), onOutbox(count)
 *  onProgress(data): the current round's progress (a `progress` message, not an event)
 *  persist(messages, sent): the commands still waiting, and when each was first sent ({id: Date.now()}),
 *  after every change (kept across reloads: outbox.js)
 */
export class Connection {
  constructor(handlers) {
    this.h = handlers;
    this.ws = null;
    this.status = "idle";
    this.attached = false;
    this.stopped = true;
    this.everAttached = false;
    this.outbox = new Map();
    this.firstSends = 0; // commands of this page sent at least once (each outbox entry's `n`)
    this.early = [];
    this.attachId = null;
    this.attempt = 0;
    this.offset = 0;
    this.limits = {};
    this.lastSeen = 0;
    this.pingAt = null;
    this.pingId = null;
    this.pingSentAt = 0;
    this.attachSentAt = 0;
    this.rtt = 0;
    this.stale = false;
    this.checkTimer = null;
    this.retryTimer = null;
    this.heartbeat = null;
    this.watch = null;
    this.clockMark = null;
    this.onOnline = () => this.wake();
    this.onVisible = () => {
      if (document.visibilityState === "visible") this.wake();
    };
    // A frozen page (a phone's background tab, a laptop's energy saver) runs again.
    this.onResume = () => this.wake();
    this.onOffline = () => {
      if (this.stopped) return;
      this.drop();
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    document.addEventListener("visibilitychange", this.onVisible);
    document.addEventListener("resume", this.onResume);
    this.watchClock();
    this.connect();
  }

  /**
   * Put back commands left unanswered by an earlier page (outbox.js): they are sent with their original
   * ids once attached, so the server answers each with its original reply instead of applying it twice.
   * `onSettled(msg, ok, resultOrError)` is told how each ended.
   */
  restore(messages, onSettled = () => {}, sentAt = {}) {
    for (const msg of messages) {
      if (this.outbox.has(msg.id)) continue;
      this.outbox.set(msg.id, {
        msg,
        resolve: (result) => onSettled(msg, true, result),
        reject: (error) => onSettled(msg, false, error),
        tries: 0,
        n: null,
        restored: true,
        sentAt: typeof sentAt[msg.id] === "number" ? sentAt[msg.id] : null,
      });
    }
    this.outboxChanged();
  }

  /** Whether `entry` was sent (it may have been applied) longer ago than the server remembers replies. */
  expired(entry) {
    const window = Number(this.limits.dedupe_window_seconds) * 1000;
    if (entry.sentAt === null || entry.sentAt === undefined || !(window > 0)) return false;
    const margin = Math.min(EXPIRY_MARGIN_MAX_MS, window * EXPIRY_MARGIN);
    return Date.now() - entry.sentAt > window - margin;
  }

  /** Whether `entry` may go now: a resend always; a first send only within SEND_WINDOW of the oldest
   * command still waiting for its reply (the outbox's first sent entry: entries are sent in order). */
  mayGo(entry) {
    if (entry.n !== null) return true;
    for (const other of this.outbox.values()) {
      if (other.n !== null) return this.firstSends - other.n < SEND_WINDOW;
    }
    return true;
  }

  /** Send over `ws` what waits and may go, oldest first: not what is on it already, nor what waits to
   * be retried after a temporary refusal; a first send that may not go yet holds back those after it. */
  pump(ws) {
    const expired = [];
    let changed = false;
    for (const [id, entry] of this.outbox) {
      if (entry.on === ws || entry.held) continue;
      if (this.expired(entry)) {
        this.outbox.delete(id);
        expired.push(entry);
        continue;
      }
      if (!this.mayGo(entry)) break;
      if (entry.n === null) entry.n = this.firstSends++;
      if (entry.sentAt === null || entry.sentAt === undefined) {
        entry.sentAt = Date.now();
        changed = true;
      }
      ws.send(JSON.stringify(entry.msg));
      entry.on = ws;
    }
    // What was sent for the first time is stored with its time; what expired leaves the outbox.
    if (changed || expired.length) this.outboxChanged();
    for (const entry of expired) {
      entry.reject(new CommandError({ code: "expired", message: "no answer in time: not sent again" }));
    }
  }

  /** When each command still waiting was first sent, by id. */
  sentTimes() {
    const sent = {};
    for (const [id, entry] of this.outbox) if (entry.sentAt) sent[id] = entry.sentAt;
    return sent;
  }

  /** The commands waiting for their reply, oldest first. */
  pendingMessages() {
    return Array.from(this.outbox.values(), (entry) => entry.msg);
  }

  /**
   * The commands not sent over the live connection yet (offline, reconnecting, or waiting to retry):
   * their effect cannot have arrived. One in flight may already have its event here before its reply,
   * so only these are counted ahead of the server (a dot placed offline), never twice.
   */
  unsentMessages() {
    const live = this.attached ? this.ws : null;
    return Array.from(this.outbox.values()).filter((entry) => !live || entry.on !== live).map((entry) => entry.msg);
  }

  outboxChanged() {
    this.h.persist?.(this.pendingMessages(), this.sentTimes());
    this.h.onOutbox?.(this.outbox.size);
  }

  /** Stop for good (no reconnect). Pending commands are rejected. */
  stop() {
    this.stopped = true;
    this.unwatch();
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    this.attached = false;
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = null;
      ws.close(1000);
    }
    this.rejectAll("closed");
  }

  /** No more listening to the page and the clock (stopped, or closed for good). */
  unwatch() {
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    document.removeEventListener("visibilitychange", this.onVisible);
    document.removeEventListener("resume", this.onResume);
    clearTimeout(this.retryTimer);
    clearInterval(this.watch);
    this.watch = null;
    this.clockMark = null;
  }

  /** Seconds since the epoch on the server's clock. */
  serverNow() {
    return Date.now() / 1000 + this.offset;
  }

  get pending() {
    return this.outbox.size;
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.h.onStatus?.(status);
  }

  connect() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    let ws;
    try {
      ws = new WebSocket(scheme + location.host + "/ws", [SUBPROTOCOL]);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.attached = false;
    this.early = [];
    this.setStatus(this.everAttached ? "reconnecting" : "connecting");
    ws.onmessage = (e) => this.onFrame(ws, e.data);
    ws.onclose = (e) => this.onClose(ws, e.code, e.reason);
    ws.onerror = () => {};
  }

  /** Forget the current socket now and reconnect (a dead network, or the browser went offline). */
  drop() {
    const ws = this.ws;
    if (!ws) return;
    ws.onclose = ws.onmessage = ws.onerror = null;
    try {
      ws.close(4000);
    } catch {
      // already closed
    }
    this.onClose(ws, 1006, "");
  }

  kick() {
    if (this.stopped || this.ws) return;
    this.attempt = 0;
    this.connect();
  }

  /**
   * The page is back (visible again, online again, unfrozen, or its device woke up): reconnect at once
   * when there is no connection, and otherwise ask the server now whether the connection still lives
   * (its reply also sets the clock's offset again) instead of showing what may be stale until the next
   * heartbeat. Not answered in pongWait(): dropped and resumed.
   */
  wake() {
    if (this.stopped) return;
    this.stale = true;
    if (!this.ws) {
      this.kick();
      return;
    }
    if (!this.attached) return;
    this.ping();
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => {
      if (this.unanswered()) this.drop();
    }, this.pongWait());
  }

  /** How long a ping may wait for its answer: PONG_WAIT_MS, or more on a connection measured slow. */
  pongWait() {
    return Math.min(PING_EVERY_MS, Math.max(PONG_WAIT_MS, PONG_WAIT_RTTS * this.rtt));
  }

  /** A ping sent over the live connection has waited pongWait() or more, and nothing came back since. */
  unanswered() {
    return this.pingAt !== null && this.lastSeen < this.pingAt && performance.now() - this.pingAt >= this.pongWait();
  }

  ping() {
    if (!this.ws || !this.attached) return;
    // The first unanswered ping is the one that counts.
    if (this.pingAt === null || this.lastSeen >= this.pingAt) this.pingAt = performance.now();
    if (!this.open()) return; // closing: no answer will come, and the wait above drops it
    this.pingId = "ping-" + randomId(4);
    this.pingSentAt = performance.now();
    this.ws.send(JSON.stringify({ type: "ping", id: this.pingId }));
  }

  /** Every second (and at every tick of the page): the wall clock against the page's monotonic clock,
   * to notice a sleep or a new time. */
  watchClock() {
    clearInterval(this.watch);
    this.clockMark = { wall: Date.now(), mono: performance.now() };
    this.watch = setInterval(() => this.checkClock(), WATCH_EVERY_MS);
  }

  /** Whether the device slept or its clock was set since the last look (then: wake()). */
  checkClock() {
    if (!this.clockMark) return false;
    const wall = Date.now();
    const mono = performance.now();
    const jump = Math.abs(wall - this.clockMark.wall - (mono - this.clockMark.mono));
    this.clockMark = { wall, mono };
    if (jump <= CLOCK_JUMP_MS) return false;
    this.wake();
    return true;
  }

  scheduleReconnect() {
    clearTimeout(this.retryTimer);
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    let delay = base * (0.75 + Math.random() * 0.5);
    if (navigator.onLine === false) delay = Math.max(delay, OFFLINE_RETRY_MS);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  onClose(ws, code, reason) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.attached = false;
    this.pingAt = null;
    this.stopHeartbeat();
    if (this.stopped) return;
    if (isTerminal(code)) {
      this.stopped = true;
      this.unwatch();
      this.setStatus("terminal");
      this.rejectAll("closed");
      this.h.onTerminal?.(code, reason);
      return;
    }
    this.setStatus(navigator.onLine === false ? "offline" : "reconnecting");
    this.scheduleReconnect();
  }

  onFrame(ws, data) {
    if (ws !== this.ws || typeof data !== "string") return;
    this.lastSeen = performance.now();
    let value;
    try {
      value = JSON.parse(data);
    } catch {
      return;
    }
    for (const message of Array.isArray(value) ? value : [value]) this.onMessage(ws, message);
  }

  onMessage(ws, msg) {
    switch (msg.type) {
      case "hello": {
        this.offset = msg.server_time - Date.now() / 1000;
        this.limits = msg.limits || {};
        const cmd = this.h.attachCommand();
        this.attachId = cmd.id;
        this.attachSentAt = performance.now();
        ws.send(JSON.stringify(cmd));
        break;
      }
      case "ok":
      case "error":
        if (msg.server_time) this.offset = msg.server_time - Date.now() / 1000;
        // The answer to the last ping: everything the server sent before it has been applied.
        if (msg.id !== null && msg.id === this.pingId) {
          this.stale = false;
          this.rtt = performance.now() - this.pingSentAt;
        }
        if (msg.id !== null && msg.id === this.attachId) this.onAttachReply(ws, msg);
        else if (msg.id !== null) this.onReply(msg);
        break;
      case "event":
        // Events can overtake the reply to join/auth: keep them until the state is loaded.
        if (this.attached) this.h.onEvent?.(msg);
        else this.early.push(msg);
        break;
      case "snapshot":
        this.h.onSnapshot?.(msg);
        break;
      case "figures":
        // The room's figures, for staff only (#12): not an event, no seq of its own.
        this.h.onFigures?.(msg);
        break;
      case "progress":
        this.h.onProgress?.(msg.data || null);
        break;
      default:
        break;
    }
  }

  onAttachReply(ws, msg) {
    this.attachId = null;
    if (msg.type === "error") {
      const verdict = this.h.onAttachError?.(new CommandError(msg)) || "stop";
      if (verdict === "retry") {
        this.drop();
      } else {
        this.stop();
        this.setStatus("idle");
      }
      return;
    }
    this.attached = true;
    this.everAttached = true;
    this.stale = false;
    // The network's round trip (an upper bound: the room's work is in it), until a ping measures it.
    this.rtt = performance.now() - this.attachSentAt;
    this.attempt = 0;
    this.setStatus("online");
    this.h.onAttached?.(msg.result, msg);
    const early = this.early;
    this.early = [];
    for (const event of early) this.h.onEvent?.(event);
    this.startHeartbeat();
    for (const entry of this.outbox.values()) entry.held = false; // a new connection: retry at once
    this.pump(ws);
  }

  onReply(msg) {
    const entry = this.outbox.get(msg.id);
    if (!entry) return;
    if (msg.type === "error" && msg.temporary && entry.tries < TEMPORARY_RETRIES) {
      entry.tries += 1;
      entry.on = null; // refused for now (it may have been applied: it keeps its place in the window)
      entry.held = true;
      setTimeout(() => {
        entry.held = false;
        if (this.open() && this.outbox.has(msg.id)) this.pump(this.ws);
      }, 400 * 2 ** entry.tries);
      return;
    }
    this.outbox.delete(msg.id);
    this.outboxChanged();
    if (this.open()) this.pump(this.ws); // the window moved on
    if (msg.type === "ok") entry.resolve(msg.result);
    else entry.reject(new CommandError(msg));
  }

  /** Whether a frame can go now: attached, on a socket still open (one closing refuses it with a
   * console error; what was not sent goes at the next attach, from the outbox). */
  open() {
    return Boolean(this.attached && this.ws && this.ws.readyState === WebSocket.OPEN);
  }

  /** Queue a command; resolves with the ok result, rejects with a CommandError. */
  send(type, fields = {}) {
    const id = randomId();
    const msg = { ...fields, type, id };
    return new Promise((resolve, reject) => {
      const entry = { msg, resolve, reject, tries: 0, on: null, n: null, sentAt: null };
      this.outbox.set(id, entry);
      if (this.open()) this.pump(this.ws);
      if (entry.sentAt === null) this.outboxChanged(); // (sent, pump stored it)
    });
  }

  rejectAll(code) {
    const entries = Array.from(this.outbox.values());
    this.outbox.clear();
    this.outboxChanged();
    for (const entry of entries) entry.reject(new CommandError({ code, message: code }));
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.lastSeen = performance.now();
    this.pingAt = null;
    this.heartbeat = setInterval(() => {
      if (!this.ws || !this.attached) return;
      if (this.unanswered()) {
        this.drop();
        return;
      }
      this.ping();
    }, PING_EVERY_MS);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeat);
    clearTimeout(this.checkTimer);
    this.heartbeat = null;
    this.checkTimer = null;
  }
}

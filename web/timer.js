// Countdowns from the server's deadline, screen-reader milestones, and the end-of-round beep.

const SOUND_KEY = "workshop.sound";
let audio = null;

/** Seconds left in a round (null: no timer), from the server clock `now`. */
export function secondsLeft(rnd, now) {
  if (!rnd) return null;
  if (rnd.status === "closed") return 0;
  if (rnd.status === "paused") return rnd.remaining === null || rnd.remaining === undefined ? null : rnd.remaining;
  if (rnd.deadline === null || rnd.deadline === undefined) return null;
  return Math.max(0, rnd.deadline - now);
}

/** The round ended at its deadline (the server's timer), not closed early by staff nor untimed. */
export function closedByTimer(rnd) {
  return Boolean(rnd && rnd.status === "closed" && typeof rnd.deadline === "number" && typeof rnd.closed_at === "number" && rnd.closed_at >= rnd.deadline);
}

/** 4:05, or 1:02:03; rounds up so that "0:00" shows only at the end. */
export function formatClock(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const total = Math.max(0, Math.ceil(seconds - 0.001));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Fraction of the round's time left (for a progress bar), or null. */
export function fractionLeft(rnd, now) {
  const left = secondsLeft(rnd, now);
  if (left === null || !rnd.duration) return null;
  return Math.max(0, Math.min(1, left / rnd.duration));
}

export function soundOn() {
  try {
    return localStorage.getItem(SOUND_KEY) !== "off";
  } catch {
    return true;
  }
}

export function setSound(on) {
  try {
    localStorage.setItem(SOUND_KEY, on ? "on" : "off");
  } catch {
    // private mode: the choice lasts for this page only
  }
}

/** Browsers start audio only after a gesture: create the context on the first one. */
export function unlockAudioOnGesture() {
  const unlock = () => {
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!audio && Ctx) audio = new Ctx();
      if (audio && audio.state === "suspended") audio.resume();
    } catch {
      audio = null;
    }
  };
  window.addEventListener("pointerdown", unlock, { passive: true });
  window.addEventListener("keydown", unlock);
}

/** Three short tones. Silent when the sound is off or audio is unavailable. */
export function beep() {
  if (!soundOn()) return;
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!audio && Ctx) audio = new Ctx();
    if (!audio) return;
    const start = audio.currentTime + 0.02;
    for (let i = 0; i < 3; i++) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = i === 2 ? 1046.5 : 880;
      const t0 = start + i * 0.22;
      gain.gain.setValueAtTime(0.0001, t0);
      gain.gain.exponentialRampToValueAtTime(0.25, t0 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(t0);
      osc.stop(t0 + 0.2);
    }
  } catch {
    // no audio device: nothing to do
  }
}

/** Say something to screen readers through the polite live region. */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region || !text) return;
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 60);
}

/**
 * Watches the current round and fires milestones once each: one minute left, ten seconds left, time's
 * up. `check(round, now)` is called by the page's clock tick.
 */
/** A milestone (one minute left, ten seconds, time's up) noticed more than this after it passed is not
 * announced. */
export const LATE_MILESTONE_SECONDS = 10;

export class Milestones {
  constructor(onMilestone) {
    this.onMilestone = onMilestone;
    this.seen = new Map();
  }

  check(rnd, now) {
    if (!rnd || rnd.status !== "open") return;
    const left = secondsLeft(rnd, now);
    if (left === null) return;
    const key = rnd.id;
    let done = this.seen.get(key);
    if (!done) {
      done = new Set();
      // Milestones already behind us when we first see the round are not announced, nor one that is
      // barely ahead (a round of 10 s seen at 10.02 s, the clock's offset off by the network's delay):
      // "Ten seconds left" right after "New round" says nothing.
      if (left <= 61) done.add("minute");
      if (left <= 11) done.add("ten");
      if (left <= 0) done.add("end");
      this.seen.set(key, done);
    }
    for (const [name, at] of [
      ["minute", 60],
      ["ten", 10],
      ["end", 0],
    ]) {
      if (left <= at && !done.has(name)) {
        done.add(name);
        if (name === "end") {
          done.add("minute");
          done.add("ten");
        }
        // Crossed long ago (a page that slept, its clock jumping on when it woke): said late, it
        // would tell the room what is no longer true.
        const raw = typeof rnd.deadline === "number" ? rnd.deadline - now : left; // below 0 once past
        if (at - raw <= LATE_MILESTONE_SECONDS) this.onMilestone(name, rnd);
      }
    }
  }

  /** The round closed (timer or facilitator): time's up, unless already said. */
  closed(rnd) {
    let done = this.seen.get(rnd.id);
    if (!done) {
      done = new Set();
      this.seen.set(rnd.id, done);
    }
    if (done.has("end")) return false;
    done.add("end");
    done.add("minute");
    done.add("ten");
    return true;
  }

  /** Extended or resumed: milestones may come again. */
  reset(rnd, now) {
    this.seen.delete(rnd.id);
    this.check(rnd, now);
  }
}

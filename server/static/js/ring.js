// Alerts nobody misses (SPEC Part 2): a conversation given to the agent or
// a customer's new message in one of theirs (`alert.raised` on the agent's
// stream) shows as a count in the tab's title and a badge on its icon on
// every screen; one screen rings: the one the server names with a `ring`
// frame (of the agent's screens on a node, the one in front, which each
// screen reports with `screen`). Ringing is a short sound (on by default,
// a switch, the audio unlocked by the log-in click, as browsers block
// autoplay) and, when the tab is not in front, a desktop notification
// (permission asked once, from the log-in click).
// Tabs of one browser agree through a BroadcastChannel: the sound switch,
// the alerts seen (opening the conversation in one tab clears it in all),
// and what rang (a ring for an alert a sibling tab already rang, as with
// several nodes, stays silent). An alert missed while disconnected is
// replayed on resume: it counts, it does not ring.
// Test hook: body[data-rings] counts the sounds this tab played.

import { $ } from "./dom.js";
import { t } from "./i18n.js";
import { ui } from "./state.js";

/** @typedef {import('./protocol').Alert} Alert */
/** @typedef {import('./mirror.js').Change} Change */
/** @typedef {import('./mirror.js').Mirror} Mirror */

const SOUND_KEY = "switchboard.sound";
const ASKED_KEY = "switchboard.notifications-asked";
const BASE_TITLE = document.title;
const BASE_ICON = /** @type {HTMLLinkElement | null} */ (document.querySelector("link[rel=icon]"))?.href ?? "";

/** Conversations with an alert the agent has not looked at yet. @type {Set<string>} */
const alerted = new Set();
/** "stream:seq" of alerts rung in this browser (this tab or a sibling). @type {Set<string>} */
const rang = new Set();
/** @type {AudioContext | null} */
let audio = null;
/** @type {BroadcastChannel | null} */
let channel = null;
/** @type {(id: string) => void} */
let open = () => undefined;

export function soundOn() {
  return localStorage.getItem(SOUND_KEY) !== "off";
}

/**
 * Start for a logged-in agent: the tabs' channel, the switch, the reports
 * of being in front. `opener` opens a conversation (a notification's click).
 * @param {string} agentId @param {(front: boolean) => void} report @param {(id: string) => void} opener
 */
export function startAlerts(agentId, report, opener) {
  open = opener;
  channel?.close();
  channel = "BroadcastChannel" in window ? new BroadcastChannel(`switchboard.alerts.${agentId}`) : null;
  if (channel) {
    channel.onmessage = (e) => {
      const m = /** @type {{ seen?: string, rang?: string, sound?: boolean }} */ (e.data);
      if (m.seen && alerted.delete(m.seen)) drawCount();
      if (m.rang) rang.add(m.rang);
      if (m.sound !== undefined) drawSwitch();
    };
  }
  // The switch lives in localStorage: the storage event tells the other tabs too.
  window.addEventListener("storage", (e) => {
    if (e.key === SOUND_KEY) drawSwitch();
  });
  const tell = () => {
    report(inFront());
    if (ui.current && inFront()) seen(ui.current);
  };
  window.addEventListener("focus", tell);
  window.addEventListener("blur", tell);
  document.addEventListener("visibilitychange", tell);
  drawSwitch();
  drawCount();
}

export function inFront() {
  return document.visibilityState === "visible" && document.hasFocus();
}

/** From a click (the log-in, or the first click after a reload): browsers let sound play after one. */
export function unlockAudio() {
  try {
    audio ??= new AudioContext();
    void audio.resume();
  } catch {
    /* no Web Audio: no sound */
  }
}

/** From the log-in click: ask for desktop notifications, once. */
export function askNotifications() {
  if ("Notification" in window && Notification.permission === "default" && !localStorage.getItem(ASKED_KEY)) {
    localStorage.setItem(ASKED_KEY, "1");
    void Notification.requestPermission();
  }
}

/** The sound switch (a checkbox in the top bar). */
export function toggleSound() {
  const on = /** @type {HTMLInputElement} */ ($("sound-toggle")).checked;
  localStorage.setItem(SOUND_KEY, on ? "on" : "off");
  channel?.postMessage({ sound: on });
}

function drawSwitch() {
  /** @type {HTMLInputElement} */ ($("sound-toggle")).checked = soundOn();
  $("sound-label").textContent = t("alerts.sound");
}

/**
 * Every screen: count new alerts; forget the ones the agent has dealt with
 * (read here or elsewhere, opened, or no longer theirs).
 * @param {Mirror} mirror @param {Change[]} changes
 */
export function countAlerts(mirror, changes) {
  for (const c of changes) if (c.kind === "alert.raised" && c.conversationId) alerted.add(c.conversationId);
  if (changes.some((c) => c.kind === "reset")) for (const id of [...alerted]) if (!mirror.assigned.has(id)) alerted.delete(id);
  for (const c of changes) {
    const id = c.conversationId;
    if (!id || !alerted.has(id) || c.kind === "alert.raised") continue;
    const s = mirror.assigned.get(id);
    if (!s || (c.kind === "assigned.updated" && s.unread === 0)) alerted.delete(id);
  }
  if (ui.current && inFront()) seen(ui.current);
  drawCount();
}

/** The agent looked at the conversation: clear its alert in every tab. @param {string} id */
export function seen(id) {
  if (!alerted.delete(id)) return;
  channel?.postMessage({ seen: id });
  drawCount();
}

export function alertCount() {
  return alerted.size;
}

function drawCount() {
  const n = alerted.size;
  document.title = n ? `(${n}) ${BASE_TITLE}` : BASE_TITLE;
  document.body.dataset.alerts = String(n);
  const link = /** @type {HTMLLinkElement | null} */ (document.querySelector("link[rel=icon]"));
  if (link) link.href = n ? badgeIcon(n) : BASE_ICON;
}

/** The app's icon with a red count in its corner, as a data: URL. @param {number} n */
function badgeIcon(n) {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 32;
  const g = canvas.getContext("2d");
  if (!g) return BASE_ICON;
  g.fillStyle = "#3446b8";
  g.beginPath();
  g.roundRect(0, 0, 32, 32, 8);
  g.fill();
  g.fillStyle = "#d92d20";
  g.beginPath();
  g.arc(22, 10, 10, 0, 2 * Math.PI);
  g.fill();
  g.fillStyle = "#fff";
  g.font = "bold 14px sans-serif";
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(n > 9 ? "9+" : String(n), 22, 11);
  return canvas.toDataURL("image/png");
}

/**
 * The server named this screen to ring `alert`. @param {Alert} alert @param {string} key "stream:seq"
 */
export function ring(alert, key) {
  if (rang.has(key)) return; // a sibling tab rang it already
  rang.add(key);
  channel?.postMessage({ rang: key });
  if (soundOn()) beep();
  if (!inFront() && "Notification" in window && Notification.permission === "granted") {
    const title = t({ assigned: "alerts.assigned", message: "alerts.message", offer: "alerts.offer" }[alert.reason], { name: alert.contact_name });
    const note = new Notification(title, { body: alert.preview, tag: alert.conversation_id });
    note.onclick = () => {
      window.focus();
      open(alert.conversation_id);
      note.close();
    };
  }
}

/** Two short tones (Web Audio: nothing to download, nothing for the CSP to allow). */
function beep() {
  if (!audio) return; // not unlocked by a click yet
  document.body.dataset.rings = String(Number(document.body.dataset.rings ?? 0) + 1);
  const now = audio.currentTime;
  for (const [at, hz] of /** @type {const} */ ([[0, 880], [0.16, 1175]])) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = hz;
    gain.gain.setValueAtTime(0.001, now + at);
    gain.gain.exponentialRampToValueAtTime(0.2, now + at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.001, now + at + 0.14);
    osc.connect(gain).connect(audio.destination);
    osc.start(now + at);
    osc.stop(now + at + 0.15);
  }
}

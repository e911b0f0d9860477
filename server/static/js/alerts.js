// What the app tells the agent besides the screens: toasts for refused
// commands, the connection badge and banner, and polite announcements for
// screen readers.

import { CommandError, ConnectionLost } from "./client.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";

/** @typedef {import('./mirror.js').Change} Change */
/** @typedef {import('./mirror.js').Mirror} Mirror */

/** @param {unknown} e */
export function errorText(e) {
  if (e instanceof CommandError) return e.message;
  if (e instanceof ConnectionLost) return t("error.connectionLost");
  if (e instanceof Error) return e.message;
  return String(e);
}

/** @param {string} text @param {"error" | "info"} [kind] */
export function toast(text, kind = "error") {
  const node = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text });
  $("toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

/**
 * Run a command from a click; show a refusal as a toast.
 * @param {() => Promise<unknown>} action
 */
export async function attempt(action) {
  try {
    await action();
    return true;
  } catch (e) {
    toast(errorText(e));
    return false;
  }
}

/** @param {import('./client.js').State} state */
export function renderConnection(state) {
  const badge = $("conn-state");
  badge.dataset.state = state;
  badge.textContent = { idle: "", connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", failed: "Offline", closed: "" }[state];
  $("conn-banner").hidden = state !== "reconnecting";
}

/** The sentence a screen reader hears for a change, if any. @param {Mirror} mirror @param {Change} c */
export function announcement(mirror, c) {
  const s = c.conversationId ? mirror.conversation(c.conversationId) : null;
  const name = s?.contact.display_name ?? "a contact";
  /** @type {Record<string, string>} */
  const texts = {
    "inbox.added": `New conversation in the Inbox from ${name}.`,
    "assigned.added": `Conversation with ${name} assigned to you.`,
    "session.locked": `Session with ${name} has closed; the editor is locked.`,
    "session.unlocked": `${name} wrote again; the editor is unlocked.`,
  };
  return texts[c.kind] ?? null;
}

/** Tell screen readers what changed (politely). @param {Mirror} mirror @param {Change[]} changes */
export function announce(mirror, changes) {
  for (const c of changes) {
    const text = announcement(mirror, c);
    if (text) $("announcer").textContent = text;
  }
}

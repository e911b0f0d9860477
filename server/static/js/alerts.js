// What the app tells the agent besides the screens: toasts for refused
// commands, the connection badge and banner, and polite announcements for
// screen readers.

import { AuthError, CommandError, ConnectionLost } from "./client.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";

/** @typedef {import('./mirror.js').Change} Change */
/** @typedef {import('./mirror.js').Mirror} Mirror */

/** @param {unknown} e */
export function errorText(e) {
  if (e instanceof CommandError || e instanceof AuthError) return errorMessage(e.code, e.message);
  if (e instanceof ConnectionLost) return t("error.connection_lost");
  return t("error.unexpected");
}

/**
 * The agent's words for one of the server's error codes (protocol/errors.py):
 * every code has an `error.<code>` entry in every catalog; a code this app
 * does not know yet shows the server's own (English) message.
 * @param {string} code @param {string} [fallback]
 */
export function errorMessage(code, fallback = "") {
  const key = `error.${code}`;
  const text = t(key);
  return text === key ? fallback || t("error.unexpected") : text;
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
  badge.textContent = state === "idle" || state === "closed" ? "" : t(`conn.${state}`);
  $("conn-banner").hidden = state !== "reconnecting";
}

/** The sentence a screen reader hears for a change, if any. @param {Mirror} mirror @param {Change} c */
export function announcement(mirror, c) {
  const s = c.conversationId ? mirror.conversation(c.conversationId) : null;
  const name = s?.contact.display_name ?? t("announce.a_contact");
  /** @type {Record<string, string>} */
  const keys = {
    "inbox.added": "announce.inbox_added",
    "assigned.added": "announce.assigned_added",
    "session.locked": "announce.session_locked",
    "session.unlocked": "announce.session_unlocked",
  };
  return c.kind in keys ? t(keys[c.kind], { name }) : null;
}

/** The unread total last announced (the bubble itself is hidden from screen readers). */
let unreadSaid = 0;

/** Tell screen readers what changed (politely). @param {Mirror} mirror @param {Change[]} changes */
export function announce(mirror, changes) {
  for (const c of changes) {
    const text = announcement(mirror, c);
    if (text) $("announcer").textContent = text;
  }
  // Unread changes: a customer's new message, and everything read.
  const message = changes.find((c) => c.kind === "alert.raised" && c.conversationId && mirror.assigned.get(c.conversationId)?.unread);
  if (message?.conversationId) {
    const name = mirror.conversation(message.conversationId)?.contact.display_name ?? "";
    $("announcer").textContent = t("a11y.newMessage", { name, count: mirror.unreadTotal });
  } else if (unreadSaid > 0 && mirror.unreadTotal === 0 && !changes.some((c) => c.kind === "reset")) {
    $("announcer").textContent = t("a11y.allRead");
  }
  unreadSaid = mirror.unreadTotal;
}

// Pure view models: what each part of the screen shows, derived from the
// mirror's summaries and the UI state. No DOM, no clock, no sockets: the
// render modules (list.js, conversation.js) draw these, and tests/js/ test
// them under `node --test`.
//
// Permissions are the server's. Each summary says what may be done to it,
// per class of receiver (`can`: principal → actions), and the welcome says
// which principals this agent is; `allowedActions` takes the union. No rule
// about roles, queues or assignees lives here: this module is not even told
// who the agent is (tests/js/view.test.mjs checks it).

import * as fmt from "./format.js";

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */
/** @typedef {import('./protocol').AgentView} AgentView */
/** @typedef {import('./protocol').QueueView} QueueView */
/** @typedef {ConversationSummary["can"][string][number]} Action */
/** @typedef {"inbox" | "assigned"} Tab */

/**
 * The rows of a list, newest activity first, grouped by channel (WhatsApp
 * first). A virtualized list windows over `rows` of each group.
 * @param {Iterable<ConversationSummary>} summaries
 * @param {boolean} [oldestFirst]  the Inbox: oldest waiting first
 * @returns {Array<{ channel: "whatsapp" | "messenger", rows: ConversationSummary[] }>}
 */
export function listGroups(summaries, oldestFirst = false) {
  const rows = [...summaries];
  rows.sort((a, b) => (b.last_message_at ?? b.created_at) - (a.last_message_at ?? a.created_at));
  // The Inbox is a window of the oldest waiting (docs/PROTOCOL.md): shown
  // in the order agents work in, so the pages read as the agent scrolls join at the end.
  if (oldestFirst) rows.reverse();
  return /** @type {const} */ (["whatsapp", "messenger"])
    .map((channel) => ({ channel, rows: rows.filter((s) => s.channel === channel) }))
    .filter((g) => g.rows.length);
}

/** @param {ConversationSummary} s */
export function showsLock(s) {
  return s.session_locked && s.status === "open" && s.last_message_at !== null;
}

/**
 * One row of a list, and the stamp that says when its DOM must be rebuilt.
 * @param {ConversationSummary} s
 * @param {{ tab: Tab, current: string | null, focusId: string | null, today: string }} ui
 *   today: the local day's toDateString(), as the row's time shows "14:05" or "Mar 3"
 */
export function rowView(s, ui) {
  const selected = s.id === ui.current;
  const unread = ui.tab === "assigned" && s.unread > 0;
  const locked = showsLock(s);
  const label = [
    s.contact.display_name,
    fmt.channelName(s.channel),
    s.preview ? `last message: ${s.preview}` : "",
    unread ? `${s.unread} unread` : "",
    locked ? "session closed" : "",
  ]
    .filter(Boolean)
    .join(", ");
  const focused = s.id === ui.focusId;
  // The summary's version moves on every change the server makes; the contact
  // may be renamed at the same version, so its name is part of the stamp.
  const stamp = [s.version, s.contact.display_name, s.contact.initials ?? "", selected, unread, focused, ui.today].join("|");
  return { selected, unread, locked, label, focused, stamp };
}

/**
 * What the server says this agent may do to a conversation: the union of the
 * summary's grants to the agent's principals (the welcome's).
 * @param {ConversationSummary} s @param {readonly string[]} principals
 * @returns {Set<Action>}
 */
export function allowedActions(s, principals) {
  return new Set(principals.flatMap((p) => s.can?.[p] ?? []));
}

/**
 * What the conversation pane shows for one summary.
 * @param {ConversationSummary} s
 * @param {{ can: Set<Action>, held: boolean, lost: string | null, hasMessages: boolean, agentName: (id: string | null) => string }} ctx
 *   can: `allowedActions`; held: the conversation is in this agent's Assigned list (the server put it there)
 */
export function conversationView(s, ctx) {
  const open = s.status === "open" && !ctx.lost;
  const may = (/** @type {Action} */ action) => !ctx.lost && ctx.can.has(action);
  const whatsapp = s.channel === "whatsapp";

  const actions = {
    claim: may("claim"),
    assign: may("assign"),
    toInbox: may("send_to_inbox"),
    endChat: may("end_chat"),
    snapshot: may("contact_card"),
    notes: whatsapp && !ctx.lost,
  };

  let notice = ctx.lost ?? "";
  if (!notice && s.status === "ended") notice = `This conversation ended${s.ended_at ? " " + fmt.fullTime(s.ended_at) : ""}. If the contact writes again, a new conversation starts in the Inbox.`;
  else if (!notice && s.assignee_id === null) notice = "In the Inbox: take it to reply.";
  else if (!notice && !ctx.held) notice = `Assigned to ${ctx.agentName(s.assignee_id)}.`;

  const lockedNow = open && s.session_locked;
  const lock = lockedNow
    ? {
        title: whatsapp ? "The 24-hour session has closed." : "The Messenger reply window has closed.",
        text: whatsapp
          ? s.last_message_at === null || !ctx.hasMessages
            ? "No session is open: only an approved template can start the conversation."
            : "The contact has not written in the last 24 hours, so only an approved template can be sent. The editor unlocks as soon as they write again."
          : "The contact has not written recently; replies are refused until they write again.",
      }
    : null;

  /** @type {{ enabled: boolean, placeholder: string, templates: boolean }} */
  let editor;
  if (!open) editor = { enabled: false, placeholder: ctx.lost ?? "This conversation has ended.", templates: false };
  else if (may("send")) editor = { enabled: true, placeholder: "Write a reply. Enter adds a line; Shift+Enter sends.", templates: may("send_template") };
  else if (lockedNow && may("end_chat")) editor = { enabled: false, placeholder: "Locked: the session has closed. Send a template, end the chat, or wait for the contact.", templates: may("send_template") };
  else editor = { enabled: false, placeholder: s.assignee_id === null ? "Take this conversation to reply." : `Only ${ctx.agentName(s.assignee_id)} can reply.`, templates: false };

  const wrapUp = may("wrap_up");
  const canNote = may("add_note");
  // Reading it clears the unread bubble everywhere.
  const markRead = may("read");
  return { open, whatsapp, actions, notice, lock, editor, wrapUp, canNote, markRead };
}

/**
 * The session countdown, or null when none shows.
 * @param {ConversationSummary | null} s @param {string | null} lost @param {number} serverNow
 */
export function timerView(s, lost, serverNow) {
  if (!s || s.status !== "open" || s.session_locked || s.session_expires_at === null || lost) return null;
  const left = s.session_expires_at - serverNow;
  return { urgent: left < 3600_000, text: `Session closes in ${fmt.countdown(left)}`, closesAt: s.session_expires_at };
}

/**
 * Agents the conversation may be handed to: the server's list for its queue
 * (`QueueView.assignable`), less the one holding it.
 * @param {ConversationSummary} s @param {AgentView[]} agents @param {QueueView[]} queues
 */
export function assignable(s, agents, queues) {
  const ids = new Set(queues.find((q) => q.id === s.queue_id)?.assignable ?? []);
  return agents.filter((a) => ids.has(a.id) && a.id !== s.assignee_id);
}

/**
 * Where a key moves the focus in a list of `n` rows from row `at`:
 * a row index, "open" (Enter, Space), or null (not a list key).
 * @param {string} key @param {number} at @param {number} n
 * @returns {number | "open" | null}
 */
export function listKeyTarget(key, at, n) {
  if (key === "ArrowDown") return Math.min(n - 1, at + 1);
  if (key === "ArrowUp") return Math.max(0, at - 1);
  if (key === "Home") return 0;
  if (key === "End") return n - 1;
  if (key === "Enter" || key === " ") return "open";
  return null;
}

/**
 * Search matches: step through `n` hits, wrapping around.
 * @param {number} index @param {number} step @param {number} n
 */
export function stepIndex(index, step, n) {
  return n ? (index + step + n) % n : -1;
}

/**
 * The parameters {{1}}…{{n}} of a template's text, and its preview.
 * @param {string} text
 */
export function templateParamCount(text) {
  return new Set([...text.matchAll(/\{\{(\d+)\}\}/g)].map((m) => m[1])).size;
}

/** @param {string} text @param {string[]} values */
export function templatePreview(text, values) {
  return text.replace(/\{\{(\d+)\}\}/g, (_, n) => values[Number(n) - 1] || `{{${n}}}`);
}

/**
 * The conversation id of a "#/c/<id>" link (URL-encoded by the widget), or null.
 * @param {string} hash
 */
export function routeId(hash) {
  // Ids end with their thread's shard ("c_0192….3a4").
  const match = hash.match(/^#\/c\/([\w.%-]+)$/);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null; // a mangled link
  }
}

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
import { language, t } from "./i18n.js";

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

/** @typedef {"waiting" | "unread" | "activity"} SortKey */

/** The sorts each list offers, its default first. @type {Record<Tab, SortKey[]>} */
export const SORTS = { inbox: ["waiting", "unread", "activity"], assigned: ["activity", "unread", "waiting"] };

/** Lowercase, without accents: "José" → "jose". @param {string} text */
export function fold(text) {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

/**
 * Does a row match the filter box? The contact's name or username, case-
 * and accent-insensitive; or, for a query of digits (spaces, +, -, ( ) allowed),
 * the number's digits ("98765 0001" finds +55 11 98765-0001).
 * @param {ConversationSummary} s @param {string} query
 */
export function matchesFilter(s, query) {
  const q = fold(query.trim());
  if (!q) return true;
  if (fold(s.contact.display_name).includes(q) || fold(s.contact.username ?? "").includes(q)) return true;
  if (!/^[\d\s+().-]+$/.test(q)) return false;
  const digits = q.replace(/\D/g, "");
  return digits.length > 0 && (s.contact.address.replace(/\D/g, "").includes(digits) || s.contact.display_name.replace(/\D/g, "").includes(digits));
}

/**
 * The filter as the server's `inbox_page` query: a number typed with spaces,
 * dashes or brackets ("98765-0001") as its digits, which the server finds in
 * the contact's E.164 address; anything else as typed.
 * @param {string} query
 */
export function serverQuery(query) {
  const q = query.trim();
  return /^[\d\s+().-]+$/.test(q) && /\d/.test(q) ? q.replace(/\D/g, "") : q;
}

/**
 * When the conversation waiting longest started waiting, across the queues'
 * counts (the whole Inbox, not the window); null when none waits.
 * @param {Iterable<import('./protocol').QueueCounts>} counts
 */
export function oldestWaiting(counts) {
  let oldest = null;
  for (const c of counts) if (c.inbox > 0 && c.oldest_at !== null && (oldest === null || c.oldest_at < oldest)) oldest = c.oldest_at;
  return oldest;
}

/** @param {ConversationSummary} s */
const activity = (s) => s.last_message_at ?? s.created_at;

/**
 * A list's rows in the chosen order: waiting longest first (the Inbox's
 * order, the server's: oldest activity, ties by id), most unread first, or
 * latest activity first.
 * @param {ConversationSummary[]} rows @param {SortKey} sort
 */
export function sortRows(rows, sort) {
  /** @type {(a: ConversationSummary, b: ConversationSummary) => number} */
  const waiting = (a, b) => activity(a) - activity(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const latest = (/** @type {ConversationSummary} */ a, /** @type {ConversationSummary} */ b) => -waiting(a, b);
  const order = sort === "waiting" ? waiting : sort === "unread" ? (/** @type {ConversationSummary} */ a, /** @type {ConversationSummary} */ b) => b.unread - a.unread || latest(a, b) : latest;
  return [...rows].sort(order);
}

/**
 * The rows of a list filtered and sorted, grouped by channel (WhatsApp first).
 * @param {Iterable<ConversationSummary>} summaries @param {SortKey} sort @param {string} query
 * @returns {Array<{ channel: "whatsapp" | "messenger", rows: ConversationSummary[] }>}
 */
export function arrangeList(summaries, sort, query) {
  const rows = sortRows([...summaries].filter((s) => matchesFilter(s, query)), sort);
  return /** @type {const} */ (["whatsapp", "messenger"])
    .map((channel) => ({ channel, rows: rows.filter((s) => s.channel === channel) }))
    .filter((g) => g.rows.length);
}

/**
 * Which rows of a group a virtualized list draws: those under the viewport
 * plus `overscan` on each side. Rows have one height; the group's first row
 * starts at `top` in the scrolled content.
 * @param {number} count @param {number} top @param {number} scrollTop @param {number} viewHeight
 * @param {number} rowHeight @param {number} [overscan]
 * @returns {{ first: number, end: number }}  rows [first, end)
 */
export function visibleRange(count, top, scrollTop, viewHeight, rowHeight, overscan = 5) {
  const first = Math.floor((scrollTop - top) / rowHeight) - overscan;
  const end = Math.ceil((scrollTop + viewHeight - top) / rowHeight) + overscan;
  const clamp = (/** @type {number} */ n) => Math.max(0, Math.min(count, n));
  return { first: clamp(first), end: Math.max(clamp(first), clamp(end)) };
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
    s.preview ? t("row.label_preview", { preview: s.preview }) : "",
    unread ? t("row.label_unread", { count: s.unread, n: fmt.number(s.unread) }) : "",
    locked ? t("row.label_locked") : "",
  ]
    .filter(Boolean)
    .join(", ");
  const focused = s.id === ui.focusId;
  // The summary's version moves on every change the server makes; the contact
  // may be renamed at the same version, so its name is part of the stamp.
  const stamp = [s.version, s.contact.display_name, s.contact.initials ?? "", selected, unread, focused, ui.today, language()].join("|");
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
  if (!notice && s.status === "ended") notice = s.ended_at ? t("conv.ended_at", { time: fmt.fullTime(s.ended_at) }) : t("conv.ended");
  else if (!notice && s.assignee_id === null) notice = t("conv.in_inbox");
  else if (!notice && !ctx.held) notice = t("conv.assigned_to", { name: ctx.agentName(s.assignee_id) });

  const lockedNow = open && s.session_locked;
  const lock = lockedNow
    ? {
        title: whatsapp ? t("lock.title_whatsapp") : t("lock.title_messenger"),
        text: whatsapp
          ? s.last_message_at === null || !ctx.hasMessages
            ? t("lock.text_no_session")
            : t("lock.text_whatsapp")
          : t("lock.text_messenger"),
      }
    : null;

  /** @type {{ enabled: boolean, placeholder: string, templates: boolean }} */
  let editor;
  if (!open) editor = { enabled: false, placeholder: ctx.lost ?? t("editor.ended"), templates: false };
  else if (may("send")) editor = { enabled: true, placeholder: t("editor.placeholder"), templates: may("send_template") };
  else if (lockedNow && may("end_chat")) editor = { enabled: false, placeholder: t("editor.locked"), templates: may("send_template") };
  else editor = { enabled: false, placeholder: s.assignee_id === null ? t("editor.take_to_reply") : t("editor.only_assignee", { name: ctx.agentName(s.assignee_id) }), templates: false };

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
  return { urgent: left < 3600_000, text: t("timer.closes_in", { time: fmt.countdown(left) }), closesAt: s.session_expires_at };
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
  if (key === "PageDown") return Math.min(n - 1, at + 10);
  if (key === "PageUp") return Math.max(0, at - 10);
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

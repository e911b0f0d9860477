// Pure display helpers: times, countdowns, names, highlighted text.

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */
/** @typedef {import('./protocol').MessageView} MessageView */

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/**
 * "14:05" today, "Mar 3" before.
 * @param {number | null} ms @param {number} now
 */
export function listTime(ms, now) {
  if (ms === null) return "";
  const d = new Date(ms);
  return new Date(now).toDateString() === d.toDateString() ? timeFmt.format(d) : dayFmt.format(d);
}

/** @param {number} ms */
export function messageTime(ms) {
  return timeFmt.format(new Date(ms));
}

/** @param {number} ms */
export function fullTime(ms) {
  return fullFmt.format(new Date(ms));
}

/**
 * Time left as "23:59:08", or "6d 23h" beyond a day; "0:00:00" when past.
 * @param {number} ms
 */
export function countdown(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (days > 0) return `${days}d ${h}h`;
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

/** @param {"whatsapp" | "messenger"} channel */
export function channelName(channel) {
  return channel === "whatsapp" ? "WhatsApp" : "Messenger";
}

/** @type {Record<string, { icon: string, label: string }>} */
export const DELIVERY = {
  pending: { icon: "◷", label: "Sending" },
  sent: { icon: "✓", label: "Sent" },
  delivered: { icon: "✓✓", label: "Delivered" },
  read: { icon: "✓✓", label: "Read" },
  failed: { icon: "!", label: "Failed" },
  received: { icon: "", label: "Received" },
};

/**
 * Split `text` into plain and highlighted parts. Spans are [start, end)
 * ranges in code points (the server counts Python str characters), so the
 * text is sliced by code point, not by UTF-16 unit.
 * @param {string} text
 * @param {Array<[number, number]>} spans
 * @returns {Array<{ text: string, mark: boolean, index: number }>}  index: which span (or -1)
 */
export function splitSpans(text, spans) {
  const chars = Array.from(text);
  /** @type {Array<{ text: string, mark: boolean, index: number }>} */
  const parts = [];
  let at = 0;
  const sorted = spans.map((s, i) => ({ start: s[0], end: s[1], i })).sort((a, b) => a.start - b.start);
  for (const { start, end, i } of sorted) {
    if (start < at || end > chars.length || start >= end) continue;
    if (start > at) parts.push({ text: chars.slice(at, start).join(""), mark: false, index: -1 });
    parts.push({ text: chars.slice(start, end).join(""), mark: true, index: i });
    at = end;
  }
  if (at < chars.length) parts.push({ text: chars.slice(at).join(""), mark: false, index: -1 });
  return parts;
}

/**
 * Initials for an agent's own name (contacts come with theirs from the server).
 * @param {string} name
 */
export function agentInitials(name) {
  const words = name.split(/\s+/).filter((w) => /\p{L}/u.test(w));
  if (!words.length) return "?";
  const first = (/** @type {string} */ w) => (w.match(/\p{L}/u) ?? ["?"])[0].toUpperCase();
  return words.length === 1 ? first(words[0]) : first(words[0]) + first(words[words.length - 1]);
}

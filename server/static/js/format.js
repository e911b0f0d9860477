// Pure display helpers: times, countdowns, names, highlighted text. Dates,
// times and numbers go through Intl in the app's language (i18n.js).

import { language, t } from "./i18n.js";

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */
/** @typedef {import('./protocol').MessageView} MessageView */

/** @type {Map<string, Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>} */
const formats = new Map();

/**
 * One formatter per language and options, made on first use.
 * @template T @param {string} name @param {(lang: string) => T} make @returns {T}
 */
function cached(name, make) {
  const key = `${language()}|${name}`;
  let f = formats.get(key);
  if (!f) formats.set(key, (f = /** @type {any} */ (make(language()))));
  return /** @type {T} */ (/** @type {unknown} */ (f));
}

const timeFmt = () => cached("time", (l) => new Intl.DateTimeFormat(l, { hour: "2-digit", minute: "2-digit" }));
const dayFmt = () => cached("day", (l) => new Intl.DateTimeFormat(l, { month: "short", day: "numeric" }));
const fullFmt = () => cached("full", (l) => new Intl.DateTimeFormat(l, { dateStyle: "medium", timeStyle: "short" }));
const longDayFmt = () => cached("longday", (l) => new Intl.DateTimeFormat(l, { weekday: "long", month: "long", day: "numeric" }));

/** A count in the language's digits and grouping ("1,234", "1.234"). @param {number} n */
export function number(n) {
  return cached("number", (l) => new Intl.NumberFormat(l)).format(n);
}

/** "Tuesday, March 3": the thread's day separators. @param {number} ms */
export function dayName(ms) {
  return longDayFmt().format(new Date(ms));
}

/**
 * How long ago, in words ("5 minutes ago", "hace 5 minutos").
 * @param {number} ms @param {number} now
 */
export function relativeTime(ms, now) {
  const rtf = cached("relative", (l) => new Intl.RelativeTimeFormat(l, { numeric: "auto" }));
  const seconds = Math.round((ms - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(seconds, "second");
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}

/**
 * "14:05" today, "Mar 3" before.
 * @param {number | null} ms @param {number} now
 */
export function listTime(ms, now) {
  if (ms === null) return "";
  const d = new Date(ms);
  return new Date(now).toDateString() === d.toDateString() ? timeFmt().format(d) : dayFmt().format(d);
}

/** @param {number} ms */
export function messageTime(ms) {
  return timeFmt().format(new Date(ms));
}

/** @param {number} ms */
export function fullTime(ms) {
  return fullFmt().format(new Date(ms));
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
  if (days > 0) return t("time.days_hours", { days, hours: h });
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

/** @param {"whatsapp" | "messenger"} channel */
export function channelName(channel) {
  return channel === "whatsapp" ? "WhatsApp" : "Messenger";
}

/** @type {Record<string, string>} */
const DELIVERY_ICONS = { pending: "◷", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!", received: "" };

/**
 * A delivery status's icon and its words in the current language.
 * @param {string} status @returns {{ icon: string, label: string } | undefined}
 */
export function delivery(status) {
  const icon = DELIVERY_ICONS[status];
  return icon === undefined ? undefined : { icon, label: t(`delivery.${status}`) };
}

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

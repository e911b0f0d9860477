// Links in messages: http(s) URLs become clickable, safely; nothing else
// does (a "javascript:" or "data:" text stays text). Pure: text in, pieces
// out; conversation.js draws them (`<a target="_blank" rel="noopener
// noreferrer">`, so the opened page gets no handle on the app).

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
/** Punctuation that ends a sentence rather than the URL ("see https://x.test."). */
const TRAILING = ".,;:!?)]}'\"»”";

/**
 * @param {string} text
 * @returns {Array<{ text: string, href: string | null }>}
 */
export function linkPieces(text) {
  /** @type {Array<{ text: string, href: string | null }>} */
  const out = [];
  let at = 0;
  for (const m of text.matchAll(URL_RE)) {
    let url = m[0];
    while (url && TRAILING.includes(url[url.length - 1])) {
      // Keep a closing parenthesis that closes one opened inside the URL (Wikipedia-style).
      if (url.endsWith(")") && url.split("(").length > url.split(")").length - 1) break;
      url = url.slice(0, -1);
    }
    const href = safeHref(url);
    if (!href) continue;
    const start = /** @type {number} */ (m.index);
    if (start > at) out.push({ text: text.slice(at, start), href: null });
    out.push({ text: url, href });
    at = start + url.length;
  }
  if (at < text.length) out.push({ text: text.slice(at), href: null });
  return out;
}

/** The URL if it parses as http(s), else null. @param {string} raw */
export function safeHref(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

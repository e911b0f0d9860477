// Drafts: what the agent typed in a conversation's editor, kept in the
// browser's localStorage per agent and conversation, so switching
// conversations, reloading the page or a server restart never loses it.
// Cleared when the text is sent. Not shared between browsers (a draft is a
// screen's own work, never sent to the server).
//
// Pruned (`pruneDrafts`) when the app starts and when a wrap-up is recorded:
// drafts of conversations that ended (nothing more can be sent in them) and
// drafts not touched for `MAX_DRAFT_AGE_MS`. Each is stored with when it was
// last written: `{"text": …, "at": ms}` (a plain string from before is read
// as its text, and dated when first pruned).

const PREFIX = "switchboard.draft.";

/** Drafts not written for this long are removed (14 days). */
export const MAX_DRAFT_AGE_MS = 14 * 24 * 3600 * 1000;

/** @param {string} agentId @param {string} conversationId */
export function draftKey(agentId, conversationId) {
  return `${PREFIX}${agentId}.${conversationId}`;
}

/**
 * A stored draft: its text and when it was written (null: stored before drafts were dated).
 * @param {string} raw @returns {{ text: string, at: number | null }}
 */
export function parseDraft(raw) {
  if (raw.startsWith("{")) {
    try {
      const value = JSON.parse(raw);
      if (value && typeof value.text === "string" && typeof value.at === "number") return { text: value.text, at: value.at };
    } catch {
      /* a plain text that starts with "{" */
    }
  }
  return { text: raw, at: null };
}

/** @param {string} agentId @param {string} conversationId */
export function loadDraft(agentId, conversationId) {
  try {
    const raw = localStorage.getItem(draftKey(agentId, conversationId));
    return raw === null ? "" : parseDraft(raw).text;
  } catch {
    return ""; // storage blocked (private mode, quota): the editor still works
  }
}

/** An empty text removes the draft. @param {string} agentId @param {string} conversationId @param {string} text @param {number} [now] */
export function saveDraft(agentId, conversationId, text, now = Date.now()) {
  try {
    if (text) localStorage.setItem(draftKey(agentId, conversationId), JSON.stringify({ text, at: now }));
    else localStorage.removeItem(draftKey(agentId, conversationId));
  } catch {
    /* storage blocked: the draft lives as long as the page */
  }
}

/**
 * Which of the agent's drafts go: those of conversations that ended, and
 * those older than `maxAge`. Undated ones (stored before drafts were dated)
 * are returned in `undated`, to be dated now.
 * @param {Array<[string, string]>} entries  localStorage's [key, value] pairs
 * @param {string} agentId
 * @param {(conversationId: string) => boolean} ended
 * @param {number} now
 * @param {number} [maxAge]
 * @returns {{ stale: string[], undated: string[] }}  keys
 */
export function staleDrafts(entries, agentId, ended, now, maxAge = MAX_DRAFT_AGE_MS) {
  const mine = `${PREFIX}${agentId}.`;
  /** @type {string[]} */
  const stale = [];
  /** @type {string[]} */
  const undated = [];
  for (const [key, raw] of entries) {
    if (!key.startsWith(mine)) continue;
    const { at } = parseDraft(raw);
    if (ended(key.slice(mine.length)) || (at !== null && now - at > maxAge)) stale.push(key);
    else if (at === null) undated.push(key);
  }
  return { stale, undated };
}

/**
 * Remove the agent's stale drafts from localStorage (see `staleDrafts`).
 * @param {string} agentId @param {(conversationId: string) => boolean} ended @param {number} [now]
 * @returns {number} how many were removed
 */
export function pruneDrafts(agentId, ended, now = Date.now()) {
  try {
    /** @type {Array<[string, string]>} */
    const entries = [];
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      const value = key === null ? null : localStorage.getItem(key);
      if (key !== null && value !== null) entries.push([key, value]);
    }
    const { stale, undated } = staleDrafts(entries, agentId, ended, now);
    for (const key of stale) localStorage.removeItem(key);
    for (const key of undated) {
      const raw = localStorage.getItem(key);
      if (raw !== null) localStorage.setItem(key, JSON.stringify({ text: raw, at: now }));
    }
    return stale.length;
  } catch {
    return 0; // storage blocked: nothing is kept anyway
  }
}

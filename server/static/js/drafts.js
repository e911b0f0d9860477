// Drafts: what the agent typed in a conversation's editor, kept in the
// browser's localStorage per agent and conversation, so switching
// conversations, reloading the page or a server restart never loses it.
// Cleared when the text is sent. Not shared between browsers (a draft is a
// screen's own work, never sent to the server).

const PREFIX = "switchboard.draft.";

/** @param {string} agentId @param {string} conversationId */
export function draftKey(agentId, conversationId) {
  return `${PREFIX}${agentId}.${conversationId}`;
}

/** @param {string} agentId @param {string} conversationId */
export function loadDraft(agentId, conversationId) {
  try {
    return localStorage.getItem(draftKey(agentId, conversationId)) ?? "";
  } catch {
    return ""; // storage blocked (private mode, quota): the editor still works
  }
}

/** An empty text removes the draft. @param {string} agentId @param {string} conversationId @param {string} text */
export function saveDraft(agentId, conversationId, text) {
  try {
    if (text) localStorage.setItem(draftKey(agentId, conversationId), text);
    else localStorage.removeItem(draftKey(agentId, conversationId));
  } catch {
    /* storage blocked: the draft lives as long as the page */
  }
}

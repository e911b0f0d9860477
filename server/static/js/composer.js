// The editor's life: its draft per conversation (./drafts.js), and a send
// while disconnected, which waits for the connection and goes out once. Each
// send carries an idempotency key (docs/PROTOCOL.md, `send`): when the
// connection drops before the server's answer, the same command with the
// same key goes again once the connection is back, and the server answers
// the first one's message if it was stored, so the text goes out once. It
// stays in the editor, said plainly, when the agent cancels or the server
// refuses it.

import { errorText, toast } from "./alerts.js";
import { sendAttachment } from "./attach.js";
import { ConnectionLost, newIdempotencyKey } from "./client.js";
import { $ } from "./dom.js";
import { loadDraft, saveDraft } from "./drafts.js";
import { t } from "./i18n.js";
import { live, me, ui } from "./state.js";

/**
 * Sends waiting for the connection, by conversation.
 * @type {Map<string, { text: string, cancelled: boolean }>}
 */
const waiting = new Map();

/** Why the last send of a conversation stayed in its editor. @type {Map<string, string>} */
const held = new Map();

function editor() {
  return /** @type {HTMLTextAreaElement} */ ($("editor"));
}

/** The open conversation's draft into the editor (on open, and after a reload). */
export function restoreDraft() {
  const agent = me();
  const id = ui.current;
  const w = id ? waiting.get(id) : undefined;
  editor().value = w ? w.text : agent && id ? loadDraft(agent.id, id) : "";
  renderComposerState();
}

/** Keep what the agent types (the editor's input event). */
export function draftTyped() {
  const agent = me();
  if (agent && ui.current) saveDraft(agent.id, ui.current, editor().value);
  if (ui.current && held.delete(ui.current)) renderComposerState();
}

/**
 * The state line under the editor, and the editor held read-only while a
 * send waits, or when the conversation was lost with a draft in it (kept
 * selectable, with a Copy button, rather than disabled).
 */
export function renderComposerState() {
  const id = ui.current;
  const w = id ? waiting.get(id) : undefined;
  const lostDraft = !!ui.lost && editor().value !== "";
  const why = lostDraft ? t("lost.draftKept") : id ? held.get(id) : undefined;
  const box = $("composer-state");
  box.hidden = !w && !why;
  $("composer-state-text").textContent = w ? t("composer.waiting") : (why ?? "");
  const cancel = $("composer-cancel");
  cancel.hidden = !w;
  cancel.textContent = t("composer.cancel");
  const copy = $("copy-draft");
  copy.hidden = !lostDraft;
  copy.textContent = t("lost.copyDraft");
  if (lostDraft) editor().disabled = false;
  editor().readOnly = !!w || lostDraft;
  $("composer").dataset.state = w ? "waiting" : lostDraft ? "lost" : why ? "held" : "";
}

/** Copy a lost conversation's draft (it stays in the editor and in storage too). */
export async function copyDraft() {
  const box = editor();
  box.select();
  try {
    await navigator.clipboard.writeText(box.value);
    toast(t("lost.copied"), "info");
  } catch {
    /* no clipboard access: the text is selected for Ctrl+C */
  }
}

/** Give up a send that waits for the connection: its text stays in the editor. */
export function cancelWaiting() {
  const id = ui.current;
  const w = id ? waiting.get(id) : undefined;
  if (!id || !w) return;
  w.cancelled = true;
  waiting.delete(id);
  held.set(id, t("composer.cancelled"));
  renderComposerState();
  editor().focus();
}

/** Shift+Enter or Send. */
export async function sendMessage() {
  const id = ui.current;
  const agent = me();
  const box = editor();
  const text = box.value;
  // A file waiting to go (attach.js) goes first, with the text as its caption.
  const file = id && !box.disabled && !waiting.has(id) ? await sendAttachment(text.trim()) : "none";
  if (file !== "none") {
    if (file === "sent" && box.value === text) {
      box.value = "";
      if (agent && id) saveDraft(agent.id, id, "");
    }
    return;
  }
  if (!id || !agent || !text.trim() || box.disabled || waiting.has(id)) return;
  held.delete(id);
  const client = live();
  const w = { text, cancelled: false };
  const key = newIdempotencyKey();
  if (client.live) {
    box.value = "";
    renderComposerState();
  }
  let ok = false;
  for (;;) {
    if (!client.live) {
      if (client.state === "failed" || client.state === "closed") break;
      waiting.set(id, w);
      if (ui.current === id) {
        if (!box.value) box.value = text;
        renderComposerState();
      }
      await client.waitLive(Infinity);
      if (w.cancelled) return;
    }
    try {
      await client.send(id, text, key);
      ok = true;
      break;
    } catch (e) {
      // The answer never came (the connection dropped, or no answer in
      // time): the same key again is safe, so wait for the connection.
      if (e instanceof ConnectionLost && !w.cancelled) continue;
      if (!w.cancelled) toast(errorText(e));
      break;
    }
  }
  waiting.delete(id);
  if (ok) {
    held.delete(id);
    // Sent: forget the draft, unless the agent wrote something new meanwhile.
    if (loadDraft(agent.id, id) === text) saveDraft(agent.id, id, "");
    if (ui.current === id && box.value === text) box.value = "";
  } else if (!w.cancelled) {
    held.set(id, t("composer.notSent"));
    if (ui.current === id && !box.value) box.value = text; // keep what they wrote
    saveDraft(agent.id, id, ui.current === id ? box.value : text);
  }
  if (ui.current === id) {
    renderComposerState();
    box.focus();
  }
}

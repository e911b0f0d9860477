// Sending a file: pick it (📎), drop it on the conversation, or paste it in
// the editor. It is checked against the channel's types and sizes before
// anything is uploaded (`checkFile`, pure, tested under Node), uploaded with
// a progress bar and a Cancel button (POST /api/media/uploads), then sent
// with the editor's text as its caption when the agent presses Send
// (`send_media`). The server checks everything again and says why when a
// file cannot go.

import { errorText, toast } from "./alerts.js";
import { CommandError } from "./client.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";
import { size } from "./media.js";
import { live, ui } from "./state.js";

/** @typedef {"whatsapp" | "messenger"} Channel */

const MB = 1024 * 1024;

/**
 * What each channel takes, by the type the browser gives the file, and the
 * largest size per kind (Meta's documented limits, the server's defaults;
 * the server checks the bytes themselves again with its configured ones).
 * @type {Record<Channel, Record<string, { kind: string, limit: number }>>}
 */
export const ACCEPTED = {
  whatsapp: {
    "image/jpeg": { kind: "image", limit: 5 * MB },
    "image/png": { kind: "image", limit: 5 * MB },
    "audio/ogg": { kind: "audio", limit: 16 * MB },
    "audio/mpeg": { kind: "audio", limit: 16 * MB },
    "audio/mp4": { kind: "audio", limit: 16 * MB },
    "audio/x-m4a": { kind: "audio", limit: 16 * MB },
    "audio/amr": { kind: "audio", limit: 16 * MB },
    "video/mp4": { kind: "video", limit: 16 * MB },
    "application/pdf": { kind: "document", limit: 100 * MB },
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": { kind: "document", limit: 100 * MB },
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": { kind: "document", limit: 100 * MB },
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": { kind: "document", limit: 100 * MB },
  },
  messenger: {
    "image/jpeg": { kind: "image", limit: 25 * MB },
    "image/png": { kind: "image", limit: 25 * MB },
    "image/gif": { kind: "image", limit: 25 * MB },
    "audio/mpeg": { kind: "audio", limit: 25 * MB },
    "audio/mp4": { kind: "audio", limit: 25 * MB },
    "audio/ogg": { kind: "audio", limit: 25 * MB },
    "video/mp4": { kind: "video", limit: 25 * MB },
    "application/pdf": { kind: "document", limit: 25 * MB },
  },
};

/**
 * Why a file cannot go on the channel (in the agent's language), or null.
 * @param {{ name: string, type: string, size: number }} file @param {Channel} channel
 */
export function checkFile(file, channel) {
  const accepted = ACCEPTED[channel][file.type];
  const network = channel === "whatsapp" ? "WhatsApp" : "Messenger";
  if (!accepted) return t("attach.refused.type", { name: file.name, channel: network });
  if (file.size > accepted.limit) return t("attach.refused.size", { name: file.name, size: size(file.size), limit: size(accepted.limit) });
  if (file.size === 0) return t("attach.refused.empty", { name: file.name });
  return null;
}

// --------------------------------------------------------------------------- the pending file

/**
 * @typedef {object} Pending
 * @property {string} conversationId
 * @property {File} file
 * @property {XMLHttpRequest | null} request
 * @property {string | null} uploadId
 */

/** @type {Pending | null} */
let pending = null;

/** Add the 📎 button, the file input and the tray to the composer; listen for drops and pastes. */
export function wireAttach() {
  const input = h("input", { type: "file", id: "attach-input", hidden: true, accept: Object.keys(ACCEPTED.whatsapp).concat(Object.keys(ACCEPTED.messenger)).join(",") });
  const button = h("button", { type: "button", id: "attach-button", title: t("attach.button"), "aria-label": t("attach.button"), text: "📎" });
  const tray = h("div", { id: "attach-tray", class: "attach-tray", hidden: true, role: "group", "aria-label": t("attach.tray") });
  const actions = document.querySelector("#composer .composer-actions");
  actions?.prepend(button);
  $("composer").prepend(tray, input);
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    const file = input.files?.[0];
    input.value = "";
    if (file) choose(file);
  });
  $("editor").addEventListener("paste", (/** @type {ClipboardEvent} */ e) => {
    const file = e.clipboardData?.files?.[0];
    if (file) {
      e.preventDefault();
      choose(file);
    }
  });
  const pane = /** @type {HTMLElement} */ (document.querySelector(".conversation") ?? $("composer"));
  pane.addEventListener("dragover", (/** @type {DragEvent} */ e) => {
    if (e.dataTransfer?.types.includes("Files")) e.preventDefault();
  });
  pane.addEventListener("drop", (/** @type {DragEvent} */ e) => {
    const file = e.dataTransfer?.files?.[0];
    if (file) {
      e.preventDefault();
      choose(file);
    }
  });
}

/** @param {File} file */
function choose(file) {
  const id = ui.current;
  const summary = id ? ui.client?.mirror.conversation(id) ?? null : null;
  const editor = /** @type {HTMLTextAreaElement} */ ($("editor"));
  if (!id || !summary || editor.disabled) return;
  const refused = checkFile(file, summary.channel);
  if (refused) {
    toast(refused);
    return;
  }
  cancel();
  pending = { conversationId: id, file, request: null, uploadId: null };
  upload(pending);
}

/** @param {Pending} p */
function upload(p) {
  const request = new XMLHttpRequest();
  p.request = request;
  const url = `/api/media/uploads?conversation_id=${encodeURIComponent(p.conversationId)}&filename=${encodeURIComponent(p.file.name)}`;
  request.open("POST", url);
  request.setRequestHeader("authorization", `Bearer ${live().token}`);
  request.upload.addEventListener("progress", (e) => {
    if (e.lengthComputable) drawTray(p, e.loaded / e.total);
  });
  request.addEventListener("load", () => {
    if (pending !== p) return;
    p.request = null;
    if (request.status === 201) {
      p.uploadId = /** @type {{ upload_id: string }} */ (JSON.parse(request.responseText)).upload_id;
      drawTray(p, 1);
      return;
    }
    let reason = `HTTP ${request.status}`;
    try {
      reason = /** @type {{ message: string }} */ (JSON.parse(request.responseText)).message || reason;
    } catch {
      /* not JSON: the status says enough */
    }
    toast(t("attach.failed", { name: p.file.name, reason }));
    cancel();
  });
  request.addEventListener("error", () => {
    if (pending !== p) return;
    toast(t("attach.failed", { name: p.file.name, reason: t("attach.network") }));
    cancel();
  });
  request.send(p.file);
  drawTray(p, 0);
}

/** @param {Pending} p @param {number} done 0…1 */
function drawTray(p, done) {
  const tray = $("attach-tray");
  tray.hidden = false;
  const ready = p.uploadId !== null;
  const bar = h("progress", { class: "attach-progress", max: 100, value: Math.round(done * 100), "aria-label": t("attach.progress") });
  const remove = h("button", { type: "button", class: "ghost attach-cancel", text: ready ? t("attach.remove") : t("attach.cancel") });
  remove.addEventListener("click", cancel);
  tray.replaceChildren(
    h("span", { class: "attach-name", text: p.file.name }),
    h("span", { class: "attach-size muted", text: size(p.file.size) }),
    ready ? h("span", { class: "attach-ready", text: t("attach.ready") }) : bar,
    remove,
  );
}

/** Drop the pending file (stopping its upload). */
export function cancel() {
  pending?.request?.abort();
  pending = null;
  const tray = document.getElementById("attach-tray");
  if (tray) {
    tray.hidden = true;
    tray.replaceChildren();
  }
}

/**
 * Send the pending file of the open conversation with `caption`: "sent";
 * "kept" when it is still uploading or the server refused it (the agent was
 * told why); "none" when no file is pending (send the text).
 * @param {string} caption
 * @returns {Promise<"sent" | "kept" | "none">}
 */
export async function sendAttachment(caption) {
  const p = pending;
  if (!p || p.conversationId !== ui.current) return "none";
  if (p.uploadId === null) {
    toast(t("attach.wait"), "info");
    return "kept";
  }
  try {
    await live().sendMedia(p.conversationId, p.uploadId, caption);
  } catch (e) {
    // A refused file: the server says which rule (type, size, caption); the rest in the agent's words.
    toast(e instanceof CommandError && e.code === "media_refused" ? t("attach.refused", { name: p.file.name, reason: e.message }) : errorText(e));
    return "kept";
  }
  if (pending === p) cancel();
  return "sent";
}

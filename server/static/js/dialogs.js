// The two dialogs: send a template in the open conversation, and start an
// outbound conversation. Each submission carries an idempotency key
// (docs/PROTOCOL.md, `send`): when the connection drops before the server's
// answer, the same command with the same key goes again once it is back (the
// server answers the first one's message if it was stored), so a template or
// a new conversation goes out once.

import { CommandError, ConnectionLost, newIdempotencyKey } from "./client.js";
import { $, h } from "./dom.js";
import { errorText } from "./alerts.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";
import { live, ui } from "./state.js";
import { templateParamCount, templatePreview } from "./view.js";

/** @typedef {import('./protocol').TemplateView} TemplateView */
/** @typedef {import('./protocol').TemplateRef} TemplateRef */

/** @param {TemplateView} template @param {HTMLElement} paramsBox @param {HTMLElement} preview */
function templateParams(template, paramsBox, preview) {
  const inputs = Array.from({ length: templateParamCount(template.text) }, (_, i) =>
    h("input", { "aria-label": t("template.parameter", { n: i + 1 }), placeholder: `{{${i + 1}}}`, required: true, class: "param" }),
  );
  const update = () => {
    preview.textContent = templatePreview(template.text, inputs.map((i) => i.value));
  };
  for (const input of inputs) input.addEventListener("input", update);
  paramsBox.replaceChildren(...inputs);
  update();
  return () => inputs.map((i) => i.value);
}

/**
 * Fill a template <select> and wire its parameters; returns a reader of the choice.
 * @param {HTMLSelectElement} select @param {HTMLElement} paramsBox @param {HTMLElement} preview
 * @returns {() => TemplateRef | null}
 */
function templatePicker(select, paramsBox, preview) {
  const templates = ui.client?.mirror.snapshot?.templates ?? [];
  select.replaceChildren(...templates.map((t, i) => h("option", { value: String(i), text: `${t.name} (${t.language})` })));
  let read = () => /** @type {string[]} */ ([]);
  const pick = () => {
    const t = templates[Number(select.value)];
    if (t) read = templateParams(t, paramsBox, preview);
  };
  select.onchange = pick;
  pick();
  return () => {
    const t = templates[Number(select.value)];
    return t ? { name: t.name, language: t.language, params: read() } : null;
  };
}

/** @type {() => TemplateRef | null} */
let readTemplate = () => null;
/** @type {() => TemplateRef | null} */
let readStartTemplate = () => null;

/** @param {string} id */
function dialog(id) {
  return /** @type {HTMLDialogElement} */ ($(id));
}

export function openTemplateDialog() {
  readTemplate = templatePicker(/** @type {HTMLSelectElement} */ ($("template-select")), $("template-params"), $("template-preview"));
  $("template-error").textContent = "";
  dialog("template-dialog").showModal();
}

/**
 * Run one submission of a dialog until it is answered: with one key for all
 * its tries, again each time the answer was lost (the connection dropped or
 * no answer came in time), once the connection is back, while the dialog is
 * open. The submit button waits meanwhile; the error line says why.
 * @template T
 * @param {"template-dialog" | "start-dialog"} id
 * @param {(key: string) => Promise<T>} run
 * @returns {Promise<T>}
 */
async function submitOnce(id, run) {
  const key = newIdempotencyKey();
  const client = live();
  const submit = /** @type {HTMLButtonElement | null} */ (dialog(id).querySelector("button[type=submit]"));
  const error = $(id === "template-dialog" ? "template-error" : "start-error");
  if (submit) submit.disabled = true;
  try {
    for (;;) {
      try {
        return await run(key);
      } catch (e) {
        if (!(e instanceof ConnectionLost) || !dialog(id).open || client.state === "failed" || client.state === "closed") throw e;
        error.textContent = t("dialogs.waiting");
        await client.waitLive(Infinity);
        if (!dialog(id).open) throw e;
        error.textContent = "";
      }
    }
  } finally {
    if (submit) submit.disabled = false;
  }
}

export async function submitTemplate() {
  const id = ui.current;
  const ref = readTemplate();
  if (!id || !ref) return;
  try {
    await submitOnce("template-dialog", (key) => live().sendTemplate(id, ref, key));
    dialog("template-dialog").close();
  } catch (err) {
    $("template-error").textContent = errorText(err);
  }
}

export function openStartDialog() {
  const select = /** @type {HTMLSelectElement} */ ($("start-touchpoint"));
  const touchpoints = ui.client?.mirror.snapshot?.touchpoints ?? [];
  select.replaceChildren(...touchpoints.map((t) => h("option", { value: t.id, text: `${t.name} · ${fmt.channelName(t.channel)}` })));
  readStartTemplate = templatePicker(/** @type {HTMLSelectElement} */ ($("start-template")), $("start-params"), $("start-preview"));
  const sync = () => {
    const whatsapp = touchpoints.find((t) => t.id === select.value)?.channel === "whatsapp";
    // A hidden box is also disabled: its required fields must not block the
    // submit (the browser refuses a form with an invalid control, silently
    // when the control is hidden).
    showBox("start-template-box", whatsapp);
    showBox("start-text-box", !whatsapp);
    $("start-error").textContent = "";
  };
  select.onchange = sync;
  sync();
  $("start-error").textContent = "";
  dialog("start-dialog").showModal();
}

/**
 * Start the conversation; on success close the dialog and hand its id to `opened`.
 * @param {(id: string) => Promise<void>} opened
 */
export async function submitStart(opened) {
  const touchpoint = /** @type {HTMLSelectElement} */ ($("start-touchpoint")).value;
  const address = /** @type {HTMLInputElement} */ ($("start-address")).value.trim();
  const whatsapp = !$("start-template-box").hidden;
  const channel = whatsapp ? "whatsapp" : "messenger";
  const body = whatsapp ? { template: readStartTemplate() ?? undefined } : { text: /** @type {HTMLTextAreaElement} */ ($("start-text")).value };
  let id;
  try {
    id = (await submitOnce("start-dialog", (key) => live().start(touchpoint, address, body, key))).conversation.id;
  } catch (e) {
    $("start-error").textContent = startRefusal(e, channel);
    return;
  }
  dialog("start-dialog").close();
  await opened(id);
}

/** @param {string} id @param {boolean} shown */
function showBox(id, shown) {
  const box = /** @type {HTMLFieldSetElement} */ ($(id));
  box.hidden = !shown;
  box.disabled = !shown;
}

/**
 * Why the server refused to start the conversation, in plain words: a closed
 * reply window is the usual reason on Messenger (the contact has not written
 * recently), and the agent can do nothing about it but wait.
 * @param {unknown} e @param {"whatsapp" | "messenger"} channel
 */
export function startRefusal(e, channel) {
  if (e instanceof CommandError && e.code === "session_locked") {
    return channel === "messenger" ? t("start.messengerWindowClosed") : t("start.templateNeeded");
  }
  return errorText(e);
}

/** @param {"template-dialog" | "start-dialog"} id */
export function closeDialog(id) {
  dialog(id).close();
}

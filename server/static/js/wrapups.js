// The To wrap up list: the agent's ended WhatsApp conversations whose
// wrap-up is not recorded yet, from the server (snapshot `to_wrap_up`, events
// `to_wrap_up.added` / `.removed` on the agent's stream), so it is the same
// on every screen of the agent and survives reloads. Shown above the tabs
// whichever tab is selected; a row opens the conversation at its wrap-up form.
// Also End Chat's confirmation, and where the focus goes after it.

import { attempt } from "./alerts.js";
import { $, h, reconcile } from "./dom.js";
import * as fmt from "./format.js";
import { t } from "./i18n.js";
import { live, ui } from "./state.js";

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */

export function renderToWrapUp() {
  const owed = [...live().mirror.toWrapUp.values()].sort((a, b) => (a.ended_at ?? 0) - (b.ended_at ?? 0) || (a.id < b.id ? -1 : 1));
  const box = $("to-wrap-up");
  box.hidden = owed.length === 0;
  $("to-wrap-up-title").textContent = t("wrapup.listTitle", { count: owed.length });
  reconcile(
    $("to-wrap-up-rows"),
    owed.map((s) => {
      const selected = s.id === ui.current;
      return { key: s.id, stamp: JSON.stringify([s.version, s.contact.display_name, selected]), build: () => wrapUpRow(s, selected) };
    }),
  );
}

/** @param {ConversationSummary} s @param {boolean} selected */
function wrapUpRow(s, selected) {
  const ended = s.ended_at ? t("wrapup.endedAt", { time: fmt.fullTime(s.ended_at) }) : "";
  return h("li", {}, [
    h("button", { type: "button", class: `wrap-up-row${selected ? " selected" : ""}`, "data-conv-id": s.id, "aria-current": selected ? "true" : null }, [
      h("span", { class: "row-name", dir: "auto", text: s.contact.display_name }),
      h("span", { class: "muted small", text: ended }),
    ]),
  ]);
}

/**
 * End Chat, once confirmed: a dialog names the contact and, on WhatsApp,
 * says the wrap-up comes next. Focus then goes to the wrap-up's first field
 * (WhatsApp) or back to the list (Messenger), never to the page's body.
 * @param {string} id
 */
export function confirmEndChat(id) {
  const s = live().mirror.conversation(id);
  if (!s) return;
  const dialog = /** @type {HTMLDialogElement} */ ($("end-dialog"));
  $("end-title").textContent = t("endChat.title");
  $("end-text").textContent = t(s.channel === "whatsapp" ? "endChat.textWhatsApp" : "endChat.text", { name: s.contact.display_name });
  $("end-cancel").textContent = t("endChat.cancel");
  $("end-confirm").textContent = t("endChat.confirm");
  $("end-confirm").onclick = async () => {
    dialog.close();
    if (!(await attempt(() => live().endChat(id)))) return;
    if (ui.current !== id) return;
    if (s.channel === "whatsapp") $("wrapup-disposition").focus();
    else (/** @type {HTMLElement | null} */ (document.querySelector("#list li[tabindex='0']")) ?? $("list")).focus();
  };
  $("end-cancel").onclick = () => dialog.close();
  dialog.showModal();
  $("end-cancel").focus(); // the safe choice first
}

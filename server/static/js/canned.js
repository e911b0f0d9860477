// Canned responses: typing "/" and a shortcut in the editor opens a list of
// the saved replies that match (case- and accent-insensitive); Enter, Tab or
// a click inserts the text with {{contact.name}} and {{agent.name}} filled.
// The lists come from the server (the snapshot, then `canned.updated` events
// kept by mirror.js), so an edit made anywhere is what the next insertion
// uses. The manager dialog edits the lists the server says this agent keeps
// (a list's `editors` among the welcome's principals).
//
// Hooked to the app with two calls (app.js): wireCanned() once, and
// renderCanned(changes) from the one render. The top of this module is pure
// (tests/js/canned.test.mjs).

import { attempt, errorText } from "./alerts.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";
import { live, me, ui } from "./state.js";

/** @typedef {import('./protocol').CannedListView} CannedListView */
/** @typedef {import('./protocol').CannedResponseView} CannedResponseView */
/** @typedef {import('./mirror.js').Change} Change */
/** @typedef {{ listId: string, response: CannedResponseView }} Match */

const MAX_SHOWN = 8;

// --------------------------------------------------------------------------- pure

/** Case- and accent-insensitive form ("Olá" and "ola" fold alike). @param {string} s */
export function fold(s) {
  return s.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

/**
 * The "/shortcut" being typed just before the caret: at the start of the text
 * or after a space or new line. Null when there is none.
 * @param {string} text @param {number} caret
 * @returns {{ start: number, query: string } | null}
 */
export function slashQuery(text, caret) {
  const match = /(^|\s)\/([\p{L}\p{N}_.-]*)$/u.exec(text.slice(0, caret));
  if (!match) return null;
  return { start: caret - match[2].length - 1, query: match[2] };
}

/**
 * The responses for a query: shortcuts that start with it first, then those
 * whose shortcut or text holds it; the agent's own list before the queues'.
 * @param {Iterable<CannedListView>} lists @param {string} query
 * @returns {Match[]}
 */
export function matches(lists, query) {
  const q = fold(query);
  /** @type {Match[]} */
  const starts = [];
  /** @type {Match[]} */
  const holds = [];
  const ordered = [...lists].sort((a, b) => Number(b.list_id.startsWith("agent:")) - Number(a.list_id.startsWith("agent:")));
  for (const list of ordered) {
    for (const response of list.responses) {
      const shortcut = fold(response.shortcut);
      if (shortcut.startsWith(q)) starts.push({ listId: list.list_id, response });
      else if (q && (shortcut.includes(q) || fold(response.text).includes(q))) holds.push({ listId: list.list_id, response });
    }
  }
  return [...starts, ...holds].slice(0, MAX_SHOWN);
}

/**
 * The text with its variables filled; an unknown variable stays as written.
 * @param {string} text @param {{ contact: string, agent: string }} vars
 */
export function fill(text, vars) {
  /** @type {Record<string, string>} */
  const values = { "contact.name": vars.contact, "agent.name": vars.agent };
  return text.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (whole, name) => values[name] ?? whole);
}

/**
 * The editor's value after replacing the "/query" at `start`..`caret` with `text`.
 * @param {string} value @param {number} start @param {number} caret @param {string} text
 */
export function insert(value, start, caret, text) {
  return { value: value.slice(0, start) + text + value.slice(caret), caret: start + text.length };
}

/**
 * The lists this agent may change: those whose editors include one of its principals.
 * @param {Iterable<CannedListView>} lists @param {readonly string[]} principals
 */
export function editable(lists, principals) {
  return [...lists].filter((l) => l.editors.some((e) => principals.includes(e)));
}

// --------------------------------------------------------------------------- the editor's menu

/** @type {{ start: number, query: string, items: Match[], index: number } | null} */
let menu = null;

function lists() {
  return ui.client?.mirror.canned.values() ?? [];
}

function editor() {
  return /** @type {HTMLTextAreaElement} */ ($("editor"));
}

/** What the variables are in the open conversation. */
function vars() {
  const s = ui.current ? ui.client?.mirror.conversation(ui.current) : null;
  return { contact: s?.contact.display_name ?? "", agent: me()?.name ?? "" };
}

function update() {
  const ed = editor();
  const found = ed.disabled ? null : slashQuery(ed.value, ed.selectionStart ?? ed.value.length);
  if (!found) return closeMenu();
  const items = matches(lists(), found.query);
  const same = menu && menu.start === found.start;
  menu = { ...found, items, index: same && menu ? Math.min(menu.index, Math.max(0, items.length - 1)) : 0 };
  drawMenu();
}

function closeMenu() {
  menu = null;
  drawMenu();
}

function drawMenu() {
  const box = $("canned-menu");
  const ed = editor();
  box.hidden = !menu;
  ed.setAttribute("aria-expanded", String(!!menu));
  if (!menu) {
    ed.removeAttribute("aria-activedescendant");
    box.replaceChildren();
    return;
  }
  const { items, index } = menu;
  if (!items.length) {
    box.replaceChildren(h("li", { class: "canned-none", text: t("canned.none", { query: menu.query }) }));
    ed.removeAttribute("aria-activedescendant");
    return;
  }
  box.replaceChildren(
    ...items.map((m, i) =>
      h("li", { id: `canned-option-${i}`, role: "option", "aria-selected": String(i === index), "data-index": i, class: "canned-option" }, [
        h("span", { class: "canned-shortcut", text: `/${m.response.shortcut}` }),
        h("span", { class: "canned-text", text: fill(m.response.text, vars()) }),
        m.listId.startsWith("agent:") ? h("span", { class: "canned-mine muted small", text: t("canned.mine") }) : null,
      ]),
    ),
  );
  ed.setAttribute("aria-activedescendant", `canned-option-${index}`);
}

/** @param {number} index */
function choose(index) {
  const item = menu?.items[index];
  if (!menu || !item) return;
  const ed = editor();
  const caret = ed.selectionStart ?? ed.value.length;
  const next = insert(ed.value, menu.start, caret, fill(item.response.text, vars()));
  ed.value = next.value;
  ed.setSelectionRange(next.caret, next.caret);
  ed.dispatchEvent(new Event("input", { bubbles: true })); // drafts and the like see the change
  closeMenu();
  ed.focus();
}

/** @param {KeyboardEvent} e */
function menuKeys(e) {
  if (!menu) return;
  const n = menu.items.length;
  if (e.key === "Escape") menu = null;
  else if (e.key === "ArrowDown" && n) menu.index = (menu.index + 1) % n;
  else if (e.key === "ArrowUp" && n) menu.index = (menu.index - 1 + n) % n;
  else if ((e.key === "Enter" && !e.shiftKey) || e.key === "Tab") {
    if (!n) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    choose(menu.index);
    return;
  } else return;
  e.preventDefault();
  e.stopPropagation(); // Esc closes the menu, not the conversation
  drawMenu();
}

// --------------------------------------------------------------------------- the manager dialog

/** @type {{ listId: string, responseId: string | null }} */
const editing = { listId: "", responseId: null };

function principals() {
  return ui.client?.welcome?.principals ?? [];
}

/** @param {CannedListView} list */
function listName(list) {
  const [kind, id] = list.list_id.split(":");
  if (kind === "agent") return t("canned.list.mine");
  const queue = ui.client?.mirror.snapshot?.queues.find((q) => q.id === id);
  return t("canned.list.queue", { queue: queue?.name ?? id });
}

function openManager() {
  const mine = editable(lists(), principals());
  const select = /** @type {HTMLSelectElement} */ ($("canned-list"));
  select.replaceChildren(...mine.map((l) => h("option", { value: l.list_id, text: listName(l) })));
  if (!mine.some((l) => l.list_id === editing.listId)) editing.listId = mine[0]?.list_id ?? "";
  select.value = editing.listId;
  startEdit(null);
  drawManager();
  /** @type {HTMLDialogElement} */ ($("canned-dialog")).showModal();
}

/** @param {CannedResponseView | null} response */
function startEdit(response) {
  editing.responseId = response?.id ?? null;
  /** @type {HTMLInputElement} */ ($("canned-shortcut")).value = response?.shortcut ?? "";
  /** @type {HTMLTextAreaElement} */ ($("canned-text-input")).value = response?.text ?? "";
  $("canned-form-title").textContent = response ? t("canned.edit.title", { shortcut: response.shortcut }) : t("canned.new.title");
  $("canned-error").textContent = "";
}

function drawManager() {
  if (!/** @type {HTMLDialogElement} */ ($("canned-dialog")).open) return;
  const list = ui.client?.mirror.canned.get(editing.listId);
  const rows = list?.responses ?? [];
  $("canned-rows").replaceChildren(
    ...(rows.length
      ? rows.map((r) =>
          h("li", { class: "canned-row", "data-id": r.id }, [
            h("span", { class: "canned-shortcut", text: `/${r.shortcut}` }),
            h("span", { class: "canned-text", text: r.text }),
            h("button", { type: "button", class: "canned-edit", "data-id": r.id, text: t("canned.edit") }),
            h("button", { type: "button", class: "canned-delete danger", "data-id": r.id, text: t("canned.delete") }),
          ]),
        )
      : [h("li", { class: "muted", text: t("canned.empty") })]),
  );
}

async function saveResponse() {
  const shortcut = /** @type {HTMLInputElement} */ ($("canned-shortcut")).value;
  const text = /** @type {HTMLTextAreaElement} */ ($("canned-text-input")).value;
  // Said in the agent's words before asking: the server refuses the same
  // (its `invalid` answer is generic once translated).
  const wanted = fold(shortcut.trim().replace(/^\//, ""));
  const taken = (ui.client?.mirror.canned.get(editing.listId)?.responses ?? []).find((r) => r.id !== editing.responseId && fold(r.shortcut) === wanted);
  if (taken) {
    $("canned-error").textContent = t("canned.shortcut.taken", { shortcut: taken.shortcut });
    return;
  }
  try {
    await live().call({ type: "canned_save", list_id: editing.listId, shortcut, text, response_id: editing.responseId });
  } catch (e) {
    $("canned-error").textContent = errorText(e);
    return;
  }
  startEdit(null);
}

/** @param {string} responseId */
function deleteResponse(responseId) {
  const listId = editing.listId;
  void attempt(() => live().call({ type: "canned_delete", list_id: listId, response_id: responseId }));
}

function buildDom() {
  // In the top bar: a supervisor keeps the queues' lists with no conversation open.
  // On a phone only the "/" mark shows (app.css); the name stays for screen readers.
  $("logout").before(
    h("button", { id: "canned-button", type: "button", class: "ghost", title: t("canned.manage.hint"), "data-i18n-title": "canned.manage.hint", "aria-label": t("canned.manage"), "data-i18n-aria-label": "canned.manage" }, [
      h("span", { class: "canned-mark", "aria-hidden": "true", text: "/" }),
      h("span", { class: "canned-label", text: t("canned.manage"), "data-i18n": "canned.manage" }),
    ]),
  );
  $("composer").prepend(h("ul", { id: "canned-menu", class: "canned-menu", role: "listbox", "aria-label": t("canned.menu.label"), "data-i18n-aria-label": "canned.menu.label", hidden: true }));
  const ed = editor();
  ed.setAttribute("aria-controls", "canned-menu");
  ed.setAttribute("aria-autocomplete", "list");
  document.body.append(
    h("dialog", { id: "canned-dialog", "aria-labelledby": "canned-title", class: "canned-dialog" }, [
      h("h2", { id: "canned-title", text: t("canned.manage"), "data-i18n": "canned.manage" }),
      h("p", { class: "muted small", text: t("canned.help"), "data-i18n": "canned.help" }),
      h("label", { for: "canned-list", text: t("canned.list"), "data-i18n": "canned.list" }),
      h("select", { id: "canned-list" }),
      h("ul", { id: "canned-rows", class: "canned-rows" }),
      h("form", { id: "canned-form", method: "dialog" }, [
        h("h3", { id: "canned-form-title" }),
        h("label", { for: "canned-shortcut", text: t("canned.shortcut"), "data-i18n": "canned.shortcut" }),
        h("input", { id: "canned-shortcut", required: true, autocomplete: "off", maxlength: 33, placeholder: t("canned.shortcut.placeholder"), "data-i18n-placeholder": "canned.shortcut.placeholder" }),
        h("label", { for: "canned-text-input", text: t("canned.text"), "data-i18n": "canned.text" }),
        h("textarea", { id: "canned-text-input", rows: 3, required: true }),
        h("p", { id: "canned-error", class: "error", role: "alert" }),
        h("div", { class: "dialog-actions" }, [
          h("button", { type: "button", id: "canned-new", text: t("canned.new"), "data-i18n": "canned.new" }),
          h("button", { type: "button", id: "canned-close", text: t("canned.close"), "data-i18n": "canned.close" }),
          h("button", { type: "submit", id: "canned-save", class: "primary", text: t("canned.save"), "data-i18n": "canned.save" }),
        ]),
      ]),
    ]),
  );
}

// --------------------------------------------------------------------------- hooks

export function wireCanned() {
  buildDom();
  const ed = editor();
  ed.addEventListener("input", update);
  ed.addEventListener("click", update);
  ed.addEventListener("keydown", menuKeys);
  ed.addEventListener("blur", () => setTimeout(() => document.activeElement !== ed && closeMenu(), 150));
  const box = $("canned-menu");
  box.addEventListener("mousedown", (e) => e.preventDefault()); // keep the editor's focus and caret
  box.addEventListener("click", (e) => {
    const li = /** @type {HTMLElement} */ (e.target).closest("li[data-index]");
    if (li instanceof HTMLElement) choose(Number(li.dataset.index));
  });
  $("canned-button").addEventListener("click", openManager);
  $("canned-list").addEventListener("change", (e) => {
    editing.listId = /** @type {HTMLSelectElement} */ (e.target).value;
    startEdit(null);
    drawManager();
  });
  $("canned-rows").addEventListener("click", (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest("button[data-id]");
    if (!(button instanceof HTMLElement) || !button.dataset.id) return;
    const id = button.dataset.id;
    if (button.classList.contains("canned-delete")) deleteResponse(id);
    else startEdit(ui.client?.mirror.canned.get(editing.listId)?.responses.find((r) => r.id === id) ?? null);
  });
  $("canned-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void saveResponse();
  });
  $("canned-new").addEventListener("click", () => startEdit(null));
  $("canned-close").addEventListener("click", () => /** @type {HTMLDialogElement} */ ($("canned-dialog")).close());
}

/** From the one render: a list changed (or everything was reloaded). @param {Change[]} changes */
export function renderCanned(changes) {
  if (!changes.some((c) => c.kind === "canned.updated" || c.kind === "reset")) return;
  $("canned-button").hidden = !editable(lists(), principals()).length;
  if (menu) update();
  drawManager();
}

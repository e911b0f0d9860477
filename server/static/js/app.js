// The agent web app: log-in, routing, and the wiring of clicks and keys.
// State lives in one place (./state.js: the client's mirror plus the UI's
// choices); `render` draws it after every change, through the screens:
//   list.js          the Conversations panel (keyed rows)
//   conversation.js  one conversation (keyed thread)
//   dialogs.js       the template and new-conversation dialogs
//   alerts.js        toasts, the connection badge, announcements
//   view.js          pure view models of all of them (node --test)
// No framework: plain modules (docs/ARCHITECTURE.md, "Web app", says why).

import { AuthError, SwitchboardClient } from "./client.js";
import { announce, attempt, errorText, renderConnection } from "./alerts.js";
import { renderCanned, wireCanned } from "./canned.js";
import { closeConversation, loadEarlier, openConversation, renderConversation, renderTimer, scrollThreadToEnd, searchSubmitted, searchTyped, stepMatch, toggleSide } from "./conversation.js";
import { cancelWaiting, copyDraft, draftTyped, sendMessage } from "./composer.js";
import { pruneDrafts } from "./drafts.js";
import { wireAttach } from "./attach.js";
import { closeDialog, openStartDialog, openTemplateDialog, submitStart, submitTemplate } from "./dialogs.js";
import { $, h } from "./dom.js";
import { CATALOGS, LANGUAGES, chooseLanguage, initLanguage, language, t, translatePage } from "./i18n.js";
import * as fmt from "./format.js";
import { filterTyped, listChanged, listKeys, listScrolled, renderPanel, selectTab, sortChosen } from "./list.js";
import { lossText } from "./lost.js";
import { mountRouting, renderRouting } from "./routing.js";
import { agentName, live, me, ui } from "./state.js";
import { confirmEndChat, renderToWrapUp } from "./wrapups.js";
import { askNotifications, countAlerts, inFront, ring, startAlerts, toggleSound, unlockAudio } from "./ring.js";
import { routeId } from "./view.js";

/** @typedef {import('./protocol').AgentView} AgentView */
/** @typedef {import('./mirror.js').Change} Change */
/** @typedef {import('./mirror.js').Mirror} Mirror */

const TOKEN_KEY = "switchboard.token";

// --------------------------------------------------------------------------- log-in

async function boot() {
  initLanguage();
  translatePage(document);
  wireLanguage();
  wireLogin();
  wirePanel();
  wireConversation();
  wireComposer();
  wireCanned();
  wireWindow();
  const token = localStorage.getItem(TOKEN_KEY);
  if (token) await start(token);
  else showLogin("");
}

/** @param {string} message */
async function showLogin(message) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
  try {
    const r = await fetch("/api/dev/agents");
    if (!r.ok) return;
    const agents = /** @type {AgentView[]} */ (await r.json());
    $("demo-agents").replaceChildren(
      ...agents.map((a) =>
        h("li", {}, [
          h("button", { type: "button", class: "demo-agent", "data-agent": a.id }, [
            h("span", { class: "avatar small agent", text: fmt.agentInitials(a.name), "aria-hidden": "true" }),
            h("span", { class: "demo-name", text: a.name }),
            h("span", { class: "muted small", text: `${t(`role.${a.role}`)} · ${a.queues.join(", ")}` }),
          ]),
        ]),
      ),
    );
    $("demo-login").hidden = false;
  } catch {
    /* no dev endpoints: token log-in only */
  }
}

/** @param {string} agentId */
async function demoLogin(agentId) {
  const r = await fetch("/api/dev/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ agent_id: agentId }),
  });
  if (!r.ok) {
    $("login-error").textContent = t("login.demo_failed");
    return;
  }
  const { token } = /** @type {{token: string}} */ (await r.json());
  await start(token);
}

/** @param {string} token */
async function start(token) {
  let wsUrl;
  try {
    const r = await fetch("/api/config");
    wsUrl = /** @type {{ws_url: string}} */ (await r.json()).ws_url;
  } catch {
    showLogin(t("login.unreachable"));
    return;
  }
  ui.client?.close();
  const client = new SwitchboardClient(wsUrl, token, {
    onChange: (mirror, changes) => render(mirror, changes),
    onRing: (alert, key) => ring(alert, key),
    onState: (state, error) => {
      renderConnection(state);
      if (state === "live") reportFront(inFront()); // a new socket starts "not in front"
      if (state === "failed" && error instanceof AuthError) logout(t("login.session_ended"));
    },
    onUnsubscribed: (stream) => {
      if (ui.current && stream === `conv:${ui.current}`) {
        ui.lost = explainLoss(ui.current) ?? t("lost.unknown");
        renderConversation();
      }
    },
  });
  ui.client = client;
  localStorage.setItem(TOKEN_KEY, token);
  $("login").hidden = true;
  $("app").hidden = false;
  try {
    await client.connect();
  } catch (e) {
    logout(e instanceof AuthError ? t("login.token_refused") : errorText(e));
    return;
  }
  renderMe();
  const agent = me();
  if (agent) startAlerts(agent.id, reportFront, (id) => void openConversation(id));
  pruneOldDrafts();
  mountRouting();
  routeFromHash();
}

/** Drafts of ended conversations, and old ones, leave localStorage (at start and after a wrap-up). */
function pruneOldDrafts() {
  const agent = me();
  const client = ui.client;
  if (agent && client) pruneDrafts(agent.id, (id) => client.mirror.conversation(id)?.status === "ended");
}

/** Tell the server whether this screen is in front (it rings the one that is). @param {boolean} front */
function reportFront(front) {
  ui.client?.screen(front).catch(() => undefined);
}

function renderMe() {
  const agent = me();
  if (!agent) return;
  $("me").replaceChildren(
    h("span", { class: "avatar small agent", text: fmt.agentInitials(agent.name), "aria-hidden": "true" }),
    h("span", { text: agent.name }),
    agent.role === "supervisor" ? h("span", { class: "role-tag", text: t("role.supervisor") }) : "",
  );
}

/** @param {string} message */
function logout(message) {
  localStorage.removeItem(TOKEN_KEY);
  ui.client?.close();
  ui.client = null;
  ui.current = null;
  showLogin(message);
}

// --------------------------------------------------------------------------- the one render

/**
 * Draw what changed: the panel (keyed: only changed rows are rebuilt), the
 * open conversation when a change touches it, and the announcements.
 * @param {Mirror} mirror @param {Change[]} changes
 */
function render(mirror, changes) {
  // A lost conversation's words follow the server's latest say on who did it.
  if (ui.lost && ui.current && changes.some((c) => c.conversationId === ui.current && (c.kind === "inbox.removed" || c.kind === "assigned.removed"))) {
    ui.lost = explainLoss(ui.current) ?? ui.lost;
  }
  listChanged(changes);
  renderPanel();
  renderToWrapUp();
  if (changes.some((c) => c.kind === "reset")) mountRouting();
  else renderRouting();
  if (changes.some((c) => c.kind === "reset" || c.conversationId === ui.current)) renderConversation();
  announce(mirror, changes);
  countAlerts(mirror, changes);
  renderCanned(changes);
}

/** @param {string} id */
function explainLoss(id) {
  return lossText(live().mirror.departures.get(id), me()?.id ?? null, agentName);
}

// --------------------------------------------------------------------------- routing

function routeFromHash() {
  const id = routeId(location.hash);
  if (id === null || !ui.client || id === ui.current) return;
  if (ui.client.mirror.assigned.has(id)) ui.tab = "assigned";
  else if (ui.client.mirror.inbox.has(id)) ui.tab = "inbox";
  void openConversation(id);
}

// --------------------------------------------------------------------------- language

/** The language switches (top bar and log-in card): every language named in its own words. */
function wireLanguage() {
  for (const id of ["lang-select", "login-lang-select"]) {
    const select = /** @type {HTMLSelectElement} */ ($(id));
    select.replaceChildren(...LANGUAGES.map((l) => h("option", { value: l, lang: l, text: String(CATALOGS[l]["lang.name"] ?? l) })));
    select.value = language();
    select.addEventListener("change", () => switchLanguage(select.value));
  }
}

/** Redraw everything in the chosen language (remembered for the next visit). @param {string} lang */
function switchLanguage(lang) {
  chooseLanguage(lang);
  translatePage(document);
  for (const id of ["lang-select", "login-lang-select"]) /** @type {HTMLSelectElement} */ ($(id)).value = language();
  if (!ui.client) return;
  renderConnection(ui.client.state);
  renderMe();
  renderPanel();
  renderConversation();
}

// --------------------------------------------------------------------------- wiring

/**
 * @template {Event} E
 * @param {string} id @param {string} type @param {(e: E) => unknown} handler
 */
function on(id, type, handler) {
  $(id).addEventListener(type, /** @type {EventListener} */ (handler));
}

/** @param {string} id @param {() => unknown} handler */
function onSubmit(id, handler) {
  on(id, "submit", (e) => {
    e.preventDefault();
    void handler();
  });
}

/** @param {string} id @param {(id: string) => Promise<unknown>} command */
function onCommand(id, command) {
  on(id, "click", () => {
    const current = ui.current;
    if (current) void attempt(() => command(current));
  });
}

function wireLogin() {
  onSubmit("login-form", () => {
    unlockAudio();
    askNotifications();
    const token = /** @type {HTMLTextAreaElement} */ ($("token-input")).value.trim();
    if (token) void start(token);
  });
  on("demo-agents", "click", (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest("button[data-agent]");
    if (button instanceof HTMLElement && button.dataset.agent) {
      unlockAudio(); // the log-in click: browsers allow sound after it
      askNotifications();
      void demoLogin(button.dataset.agent);
    }
  });
  on("logout", "click", async () => {
    // Revoke the token on the server too: every socket opened with it closes.
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) await fetch("/api/logout", { method: "POST", headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
    logout("");
  });
}

function wirePanel() {
  for (const tab of /** @type {const} */ (["inbox", "assigned"])) on(`tab-${tab}`, "click", () => selectTab(tab));
  $("tab-inbox").parentElement?.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const next = ui.tab === "inbox" ? "assigned" : "inbox";
    selectTab(next);
    $(`tab-${next}`).focus();
  });
  on("list", "click", (e) => {
    const li = /** @type {HTMLElement} */ (e.target).closest("li[data-conv-id]");
    if (li instanceof HTMLElement && li.dataset.convId) {
      ui.focusId = li.dataset.convId;
      void openConversation(li.dataset.convId);
    }
  });
  on("list", "keydown", (/** @type {KeyboardEvent} */ e) => listKeys(e, (id) => void openConversation(id)));
  on("list", "scroll", listScrolled);
  window.addEventListener("resize", listScrolled);
  on("list-filter", "input", (/** @type {Event} */ e) => filterTyped(/** @type {HTMLInputElement} */ (e.target).value));
  on("list-filter", "keydown", (/** @type {KeyboardEvent} */ e) => {
    if (e.key !== "Escape") return;
    e.stopPropagation(); // clears the box, not the open conversation
    /** @type {HTMLInputElement} */ (e.target).value = "";
    filterTyped("");
  });
  on("list-sort", "change", (/** @type {Event} */ e) => sortChosen(/** @type {HTMLSelectElement} */ (e.target).value));
  on("new-conversation", "click", openStartDialog);
  on("start-cancel", "click", () => closeDialog("start-dialog"));
  onSubmit("start-form", () =>
    submitStart(async (id) => {
      selectTab("assigned");
      await openConversation(id);
    }),
  );
}

function wireConversation() {
  on("close-conv", "click", closeConversation);
  on("back-to-list", "click", closeConversation);
  document.addEventListener("keydown", (e) => {
    // Esc closes the conversation, but not from a field the agent types in:
    // there it only leaves the field's own business (a search box clears itself).
    if (e.key !== "Escape" || !ui.current || document.querySelector("dialog[open]")) return;
    if (e.target instanceof HTMLElement && e.target.closest("input, textarea, select, [contenteditable]")) return;
    closeConversation();
  });
  on("claim", "click", async () => {
    const id = ui.current;
    if (!id) return;
    if (await attempt(() => live().claim(id))) {
      selectTab("assigned");
      /** @type {HTMLTextAreaElement} */ ($("editor")).focus();
    }
  });
  on("assign", "click", () => {
    const id = ui.current;
    const target = /** @type {HTMLSelectElement} */ ($("assign-select")).value;
    if (id && target) void attempt(() => live().assign(id, target));
  });
  onCommand("to-inbox", (id) => live().sendToInbox(id));
  on("end-chat", "click", () => ui.current && confirmEndChat(ui.current));
  on("to-wrap-up-rows", "click", (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest("button[data-conv-id]");
    if (button instanceof HTMLElement && button.dataset.convId) void openConversation(button.dataset.convId);
  });
  on("show-snapshot", "click", () => toggleSide("snapshot"));
  on("show-notes", "click", () => toggleSide("notes"));
  onSubmit("note-form", async () => {
    const input = /** @type {HTMLTextAreaElement} */ ($("note-input"));
    const id = ui.current;
    if (!id || !input.value.trim()) return;
    if (await attempt(() => live().addNote(id, input.value))) input.value = "";
  });
  onSubmit("wrapup", () => {
    const id = ui.current;
    const disposition = /** @type {HTMLSelectElement} */ ($("wrapup-disposition")).value;
    const note = /** @type {HTMLTextAreaElement} */ ($("wrapup-note")).value;
    if (id && disposition) void attempt(() => live().wrapUp(id, disposition, note)).then((ok) => ok && pruneOldDrafts());
  });
  on("search-input", "input", searchTyped);
  onSubmit("search-form", searchSubmitted);
  on("search-prev", "click", () => stepMatch(-1));
  on("search-next", "click", () => stepMatch(1));
  on("thread", "click", (e) => {
    if (e.target instanceof HTMLElement && e.target.id === "load-earlier") void loadEarlier();
  });
  on("thread-new", "click", () => {
    scrollThreadToEnd();
    $("thread").focus({ preventScroll: true });
  });
}

function wireComposer() {
  // The editor: Enter is a new line, Shift+Enter sends (the spec's rule).
  on("editor", "keydown", (/** @type {KeyboardEvent} */ e) => {
    if (e.key === "Enter" && e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void sendMessage().then(scrollThreadToEnd);
    }
  });
  onSubmit("composer", async () => {
    await sendMessage();
    scrollThreadToEnd();
  });
  on("editor", "input", draftTyped);
  on("composer-cancel", "click", cancelWaiting);
  on("copy-draft", "click", copyDraft);
  wireAttach();
  on("template-button", "click", openTemplateDialog);
  on("template-cancel", "click", () => closeDialog("template-dialog"));
  onSubmit("template-form", submitTemplate);
}

function wireWindow() {
  // After a reload (logged in by the stored token), the first click unlocks the sound.
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });
  on("sound-toggle", "change", toggleSound);
  window.addEventListener("hashchange", routeFromHash);
  window.addEventListener("online", () => ui.client?.retryNow());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && ui.client && ui.current) renderConversation();
  });
  setInterval(() => {
    if (ui.client && ui.current) renderTimer();
  }, 1000);
  // "Oldest waiting: 3 minutes ago" moves with the clock, not only with events.
  setInterval(() => {
    if (ui.client?.mirror.snapshot) renderPanel();
  }, 30_000);
}

void boot();

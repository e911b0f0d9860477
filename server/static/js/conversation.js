// One conversation: header, actions, notices, the lock banner, the editor,
// the thread (keyed by message), wrap-up, the side panel and search. What
// each part shows comes from view.js (pure); this module draws it.

import { TIMELINE, timelineNode } from "./routing.js";
import { CommandError } from "./client.js";
import { avatar, $, h } from "./dom.js";
import { attempt, errorText } from "./alerts.js";
import { renderComposerState, restoreDraft } from "./composer.js";
import * as fmt from "./format.js";
import { language, t } from "./i18n.js";
import { linkPieces } from "./links.js";
import { renderPanel } from "./list.js";
import { mediaParts, reactionNode, shownText } from "./media.js";
import { ordered } from "./mirror.js";
import { agentName, live, me, serverNow, ui } from "./state.js";
import { NEAR_TOP, ThreadWindow } from "./threadwindow.js";
import { allowedActions, assignable, conversationView, stepIndex, timerView } from "./view.js";

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */
/** @typedef {import('./protocol').MessageView} MessageView */
/** @typedef {import('./protocol').SearchHit} SearchHit */
/** @typedef {import('./protocol').WrapUpView} WrapUpView */
/** @typedef {import('./threadwindow.js').Item} Item */

// --------------------------------------------------------------------------- open and close

/** @param {string} id */
export async function openConversation(id) {
  const c = live();
  if (ui.current && ui.current !== id) await c.closeThread(ui.current);
  ui.current = id;
  ui.lost = null;
  ui.kept = null;
  ui.side = null;
  ui.readVersion = -1;
  threadWindow().reset();
  resetSearch();
  restoreDraft();
  if (location.hash !== `#/c/${id}`) history.replaceState(null, "", `#/c/${id}`);
  const fromList = $("list").contains(document.activeElement);
  renderPanel();
  renderConversation();
  // On a phone the list just gave its place to the conversation: keep the keyboard in it.
  if (fromList && $("list").offsetParent === null) $("back-to-list").focus();
  try {
    await c.open(id);
  } catch (e) {
    if (ui.current === id) {
      ui.lost = e instanceof CommandError && e.code === "not_found" ? t("conv.not_available") : errorText(e);
      renderConversation();
    }
    return;
  }
  scrollThreadToEnd();
}

export function closeConversation() {
  const hadFocus = $("conversation").contains(document.activeElement);
  if (ui.current) void live().closeThread(ui.current);
  ui.current = null;
  ui.lost = null;
  history.replaceState(null, "", location.pathname);
  renderPanel();
  renderConversation();
  // Back to the row it was opened from (on a phone the conversation was the whole screen).
  if (hadFocus) /** @type {HTMLElement | null} */ ($("list").querySelector('li[tabindex="0"]'))?.focus();
}

// --------------------------------------------------------------------------- render

export function renderConversation() {
  const id = ui.current;
  const c = ui.client;
  // Which panel a phone shows (app.css: one panel at a time below 700 px).
  document.body.dataset.view = id === null ? "list" : "conversation";
  $("conv-empty").hidden = id !== null;
  $("conv-view").hidden = id === null;
  if (!id || !c) {
    $("side").hidden = true;
    return;
  }
  const kept = ui.lost && ui.kept?.id === id ? ui.kept : null;
  const s = c.mirror.conversation(id) ?? kept?.summary;
  if (!s) {
    renderLoading();
    return;
  }
  const thread = c.mirror.threads.get(id) ?? kept?.thread;
  if (!ui.lost) ui.kept = { id, summary: s, thread };
  const can = allowedActions(s, c.welcome?.principals ?? []);
  const view = conversationView(s, { can, held: c.mirror.assigned.has(id), lost: ui.lost, hasMessages: !!thread?.messages.size, agentName });
  renderHeader(s);
  renderActions(s, view.actions);
  renderNotice(view.notice);
  renderLock(view.lock);
  renderTimer();
  setEditor(view.editor);
  renderComposerState();
  renderThread(id);
  renderWrapUp(view.wrapUp, thread?.wrapUp ?? null);
  renderSide(s, view.canNote);
  if (view.markRead && !ui.lost) markRead(s);
}

/** Before the summary arrives (or when it never will). */
function renderLoading() {
  $("conv-name").textContent = ui.lost ? t("lost.title") : t("common.loading");
  renderNotice(ui.lost ?? "");
  for (const b of ["claim", "to-inbox", "end-chat", "show-snapshot", "show-notes"]) $(b).hidden = true;
  $("assign-box").hidden = true;
  $("thread").replaceChildren();
  $("lock-banner").hidden = true;
  $("session-timer").hidden = true;
  $("wrapup").hidden = true;
  setEditor({ enabled: false, placeholder: ui.lost ?? t("common.loading"), templates: false });
}

/** @param {ConversationSummary} s */
function renderHeader(s) {
  $("conversation").dataset.channel = s.channel;
  $("conv-avatar").replaceWith(Object.assign(avatar(s, "large"), { id: "conv-avatar" }));
  $("conv-name").textContent = s.contact.display_name;
  const channel = $("conv-channel");
  channel.textContent = fmt.channelName(s.channel);
  channel.className = `channel-tag ${s.channel}`;
  $("conv-touchpoint").textContent = s.touchpoint_name;
}

/** @param {ConversationSummary} s @param {ReturnType<typeof conversationView>["actions"]} actions */
function renderActions(s, actions) {
  $("claim").hidden = !actions.claim;
  $("assign-box").hidden = !actions.assign;
  if (actions.assign) fillAssign(s);
  $("to-inbox").hidden = !actions.toInbox;
  $("end-chat").hidden = !actions.endChat;
  $("show-snapshot").hidden = !actions.snapshot;
  $("show-notes").hidden = !actions.notes;
}

/** @param {string} text */
function renderNotice(text) {
  const notice = $("conv-notice");
  notice.hidden = !text;
  notice.textContent = text;
}

/** @param {{ title: string, text: string } | null} lock */
function renderLock(lock) {
  $("lock-banner").hidden = !lock;
  if (!lock) return;
  $("lock-title").textContent = lock.title;
  $("lock-text").textContent = lock.text;
}

/** Reading it clears the unread bubble everywhere (once per new message). @param {ConversationSummary} s */
function markRead(s) {
  if (document.visibilityState !== "visible" || ui.readVersion === s.version) return;
  ui.readVersion = s.version;
  live().markRead(s.id).catch(() => (ui.readVersion = -1));
}

/** @param {ConversationSummary} s */
function fillAssign(s) {
  const select = /** @type {HTMLSelectElement} */ ($("assign-select"));
  const snapshot = ui.client?.mirror.snapshot;
  const agents = assignable(s, snapshot?.agents ?? [], snapshot?.queues ?? []);
  const key = agents.map((a) => a.id).join(",");
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  select.replaceChildren(...agents.map((a) => h("option", { value: a.id, text: a.name })));
}

/** @param {{ enabled: boolean, placeholder: string, templates: boolean }} editorView */
function setEditor({ enabled, placeholder, templates }) {
  const editor = /** @type {HTMLTextAreaElement} */ ($("editor"));
  editor.disabled = !enabled;
  editor.placeholder = placeholder;
  /** @type {HTMLButtonElement} */ ($("send")).disabled = !enabled;
  $("template-button").hidden = !templates;
}

export function renderTimer() {
  const timer = $("session-timer");
  const s = ui.current ? ui.client?.mirror.conversation(ui.current) ?? null : null;
  const view = timerView(s, ui.lost, serverNow());
  timer.hidden = !view;
  if (!view) return;
  timer.dataset.urgent = String(view.urgent);
  timer.textContent = view.text;
  timer.title = t("timer.title", { time: fmt.fullTime(view.closesAt) });
}

// --------------------------------------------------------------------------- the thread

/** @type {ThreadWindow | null} */
let win = null;

/** The thread's window (threadwindow.js): made once, on #thread. */
function threadWindow() {
  win ??= new ThreadWindow($("thread"), { onNearTop: () => void loadEarlier(), onUnseen: renderUnseen, steady: (key) => key.startsWith("m:") });
  return win;
}

/** The "new messages" pill: shown while new messages arrived below the view. @param {number} count */
function renderUnseen(count) {
  const pill = $("thread-new");
  pill.hidden = count === 0;
  if (count) pill.textContent = t("thread.new_messages", { count, n: fmt.number(count) });
}

/** @param {string} id */
function renderThread(id) {
  const box = $("thread");
  const thread = ui.client?.mirror.threads.get(id) ?? (ui.lost && ui.kept?.id === id ? ui.kept.thread : undefined);
  if (!thread) {
    box.replaceChildren(ui.lost ? h("p", { class: "muted center", text: ui.lost }) : h("p", { class: "muted center", text: t("thread.loading") }));
    return;
  }
  /** @type {Map<string, SearchHit>} */
  const hits = new Map(ui.search.hits.map((hit) => [hit.message_id, hit]));
  const current = ui.search.hits[ui.search.index];
  const myId = me()?.id;
  const contact = thread.conversation.contact.display_name;
  const messages = ordered(thread);
  // Screen readers hear each message's place (its seq) in a thread of known size once all is read.
  const size = thread.hasMore ? -1 : messages.length ? messages[messages.length - 1].seq : 0;
  /** @type {Item[]} */
  const items = [];
  if (thread.hasMore) {
    items.push({ key: "earlier", stamp: language, build: () => h("button", { type: "button", id: "load-earlier", class: "ghost load-earlier", text: t("thread.load_earlier") }) });
  }
  let lastDay = "";
  for (const m of messages) {
    const day = new Date(m.at).toDateString();
    if (day !== lastDay) {
      items.push({ key: `day:${day}`, stamp: language, build: () => h("div", { class: "day", role: "separator", text: fmt.dayName(m.at) }) });
      lastDay = day;
    }
    const hit = hits.get(m.id) ?? null;
    const isCurrent = current?.message_id === m.id;
    const author = m.direction === "out" && m.author_id && m.author_id !== myId ? agentName(m.author_id) : null;
    const from = m.direction === "in" ? contact : m.author_id === myId ? t("a11y.you") : m.author_id ? agentName(m.author_id) : t("a11y.business");
    items.push({
      key: `m:${m.id}`,
      // the whole message: an edit or a status changes it; the language its words and times
      stamp: () => JSON.stringify([m, hit?.spans ?? null, isCurrent, author, from, language()]),
      build: () => (m.kind === TIMELINE ? timelineNode(m) : messageNode(m, hit, isCurrent, author, from)),
    });
  }
  if (!thread.messages.size) items.push({ key: "none", stamp: language, build: () => h("p", { class: "muted center", text: t("thread.empty") }) });
  const newest = messages.length ? messages[messages.length - 1].seq : 0;
  threadWindow().draw(items, { newest, follow: ui.search.index < 0, size });
  box.dataset.drawn = String(threadWindow().drawn.end - threadWindow().drawn.first);
}

/**
 * @param {MessageView} m @param {SearchHit | null} hit @param {boolean} isCurrent @param {string | null} author
 * @param {string} from  who wrote it, said first to screen readers
 */
function messageNode(m, hit, isCurrent, author, from) {
  const shown = shownText(m);
  const parts = fmt.splitSpans(shown, hit && shown === m.text ? hit.spans : []);
  const body = m.deleted
    ? h("div", { class: "bubble-text deleted", text: t("message.deleted") }) // the customer took it back
    : h("div", { class: "bubble-text", dir: "auto" }, parts.flatMap((p) => (p.mark ? [/** @type {string | HTMLElement} */ (h("mark", { class: isCurrent ? "current" : null, text: p.text }))] : linked(p.text))));
  const delivery = fmt.delivery(m.status);
  return h("div", { class: `message ${m.direction}${m.status === "failed" ? " failed" : ""}`, "data-seq": m.seq, "data-message-id": m.id, id: `msg-${m.id}`, role: "article", "aria-posinset": m.seq }, [
    h("div", { class: "bubble" }, [
      h("span", { class: "visually-hidden", text: t("a11y.wrote", { name: from }) }),
      m.kind === "template" ? h("div", { class: "kind-tag", text: t("message.template") }) : null,
      author ? h("div", { class: "author", "aria-hidden": "true", text: author }) : null, // said by "… wrote:"
      ...(m.deleted ? [] : mediaParts(m)),
      shown || m.deleted ? body : null,
      h("div", { class: "meta" }, [
        m.edited_at != null && !m.deleted
          ? h("span", { class: "edited", title: t("message.edited_at", { time: fmt.fullTime(m.edited_at) }), text: t("message.edited") })
          : null,
        h("time", { datetime: new Date(m.at).toISOString(), title: fmt.fullTime(m.at), text: fmt.messageTime(m.at) }),
        m.direction === "out" && delivery
          ? h("span", { class: `delivery ${m.status}`, "data-status": m.status, title: delivery.label, "aria-label": delivery.label, text: delivery.icon })
          : null,
      ]),
      m.error ? h("div", { class: "error small", text: t("message.not_delivered", { reason: m.error.message || m.error.code }) }) : null,
      reactionNode(m),
    ]),
  ]);
}

/** Text with its http(s) links clickable, opened apart from the app. @param {string} text @returns {Array<string | HTMLElement>} */
function linked(text) {
  return linkPieces(text).map((piece) =>
    piece.href ? h("a", { href: piece.href, target: "_blank", rel: "noopener noreferrer", text: piece.text }) : piece.text,
  );
}

export function scrollThreadToEnd() {
  threadWindow().toEnd();
}

/** Older messages: scrolled near the top, or the "Load earlier messages" button (the keyboard's way). */
export async function loadEarlier() {
  const id = ui.current;
  if (!id || loading) return;
  // A page is drawn when its frame arrives, before its request settles: a
  // scroll to the top in between is dropped above, so read on while the
  // view is still near the top once the page is in.
  for (;;) {
    const thread = live().mirror.threads.get(id);
    if (!thread || !thread.messages.size || !thread.hasMore) return;
    await olderPage(id, Math.min(...thread.messages.keys()));
    if (ui.current !== id || $("thread").scrollTop >= NEAR_TOP) return;
  }
}

/** One request for older messages at a time; the thread says it is busy meanwhile. */
let loading = false;

/** @param {string} id @param {number} before @param {number} [limit] */
async function olderPage(id, before, limit) {
  loading = true;
  $("thread").setAttribute("aria-busy", "true");
  try {
    await attempt(() => live().history(id, before, limit));
  } finally {
    loading = false;
    $("thread").removeAttribute("aria-busy");
  }
}

/** Pages read at most to find a message (a search hit, a quote): 200 messages each. */
const SEEK_PAGES = 50;

/**
 * Load older pages until the message is in the thread, then draw it in the
 * middle of the view; its node, or null (not found within SEEK_PAGES).
 * @param {(thread: import('./mirror.js').Thread) => boolean} has @param {string} messageId
 */
async function seek(has, messageId) {
  const id = ui.current;
  if (!id) return null;
  let thread = live().mirror.threads.get(id);
  for (let page = 0; thread && !has(thread) && thread.hasMore && page < SEEK_PAGES; page++) {
    while (loading) await new Promise((resolve) => setTimeout(resolve, 20));
    await olderPage(id, Math.min(...thread.messages.keys()), 200);
    thread = live().mirror.threads.get(id);
    if (ui.current !== id) return null;
  }
  if (!thread || !has(thread)) return null;
  renderThread(id);
  return threadWindow().reveal(`m:${messageId}`);
}

/** A message of the open thread shown (a quoted one): its node, or null. @param {string} messageId */
export function revealMessage(messageId) {
  return seek((thread) => [...thread.messages.values()].some((m) => m.id === messageId), messageId);
}

// --------------------------------------------------------------------------- wrap-up and side panel

/** @param {boolean} show @param {WrapUpView | null} wrap */
function renderWrapUp(show, wrap) {
  $("wrapup").hidden = !show;
  $("composer").hidden = show;
  if (!show) return;
  const select = /** @type {HTMLSelectElement} */ ($("wrapup-disposition"));
  const dispositions = ui.client?.mirror.snapshot?.dispositions ?? [];
  if (select.options.length !== dispositions.length + 1 || select.dataset.lang !== language()) {
    select.dataset.lang = language();
    select.replaceChildren(h("option", { value: "", text: t("wrapup.choose") }), ...dispositions.map((d) => h("option", { value: d, text: d })));
  }
  const done = $("wrapup-done");
  done.hidden = !wrap;
  if (wrap) done.textContent = wrap.note ? t("wrapup.saved_note", { disposition: wrap.disposition, note: wrap.note }) : t("wrapup.saved", { disposition: wrap.disposition });
}

/** @param {ConversationSummary} s @param {boolean} canNote */
function renderSide(s, canNote) {
  if (s.channel !== "whatsapp" || ui.lost) ui.side = null;
  $("side").hidden = ui.side === null;
  $("snapshot-card").hidden = ui.side !== "snapshot";
  $("notes").hidden = ui.side !== "notes";
  $("show-snapshot").setAttribute("aria-pressed", String(ui.side === "snapshot"));
  $("show-notes").setAttribute("aria-pressed", String(ui.side === "notes"));
  if (ui.side !== "notes") return;
  const notes = ui.client?.mirror.threads.get(s.id)?.notes ?? [];
  $("notes-list").replaceChildren(
    ...(notes.length
      ? notes.map((n) => h("li", { class: "note" }, [h("div", { text: n.text }), h("div", { class: "muted small", text: `${agentName(n.author_id)} · ${fmt.fullTime(n.at)}` })]))
      : [h("li", { class: "muted", text: t("side.no_notes") })]),
  );
  $("note-form").hidden = !canNote;
}

/** @param {"snapshot" | "notes"} side */
export function toggleSide(side) {
  ui.side = ui.side === side ? null : side;
  renderConversation();
  if (ui.side === "snapshot") void loadSnapshotCard();
}

async function loadSnapshotCard() {
  const id = ui.current;
  if (!id) return;
  const body = $("snapshot-body");
  body.replaceChildren(h("p", { class: "muted", text: t("common.loading") }));
  try {
    const { card } = await live().contactCard(id);
    const c = card.contact;
    body.replaceChildren(
      h("div", { class: "card-contact" }, [
        h("div", { class: "card-name", text: c.display_name }),
        h("div", { class: "muted", text: c.known ? t("card.known") : t("card.unknown") }),
        h("dl", {}, [h("dt", { text: "WhatsApp" }), h("dd", { text: c.address })]), // E.164 ("+55…") or a BSUID, as sent
      ]),
      h("h4", { text: t("card.conversations", { n: fmt.number(card.conversations.length) }) }),
      h(
        "ul",
        { class: "history" },
        card.conversations.map((p) =>
          h("li", { class: p.id === id ? "this" : "" }, [
            h("div", { text: p.id === id ? t("card.this_one", { time: fmt.fullTime(p.created_at) }) : fmt.fullTime(p.created_at) }),
            h("div", { class: "muted small", text: p.ended_at ? t("card.ended", { disposition: p.disposition ?? t("card.no_wrapup") }) + (p.note ? ` — ${p.note}` : "") : t("card.open", { name: agentName(p.assignee_id) }) }),
          ]),
        ),
      ),
    );
  } catch (e) {
    body.replaceChildren(h("p", { class: "error", text: errorText(e) }));
  }
}

// --------------------------------------------------------------------------- search

function resetSearch() {
  clearTimeout(ui.search.timer);
  ui.search = { query: "", hits: [], index: -1, timer: undefined };
  /** @type {HTMLInputElement} */ ($("search-input")).value = "";
  $("search-count").textContent = "";
}

export async function runSearch() {
  const id = ui.current;
  const query = /** @type {HTMLInputElement} */ ($("search-input")).value.trim();
  ui.search.query = query;
  if (!id || !query) {
    ui.search.hits = [];
    ui.search.index = -1;
    $("search-count").textContent = "";
    renderThread(id ?? "");
    return;
  }
  try {
    const { hits } = await live().search(id, query);
    if (ui.current !== id || ui.search.query !== query) return;
    ui.search.hits = hits;
    ui.search.index = hits.length ? hits.length - 1 : -1; // newest first, like a chat app
    await jumpToMatch();
  } catch (e) {
    $("search-count").textContent = errorText(e);
  }
}

/** Show the current match: load older pages until it is in the thread, then scroll to it. */
async function jumpToMatch() {
  const id = ui.current;
  const hits = ui.search.hits;
  $("search-count").textContent = hits.length ? t("search.position", { index: fmt.number(ui.search.index + 1), total: fmt.number(hits.length) }) : t("search.none");
  if (!id || ui.search.index < 0) {
    renderThread(id ?? "");
    return;
  }
  const hit = hits[ui.search.index];
  await seek((thread) => thread.messages.has(hit.seq), hit.message_id);
  document.querySelector("#thread mark.current")?.scrollIntoView({ block: "center" });
}

/** @param {number} step */
export function stepMatch(step) {
  const n = ui.search.hits.length;
  if (!n) return;
  ui.search.index = stepIndex(ui.search.index, step, n);
  void jumpToMatch();
}

/** Search as the agent types (debounced), or step to the previous match on Enter. */
export function searchTyped() {
  clearTimeout(ui.search.timer);
  ui.search.timer = setTimeout(() => void runSearch(), 250);
}

export function searchSubmitted() {
  const query = /** @type {HTMLInputElement} */ ($("search-input")).value.trim();
  if (query !== ui.search.query) void runSearch();
  else stepMatch(-1);
}

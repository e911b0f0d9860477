// The agent web app: log-in, the Conversations panel, one conversation.
// State lives in the client's mirror (./mirror.js); this file draws it and
// turns clicks and keys into commands. No framework: each part has a
// render function that rebuilds its DOM from the mirror.

import { AuthError, CommandError, SwitchboardClient } from "./client.js";
import { ordered } from "./mirror.js";
import * as fmt from "./format.js";

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */
/** @typedef {import('./protocol').MessageView} MessageView */
/** @typedef {import('./protocol').SearchHit} SearchHit */
/** @typedef {import('./protocol').TemplateView} TemplateView */
/** @typedef {import('./protocol').AgentView} AgentView */
/** @typedef {import('./mirror.js').Change} Change */
/** @typedef {import('./mirror.js').Mirror} Mirror */

const TOKEN_KEY = "switchboard.token";

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing`);
  return /** @type {T} */ (node);
}

/**
 * A small element builder.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {Array<Node | string | null | undefined | false>} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = String(value);
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

// --------------------------------------------------------------------------- state

/** @type {SwitchboardClient | null} */
let client = null;

const ui = {
  /** @type {"inbox" | "assigned"} */
  tab: "inbox",
  /** @type {string | null} */
  current: null,
  /** @type {string | null} why the current conversation can no longer be shown */
  lost: null,
  /** @type {"snapshot" | "notes" | null} */
  side: null,
  search: {
    query: "",
    /** @type {SearchHit[]} */
    hits: [],
    index: -1,
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    timer: undefined,
  },
  /** @type {string | null} the row that has keyboard focus */
  focusId: null,
  /** @type {number} the summary version a read was already sent for */
  readVersion: -1,
};

/** @returns {SwitchboardClient} */
function live() {
  if (!client) throw new Error("not logged in");
  return client;
}

function me() {
  return client?.welcome?.agent ?? null;
}

/** @param {ConversationSummary} s */
function isMine(s) {
  return s.status === "open" && s.assignee_id === me()?.id;
}

// --------------------------------------------------------------------------- log-in

async function boot() {
  wireStaticHandlers();
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
    const list = $("demo-agents");
    list.replaceChildren(
      ...agents.map((a) =>
        h("li", {}, [
          h("button", { type: "button", class: "demo-agent", "data-agent": a.id }, [
            h("span", { class: "avatar small agent", text: fmt.agentInitials(a.name), "aria-hidden": "true" }),
            h("span", { class: "demo-name", text: a.name }),
            h("span", { class: "muted small", text: `${a.role} · ${a.queues.join(", ")}` }),
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
    $("login-error").textContent = "Demo log-in failed.";
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
    showLogin("The server cannot be reached.");
    return;
  }
  client?.close();
  client = new SwitchboardClient(wsUrl, token, {
    onChange: (mirror, changes) => onChange(mirror, changes),
    onState: (state, error) => onState(state, error),
    onUnsubscribed: (stream) => {
      if (stream === `conv:${ui.current}`) {
        ui.lost = "Another agent took this conversation.";
        renderConversation();
      }
    },
  });
  localStorage.setItem(TOKEN_KEY, token);
  $("login").hidden = true;
  $("app").hidden = false;
  try {
    await client.connect();
  } catch (e) {
    logout(e instanceof AuthError ? "Your token was refused or has expired. Log in again." : String(e));
    return;
  }
  const agent = me();
  if (agent) {
    $("me").replaceChildren(
      h("span", { class: "avatar small agent", text: fmt.agentInitials(agent.name), "aria-hidden": "true" }),
      h("span", { text: agent.name }),
      agent.role === "supervisor" ? h("span", { class: "role-tag", text: "Supervisor" }) : "",
    );
  }
  routeFromHash();
}

/** @param {string} message */
function logout(message) {
  localStorage.removeItem(TOKEN_KEY);
  client?.close();
  client = null;
  ui.current = null;
  showLogin(message);
}

// --------------------------------------------------------------------------- live updates

/** @param {import('./client.js').State} state @param {Error} [error] */
function onState(state, error) {
  const badge = $("conn-state");
  badge.dataset.state = state;
  badge.textContent = { idle: "", connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", failed: "Offline", closed: "" }[state];
  $("conn-banner").hidden = state !== "reconnecting";
  if (state === "failed" && error instanceof AuthError) logout("Your session ended. Log in again.");
}

/** @param {Mirror} mirror @param {Change[]} changes */
function onChange(mirror, changes) {
  renderPanel();
  const current = ui.current;
  const touchesCurrent = changes.some((c) => c.kind === "reset" || c.conversationId === current);
  if (touchesCurrent) renderConversation();
  for (const c of changes) announce(mirror, c);
}

/** Tell screen readers what changed (politely). @param {Mirror} mirror @param {Change} c */
function announce(mirror, c) {
  const s = c.conversationId ? mirror.conversation(c.conversationId) : null;
  const name = s?.contact.display_name ?? "a contact";
  const text = {
    "inbox.added": `New conversation in the Inbox from ${name}.`,
    "assigned.added": `Conversation with ${name} assigned to you.`,
    "session.locked": `Session with ${name} has closed; the editor is locked.`,
    "session.unlocked": `${name} wrote again; the editor is unlocked.`,
  }[c.kind];
  if (text) $("announcer").textContent = text;
}

// --------------------------------------------------------------------------- the panel

function renderPanel() {
  const mirror = live().mirror;
  $("count-inbox").textContent = String(mirror.inbox.size);
  $("count-assigned").textContent = String(mirror.assignedCount);
  const total = $("unread-total");
  total.hidden = mirror.unreadTotal === 0 || ui.tab !== "assigned";
  total.textContent = `${mirror.unreadTotal} unread message${mirror.unreadTotal === 1 ? "" : "s"}`;
  for (const tab of ["inbox", "assigned"]) {
    const button = $(`tab-${tab}`);
    const selected = ui.tab === tab;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
  }
  $("list").setAttribute("aria-labelledby", `tab-${ui.tab}`);
  renderList();
}

function renderList() {
  const mirror = live().mirror;
  const rows = [...(ui.tab === "inbox" ? mirror.inbox : mirror.assigned).values()];
  rows.sort((a, b) => (b.last_message_at ?? b.created_at) - (a.last_message_at ?? a.created_at));
  const list = $("list");
  const hadFocus = list.contains(document.activeElement);
  if (!rows.length) {
    const empty = ui.tab === "inbox" ? "The Inbox is empty. New conversations appear here live." : "Nothing assigned to you yet. Take a conversation from the Inbox.";
    list.replaceChildren(h("p", { class: "list-empty muted", text: empty }));
    return;
  }
  if (!rows.some((s) => s.id === ui.focusId)) ui.focusId = rows.some((s) => s.id === ui.current) ? ui.current : rows[0].id;
  const groups = /** @type {const} */ (["whatsapp", "messenger"]).map((channel) => ({
    channel,
    rows: rows.filter((s) => s.channel === channel),
  }));
  const now = Date.now() + live().mirror.serverOffset;
  list.replaceChildren(
    ...groups
      .filter((g) => g.rows.length)
      .map((g) =>
        h("section", { class: `group ${g.channel}`, "aria-labelledby": `group-${g.channel}` }, [
          h("h2", { id: `group-${g.channel}`, class: "group-title" }, [
            h("span", { class: "channel-dot", "aria-hidden": "true" }),
            fmt.channelName(g.channel),
            h("span", { class: "group-count", text: String(g.rows.length) }),
          ]),
          h("ul", { role: "listbox", "aria-label": `${fmt.channelName(g.channel)} conversations` }, g.rows.map((s) => row(s, now))),
        ]),
      ),
  );
  if (hadFocus) list.querySelector(`[data-conv-id="${CSS.escape(ui.focusId ?? "")}"]`)?.closest("li")?.focus();
}

/** @param {ConversationSummary} s @param {number} now */
function row(s, now) {
  const selected = s.id === ui.current;
  const unread = ui.tab === "assigned" && s.unread > 0;
  const label = [
    s.contact.display_name,
    fmt.channelName(s.channel),
    s.preview ? `last message: ${s.preview}` : "",
    unread ? `${s.unread} unread` : "",
    s.session_locked && s.status === "open" && s.last_message_at ? "session closed" : "",
  ].filter(Boolean).join(", ");
  return h(
    "li",
    {
      role: "option",
      class: `row${selected ? " selected" : ""}${unread ? " has-unread" : ""}`,
      "data-conv-id": s.id,
      "aria-selected": String(selected),
      "aria-label": label,
      tabindex: s.id === ui.focusId ? 0 : -1,
    },
    [
      avatar(s, "row-avatar"),
      h("div", { class: "row-main" }, [
        h("div", { class: "row-top" }, [
          h("span", { class: "row-name", text: s.contact.display_name }),
          h("time", { class: "row-time", datetime: s.last_message_at ? new Date(s.last_message_at).toISOString() : null, text: fmt.listTime(s.last_message_at, now) }),
        ]),
        h("div", { class: "row-bottom" }, [
          h("span", { class: "row-preview" }, [
            s.preview_direction === "out" ? h("span", { class: "you", text: "You: " }) : null,
            s.preview || "No messages yet",
          ]),
          s.session_locked && s.status === "open" && s.last_message_at ? h("span", { class: "lock-dot", title: "Session closed", text: "🔒" }) : null,
          unread ? h("span", { class: "unread", "aria-hidden": "true", text: String(s.unread) }) : null,
        ]),
      ]),
    ],
  );
}

/** @param {ConversationSummary} s @param {string} extra */
function avatar(s, extra) {
  const initials = s.contact.initials;
  return h("div", { class: `avatar ${s.channel} ${extra}${initials ? "" : " unknown"}`, "aria-hidden": "true" }, [
    initials ? h("span", { text: initials }) : personIcon(),
    h("span", { class: `badge ${s.channel}` }),
  ]);
}

function personIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "person");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M12 12a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9Zm0 2c-4.4 0-8 2.2-8 5v2h16v-2c0-2.8-3.6-5-8-5Z");
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

/** @param {"inbox" | "assigned"} tab */
function selectTab(tab) {
  ui.tab = tab;
  ui.focusId = null;
  renderPanel();
}

// --------------------------------------------------------------------------- one conversation

/** @param {string} id */
async function openConversation(id) {
  const c = live();
  if (ui.current && ui.current !== id) await c.closeThread(ui.current);
  ui.current = id;
  ui.lost = null;
  ui.side = null;
  ui.readVersion = -1;
  resetSearch();
  /** @type {HTMLTextAreaElement} */ ($("editor")).value = "";
  if (location.hash !== `#/c/${id}`) history.replaceState(null, "", `#/c/${id}`);
  renderPanel();
  renderConversation();
  try {
    await c.open(id);
  } catch (e) {
    if (ui.current === id) {
      ui.lost = e instanceof CommandError && e.code === "not_found" ? "This conversation is not available to you." : errorText(e);
      renderConversation();
    }
    return;
  }
  scrollThreadToEnd();
}

function closeConversation() {
  if (ui.current) void live().closeThread(ui.current);
  ui.current = null;
  ui.lost = null;
  history.replaceState(null, "", location.pathname);
  renderPanel();
  renderConversation();
}

function renderConversation() {
  const id = ui.current;
  const c = client;
  $("conv-empty").hidden = id !== null;
  $("conv-view").hidden = id === null;
  if (!id || !c) {
    $("side").hidden = true;
    return;
  }
  const s = c.mirror.conversation(id);
  const thread = c.mirror.threads.get(id);
  const notice = $("conv-notice");
  if (!s) {
    $("conv-name").textContent = "Loading…";
    notice.hidden = !ui.lost;
    notice.textContent = ui.lost ?? "";
    for (const b of ["claim", "to-inbox", "end-chat", "show-snapshot", "show-notes"]) $(b).hidden = true;
    $("assign-box").hidden = true;
    $("thread").replaceChildren();
    $("lock-banner").hidden = true;
    $("session-timer").hidden = true;
    $("wrapup").hidden = true;
    setEditor(false, ui.lost ?? "Loading…", false);
    return;
  }
  const agent = me();
  const mine = isMine(s);
  const open = s.status === "open" && !ui.lost;
  const whatsapp = s.channel === "whatsapp";
  $("conversation").dataset.channel = s.channel;

  $("conv-avatar").replaceWith(Object.assign(avatar(s, "large"), { id: "conv-avatar" }));
  $("conv-name").textContent = s.contact.display_name;
  const channel = $("conv-channel");
  channel.textContent = fmt.channelName(s.channel);
  channel.className = `channel-tag ${s.channel}`;
  $("conv-touchpoint").textContent = s.touchpoint_name;

  // Actions: what this agent may do with it now.
  $("claim").hidden = !(open && s.assignee_id === null);
  const supervisor = agent?.role === "supervisor";
  $("assign-box").hidden = !(open && supervisor);
  if (open && supervisor) fillAssign(s);
  $("to-inbox").hidden = !(open && mine);
  $("end-chat").hidden = !(open && mine);
  $("show-snapshot").hidden = !whatsapp || !!ui.lost;
  $("show-notes").hidden = !whatsapp || !!ui.lost;

  // Notices.
  let text = ui.lost ?? "";
  if (!text && s.status === "ended") text = `This conversation ended${s.ended_at ? " " + fmt.fullTime(s.ended_at) : ""}. If the contact writes again, a new conversation starts in the Inbox.`;
  else if (!text && s.assignee_id === null) text = "In the Inbox: take it to reply.";
  else if (!text && !mine) text = `Assigned to ${agentName(s.assignee_id)}.`;
  notice.hidden = !text;
  notice.textContent = text;

  // The reply window.
  const locked = open && s.session_locked;
  $("lock-banner").hidden = !locked;
  if (locked) {
    $("lock-title").textContent = whatsapp ? "The 24-hour session has closed." : "The Messenger reply window has closed.";
    $("lock-text").textContent = whatsapp
      ? s.last_message_at === null || !thread?.messages.size
        ? "No session is open: only an approved template can start the conversation."
        : "The contact has not written in the last 24 hours, so only an approved template can be sent. The editor unlocks as soon as they write again."
      : "The contact has not written recently; replies are refused until they write again.";
  }
  renderTimer();

  // Editor.
  if (!open) setEditor(false, ui.lost ?? "This conversation has ended.", false);
  else if (!mine) setEditor(false, s.assignee_id === null ? "Take this conversation to reply." : `Only ${agentName(s.assignee_id)} can reply.`, false);
  else if (locked) setEditor(false, "Locked: the session has closed. Send a template, end the chat, or wait for the contact.", whatsapp);
  else setEditor(true, "Write a reply. Enter adds a line; Shift+Enter sends.", whatsapp);

  renderThread(id);
  renderWrapUp(s, thread?.wrapUp ?? null);
  renderSide(s);

  // Reading it clears the unread bubble everywhere (once per new message).
  if (mine && s.unread > 0 && document.visibilityState === "visible" && ui.readVersion !== s.version) {
    ui.readVersion = s.version;
    live().markRead(id).catch(() => (ui.readVersion = -1));
  }
}

/** @param {string | null} id */
function agentName(id) {
  if (!id) return "nobody";
  return client?.mirror.snapshot?.agents.find((a) => a.id === id)?.name ?? id;
}

/** @param {ConversationSummary} s */
function fillAssign(s) {
  const select = /** @type {HTMLSelectElement} */ ($("assign-select"));
  const agents = (client?.mirror.snapshot?.agents ?? []).filter(
    (a) => a.id !== s.assignee_id && (a.role === "supervisor" || a.queues.includes(s.queue_id)),
  );
  const key = agents.map((a) => a.id).join(",");
  if (select.dataset.key === key) return;
  select.dataset.key = key;
  select.replaceChildren(...agents.map((a) => h("option", { value: a.id, text: a.name })));
}

/** @param {boolean} enabled @param {string} placeholder @param {boolean} templates */
function setEditor(enabled, placeholder, templates) {
  const editor = /** @type {HTMLTextAreaElement} */ ($("editor"));
  editor.disabled = !enabled;
  editor.placeholder = placeholder;
  /** @type {HTMLButtonElement} */ ($("send")).disabled = !enabled;
  $("template-button").hidden = !templates;
}

function renderTimer() {
  const timer = $("session-timer");
  const s = ui.current ? client?.mirror.conversation(ui.current) : null;
  if (!s || s.status !== "open" || s.session_locked || s.session_expires_at === null || ui.lost) {
    timer.hidden = true;
    return;
  }
  const left = s.session_expires_at - (Date.now() + (client?.mirror.serverOffset ?? 0));
  timer.hidden = false;
  timer.dataset.urgent = String(left < 3600_000);
  timer.textContent = `Session closes in ${fmt.countdown(left)}`;
  timer.title = `The contact's reply window closes at ${fmt.fullTime(s.session_expires_at)}`;
}

/** @param {string} id */
function renderThread(id) {
  const box = $("thread");
  const thread = client?.mirror.threads.get(id);
  if (!thread) {
    box.replaceChildren(ui.lost ? "" : h("p", { class: "muted center", text: "Loading messages…" }));
    return;
  }
  const nearEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  /** @type {Map<string, SearchHit>} */
  const hits = new Map(ui.search.hits.map((hit) => [hit.message_id, hit]));
  const current = ui.search.hits[ui.search.index];
  /** @type {Node[]} */
  const nodes = [];
  if (thread.hasMore) {
    nodes.push(h("button", { type: "button", id: "load-earlier", class: "ghost load-earlier", text: "Load earlier messages" }));
  }
  let lastDay = "";
  for (const m of ordered(thread)) {
    const day = new Date(m.at).toDateString();
    if (day !== lastDay) {
      nodes.push(h("div", { class: "day", role: "separator", text: new Date(m.at).toLocaleDateString(undefined, { weekday: "long", month: "long", day: "numeric" }) }));
      lastDay = day;
    }
    nodes.push(messageNode(m, hits.get(m.id) ?? null, current?.message_id === m.id));
  }
  if (!thread.messages.size) nodes.push(h("p", { class: "muted center", text: "No messages yet." }));
  box.replaceChildren(...nodes);
  if (nearEnd && ui.search.index < 0) scrollThreadToEnd();
}

/** @param {MessageView} m @param {SearchHit | null} hit @param {boolean} isCurrent */
function messageNode(m, hit, isCurrent) {
  const parts = fmt.splitSpans(m.text, hit ? hit.spans : []);
  const body = h("div", { class: "bubble-text" }, parts.map((p) => (p.mark ? h("mark", { class: isCurrent ? "current" : null, text: p.text }) : p.text)));
  const delivery = fmt.DELIVERY[m.status];
  const author = m.direction === "out" && m.author_id && m.author_id !== me()?.id ? agentName(m.author_id) : null;
  return h("div", { class: `message ${m.direction}${m.status === "failed" ? " failed" : ""}`, "data-seq": m.seq, "data-message-id": m.id, id: `msg-${m.id}` }, [
    h("div", { class: "bubble" }, [
      m.kind === "template" ? h("div", { class: "kind-tag", text: "Template" }) : null,
      author ? h("div", { class: "author", text: author }) : null,
      body,
      h("div", { class: "meta" }, [
        h("time", { datetime: new Date(m.at).toISOString(), title: fmt.fullTime(m.at), text: fmt.messageTime(m.at) }),
        m.direction === "out" && delivery
          ? h("span", { class: `delivery ${m.status}`, "data-status": m.status, title: delivery.label, "aria-label": delivery.label, text: delivery.icon })
          : null,
      ]),
      m.error ? h("div", { class: "error small", text: `Not delivered: ${m.error.message || m.error.code}` }) : null,
    ]),
  ]);
}

function scrollThreadToEnd() {
  const box = $("thread");
  box.scrollTop = box.scrollHeight;
}

/** @param {ConversationSummary} s @param {import('./protocol').WrapUpView | null} wrap */
function renderWrapUp(s, wrap) {
  const form = $("wrapup");
  const show = s.channel === "whatsapp" && s.status === "ended" && s.assignee_id === me()?.id && !ui.lost;
  form.hidden = !show;
  $("composer").hidden = show;
  if (!show) return;
  const select = /** @type {HTMLSelectElement} */ ($("wrapup-disposition"));
  const dispositions = client?.mirror.snapshot?.dispositions ?? [];
  if (select.options.length !== dispositions.length + 1) {
    select.replaceChildren(h("option", { value: "", text: "Choose…" }), ...dispositions.map((d) => h("option", { value: d, text: d })));
  }
  const done = $("wrapup-done");
  done.hidden = !wrap;
  if (wrap) done.textContent = `Saved: ${wrap.disposition}${wrap.note ? ` — ${wrap.note}` : ""}. You can correct it and save again.`;
}

/** @param {ConversationSummary} s */
function renderSide(s) {
  const side = $("side");
  const whatsapp = s.channel === "whatsapp" && !ui.lost;
  if (!whatsapp) ui.side = null;
  side.hidden = ui.side === null;
  $("snapshot-card").hidden = ui.side !== "snapshot";
  $("notes").hidden = ui.side !== "notes";
  $("show-snapshot").setAttribute("aria-pressed", String(ui.side === "snapshot"));
  $("show-notes").setAttribute("aria-pressed", String(ui.side === "notes"));
  if (ui.side === "notes") {
    const notes = client?.mirror.threads.get(s.id)?.notes ?? [];
    $("notes-list").replaceChildren(
      ...(notes.length
        ? notes.map((n) => h("li", { class: "note" }, [h("div", { text: n.text }), h("div", { class: "muted small", text: `${agentName(n.author_id)} · ${fmt.fullTime(n.at)}` })]))
        : [h("li", { class: "muted", text: "No notes yet." })]),
    );
    const canWrite = s.assignee_id === me()?.id;
    $("note-form").hidden = !canWrite;
  }
}

async function loadSnapshotCard() {
  const id = ui.current;
  if (!id) return;
  const body = $("snapshot-body");
  body.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  try {
    const { card } = await live().contactCard(id);
    const c = card.contact;
    body.replaceChildren(
      h("div", { class: "card-contact" }, [
        h("div", { class: "card-name", text: c.display_name }),
        h("div", { class: "muted", text: c.known ? "In the contacts directory" : "Not in the contacts directory" }),
        h("dl", {}, [h("dt", { text: "WhatsApp" }), h("dd", { text: `+${c.address}` })]),
      ]),
      h("h4", { text: `Conversations (${card.conversations.length})` }),
      h(
        "ul",
        { class: "history" },
        card.conversations.map((p) =>
          h("li", { class: p.id === id ? "this" : "" }, [
            h("div", { text: `${fmt.fullTime(p.created_at)}${p.id === id ? " · this one" : ""}` }),
            h("div", { class: "muted small", text: p.ended_at ? `Ended · ${p.disposition ?? "no wrap-up"}${p.note ? ` — ${p.note}` : ""}` : `Open · ${agentName(p.assignee_id)}` }),
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

async function runSearch() {
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
  $("search-count").textContent = hits.length ? `${ui.search.index + 1} of ${hits.length}` : "No matches";
  if (!id || ui.search.index < 0) {
    renderThread(id ?? "");
    return;
  }
  const hit = hits[ui.search.index];
  let thread = live().mirror.threads.get(id);
  while (thread && !thread.messages.has(hit.seq) && thread.hasMore) {
    const oldest = Math.min(...thread.messages.keys());
    await live().history(id, oldest);
    thread = live().mirror.threads.get(id);
  }
  renderThread(id);
  document.querySelector("#thread mark.current")?.scrollIntoView({ block: "center" });
}

/** @param {number} step */
function stepMatch(step) {
  const n = ui.search.hits.length;
  if (!n) return;
  ui.search.index = (ui.search.index + step + n) % n;
  void jumpToMatch();
}

// --------------------------------------------------------------------------- commands

/** @param {unknown} e */
function errorText(e) {
  if (e instanceof CommandError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** @param {string} text @param {"error" | "info"} [kind] */
function toast(text, kind = "error") {
  const node = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", text });
  $("toasts").append(node);
  setTimeout(() => node.remove(), 6000);
}

/**
 * Run a command from a click; show a refusal as a toast.
 * @param {() => Promise<unknown>} action
 */
async function attempt(action) {
  try {
    await action();
    return true;
  } catch (e) {
    toast(errorText(e));
    return false;
  }
}

async function sendMessage() {
  const id = ui.current;
  const editor = /** @type {HTMLTextAreaElement} */ ($("editor"));
  const text = editor.value;
  if (!id || !text.trim() || editor.disabled) return;
  editor.value = "";
  const ok = await attempt(() => live().send(id, text));
  if (!ok && !editor.value) editor.value = text; // keep what they wrote
  scrollThreadToEnd();
  editor.focus();
}

/** @param {TemplateView} t @param {HTMLElement} paramsBox @param {HTMLElement} preview */
function templateParams(t, paramsBox, preview) {
  const count = new Set([...t.text.matchAll(/\{\{(\d+)\}\}/g)].map((m) => m[1])).size;
  const inputs = Array.from({ length: count }, (_, i) => h("input", { "aria-label": `Parameter ${i + 1}`, placeholder: `{{${i + 1}}}`, required: true, class: "param" }));
  const update = () => {
    preview.textContent = t.text.replace(/\{\{(\d+)\}\}/g, (_, n) => inputs[Number(n) - 1]?.value || `{{${n}}}`);
  };
  for (const input of inputs) input.addEventListener("input", update);
  paramsBox.replaceChildren(...inputs);
  update();
  return () => inputs.map((i) => i.value);
}

/**
 * Fill a template <select> and wire its parameters; returns a reader of the choice.
 * @param {HTMLSelectElement} select @param {HTMLElement} paramsBox @param {HTMLElement} preview
 */
function templatePicker(select, paramsBox, preview) {
  const templates = client?.mirror.snapshot?.templates ?? [];
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

/** @type {() => import('./protocol').TemplateRef | null} */
let readTemplate = () => null;
/** @type {() => import('./protocol').TemplateRef | null} */
let readStartTemplate = () => null;

function openTemplateDialog() {
  readTemplate = templatePicker(/** @type {HTMLSelectElement} */ ($("template-select")), $("template-params"), $("template-preview"));
  $("template-error").textContent = "";
  /** @type {HTMLDialogElement} */ ($("template-dialog")).showModal();
}

function openStartDialog() {
  const select = /** @type {HTMLSelectElement} */ ($("start-touchpoint"));
  const touchpoints = client?.mirror.snapshot?.touchpoints ?? [];
  select.replaceChildren(...touchpoints.map((t) => h("option", { value: t.id, text: `${t.name} · ${fmt.channelName(t.channel)}` })));
  readStartTemplate = templatePicker(/** @type {HTMLSelectElement} */ ($("start-template")), $("start-params"), $("start-preview"));
  const sync = () => {
    const whatsapp = touchpoints.find((t) => t.id === select.value)?.channel === "whatsapp";
    $("start-template-box").hidden = !whatsapp;
    $("start-text-box").hidden = whatsapp;
  };
  select.onchange = sync;
  sync();
  $("start-error").textContent = "";
  /** @type {HTMLDialogElement} */ ($("start-dialog")).showModal();
}

async function submitStart() {
  const touchpoint = /** @type {HTMLSelectElement} */ ($("start-touchpoint")).value;
  const address = /** @type {HTMLInputElement} */ ($("start-address")).value.trim();
  const whatsapp = !$("start-template-box").hidden;
  const body = whatsapp
    ? { template: readStartTemplate() ?? undefined }
    : { text: /** @type {HTMLTextAreaElement} */ ($("start-text")).value };
  try {
    const result = await live().start(touchpoint, address, body);
    /** @type {HTMLDialogElement} */ ($("start-dialog")).close();
    selectTab("assigned");
    await openConversation(result.conversation.id);
  } catch (e) {
    $("start-error").textContent = errorText(e);
  }
}

// --------------------------------------------------------------------------- routing and keys

function routeFromHash() {
  // Ids end with their thread's shard ("c_0192….3a4"); the widget's links are URL-encoded.
  const match = location.hash.match(/^#\/c\/([\w.%-]+)$/);
  if (!match || !client) return;
  let id;
  try {
    id = decodeURIComponent(match[1]);
  } catch {
    return; // a mangled link: stay where we are
  }
  if (id === ui.current) return;
  if (client.mirror.assigned.has(id)) ui.tab = "assigned";
  else if (client.mirror.inbox.has(id)) ui.tab = "inbox";
  void openConversation(id);
}

/** Arrow keys move through the rows of the visible list; Enter opens. @param {KeyboardEvent} e */
function listKeys(e) {
  const rows = /** @type {HTMLElement[]} */ ([...$("list").querySelectorAll("li[data-conv-id]")]);
  const at = rows.findIndex((r) => r === document.activeElement);
  if (at < 0) return;
  let next = at;
  if (e.key === "ArrowDown") next = Math.min(rows.length - 1, at + 1);
  else if (e.key === "ArrowUp") next = Math.max(0, at - 1);
  else if (e.key === "Home") next = 0;
  else if (e.key === "End") next = rows.length - 1;
  else if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    const id = rows[at].dataset.convId;
    if (id) void openConversation(id);
    return;
  } else return;
  e.preventDefault();
  rows[at].tabIndex = -1;
  rows[next].tabIndex = 0;
  rows[next].focus();
  ui.focusId = rows[next].dataset.convId ?? null;
}

function wireStaticHandlers() {
  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = /** @type {HTMLTextAreaElement} */ ($("token-input")).value.trim();
    if (token) void start(token);
  });
  $("demo-agents").addEventListener("click", (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest("button[data-agent]");
    if (button instanceof HTMLElement && button.dataset.agent) void demoLogin(button.dataset.agent);
  });
  $("logout").addEventListener("click", async () => {
    // Revoke the token on the server too: every socket opened with it closes.
    const token = localStorage.getItem(TOKEN_KEY);
    if (token) await fetch("/api/logout", { method: "POST", headers: { authorization: `Bearer ${token}` } }).catch(() => undefined);
    logout("");
  });

  for (const tab of ["inbox", "assigned"]) {
    $(`tab-${tab}`).addEventListener("click", () => selectTab(/** @type {"inbox" | "assigned"} */ (tab)));
  }
  $("tab-inbox").parentElement?.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const next = ui.tab === "inbox" ? "assigned" : "inbox";
    selectTab(next);
    $(`tab-${next}`).focus();
  });
  $("list").addEventListener("click", (e) => {
    const li = /** @type {HTMLElement} */ (e.target).closest("li[data-conv-id]");
    if (li instanceof HTMLElement && li.dataset.convId) {
      ui.focusId = li.dataset.convId;
      void openConversation(li.dataset.convId);
    }
  });
  $("list").addEventListener("keydown", listKeys);
  $("new-conversation").addEventListener("click", openStartDialog);

  $("close-conv").addEventListener("click", closeConversation);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && ui.current && !document.querySelector("dialog[open]")) closeConversation();
  });
  $("claim").addEventListener("click", async () => {
    const id = ui.current;
    if (!id) return;
    if (await attempt(() => live().claim(id))) {
      selectTab("assigned");
      /** @type {HTMLTextAreaElement} */ ($("editor")).focus();
    }
  });
  $("assign").addEventListener("click", () => {
    const id = ui.current;
    const target = /** @type {HTMLSelectElement} */ ($("assign-select")).value;
    if (id && target) void attempt(() => live().assign(id, target));
  });
  $("to-inbox").addEventListener("click", () => {
    const id = ui.current;
    if (id) void attempt(() => live().sendToInbox(id));
  });
  $("end-chat").addEventListener("click", () => {
    const id = ui.current;
    if (id) void attempt(() => live().endChat(id));
  });
  $("show-snapshot").addEventListener("click", () => {
    ui.side = ui.side === "snapshot" ? null : "snapshot";
    renderConversation();
    if (ui.side === "snapshot") void loadSnapshotCard();
  });
  $("show-notes").addEventListener("click", () => {
    ui.side = ui.side === "notes" ? null : "notes";
    renderConversation();
  });
  $("note-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = /** @type {HTMLTextAreaElement} */ ($("note-input"));
    const id = ui.current;
    if (!id || !input.value.trim()) return;
    if (await attempt(() => live().addNote(id, input.value))) input.value = "";
  });
  $("wrapup").addEventListener("submit", (e) => {
    e.preventDefault();
    const id = ui.current;
    const disposition = /** @type {HTMLSelectElement} */ ($("wrapup-disposition")).value;
    const note = /** @type {HTMLTextAreaElement} */ ($("wrapup-note")).value;
    if (id && disposition) void attempt(() => live().wrapUp(id, disposition, note));
  });

  // The editor: Enter is a new line, Shift+Enter sends (the spec's rule).
  $("editor").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.shiftKey && !e.isComposing) {
      e.preventDefault();
      void sendMessage();
    }
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    void sendMessage();
  });
  $("template-button").addEventListener("click", openTemplateDialog);
  $("template-cancel").addEventListener("click", () => /** @type {HTMLDialogElement} */ ($("template-dialog")).close());
  $("template-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const id = ui.current;
    const ref = readTemplate();
    if (!id || !ref) return;
    try {
      await live().sendTemplate(id, ref);
      /** @type {HTMLDialogElement} */ ($("template-dialog")).close();
    } catch (err) {
      $("template-error").textContent = errorText(err);
    }
  });
  $("start-cancel").addEventListener("click", () => /** @type {HTMLDialogElement} */ ($("start-dialog")).close());
  $("start-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void submitStart();
  });

  $("search-input").addEventListener("input", () => {
    clearTimeout(ui.search.timer);
    ui.search.timer = setTimeout(() => void runSearch(), 250);
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const query = /** @type {HTMLInputElement} */ ($("search-input")).value.trim();
    if (query !== ui.search.query) void runSearch();
    else stepMatch(-1);
  });
  $("search-prev").addEventListener("click", () => stepMatch(-1));
  $("search-next").addEventListener("click", () => stepMatch(1));
  $("thread").addEventListener("click", async (e) => {
    const id = ui.current;
    if (!(e.target instanceof HTMLElement) || e.target.id !== "load-earlier" || !id) return;
    const thread = live().mirror.threads.get(id);
    if (thread && thread.messages.size) await attempt(() => live().history(id, Math.min(...thread.messages.keys())));
  });

  window.addEventListener("hashchange", routeFromHash);
  window.addEventListener("online", () => client?.retryNow());
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && client && ui.current) renderConversation();
  });
  setInterval(() => {
    if (client && ui.current) renderTimer();
  }, 1000);
}

void boot();

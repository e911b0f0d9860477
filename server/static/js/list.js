// The Conversations panel: the two tabs, their counters, and the list of
// rows. Keyed: each row is one <li> keyed by conversation id and stamped
// with what it shows (view.js rowView); an update rebuilds only the rows
// whose stamp changed and moves only rows whose place changed.
//
// Ready for a virtualized list: `rowsToDraw` is the one place that chooses
// which rows of a group get DOM nodes. A windowed render makes it return
// the slice under the viewport (plus spacers for the rest); everything else
// (keys, stamps, focus by id, arrow keys over drawn rows) stays as is.

import { avatar, $, h, reconcile } from "./dom.js";
import * as fmt from "./format.js";
import { live, ui } from "./state.js";
import { listGroups, listKeyTarget, rowView } from "./view.js";

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */
/** @typedef {import('./view.js').Tab} Tab */

export function renderPanel() {
  const mirror = live().mirror;
  $("count-inbox").textContent = String(mirror.inboxCount);
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

/**
 * Which rows of a group get a node. Today: all of them.
 * @param {ConversationSummary[]} rows
 */
function rowsToDraw(rows) {
  return rows;
}

function renderList() {
  const mirror = live().mirror;
  const list = $("list");
  const hadFocus = list.contains(document.activeElement);
  const summaries = (ui.tab === "inbox" ? mirror.inbox : mirror.assigned).values();
  const groups = listGroups(summaries, ui.tab === "inbox");
  let built = 0; // rows (re)built by this render: data-built, for a look in the console
  if (!groups.length) {
    const empty = ui.tab === "inbox" ? "The Inbox is empty. New conversations appear here live." : "Nothing assigned to you yet. Take a conversation from the Inbox.";
    reconcile(list, [{ key: "empty", stamp: empty, build: () => h("p", { class: "list-empty muted", text: empty }) }]);
    list.dataset.built = "0";
    return;
  }
  const all = groups.flatMap((g) => g.rows);
  if (!all.some((s) => s.id === ui.focusId)) ui.focusId = all.some((s) => s.id === ui.current) ? ui.current : all[0].id;
  const now = Date.now() + mirror.serverOffset;
  const context = { tab: ui.tab, current: ui.current, focusId: ui.focusId, today: new Date(now).toDateString() };
  reconcile(
    list,
    groups.map((g) => ({ key: g.channel, stamp: g.channel, build: () => groupSection(g.channel) })),
  );
  for (const g of groups) {
    const section = /** @type {HTMLElement} */ (list.querySelector(`section.group.${g.channel}`));
    /** @type {HTMLElement} */ (section.querySelector(".group-count")).textContent = String(g.rows.length);
    const ul = /** @type {HTMLElement} */ (section.querySelector("ul"));
    built += reconcile(
      ul,
      rowsToDraw(g.rows).map((s) => {
        const view = rowView(s, context);
        return { key: s.id, stamp: view.stamp, build: () => row(s, view, now) };
      }),
    );
  }
  list.dataset.built = String(built);
  if (hadFocus && !list.contains(document.activeElement)) list.querySelector(`[data-conv-id="${CSS.escape(ui.focusId ?? "")}"]`)?.closest("li")?.focus();
}

/** @param {"whatsapp" | "messenger"} channel */
function groupSection(channel) {
  return h("section", { class: `group ${channel}`, "aria-labelledby": `group-${channel}` }, [
    h("h2", { id: `group-${channel}`, class: "group-title" }, [
      h("span", { class: "channel-dot", "aria-hidden": "true" }),
      fmt.channelName(channel),
      h("span", { class: "group-count" }),
    ]),
    h("ul", { role: "listbox", "aria-label": `${fmt.channelName(channel)} conversations` }),
  ]);
}

/**
 * @param {ConversationSummary} s
 * @param {ReturnType<typeof rowView>} view
 * @param {number} now
 */
function row(s, view, now) {
  return h(
    "li",
    {
      role: "option",
      class: `row${view.selected ? " selected" : ""}${view.unread ? " has-unread" : ""}`,
      "data-conv-id": s.id,
      "aria-selected": String(view.selected),
      "aria-label": view.label,
      tabindex: view.focused ? 0 : -1,
    },
    [
      avatar(s, "row-avatar"),
      h("div", { class: "row-main" }, [
        h("div", { class: "row-top" }, [
          h("span", { class: "row-name", text: s.contact.display_name }),
          h("time", { class: "row-time", datetime: s.last_message_at ? new Date(s.last_message_at).toISOString() : null, text: fmt.listTime(s.last_message_at, now) }),
        ]),
        h("div", { class: "row-bottom" }, [
          h("span", { class: "row-preview", dir: "auto" }, [s.preview_direction === "out" ? h("span", { class: "you", text: "You: " }) : null, s.preview || "No messages yet"]),
          view.locked ? h("span", { class: "lock-dot", title: "Session closed", text: "🔒" }) : null,
          view.unread ? h("span", { class: "unread", "aria-hidden": "true", text: String(s.unread) }) : null,
        ]),
      ]),
    ],
  );
}

/**
 * Near the end of the drawn Inbox, ask for its next page (the window grows
 * as the agent scrolls; the scroll position stays where it is).
 */
export function maybeMoreInbox() {
  const list = $("list");
  const client = live();
  if (ui.tab !== "inbox" || client.mirror.inboxCursor === null) return;
  if (list.scrollTop + list.clientHeight < list.scrollHeight - 400) return;
  client.moreInbox().catch(() => undefined);
}

/** @param {Tab} tab */
export function selectTab(tab) {
  ui.tab = tab;
  ui.focusId = null;
  renderPanel();
}

/**
 * Arrow keys move through the drawn rows of the visible list; Enter opens.
 * @param {KeyboardEvent} e @param {(id: string) => void} open
 */
export function listKeys(e, open) {
  const rows = /** @type {HTMLElement[]} */ ([...$("list").querySelectorAll("li[data-conv-id]")]);
  const at = rows.findIndex((r) => r === document.activeElement);
  if (at < 0) return;
  const target = listKeyTarget(e.key, at, rows.length);
  if (target === null) return;
  e.preventDefault();
  if (target === "open") {
    const id = rows[at].dataset.convId;
    if (id) open(id);
    return;
  }
  ui.focusId = rows[target].dataset.convId ?? null;
  rows[at].tabIndex = -1;
  rows[target].tabIndex = 0;
  rows[target].focus();
}

// The Conversations panel: the two tabs, their counters, the filter box and
// the sort, and the list of rows. Keyed: each row is one <li> keyed by
// conversation id and stamped with what it shows (view.js rowView); an
// update rebuilds only the rows whose stamp changed and moves only rows
// whose place changed.
//
// Virtualized: only the rows under the viewport (plus a few) get DOM nodes
// (`rowsToDraw`); each group's <ul> is padded above and below for the rows
// it does not draw, so the scrollbar is the whole list's. Rows have one
// height (ROW_HEIGHT, `.row` in app.css). The arrow keys move over all rows,
// drawn or not (the list scrolls to the target first); screen readers hear
// each row's place and the list's size (aria-posinset / aria-setsize, -1
// while more pages of the Inbox exist).
//
// The Inbox is the server's window (docs/PROTOCOL.md). With the filter box
// in use, the Inbox tab shows the server's answer to `inbox_page` with that
// query (all of the Inbox, not just the window), paged as the agent
// scrolls; the Assigned tab, which the client holds whole, filters locally.

import { avatar, $, h, reconcile } from "./dom.js";
import * as fmt from "./format.js";
import { language, t } from "./i18n.js";
import { previewText } from "./media.js";
import { live, ui } from "./state.js";
import { SORTS, arrangeList, listKeyTarget, matchesFilter, oldestWaiting, rowView, serverQuery, visibleRange } from "./view.js";

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */
/** @typedef {import('./view.js').Tab} Tab */

/** A row's height in px: `.row` in app.css has exactly this height. */
export const ROW_HEIGHT = 64;

/** What the last render laid out: every row's id in order, and where each one is. */
const laid = {
  /** @type {string[]} */
  order: [],
  /** @type {Map<string, { ul: HTMLElement, index: number }>} */
  place: new Map(),
};

export function renderPanel() {
  const mirror = live().mirror;
  $("count-inbox").textContent = fmt.number(mirror.inboxCount);
  $("count-assigned").textContent = fmt.number(mirror.assignedCount);
  const total = $("unread-total");
  total.hidden = mirror.unreadTotal === 0 || ui.tab !== "assigned";
  total.textContent = t("panel.unread_total", { count: mirror.unreadTotal, n: fmt.number(mirror.unreadTotal) });
  // How long the Inbox's first conversation has waited ("12 minutes ago"), from the server's counts.
  const oldest = oldestWaiting(mirror.queueCounts.values());
  const wait = $("inbox-wait");
  wait.hidden = oldest === null || ui.tab !== "inbox";
  if (oldest !== null) wait.textContent = t("panel.oldest_wait", { time: fmt.relativeTime(oldest, Date.now() + mirror.serverOffset) });
  for (const tab of ["inbox", "assigned"]) {
    const button = $(`tab-${tab}`);
    const selected = ui.tab === tab;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
  }
  $("list").setAttribute("aria-labelledby", `tab-${ui.tab}`);
  renderSort();
  renderList();
}

/** The sort menu: this tab's orders, in the current language. */
function renderSort() {
  const select = /** @type {HTMLSelectElement} */ ($("list-sort"));
  const key = `${ui.tab}|${language()}`;
  if (select.dataset.key !== key) {
    select.dataset.key = key;
    select.replaceChildren(...SORTS[ui.tab].map((sort) => h("option", { value: sort, text: t(`list.sort_${sort}`) })));
  }
  select.value = ui.list.sort[ui.tab];
}

/** The rows the current tab lists, before filter and sort. @returns {Iterable<ConversationSummary>} */
function listed() {
  const mirror = live().mirror;
  if (ui.tab === "assigned") return mirror.assigned.values();
  const found = ui.list.found;
  if (!found) return mirror.inbox.values();
  // The server's answer, kept current by the live events the mirror holds,
  // plus live arrivals in the window that match.
  /** @type {Map<string, ConversationSummary>} */
  const rows = new Map();
  for (const [id, kept] of found.rows) {
    const s = mirror.conversation(id);
    const latest = s && s.version >= kept.version ? s : kept;
    if (latest.status === "open" && latest.assignee_id === null) rows.set(id, latest);
  }
  for (const s of mirror.inbox.values()) if (!rows.has(s.id) && matchesFilter(s, found.query)) rows.set(s.id, s);
  return rows.values();
}

/**
 * Which rows of a group get a node: those under the viewport, plus a few.
 * @param {ConversationSummary[]} rows @param {HTMLElement} ul @param {HTMLElement} list
 */
function rowsToDraw(rows, ul, list) {
  const top = ul.getBoundingClientRect().top - list.getBoundingClientRect().top - list.clientTop + list.scrollTop;
  return visibleRange(rows.length, top, list.scrollTop, list.clientHeight, ROW_HEIGHT);
}

function renderList() {
  const mirror = live().mirror;
  const list = $("list");
  const hadFocus = list.contains(document.activeElement);
  // The server's filtered answer is already filtered (by its rules: name, number, username).
  const query = ui.tab === "inbox" && ui.list.found ? "" : ui.list.query;
  const groups = arrangeList(listed(), ui.list.sort[ui.tab], query);
  let built = 0; // rows (re)built by this render: data-built, for a look in the console
  laid.order = groups.flatMap((g) => g.rows.map((s) => s.id));
  laid.place = new Map();
  if (!groups.length) {
    const empty = ui.list.query.trim()
      ? ui.list.found?.loading
        ? t("common.loading")
        : t("list.no_match", { query: ui.list.query.trim() })
      : ui.tab === "inbox"
        ? t("panel.inbox_empty")
        : t("panel.assigned_empty");
    reconcile(list, [{ key: "empty", stamp: empty, build: () => h("p", { class: "list-empty muted", text: empty }) }]);
    list.dataset.built = "0";
    list.tabIndex = -1;
    return;
  }
  if (!laid.order.includes(ui.focusId ?? "")) ui.focusId = ui.current !== null && laid.order.includes(ui.current) ? ui.current : laid.order[0];
  const now = Date.now() + mirror.serverOffset;
  const context = { tab: ui.tab, current: ui.current, focusId: ui.focusId, today: new Date(now).toDateString() };
  // More of the Inbox exists beyond what was read: the size is unknown to the list.
  const more = ui.tab === "inbox" && (ui.list.found ? ui.list.found.cursor !== null : mirror.inboxCursor !== null);
  reconcile(
    list,
    groups.map((g) => ({ key: g.channel, stamp: g.channel, build: () => groupSection(g.channel) })),
  );
  let focusDrawn = false;
  for (const g of groups) {
    const section = /** @type {HTMLElement} */ (list.querySelector(`section.group.${g.channel}`));
    /** @type {HTMLElement} */ (section.querySelector(".group-count")).textContent = fmt.number(g.rows.length);
    const ul = /** @type {HTMLElement} */ (section.querySelector("ul"));
    g.rows.forEach((s, index) => laid.place.set(s.id, { ul, index }));
    const { first, end } = rowsToDraw(g.rows, ul, list);
    ul.style.paddingTop = `${first * ROW_HEIGHT}px`;
    ul.style.paddingBottom = `${(g.rows.length - end) * ROW_HEIGHT}px`;
    const drawn = g.rows.slice(first, end);
    built += reconcile(
      ul,
      drawn.map((s) => {
        const view = rowView(s, context);
        return { key: s.id, stamp: view.stamp, build: () => row(s, view, now) };
      }),
    );
    [...ul.children].forEach((li, i) => {
      li.setAttribute("aria-posinset", String(first + i + 1));
      li.setAttribute("aria-setsize", more ? "-1" : String(g.rows.length));
    });
    focusDrawn ||= drawn.some((s) => s.id === ui.focusId);
  }
  // The focused row scrolled out of the drawing: the list itself takes Tab and the keys.
  list.tabIndex = focusDrawn ? -1 : 0;
  list.dataset.built = String(built);
  if (hadFocus && !list.contains(document.activeElement)) focusRow(list);
}

/** Focus the focused row if drawn, else the list (which still answers the keys). @param {HTMLElement} list */
function focusRow(list) {
  const node = /** @type {HTMLElement | null} */ (list.querySelector(`li[data-conv-id="${CSS.escape(ui.focusId ?? "")}"]`));
  (node ?? list).focus({ preventScroll: true });
}

/** Scroll the list so that a row (drawn or not) is in view. @param {string} id */
function revealRow(id) {
  const place = laid.place.get(id);
  if (!place) return;
  const list = $("list");
  const top = place.ul.getBoundingClientRect().top - list.getBoundingClientRect().top - list.clientTop + list.scrollTop + place.index * ROW_HEIGHT;
  if (top < list.scrollTop) list.scrollTop = top;
  else if (top + ROW_HEIGHT > list.scrollTop + list.clientHeight) list.scrollTop = top + ROW_HEIGHT - list.clientHeight;
}

/** @param {"whatsapp" | "messenger"} channel */
function groupSection(channel) {
  return h("section", { class: `group ${channel}`, "aria-labelledby": `group-${channel}` }, [
    h("h2", { id: `group-${channel}`, class: "group-title" }, [
      h("span", { class: "channel-dot", "aria-hidden": "true" }),
      fmt.channelName(channel),
      h("span", { class: "group-count" }),
    ]),
    h("ul", { role: "listbox", "aria-label": t("panel.group_label", { channel: fmt.channelName(channel) }) }),
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
          // a number is never cut: it keeps its width, the time gives way
          h("span", { class: /\p{L}/u.test(s.contact.display_name) ? "row-name" : "row-name number", text: s.contact.display_name }),
          h("time", { class: "row-time", datetime: s.last_message_at ? new Date(s.last_message_at).toISOString() : null, text: fmt.listTime(s.last_message_at, now) }),
        ]),
        h("div", { class: "row-bottom" }, [
          h("span", { class: "row-preview", dir: "auto" }, [s.preview_direction === "out" ? h("span", { class: "you", text: t("row.you") }) : null, previewText(s) || t("row.no_messages")]),
          view.locked ? h("span", { class: "lock-dot", title: t("row.session_closed"), text: "🔒" }) : null,
          view.unread ? h("span", { class: "unread", "aria-hidden": "true", text: fmt.number(s.unread) }) : null,
        ]),
      ]),
    ],
  );
}

/**
 * Near the end of the list, read the Inbox's next page: the window's, or
 * the filtered answer's (the scroll position stays where it is).
 */
export function maybeMoreInbox() {
  const list = $("list");
  if (ui.tab !== "inbox") return;
  if (list.scrollTop + list.clientHeight < list.scrollHeight - 8 * ROW_HEIGHT) return;
  if (ui.list.found) void moreFound();
  else if (live().mirror.inboxCursor !== null) live().moreInbox().catch(() => undefined);
}

let frame = 0;

/** The list scrolled: draw the rows now under it (once per frame), and read on near the end. */
export function listScrolled() {
  if (!frame) {
    frame = requestAnimationFrame(() => {
      frame = 0;
      if (ui.client) renderList();
    });
  }
  maybeMoreInbox();
}

/** @param {Tab} tab */
export function selectTab(tab) {
  ui.tab = tab;
  ui.focusId = null;
  $("list").scrollTop = 0;
  if (tab === "inbox" && ui.list.query.trim() && !ui.list.found) startFound();
  renderPanel();
}

// --------------------------------------------------------------------------- filter and sort

/** @type {ReturnType<typeof setTimeout> | undefined} */
let typing;

/** The filter box changed: filter the list (the Inbox asks the server, debounced). @param {string} query */
export function filterTyped(query) {
  ui.list.query = query;
  clearTimeout(typing);
  $("list").scrollTop = 0;
  if (!query.trim()) {
    ui.list.found = null;
    renderPanel();
    return;
  }
  renderPanel(); // Assigned filters at once; the Inbox shows the window's matches until the server answers
  typing = setTimeout(() => {
    if (ui.list.query === query) startFound();
  }, 250);
}

/** @param {string} sort */
export function sortChosen(sort) {
  if (SORTS[ui.tab].includes(/** @type {any} */ (sort))) ui.list.sort[ui.tab] = /** @type {import('./view.js').SortKey} */ (sort);
  $("list").scrollTop = 0;
  renderPanel();
}

/** Ask the server for the Inbox filtered by the box, from the start. */
function startFound() {
  const query = ui.list.query.trim();
  if (!query) return;
  ui.list.found = { query, rows: new Map(), cursor: null, loading: false };
  void moreFound(true);
}

/** Requests per read-on; more while fewer rows than a screenful are found (nothing to scroll to ask again). */
const ASKS = 10;
const ASKS_UNTIL_A_SCREENFUL = 200;

/**
 * Read on in the filtered Inbox until a screenful more is found or it ends
 * (a filtered page may be short, even empty, with a cursor: the server
 * looks at a bounded number of conversations per request). While fewer
 * than a screenful are found the list cannot be scrolled to ask for more,
 * so it reads on further (a match deep in a 20,000-conversation Inbox).
 * @param {boolean} [first]
 */
async function moreFound(first = false) {
  const found = ui.list.found;
  if (!found || found.loading || (!first && found.cursor === null)) return;
  found.loading = true;
  const wanted = found.rows.size + 30;
  try {
    for (let asked = 0; asked < ASKS || (found.rows.size < 10 && asked < ASKS_UNTIL_A_SCREENFUL); asked++) {
      const page = await live().inboxSearch(serverQuery(found.query), found.cursor);
      if (ui.list.found !== found) return; // the box changed meanwhile
      for (const s of page.conversations) found.rows.set(s.id, s);
      found.cursor = page.cursor;
      if (found.cursor === null || found.rows.size >= wanted) break;
    }
  } catch {
    /* shown as it is; the next scroll asks again */
  } finally {
    found.loading = false;
  }
  if (ui.list.found === found && ui.client) renderPanel();
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let refreshing;

/**
 * Live changes while the Inbox is filtered: rows the mirror holds follow
 * their events; one that left the Inbox outside the window is only seen in
 * the counts, so the server's answer is read again (at most twice a second).
 * @param {import('./mirror.js').Change[]} changes
 */
export function listChanged(changes) {
  const found = ui.list.found;
  if (!found || !changes.some((c) => c.kind === "inbox.counts" || c.kind === "reset")) return;
  clearTimeout(refreshing);
  refreshing = setTimeout(() => {
    if (ui.list.found !== found || found.loading) return;
    const keep = found.rows.size;
    /** @type {NonNullable<typeof ui.list.found>} */
    const fresh = { query: found.query, rows: new Map(), cursor: null, loading: false };
    ui.list.found = fresh;
    // Keep showing the old answer until the new one has as many rows.
    for (const [id, s] of found.rows) fresh.rows.set(id, s);
    void (async () => {
      fresh.loading = true;
      /** @type {Map<string, ConversationSummary>} */
      const rows = new Map();
      /** @type {string | null} */
      let cursor = null;
      try {
        for (let asked = 0; asked < 10; asked++) {
          const page = await live().inboxSearch(serverQuery(fresh.query), cursor);
          if (ui.list.found !== fresh) return;
          for (const s of page.conversations) rows.set(s.id, s);
          cursor = page.cursor;
          if (cursor === null || rows.size >= keep) break;
        }
        fresh.rows = rows;
        fresh.cursor = cursor;
      } catch {
        /* keep the old answer */
      } finally {
        fresh.loading = false;
      }
      if (ui.list.found === fresh && ui.client) renderPanel();
    })();
  }, 500);
}

/**
 * Arrow keys, PageUp/PageDown, Home and End move through all the rows of the
 * list (drawn or not: it scrolls to the target); Enter opens.
 * @param {KeyboardEvent} e @param {(id: string) => void} open
 */
export function listKeys(e, open) {
  const list = $("list");
  const active = document.activeElement;
  const onRow = active instanceof HTMLElement ? active.closest("li[data-conv-id]") : null;
  const id = onRow instanceof HTMLElement ? onRow.dataset.convId : active === list ? ui.focusId : null;
  const at = laid.order.indexOf(id ?? "");
  if (at < 0) return;
  const target = listKeyTarget(e.key, at, laid.order.length);
  if (target === null) return;
  e.preventDefault();
  if (target === "open") {
    open(laid.order[at]);
    return;
  }
  ui.focusId = laid.order[target];
  revealRow(ui.focusId);
  renderList();
  focusRow(list);
  maybeMoreInbox();
}


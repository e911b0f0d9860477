// The one state of the web app: the client (whose mirror holds what the
// server said) and the UI's own choices. Every module reads it from here;
// only the handlers change it, then call render() (app.js).

import { t } from "./i18n.js";

/** @typedef {import('./client.js').SwitchboardClient} SwitchboardClient */
/** @typedef {import('./protocol').SearchHit} SearchHit */
/** @typedef {import('./view.js').Tab} Tab */

export const ui = {
  /** @type {SwitchboardClient | null} */
  client: null,
  /** @type {Tab} */
  tab: "inbox",
  /** @type {string | null} */
  current: null,
  /** @type {string | null} why the current conversation can no longer be shown */
  lost: null,
  /**
   * The open conversation as last drawn, shown read-only once it is lost
   * (the mirror drops a thread the agent may no longer see).
   * @type {{ id: string, summary: import('./protocol').ConversationSummary, thread: import('./mirror.js').Thread | undefined } | null}
   */
  kept: null,
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
  list: {
    /** the filter box (both tabs) */
    query: "",
    /** @type {Record<Tab, import('./view.js').SortKey>} */
    sort: { inbox: "waiting", assigned: "activity" },
    /**
     * The Inbox filtered by the server while the box is not empty: the rows
     * found so far and where the next page continues (null: the end).
     * @type {{ query: string, rows: Map<string, import('./protocol').ConversationSummary>, cursor: string | null, loading: boolean } | null}
     */
    found: null,
  },
};

/** @returns {SwitchboardClient} */
export function live() {
  if (!ui.client) throw new Error("not logged in");
  return ui.client;
}

export function me() {
  return ui.client?.welcome?.agent ?? null;
}

/** @param {string | null} id */
export function agentName(id) {
  if (!id) return t("agent.nobody");
  return ui.client?.mirror.snapshot?.agents.find((a) => a.id === id)?.name ?? id;
}

/** Now on the server's clock (ms). */
export function serverNow() {
  return Date.now() + (ui.client?.mirror.serverOffset ?? 0);
}

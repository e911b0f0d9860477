// The agent's state as the server last described it, kept up to date from
// events. Pure: no sockets, no DOM, no clock. Same rules as the Python
// client's mirror (clients/switchboard_client/mirror.py):
//  - summaries are whole values with a `version`: never let an older one win;
//  - membership (Inbox, Assigned) changes only through the list streams
//    (queue:<id>, agent:<id>); a thread stream's summary refreshes a listed
//    row but never moves it.

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */
/** @typedef {import('./protocol').MessageView} MessageView */
/** @typedef {import('./protocol').NoteView} NoteView */
/** @typedef {import('./protocol').WrapUpView} WrapUpView */
/** @typedef {import('./protocol').Snapshot} Snapshot */
/** @typedef {import('./protocol').ThreadResult} ThreadResult */
/** @typedef {import('./protocol').PageResult} PageResult */
/** @typedef {import('./protocol').EventBody} EventBody */
/** @typedef {import('./protocol').QueueCounts} QueueCounts */
/** @typedef {import('./protocol').InboxPageResult} InboxPageResult */
/** @typedef {import('./protocol').AgentStatusView} AgentStatusView */
/** @typedef {import('./protocol').OfferRung} OfferRung */
/** @typedef {import('./protocol').QueueFloor} QueueFloor */
/** @typedef {import('./protocol').CannedListView} CannedListView */

/** The Inbox's order: oldest activity first. @param {ConversationSummary} s @returns {[number, string]} */
export function waitingKey(s) {
  return [s.last_message_at ?? s.created_at, s.id];
}

/** @param {[number, string]} a @param {[number, string]} b */
function before(a, b) {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

/**
 * @typedef {object} Change
 * @property {string} kind  "reset", "thread", or the event's type
 * @property {string | null} conversationId
 */

/**
 * The last move of a conversation off one of the agent's lists, as the
 * server told it (lost.js turns it into words).
 * @typedef {object} Departure
 * @property {string} reason  "claimed", "assigned", "reassigned", "sent_to_inbox", "ended"
 * @property {string | null} agentId  who has it now
 * @property {string | null} by  who did it
 */

/**
 * @typedef {object} Thread
 * @property {ConversationSummary} conversation
 * @property {Map<number, MessageView>} messages  by seq
 * @property {boolean} hasMore
 * @property {NoteView[]} notes
 * @property {WrapUpView | null} wrapUp
 */

/**
 * @param {ConversationSummary | null | undefined} old
 * @param {ConversationSummary} next
 */
export function newer(old, next) {
  // An equal version is taken too: a contact's rename is republished with the
  // conversation's version unchanged, and a stream's events arrive in order.
  return !old || next.version >= old.version;
}

/** @param {Thread} thread @returns {MessageView[]} */
export function ordered(thread) {
  return [...thread.messages.keys()].sort((a, b) => a - b).map((seq) => /** @type {MessageView} */ (thread.messages.get(seq)));
}

export class Mirror {
  constructor() {
    /** The Inbox *window*: the oldest waiting, as far as pages were read. @type {Map<string, ConversationSummary>} */
    this.inbox = new Map();
    /** Where the next `inbox_page` continues (null: the window is the whole Inbox). @type {string | null} */
    this.inboxCursor = null;
    /** Each visible queue's Inbox in numbers, kept right by the events. @type {Map<string, QueueCounts>} */
    this.queueCounts = new Map();
    /** @type {Map<string, ConversationSummary>} */
    this.assigned = new Map();
    this.assignedCount = 0;
    this.unreadTotal = 0;
    /** Ended WhatsApp conversations waiting for their wrap-up. @type {Map<string, ConversationSummary>} */
    this.toWrapUp = new Map();
    /** How each conversation last left a list of the agent's. @type {Map<string, Departure>} */
    this.departures = new Map();
    /** @type {Map<string, Thread>} */
    this.threads = new Map();
    /** @type {Snapshot | null} */
    this.snapshot = null;
    /** Server clock minus local clock (ms), for countdowns. */
    this.serverOffset = 0;
    /** Routing: the agent's status (null: no queue routes automatically). @type {AgentStatusView | null} */
    this.status = null;
    /** Routing: what rings for the agent, by conversation id. @type {Map<string, OfferRung>} */
    this.offers = new Map();
    /** Routing (supervisors): each automatic queue's floor. @type {Map<string, QueueFloor>} */
    this.floors = new Map();
    /** Canned response lists by list id, the highest version of each. @type {Map<string, CannedListView>} */
    this.canned = new Map();
  }

  /**
   * Replace everything (first connection or resync).
   * @param {Snapshot} snapshot
   * @param {number} localNow
   * @returns {Change[]}
   */
  load(snapshot, localNow) {
    this.snapshot = snapshot;
    this.inbox = new Map(snapshot.inbox.map((s) => [s.id, s]));
    this.inboxCursor = snapshot.inbox_cursor ?? null;
    this.queueCounts = new Map((snapshot.inbox_counts ?? []).map((c) => [c.queue_id, c]));
    this.assigned = new Map(snapshot.assigned.map((s) => [s.id, s]));
    this.assignedCount = snapshot.assigned.length;
    this.unreadTotal = snapshot.unread_total;
    this.toWrapUp = new Map((snapshot.to_wrap_up ?? []).map((s) => [s.id, s]));
    this.threads = new Map();
    this.serverOffset = snapshot.server_time - localNow;
    this.status = snapshot.status ?? null;
    this.offers = new Map((snapshot.offers ?? []).map((o) => [o.offer.conversation_id, o]));
    this.floors = new Map((snapshot.floors ?? []).map((f) => [f.queue_id, f]));
    this.canned = new Map((snapshot.canned ?? []).map((c) => [c.list_id, c]));
    return [{ kind: "reset", conversationId: null }];
  }

  /** The whole Inbox, not the window (a server without counts: the window). */
  get inboxCount() {
    if (!this.queueCounts.size) return this.inbox.size;
    let n = 0;
    for (const c of this.queueCounts.values()) n += c.inbox;
    return n;
  }

  /** The window in the order agents work in: oldest waiting first. @returns {ConversationSummary[]} */
  inboxWindow() {
    return [...this.inbox.values()].sort((a, b) => (before(waitingKey(a), waitingKey(b)) ? -1 : 1));
  }

  /** The next page of the window. @param {InboxPageResult} page @returns {Change[]} */
  loadInboxPage(page) {
    for (const s of page.conversations) if (newer(this.inbox.get(s.id), s)) this.inbox.set(s.id, s);
    this.inboxCursor = page.cursor;
    return [{ kind: "inbox.page", conversationId: null }];
  }

  /** A row belongs in the window when the window reaches the end, or it sorts before the last row. @param {ConversationSummary} s */
  fits(s) {
    if (this.inboxCursor === null) return true;
    /** @type {[number, string] | null} */
    let last = null;
    for (const r of this.inbox.values()) {
      if (r.id !== s.id && (last === null || before(last, waitingKey(r)))) last = waitingKey(r);
    }
    return last !== null && before(waitingKey(s), last);
  }

  /** @param {string} id @returns {ConversationSummary | null} */
  conversation(id) {
    /** @type {ConversationSummary | null} */
    let best = null;
    for (const s of [this.assigned.get(id), this.inbox.get(id), this.toWrapUp.get(id), this.threads.get(id)?.conversation]) {
      if (s && newer(best, s)) best = s;
    }
    return best;
  }

  /** @param {ThreadResult} result @returns {Change[]} */
  loadThread(result) {
    const id = result.conversation.id;
    /** @type {Thread} */
    const thread = {
      conversation: result.conversation,
      messages: new Map(result.messages.map((m) => [m.seq, m])),
      hasMore: result.has_more,
      notes: [...result.notes],
      wrapUp: result.wrap_up,
    };
    const old = this.threads.get(id);
    if (old) {
      for (const [seq, m] of old.messages) if (!thread.messages.has(seq)) thread.messages.set(seq, m);
      if (!newer(old.conversation, thread.conversation)) thread.conversation = old.conversation;
    }
    this.threads.set(id, thread);
    this.refresh(result.conversation);
    return [{ kind: "thread", conversationId: id }];
  }

  /** @param {string} id @param {PageResult} page @returns {Change[]} */
  loadPage(id, page) {
    const thread = this.threads.get(id);
    if (!thread) return [];
    for (const m of page.messages) if (!thread.messages.has(m.seq)) thread.messages.set(m.seq, m);
    thread.hasMore = page.has_more;
    return [{ kind: "thread", conversationId: id }];
  }

  /** @param {string} id */
  dropThread(id) {
    this.threads.delete(id);
  }

  /**
   * One event body, in its stream's order.
   * @param {EventBody} event
   * @returns {Change[]}
   */
  apply(event) {
    switch (event.type) {
      case "inbox.added":
      case "inbox.updated": {
        const s = event.conversation;
        if (event.counts) this.queueCounts.set(event.counts.queue_id, event.counts);
        if (!this.fits(s)) {
          // Beyond the window: a later page brings it (or it just left the window).
          if (this.inbox.delete(s.id)) return [{ kind: "inbox.removed", conversationId: s.id }];
          return event.counts ? [{ kind: "inbox.counts", conversationId: null }] : [];
        }
        if (newer(this.inbox.get(s.id), s)) this.inbox.set(s.id, s);
        this.refresh(s);
        return [{ kind: event.type, conversationId: s.id }];
      }
      case "inbox.removed":
        this.departed(event.conversation_id, { reason: event.reason, agentId: event.agent_id ?? null, by: event.by ?? null });
        if (event.counts) this.queueCounts.set(event.counts.queue_id, event.counts);
        if (!this.inbox.delete(event.conversation_id)) return event.counts ? [{ kind: "inbox.counts", conversationId: null }] : [];
        return [{ kind: event.type, conversationId: event.conversation_id }];
      case "assigned.added":
      case "assigned.updated": {
        const s = event.conversation;
        if (newer(this.assigned.get(s.id), s)) this.assigned.set(s.id, s);
        this.assignedCount = event.count;
        this.unreadTotal = event.unread_total;
        this.refresh(s);
        return [{ kind: event.type, conversationId: s.id }];
      }
      case "assigned.removed":
        this.departed(event.conversation_id, { reason: event.reason, agentId: event.agent_id ?? null, by: event.by ?? null });
        this.assigned.delete(event.conversation_id);
        this.assignedCount = event.count;
        this.unreadTotal = event.unread_total;
        return [{ kind: event.type, conversationId: event.conversation_id }];
      case "to_wrap_up.added":
        if (newer(this.toWrapUp.get(event.conversation.id), event.conversation)) this.toWrapUp.set(event.conversation.id, event.conversation);
        this.refresh(event.conversation);
        return [{ kind: event.type, conversationId: event.conversation.id }];
      case "alert.raised":
        // Counted and rung by ring.js (the web app), from the change.
        return [{ kind: event.type, conversationId: event.conversation_id }];
      case "to_wrap_up.removed":
        this.toWrapUp.delete(event.conversation_id);
        return [{ kind: event.type, conversationId: event.conversation_id }];
      case "session.locked":
      case "session.unlocked":
        // The summary with the new lock state came in the event just before.
        return [{ kind: event.type, conversationId: event.conversation_id }];
      case "conversation.updated":
        this.refresh(event.conversation);
        return [{ kind: event.type, conversationId: event.conversation.id }];
      case "message.created": {
        const thread = this.threads.get(event.message.conversation_id);
        if (thread) thread.messages.set(event.message.seq, event.message);
        this.refresh(event.conversation);
        return [{ kind: event.type, conversationId: event.message.conversation_id }];
      }
      case "message.updated": {
        const thread = this.threads.get(event.message.conversation_id);
        if (thread) thread.messages.set(event.message.seq, event.message);
        return [{ kind: event.type, conversationId: event.message.conversation_id }];
      }
      case "note.added": {
        const thread = this.threads.get(event.note.conversation_id);
        if (thread && !thread.notes.some((n) => n.id === event.note.id)) thread.notes.push(event.note);
        return [{ kind: event.type, conversationId: event.note.conversation_id }];
      }
      case "wrap_up.recorded": {
        const thread = this.threads.get(event.wrap_up.conversation_id);
        if (thread) thread.wrapUp = event.wrap_up;
        return [{ kind: event.type, conversationId: event.wrap_up.conversation_id }];
      }
      case "access.revoked":
        return []; // the socket closes (4010) right after: the client stops and asks for a log-in
      case "agent.status":
        this.status = event.agent;
        return [{ kind: event.type, conversationId: null }];
      case "offer.rung":
        this.offers.set(event.offer.conversation_id, event);
        this.refresh(event.conversation);
        return [{ kind: event.type, conversationId: event.offer.conversation_id }];
      case "offer.withdrawn":
        this.offers.delete(event.conversation_id);
        return [{ kind: event.type, conversationId: event.conversation_id }];
      case "floor.updated":
        this.floors.set(event.floor.queue_id, event.floor);
        return [{ kind: event.type, conversationId: null }];
      case "canned.updated": {
        const known = this.canned.get(event.canned.list_id);
        if (known && known.version >= event.canned.version) return [];
        this.canned.set(event.canned.list_id, event.canned);
        return [{ kind: event.type, conversationId: null }];
      }
    }
  }

  /**
   * Remember the latest departures only (a supervisor hears every queue's).
   * @param {string} id @param {Departure} d
   */
  departed(id, d) {
    this.departures.delete(id);
    this.departures.set(id, d);
    if (this.departures.size > 500) this.departures.delete(/** @type {string} */ (this.departures.keys().next().value));
  }

  /**
   * A newer summary refreshes the rows that list it, while it still belongs there.
   * @param {ConversationSummary} s
   */
  refresh(s) {
    const inInbox = this.inbox.get(s.id);
    if (inInbox && newer(inInbox, s) && s.status === "open" && s.assignee_id === null) this.inbox.set(s.id, s);
    const mine = this.assigned.get(s.id);
    if (mine && newer(mine, s) && s.status === "open" && s.assignee_id === mine.assignee_id) this.assigned.set(s.id, s);
    const owed = this.toWrapUp.get(s.id);
    if (owed && newer(owed, s) && s.status === "ended" && !s.wrapped_up) this.toWrapUp.set(s.id, s);
    const thread = this.threads.get(s.id);
    if (thread && newer(thread.conversation, s)) thread.conversation = s;
  }
}

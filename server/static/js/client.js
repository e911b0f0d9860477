// The browser's protocol client: one supervised websocket, typed commands,
// sequence-checked events and the mirror. The message shapes are the
// generated declarations (./protocol.d.ts, from the server's schema); `tsc
// --checkJs` checks this file against them (tests/clients/test_web_types.py).
//
// Lifecycle (same as the Python client, clients/switchboard_client/client.py):
// hello → welcome → snapshot (first time) | resumed + missed events | resync +
// snapshot. When the socket drops it reconnects with jittered backoff and
// resumes from the last sequence of every stream; a gap inside a stream also
// triggers a resume. A refused token stops it (state "failed").

import { Mirror } from "./mirror.js";

/** @typedef {import('./protocol').ClientCommand} ClientCommand */
/** @typedef {import('./protocol').ServerMessage} ServerMessage */
/** @typedef {import('./protocol').CommandResult} CommandResult */
/** @typedef {import('./protocol').Event} EventFrame */
/** @typedef {import('./protocol').Snapshot} Snapshot */
/** @typedef {import('./protocol').Welcome} Welcome */
/** @typedef {import('./protocol').Resume} Resume */
/** @typedef {import('./protocol').ErrorCode} ErrorCode */
/** @typedef {import('./protocol').TemplateRef} TemplateRef */
/** @typedef {import('./protocol').CloseCodes} CloseCodes */
/** @typedef {import('./mirror.js').Change} Change */
/** @typedef {"idle" | "connecting" | "live" | "reconnecting" | "failed" | "closed"} State */

/**
 * A command without its id, as the helpers build it.
 * @typedef {ClientCommand extends infer C ? (C extends { id: string } ? Omit<C, "id"> : never) : never} Unsent
 */

/** @type {CloseCodes} */
export const CLOSE = {
  CLOSE_NORMAL: 1000,
  CLOSE_GOING_AWAY: 1001,
  CLOSE_TOO_BIG: 1009,
  CLOSE_AUTH_FAILED: 4001,
  CLOSE_TOKEN_EXPIRED: 4002,
  CLOSE_HELLO_TIMEOUT: 4003,
  CLOSE_UNSUPPORTED_PROTOCOL: 4004,
  CLOSE_SLOW_CONSUMER: 4008,
  CLOSE_TOO_MANY_CONNECTIONS: 4009,
  CLOSE_TOKEN_REVOKED: 4010,
};

/** @type {import('./protocol').ProtocolVersion} */
export const PROTOCOL_VERSION = 1;

/** @type {number[]} */
const FATAL_CLOSES = [CLOSE.CLOSE_AUTH_FAILED, CLOSE.CLOSE_TOKEN_EXPIRED, CLOSE.CLOSE_UNSUPPORTED_PROTOCOL, CLOSE.CLOSE_TOKEN_REVOKED];
/** @type {string[]} */
const FATAL_CODES = ["auth_failed", "token_expired", "token_revoked", "unsupported_protocol"];
const CLOSE_GAP = 4900; // ours: a hole in a stream, reconnect to resume

/** The server refused a command: `code` is one of the stable ErrorCodes. */
export class CommandError extends Error {
  /** @param {ErrorCode | string} code @param {string} message @param {string} command */
  constructor(code, message, command) {
    super(message);
    this.code = code;
    this.command = command;
  }
}

/** The token was refused: log in again. */
export class AuthError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** The socket dropped before the answer: the command may or may not have happened. */
export class ConnectionLost extends Error {}

/**
 * A fresh idempotency key for one send (docs/PROTOCOL.md, `send`): 128
 * random bits as hex. `crypto.getRandomValues` works on plain http too
 * (`randomUUID` needs a secure context).
 */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Full jitter between base/2 and min(cap, base·2^attempt).
 * @param {number} attempt @param {number} base @param {number} cap
 */
export function backoffDelay(attempt, base, cap) {
  const high = Math.min(cap, base * 2 ** attempt);
  const low = Math.min(base / 2, high);
  return low + Math.random() * (high - low);
}

/**
 * @template {CommandResult["kind"]} K
 * @param {CommandResult} result
 * @param {K} kind
 * @returns {Extract<CommandResult, { kind: K }>}
 */
function expect(result, kind) {
  if (result.kind !== kind) throw new Error(`expected a ${kind} result, got ${result.kind}`);
  return /** @type {Extract<CommandResult, { kind: K }>} */ (result);
}

/**
 * @typedef {object} ClientOptions
 * @property {(mirror: Mirror, changes: Change[]) => void} [onChange]
 * @property {(state: State, error?: Error) => void} [onState]
 * @property {(stream: string, reason: string) => void} [onUnsubscribed]
 * @property {(alert: import('./protocol').Alert, key: string) => void} [onRing]  this screen is the one to ring that alert ("stream:seq")
 * @property {[number, number]} [backoff]  seconds: first delay, cap
 * @property {number} [commandTimeout]  ms
 */

export class SwitchboardClient {
  /** @param {string} url @param {string} token @param {ClientOptions} [options] */
  constructor(url, token, options = {}) {
    this.url = url;
    this.token = token;
    this.options = options;
    this.mirror = new Mirror();
    /** @type {State} */
    this.state = "idle";
    /** @type {Welcome | null} */
    this.welcome = null;
    this.epoch = "";
    /** @type {Map<string, number>} */
    this.positions = new Map();
    /** @type {Map<string, EventFrame[]>} thread streams whose open answer has not come */
    this.pendingStreams = new Map();
    /** @type {Set<string>} conversations to reopen after a snapshot */
    this.wantedThreads = new Set();
    this.stats = { connects: 0, resumes: 0, resyncs: 0, gaps: 0 };
    /** @type {WebSocket | null} */
    this.ws = null;
    this.live = false;
    /** The last alerts by "stream:seq", for `ring` frames. @type {Map<string, import('./protocol').Alert>} */
    this.recentAlerts = new Map();
    /** An `inbox_page` is in flight. */
    this.inboxLoading = false;
    this.attempt = 0;
    this.nextId = 1;
    /** @type {Map<string, { resolve: (r: CommandResult) => void, reject: (e: Error) => void, type: string }>} */
    this.pending = new Map();
    /** @type {Array<() => void>} */
    this.liveWaiters = [];
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.heartbeat = undefined;
    /** @type {((s: Snapshot) => void) | null} */
    this.firstSnapshot = null;
    /** @type {((e: Error) => void) | null} */
    this.firstFailure = null;
  }

  // ------------------------------------------------------------------ lifecycle

  /** First connection: resolves with the snapshot, rejects on a refused token. @returns {Promise<Snapshot>} */
  connect() {
    return new Promise((resolve, reject) => {
      this.firstSnapshot = resolve;
      this.firstFailure = reject;
      this.dial();
    });
  }

  close() {
    this.setState("closed");
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    this.ws?.close(CLOSE.CLOSE_NORMAL);
    this.failPending(new ConnectionLost("closed"));
  }

  /** Reconnect now instead of waiting for the backoff (e.g. the browser came back online). */
  retryNow() {
    if (this.state === "reconnecting" && this.ws === null) {
      clearTimeout(this.retryTimer);
      this.dial();
    }
  }

  /** @param {State} state @param {Error} [error] */
  setState(state, error) {
    if (this.state === state || this.state === "closed") return;
    this.state = state;
    this.options.onState?.(state, error);
  }

  dial() {
    if (this.state === "closed" || this.state === "failed") return;
    this.setState(this.stats.connects ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.url);
    this.ws = ws;
    let welcomed = false;
    ws.onopen = () => {
      const resume = this.epoch ? { epoch: this.epoch, streams: Object.fromEntries(this.positions) } : null;
      this.sendFrame({ type: "hello", id: `hello-${this.nextId++}`, token: this.token, protocol: PROTOCOL_VERSION, resume });
    };
    ws.onmessage = (message) => {
      const frame = /** @type {ServerMessage} */ (JSON.parse(String(message.data)));
      if (!welcomed) {
        if (frame.type === "error") {
          if (FATAL_CODES.includes(frame.code)) this.fail(new AuthError(frame.code, frame.message));
          return;
        }
        if (frame.type !== "welcome") return;
        welcomed = true;
        this.welcome = frame;
        return;
      }
      try {
        this.onFrame(frame);
      } catch (e) {
        if (!(e instanceof Gap)) throw e;
        this.stats.gaps += 1;
        console.warn("switchboard:", e.message, "- resuming");
        ws.close(CLOSE_GAP, "gap");
      }
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.live = false;
      clearInterval(this.heartbeat);
      this.failPending(new ConnectionLost("the connection dropped before the answer arrived"));
      if (FATAL_CLOSES.includes(event.code)) {
        const code = { [CLOSE.CLOSE_TOKEN_EXPIRED]: "token_expired", [CLOSE.CLOSE_TOKEN_REVOKED]: "token_revoked" }[event.code] ?? "auth_failed";
        this.fail(new AuthError(code, event.reason || "Your session ended; log in again."));
        return;
      }
      if (this.state === "closed" || this.state === "failed") return;
      this.setState("reconnecting");
      const [base, cap] = this.options.backoff ?? [0.3, 10];
      this.retryTimer = setTimeout(() => this.dial(), backoffDelay(this.attempt++, base, cap) * 1000);
    };
  }

  /** @param {Error} error */
  fail(error) {
    this.setState("failed", error);
    this.firstFailure?.(error);
    this.firstFailure = null;
    this.ws?.close();
  }

  synced() {
    this.live = true;
    this.attempt = 0;
    this.stats.connects += 1;
    this.setState("live");
    for (const wake of this.liveWaiters.splice(0)) wake();
    this.startHeartbeat();
  }

  /** A dead network can keep a socket "open" for minutes: ping, and drop it if the answer is late. */
  startHeartbeat() {
    clearInterval(this.heartbeat);
    const every = this.welcome?.heartbeat_ms ?? 20000;
    const ws = this.ws;
    this.heartbeat = setInterval(() => {
      if (this.ws !== ws || !this.live) return;
      const timer = setTimeout(() => ws?.close(CLOSE_GAP, "heartbeat timeout"), every);
      this.call({ type: "ping" }).then(
        () => clearTimeout(timer),
        () => clearTimeout(timer),
      );
    }, every);
  }

  // ------------------------------------------------------------------ frames

  /** @param {ServerMessage} frame */
  onFrame(frame) {
    switch (frame.type) {
      case "event":
        for (const ready of this.accept(frame)) this.deliver(ready);
        return;
      case "ack":
      case "error": {
        const waiter = frame.id === null ? undefined : this.pending.get(frame.id);
        if (!waiter) {
          if (frame.type === "error") console.warn("switchboard:", frame.code, frame.message);
          return;
        }
        this.pending.delete(/** @type {string} */ (frame.id));
        if (frame.type === "ack") waiter.resolve(frame.result);
        else waiter.reject(new CommandError(frame.code, frame.message, waiter.type));
        return;
      }
      case "snapshot": {
        this.epoch = frame.epoch;
        this.positions = new Map(Object.entries(frame.streams));
        this.pendingStreams.clear();
        const changes = this.mirror.load(frame, Date.now());
        this.synced();
        this.options.onChange?.(this.mirror, changes);
        this.firstSnapshot?.(frame);
        this.firstSnapshot = null;
        this.firstFailure = null;
        for (const id of [...this.wantedThreads]) {
          this.open(id).catch(() => this.wantedThreads.delete(id));
        }
        return;
      }
      case "resumed":
        this.stats.resumes += 1;
        this.synced();
        return;
      case "resync":
        this.stats.resyncs += 1;
        return;
      case "unsubscribed": {
        this.positions.delete(frame.stream);
        this.pendingStreams.delete(frame.stream);
        if (frame.stream.startsWith("conv:")) {
          const id = frame.stream.slice(5);
          this.wantedThreads.delete(id);
          this.mirror.dropThread(id);
        }
        this.options.onUnsubscribed?.(frame.stream, frame.reason);
        return;
      }
      case "ring": {
        const key = `${frame.stream}:${frame.seq}`;
        const alert = this.recentAlerts.get(key);
        if (alert) this.options.onRing?.(alert, key);
        return;
      }
      case "welcome":
        return;
    }
  }

  /**
   * The sequence check: in order, once, never across a hole.
   * @param {EventFrame} frame
   * @returns {EventFrame[]}
   */
  accept(frame) {
    const waiting = this.pendingStreams.get(frame.stream);
    if (waiting) {
      waiting.push(frame);
      return [];
    }
    const last = this.positions.get(frame.stream);
    if (last === undefined || frame.seq <= last) return []; // closed stream, or a repeat
    if (frame.seq !== last + 1) throw new Gap(frame.stream, last, frame.seq);
    this.positions.set(frame.stream, frame.seq);
    return [frame];
  }

  /** @param {EventFrame} frame */
  deliver(frame) {
    if (frame.event.type === "alert.raised") {
      // Kept for the `ring` frame that may follow (same socket, right after).
      this.recentAlerts.set(`${frame.stream}:${frame.seq}`, frame.event);
      if (this.recentAlerts.size > 50) this.recentAlerts.delete(/** @type {string} */ (this.recentAlerts.keys().next().value));
    }
    const changes = this.mirror.apply(frame.event);
    if (changes.length) this.options.onChange?.(this.mirror, changes);
  }

  /** @param {Error} error */
  failPending(error) {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }

  /** @param {ClientCommand} frame */
  sendFrame(frame) {
    this.ws?.send(JSON.stringify(frame));
  }

  // ------------------------------------------------------------------ commands

  /**
   * Send a command once connected; resolve with the Ack's result or reject
   * with a CommandError carrying the server's code.
   * @param {Unsent} fields
   * @returns {Promise<CommandResult>}
   */
  async call(fields) {
    if (this.state === "failed" || this.state === "closed") throw new ConnectionLost(`client ${this.state}`);
    if (!this.live) await this.waitLive();
    const id = `c${this.nextId++}`;
    const frame = /** @type {ClientCommand} */ ({ ...fields, id });
    return new Promise((resolve, reject) => {
      const timeout = this.options.commandTimeout ?? 15000;
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new ConnectionLost(`no answer to ${fields.type} within ${timeout} ms`));
      }, timeout);
      this.pending.set(id, {
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
        type: fields.type,
      });
      this.sendFrame(frame);
    });
  }

  /** @param {number} [timeout] ms; Infinity: as long as it takes @returns {Promise<void>} */
  waitLive(timeout = this.options.commandTimeout ?? 15000) {
    return new Promise((resolve, reject) => {
      const timer = timeout === Infinity ? undefined : setTimeout(() => reject(new ConnectionLost("not connected")), timeout);
      this.liveWaiters.push(() => (clearTimeout(timer), resolve()));
    });
  }

  /** This screen came to the front or left it (the server rings the one in front). @param {boolean} front */
  async screen(front) {
    return expect(await this.call({ type: "screen", front }), "ok");
  }

  /** @param {string} id */
  async claim(id) {
    return expect(await this.call({ type: "claim", conversation_id: id }), "conversation");
  }

  /** @param {string} id @param {string} agentId */
  async assign(id, agentId) {
    return expect(await this.call({ type: "assign", conversation_id: id, agent_id: agentId }), "conversation");
  }

  /** @param {string} id */
  async sendToInbox(id) {
    return expect(await this.call({ type: "send_to_inbox", conversation_id: id }), "conversation");
  }

  /** @param {string} id */
  async endChat(id) {
    return expect(await this.call({ type: "end_chat", conversation_id: id }), "conversation");
  }

  /**
   * With a `key` (`newIdempotencyKey()`), the send is safe to repeat: the
   * same key again answers the first send's message, never a second one.
   * @param {string} id @param {string} text @param {string} [key]
   */
  async send(id, text, key) {
    return expect(await this.call({ type: "send", conversation_id: id, text, idempotency_key: key ?? null }), "message");
  }

  /** @param {string} id @param {string} uploadId @param {string} caption @param {string} [key] as `send`'s */
  async sendMedia(id, uploadId, caption, key) {
    const cmd = { type: /** @type {const} */ ("send_media"), conversation_id: id, upload_id: uploadId, caption, idempotency_key: key ?? null };
    return expect(await this.call(cmd), "message");
  }

  /** @param {string} id @param {TemplateRef} template @param {string} [key] as `send`'s */
  async sendTemplate(id, template, key) {
    return expect(await this.call({ type: "send_template", conversation_id: id, template, idempotency_key: key ?? null }), "message");
  }

  /**
   * @param {string} touchpointId @param {string} address @param {{template?: TemplateRef, text?: string}} body
   * @param {string} [key] as `send`'s: the same key again answers the first start's conversation
   */
  async start(touchpointId, address, body, key) {
    const cmd = { type: /** @type {const} */ ("start"), touchpoint_id: touchpointId, address, ...body, idempotency_key: key ?? null };
    return expect(await this.call(cmd), "message");
  }

  /** @param {string} id */
  async markRead(id) {
    return expect(await this.call({ type: "read", conversation_id: id }), "conversation");
  }

  /**
   * Follow a thread: its newest page now, its events from then on.
   * @param {string} id
   */
  async open(id) {
    const stream = `conv:${id}`;
    if (!this.positions.has(stream)) this.pendingStreams.set(stream, []);
    let result;
    try {
      result = expect(await this.call({ type: "open", conversation_id: id, limit: 50 }), "thread");
    } catch (e) {
      this.pendingStreams.delete(stream);
      this.positions.delete(stream);
      throw e;
    }
    this.wantedThreads.add(id);
    const changes = this.mirror.loadThread(result);
    const waiting = this.pendingStreams.get(stream);
    this.pendingStreams.delete(stream);
    if (!this.positions.has(stream)) {
      this.positions.set(stream, result.stream_seq);
      for (const frame of (waiting ?? []).sort((a, b) => a.seq - b.seq)) {
        for (const ready of this.accept(frame)) this.deliver(ready);
      }
    }
    this.options.onChange?.(this.mirror, changes);
    return result;
  }

  /** @param {string} id */
  async closeThread(id) {
    this.wantedThreads.delete(id);
    this.positions.delete(`conv:${id}`);
    this.pendingStreams.delete(`conv:${id}`);
    this.mirror.dropThread(id);
    if (this.live) await this.call({ type: "close", conversation_id: id }).catch(() => undefined);
  }

  /** @param {string} id @param {number} before @param {number} [limit] */
  async history(id, before, limit = 50) {
    const page = expect(await this.call({ type: "history", conversation_id: id, before, limit }), "page");
    const changes = this.mirror.loadPage(id, page);
    this.options.onChange?.(this.mirror, changes);
    return page;
  }

  /**
   * Extend the Inbox window by one page (docs/PROTOCOL.md, the Inbox as a
   * window); one request at a time. Returns false when the window is whole.
   */
  async moreInbox(limit = 100) {
    const cursor = this.mirror.inboxCursor;
    if (cursor === null || this.inboxLoading) return false;
    this.inboxLoading = true;
    try {
      const page = expect(await this.call({ type: "inbox_page", cursor, limit }), "inbox_page");
      if (this.mirror.inboxCursor !== cursor) return true; // a resync reloaded the window meanwhile
      this.options.onChange?.(this.mirror, this.mirror.loadInboxPage(page));
      return true;
    } finally {
      this.inboxLoading = false;
    }
  }

  /**
   * One page of the Inbox filtered by the server (`query`: name, number or
   * username), outside the window: the mirror is left as it is.
   * @param {string} query @param {string | null} cursor @param {number} [limit]
   */
  async inboxSearch(query, cursor, limit = 100) {
    return expect(await this.call({ type: "inbox_page", cursor, limit, query }), "inbox_page");
  }

  /** @param {string} id @param {string} query */
  async search(id, query) {
    return expect(await this.call({ type: "search", conversation_id: id, query, limit: 200 }), "search");
  }

  /** @param {string} id @param {string} text */
  async addNote(id, text) {
    return expect(await this.call({ type: "add_note", conversation_id: id, text }), "note");
  }

  /** @param {string} id @param {string} disposition @param {string} note */
  async wrapUp(id, disposition, note) {
    return expect(await this.call({ type: "wrap_up", conversation_id: id, disposition, note }), "wrap_up");
  }

  /** @param {string} id */
  async contactCard(id) {
    return expect(await this.call({ type: "contact_card", conversation_id: id }), "contact_card");
  }
}

class Gap extends Error {
  /** @param {string} stream @param {number} last @param {number} seq */
  constructor(stream, last, seq) {
    super(`${stream}: expected seq ${last + 1}, got ${seq}`);
  }
}

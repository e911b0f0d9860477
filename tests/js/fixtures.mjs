// Hand-made protocol values for the unit tests (the shapes of protocol.d.ts).

export const CONTACT = { id: "whatsapp:55", channel: "whatsapp", address: "55", display_name: "+55", initials: null, known: false, username: null };

/** A ConversationSummary with sensible defaults. */
export function summary(id = "c1", version = 1, fields = {}) {
  return {
    id, version, channel: "whatsapp", touchpoint_id: "wa", touchpoint_name: "+1 555", queue_id: "sales",
    status: "open", assignee_id: null, contact: CONTACT, created_at: 1, last_message_at: 1, preview: "hi",
    preview_direction: "in", unread: 1, session_expires_at: 10, session_locked: false, ended_at: null, wrapped_up: false, can: {},
    ...fields,
  };
}

export function snapshot(inbox = [], assigned = [], fields = {}) {
  return {
    type: "snapshot", epoch: "e", streams: {}, inbox, assigned,
    unread_total: assigned.reduce((n, s) => n + s.unread, 0),
    queues: [{ id: "sales", name: "Sales" }], agents: [], touchpoints: [], templates: [],
    dispositions: ["Resolved"], server_time: 5_000, ...fields,
  };
}

export function message(id, seq, fields = {}) {
  return { id, conversation_id: "c1", seq, direction: "in", kind: "text", text: "hi", at: 1, status: "received", author_id: null, error: null, meta: {}, edited_at: null, deleted: false, ...fields };
}

export const ANA = { id: "ana", name: "Ana Souza", role: "agent", queues: ["sales"] };
export const BRUNO = { id: "bruno", name: "Bruno Lima", role: "agent", queues: ["sales"] };
export const SOFIA = { id: "sofia", name: "Sofia Reis", role: "supervisor", queues: [] };

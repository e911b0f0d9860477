// The browser's mirror (server/static/js/mirror.js), fed snapshots and events
// by hand: the same rules as its Python twin (tests/clients/test_mirror.py).
import assert from "node:assert/strict";
import { test } from "node:test";

import { Mirror, newer, ordered } from "../../server/static/js/mirror.js";
import { CONTACT, message, snapshot, summary } from "./fixtures.mjs";

test("a snapshot loads the lists, counters and the clock offset", () => {
  const m = new Mirror();
  const changes = m.load(snapshot([summary("c1")], [summary("c2", 1, { assignee_id: "ana", unread: 3 })]), 4_000);
  assert.deepEqual(changes, [{ kind: "reset", conversationId: null }]);
  assert.deepEqual([...m.inbox.keys()], ["c1"]);
  assert.deepEqual([...m.assigned.keys()], ["c2"]);
  assert.deepEqual([m.assignedCount, m.unreadTotal], [1, 3]);
  assert.equal(m.serverOffset, 1_000);
  assert.deepEqual(m.snapshot?.dispositions, ["Resolved"]);
});

test("a reload replaces everything, threads included", () => {
  const m = new Mirror();
  m.load(snapshot([summary("c1")]), 0);
  m.loadThread({ kind: "thread", conversation: summary("c1"), messages: [message("m1", 1)], has_more: false, notes: [], wrap_up: null, stream_seq: 1 });
  m.load(snapshot([summary("c9")]), 0);
  assert.deepEqual([...m.inbox.keys()], ["c9"]);
  assert.equal(m.threads.size, 0);
});

test("a claim moves a row from the Inbox to Assigned, with the counters", () => {
  const m = new Mirror();
  m.load(snapshot([summary("c1")]), 0);
  const removed = m.apply({ type: "inbox.removed", conversation_id: "c1", queue_id: "sales", reason: "claimed", agent_id: "ana" });
  const added = m.apply({ type: "assigned.added", conversation: summary("c1", 2, { assignee_id: "ana" }), count: 1, unread_total: 1 });
  assert.deepEqual([...removed, ...added].map((c) => c.kind), ["inbox.removed", "assigned.added"]);
  assert.equal(m.inbox.size, 0);
  assert.equal(m.assigned.get("c1")?.assignee_id, "ana");
  assert.deepEqual([m.assignedCount, m.unreadTotal], [1, 1]);
});

test("removing a row that is not listed is no change", () => {
  const m = new Mirror();
  m.load(snapshot([]), 0);
  assert.deepEqual(m.apply({ type: "inbox.removed", conversation_id: "gone", queue_id: "sales", reason: "claimed", agent_id: "ana" }), []);
});

test("an older version never replaces a newer one", () => {
  const m = new Mirror();
  m.load(snapshot([summary("c1", 5, { preview: "newest" })]), 0);
  m.apply({ type: "inbox.updated", conversation: summary("c1", 3, { preview: "older" }) }); // a replayed event
  assert.equal(m.inbox.get("c1")?.preview, "newest");
  assert.equal(newer(summary("c1", 5), summary("c1", 4)), false);
  assert.equal(newer(null, summary("c1", 1)), true);
});

test("a thread's summary refreshes rows but never moves them", () => {
  const m = new Mirror();
  m.load(snapshot([summary("c1", 1)], [summary("c2", 1, { assignee_id: "ana" })]), 0);
  m.apply({ type: "conversation.updated", conversation: summary("c1", 2, { assignee_id: "bruno" }) });
  assert.equal(m.inbox.get("c1")?.version, 1); // still listed until queue:sales says it left
  m.apply({ type: "conversation.updated", conversation: summary("c2", 2, { assignee_id: "ana", session_locked: true }) });
  assert.equal(m.assigned.get("c2")?.session_locked, true);
  assert.equal(m.conversation("c1")?.version, 1); // the newest the mirror holds for it
});

test("session lock events are reported as changes", () => {
  const m = new Mirror();
  m.load(snapshot([], [summary("c2", 1, { assignee_id: "ana" })]), 0);
  assert.deepEqual(m.apply({ type: "session.locked", conversation_id: "c2", expires_at: 10 }), [{ kind: "session.locked", conversationId: "c2" }]);
});

test("a thread collects messages, notes and the wrap-up in order", () => {
  const m = new Mirror();
  m.load(snapshot([], [summary("c1", 1, { assignee_id: "ana" })]), 0);
  m.loadThread({ kind: "thread", conversation: summary("c1", 1, { assignee_id: "ana" }), messages: [message("m1", 1)], has_more: false, notes: [], wrap_up: null, stream_seq: 3 });
  const second = message("m2", 2, { direction: "out", status: "pending", text: "hello" });
  m.apply({ type: "message.created", message: second, conversation: summary("c1", 2, { assignee_id: "ana", preview: "hello" }) });
  m.apply({ type: "message.updated", message: { ...second, status: "delivered" } });
  const note = { id: "n1", conversation_id: "c1", author_id: "ana", text: "vip", at: 3 };
  m.apply({ type: "note.added", note });
  m.apply({ type: "note.added", note }); // replayed: kept once
  const wrap = { conversation_id: "c1", agent_id: "ana", disposition: "Resolved", note: "", at: 4 };
  m.apply({ type: "wrap_up.recorded", wrap_up: wrap });
  const thread = m.threads.get("c1");
  assert.ok(thread);
  assert.deepEqual(ordered(thread).map((x) => [x.seq, x.status]), [[1, "received"], [2, "delivered"]]);
  assert.deepEqual(thread.notes, [note]);
  assert.deepEqual(thread.wrapUp, wrap);
  assert.equal(m.assigned.get("c1")?.preview, "hello");
  assert.equal(m.conversation("c1")?.version, 2);
});

test("an older page adds messages without replacing newer ones", () => {
  const m = new Mirror();
  m.load(snapshot([summary("c1")]), 0);
  m.loadThread({ kind: "thread", conversation: summary("c1"), messages: [message("m5", 5, { status: "read" })], has_more: true, notes: [], wrap_up: null, stream_seq: 1 });
  m.loadPage("c1", { kind: "page", messages: [message("m4", 4), message("m5", 5, { status: "sent" })], has_more: false });
  const thread = m.threads.get("c1");
  assert.ok(thread);
  assert.deepEqual(ordered(thread).map((x) => [x.seq, x.status]), [[4, "received"], [5, "read"]]);
  assert.equal(thread.hasMore, false);
  assert.deepEqual(m.loadPage("unknown", { kind: "page", messages: [], has_more: false }), []);
});

test("assigned.removed updates the counters even for an unknown row", () => {
  const m = new Mirror();
  m.load(snapshot([], [summary("c1", 1, { assignee_id: "ana", unread: 2 })]), 0);
  m.apply({ type: "assigned.removed", conversation_id: "c1", reason: "ended", count: 0, unread_total: 0 });
  assert.equal(m.assigned.size, 0);
  assert.deepEqual([m.assignedCount, m.unreadTotal], [0, 0]);
});

test("a contact's rename at the same version is taken", () => {
  const m = new Mirror();
  m.load(snapshot([summary("c1", 4)]), 0);
  const known = { ...CONTACT, display_name: "Maria José", initials: "MJ", known: true };
  m.apply({ type: "inbox.updated", conversation: summary("c1", 4, { contact: known }) });
  assert.equal(m.inbox.get("c1")?.contact.display_name, "Maria José");
});

test("the Inbox is a window plus counts, as in the Python mirror", () => {
  const m = new Mirror();
  const counts = (n) => ({ queue_id: "sales", inbox: n, oldest_at: 1 });
  m.load(snapshot([summary("c1", 1, { last_message_at: 10 }), summary("c2", 1, { last_message_at: 20 })], [], { inbox_cursor: "20:c2", inbox_counts: [counts(500)] }), 0);
  assert.equal(m.inboxCount, 500);
  const beyond = m.apply({ type: "inbox.added", conversation: summary("c9", 1, { last_message_at: 900 }), counts: counts(501) });
  assert.deepEqual(beyond.map((c) => c.kind), ["inbox.counts"]);
  assert.equal(m.inbox.has("c9"), false);
  assert.equal(m.inboxCount, 501);
  m.apply({ type: "inbox.added", conversation: summary("c3", 1, { last_message_at: 15 }), counts: counts(502) });
  assert.deepEqual(m.inboxWindow().map((s) => s.id), ["c1", "c3", "c2"]);
  const moved = m.apply({ type: "inbox.updated", conversation: summary("c1", 2, { last_message_at: 950 }), counts: counts(502) });
  assert.deepEqual(moved.map((c) => c.kind), ["inbox.removed"]);
  assert.deepEqual(m.inboxWindow().map((s) => s.id), ["c3", "c2"]);
  m.apply({ type: "inbox.removed", conversation_id: "c9", queue_id: "sales", reason: "claimed", agent_id: "ana", counts: counts(501) });
  assert.equal(m.inboxCount, 501);
  m.loadInboxPage({ kind: "inbox_page", conversations: [summary("c4", 1, { last_message_at: 30 })], cursor: null });
  assert.equal(m.inboxCursor, null);
  m.apply({ type: "inbox.added", conversation: summary("c10", 1, { last_message_at: 1000 }), counts: counts(502) });
  assert.deepEqual(m.inboxWindow().map((s) => s.id), ["c3", "c2", "c4", "c10"]);
});

test("a server without counts: the window is the count", () => {
  const m = new Mirror();
  m.load(snapshot([summary("c1"), summary("c2")]), 0);
  m.apply({ type: "inbox.added", conversation: summary("c3", 1, { last_message_at: 99 }) });
  assert.equal(m.inboxCount, 3);
});

test("canned response lists: the snapshot's, then the highest version of each", () => {
  const list = (version, shortcuts) => ({
    list_id: "queue:sales", version, editors: ["role:supervisor"],
    responses: shortcuts.map((s) => ({ id: s, shortcut: s, text: s, updated_at: version, updated_by: "sofia" })),
  });
  const m = new Mirror();
  m.load(snapshot([], [], { canned: [list(1, ["ola"])] }), 0);
  assert.deepEqual(m.apply({ type: "canned.updated", canned: list(2, ["ola", "tchau"]) }), [{ kind: "canned.updated", conversationId: null }]);
  assert.deepEqual(m.apply({ type: "canned.updated", canned: list(1, []) }), []); // a replay of an older one
  assert.deepEqual(m.canned.get("queue:sales")?.responses.map((r) => r.shortcut), ["ola", "tchau"]);
});

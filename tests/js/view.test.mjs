// The web app's pure view models (server/static/js/view.js): what the list
// rows and the conversation pane show, which actions an agent is offered,
// keys, search steps, templates and links.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";

import {
  allowedActions, assignable, conversationView, listGroups, listKeyTarget, routeId, rowView, showsLock, stepIndex, templateParamCount, templatePreview, timerView,
} from "../../server/static/js/view.js";
import { ANA, BRUNO, SOFIA, summary } from "./fixtures.mjs";

const names = { ana: "Ana Souza", bruno: "Bruno Lima" };
/** @param {string | null} id */
const agentName = (id) => (id ? names[id] ?? id : "nobody");
const ctx = (fields = {}) => ({ lost: null, hasMessages: true, agentName, ...fields });
const today = new Date(0).toDateString();

test("lists: newest activity first, WhatsApp before Messenger, empty groups left out", () => {
  const groups = listGroups([
    summary("old", 1, { last_message_at: 100 }),
    summary("m1", 1, { channel: "messenger", last_message_at: 300 }),
    summary("new", 1, { last_message_at: 200 }),
    summary("never", 1, { last_message_at: null, created_at: 150 }),
  ]);
  assert.deepEqual(groups.map((g) => [g.channel, g.rows.map((s) => s.id)]), [["whatsapp", ["new", "never", "old"]], ["messenger", ["m1"]]]);
  assert.deepEqual(listGroups([summary("a", 1, { channel: "messenger" })]).map((g) => g.channel), ["messenger"]);
  assert.deepEqual(listGroups([]), []);
});

test("the Inbox lists oldest waiting first: the window's order, pages join at the end", () => {
  const groups = listGroups([summary("old", 1, { last_message_at: 100 }), summary("new", 1, { last_message_at: 200 })], true);
  assert.deepEqual(groups.map((g) => g.rows.map((s) => s.id)), [["old", "new"]]);
});

test("a row's stamp changes with what it shows, and only then", () => {
  const ui = { tab: "assigned", current: null, focusId: null, today };
  const base = rowView(summary("c1", 3), ui).stamp;
  assert.equal(rowView(summary("c1", 3), ui).stamp, base);
  assert.notEqual(rowView(summary("c1", 4), ui).stamp, base); // any server change bumps the version
  assert.notEqual(rowView(summary("c1", 3, { contact: { ...summary().contact, display_name: "Maria" } }), ui).stamp, base); // a rename keeps it
  assert.notEqual(rowView(summary("c1", 3), { ...ui, current: "c1" }).stamp, base);
  assert.notEqual(rowView(summary("c1", 3), { ...ui, focusId: "c1" }).stamp, base);
  assert.notEqual(rowView(summary("c1", 3), { ...ui, tab: "inbox" }).stamp, base); // unread shows on Assigned only
  assert.notEqual(rowView(summary("c1", 3), { ...ui, today: "another day" }).stamp, base); // "14:05" becomes "Mar 3"
});

test("a row says unread on Assigned only, and shows the lock only for an open, started conversation", () => {
  const ui = { tab: "assigned", current: "c1", focusId: "c1", today };
  const v = rowView(summary("c1", 1, { unread: 2, session_locked: true, preview: "oi" }), ui);
  assert.deepEqual([v.selected, v.unread, v.locked, v.focused], [true, true, true, true]);
  assert.equal(v.label, "+55, WhatsApp, last message: oi, 2 unread, session closed");
  assert.equal(rowView(summary("c1", 1, { unread: 2 }), { ...ui, tab: "inbox" }).unread, false);
  assert.equal(showsLock(summary("c1", 1, { session_locked: true, last_message_at: null })), false); // outbound, never answered
  assert.equal(showsLock(summary("c1", 1, { session_locked: true, status: "ended" })), false);
});

// What the server grants, per class of receiver (server/core/permissions.py).
const INBOX_GRANTS = { "queue:sales": ["claim", "contact_card"], "role:supervisor": ["claim", "assign", "end_chat", "add_note", "contact_card"] };
const owner = (id, { unread = 0, locked = false } = {}) => ({
  [`agent:${id}`]: ["send_to_inbox", "end_chat", ...(locked ? [] : ["send"]), "send_template", ...(unread ? ["read"] : []), "add_note", "contact_card"],
  "role:supervisor": ["assign", "send_to_inbox", "end_chat", ...(locked ? [] : ["send"]), "send_template", "add_note", "contact_card"],
});
const ANA_P = ["agent:ana", "queue:sales"];
const BRUNO_P = ["agent:bruno", "queue:sales"];
const SOFIA_P = ["agent:sofia", "role:supervisor"];
/** The pane for `principals`, as conversation.js builds it. */
const pane = (s, principals, fields = {}) =>
  conversationView(s, { can: allowedActions(s, principals), held: principals.some((p) => p === `agent:${s.assignee_id}`), ...ctx(fields) });

test("the flags an agent holds are the union of the grants to its principals", () => {
  const s = summary("c1", 1, { assignee_id: "ana", can: owner("ana") });
  assert.deepEqual([...allowedActions(s, ANA_P)], owner("ana")["agent:ana"]);
  assert.deepEqual([...allowedActions(s, BRUNO_P)], []);
  assert.ok(allowedActions(s, SOFIA_P).has("assign"));
  assert.deepEqual([...allowedActions(summary("c1"), ANA_P)], []); // a summary that grants nothing
});

test("an Inbox conversation: the queue's agents may take it, nobody may reply yet", () => {
  const s = summary("c1", 1, { can: INBOX_GRANTS });
  const v = pane(s, ANA_P);
  assert.deepEqual(v.actions, { claim: true, assign: false, toInbox: false, endChat: false, snapshot: true, notes: true });
  assert.equal(v.notice, "In the Inbox: take it to reply.");
  assert.deepEqual(v.editor, { enabled: false, placeholder: "Take this conversation to reply.", templates: false });
  assert.equal(v.markRead, false);
  assert.equal(pane(s, ["agent:carla", "queue:support"]).actions.claim, false); // not her queue: no grant
});

test("my conversation: reply, send to Inbox, end; reading it clears unread", () => {
  const v = pane(summary("c1", 1, { assignee_id: "ana", unread: 1, can: owner("ana", { unread: 1 }) }), ANA_P);
  assert.deepEqual(v.actions, { claim: false, assign: false, toInbox: true, endChat: true, snapshot: true, notes: true });
  assert.equal(v.notice, "");
  assert.equal(v.editor.enabled, true);
  assert.equal(v.editor.templates, true);
  assert.equal(v.markRead, true);
  assert.equal(pane(summary("c1", 1, { assignee_id: "ana", unread: 0, can: owner("ana") }), ANA_P).markRead, false);
});

test("someone else's conversation: read only, and a supervisor may reassign it", () => {
  const s = summary("c1", 1, { assignee_id: "bruno", can: owner("bruno") });
  const v = pane(s, ANA_P);
  assert.equal(v.notice, "Assigned to Bruno Lima.");
  assert.equal(v.editor.placeholder, "Only Bruno Lima can reply.");
  assert.deepEqual([v.actions.claim, v.actions.toInbox, v.actions.endChat, v.actions.assign], [false, false, false, false]);
  const sofia = pane(s, SOFIA_P);
  assert.deepEqual([sofia.actions.assign, sofia.editor.enabled, sofia.notice], [true, true, "Assigned to Bruno Lima."]);
});

test("a locked session: WhatsApp offers templates, Messenger waits for the contact", () => {
  const locked = { assignee_id: "ana", session_locked: true, can: owner("ana", { locked: true }) };
  const wa = pane(summary("c1", 1, locked), ANA_P);
  assert.equal(wa.lock?.title, "The 24-hour session has closed.");
  assert.match(wa.lock?.text ?? "", /only an approved template can be sent/);
  assert.deepEqual([wa.editor.enabled, wa.editor.templates], [false, true]);
  assert.match(wa.editor.placeholder, /^Locked/);
  const fresh = pane(summary("c1", 1, locked), ANA_P, { hasMessages: false });
  assert.match(fresh.lock?.text ?? "", /No session is open/);
  const msCan = { "agent:ana": ["send_to_inbox", "end_chat"] };
  const ms = pane(summary("c1", 1, { ...locked, channel: "messenger", can: msCan }), ANA_P);
  assert.equal(ms.lock?.title, "The Messenger reply window has closed.");
  assert.deepEqual([ms.editor.enabled, ms.editor.templates, ms.actions.snapshot, ms.actions.notes], [false, false, false, false]);
  assert.equal(pane(summary("c1", 1, { assignee_id: "ana", can: owner("ana") }), ANA_P).lock, null);
});

test("an ended conversation: no actions, a notice, and the wrap-up where the server grants it", () => {
  const can = { "agent:ana": ["add_note", "wrap_up", "contact_card"], "role:supervisor": ["add_note", "wrap_up", "contact_card"] };
  const s = summary("c1", 1, { status: "ended", assignee_id: "ana", ended_at: 1_000, can });
  const v = pane(s, ANA_P);
  assert.deepEqual([v.actions.claim, v.actions.toInbox, v.actions.endChat, v.actions.assign], [false, false, false, false]);
  assert.match(v.notice, /^This conversation ended .*a new conversation starts in the Inbox\.$/);
  assert.deepEqual(v.editor, { enabled: false, placeholder: "This conversation has ended.", templates: false });
  assert.deepEqual([v.wrapUp, v.canNote], [true, true]);
  assert.deepEqual([pane(s, BRUNO_P).wrapUp, pane(s, BRUNO_P).canNote], [false, false]);
});

test("a lost conversation shows why, and nothing else to do", () => {
  const v = pane(summary("c1", 2, { assignee_id: "bruno", can: owner("bruno") }), SOFIA_P, { lost: "Another agent took this conversation." });
  assert.equal(v.notice, "Another agent took this conversation.");
  assert.equal(v.editor.placeholder, "Another agent took this conversation.");
  assert.deepEqual(Object.values(v.actions), [false, false, false, false, false, false]);
  assert.deepEqual([v.lock, v.wrapUp, v.canNote, v.markRead], [null, false, false, false]);
});

test("view.js holds no permission rule: it is never told who the agent is", async () => {
  const source = await readFile(new URL("../../server/static/js/view.js", import.meta.url), "utf8");
  const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ""); // comments may explain the rule
  for (const rule of [/\bme\b/, /\.role\b/, /supervisor/, /\.queues\b/, /assignee_id\s*[!=]==?(?!=)\s*(?!\s|null\b)/]) {
    assert.doesNotMatch(code, rule);
  }
});

test("the session countdown", () => {
  const s = summary("c1", 1, { session_expires_at: 10_000_000 });
  assert.deepEqual(timerView(s, null, 10_000_000 - 61_000), { urgent: true, text: "Session closes in 0:01:01", closesAt: 10_000_000 });
  assert.equal(timerView(s, null, 0)?.urgent, false);
  assert.equal(timerView({ ...s, session_locked: true }, null, 0), null);
  assert.equal(timerView({ ...s, session_expires_at: null }, null, 0), null);
  assert.equal(timerView(s, "lost", 0), null);
  assert.equal(timerView(null, null, 0), null);
});

test("a conversation may be handed to the agents the server lists for its queue, not to its assignee", () => {
  const other = { id: "zed", name: "Zed", role: "agent", queues: ["support"] };
  const queues = [{ id: "sales", name: "Sales", assignable: ["ana", "bruno", "sofia"] }, { id: "support", name: "Support", assignable: ["zed"] }];
  assert.deepEqual(assignable(summary("c1", 1, { assignee_id: "ana" }), [ANA, BRUNO, SOFIA, other], queues).map((a) => a.id), ["bruno", "sofia"]);
});

test("list keys, search steps", () => {
  assert.deepEqual(["ArrowDown", "ArrowUp", "Home", "End", "Enter", " ", "x"].map((k) => listKeyTarget(k, 1, 3)), [2, 0, 0, 2, "open", "open", null]);
  assert.deepEqual([listKeyTarget("ArrowDown", 2, 3), listKeyTarget("ArrowUp", 0, 3)], [2, 0]); // no wrap
  assert.deepEqual([stepIndex(0, -1, 3), stepIndex(2, 1, 3), stepIndex(1, 1, 3), stepIndex(0, 1, 0)], [2, 0, 2, -1]);
});

test("template parameters and preview", () => {
  assert.equal(templateParamCount("Hi {{1}}, your order {{2}} ships {{1}}"), 2);
  assert.equal(templateParamCount("No params"), 0);
  assert.equal(templatePreview("Hi {{1}}, order {{2}}", ["Ana"]), "Hi Ana, order {{2}}");
});

test("links: #/c/<id>, URL-encoded or not; anything else is no route", () => {
  assert.equal(routeId("#/c/c_0192.3a4"), "c_0192.3a4");
  assert.equal(routeId("#/c/c%5F1"), "c_1");
  assert.equal(routeId("#/c/%E0%A4%A"), null); // mangled
  assert.equal(routeId("#/x/c1"), null);
  assert.equal(routeId(""), null);
});

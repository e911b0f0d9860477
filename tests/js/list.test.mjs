// The long list's pure parts (server/static/js/view.js): the filter box's
// match (accents, case, numbers), the server's query, the sorts, and which
// rows a windowed list draws.
import assert from "node:assert/strict";
import { test } from "node:test";

import { CONTACT, summary } from "./fixtures.mjs";
import { arrangeList, fold, matchesFilter, serverQuery, sortRows, visibleRange } from "../../server/static/js/view.js";

const person = (name, address = "+5511987650001", username = null) => ({ ...CONTACT, display_name: name, address, username });

test("the filter folds accents and case, and finds a number however it is typed", () => {
  assert.equal(fold("José GONÇALVES"), "jose goncalves");
  const s = summary("c1", 1, { contact: person("José Gonçalves") });
  for (const q of ["jose", "GONCALVES", "josé gonç", "  jose  ", ""]) assert.ok(matchesFilter(s, q), q);
  assert.ok(!matchesFilter(s, "maria"));
  const unknown = summary("c2", 1, { contact: person("+55 11 98765-0001") });
  for (const q of ["98765-0001", "98765 0001", "+55 (11) 98765", "5511987650001"]) assert.ok(matchesFilter(unknown, q), q);
  assert.ok(!matchesFilter(unknown, "98765-0002"));
  assert.ok(matchesFilter(summary("c3", 1, { contact: person("Cliente", "BR.15", "@mariafer") }), "mariaf"));
});

test("a number goes to the server as its digits, words as typed", () => {
  assert.equal(serverQuery(" 98765-0001 "), "987650001");
  assert.equal(serverQuery("+55 (11) 9"), "55119");
  assert.equal(serverQuery("josé"), "josé");
  assert.equal(serverQuery("--"), "--");
});

test("sorts: waiting longest, unread first, latest activity", () => {
  const rows = [
    summary("a", 1, { last_message_at: 300, unread: 0 }),
    summary("b", 1, { last_message_at: 100, unread: 2 }),
    summary("c", 1, { last_message_at: 200, unread: 5 }),
    summary("d", 1, { last_message_at: null, created_at: 200, unread: 2 }),
  ];
  const ids = (sort) => sortRows(rows, sort).map((s) => s.id);
  assert.deepEqual(ids("waiting"), ["b", "c", "d", "a"]); // ties by id, as the server's window
  assert.deepEqual(ids("activity"), ["a", "d", "c", "b"]);
  assert.deepEqual(ids("unread"), ["c", "d", "b", "a"]);
  const groups = arrangeList([...rows, summary("m", 1, { channel: "messenger", contact: person("Lucía") })], "waiting", "lucia");
  assert.deepEqual(groups.map((g) => [g.channel, g.rows.map((s) => s.id)]), [["messenger", ["m"]]]);
});

test("a windowed list draws the rows under the viewport, a few more, never beyond the ends", () => {
  // 1,000 rows of 64 px starting 40 px down; a 640 px viewport scrolled to 6,440.
  assert.deepEqual(visibleRange(1000, 40, 6440, 640, 64, 5), { first: 95, end: 115 });
  assert.deepEqual(visibleRange(1000, 40, 0, 640, 64, 5), { first: 0, end: 15 });
  assert.deepEqual(visibleRange(10, 40, 0, 640, 64, 5), { first: 0, end: 10 });
  assert.deepEqual(visibleRange(1000, 40, 64_000, 640, 64, 5), { first: 994, end: 1000 });
  // A group far below the viewport draws nothing.
  assert.deepEqual(visibleRange(50, 90_000, 0, 640, 64, 5), { first: 0, end: 0 });
});

test("PageDown and PageUp move ten rows, stopping at the ends", async () => {
  const { listKeyTarget } = await import("../../server/static/js/view.js");
  assert.deepEqual([listKeyTarget("PageDown", 5, 100), listKeyTarget("PageDown", 95, 100), listKeyTarget("PageUp", 5, 100)], [15, 99, 0]);
});

test("the oldest waiting comes from the queues' counts, empty queues left out", async () => {
  const { oldestWaiting } = await import("../../server/static/js/view.js");
  const counts = [
    { queue_id: "sales", inbox: 3, oldest_at: 5_000 },
    { queue_id: "support", inbox: 0, oldest_at: 1_000 },
    { queue_id: "vip", inbox: 1, oldest_at: 4_000 },
  ];
  assert.equal(oldestWaiting(counts), 4_000);
  assert.equal(oldestWaiting([]), null);
});

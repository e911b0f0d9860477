// The thread window's pure parts (server/static/js/threadwindow.js): where
// each item starts from measured and estimated heights, which items a band
// of the thread needs, when the view is at the end, and the pill's count.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ESTIMATE, NEAR_END, indexAt, keyTarget, nearEnd, prefix, span, unseenAfter } from "../../server/static/js/threadwindow.js";

test("items start after the heights before them: measured where known, estimated elsewhere", () => {
  const at = prefix(["a", "b", "c", "d"], new Map([["b", 200], ["d", 10]]));
  assert.deepEqual([...at], [0, ESTIMATE, ESTIMATE + 200, 2 * ESTIMATE + 200, 2 * ESTIMATE + 210]);
  assert.deepEqual([...prefix([], new Map())], [0]);
});

test("the item under a height is the last one starting at or above it", () => {
  const at = prefix(["a", "b", "c"], new Map([["a", 10], ["b", 100], ["c", 10]])); // 0, 10, 110, 120
  assert.equal(indexAt(at, 0), 0);
  assert.equal(indexAt(at, 9.9), 0);
  assert.equal(indexAt(at, 10), 1);
  assert.equal(indexAt(at, 109), 1);
  assert.equal(indexAt(at, 110), 2);
  assert.equal(indexAt(at, 5000), 2); // past the end: the last
  assert.equal(indexAt(at, -50), 0);
});

test("a band draws only the items it overlaps, however long the thread", () => {
  const keys = Array.from({ length: 5000 }, (_, i) => `m:${i}`);
  const at = prefix(keys, new Map()); // every item ESTIMATE high
  const { first, end } = span(at, 100 * ESTIMATE, 110 * ESTIMATE);
  assert.equal(first, 100);
  assert.equal(end, 111); // the item starting at the band's end is drawn too (partly in view)
  assert.deepEqual(span(at, -1000, 3 * ESTIMATE - 1), { first: 0, end: 3 });
  assert.deepEqual(span(at, at[5000] - 10, at[5000] + 1000), { first: 4999, end: 5000 });
  assert.deepEqual(span(at, at[5000] + 500, at[5000] + 900), { first: 4999, end: 5000 }); // beyond: the last one
  assert.deepEqual(span(prefix([], new Map()), 0, 100), { first: 0, end: 0 });
});

test("tall items (a photo, a long text) take their measured room", () => {
  const keys = ["a", "photo", "b", "c"];
  const at = prefix(keys, new Map([["a", 50], ["photo", 300], ["b", 50], ["c", 50]]));
  assert.deepEqual(span(at, 60, 200), { first: 1, end: 2 }); // inside the photo only
  assert.deepEqual(span(at, 340, 360), { first: 1, end: 3 });
});

test("at the end means within NEAR_END px of the bottom", () => {
  assert.ok(nearEnd(1000, 500, 500));
  assert.ok(nearEnd(1000, 500 - NEAR_END + 1, 500));
  assert.ok(!nearEnd(1000, 500 - NEAR_END, 500));
  assert.ok(nearEnd(300, 0, 500)); // a thread shorter than the view
});

test("the pill counts new messages only while the agent is away from the end", () => {
  assert.equal(unseenAfter(0, 100, 101, false), 1);
  assert.equal(unseenAfter(1, 101, 104, false), 4);
  assert.equal(unseenAfter(3, 104, 104, false), 3); // an edit or a status: nothing new
  assert.equal(unseenAfter(3, 104, 105, true), 0); // at the end: seen
  assert.equal(unseenAfter(0, 0, 50, false), 0); // the first page is not "new"
});

test("Home and End are the window's own (instant), with Ctrl too; with Shift, Alt or Meta, and every other key, the browser's", () => {
  const key = (k, mods = {}) => keyTarget({ key: k, shiftKey: false, altKey: false, metaKey: false, ...mods });
  assert.equal(key("Home"), "start");
  assert.equal(key("End"), "end");
  assert.equal(key("Home", { ctrlKey: true }), "start");
  assert.equal(key("End", { shiftKey: true }), null); // a selection
  assert.equal(key("Home", { altKey: true }), null); // the browser's home page
  assert.equal(key("Home", { metaKey: true }), null);
  assert.equal(key("PageUp"), null);
  assert.equal(key("ArrowUp"), null);
});

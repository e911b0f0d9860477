import assert from "node:assert/strict";
import test from "node:test";

import { MAX_DRAFT_AGE_MS, draftKey, loadDraft, parseDraft, pruneDrafts, saveDraft, staleDrafts } from "../../server/static/js/drafts.js";

/** The Web Storage interface over a Map (node has no localStorage). */
class MapStorage {
  constructor() {
    /** @type {Map<string, string>} */
    this.items = new Map();
  }
  get length() {
    return this.items.size;
  }
  /** @param {number} i */
  key(i) {
    return [...this.items.keys()][i] ?? null;
  }
  /** @param {string} k */
  getItem(k) {
    return this.items.get(k) ?? null;
  }
  /** @param {string} k @param {string} v */
  setItem(k, v) {
    this.items.set(k, String(v));
  }
  /** @param {string} k */
  removeItem(k) {
    this.items.delete(k);
  }
}

const DAY = 24 * 3600 * 1000;
const NOW = Date.UTC(2026, 11, 3);

test("drafts of ended conversations and drafts older than 14 days go; the rest stay", () => {
  const storage = new MapStorage();
  globalThis.localStorage = /** @type {Storage} */ (/** @type {unknown} */ (storage));
  saveDraft("ana", "c_open", "still typing", NOW - DAY);
  saveDraft("ana", "c_ended", "never sent", NOW - DAY);
  saveDraft("ana", "c_old", "forgotten", NOW - 15 * DAY);
  saveDraft("ana", "c_edge", "exactly 14 days", NOW - MAX_DRAFT_AGE_MS);
  saveDraft("bruno", "c_ended", "someone else's", NOW - 30 * DAY);
  storage.setItem("switchboard.sound", "on");
  storage.setItem(draftKey("ana", "c_legacy"), "from before drafts were dated");

  const removed = pruneDrafts("ana", (id) => id === "c_ended", NOW);
  assert.equal(removed, 2);
  assert.equal(loadDraft("ana", "c_open"), "still typing");
  assert.equal(loadDraft("ana", "c_ended"), "");
  assert.equal(loadDraft("ana", "c_old"), "");
  assert.equal(loadDraft("ana", "c_edge"), "exactly 14 days");
  assert.equal(loadDraft("bruno", "c_ended"), "someone else's", "another agent's drafts are theirs to prune");
  assert.equal(storage.getItem("switchboard.sound"), "on");
  // An undated draft stays, dated now: it ages out 14 days from here.
  assert.equal(loadDraft("ana", "c_legacy"), "from before drafts were dated");
  assert.deepEqual(parseDraft(storage.getItem(draftKey("ana", "c_legacy")) ?? ""), { text: "from before drafts were dated", at: NOW });
  assert.equal(pruneDrafts("ana", () => false, NOW + MAX_DRAFT_AGE_MS + 1), 3, "c_open, c_edge and c_legacy age out in their turn");
  assert.equal(loadDraft("ana", "c_legacy"), "");
});

test("staleDrafts reads texts that look like JSON as texts", () => {
  const entries = /** @type {Array<[string, string]>} */ ([
    [draftKey("ana", "c1"), '{"not": "a draft"}'],
    [draftKey("ana", "c2"), JSON.stringify({ text: "dated", at: NOW - 20 * DAY })],
  ]);
  assert.deepEqual(staleDrafts(entries, "ana", () => false, NOW), { stale: [draftKey("ana", "c2")], undated: [draftKey("ana", "c1")] });
  assert.deepEqual(parseDraft('{"not": "a draft"}'), { text: '{"not": "a draft"}', at: null });
});

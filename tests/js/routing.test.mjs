// Routing's pure parts: what a timeline entry says, the offer's countdown,
// the floor's waiting time and which Inbox rows wait for a one-click assign.
import assert from "node:assert/strict";
import { test } from "node:test";

import { setLanguage } from "../../server/static/js/i18n.js";
import { secondsLeft, timelineText, waited, waitingRows } from "../../server/static/js/routing.js";

const names = { ana: "Ana Souza", bruno: "Bruno Díaz" };
/** @param {string | null} id */
const name = (id) => (id ? names[id] ?? id : "nobody");
const queue = (id) => ({ support: "Support" })[id] ?? id;

test("timeline entries say who did what, in the agent's language", () => {
  setLanguage("en");
  assert.equal(timelineText({ event: "offered", agent_id: "ana" }, name, queue), "Offered to Ana Souza");
  assert.equal(timelineText({ event: "offered", agent_id: "bruno", by: "ana" }, name, queue), "Ana Souza transferred it to Bruno Díaz");
  assert.equal(timelineText({ event: "timed_out", agent_id: "ana" }, name, queue), "Ana Souza did not answer in time");
  assert.equal(timelineText({ event: "transferred", by: "ana", queue_id: "support" }, name, queue), "Ana Souza transferred it to Support");
  setLanguage("pt-BR");
  assert.equal(timelineText({ event: "accepted", agent_id: "ana" }, name, queue), "Ana Souza aceitou");
  setLanguage("en");
});

test("an offer counts down in whole seconds and never below zero", () => {
  const offer = { conversation_id: "c", agent_id: "ana", at: 0, deadline: 30_000 };
  assert.equal(secondsLeft(offer, 0), 30);
  assert.equal(secondsLeft(offer, 29_001), 1);
  assert.equal(secondsLeft(offer, 31_000), 0);
});

test("the longest wait reads m:ss", () => {
  assert.equal(waited(null, 5), "–");
  assert.equal(waited(0, 125_000), "2:05");
});

test("the mirror keeps the agent's status, what rings and the floors", async () => {
  const { Mirror } = await import("../../server/static/js/mirror.js");
  const { snapshot, summary } = await import("./fixtures.mjs");
  const m = new Mirror();
  const status = { agent_id: "ana", status: "offline", since: 0, load: 0, capacity: 100 };
  m.load(snapshot([], [], { status, offers: [], floors: [] }), 0);
  assert.equal(m.status?.status, "offline");
  m.apply({ type: "agent.status", agent: { ...status, status: "available" } });
  assert.equal(m.status?.status, "available");
  const offer = { conversation_id: "c1", agent_id: "ana", at: 0, deadline: 30_000 };
  const changes = m.apply({ type: "offer.rung", offer, conversation: summary("c1", 2, { offer }) });
  assert.deepEqual(changes, [{ kind: "offer.rung", conversationId: "c1" }]);
  assert.deepEqual([...m.offers.keys()], ["c1"]);
  m.apply({ type: "offer.withdrawn", conversation_id: "c1", reason: "timed_out" });
  assert.equal(m.offers.size, 0);
  const floor = { queue_id: "sales", waiting: 2, oldest_waiting_at: 5, ringing: [], agents: [] };
  m.apply({ type: "floor.updated", floor });
  assert.equal(m.floors.get("sales")?.waiting, 2);
});

test("a supervisor's one-click assign lists the queue's rows the floor does not show ringing", async () => {
  const { summary } = await import("./fixtures.mjs");
  const inbox = [summary("c1"), summary("c2"), summary("c3", 1, { queue_id: "support" })];
  const offer = { conversation_id: "c2", agent_id: "ana", at: 0, deadline: 30_000 };
  const floor = { queue_id: "sales", waiting: 1, oldest_waiting_at: 1, ringing: [offer], agents: [] };
  // Inbox rows carry no offer: only the floor says c2 rings.
  assert.deepEqual(waitingRows(floor, inbox).map((c) => c.id), ["c1"]);
  assert.deepEqual(waitingRows({ ...floor, ringing: [] }, inbox).map((c) => c.id), ["c1", "c2"]);
});

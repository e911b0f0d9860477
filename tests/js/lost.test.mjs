import assert from "node:assert/strict";
import test from "node:test";

import { setLanguage } from "../../server/static/js/i18n.js";
import { lossText } from "../../server/static/js/lost.js";

const names = { ana: "Ana Souza", bruno: "Bruno Díaz", sofia: "Sofía Ramos" };
/** @param {string | null} id */
const name = (id) => (id ? names[/** @type {keyof typeof names} */ (id)] ?? id : "nobody");

test("a loss says who did it, and to whom", () => {
  setLanguage("en");
  assert.equal(lossText({ reason: "claimed", agentId: "bruno", by: "bruno" }, "ana", name), "Bruno Díaz took this conversation.");
  assert.equal(lossText({ reason: "reassigned", agentId: "bruno", by: "sofia" }, "ana", name), "Sofía Ramos assigned this conversation to Bruno Díaz.");
  assert.equal(lossText({ reason: "assigned", agentId: "bruno", by: "sofia" }, "ana", name), "Sofía Ramos assigned this conversation to Bruno Díaz.");
  assert.equal(lossText({ reason: "reassigned", agentId: "bruno", by: null }, "ana", name), "This conversation was transferred to Bruno Díaz.");
  assert.equal(lossText({ reason: "sent_to_inbox", agentId: null, by: "sofia" }, "ana", name), "Sofía Ramos sent this conversation back to the Inbox.");
  assert.equal(lossText(undefined, "ana", name), "This conversation is no longer available to you.");
});

test("the agent's own moves are no loss", () => {
  setLanguage("en");
  assert.equal(lossText({ reason: "claimed", agentId: "ana", by: "ana" }, "ana", name), null);
  assert.equal(lossText({ reason: "sent_to_inbox", agentId: null, by: "ana" }, "ana", name), null);
  assert.equal(lossText({ reason: "ended", agentId: null, by: "ana" }, "ana", name), null);
});

test("in Spanish and Portuguese too", () => {
  setLanguage("es");
  assert.equal(lossText({ reason: "claimed", agentId: "bruno", by: "bruno" }, "ana", name), "Bruno Díaz tomó esta conversación.");
  setLanguage("pt-BR");
  assert.equal(lossText({ reason: "claimed", agentId: "bruno", by: "bruno" }, "ana", name), "Bruno Díaz pegou esta conversa.");
  setLanguage("en");
});

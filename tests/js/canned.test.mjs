// Canned responses in the editor (server/static/js/canned.js): the "/query"
// being typed, which responses match, the variables, the insertion.
import assert from "node:assert/strict";
import { test } from "node:test";

import { editable, fill, fold, insert, matches, slashQuery } from "../../server/static/js/canned.js";

const response = (id, shortcut, text) => ({ id, shortcut, text, updated_at: 1, updated_by: "sofia" });
const SALES = {
  list_id: "queue:sales", version: 3, editors: ["role:supervisor"],
  responses: [response("r1", "Olá", "Olá {{contact.name}}!"), response("r2", "preço", "O preço é R$ 10."), response("r3", "tchau", "Obrigado, até logo")],
};
const MINE = { list_id: "agent:ana", version: 1, editors: ["agent:ana"], responses: [response("r9", "obrigado", "Obrigado pela paciência!")] };

test("a slash starts a query at the start of the text or after a space, up to the caret", () => {
  assert.deepEqual(slashQuery("/ol", 3), { start: 0, query: "ol" });
  assert.deepEqual(slashQuery("Oi! /pre", 8), { start: 4, query: "pre" });
  assert.deepEqual(slashQuery("linha\n/", 7), { start: 6, query: "" });
  assert.deepEqual(slashQuery("/olá", 4), { start: 0, query: "olá" });
  assert.equal(slashQuery("http://x", 8), null); // not after a space
  assert.equal(slashQuery("/ola mundo", 10), null); // a space ended it
  assert.deepEqual(slashQuery("/ola mundo", 4), { start: 0, query: "ola" }); // the caret decides
});

test("matches are accent- and case-insensitive: shortcuts starting with the query first, own list first", () => {
  assert.equal(fold("Olá PREÇO"), "ola preco");
  assert.deepEqual(matches([SALES, MINE], "OLA").map((m) => m.response.id), ["r1"]);
  assert.deepEqual(matches([SALES, MINE], "preco").map((m) => m.response.id), ["r2"]);
  // "obr": the shortcut /obrigado starts with it; /tchau only holds it in its text.
  assert.deepEqual(matches([SALES, MINE], "obr").map((m) => [m.listId, m.response.id]), [["agent:ana", "r9"], ["queue:sales", "r3"]]);
  assert.deepEqual(matches([SALES, MINE], "").map((m) => m.response.id), ["r9", "r1", "r2", "r3"]);
  assert.deepEqual(matches([SALES], "zzz"), []);
});

test("variables are filled; an unknown one stays as written", () => {
  assert.equal(fill("Olá {{contact.name}}, aqui é {{ agent.name }}. {{other}}", { contact: "Maria", agent: "Ana" }), "Olá Maria, aqui é Ana. {{other}}");
});

test("inserting replaces the /query and puts the caret after the text", () => {
  assert.deepEqual(insert("Oi! /ol e mais", 4, 7, "Olá Maria!"), { value: "Oi! Olá Maria! e mais", caret: 14 });
});

test("the lists an agent keeps are those whose editors hold one of its principals", () => {
  assert.deepEqual(editable([SALES, MINE], ["agent:ana", "queue:sales"]).map((l) => l.list_id), ["agent:ana"]);
  assert.deepEqual(editable([SALES, MINE], ["agent:sofia", "role:supervisor"]).map((l) => l.list_id), ["queue:sales"]);
});

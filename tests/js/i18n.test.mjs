import assert from "node:assert/strict";
import test from "node:test";

import { CATALOGS, pickLanguage, setLanguage, t } from "../../server/static/js/i18n.js";

test("the browser's language picks the closest catalog", () => {
  assert.equal(pickLanguage(["pt-PT", "en"]), "pt-BR");
  assert.equal(pickLanguage(["es-419"]), "es");
  assert.equal(pickLanguage(["fr", "de"]), "en");
  assert.equal(pickLanguage(["fr", "es"]), "es");
});

test("placeholders are filled and plural forms follow the language", () => {
  CATALOGS.en["test.items"] = { one: "{count} item", other: "{count} items" };
  CATALOGS.en["test.hello"] = "Hello {name}";
  setLanguage("en");
  assert.equal(t("test.items", { count: 1 }), "1 item");
  assert.equal(t("test.items", { count: 2 }), "2 items");
  assert.equal(t("test.hello", { name: "Ana" }), "Hello Ana");
  assert.equal(t("test.missing"), "test.missing");
  delete CATALOGS.en["test.items"];
  delete CATALOGS.en["test.hello"];
});

test("every catalog has exactly the English keys", () => {
  const keys = Object.keys(CATALOGS.en).sort();
  for (const [lang, catalog] of Object.entries(CATALOGS)) {
    assert.deepEqual(Object.keys(catalog).sort(), keys, `catalog ${lang}`);
  }
});

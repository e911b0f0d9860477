import assert from "node:assert/strict";
import test from "node:test";

import { setLanguage } from "../../server/static/js/i18n.js";
import { duration, previewLabel, previewText, shownText, size, typeName } from "../../server/static/js/media.js";

test("lengths read like a player's", () => {
  assert.equal(duration(14_000), "0:14");
  assert.equal(duration(65_400), "1:05");
  assert.equal(duration(3_725_000), "1:02:05");
  assert.equal(duration(-5), "0:00");
});

test("list previews name what was sent, in the agent's language", () => {
  setLanguage("en");
  assert.equal(previewLabel("image", null), "📷 Photo");
  assert.equal(previewLabel("voice", 14_000), "🎤 Voice message (0:14)");
  assert.equal(previewLabel("voice", null), "🎤 Voice message");
  assert.equal(previewLabel(null, null), null);
  assert.equal(previewLabel("order", null), null); // not ours to name: the server's preview stays
  setLanguage("pt-BR");
  assert.equal(previewLabel("voice", 14_000), "🎤 Mensagem de voz (0:14)");
  setLanguage("es");
  assert.equal(previewLabel("location", null), "📍 Ubicación");
  const row = /** @type {any} */ ({ preview: "Hola", preview_kind: null, preview_duration_ms: null });
  assert.equal(previewText(row), "Hola");
  assert.equal(previewText({ ...row, preview: "[image] x", preview_kind: "image" }), "📷 Foto");
  setLanguage("en");
});

test("a bubble shows the caption, not the placeholder", () => {
  const base = /** @type {any} */ ({ text: "[image] Broken part", meta: { caption: "Broken part" }, media: { kind: "image" }, location: null, contacts: [] });
  assert.equal(shownText(base), "Broken part");
  assert.equal(shownText({ ...base, meta: {} }), "");
  assert.equal(shownText({ ...base, media: null, text: "hello" }), "hello");
  assert.equal(shownText({ ...base, media: null, location: { latitude: 1, longitude: 2 }, meta: {} }), "");
});

test("documents say their size and type", () => {
  assert.match(size(820 * 1024), /^820 KB$/);
  assert.match(size(4.2 * 1024 * 1024), /^4[.,]2 MB$/);
  assert.equal(size(12), "12 B");
  assert.equal(typeName(/** @type {any} */ ({ filename: "fatura.pdf", mime_type: "application/pdf" })), "PDF");
  assert.equal(typeName(/** @type {any} */ ({ filename: "", mime_type: "application/zip" })), "ZIP");
});

test("a file the channel cannot take is refused before upload, saying why", async () => {
  const { checkFile } = await import("../../server/static/js/attach.js");
  setLanguage("en");
  assert.equal(checkFile({ name: "a.jpg", type: "image/jpeg", size: 1000 }, "whatsapp"), null);
  assert.match(String(checkFile({ name: "big.jpg", type: "image/jpeg", size: 6 * 1024 * 1024 }, "whatsapp")), /big\.jpg is 6 MB: over the 5 MB limit/);
  assert.equal(checkFile({ name: "big.jpg", type: "image/jpeg", size: 6 * 1024 * 1024 }, "messenger"), null);
  assert.match(String(checkFile({ name: "x.exe", type: "application/x-msdownload", size: 10 }, "whatsapp")), /x\.exe cannot be sent on WhatsApp/);
  assert.match(String(checkFile({ name: "a.gif", type: "image/gif", size: 10 }, "whatsapp")), /cannot be sent/);
  assert.match(String(checkFile({ name: "e.pdf", type: "application/pdf", size: 0 }, "whatsapp")), /empty/);
});

// The web app's words: every server error code has a message in every
// catalog, and no user-facing string is written outside the catalogs (the
// scripts and index.html are scanned). The browser side of the same check,
// the es and pt-BR screens with no English left, is
// tests/browser/test_webapp_languages.py.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import test from "node:test";

import { CATALOGS, chooseLanguage, initLanguage, language, setLanguage, t } from "../../server/static/js/i18n.js";
import * as fmt from "../../server/static/js/format.js";

const STATIC = new URL("../../server/static/", import.meta.url);
const JS = new URL("js/", STATIC);

/** The ErrorCode union of the generated declarations (from protocol/errors.py). */
function errorCodes() {
  const dts = readFileSync(new URL("protocol.d.ts", JS), "utf8");
  const match = dts.match(/export type ErrorCode = ([^;]+);/);
  assert.ok(match, "protocol.d.ts declares ErrorCode");
  return [...match[1].matchAll(/"(\w+)"/g)].map((m) => m[1]);
}

test("every error code of the protocol has a message in every catalog", () => {
  const codes = errorCodes();
  assert.ok(codes.length > 10);
  for (const [lang, catalog] of Object.entries(CATALOGS)) {
    const missing = codes.filter((code) => typeof catalog[`error.${code}`] !== "string");
    assert.deepEqual(missing, [], `catalog ${lang} lacks messages for`);
  }
});

test("translations are real: es and pt-BR differ from English on most keys", () => {
  const en = CATALOGS.en;
  for (const lang of ["es", "pt-BR"]) {
    const same = Object.keys(en).filter((k) => JSON.stringify(CATALOGS[lang][k]) === JSON.stringify(en[k]));
    // brand names, "Supervisor", "Offline", "{index} of {total}"-like shapes may coincide; not more
    assert.ok(same.length < Object.keys(en).length / 20, `${lang}: ${same.length} entries equal to English: ${same}`);
  }
});

test("placeholders are the same in every language", () => {
  const names = (/** @type {unknown} */ entry) =>
    [...new Set([...JSON.stringify(entry).matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort().join(",");
  for (const [key, entry] of Object.entries(CATALOGS.en)) {
    for (const lang of ["es", "pt-BR"]) assert.equal(names(CATALOGS[lang][key]), names(entry), `${lang} ${key}`);
  }
});

test("the chosen language is remembered and wins over the browser's", () => {
  /** @type {Map<string, string>} */
  const data = new Map();
  const storage = /** @type {Storage} */ (/** @type {unknown} */ ({ getItem: (k) => data.get(k) ?? null, setItem: (k, v) => data.set(k, v) }));
  assert.equal(initLanguage(storage, ["pt-BR"]), "pt-BR");
  chooseLanguage("es", storage);
  assert.equal(initLanguage(storage, ["pt-BR"]), "es");
  data.set("switchboard.lang", "klingon");
  assert.equal(initLanguage(storage, ["pt-BR"]), "pt-BR");
  setLanguage("en");
});

test("numbers, dates, countdowns and relative times follow the language", () => {
  const at = Date.UTC(2026, 2, 3, 12, 0);
  setLanguage("en");
  assert.equal(fmt.number(12345), "12,345");
  assert.equal(fmt.relativeTime(at - 5 * 60_000, at), "5 minutes ago");
  assert.equal(fmt.countdown(2 * 86400_000 + 3 * 3600_000), "2d 3h");
  const enDay = fmt.dayName(at);
  setLanguage("es");
  assert.equal(language(), "es");
  assert.equal(fmt.number(12345), "12.345");
  assert.equal(fmt.relativeTime(at - 5 * 60_000, at), "hace 5 minutos");
  assert.equal(fmt.countdown(2 * 86400_000 + 3 * 3600_000), "2 d 3 h");
  assert.match(fmt.dayName(at), /marzo/);
  assert.notEqual(fmt.dayName(at), enDay);
  assert.equal(fmt.delivery("read")?.label, "Leído");
  setLanguage("pt-BR");
  assert.equal(fmt.number(12345), "12.345");
  assert.equal(fmt.relativeTime(at - 2 * 3600_000, at), "há 2 horas");
  assert.match(fmt.dayName(at), /março/);
  assert.equal(t("panel.unread_total", { count: 1, n: "1" }), "1 mensagem não lida");
  assert.equal(t("panel.unread_total", { count: 3, n: "3" }), "3 mensagens não lidas");
  setLanguage("en");
});

// ------------------------------------------------------------------ no string outside the catalogs

/** Names that are the same in every language: brands and symbols. */
const NOT_WORDS = new Set(["WhatsApp", "Messenger", "Switchboard"]);

/**
 * Does a literal hold words a person reads (not a symbol or a brand; with
 * `codesToo`, not a lowercase code or class name either)?
 * @param {string} text @param {boolean} [codesToo]
 */
function isWords(text, codesToo = false) {
  const stripped = text.replace(/\$\{[^}]*\}/g, " ").trim();
  if (codesToo && /^[a-z0-9_.:-]+$/.test(stripped)) return false; // a code, a key, a class name
  return /\p{L}{2,}/u.test(stripped) && !NOT_WORDS.has(stripped);
}

test("no user-facing string literal in the scripts: text, titles, labels and placeholders go through t()", () => {
  // A literal (quoted or template) given to what the agent reads or hears.
  const sinks = [
    /\b(?:text|title|placeholder|"aria-label"|alt)\s*:\s*(["'`])((?:\\.|(?!\1).)*)\1/g,
    /\.(?:textContent|title|placeholder|innerText|ariaLabel)\s*=\s*(["'`])((?:\\.|(?!\1).)*)\1/g,
    /setAttribute\(\s*"(?:aria-label|title|placeholder|alt)"\s*,\s*(["'`])((?:\\.|(?!\1).)*)\1/g,
    /\b(?:toast|showLogin|logout|announceText)\(\s*(["'`])((?:\\.|(?!\1).)*)\1/g,
  ];
  // a fallback text drawn as a child (`s.preview || "No messages yet"`); codes and class names pass
  const fallback = /(?:\|\||\?\?)\s*(["'`])((?:\\.|(?!\1).)*)\1/g;
  const found = [];
  // client.js and mirror.js speak the protocol and draw nothing: what they
  // raise reaches the agent through alerts.js errorText (code → catalog).
  const drawing = readdirSync(JS).filter((f) => f.endsWith(".js") && f !== "client.js" && f !== "mirror.js");
  for (const file of drawing) {
    const source = readFileSync(new URL(file, JS), "utf8");
    for (const sink of sinks) {
      for (const m of source.matchAll(sink)) if (isWords(m[2])) found.push(`${file}: ${m[0]}`);
    }
    for (const m of source.matchAll(fallback)) if (isWords(m[2], true)) found.push(`${file}: ${m[0]}`);
  }
  assert.deepEqual(found, []);
});

test("index.html: every text and label has a catalog key (data-i18n, data-i18n-<attr>)", () => {
  const html = readFileSync(new URL("index.html", STATIC), "utf8").replace(/<!--[\s\S]*?-->/g, "");
  const found = [];
  // Text directly inside an element: the element must carry data-i18n.
  for (const m of html.matchAll(/<(\w+)([^>]*)>([^<]+)</g)) {
    const [, tag, attrs, text] = m;
    if (tag === "title" || tag === "script" || tag === "style" || !isWords(text)) continue;
    if (!/\bdata-i18n="[\w.]+"/.test(attrs)) found.push(`<${tag}${attrs}>${text.trim()}`);
  }
  // Attributes a person reads: each with its data-i18n-<attr> key.
  for (const m of html.matchAll(/<(\w+)([^>]*)>/g)) {
    for (const attr of ["title", "aria-label", "placeholder", "alt"]) {
      const value = m[2].match(new RegExp(`\\s${attr}="([^"]*)"`));
      if (value && isWords(value[1]) && !m[2].includes(`data-i18n-${attr}=`)) found.push(`${attr} of <${m[1]}${m[2]}>`);
    }
  }
  assert.deepEqual(found, []);
  // …and every key it names exists.
  const keys = [...html.matchAll(/data-i18n(?:-[\w-]+)?="([\w.]+)"/g)].map((m) => m[1]);
  assert.deepEqual(keys.filter((k) => !(k in CATALOGS.en)), []);
});

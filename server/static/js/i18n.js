// The app's words. Every user-facing string goes through t(key, vars); the
// catalogs in ./locales hold one entry per key for each language (English is
// the fallback). An entry is a string with {name} placeholders, or, for counts,
// an object of plural forms chosen by Intl.PluralRules ({one, other, ...}).

import en from "./locales/en.js";
import es from "./locales/es.js";
import ptBR from "./locales/pt-BR.js";

/** @typedef {string | Record<string, string>} Entry */

/** @type {Record<string, Record<string, Entry>>} */
export const CATALOGS = { en, es, "pt-BR": ptBR };

export const LANGUAGES = /** @type {const} */ (["en", "es", "pt-BR"]);

let current = "en";
let plurals = new Intl.PluralRules("en");

/**
 * The supported language closest to one of `wanted` (e.g. navigator.languages):
 * "pt", "pt-PT" → "pt-BR"; "es-419" → "es"; anything else → "en".
 * @param {readonly string[]} wanted
 */
export function pickLanguage(wanted) {
  for (const tag of wanted) {
    const base = tag.toLowerCase().split("-")[0];
    if (base === "pt") return "pt-BR";
    if (base === "es") return "es";
    if (base === "en") return "en";
  }
  return "en";
}

/** @param {string} lang */
export function setLanguage(lang) {
  current = lang in CATALOGS ? lang : "en";
  plurals = new Intl.PluralRules(current);
}

export function language() {
  return current;
}

export const LANGUAGE_KEY = "switchboard.lang";

/**
 * The language at start-up: the one the agent chose (remembered in
 * localStorage), else the browser's. `<html lang>` follows it.
 * @param {Storage | null} [storage] @param {readonly string[]} [wanted]
 */
export function initLanguage(storage = globalThis.localStorage ?? null, wanted = globalThis.navigator?.languages ?? []) {
  const chosen = storage?.getItem(LANGUAGE_KEY) ?? null;
  setLanguage(chosen && chosen in CATALOGS ? chosen : pickLanguage(wanted));
  return current;
}

/**
 * The agent picked a language in the switch: remember it and use it.
 * @param {string} lang @param {Storage | null} [storage]
 */
export function chooseLanguage(lang, storage = globalThis.localStorage ?? null) {
  setLanguage(lang);
  storage?.setItem(LANGUAGE_KEY, current);
  return current;
}

/** The attributes a static element may name a key for: data-i18n-<attr>="key". */
const ATTRIBUTES = ["title", "aria-label", "placeholder"];

/**
 * Fill the static page (index.html) in the current language: an element's
 * text from data-i18n="key", its title / aria-label / placeholder from
 * data-i18n-title="key" and so on; `<html lang>` follows.
 * @param {ParentNode & Node} root
 */
export function translatePage(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(/** @type {string} */ (node.getAttribute("data-i18n")));
  for (const attr of ATTRIBUTES) {
    for (const node of root.querySelectorAll(`[data-i18n-${attr}]`)) node.setAttribute(attr, t(/** @type {string} */ (node.getAttribute(`data-i18n-${attr}`))));
  }
  const doc = root.ownerDocument ?? /** @type {Document} */ (root);
  doc.documentElement.lang = current;
}

/**
 * @param {string} key
 * @param {Record<string, string | number>} [vars]
 */
export function t(key, vars = {}) {
  /** @type {Entry | undefined} */
  const entry = CATALOGS[current][key] ?? en[key];
  if (entry === undefined) return key;
  let text = entry;
  if (typeof entry !== "string") {
    const count = Number(vars.count ?? 0);
    text = entry[plurals.select(count)] ?? entry.other ?? "";
  }
  return /** @type {string} */ (text).replace(/\{(\w+)\}/g, (whole, name) =>
    name in vars ? String(vars[name]) : whole,
  );
}

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

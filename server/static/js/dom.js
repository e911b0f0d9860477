// DOM helpers shared by the screens: lookup by id, a small element builder,
// avatars, and `reconcile`, the keyed update every list and the thread use.

/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @returns {T}
 */
export function $(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing`);
  return /** @type {T} */ (node);
}

/**
 * A small element builder.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {Array<Node | string | null | undefined | false>} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = String(value);
    else if (key === "text") node.textContent = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

/**
 * One keyed child: `key` names it among its siblings, `stamp` says what it
 * shows (equal stamp: the existing node is kept as is), `build` makes it.
 * @typedef {object} Keyed
 * @property {string} key
 * @property {string} stamp
 * @property {() => Element} build
 */

/** @type {WeakMap<Element, { key: string, stamp: string }>} */
const keys = new WeakMap();

/**
 * Make `parent`'s children the `items`, in order, touching only what changed:
 * a node whose stamp is unchanged is reused untouched (kept where it is when
 * it is already in place), a changed one is rebuilt, a missing one removed.
 * Children `reconcile` did not make are removed. Returns how many nodes were
 * built (what changed), which tests and the console can check.
 * @param {Element} parent
 * @param {Keyed[]} items
 * @returns {number}
 */
export function reconcile(parent, items) {
  /** @type {Map<string, Element>} */
  const old = new Map();
  for (const child of [...parent.children]) {
    const k = keys.get(child);
    if (k && !old.has(k.key)) old.set(k.key, child);
    else child.remove();
  }
  for (const node of [...parent.childNodes]) if (node.nodeType !== Node.ELEMENT_NODE) node.remove();
  let built = 0;
  /** @type {Element | null} */
  let at = parent.firstElementChild;
  for (const item of items) {
    let node = old.get(item.key);
    if (node && keys.get(node)?.stamp !== item.stamp) {
      const fresh = item.build();
      node.replaceWith(fresh);
      if (at === node) at = fresh;
      node = fresh;
      built++;
    } else if (!node) {
      node = item.build();
      built++;
    }
    old.delete(item.key);
    keys.set(node, { key: item.key, stamp: item.stamp });
    if (node === at) at = node.nextElementSibling;
    else parent.insertBefore(node, at);
  }
  for (const node of old.values()) node.remove();
  return built;
}

/** @param {ConversationSummary} s @param {string} extra */
export function avatar(s, extra) {
  const initials = s.contact.initials;
  return h("div", { class: `avatar ${s.channel} ${extra}${initials ? "" : " unknown"}`, "aria-hidden": "true" }, [
    initials ? h("span", { text: initials }) : personIcon(),
    h("span", { class: `badge ${s.channel}` }),
  ]);
}

function personIcon() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "person");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", "M12 12a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9Zm0 2c-4.4 0-8 2.2-8 5v2h16v-2c0-2.8-3.6-5-8-5Z");
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

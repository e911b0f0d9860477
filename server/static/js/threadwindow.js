// A long thread draws only what is seen (issue 18). The thread's items
// (day separators, messages, the "Load earlier" button) are not one height,
// so each drawn item is measured and its height kept (by key); items never
// drawn count as ESTIMATE. Only the items within OVERSCAN px of the viewport
// get DOM nodes; a spacer above and below stands for the rest, so the
// scrollbar is the whole loaded thread's.
//
// Where the view is after a draw:
// - at the end, if the agent was at the end ("stuck": within NEAR_END px)
//   and nothing asks otherwise: new messages scroll into view;
// - else on the same item at the same place on screen (the anchor: the
//   first item whose bottom is below the viewport's top), so an older page
//   arriving above, a new message below, or a thumbnail growing never moves
//   what the agent reads; new messages then count on the "new messages"
//   pill (`onUnseen`);
// - on a target item (`reveal`: a search match, a quoted message).
// Scrolling near the top asks for the next older page (`onNearTop`).
//
// Home and End on the thread are the window's own (`toStart`, `toEnd`):
// instant, not the browser's smooth keyboard scroll. Chromium keeps a smooth
// scroll running on its compositor while a draw moves the view (an older
// page arriving, the anchoring's adjustments), and a Home pressed just after
// such a move could be cut short or lost altogether; the agent had to press
// it again.
//
// The pure parts (prefix, span, nearEnd) are unit-tested under node --test
// (tests/js/threadwindow.test.mjs); the class is driven in Chromium
// (tests/browser/test_webapp_thread.py).

import { reconcile } from "./dom.js";

/** @typedef {import('./dom.js').Keyed} Keyed */

/** A never-measured item's height in px (a one-line bubble and its gap). */
export const ESTIMATE = 64;
/** Drawn beyond the viewport, above and below, in px. */
export const OVERSCAN = 600;
/** Within this of the bottom is "at the end" (new messages follow). */
export const NEAR_END = 80;
/** Within this of the top, the next older page is asked for. */
export const NEAR_TOP = 800;

/**
 * One item of the thread. Unlike `Keyed`, the stamp is computed only for
 * the items drawn (a 5,000-message thread stamps a screenful).
 * @typedef {object} Item
 * @property {string} key
 * @property {() => string} stamp
 * @property {() => Element} build
 */

/**
 * Where each item starts: `at[i]` is the sum of the heights of items before
 * i, `at[n]` the whole height.
 * @param {readonly string[]} keys @param {ReadonlyMap<string, number>} heights @param {number} [estimate]
 * @returns {Float64Array}
 */
export function prefix(keys, heights, estimate = ESTIMATE) {
  const at = new Float64Array(keys.length + 1);
  for (let i = 0; i < keys.length; i++) at[i + 1] = at[i] + (heights.get(keys[i]) ?? estimate);
  return at;
}

/**
 * The item under height y (the last whose start is at or above y).
 * @param {Float64Array} at @param {number} y
 */
export function indexAt(at, y) {
  let lo = 0;
  let hi = at.length - 2;
  if (hi < 0) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (at[mid] <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Which items to draw for the band [from, to) of the thread's height:
 * items first..end-1 (at least one when there are any).
 * @param {Float64Array} at @param {number} from @param {number} to
 * @returns {{ first: number, end: number }}
 */
export function span(at, from, to) {
  const n = at.length - 1;
  if (n <= 0) return { first: 0, end: 0 };
  const first = indexAt(at, Math.max(0, Math.min(from, at[n])));
  const last = indexAt(at, Math.max(0, to));
  return { first, end: Math.min(n, Math.max(first + 1, last + 1)) };
}

/** At the end of a scroller (new messages follow). @param {number} scrollHeight @param {number} scrollTop @param {number} clientHeight */
export function nearEnd(scrollHeight, scrollTop, clientHeight) {
  return scrollHeight - scrollTop - clientHeight < NEAR_END;
}

/**
 * The pill's count after a draw: new messages (seq above the newest seen)
 * count while the agent is away from the end; at the end it is zero.
 * @param {number} unseen @param {number} seenNewest @param {number} newest @param {boolean} stuck
 */
export function unseenAfter(unseen, seenNewest, newest, stuck) {
  if (stuck) return 0;
  return seenNewest > 0 && newest > seenNewest ? unseen + (newest - seenNewest) : unseen;
}

/**
 * Where a key sends the view, when the window handles it itself: Home to
 * the start, End to the end (with Ctrl too: the thread is one scroller);
 * null for every other key and for Home/End with Shift, Alt or Meta (a
 * selection, the browser's own shortcuts).
 * @param {{ key: string, shiftKey: boolean, altKey: boolean, metaKey: boolean }} e
 * @returns {"start" | "end" | null}
 */
export function keyTarget(e) {
  if (e.shiftKey || e.altKey || e.metaKey) return null;
  return e.key === "Home" ? "start" : e.key === "End" ? "end" : null;
}

/**
 * @typedef {object} WindowOptions
 * @property {() => void} [onNearTop]  scrolled near the top
 * @property {(count: number) => void} [onUnseen]  the pill's count changed
 * @property {(key: string) => boolean} [steady]  an item that keeps its place among the others (a
 *   message; not the "Load earlier" button or a day's separator, which move when a page comes):
 *   only these anchor the view
 */

export class ThreadWindow {
  /** @param {HTMLElement} box the scroller (#thread) @param {WindowOptions} [options] */
  constructor(box, options = {}) {
    this.box = box;
    this.options = options;
    /** @type {Map<string, number>} measured heights (with the gap), by key */
    this.heights = new Map();
    /** @type {Item[]} */
    this.items = [];
    /** @type {{ first: number, end: number }} */
    this.drawn = { first: 0, end: 0 };
    this.stuck = true;
    this.follow = true;
    this.size = -1;
    this.unseen = 0;
    this.newest = 0;
    /** @type {string | null} */
    this.target = null;
    this.frame = 0;
    /** Draws so far (for tests and the console). */
    this.draws = 0;
    box.addEventListener("scroll", () => this.scrolled(), { passive: true });
    box.addEventListener("keydown", (e) => this.keyed(e));
    // A drawn item changed height (an image loaded, a reaction came): draw again, anchored.
    this.resizes = typeof ResizeObserver === "function" ? new ResizeObserver(() => this.later()) : null;
  }

  /** A new conversation: forget the old one's heights and place. */
  reset() {
    this.heights.clear();
    this.items = [];
    this.stuck = true;
    this.target = null;
    this.newest = 0;
    this.setUnseen(0);
  }

  /**
   * Draw the thread's items (all of them: only those in view get nodes).
   * @param {Item[]} items @param {{ newest: number, follow: boolean, size: number }} state
   *   newest: the newest message's seq; follow: stick to the end when there; size: the
   *   thread's length for screen readers (aria-setsize of each drawn article, -1 if unknown)
   */
  draw(items, { newest, follow, size }) {
    this.items = items;
    this.follow = follow;
    this.size = size;
    const count = unseenAfter(this.unseen, this.newest, newest, this.stuck && follow);
    this.newest = Math.max(this.newest, newest);
    this.paint();
    this.setUnseen(this.stuck && follow ? 0 : count);
  }

  /** Scroll to the end (the pill, a send). */
  toEnd() {
    this.stuck = true;
    this.target = null;
    this.paint();
    this.setUnseen(0);
  }

  /** Scroll to the start of what is loaded (Home), at once; near the top, the next older page is asked for. */
  toStart() {
    this.stuck = false;
    this.target = null;
    this.box.scrollTop = 0;
    this.options.onNearTop?.();
  }

  /** Home and End on the thread (not in a field inside it). @param {KeyboardEvent} e */
  keyed(e) {
    const where = keyTarget(e);
    if (!where || e.defaultPrevented) return;
    if (e.target instanceof Element && e.target !== this.box && e.target.closest("input, textarea, select, [contenteditable]")) return;
    e.preventDefault();
    if (where === "start") this.toStart();
    else this.toEnd();
  }

  /**
   * Draw with an item in the middle of the view; returns its node.
   * @param {string} key @returns {HTMLElement | null}
   */
  reveal(key) {
    if (!this.items.some((i) => i.key === key)) return null;
    this.target = key;
    this.paint();
    return this.node(key);
  }

  /** @param {string} key @returns {HTMLElement | null} */
  node(key) {
    for (const child of this.box.children) if (child instanceof HTMLElement && child.dataset.key === key) return child;
    return null;
  }

  /** @param {number} count */
  setUnseen(count) {
    if (count === this.unseen) return;
    this.unseen = count;
    this.options.onUnseen?.(count);
  }

  scrolled() {
    const box = this.box;
    this.stuck = nearEnd(box.scrollHeight, box.scrollTop, box.clientHeight);
    if (this.stuck && this.follow) this.setUnseen(0);
    this.later();
    if (box.scrollTop < NEAR_TOP) this.options.onNearTop?.();
  }

  /** Draw again at the next frame (a scroll, a resize), anchored. */
  later() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      if (this.box.isConnected && this.items.length) this.paint();
    });
  }

  gap() {
    const gap = parseFloat(getComputedStyle(this.box).rowGap);
    return Number.isFinite(gap) ? gap : 0;
  }

  /** Where the box's content starts, in its scroll coordinates. */
  padTop() {
    return parseFloat(getComputedStyle(this.box).paddingTop) || 0;
  }

  /** The first drawn item still (partly) in view, and its distance from the viewport's top. */
  anchor() {
    const top = this.box.getBoundingClientRect().top + this.box.clientTop;
    for (const child of this.box.children) {
      const key = child instanceof HTMLElement ? child.dataset.key : undefined;
      if (!key || key.startsWith("spacer:") || !(this.options.steady?.(key) ?? true)) continue;
      const rect = child.getBoundingClientRect();
      if (rect.bottom > top) return { key, offset: rect.top - top };
    }
    return null;
  }

  paint() {
    const box = this.box;
    const items = this.items;
    const keys = items.map((i) => i.key);
    const gap = this.gap();
    const pad = this.padTop();
    const view = box.clientHeight;
    const target = this.target !== null ? keys.indexOf(this.target) : -1;
    const toEnd = target < 0 && this.stuck && this.follow;
    const anchor = target < 0 && !toEnd ? this.anchor() : null;
    const anchored = anchor ? keys.indexOf(anchor.key) : -1;
    let at = prefix(keys, this.heights);
    /** where the viewport's top should be, in the items' heights */
    let top;
    if (target >= 0) top = (at[target] + at[target + 1] - view) / 2;
    else if (toEnd) top = at[keys.length] - view;
    else if (anchor && anchored >= 0) top = at[anchored] - anchor.offset;
    else top = box.scrollTop - pad;
    const { first, end } = span(at, top - OVERSCAN, top + view + OVERSCAN);
    /** @type {Keyed[]} */
    const drawn = [];
    if (first > 0) drawn.push({ key: "spacer:above", stamp: "", build: () => spacer("above") });
    for (const item of items.slice(first, end)) drawn.push({ key: item.key, stamp: item.stamp(), build: () => keyed(item) });
    if (end < items.length) drawn.push({ key: "spacer:below", stamp: "", build: () => spacer("below") });
    reconcile(box, drawn);
    this.drawn = { first, end };
    this.draws++;
    // Measure what is drawn; the spacers stand for the rest.
    for (const child of box.children) {
      if (!(child instanceof HTMLElement) || child.classList.contains("thread-spacer")) continue;
      const key = child.dataset.key;
      if (key) this.heights.set(key, child.getBoundingClientRect().height + gap);
      if (child.getAttribute("role") === "article") child.setAttribute("aria-setsize", String(this.size));
      this.resizes?.observe(child);
    }
    at = prefix(keys, this.heights);
    const above = /** @type {HTMLElement | null} */ (box.querySelector(":scope > .thread-spacer.above"));
    if (above) above.style.height = `${Math.max(0, at[first] - gap)}px`;
    const below = /** @type {HTMLElement | null} */ (box.querySelector(":scope > .thread-spacer.below"));
    if (below) below.style.height = `${Math.max(0, at[keys.length] - at[end] - gap)}px`;
    // Place the view.
    if (target >= 0) {
      this.node(keys[target])?.scrollIntoView({ block: "center" });
      this.target = null;
    } else if (toEnd) {
      box.scrollTop = box.scrollHeight;
    } else if (anchor && anchored >= 0) {
      const node = this.node(anchor.key);
      if (node) box.scrollTop += node.getBoundingClientRect().top - (box.getBoundingClientRect().top + box.clientTop) - anchor.offset;
    }
    this.stuck = nearEnd(box.scrollHeight, box.scrollTop, box.clientHeight);
  }
}

/** @param {Item} item */
function keyed(item) {
  const node = item.build();
  if (node instanceof HTMLElement) node.dataset.key = item.key;
  return node;
}

/** @param {"above" | "below"} where */
function spacer(where) {
  const node = document.createElement("div");
  node.className = `thread-spacer ${where}`;
  node.setAttribute("aria-hidden", "true");
  node.dataset.key = `spacer:${where}`;
  return node;
}

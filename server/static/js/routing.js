// Routing in the web app: the agent's status in the top bar, offers ringing
// with Accept / Decline and their countdown, Transfer (to an agent or a
// queue, with a note), timeline entries inline in the thread, and the
// supervisor's live floor with one-click assign of a waiting conversation.
// Everything shown comes from the mirror (mirror.js: status, offers,
// floors); the pure parts at the top run under node --test.

import { attempt } from "./alerts.js";
import { $, h } from "./dom.js";
import { t } from "./i18n.js";
import { agentName, live, me, serverNow, ui } from "./state.js";

/** @typedef {import('./protocol').MessageView} MessageView */
/** @typedef {import('./protocol').OfferView} OfferView */
/** @typedef {import('./protocol').QueueFloor} QueueFloor */
/** @typedef {import('./protocol').ConversationSummary} ConversationSummary */
/** @typedef {import("./protocol").SetStatus["status"]} AgentStatus */
/** @typedef {import('./mirror.js').Mirror} Mirror */

export const STATUSES = /** @type {const} */ (["available", "away", "offline"]);

/** The `kind` of a thread message that is a timeline entry. */
export const TIMELINE = "timeline";

// --------------------------------------------------------------------------- pure

/**
 * What a timeline entry says, in the agent's language.
 * @param {Record<string, string>} meta  the entry's `meta` (event, agent_id, by, queue_id, note)
 * @param {(id: string | null) => string} name  an agent's name from their id
 * @param {(id: string) => string} queueName
 */
export function timelineText(meta, name, queueName) {
  const vars = { agent: name(meta.agent_id ?? null), by: name(meta.by ?? null), queue: queueName(meta.queue_id ?? "") };
  const key = meta.event === "offered" && meta.by ? "routing.timeline.transfer_offered" : `routing.timeline.${meta.event}`;
  return t(key, vars);
}

/** Whole seconds left before an offer moves on (never below 0). @param {OfferView} offer @param {number} now */
export function secondsLeft(offer, now) {
  return Math.max(0, Math.ceil((offer.deadline - now) / 1000));
}

/** How long the oldest waiting one has waited, "m:ss". @param {number | null} since @param {number} now */
export function waited(since, now) {
  if (since === null) return "–";
  const s = Math.max(0, Math.floor((now - since) / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/**
 * The Inbox rows of the floor's queue that wait (what a supervisor may assign
 * in one click): not those ringing for someone, as the floor's `ringing` says
 * (Inbox rows carry no offer: an offer ringing does not change the row).
 * @param {QueueFloor} floor
 * @param {ConversationSummary[]} inbox
 */
export function waitingRows(floor, inbox) {
  const ringing = new Set(floor.ringing.map((o) => o.conversation_id));
  return inbox.filter((c) => c.queue_id === floor.queue_id && !ringing.has(c.id));
}

// --------------------------------------------------------------------------- the screens

/** @param {string} id */
function queueName(id) {
  return ui.client?.mirror.snapshot?.queues.find((q) => q.id === id)?.name ?? id;
}

/** The timeline entry inline in the thread. @param {MessageView} m */
export function timelineNode(m) {
  return h("div", { class: "timeline-entry", "data-event": m.meta?.event ?? "", "data-seq": m.seq, id: `msg-${m.id}` }, [
    h("span", { text: timelineText(m.meta ?? {}, agentName, queueName) }),
    m.meta?.note ? h("q", { class: "timeline-note", text: m.meta.note }) : null,
    h("time", { datetime: new Date(m.at).toISOString(), text: new Date(m.at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) }),
  ]);
}

/** Build the routing controls once per log-in (nothing when no queue routes automatically). */
export function mountRouting() {
  for (const id of ["status-box", "offers", "transfer-box", "floor-toggle", "floor"]) document.getElementById(id)?.remove();
  const mirror = ui.client?.mirror;
  if (!mirror?.status) return;
  const select = h("select", { id: "status-select", "aria-label": t("routing.status.label") },
    STATUSES.map((s) => h("option", { value: s, text: t(`routing.status.${s}`) })));
  select.addEventListener("change", () => void attempt(() => live().call({ type: "set_status", status: /** @type {AgentStatus} */ (select.value) })));
  $("me").before(h("span", { id: "status-box", class: "status-box" }, [h("span", { id: "status-dot", class: "status-dot" }), select]));
  document.body.append(h("aside", { id: "offers", class: "offers", "aria-live": "assertive", "aria-label": t("routing.offers.label") }));
  $("offers").addEventListener("click", (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest("button[data-offer]");
    if (!(button instanceof HTMLElement) || !button.dataset.offer) return;
    const type = button.dataset.action === "accept" ? "accept_offer" : "decline_offer";
    void attempt(() => live().call({ type, conversation_id: /** @type {string} */ (button.dataset.offer) }));
  });
  mountTransfer();
  if (me()?.role === "supervisor") mountFloor();
  renderRouting();
  setInterval(() => {
    renderOffers();
    renderFloor(); // the longest wait ages
  }, 1000);
}

function mountTransfer() {
  const targets = h("select", { id: "transfer-target", "aria-label": t("routing.transfer.to") });
  const note = h("input", { id: "transfer-note", type: "text", maxlength: 1000, placeholder: t("routing.transfer.note"), "aria-label": t("routing.transfer.note") });
  const form = h("form", { id: "transfer-form", class: "transfer-form", hidden: true }, [
    targets, note, h("button", { type: "submit", class: "primary", text: t("routing.transfer.send") }),
  ]);
  const open = h("button", { id: "transfer", type: "button", text: t("routing.transfer.button") });
  open.addEventListener("click", () => {
    form.hidden = !form.hidden;
    if (!form.hidden) fillTargets(targets);
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const id = ui.current;
    const [kind, target] = targets.value.split(":", 2);
    if (!id || !target) return;
    const to = kind === "queue" ? { queue_id: target } : { agent_id: target };
    void attempt(async () => {
      await live().call({ type: "transfer", conversation_id: id, note: note.value, ...to });
      note.value = "";
      form.hidden = true;
    });
  });
  $("end-chat").after(h("span", { id: "transfer-box", class: "transfer-box" }, [open, form]));
}

/** @param {HTMLSelectElement} select */
function fillTargets(select) {
  const snapshot = ui.client?.mirror.snapshot;
  const self = me()?.id;
  select.replaceChildren(
    h("optgroup", { label: t("routing.transfer.agents") },
      (snapshot?.agents ?? []).filter((a) => a.id !== self).map((a) => h("option", { value: `agent:${a.id}`, text: a.name }))),
    h("optgroup", { label: t("routing.transfer.queues") },
      (snapshot?.queues ?? []).map((q) => h("option", { value: `queue:${q.id}`, text: q.name }))),
  );
}

function mountFloor() {
  const toggle = h("button", { id: "floor-toggle", type: "button", class: "ghost", "aria-pressed": "false", text: t("routing.floor.button") });
  toggle.addEventListener("click", () => {
    const floor = $("floor");
    floor.hidden = !floor.hidden;
    toggle.setAttribute("aria-pressed", String(!floor.hidden));
    renderFloor();
  });
  $("me").before(toggle);
  const floor = h("section", { id: "floor", class: "floor", hidden: true, "aria-label": t("routing.floor.title") });
  floor.addEventListener("click", (e) => {
    const button = /** @type {HTMLElement} */ (e.target).closest("button[data-assign]");
    if (!(button instanceof HTMLElement) || !button.dataset.assign) return;
    const select = /** @type {HTMLSelectElement | null} */ (document.getElementById(`floor-assign-${button.dataset.queue}`));
    if (select?.value) void attempt(() => live().assign(/** @type {string} */ (button.dataset.assign), select.value));
  });
  document.querySelector(".layout")?.before(floor);
}

/** Redraw what routing shows; cheap, called on every render. */
export function renderRouting() {
  const mirror = ui.client?.mirror;
  if (!mirror?.status || !document.getElementById("status-box")) return;
  const select = /** @type {HTMLSelectElement} */ ($("status-select"));
  select.value = mirror.status.status;
  $("status-dot").dataset.status = mirror.status.status;
  const conv = ui.current ? mirror.conversation(ui.current) : null;
  $("transfer-box").hidden = !(conv && conv.status === "open" && (conv.assignee_id === me()?.id || me()?.role === "supervisor") && conv.assignee_id);
  renderOffers();
  renderFloor();
}

function renderOffers() {
  const box = document.getElementById("offers");
  const mirror = ui.client?.mirror;
  if (!box || !mirror) return;
  const now = serverNow();
  box.replaceChildren(
    ...[...mirror.offers.values()].map(({ offer, conversation }) =>
      h("div", { class: "offer", "data-conv-id": offer.conversation_id, role: "alert" }, [
        h("strong", { text: offer.by ? t("routing.offer.transfer", { by: agentName(offer.by) }) : t("routing.offer.new") }),
        h("div", { class: "offer-contact", text: conversation.contact.display_name }),
        h("div", { class: "offer-preview muted", text: conversation.preview }),
        offer.note ? h("q", { class: "offer-note", text: offer.note }) : null,
        h("div", { class: "offer-countdown", text: t("routing.offer.countdown", { count: secondsLeft(offer, now) }) }),
        h("div", { class: "offer-actions" }, [
          h("button", { type: "button", class: "primary", "data-offer": offer.conversation_id, "data-action": "accept", text: t("routing.offer.accept") }),
          h("button", { type: "button", "data-offer": offer.conversation_id, "data-action": "decline", text: t("routing.offer.decline") }),
        ]),
      ]),
    ),
  );
}

function renderFloor() {
  const box = document.getElementById("floor");
  const mirror = ui.client?.mirror;
  if (!box || box.hidden || !mirror) return;
  const now = serverNow();
  const waiting = mirror.inboxWindow();
  // Redrawn every second: keep the agent each queue's supervisor picked.
  const chosen = new Map([...box.querySelectorAll("select")].map((s) => [s.id, s.value]));
  box.replaceChildren(
    h("h2", { text: t("routing.floor.title") }),
    ...[...mirror.floors.values()].map((floor) => floorNode(floor, waitingRows(floor, waiting), now)),
  );
  for (const select of box.querySelectorAll("select")) {
    const value = chosen.get(select.id);
    if (value && [...select.options].some((o) => o.value === value)) select.value = value;
  }
}

/**
 * @param {QueueFloor} floor
 * @param {ConversationSummary[]} waiting
 * @param {number} now
 */
function floorNode(floor, waiting, now) {
  const available = floor.agents.filter((a) => a.status === "available");
  return h("div", { class: "floor-queue", "data-queue": floor.queue_id }, [
    h("h3", { text: queueName(floor.queue_id) }),
    h("div", { class: "floor-stats" }, [
      h("span", { class: "floor-waiting", text: t("routing.floor.waiting", { count: floor.waiting }) }),
      h("span", { class: "floor-oldest", text: t("routing.floor.oldest", { time: waited(floor.oldest_waiting_at, now) }) }),
      h("span", { class: "floor-ringing", text: t("routing.floor.ringing", { count: floor.ringing.length }) }),
    ]),
    h("table", { class: "floor-agents" }, [
      h("tbody", {}, floor.agents.map((a) =>
        h("tr", { "data-agent": a.agent_id, "data-status": a.status }, [
          h("td", { text: agentName(a.agent_id) }),
          h("td", { text: t(`routing.status.${a.status}`) }),
          h("td", { text: `${a.load} / ${a.capacity}` }),
        ]))),
    ]),
    waiting.length
      ? h("div", { class: "floor-assign" }, [
          h("select", { id: `floor-assign-${floor.queue_id}`, "aria-label": t("routing.floor.assign_to") },
            (available.length ? available : floor.agents).map((a) => h("option", { value: a.agent_id, text: agentName(a.agent_id) }))),
          h("ul", {}, waiting.slice(0, 20).map((c) =>
            h("li", {}, [
              h("span", { text: `${c.contact.display_name} · ${waited(c.created_at, now)}` }),
              h("button", { type: "button", "data-assign": c.id, "data-queue": floor.queue_id, text: t("routing.floor.assign") }),
            ]))),
        ])
      : null,
  ]);
}

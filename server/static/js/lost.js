// Losing the open conversation: a colleague won the claim, a supervisor
// assigned or reassigned it, a transfer, someone else ended it. The server
// says who did what on the list streams (`inbox.removed` and
// `assigned.removed` carry `reason`, `agent_id` and `by`; the mirror keeps
// the last of each as `departures`), and the screen says it in those words.
// The conversation's last header and thread stay on screen, read-only, with
// the agent's draft available to copy: never "Loading…" forever, never blank.

import { t } from "./i18n.js";

/** @typedef {import('./mirror.js').Departure} Departure */

/**
 * Why the agent can no longer work on the conversation, in plain words;
 * null when its last move was theirs (nothing was lost).
 * @param {Departure | undefined} d
 * @param {string | null} meId
 * @param {(id: string | null) => string} name
 * @returns {string | null}
 */
export function lossText(d, meId, name) {
  if (!d) return t("lost.unknown");
  const by = d.by ? name(d.by) : null;
  const to = d.agentId ? name(d.agentId) : null;
  switch (d.reason) {
    case "claimed":
      return d.agentId === meId ? null : t("lost.claimed", { agent: to ?? "" });
    case "assigned":
    case "reassigned":
      if (d.agentId === meId) return null;
      if (by && d.by !== d.agentId) return t("lost.reassigned", { by, agent: to ?? "" });
      return t("lost.transferred", { agent: to ?? "" });
    case "sent_to_inbox":
      return d.by === meId ? null : by ? t("lost.sentToInbox", { by }) : t("lost.unknown");
    case "ended":
      return d.by === meId ? null : by ? t("lost.ended", { by }) : t("lost.unknown");
  }
  return t("lost.unknown");
}

// English: the fallback language; every key of the app is here.
/** @type {Record<string, string | Record<string, string>>} */
export default {
  // workspace (drafts, wrap-up, lost conversations, alerts, accessibility)
  "start.messengerWindowClosed": "Messenger only lets a business write to people who wrote to the Page recently (in the last 24 hours, or 7 days for a human agent's reply). This contact has not, so the conversation cannot be started. It can start when they write again.",
  "start.templateNeeded": "WhatsApp needs an approved template to start a conversation: pick one.",
};

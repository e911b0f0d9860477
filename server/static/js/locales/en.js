// English: the fallback language; every key of the app is here.
/** @type {Record<string, string | Record<string, string>>} */
export default {
  // workspace (drafts, wrap-up, lost conversations, alerts, accessibility)
  "start.messengerWindowClosed": "Messenger only lets a business write to people who wrote to the Page recently (in the last 24 hours, or 7 days for a human agent's reply). This contact has not, so the conversation cannot be started. It can start when they write again.",
  "start.templateNeeded": "WhatsApp needs an approved template to start a conversation: pick one.",
  "composer.waiting": "Not connected. Your message will be sent once the connection is back.",
  "composer.cancel": "Cancel sending",
  "composer.cancelled": "Not sent. Your message is still here.",
  "composer.notSent": "Your message was not sent: it is still here. If the connection dropped while sending, check the thread before sending it again.",
  "error.connectionLost": "The connection to the server was lost before it answered. Check the conversation before trying again.",
  "wrapup.listTitle": { one: "To wrap up ({count})", other: "To wrap up ({count})" },
  "wrapup.endedAt": "Ended {time}",
  "endChat.title": "End this chat?",
  "endChat.text": "The conversation with {name} ends. If they write again, a new conversation starts in the Inbox.",
  "endChat.textWhatsApp": "The conversation with {name} ends, and you record its wrap-up next. If they write again, a new conversation starts in the Inbox.",
  "endChat.cancel": "Keep it open",
  "endChat.confirm": "End Chat",
  "lost.title": "No longer yours",
  "lost.unknown": "This conversation is no longer available to you.",
  "lost.claimed": "{agent} took this conversation.",
  "lost.reassigned": "{by} assigned this conversation to {agent}.",
  "lost.transferred": "This conversation was transferred to {agent}.",
  "lost.sentToInbox": "{by} sent this conversation back to the Inbox.",
  "lost.ended": "{by} ended this conversation.",
  "lost.draftKept": "Your unsent draft is kept here: copy it if you need it.",
  "lost.copyDraft": "Copy draft",
  "lost.copied": "Draft copied.",
};

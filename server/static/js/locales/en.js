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
};

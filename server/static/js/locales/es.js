// Español.
/** @type {Record<string, string | Record<string, string>>} */
export default {
  // workspace (drafts, wrap-up, lost conversations, alerts, accessibility)
  "start.messengerWindowClosed": "Messenger solo permite que una empresa escriba a quien le escribió a la Página hace poco (en las últimas 24 horas, o 7 días si responde una persona). Este contacto no lo hizo, así que no se puede iniciar la conversación. Podrá iniciarse cuando vuelva a escribir.",
  "start.templateNeeded": "WhatsApp necesita una plantilla aprobada para iniciar una conversación: elija una.",
};

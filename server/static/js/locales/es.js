// Español.
/** @type {Record<string, string | Record<string, string>>} */
export default {
  // workspace (drafts, wrap-up, lost conversations, alerts, accessibility)
  "start.messengerWindowClosed": "Messenger solo permite que una empresa escriba a quien le escribió a la Página hace poco (en las últimas 24 horas, o 7 días si responde una persona). Este contacto no lo hizo, así que no se puede iniciar la conversación. Podrá iniciarse cuando vuelva a escribir.",
  "start.templateNeeded": "WhatsApp necesita una plantilla aprobada para iniciar una conversación: elija una.",
  "composer.waiting": "Sin conexión. Su mensaje se enviará en cuanto vuelva la conexión.",
  "composer.cancel": "Cancelar el envío",
  "composer.cancelled": "No enviado. Su mensaje sigue aquí.",
  "composer.notSent": "Su mensaje no se envió: sigue aquí. Si la conexión se cortó durante el envío, revise la conversación antes de enviarlo otra vez.",
  "error.connectionLost": "Se perdió la conexión con el servidor antes de su respuesta. Revise la conversación antes de intentarlo de nuevo.",
  "wrapup.listTitle": { one: "Por cerrar ({count})", other: "Por cerrar ({count})" },
  "wrapup.endedAt": "Finalizada {time}",
  "endChat.title": "¿Finalizar este chat?",
  "endChat.text": "La conversación con {name} termina. Si vuelve a escribir, empieza una conversación nueva en la Bandeja de entrada.",
  "endChat.textWhatsApp": "La conversación con {name} termina, y a continuación registra su cierre. Si vuelve a escribir, empieza una conversación nueva en la Bandeja de entrada.",
  "endChat.cancel": "Mantenerla abierta",
  "endChat.confirm": "Finalizar chat",
  "lost.title": "Ya no es suya",
  "lost.unknown": "Esta conversación ya no está disponible para usted.",
  "lost.claimed": "{agent} tomó esta conversación.",
  "lost.reassigned": "{by} asignó esta conversación a {agent}.",
  "lost.transferred": "Esta conversación se transfirió a {agent}.",
  "lost.sentToInbox": "{by} devolvió esta conversación a la Bandeja de entrada.",
  "lost.ended": "{by} finalizó esta conversación.",
  "lost.draftKept": "Su borrador sin enviar se conserva aquí: cópielo si lo necesita.",
  "lost.copyDraft": "Copiar borrador",
  "lost.copied": "Borrador copiado.",
};

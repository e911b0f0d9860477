// Português (Brasil).
/** @type {Record<string, string | Record<string, string>>} */
export default {
  // workspace (drafts, wrap-up, lost conversations, alerts, accessibility)
  "start.messengerWindowClosed": "O Messenger só permite que uma empresa escreva para quem escreveu para a Página recentemente (nas últimas 24 horas, ou 7 dias se quem responde é uma pessoa). Este contato não escreveu, então a conversa não pode ser iniciada. Ela poderá começar quando ele escrever de novo.",
  "start.templateNeeded": "O WhatsApp exige um modelo aprovado para iniciar uma conversa: escolha um.",
};

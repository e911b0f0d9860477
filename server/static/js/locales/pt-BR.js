// Português (Brasil).
/** @type {Record<string, string | Record<string, string>>} */
export default {
  // workspace (drafts, wrap-up, lost conversations, alerts, accessibility)
  "start.messengerWindowClosed": "O Messenger só permite que uma empresa escreva para quem escreveu para a Página recentemente (nas últimas 24 horas, ou 7 dias se quem responde é uma pessoa). Este contato não escreveu, então a conversa não pode ser iniciada. Ela poderá começar quando ele escrever de novo.",
  "start.templateNeeded": "O WhatsApp exige um modelo aprovado para iniciar uma conversa: escolha um.",
  "composer.waiting": "Sem conexão. Sua mensagem será enviada assim que a conexão voltar.",
  "composer.cancel": "Cancelar o envio",
  "composer.cancelled": "Não enviada. Sua mensagem continua aqui.",
  "composer.notSent": "Sua mensagem não foi enviada: ela continua aqui. Se a conexão caiu durante o envio, confira a conversa antes de enviar de novo.",
  "error.connectionLost": "A conexão com o servidor caiu antes da resposta. Confira a conversa antes de tentar de novo.",
  "wrapup.listTitle": { one: "Para finalizar ({count})", other: "Para finalizar ({count})" },
  "wrapup.endedAt": "Encerrada {time}",
  "endChat.title": "Encerrar este chat?",
  "endChat.text": "A conversa com {name} termina. Se a pessoa escrever de novo, uma nova conversa começa na Caixa de entrada.",
  "endChat.textWhatsApp": "A conversa com {name} termina, e em seguida você registra a finalização. Se a pessoa escrever de novo, uma nova conversa começa na Caixa de entrada.",
  "endChat.cancel": "Manter aberta",
  "endChat.confirm": "Encerrar chat",
  "lost.title": "Não é mais sua",
  "lost.unknown": "Esta conversa não está mais disponível para você.",
  "lost.claimed": "{agent} pegou esta conversa.",
  "lost.reassigned": "{by} atribuiu esta conversa a {agent}.",
  "lost.transferred": "Esta conversa foi transferida para {agent}.",
  "lost.sentToInbox": "{by} devolveu esta conversa para a Caixa de entrada.",
  "lost.ended": "{by} encerrou esta conversa.",
  "lost.draftKept": "Seu rascunho não enviado continua aqui: copie-o se precisar.",
  "lost.copyDraft": "Copiar rascunho",
  "lost.copied": "Rascunho copiado.",
};

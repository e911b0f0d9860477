// Português (Brasil).
/** @type {Record<string, string | Record<string, string>>} */
export default {
  // canned responses
  "canned.manage": "Respostas prontas",
  "canned.manage.hint": "Respostas salvas: digite / e um atalho no editor",
  "canned.menu.label": "Respostas prontas",
  "canned.none": "Nenhuma resposta pronta para /{query}",
  "canned.mine": "minha",
  "canned.help": "Digite / e o atalho no editor para inseri-la. {{contact.name}} e {{agent.name}} são preenchidos.",
  "canned.list": "Lista",
  "canned.list.mine": "Minhas respostas",
  "canned.list.queue": "Fila {queue}",
  "canned.empty": "Esta lista ainda não tem respostas.",
  "canned.edit": "Editar",
  "canned.delete": "Excluir",
  "canned.new": "Nova",
  "canned.new.title": "Nova resposta",
  "canned.edit.title": "Editar /{shortcut}",
  "canned.shortcut": "Atalho",
  "canned.shortcut.placeholder": "ex.: ola",
  "canned.text": "Texto",
  "canned.save": "Salvar",
  "canned.close": "Fechar",
};

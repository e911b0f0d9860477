// Español.
/** @type {Record<string, string | Record<string, string>>} */
export default {
  // canned responses
  "canned.manage": "Respuestas rápidas",
  "canned.manage.hint": "Respuestas guardadas: escribe / y un atajo en el editor",
  "canned.menu.label": "Respuestas rápidas",
  "canned.none": "Ninguna respuesta rápida para /{query}",
  "canned.mine": "mía",
  "canned.help": "Escribe / y el atajo en el editor para insertarla. {{contact.name}} y {{agent.name}} se completan solos.",
  "canned.list": "Lista",
  "canned.list.mine": "Mis respuestas",
  "canned.list.queue": "Cola {queue}",
  "canned.empty": "Esta lista aún no tiene respuestas.",
  "canned.edit": "Editar",
  "canned.delete": "Eliminar",
  "canned.new": "Nueva",
  "canned.new.title": "Nueva respuesta",
  "canned.edit.title": "Editar /{shortcut}",
  "canned.shortcut": "Atajo",
  "canned.shortcut.placeholder": "p. ej. hola",
  "canned.text": "Texto",
  "canned.save": "Guardar",
  "canned.close": "Cerrar",
};

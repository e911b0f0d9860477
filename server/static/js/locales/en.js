// English: the fallback language; every key of the app is here.
/** @type {Record<string, string | Record<string, string>>} */
export default {
  // canned responses
  "canned.manage": "Canned responses",
  "canned.manage.hint": "Saved replies: type / and a shortcut in the editor",
  "canned.menu.label": "Canned responses",
  "canned.none": "No canned response for /{query}",
  "canned.mine": "mine",
  "canned.help": "Type / and the shortcut in the editor to insert one. {{contact.name}} and {{agent.name}} are filled in.",
  "canned.list": "List",
  "canned.list.mine": "My responses",
  "canned.list.queue": "Queue {queue}",
  "canned.empty": "No responses in this list yet.",
  "canned.edit": "Edit",
  "canned.delete": "Delete",
  "canned.new": "New",
  "canned.new.title": "New response",
  "canned.edit.title": "Edit /{shortcut}",
  "canned.shortcut": "Shortcut",
  "canned.shortcut.placeholder": "e.g. hello",
  "canned.text": "Text",
  "canned.save": "Save",
  "canned.close": "Close",
};

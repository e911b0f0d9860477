"""The desktop widget in three languages (gettext catalogs compiled by Babel
at start), its alert for a new customer message in a conversation the agent
already has (also when it came while the widget was offline), and all the
agent's rows, not five."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from clients.switchboard_client import AgentClient, Change, Mirror
from clients.widget.i18n import LANGUAGES, Words, pick_language, po_path, system_languages
from clients.widget.view import Alert, MessageAlerts, alerts_of, view_of
from tests.clients.test_client import eventually
from tests.conftest import Running, token

WIDGET = Path(__file__).resolve().parents[2] / "clients" / "widget"


def source_messages() -> set[str | tuple[str, str]]:
    """Every message the widget's code asks gettext for (Babel's extractor)."""
    found: set[str | tuple[str, str]] = set()
    for path in sorted(WIDGET.glob("*.py")):
        for _line, message, _comments, _context in extract_from_file("python", str(path), keywords={"_": None, "ngettext": (1, 2)}):
            found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_message_of_the_widget_is_translated(lang: str) -> None:
    wanted = source_messages()
    assert len(wanted) > 15
    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang)
    have = {m.id if isinstance(m.id, str) else (m.id[0], m.id[1]): m for m in catalog if m.id}
    assert sorted(map(str, wanted - set(have))) == [], f"{lang}: untranslated"
    assert sorted(map(str, set(have) - wanted)) == [], f"{lang}: no longer used"
    for key, message in have.items():
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        assert len(forms) == catalog.num_plurals or isinstance(key, str)
        for form in forms:
            assert form, f"{lang}: {key!r} has an empty translation"
            assert placeholders(form) == placeholders(key if isinstance(key, str) else key[1]), (lang, key, form)


def test_the_language_is_chosen_like_the_web_app() -> None:
    assert pick_language(["pt_PT.UTF-8"]) == "pt_BR"
    assert pick_language(["es-419"]) == "es"
    assert pick_language(["fr_FR", "es_MX.UTF-8"]) == "es"
    assert pick_language(["de"]) == "en"
    assert system_languages({"LANGUAGE": "pt_BR:en", "LANG": "C"}) == ["pt_BR", "en"]
    assert pick_language(system_languages({"LANG": "es_AR.UTF-8"})) == "es"
    assert pick_language(system_languages({})) == "en"


def test_words_in_each_language() -> None:
    es, pt = Words("es"), Words("pt_BR")
    assert (es._("Live"), pt._("Live"), Words("en")._("Live")) == ("En línea", "Ao vivo", "Live")
    one, many = "🔒 {count} session closed", "🔒 {count} sessions closed"
    assert [pt.ngettext(one, many, n).format(count=n) for n in (1, 2)] == ["🔒 1 sessão encerrada", "🔒 2 sessões encerradas"]
    assert (es.number(12345), pt.number(12345), Words("en").number(12345)) == ("12.345", "12.345", "12,345")
    assert Words("klingon").lang == "en"


async def test_the_widget_speaks_spanish_and_rings_for_a_new_message_even_one_missed_offline(running: Running) -> None:
    es = Words("es")
    alerts: list[Alert] = []
    messages = MessageAlerts()

    def on_change(mirror: Mirror, changes: list[Change]) -> None:
        alerts.extend(alerts_of(mirror, changes, es))
        alerts.extend(messages(mirror, changes, es))

    client = AgentClient(running.ws_url, token("ana"), on_change=on_change)
    await client.connect()
    try:
        assert view_of(client.mirror, client.state, "Ana Souza", es).status == "En línea"
        made = [(await running.inbound(f"Hola {n}", address=f"54911000000{n:02}"))["conversation_id"] for n in range(7)]
        await eventually(lambda: view_of(client.mirror).inbox == 7)
        assert alerts[0].text == "Nueva en la bandeja: +54 9 11 0000-0000: Hola 0"
        for cid in made:
            await client.claim(cid)
        view = await eventually(lambda: (v := view_of(client.mirror, words=es)).assigned == 7 and v)
        assert len(view.rows) == 7  # all of them: the window scrolls
        assert not [a for a in alerts if a.kind == "message"]  # claiming is no news

        await running.inbound("¿Siguen ahí?", address="5491100000003")
        alert = await eventually(lambda: next((a for a in alerts if a.kind == "message"), None))
        assert (alert.conversation_id, alert.text) == (made[3], "Nuevo mensaje de +54 9 11 0000-0003: ¿Siguen ahí?")
        assert view_of(client.mirror, words=es).title == "Switchboard · 8 sin leer"

        # Offline while the customer writes: the alert comes when the widget is back.
        client.drop_connection()
        await eventually(lambda: client.state == "reconnecting")
        await running.inbound("Hola??", address="5491100000005")
        await client.wait_live(10)
        late = await eventually(lambda: [a for a in alerts if a.kind == "message" and a.conversation_id == made[5]])
        assert late[0].text == "Nuevo mensaje de +54 9 11 0000-0005: Hola??"
        assert len([a for a in alerts if a.kind == "message"]) == 2  # one per new message, no repeats
    finally:
        await client.close()

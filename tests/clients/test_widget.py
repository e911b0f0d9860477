"""The widget's view state and alerts, from a real node, without a display."""

from __future__ import annotations

import pytest

from clients.switchboard_client import AgentClient, Change, Mirror
from clients.widget.view import Alert, alerts_of, conversation_url, view_of
from server.config import Config
from tests.clients.test_client import eventually
from tests.conftest import Running, make_config, token

WINDOW = 2.0


@pytest.fixture
def config() -> Config:
    return make_config(window=WINDOW)


async def test_view_and_alerts_follow_the_agent(running: Running) -> None:
    alerts: list[Alert] = []

    def on_change(mirror: Mirror, changes: list[Change]) -> None:
        alerts.extend(alerts_of(mirror, changes))

    client = AgentClient(running.ws_url, token("ana"), on_change=on_change)
    await client.connect()
    try:
        empty = view_of(client.mirror, client.state, "Ana Souza")
        assert (empty.assigned, empty.inbox, empty.unread, empty.locked, empty.rows) == (0, 0, 0, 0, ())
        assert empty.status == "Live" and empty.title == "Switchboard"

        a = (await running.inbound("Olá", address="5511900000001"))["conversation_id"]
        b = (await running.inbound("Preciso de ajuda", address="5511900000002"))["conversation_id"]
        await eventually(lambda: view_of(client.mirror).inbox == 2)
        assert [(x.kind, x.conversation_id) for x in alerts] == [("inbox", a), ("inbox", b)]
        assert alerts[1].text == "New in Inbox: +55 11 90000-0002: Preciso de ajuda"

        await client.claim(a)
        await running.inbound("Alô?", address="5511900000001")
        view = await eventually(lambda: (v := view_of(client.mirror)).unread == 2 and v)
        assert (view.assigned, view.inbox) == (1, 1)
        assert view.rows[0].conversation_id == a and view.rows[0].unread == 2
        assert view.title == "Switchboard · 2 unread"
        assert ("assigned", a) in [(x.kind, x.conversation_id) for x in alerts]

        # Her conversation's session locks: an alert, and the count of locked ones.
        await eventually(lambda: view_of(client.mirror).locked == 1, timeout=WINDOW + 8)
        assert ("locked", a) in [(x.kind, x.conversation_id) for x in alerts]
        assert view_of(client.mirror).rows[0].locked
        # The inbox conversation locked too, but it is not hers: no alert for it.
        assert ("locked", b) not in [(x.kind, x.conversation_id) for x in alerts]

        client.drop_connection()
        await eventually(lambda: client.state == "reconnecting")
        assert view_of(client.mirror, client.state).status == "Reconnecting…"
        await client.wait_live(10)
    finally:
        await client.close()


def test_conversation_url_opens_the_web_app_at_the_conversation() -> None:
    assert conversation_url("http://127.0.0.1:8000/", "c_01") == "http://127.0.0.1:8000/#/c/c_01"


def test_rows_put_unread_first_and_are_all_listed() -> None:
    from tests.clients.test_mirror import snapshot, summary

    n = 12  # more than the window shows at once: it scrolls (test_widget_window.py)
    mirror = Mirror()
    assigned = [summary(f"c{i}", assignee_id="ana", unread=0, last_message_at=100 + i) for i in range(n)]
    assigned.append(summary("old-unread", assignee_id="ana", unread=4, last_message_at=1))
    mirror.load(snapshot([], assigned))
    view = view_of(mirror)
    assert len(view.rows) == n + 1
    assert view.rows[0].conversation_id == "old-unread"
    assert [r.conversation_id for r in view.rows[1:3]] == [f"c{n - 1}", f"c{n - 2}"]

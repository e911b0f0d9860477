"""The Python client and the widget's view with routing: the agent's status,
an offer ringing as an alert, accepting it, and a transfer, from a real node."""

from __future__ import annotations

import pytest

from clients.switchboard_client import AgentClient, Change, Mirror
from clients.widget.view import Alert, alerts_of, view_of
from server.config import Config
from tests.clients.test_client import eventually
from tests.conftest import Running, token
from tests.server.test_routing import routed_config


@pytest.fixture
def config() -> Config:
    return routed_config(offer_timeout_seconds=60)


async def test_the_widget_shows_status_and_rings_for_offers(running: Running) -> None:
    alerts: list[Alert] = []

    def on_change(mirror: Mirror, changes: list[Change]) -> None:
        alerts.extend(alerts_of(mirror, changes))

    ana = AgentClient(running.ws_url, token("ana"), on_change=on_change)
    bruno = AgentClient(running.ws_url, token("bruno"))
    await ana.connect()
    await bruno.connect()
    try:
        assert view_of(ana.mirror).routing == "offline"
        assert (await ana.set_status("available")).agent.status == "available"
        await eventually(lambda: view_of(ana.mirror).routing == "available")
        cid = (await running.inbound("Olá", address="5511900000001"))["conversation_id"]
        view = await eventually(lambda: (v := view_of(ana.mirror)).offers and v)
        assert [o.conversation_id for o in view.offers] == [cid]
        assert [(a.kind, a.text) for a in alerts if a.kind == "offer"] == [("offer", "Offered to you: +55 11 90000-0001")]
        await ana.accept_offer(cid)
        await eventually(lambda: not view_of(ana.mirror).offers and view_of(ana.mirror).assigned == 1)
        await bruno.set_status("available")
        await ana.transfer(cid, agent_id="bruno", note="VIP")
        await eventually(lambda: cid in bruno.mirror.offers)
        assert bruno.mirror.offers[cid].offer.note == "VIP"
        await bruno.decline_offer(cid)
        await eventually(lambda: cid not in bruno.mirror.offers)
    finally:
        await ana.close()
        await bruno.close()

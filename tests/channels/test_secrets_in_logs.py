"""Secrets and customers' words never reach the logs at info level: the app
secret, the verify token, access tokens, agents' tokens, message bodies."""

from __future__ import annotations

import logging

import pytest

from protocol import messages as p
from tests.channels import payloads as pl
from tests.channels.conftest import APP_SECRET, TOKENS, VERIFY_TOKEN, Hub
from tests.channels.metastub import SERVER_ERROR, graph_error
from tests.conftest import token
from tests.wsagent import WsAgent

CUSTOMER_WORDS = "my card number is 4111-1111-1111-1111"
AGENT_WORDS = "your new password is hunter2"


async def test_nothing_secret_is_logged(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    agent_token = token("ana")
    ana = await WsAgent.connect(hub.ws_url, agent_token, name="ana")
    hub.agents.append(ana)
    # Webhooks: a good one, a forged one, a malformed one, the handshake with right and wrong tokens.
    conv = await hub.assigned_whatsapp(ana, CUSTOMER_WORDS)
    assert (await hub.whatsapp(pl.wa_inbound(pl.wa_text(CUSTOMER_WORDS)), secret="wrong")).status_code == 401
    assert (await hub.post("whatsapp", b'{"object": "' + CUSTOMER_WORDS.encode() + b'"')).status_code == 400
    for verify in (VERIFY_TOKEN, "not-the-token"):
        await hub.http.get(
            f"{hub.base}/webhooks/whatsapp",
            params={"hub.mode": "subscribe", "hub.verify_token": verify, "hub.challenge": "42"},
        )
    # Sends: one failing for good, one retried then accepted.
    hub.meta.then(graph_error(131026, "Message undeliverable"), SERVER_ERROR)
    for _ in range(2):
        await ana.call(p.SendMessage, conversation_id=conv.id, text=AGENT_WORDS)
    await hub.meta.wait_sent(2)
    await ana.event(p.MessageUpdated, lambda e: e.message.status == "failed")
    await ana.event(p.MessageUpdated, lambda e: e.message.status == "sent")
    # A bad agent token and a revoked one.
    await hub.http.get(f"{hub.base}/api/contacts", headers={"authorization": f"Bearer {agent_token}x"})
    await hub.http.post(f"{hub.base}/api/logout", headers={"authorization": f"Bearer {agent_token}"})

    def server_side(r: logging.LogRecord) -> bool:  # not this test's own HTTP client talking to the node
        return r.levelno >= logging.INFO and not (r.name == "httpx" and hub.base in r.getMessage())

    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records if server_side(r))
    assert logged, "nothing was logged at all: the test would prove nothing"
    for secret in (APP_SECRET, VERIFY_TOKEN, *TOKENS.values(), agent_token, agent_token.split(".")[1], CUSTOMER_WORDS, AGENT_WORDS, "4111-1111", "hunter2"):
        assert secret not in logged, f"{secret!r} reached the logs"


"""``server.event_loop = "uvloop"`` (SWITCHBOARD_EVENT_LOOP): ``switchboard
serve`` runs on uvloop's loop, and the node works on it end to end (an
agent's websocket, a customer's message, the event on the agent's screen)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from protocol import messages as p
from server import config
from tests.conftest import free_port
from tests.wsagent import WsAgent

ROOT = Path(__file__).resolve().parents[2]


def test_the_event_loop_is_a_setting_with_two_values() -> None:
    assert config.load(None, env={}).server.event_loop == "asyncio"
    assert config.load(None, env={"SWITCHBOARD_EVENT_LOOP": "uvloop"}).server.event_loop == "uvloop"
    with pytest.raises(Exception, match="event_loop"):
        config.load(None, env={"SWITCHBOARD_EVENT_LOOP": "trio"})


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
async def test_serve_runs_on_the_configured_loop(tmp_path: Path, loop: str) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(PYTHONPATH=str(ROOT), SWITCHBOARD_EVENT_LOOP=loop)
    log = tmp_path / "node.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "serve", "--config", "server/demo.toml", "--data", ":memory:",
             "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            for _ in range(300):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            token = (await http.post("/api/dev/login", json={"agent_id": "ana"})).json()["token"]
            ana = await WsAgent.connect(f"ws://127.0.0.1:{port}/ws", token)
            try:
                sent = await http.post(
                    "/api/dev/inbound", json={"touchpoint_id": "wa-main", "address": "5511999990000", "text": "Olá"}
                )
                assert sent.status_code == 200, sent.text
                added = await ana.event(p.InboxAdded, lambda e: e.conversation.id == sent.json()["conversation_id"])
                assert added.conversation.preview == "Olá"
            finally:
                await ana.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    expected = "uvloop.Loop" if loop == "uvloop" else "asyncio.unix_events._UnixSelectorEventLoop"
    assert f"event loop: {expected}" in log.read_text()

"""docs/CHANNELS.md's webhook examples work: each JSON body, and each body of
the `curl` recipes, signed with the demo app secret, posted to a real node's
webhook, becomes a conversation in the touchpoint's queue."""

from __future__ import annotations

import re
import time
from pathlib import Path

import msgspec
import pytest
from msgspec.structs import replace

from server import config as config_module
from server.channels.signature import HEADER, sign
from server.config import Config, MetaSettings
from tests.conftest import Running, make_config

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "CHANNELS.md").read_text()
SECRET = config_module.load(ROOT / "server" / "demo.toml", env={}).meta.app_secret
JSON_BODIES = [b for b in re.findall(r"```json\n(.*?)```", DOC, re.S) if '"object"' in b]
SHELL_BODIES = re.findall(r"^body='(.*)'$", DOC, re.M)
ROUTE = {"whatsapp_business_account": ("whatsapp", "sales"), "page": ("messenger", "support")}


@pytest.fixture
def config() -> Config:
    return replace(make_config(), meta=MetaSettings(app_secret=SECRET, fetch_profiles=False))


def test_the_doc_has_both_channels_in_both_forms() -> None:
    for bodies in (JSON_BODIES, [b.replace("'$(date +%s)'", "1").replace("'$(date +%s000)'", "1") for b in SHELL_BODIES]):
        objects = {msgspec.json.decode(b)["object"] for b in bodies}
        assert objects == set(ROUTE), objects
    assert f"-hmac {SECRET} " in DOC  # the recipes sign with the demo's secret


@pytest.mark.parametrize("body", JSON_BODIES + SHELL_BODIES, ids=lambda b: b[:40])
async def test_each_example_body_becomes_a_conversation(running: Running, body: str) -> None:
    now = int(time.time())
    raw = body.replace("'$(date +%s)'", str(now)).replace("'$(date +%s000)'", str(now * 1000)).encode()
    channel, queue = ROUTE[msgspec.json.decode(raw)["object"]]
    r = await running.http.post(
        f"{running.base}/webhooks/{channel}",
        content=raw,
        headers={HEADER: sign(SECRET, raw), "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.json() == {"ok": True, "events": {"message": 1}}, r.text
    inbox = await running.node.store.inbox(queue)
    assert len(inbox) == 1 and inbox[0].channel == channel

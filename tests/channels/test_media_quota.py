"""The media quota as a node meets it: a download past it fails saying so,
an upload past it is refused (the rule itself: tests/app/test_media_housekeeping.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from msgspec.structs import replace

from protocol import errors
from protocol import messages as p
from server.config import MediaSettings
from tests.channels import payloads as pl
from tests.channels.conftest import TOKENS, Hub, channel_config, serve
from tests.channels.metastub import MetaStub, StubMedia
from tests.conftest import token
from tests.fixtures import media as files


@pytest.fixture
async def hub(meta: MetaStub) -> AsyncIterator[Hub]:
    config = replace(channel_config(meta), media=MediaSettings(quota_bytes=5_000, backoff_seconds=0.01))
    async for h in serve(config, meta):
        yield h


async def test_past_the_quota_a_download_fails_saying_so_and_an_upload_is_refused(hub: Hub, meta: MetaStub) -> None:
    meta.media["6001"] = StubMedia(data=files.jpeg(), mime_type="image/jpeg", token=TOKENS["wa"])
    ana = await hub.agent("ana")
    conv = await hub.assigned_whatsapp(ana)
    assert (await hub.whatsapp(pl.wa_inbound(pl.wa_message("image", {"id": "6001", "mime_type": "image/jpeg"})))).status_code == 200
    failed = await ana.event(p.MessageUpdated, lambda e: e.message.media is not None and e.message.media.state == "failed")
    assert "quota" in failed.message.media.error
    refused = await hub.http.post(
        f"{hub.base}/api/media/uploads",
        params={"conversation_id": conv.id, "filename": "big.pdf"},
        content=files.PDF + b"%" * 6_000,
        headers={"Authorization": f"Bearer {token('ana')}"},
    )
    assert refused.status_code == 400 and refused.json()["code"] == errors.MEDIA_REFUSED and "quota" in refused.json()["message"]

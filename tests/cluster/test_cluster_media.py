"""Three nodes share what customers send through one S3-compatible bucket (a
real ``moto_server`` process): the node that took the webhook fetches and
stores the photo, an agent on another node sees it arrive, a third node
serves it; a file uploaded on one node is sent by another."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import msgspec
import pytest

from protocol import messages as p
from server.blobs.s3 import S3Blobs
from server.channels.signature import HEADER, sign
from tests.channels import payloads as pl
from tests.channels.metastub import MetaStub, StubMedia
from tests.cluster.conftest import Cluster
from tests.conftest import token
from tests.contract.conftest import s3_bucket
from tests.contract.s3proc import ACCESS_KEY, SECRET_KEY, shared_s3
from tests.fixtures import media as files

APP_SECRET = "cluster-media-app-secret"
WA_TOKEN = "EAAtoken-cluster"


@pytest.fixture
async def meta() -> AsyncIterator[MetaStub]:
    stub = MetaStub(tokens={"100200300": WA_TOKEN})
    await stub.start()
    yield stub
    await stub.stop()


async def test_three_nodes_share_media_through_the_bucket(
    cluster: Cluster, http: httpx.AsyncClient, meta: MetaStub, tmp_path: Path
) -> None:
    s3 = shared_s3()
    extra = "\n".join(
        [
            "[meta]",
            f'app_secret = "{APP_SECRET}"',
            'verify_token = "v"',
            f'graph_api_base = "{meta.base}"',
            "backoff_seconds = 0.05",
            "[media]",
            'store = "s3"',
            f's3_endpoint = "{s3.endpoint}"',
            f's3_bucket = "{s3_bucket(tmp_path)}"',
            "s3_secure = false",
            's3_region = "us-east-1"',
            f's3_access_key = "{ACCESS_KEY}"',
            f's3_secret_key = "{SECRET_KEY}"',
            "backoff_seconds = 0.05",
        ]
    )
    n1, n2, n3 = await cluster.start(http, 3, extra=extra, wa_token=WA_TOKEN)
    photo = files.jpeg()
    meta.media["9101"] = StubMedia(data=photo, mime_type="image/jpeg", token=WA_TOKEN)
    ana = await cluster.agent(n2, "ana")

    body = msgspec.json.encode(pl.wa_inbound(pl.wa_message("image", {"id": "9101", "mime_type": "image/jpeg", "sha256": hashlib.sha256(photo).hexdigest()})))
    answer = await http.post(f"{n1.base}/webhooks/whatsapp", content=body, headers={"Content-Type": "application/json", HEADER: sign(APP_SECRET, body)})
    assert answer.status_code == 200, answer.text
    conv_id = (await ana.event(p.InboxAdded, timeout=10)).conversation.id
    await ana.call(p.Claim, conversation_id=conv_id)
    first = (await ana.call(p.Open, conversation_id=conv_id)).messages[-1]
    ready = await ana.event(p.MessageUpdated, lambda e: e.message.id == first.id and e.message.media.state == "ready", timeout=15)
    assert ready.message.media.thumbnail and meta.downloads == ["9101"]

    auth = {"Authorization": f"Bearer {token('ana')}"}
    link = (await http.get(f"{n3.base}/api/media/{first.id}/link", headers=auth)).json()["url"]
    served = await http.get(n3.base + link)
    assert served.status_code == 200 and served.content == photo
    bucket = S3Blobs(s3.endpoint, s3_bucket(tmp_path), access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False, region="us-east-1")
    assert await bucket.get(hashlib.sha256(photo).hexdigest()) == photo  # in the bucket, not on one node's disk

    made = await http.post(
        f"{n3.base}/api/media/uploads", params={"conversation_id": conv_id, "filename": "fatura.pdf"}, content=files.PDF, headers=auth
    )
    assert made.status_code == 201, made.text
    sent = await ana.call(p.SendMedia, conversation_id=conv_id, upload_id=made.json()["upload_id"], caption="Segue")
    await ana.event(p.MessageUpdated, lambda e: e.message.id == sent.message.id and e.message.status == "sent", timeout=15)
    [uploaded] = meta.uploaded.values()
    assert (uploaded.data, uploaded.mime_type) == (files.PDF, "application/pdf")

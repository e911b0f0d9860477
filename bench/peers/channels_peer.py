"""Django Channels with channels_redis (RedisChannelLayer, default settings),
on uvicorn: each consumer joins the group; publish is ``group_send``, which
channels_redis turns into one message per member channel in Redis."""

from __future__ import annotations

import django
import uvicorn
from django.conf import settings

from bench.peers import READY, args, frame_text

a = args(__doc__ or "")
settings.configure(
    DEBUG=False,
    INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [a.redis]}}},
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
)
django.setup()
urlpatterns: list[object] = []

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402


class Fanout(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add("fanout", self.channel_name)
        await self.accept()
        await self.send(text_data=READY)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard("fanout", self.channel_name)

    async def fan_out(self, event: dict[str, str]) -> None:
        await self.send(text_data=event["text"])


seq = 0


async def publish(request: Request) -> JSONResponse:
    global seq
    body = await request.json()
    seq += 1
    layer = get_channel_layer()
    await layer.group_send("fanout", {"type": "fan.out", "text": frame_text(seq, body["k"], body["t"], a.size)})
    return JSONResponse({"seq": seq})


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


app = ProtocolTypeRouter(
    {
        "http": Starlette(routes=[Route("/publish", publish, methods=["POST"]), Route("/healthz", healthz)]),
        "websocket": URLRouter([path("ws", Fanout.as_asgi())]),
    }
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=a.port, lifespan="off", log_level="warning", ws_per_message_deflate=False)

"""A stand-in for Meta's Graph API for the long scenarios (``python -m bench.graphstub --port P``).

Without it the bench's touchpoints have no access token, so every agent
reply stays ``pending`` for good, and the node's sender re-reads all of them
every ``sweep_seconds`` (a pause that grows with the run: see bench/README.md,
"Soak"). With it, the node sends each reply as it would to Meta, and the
stub answers at once as Meta does on success (a wamid, a mid for Messenger).
One process, counted apart from the node (its CPU is not the node's).

It also holds one photo (``--image-bytes``, a JPEG of about that size made
with Pillow at start) under every media id: ``GET /{version}/{media-id}``
answers where it is, as Meta does, and the URL serves its bytes (the
``steady --media-share`` runs: customers send photos the node downloads).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.center import GRAPH_TOKEN as TOKEN


def photo(size: int) -> bytes:
    """A JPEG of about ``size`` bytes (random pixels do not compress)."""
    import io
    import random

    from PIL import Image

    rng = random.Random(size)
    side = 64
    while True:
        img = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
        out = io.BytesIO()
        img.save(out, "JPEG", quality=90)
        if out.tell() >= size:
            return out.getvalue()
        side = int(side * 1.2)


def app(image_bytes: int = 200_000) -> Starlette:
    ids = itertools.count(1)
    image = photo(image_bytes) if image_bytes else b""
    digest = hashlib.sha256(image).hexdigest()

    async def messages(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}, 401)
        body = await request.json()
        n = next(ids)
        if body.get("messaging_product") == "whatsapp":
            return JSONResponse(
                {"messaging_product": "whatsapp", "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                 "messages": [{"id": f"wamid.stub.{n}"}]}
            )
        return JSONResponse({"recipient_id": (body.get("recipient") or {}).get("id"), "message_id": f"mid.stub.{n}"})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def media(request: Request) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}, 401)
        media_id = request.path_params["media_id"]
        url = f"{request.base_url}files/{media_id}"
        return JSONResponse({"messaging_product": "whatsapp", "url": url, "mime_type": "image/jpeg", "sha256": digest, "file_size": len(image), "id": media_id})

    async def file(request: Request) -> Response:
        return Response(image, media_type="image/jpeg")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/{version}/{node}/messages", messages, methods=["POST"]),
            Route("/files/{media_id}", file),  # before the next: "/files/x" would match it
            Route("/{version}/{media_id}", media),
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--image-bytes", type=int, default=200_000, help="size of the photo served under every media id")
    a = ap.parse_args()
    uvicorn.run(app(a.image_bytes), host="127.0.0.1", port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

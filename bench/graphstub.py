"""A stand-in for Meta's Graph API for the long scenarios (``python -m bench.graphstub --port P``).

Without it the bench's touchpoints have no access token, so every agent
reply stays ``pending`` for good, and the node's sender re-reads all of them
every ``sweep_seconds`` (a pause that grows with the run: see bench/README.md,
"Soak"). With it, the node sends each reply as it would to Meta, and the
stub answers at once as Meta does on success (a wamid, a mid for Messenger).
One process, counted apart from the node (its CPU is not the node's).
"""

from __future__ import annotations

import argparse
import itertools

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.center import GRAPH_TOKEN as TOKEN


def app() -> Starlette:
    ids = itertools.count(1)

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

    return Starlette(routes=[Route("/healthz", healthz), Route("/{version}/{node}/messages", messages, methods=["POST"])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    uvicorn.run(app(), host="127.0.0.1", port=a.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

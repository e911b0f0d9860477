"""Files customers sent, to agents: ``GET /api/media/{message_id}/link``
(with the agent's token) answers a short-lived signed link; the link itself
(``GET /api/media/{message_id}`` and ``.../thumbnail``) needs no headers, so
the web app puts it in ``<img>``, ``<audio>`` and ``<video>``.

What is answered: the type the bytes showed when stored (never the
customer's file name), ``nosniff`` (added to every response), a sandboxing
``Content-Security-Policy`` (a file is never a page that runs), documents
and unknown types as ``attachment``, and single byte ranges (audio and video
seek with them)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from protocol import errors
from server.app.media import LinkRefused, MediaFiles, Variant
from server.core.errors import DomainError
from server.core.model import Agent
from server.http.parts import MsgspecResponse, Refused, agent_of, endpoint, parts, read_limited

RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def files(request: Request) -> MediaFiles:
    found: MediaFiles = parts(request).media
    return found


@endpoint
async def link(request: Request) -> Response:
    agent = await agent_of(request)
    variant = request.query_params.get("variant", "file")
    if variant not in ("file", "thumbnail"):
        raise DomainError(errors.INVALID_ARGUMENT, "variant is file or thumbnail.")
    made = await files(request).link(agent, request.path_params["message_id"], variant)  # type: ignore[arg-type]
    return MsgspecResponse(made, headers={"Cache-Control": "no-store"})


@endpoint
async def file(request: Request) -> Response:
    return await _serve(request, "file")


@endpoint
async def thumbnail(request: Request) -> Response:
    return await _serve(request, "thumbnail")


async def _serve(request: Request, variant: Variant) -> Response:
    q = request.query_params
    agent: Agent | None = None
    try:
        agent = parts(request).app.catalog.agent(q.get("agent", ""))
    except DomainError:
        agent = None
    exp = q.get("exp", "")
    media = files(request)
    try:
        served = await media.open(agent, request.path_params["message_id"], variant, int(exp) if exp.isdigit() else -1, q.get("sig", ""))
    except LinkRefused as e:
        return JSONResponse({"code": errors.FORBIDDEN, "message": str(e)}, status_code=403)
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=300",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Content-Disposition": _disposition(served.inline, served.filename),
    }
    start, stop, status = 0, served.size, 200
    wanted = request.headers.get("range")
    if wanted:
        chosen = _range(wanted, served.size)
        if chosen is None:
            return Response(status_code=416, headers={"Content-Range": f"bytes */{served.size}", **headers})
        start, stop = chosen
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{served.size}"
    body = await media.read(served, start, stop) if request.method != "HEAD" else b""
    headers["Content-Length"] = str(stop - start)
    return Response(body, status_code=status, headers=headers, media_type=served.mime_type)


def _range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range (``bytes=0-99``, ``bytes=100-``, ``bytes=-50``) as
    [start, stop); None when it cannot be served (several ranges, past the end)."""
    match = RANGE.fullmatch(header.strip())
    if match is None or size == 0:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        return (max(0, size - n), size) if n > 0 else None
    start = int(first)
    stop = min(int(last) + 1, size) if last else size
    if start >= size or stop <= start:
        return None
    return start, stop


def _disposition(inline: bool, filename: str) -> str:
    kind: Literal["inline", "attachment"] = "inline" if inline else "attachment"
    if not filename:
        return kind
    # The customer's name, as data: ASCII-safe fallback plus RFC 5987's UTF-8 form.
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", filename)[:100] or "file"
    return f"{kind}; filename=\"{safe}\"; filename*=UTF-8''{quote(filename[:200], safe='')}"


@endpoint
async def upload(request: Request) -> Response:
    """``POST /api/media/uploads?conversation_id=…&filename=…``: the raw
    bytes as the body (any Content-Type: what the file is is read from it)."""
    agent = await agent_of(request)
    media = files(request)
    conv_id = request.query_params.get("conversation_id", "")
    if not conv_id:
        raise DomainError(errors.INVALID_ARGUMENT, "Name the conversation: ?conversation_id=…")
    limit = media.upload_limit()
    body = await read_limited(request, limit)
    if body is None:
        raise Refused(413, errors.MEDIA_REFUSED, f"The file is over {limit} bytes.")
    made = await media.upload(agent, conv_id, request.query_params.get("filename", ""), body)
    return MsgspecResponse(made, status_code=201, headers={"Cache-Control": "no-store"})

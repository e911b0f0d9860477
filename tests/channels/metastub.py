"""A stand-in for Meta's Graph API on a loopback port (a real HTTP server).

It takes sends in Meta's request format, records them, and answers as Meta
does: a wamid / mid on success, Meta's error envelope otherwise. Tests script
the next answers (``then``): errors with Meta's codes, 5xx, 429 with
Retry-After, or a slow answer that outlives the client's timeout.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import itertools
import json
import re
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.conftest import free_port

VERSION = "v21.0"


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: dict[str, Any] | None = None
    """None: Meta's success answer for the request."""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    accept: bool = False
    """Meta took the message even though the answer is an error or late
    (it is then recorded in ``accepted``)."""


@dataclass
class Upload:
    """A file in a multipart request (WhatsApp's media upload, Messenger's ``filedata``)."""

    data: bytes
    mime_type: str
    filename: str


@dataclass
class Sent:
    """One request as Meta received it."""

    path: str
    token: str
    body: dict[str, Any]
    answer: int = 0
    file: Upload | None = None
    """The file a multipart send carried (Messenger attachments)."""
    message_id: str | None = None
    """The wamid / mid Meta gave it, when Meta took it."""


def graph_error(
    code: int,
    message: str,
    *,
    status: int = 400,
    subcode: int | None = None,
    details: str | None = None,
    type: str = "OAuthException",
    **reply: Any,
) -> Reply:
    """Meta's error envelope: {"error": {message, type, code, error_subcode, error_data, fbtrace_id}}."""
    error: dict[str, Any] = {"message": message, "type": type, "code": code, "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return Reply(status=status, body={"error": error}, **reply)


RE_ENGAGEMENT = graph_error(
    131047,
    "(#131047) Re-engagement message",
    subcode=2494010,
    details="Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
)
OUTSIDE_WINDOW = graph_error(10, "(#10) This message is sent outside of allowed window.", subcode=2018278)
SERVER_ERROR = graph_error(1, "An unknown error occurred", status=500)
THROTTLED = graph_error(130429, "(#130429) Rate limit hit", status=429, headers={"Retry-After": "0"})
BAD_RECIPIENT = graph_error(
    131026, "(#131026) Message Undeliverable", details="Recipient is not a valid WhatsApp user."
)


@dataclass
class StubMedia:
    """A file Meta holds for a media id (WhatsApp) or at a CDN URL (Messenger)."""

    data: bytes
    mime_type: str
    sha256: str | None = None
    """What Meta states; None: the bytes' real SHA-256 (hex)."""
    file_size: int | None = -1
    """What Meta states; -1: the real size; None: not stated."""
    failures: int = 0
    """The next downloads of the bytes that answer 500."""
    token: str = ""
    """The bearer token the Graph API expects for it (WhatsApp)."""
    drip: float = 0.0
    """Serve the bytes in 10 chunks this many seconds apart (a slow server)."""


def multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """A multipart/form-data body → (text fields, files), with the standard library's MIME parser."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = Upload(data=payload, mime_type=part.get_content_type(), filename=filename)
        else:
            fields[name] = payload.decode()
    return fields, files


class MetaStub:
    def __init__(self, tokens: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/{VERSION}"
        self.tokens = tokens or {}
        """Access token expected per sender (phone_number_id or "me"); empty: any."""
        self.sent: list[Sent] = []
        self.script: deque[Reply] = deque()
        self.profiles: dict[str, dict[str, str]] = {}
        self.profile_requests: list[str] = []
        self.media: dict[str, StubMedia] = {}
        """Media ids (WhatsApp) and CDN names (Messenger) → their files."""
        self.uploaded: dict[str, Upload] = {}
        """Files the business uploaded (WhatsApp ``/media``), by the media id answered."""
        self.downloads: list[str] = []
        """Every request for a file's bytes, by id (whatever the answer)."""
        self._ids = itertools.count(1)
        self._arrived = asyncio.Condition()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ scripting

    def then(self, *replies: Reply) -> None:
        """The next sends get these answers, in order; after them, success."""
        self.script.extend(replies)

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.message_id is not None]

    async def wait_sent(self, n: int, timeout: float = 5.0) -> list[Sent]:
        async def enough() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: len(self.sent) >= n)

        await asyncio.wait_for(enough(), timeout)
        return self.sent

    # ------------------------------------------------------------------ HTTP

    async def _send(self, request: Request) -> Response:
        sender = request.path_params["sender"]
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        upload: Upload | None = None
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            fields, files = multipart(request.headers["content-type"], await request.body())
            body: Any = {k: json.loads(v) if k in ("recipient", "message") else v for k, v in fields.items()}
            upload = files.get("filedata")
        else:
            try:
                body = await request.json()
            except ValueError:
                body = None
        record = Sent(path=request.url.path, token=token, body=body if isinstance(body, dict) else {}, file=upload)
        self.sent.append(record)
        async with self._arrived:
            self._arrived.notify_all()
        reply = self.script.popleft() if self.script else Reply()
        if self.tokens.get(sender) not in (None, token):
            reply = graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
        elif (problem := self._malformed(sender, record.body)) is not None:
            reply = graph_error(100, f"(#100) {problem}")
        answer = reply.body
        if reply.status == 200 or reply.accept:
            record.message_id = self._new_id(sender)
        if answer is None:
            answer = self._success(sender, record)
        record.answer = reply.status
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return JSONResponse(answer, status_code=reply.status, headers=reply.headers)

    async def _upload(self, request: Request) -> Response:
        """WhatsApp ``POST /{phone_number_id}/media`` (multipart: file, type, messaging_product)."""
        sender = request.path_params["sender"]
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self.tokens.get(sender) not in (None, token):
            bad = graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
            return JSONResponse(bad.body, status_code=bad.status)
        fields, files = multipart(request.headers.get("content-type", ""), await request.body())
        file = files.get("file")
        if fields.get("messaging_product") != "whatsapp" or file is None or not fields.get("type"):
            bad = graph_error(100, "(#100) messaging_product, type and file are required")
            return JSONResponse(bad.body, status_code=bad.status)
        media_id = f"up{next(self._ids):06d}"
        self.uploaded[media_id] = Upload(data=file.data, mime_type=fields["type"], filename=file.filename)
        return JSONResponse({"id": media_id})

    def _new_id(self, sender: str) -> str:
        n = next(self._ids)
        return f"m_stub{n:06d}" if sender == "me" else f"wamid.HBgLNTUxMTk{n:06d}FQIAERgSQzI="

    def _malformed(self, sender: str, body: dict[str, Any]) -> str | None:
        """What Meta would refuse as an invalid parameter (a few checks only)."""
        if sender == "me":
            if "id" not in body.get("recipient", {}):
                return "recipient.id is required"
            attachment = body.get("message", {}).get("attachment")
            if attachment is not None and attachment.get("type") not in ("image", "audio", "video", "file"):
                return "message.attachment.type is invalid"
            if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
                return "messaging_type is invalid"
            if body.get("messaging_type") == "MESSAGE_TAG" and not body.get("tag"):
                return "tag is required with MESSAGE_TAG"
            return None
        if body.get("messaging_product") != "whatsapp":
            return "messaging_product must be whatsapp"
        to, recipient = body.get("to"), body.get("recipient")
        if bool(to) == bool(recipient):
            return "give one of to (a phone number) or recipient (a business-scoped user id)"
        if to and not re.fullmatch(r"\+?\d{1,15}", to):
            return f"to {to!r} is not a phone number"
        if recipient and not (isinstance(recipient, str) and re.fullmatch(r"[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}", recipient)):
            return f"recipient {recipient!r} is not a business-scoped user id"
        kind = body.get("type")
        if kind == "text" and not body.get("text", {}).get("body"):
            return "text.body is required"
        if kind == "template" and not body.get("template", {}).get("name"):
            return "template.name is required"
        if kind in ("image", "audio", "video", "document"):
            return None if body.get(kind, {}).get("id") in self.uploaded else f"{kind}.id is not an uploaded media id"
        if kind not in ("text", "template"):
            return f"type {kind!r} is not handled by this stand-in"
        return None

    @staticmethod
    def _success(sender: str, record: Sent) -> dict[str, Any]:
        if sender == "me":
            return {"recipient_id": record.body["recipient"]["id"], "message_id": record.message_id}
        if "recipient" in record.body:  # sent to a business-scoped user id
            bsuid = record.body["recipient"]
            contact = {"input": bsuid, "user_id": bsuid}
        else:
            to = record.body["to"]
            contact = {"input": to, "wa_id": to.lstrip("+")}
        return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": record.message_id}]}

    def media_url(self, name: str) -> str:
        """A Messenger attachment's payload URL for ``self.media[name]``."""
        return f"http://127.0.0.1:{self.port}/cdn/{name}"

    async def _media_info(self, media_id: str, request: Request) -> Response:
        """GET /{media-id}: where the file is (the URL is only good with the token)."""
        media = self.media[media_id]
        if request.headers.get("authorization", "") != f"Bearer {media.token}":
            bad = graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
            return JSONResponse(bad.body, status_code=bad.status)
        answer: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "url": f"http://127.0.0.1:{self.port}/files/{media_id}?ext=1",
            "mime_type": media.mime_type,
            "sha256": media.sha256 if media.sha256 is not None else hashlib.sha256(media.data).hexdigest(),
            "id": media_id,
        }
        if media.file_size is not None:
            answer["file_size"] = len(media.data) if media.file_size == -1 else media.file_size
        return JSONResponse(answer)

    async def _file(self, request: Request) -> Response:
        """The bytes of a WhatsApp media URL (token required) or a Messenger CDN URL."""
        name = request.path_params["name"]
        self.downloads.append(name)
        media = self.media.get(name)
        if media is None:
            return Response(status_code=404)
        if request.url.path.startswith("/files/") and request.headers.get("authorization", "") != f"Bearer {media.token}":
            return Response(status_code=401)
        if media.failures > 0:
            media.failures -= 1
            return Response(b"busy", status_code=500)
        if media.drip:
            return StreamingResponse(self._dripped(media), media_type=media.mime_type)
        return Response(media.data, media_type=media.mime_type)

    @staticmethod
    async def _dripped(media: StubMedia) -> AsyncIterator[bytes]:
        step = max(1, len(media.data) // 10)
        for i in range(0, len(media.data), step):
            await asyncio.sleep(media.drip)
            yield media.data[i : i + step]

    async def _profile(self, request: Request) -> Response:
        psid = request.path_params["psid"]
        if psid in self.media:
            return await self._media_info(psid, request)
        self.profile_requests.append(psid)
        profile = self.profiles.get(psid)
        if profile is None:
            missing = graph_error(100, "(#100) No profile available for that user.")
            return JSONResponse(missing.body, status_code=missing.status)
        return JSONResponse({**profile, "id": psid})

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = Starlette(
            routes=[
                Route(f"/{VERSION}/{{sender}}/messages", self._send, methods=["POST"]),
                Route(f"/{VERSION}/{{sender}}/media", self._upload, methods=["POST"]),
                Route(f"/{VERSION}/{{psid}}", self._profile, methods=["GET"]),
                Route("/files/{name}", self._file, methods=["GET"]),
                Route("/cdn/{name}", self._file, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task

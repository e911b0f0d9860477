"""The Graph API over HTTP: send a message, read a Messenger profile name.

``classify`` (pure) turns Meta's answer into ``Accepted`` or ``Refused``;
``GraphClient`` around it only does the I/O (httpx, with timeouts). Meta's
errors look like::

    {"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException",
               "code": 131047, "error_subcode": 2494010,
               "error_data": {"messaging_product": "whatsapp", "details": "..."},
               "fbtrace_id": "A1b2..."}}
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import msgspec
from msgspec import Struct

from protocol import depth
from server.app.media import FetchFailed, Located
from server.channels import messenger, whatsapp
from server.channels.errors import Unsendable
from server.core.model import Media, Message, Touchpoint

log = logging.getLogger(__name__)

RATE_LIMITED = {4, 17, 32, 613, 80007, 130429, 131056}
"""Application, user, page, WABA throughput and pair rate limits: retry later."""
TRANSIENT = {1, 2, 131000, 131016, 133004} | RATE_LIMITED
"""Unknown error, service unavailable, something went wrong, server busy."""


class Accepted(Struct, frozen=True, kw_only=True):
    """Meta took the message; its id (wamid / mid) names it in later webhooks."""

    channel_message_id: str | None


class Refused(Struct, frozen=True, kw_only=True):
    """Meta (or the network) did not take the message."""

    code: str
    """Meta's error code ("131047"), or ours for what Meta did not answer
    ("timeout", "unreachable", "network", "http_503")."""
    text: str
    transient: bool
    """Worth another attempt: 5xx, 429, rate limits, timeouts, network."""
    window_closed: bool = False
    """The reply window is closed (WhatsApp 131047, Messenger 10/2018278)."""
    retry_after: float | None = None
    """Seconds Meta asked us to wait (Retry-After)."""
    in_doubt: bool = False
    """The request may have reached Meta: it was written but no answer came."""


class _ErrorBody(Struct):
    message: str = ""
    type: str = ""
    code: int = 0
    error_subcode: int | None = None
    error_user_title: str = ""
    error_user_msg: str = ""
    error_data: dict[str, Any] | str | None = None
    is_transient: bool = False
    fbtrace_id: str = ""


class _ErrorEnvelope(Struct):
    error: _ErrorBody


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff decides instead


def classify(channel: str, status: int, body: bytes, retry_after: str | None = None) -> Accepted | Refused:
    """Meta's answer to a send → Accepted or Refused. Pure."""
    if 200 <= status < 300:
        try:
            answer = depth.decode(body)
        except msgspec.DecodeError:
            answer = None
        # A 2xx means Meta took it, even if we cannot read the id: statuses
        # and echoes still find the message through the id we sent along.
        return Accepted(channel_message_id=(whatsapp if channel == "whatsapp" else messenger).sent_id(answer))
    wait = _retry_after(retry_after)
    try:
        error = depth.decode(body, type=_ErrorEnvelope).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Refused(
            code=f"http_{status}",
            text=f"The Graph API answered HTTP {status}.",
            transient=status >= 500 or status == 429,
            retry_after=wait,
        )
    details = error.error_data.get("details", "") if isinstance(error.error_data, dict) else (error.error_data or "")
    text = error.error_user_msg or error.message or f"The Graph API answered HTTP {status}."
    if details and details not in text:
        text = f"{text} {details}"
    window_closed = error.code == whatsapp.WINDOW_CLOSED or (error.code, error.error_subcode) == messenger.WINDOW_CLOSED
    transient = not window_closed and (
        status >= 500 or status == 429 or error.code in TRANSIENT or error.is_transient
    )
    return Refused(
        code=str(error.code) if error.code else f"http_{status}",
        text=text,
        transient=transient,
        window_closed=window_closed,
        retry_after=wait,
    )


class GraphClient:
    """One pooled HTTP client for every touchpoint; tokens go in the
    Authorization header (never in URLs, which end up in logs)."""

    def __init__(
        self,
        base: str,
        *,
        timeout: float,
        connect_timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=transport,
            headers={"User-Agent": "switchboard"},
        )
        self._profile_timeout = httpx.Timeout(min(timeout, 3.0), connect=connect_timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, touchpoint: Touchpoint, to: str, message: Message, data: bytes | None = None) -> Accepted | Refused:
        """Send one message (``data``: the bytes of its file, for a media
        message). Raises Unsendable for a kind the channel cannot carry;
        every network or Meta failure is a Refused, never an exception."""
        headers = {"Authorization": f"Bearer {touchpoint.access_token}"}
        if message.media is not None:
            if data is None:
                raise Unsendable("The file of this message is no longer stored.")
            if touchpoint.channel == "messenger":
                path, fields = messenger.attachment_request(to, message)
                return await self._post(touchpoint, path, headers, data=fields, files=_file(message, data, "filedata"))
            upload_path, fields = whatsapp.upload_request(touchpoint.address, message)
            uploaded = await self._post(
                touchpoint, upload_path, headers, data=fields, files=_file(message, data, "file"), answer=whatsapp.uploaded_id
            )
            if isinstance(uploaded, Refused):
                return uploaded
            if uploaded.channel_message_id is None:
                return Refused(code="upload", text="The Graph API took the file but gave no media id.", transient=True)
            path, body = whatsapp.send_request(touchpoint.address, to, message, media_id=uploaded.channel_message_id)
            return await self._post(touchpoint, path, headers, json=body)
        if touchpoint.channel == "whatsapp":
            path, body = whatsapp.send_request(touchpoint.address, to, message)
        else:
            path, body = messenger.send_request(to, message)
        return await self._post(touchpoint, path, headers, json=body)

    async def _post(
        self,
        touchpoint: Touchpoint,
        path: str,
        headers: dict[str, str],
        *,
        answer: Callable[[Any], str | None] | None = None,
        **request: Any,
    ) -> Accepted | Refused:
        """One POST to the Graph API → Accepted (with the id ``answer`` reads,
        by default the sent message's) or Refused."""
        try:
            r = await self._http.post(self.base + path, headers=headers, **request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            # The request never left: retrying cannot send it twice.
            return Refused(code="unreachable", text=f"Could not reach the Graph API ({type(e).__name__}).", transient=True)
        except httpx.TimeoutException as e:
            return Refused(
                code="timeout", text=f"The Graph API did not answer in time ({type(e).__name__}).", transient=True, in_doubt=True
            )
        except httpx.HTTPError as e:
            return Refused(code="network", text=f"Network error talking to the Graph API ({type(e).__name__}).", transient=True, in_doubt=True)
        decided = classify(touchpoint.channel, r.status_code, r.content, r.headers.get("retry-after"))
        if answer is not None and isinstance(decided, Accepted):
            try:
                return Accepted(channel_message_id=answer(depth.decode(r.content)))
            except msgspec.DecodeError:
                return Accepted(channel_message_id=None)
        return decided

    async def profile_name(self, touchpoint: Touchpoint, psid: str) -> str | None:
        """A Messenger contact's name (User Profile API), or None when Meta
        will not say. Best effort: a failure only costs the name."""
        try:
            r = await self._http.get(
                f"{self.base}/{quote(psid, safe='')}",
                params={"fields": "first_name,last_name"},
                headers={"Authorization": f"Bearer {touchpoint.access_token}"},
                timeout=self._profile_timeout,
            )
            if r.status_code != 200:
                log.info("profile of %s on %s: HTTP %d", psid, touchpoint.id, r.status_code)
                return None
            answer = r.json()
        except (httpx.HTTPError, ValueError) as e:
            log.info("profile of %s on %s: %s", psid, touchpoint.id, type(e).__name__)
            return None
        if not isinstance(answer, dict):
            return None
        name = " ".join(str(answer.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
        return name or (str(answer.get("name") or "").strip() or None)


def _file(message: Message, data: bytes, field: str) -> dict[str, tuple[str, bytes, str]]:
    """The multipart file part: WhatsApp's upload takes ``file``, Messenger's send ``filedata``."""
    assert message.media is not None
    media = message.media
    return {field: (media.filename or "file", data, media.mime_type)}


class MediaSource:
    """Where a customer's file is and its bytes (``app.media.Source``).
    WhatsApp: ``GET /{media-id}`` with the touchpoint's token answers
    ``{url, mime_type, sha256, file_size, id}``; the URL (valid for minutes)
    is fetched with the same token. Messenger: the attachment's payload URL,
    fetched as it is (no token: it is a signed CDN link)."""

    def __init__(self, base: str, *, timeout: float, connect_timeout: float) -> None:
        self.base = base.rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=connect_timeout), headers={"User-Agent": "switchboard"}, follow_redirects=True
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def locate(self, touchpoint: Touchpoint, media: Media) -> Located:
        if touchpoint.channel == "messenger":
            if not media.source_url:
                raise FetchFailed("The attachment has no URL.", final=True)
            return Located(url=media.source_url)
        if not touchpoint.access_token:
            raise FetchFailed("The touchpoint has no access token to fetch media with.")
        try:
            r = await self._http.get(
                f"{self.base}/{quote(media.source_id, safe='')}", headers={"Authorization": f"Bearer {touchpoint.access_token}"}
            )
        except httpx.HTTPError as e:
            raise FetchFailed(f"Could not ask the Graph API for the media URL ({type(e).__name__}).") from e
        if r.status_code != 200:
            refused = classify(touchpoint.channel, r.status_code, r.content)
            text = refused.text if isinstance(refused, Refused) else f"HTTP {r.status_code}"
            # 4xx other than rate limits: the media id is unknown or gone.
            final = isinstance(refused, Refused) and not refused.transient and r.status_code != 401
            raise FetchFailed(f"The Graph API refused the media URL: {text}", final=final)
        try:
            info = depth.decode(r.content, type=_MediaInfo)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            raise FetchFailed(f"The Graph API's media answer is unreadable ({e}).") from e
        if not info.url.startswith(("https://", "http://")):
            raise FetchFailed("The Graph API gave no media URL.")
        return Located(url=info.url, size=info.file_size, sha256=info.sha256, mime_type=info.mime_type)

    async def download(self, touchpoint: Touchpoint, url: str, limit: int) -> bytes:
        headers = {"Authorization": f"Bearer {touchpoint.access_token}"} if touchpoint.channel == "whatsapp" else {}
        chunks: list[bytes] = []
        size = 0
        try:
            async with self._http.stream("GET", url, headers=headers) as r:
                if r.status_code != 200:
                    final = r.status_code in (403, 404, 410)
                    raise FetchFailed(f"The media download answered HTTP {r.status_code}.", final=final)
                declared = r.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    raise FetchFailed(f"The file is {int(declared)} bytes, over the {limit} byte limit.", final=True)
                async for chunk in r.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise FetchFailed(f"The file is over the {limit} byte limit.", final=True)
                    chunks.append(chunk)
        except httpx.HTTPError as e:
            raise FetchFailed(f"The media download failed ({type(e).__name__}).") from e
        return b"".join(chunks)


class _MediaInfo(Struct):
    url: str = ""
    mime_type: str = ""
    sha256: str = ""
    file_size: int | None = None
    id: str = ""

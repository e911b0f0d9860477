"""Files customers send: fetched in the background, checked, stored, shown.

A message with a file is stored and published at once (``loading``); then
``Downloads.fetch`` starts a task, off the webhook's path, that asks the
channel where the file is (``Source``), downloads it within the kind's size
limit, checks Meta's SHA-256, stores it in the Blobs port, makes a
thumbnail of an image (Pillow, in a worker thread: decoding is CPU work),
and publishes the message again (``message.updated``, ``ready``). A failure
is tried again after a pause that doubles; after ``download_attempts`` the
message shows ``failed`` with the reason. A refusal that another attempt
cannot change (too big, wrong hash) fails at once.

A node that starts looks for files still ``loading`` in the conversations
whose window is open (``resume``) and fetches them (a fresh URL is asked of
the Graph API). What it does not do: share work between nodes (the node
that took the webhook fetches; every node serves the result through the
shared Blobs; after a restart of several nodes each may fetch the same file
once, and the first result is kept).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import logging
import secrets
from collections.abc import Callable
from functools import partial
from typing import Literal, Protocol
from urllib.parse import quote, urlencode

from msgspec import Struct

from protocol import errors
from server.app.catalog import Catalog
from server.app.changes import Changes, Planned
from server.app.uploads import Claim, Uploads
from server.blobs.base import Blobs, BlobsUnavailable
from server.core import conversation as rules
from server.core import media as rules_media
from server.core.errors import DomainError
from server.core.model import Agent, Media, Message, Touchpoint
from server.metrics import Metrics
from server.store.base import Store

log = logging.getLogger(__name__)


META_LIMITS = rules_media.Limits()


class FetchFailed(Exception):
    """A download attempt that did not bring the file. ``final``: another
    attempt cannot help (too big, wrong hash, Meta says the media is gone)."""

    def __init__(self, reason: str, *, final: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.final = reason, final


class Located(Struct, frozen=True, kw_only=True):
    """Where a file is, as the channel says, just before the download."""

    url: str
    size: int | None = None
    sha256: str = ""
    mime_type: str = ""


class Source(Protocol):
    """The channel side (server/channels/graph.py)."""

    async def locate(self, touchpoint: Touchpoint, media: Media) -> Located:
        """Raises FetchFailed."""

    async def download(self, touchpoint: Touchpoint, url: str, limit: int) -> bytes:
        """The bytes, never more than ``limit`` read (FetchFailed past it)."""


class Settings(Struct, frozen=True, kw_only=True):
    limits: rules_media.Limits = META_LIMITS
    attempts: int = 3
    backoff_seconds: float = 1.0
    thumbnail_pixels: int = 320
    concurrency: int = 4
    timeout_seconds: float = 60.0
    """One attempt, from asking where the file is to storing it (a server
    that drips bytes cannot hold a download slot for longer)."""


class Thumbnail(Struct, frozen=True, kw_only=True):
    data: bytes
    width: int
    height: int


def make_thumbnail(data: bytes, pixels: int) -> Thumbnail | None:
    """A small copy of an image (its longest side ``pixels``), JPEG, or
    PNG when it has transparency (stickers); with the original's size.
    None when Pillow cannot read it. Blocking: run it in a thread."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            if width * height > MAX_PIXELS:  # a decompression bomb: shown without a thumbnail
                return None
            img.draft("RGB", (pixels, pixels))  # JPEG: decode at a smaller scale
            img.thumbnail((pixels, pixels))
            out = io.BytesIO()
            if img.mode in ("RGBA", "LA", "P"):
                img.convert("RGBA").save(out, "PNG", optimize=True)
            else:
                img.convert("RGB").save(out, "JPEG", quality=80)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return Thumbnail(data=out.getvalue(), width=width, height=height)


MAX_PIXELS = 40_000_000
"""Images larger than this (40 MP) get no thumbnail: decoding one would take
hundreds of MB (a small PNG can claim a huge canvas)."""


RESUME_LOOKBACK = 50
"""A restarted node looks for unfetched files among this many newest messages per conversation."""


class Downloads:
    def __init__(
        self,
        catalog: Catalog,
        changes: Changes,
        store: Store,
        blobs: Blobs,
        source: Source,
        settings: Settings,
        metrics: Metrics,
        clock: Callable[[], int],
        housekeeping: Housekeeping | None = None,
    ) -> None:
        self.housekeeping = housekeeping
        self.catalog = catalog
        self.changes = changes
        self.store = store
        self.blobs = blobs
        self.source = source
        self.settings = settings
        self.clock = clock
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.outcomes = metrics.counter("switchboard_media_downloads_total", "Media downloads by outcome", ("outcome",))

    def fetch(self, message_id: str) -> None:
        """Start fetching the message's file; returns at once."""
        task = asyncio.create_task(self._run(message_id), name=f"media:{message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def resume(self, conv_ids: list[str]) -> None:
        """After a restart: fetch the files still ``loading`` among the newest
        messages of these conversations (the open ones with a reply window:
        a file that came is a message that opened one). In the background;
        returns at once. On several nodes each may fetch the same file: the
        first result is kept, the others change nothing."""
        task = asyncio.create_task(self._resume(conv_ids), name="media:resume")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resume(self, conv_ids: list[str]) -> None:
        for conv_id in conv_ids:
            try:
                recent = await self.store.messages(conv_id, None, RESUME_LOOKBACK)
            except Exception:
                log.exception("media: could not look for files to fetch in %s", conv_id)
                continue
            for m in recent:
                if m.direction == "in" and m.media is not None and m.media.state == "loading":
                    self.fetch(m.id)

    async def idle(self) -> None:
        """Wait for every download in flight (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _run(self, message_id: str) -> None:
        pause = self.settings.backoff_seconds
        attempts = 0
        try:
            while True:
                message = await self.store.get_message(message_id)
                if message is None or message.media is None or message.media.state != "loading":
                    return
                attempts += 1
                try:
                    async with self._slots:
                        result = await self._attempt_in_time(message, message.media)
                except FetchFailed as e:
                    final = e.final or attempts >= self.settings.attempts
                    log.info("media of %s: attempt %d failed: %s", message_id, attempts, e.reason)
                    if final:
                        await self._change(message_id, partial(rules_media.failed, reason=e.reason, attempts=attempts))
                        self.outcomes.inc(1, "failed")
                        return
                    await asyncio.sleep(pause)
                    pause *= 2
                    continue
                await self._change(message_id, partial(rules_media.stored, result=result))
                self.outcomes.inc(1, "stored")
                return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("media of %s: download stopped", message_id)

    async def _change(self, message_id: str, decide: Callable[[Message], Message | None]) -> None:
        async def attempt() -> Planned | None:
            current = await self.store.get_message(message_id)
            updated = decide(current) if current is not None else None
            if updated is None:
                return None
            return Planned(rules.message_changed(await self.changes.load(updated.conversation_id), updated))

        await self.changes.apply(attempt)

    async def _attempt_in_time(self, message: Message, media: Media) -> rules_media.Stored:
        limit = self.settings.timeout_seconds
        try:
            async with asyncio.timeout(limit):
                return await self._attempt(message, media)
        except TimeoutError:
            raise FetchFailed(f"The download took longer than {limit:g} s.") from None

    async def _attempt(self, message: Message, media: Media) -> rules_media.Stored:
        conv = await self.changes.load(message.conversation_id)
        touchpoint = self.catalog.touchpoint(conv.touchpoint_id)
        limit = self.settings.limits.of(media.kind, touchpoint.channel)
        located = await self.source.locate(touchpoint, media)
        if located.size is not None:  # Meta said how big: refuse before downloading
            refused = rules_media.too_big(media.kind, touchpoint.channel, located.size, self.settings.limits)
            if refused:
                raise FetchFailed(refused, final=True)
        data = await self.source.download(touchpoint, located.url, limit)
        refused = rules_media.too_big(media.kind, touchpoint.channel, len(data), self.settings.limits)
        if refused:
            raise FetchFailed(refused, final=True)
        digest = hashlib.sha256(data).digest()
        for stated in (located.sha256, media.sha256):
            if not rules_media.sha256_matches(stated, digest):
                raise FetchFailed("The file does not match the SHA-256 the channel stated.", final=True)
        mime = rules_media.sniff(data[:64])
        thumb = None
        if media.kind in ("image", "sticker"):
            thumb = await asyncio.to_thread(make_thumbnail, data, self.settings.thumbnail_pixels)
        now = self.clock()
        adding = len(data) + (len(thumb.data) if thumb is not None else 0)
        full = self.housekeeping.full(adding) if self.housekeeping is not None else None
        if full:
            raise FetchFailed(full, final=True)
        try:
            info = await self.blobs.put(data, now=now)
            thumb_key = (await self.blobs.put(thumb.data, now=now)).key if thumb is not None else ""
        except BlobsUnavailable as e:
            raise FetchFailed(f"The file could not be stored ({e}).") from e
        if self.housekeeping is not None:
            self.housekeeping.stored(adding)
        return rules_media.Stored(
            key=info.key,
            size=len(data),
            mime_type=mime,
            thumb_key=thumb_key,
            width=thumb.width if thumb else None,
            height=thumb.height if thumb else None,
            duration_ms=rules_media.ogg_duration_ms(data) if media.kind == "audio" else None,
        )


# --------------------------------------------------------------------------- serving

Variant = Literal["file", "thumbnail"]


class Link(Struct, frozen=True, kw_only=True):
    url: str
    """A path on this node (``/api/media/...``) that works, without headers,
    until ``expires_at``: for ``<img src>``, ``<audio src>``, a download."""
    expires_at: int
    """ms since the epoch."""


class Served(Struct, frozen=True, kw_only=True):
    """A file to answer with, once the link checked out."""

    key: str
    size: int
    mime_type: str
    """From the bytes (sniffed when stored), never from the customer."""
    inline: bool
    """False: ``Content-Disposition: attachment`` (documents, unknown types)."""
    filename: str


class Uploaded(Struct, frozen=True, kw_only=True):
    """An agent's file, stored and ready to send (``send_media``)."""

    upload_id: str
    kind: Literal["image", "audio", "video", "document", "sticker"]
    mime_type: str
    """What it is, read from its bytes (what it goes to the channel as)."""
    size: int
    filename: str


def _clean_name(name: str) -> str:
    """A file name to show and send: its last path part, no control
    characters, at most 200 characters; "file" when nothing is left."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[:200] or "file"


class LinkRefused(Exception):
    """A signed link that is not (or no longer) good: 403."""


class MediaFiles:
    """Who may fetch a file, and the signed links that let a browser do it
    with no headers. A link names the message, the variant, the agent it was
    made for and its expiry, signed with the node's token secret (HMAC-SHA256,
    its own domain: no token is a link or the reverse). When the link is used
    the agent must still be allowed to see the conversation: one who lost it
    (reassigned, another queue) gets 404, as for a missing file."""

    def __init__(
        self,
        store: Store,
        blobs: Blobs,
        secret: str,
        link_seconds: int,
        clock: Callable[[], int],
        *,
        uploads: Uploads | None = None,
        limits: rules_media.Limits = META_LIMITS,
        thumbnail_pixels: int = 320,
        housekeeping: Housekeeping | None = None,
    ) -> None:
        self.housekeeping = housekeeping
        self.store = store
        self.blobs = blobs
        self.uploads = uploads
        self.limits = limits
        self.thumbnail_pixels = thumbnail_pixels
        self._secret = hashlib.sha256(b"switchboard media links\x00" + secret.encode()).digest()
        self.link_ms = link_seconds * 1000
        self.clock = clock

    def _sign(self, message_id: str, variant: str, agent_id: str, expires: int) -> str:
        text = f"{message_id}\x00{variant}\x00{agent_id}\x00{expires}".encode()
        return hmac.new(self._secret, text, hashlib.sha256).hexdigest()[:32]

    async def _viewable(self, agent: Agent, message_id: str, variant: Variant) -> tuple[Message, str]:
        """The message and the blob key of ``variant``, if the agent may see them."""
        message = await self.store.get_message(message_id)
        conv = await self.store.get_conversation(message.conversation_id) if message is not None else None
        if message is None or conv is None or not rules.can_view(agent, conv):
            raise DomainError(errors.NOT_FOUND, "No such file.")
        media = message.media
        key = "" if media is None or media.state != "ready" else media.thumb_key if variant == "thumbnail" else media.key
        if not key:
            raise DomainError(errors.NOT_FOUND, "No such file (not stored, failed, or no thumbnail).")
        return message, key

    async def link(self, agent: Agent, message_id: str, variant: Variant) -> Link:
        await self._viewable(agent, message_id, variant)
        expires = self.clock() + self.link_ms
        sig = self._sign(message_id, variant, agent.id, expires)
        path = f"/api/media/{quote(message_id, safe='')}" + ("/thumbnail" if variant == "thumbnail" else "")
        query = urlencode({"agent": agent.id, "exp": expires, "sig": sig})
        return Link(url=f"{path}?{query}", expires_at=expires)

    async def open(self, agent: Agent | None, message_id: str, variant: Variant, expires: int, sig: str) -> Served:
        """Check a link (LinkRefused: forged or expired; DomainError not_found:
        the agent may not see it now, or there is no such file)."""
        if agent is None or not hmac.compare_digest(sig, self._sign(message_id, variant, agent.id, expires)):
            raise LinkRefused("This link is not valid.")
        if self.clock() > expires:
            raise LinkRefused("This link has expired; open the message again.")
        message, key = await self._viewable(agent, message_id, variant)
        info = await self.blobs.stat(key)
        if info is None:
            raise DomainError(errors.NOT_FOUND, "The file is no longer kept.")
        assert message.media is not None
        if variant == "thumbnail":
            head = await self.blobs.range(key, 0, 64) or b""
            mime = rules_media.sniff(head)
            return Served(key=key, size=info.size, mime_type=mime, inline=True, filename="")
        mime = message.media.mime_type
        return Served(
            key=key,
            size=info.size,
            mime_type=mime,
            inline=rules_media.served_inline(message.media.kind, mime),
            filename=message.media.filename,
        )

    def upload_limit(self) -> int:
        """The largest body an upload may have (the largest kind's limit)."""
        return max(self.limits.image, self.limits.audio, self.limits.video, self.limits.document, self.limits.messenger)

    async def upload(self, agent: Agent, conv_id: str, filename: str, data: bytes) -> Uploaded:
        """A file an agent will send in the conversation: checked against the
        channel (its type read from its bytes, its size), stored, an image
        thumbnailed; answered with the upload id ``send_media`` takes."""
        if self.uploads is None:
            raise DomainError(errors.NOT_SUPPORTED_ON_CHANNEL, "This node does not send files.")
        conv = await self.store.get_conversation(conv_id)
        if conv is None:
            raise DomainError(errors.NOT_FOUND, "No such conversation.")
        rules.require_sender(conv, agent)
        if not data:
            raise DomainError(errors.MEDIA_REFUSED, "The file is empty.")
        filename = _clean_name(filename)
        kind, mime = rules_media.outbound(conv.channel, rules_media.sniff(data[:64]), filename, len(data), self.limits)
        thumb = await asyncio.to_thread(make_thumbnail, data, self.thumbnail_pixels) if kind == "image" else None
        now = self.clock()
        adding = len(data) + (len(thumb.data) if thumb is not None else 0)
        full = self.housekeeping.full(adding) if self.housekeeping is not None else None
        if full:
            raise DomainError(errors.MEDIA_REFUSED, full)
        try:
            info = await self.blobs.put(data, now=now)
            thumb_key = (await self.blobs.put(thumb.data, now=now)).key if thumb is not None else ""
        except BlobsUnavailable as e:
            raise DomainError(errors.UNAVAILABLE, "The file could not be stored; retry.") from e
        if self.housekeeping is not None:
            self.housekeeping.stored(adding)
        media = Media(
            kind=kind,
            state="ready",
            mime_type=mime,
            filename=filename,
            key=info.key,
            size=len(data),
            thumb_key=thumb_key,
            width=thumb.width if thumb else None,
            height=thumb.height if thumb else None,
            duration_ms=rules_media.ogg_duration_ms(data) if kind == "audio" else None,
        )
        claim = Claim(nonce=secrets.token_hex(8), agent_id=agent.id, conversation_id=conv.id, at=now, media=media)
        return Uploaded(upload_id=self.uploads.issue(claim), kind=kind, mime_type=mime, size=len(data), filename=filename)

    async def read(self, served: Served, start: int, stop: int) -> bytes:
        data = await self.blobs.range(served.key, start, stop)
        if data is None:
            raise DomainError(errors.NOT_FOUND, "The file is no longer kept.")
        return data


# --------------------------------------------------------------------------- quota and retention

QUOTA_WARNING = 0.9
"""Past this share of ``quota_bytes``, a warning is logged at each measure."""


class Housekeeping:
    """Measures what media take (``switchboard_media_bytes``, and against
    ``quota_bytes`` ``switchboard_media_quota_ratio``), warns when near the
    quota, and deletes files first stored more than ``retention_days`` ago.
    Every node does it every ``every`` seconds (deleting twice is harmless).
    Between measures, bytes this node stored are added to the last measure,
    so a burst of downloads cannot run far past the quota."""

    def __init__(
        self, blobs: Blobs, metrics: Metrics, clock: Callable[[], int], *, quota_bytes: int, retention_days: float, every: float
    ) -> None:
        self.blobs = blobs
        self.clock = clock
        self.quota = quota_bytes
        self.retention_ms = int(retention_days * 86_400_000)
        self.every = every
        self.used = 0
        self.measured = False
        self.deleted = metrics.counter("switchboard_media_deleted_total", "Media files deleted by the retention rule")
        metrics.gauge("switchboard_media_bytes", "Bytes of media stored (last measure, plus what this node stored since)", lambda: self.used)
        metrics.gauge(
            "switchboard_media_quota_ratio", "Media stored / media.quota_bytes (0 without a quota)", lambda: self.used / self.quota if self.quota else 0.0
        )
        self._task: asyncio.Task[None] | None = None

    def full(self, adding: int) -> str | None:
        """Why ``adding`` more bytes cannot be stored (the quota), or None."""
        if self.quota and self.used + adding > self.quota:
            return "The media storage quota is reached: ask an administrator to free space."
        return None

    def stored(self, size: int) -> None:
        self.used += size

    async def run_once(self) -> None:
        if self.retention_ms:
            while True:
                old = await self.blobs.older_than(self.clock() - self.retention_ms, limit=500)
                for blob in old:
                    if await self.blobs.delete(blob.key):
                        self.deleted.inc()
                if len(old) < 500:
                    break
        self.used = await self.blobs.usage()
        self.measured = True
        if self.quota and self.used >= QUOTA_WARNING * self.quota:
            log.warning("media storage at %.0f%% of its quota (%d of %d bytes)", 100 * self.used / self.quota, self.used, self.quota)

    def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name="media-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("media housekeeping failed; trying again later")
            await asyncio.sleep(self.every)

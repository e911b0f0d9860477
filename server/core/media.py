"""What customers send besides text: the media kinds, their size limits, what
a file's bytes say it is, where a location points, what a placeholder says,
and the message changes a download or a reaction makes. Pure: sizes, bytes
and times come in; values go out.

Meta's documented limits (WhatsApp Cloud API "Supported media types", 2026):
image 5 MB, audio 16 MB, video 16 MB, document 100 MB, sticker 500 KB
(animated; 100 KB static). Messenger attachments: 25 MB whatever the type.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

from msgspec import Struct
from msgspec.structs import replace

from protocol import errors
from server.core.errors import DomainError
from server.core.model import Channel, Media, Message

MediaKind = Literal["image", "audio", "video", "document", "sticker"]
KINDS: tuple[MediaKind, ...] = ("image", "audio", "video", "document", "sticker")

MB = 1024 * 1024


class Limits(Struct, frozen=True, kw_only=True):
    """Largest file accepted per kind, in bytes (config ``[media]``)."""

    image: int = 5 * MB
    audio: int = 16 * MB
    video: int = 16 * MB
    document: int = 100 * MB
    sticker: int = 500 * 1024
    messenger: int = 25 * MB
    """Messenger states one limit for every attachment."""

    def of(self, kind: MediaKind, channel: Channel) -> int:
        if channel == "messenger":
            return self.messenger
        limit: int = getattr(self, kind)
        return limit


def too_big(kind: MediaKind, channel: Channel, size: int, limits: Limits) -> str | None:
    """Why a file of ``size`` bytes is refused, or None when it fits."""
    limit = limits.of(kind, channel)
    if size > limit:
        return f"The {kind} is {human_size(size)}, over the {human_size(limit)} limit."
    return None


def human_size(size: int) -> str:
    if size >= MB:
        return f"{size / MB:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} bytes"


MESSENGER_KINDS: dict[str, MediaKind] = {"image": "image", "audio": "audio", "video": "video", "file": "document"}
"""Messenger attachment ``type`` → our kind."""


# --------------------------------------------------------------------------- what the bytes are

_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\xff\xfb", "audio/mpeg"),
    (0, b"\xff\xf3", "audio/mpeg"),
    (0, b"#!AMR", "audio/amr"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"PK\x03\x04", "application/zip"),
)


def sniff(head: bytes) -> str:
    """The media type the first bytes of a file show (never the name or the
    type the sender claimed: those are customer data). Unknown:
    ``application/octet-stream``, which browsers only download."""
    for offset, magic, mime in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "audio/mp4" if brand in (b"M4A ", b"M4B ") else "video/mp4"
    return "application/octet-stream"


INLINE = ("image/jpeg", "image/png", "image/gif", "image/webp", "audio/ogg", "audio/mpeg", "audio/mp4", "audio/amr", "video/mp4", "video/webm")
"""Types a browser may show in the page; everything else is served as a download."""


def served_inline(kind: str, mime: str) -> bool:
    """Documents always download (``Content-Disposition: attachment``), as
    does anything whose bytes are not a type the page shows."""
    return kind != "document" and mime in INLINE


def sha256_matches(stated: str, digest: bytes) -> bool:
    """Meta states a file's SHA-256 as hex (Graph media endpoint) or base64
    (some webhook payloads): either form must name these bytes."""
    stated = stated.strip()
    if not stated:
        return True
    if stated.lower() == digest.hex():
        return True
    try:
        return base64.b64decode(stated, validate=True) == digest
    except (binascii.Error, ValueError):
        return False


def ogg_duration_ms(data: bytes) -> int | None:
    """An Ogg Opus file's length: the granule position of its last page, at
    48 kHz, less the pre-skip of its head. None when the bytes are not that."""
    if data[:4] != b"OggS":
        return None
    last = data.rfind(b"OggS")
    head = data.find(b"OpusHead")
    if last < 0 or len(data) < last + 14 or head < 0 or len(data) < head + 12:
        return None
    granule = int.from_bytes(data[last + 6 : last + 14], "little", signed=True)
    pre_skip = int.from_bytes(data[head + 10 : head + 12], "little")
    if granule <= 0:
        return None
    return max(0, (granule - pre_skip) * 1000 // 48000)


# --------------------------------------------------------------------------- locations and placeholders


def map_url(latitude: float, longitude: float) -> str:
    """An OpenStreetMap link to the point (no key, no tracking parameters)."""
    lat, lon = f"{latitude:.6f}", f"{longitude:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


def valid_point(latitude: float, longitude: float) -> bool:
    return -90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0


def preview_kind(message: Message) -> str | None:
    """What the list shows a message as, when it is not text: "voice" (a
    voice note), a media kind, "location", "contacts"; None for text."""
    if message.media is not None:
        return "voice" if message.media.voice else message.media.kind
    if message.location is not None:
        return "location"
    if message.contacts:
        return "contacts"
    return None


# --------------------------------------------------------------------------- message changes


class Stored(Struct, frozen=True, kw_only=True):
    """A download that succeeded: what the stored bytes are."""

    key: str
    size: int
    mime_type: str
    thumb_key: str = ""
    width: int | None = None
    height: int | None = None
    duration_ms: int | None = None


def stored(message: Message, result: Stored) -> Message | None:
    """The message once its file is stored; None when it is not waiting for
    one (already stored or failed: a late or repeated download changes nothing)."""
    media = message.media
    if media is None or media.state != "loading":
        return None
    done = replace(
        media,
        state="ready",
        key=result.key,
        size=result.size,
        mime_type=result.mime_type,
        thumb_key=result.thumb_key,
        width=result.width,
        height=result.height,
        duration_ms=result.duration_ms,
        error="",
    )
    return replace(message, media=done)


def failed(message: Message, reason: str, *, attempts: int) -> Message | None:
    """The download failed for good (its attempts spent, or a refusal another
    cannot change): the message shows ``failed`` with ``reason``. None when
    it is not waiting for its file (a late result changes nothing). Attempts
    that will be tried again change nothing stored: clients see no change."""
    media = message.media
    if media is None or media.state != "loading":
        return None
    return replace(message, media=replace(media, attempts=attempts, state="failed", error=reason))


def react(message: Message, emoji: str) -> Message | None:
    """The contact's reaction on one message: WhatsApp keeps one per person
    per message, a new one replaces it and an empty one removes it. None
    when nothing changes (a repeat)."""
    current = message.reaction or ""
    if current == emoji:
        return None
    return replace(message, reaction=emoji or None)


def loading(kind: MediaKind, **fields: object) -> Media:
    """A message's file before the download: the state clients show as loading."""
    return Media(kind=kind, **fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- what agents may send

OUTBOUND: dict[Channel, dict[str, MediaKind]] = {
    "whatsapp": {
        "image/jpeg": "image",
        "image/png": "image",
        "audio/ogg": "audio",
        "audio/mpeg": "audio",
        "audio/mp4": "audio",
        "audio/amr": "audio",
        "video/mp4": "video",
        "application/pdf": "document",
    },
    "messenger": {
        "image/jpeg": "image",
        "image/png": "image",
        "image/gif": "image",
        "audio/mpeg": "audio",
        "audio/mp4": "audio",
        "audio/ogg": "audio",
        "video/mp4": "video",
        "application/pdf": "document",
    },
}
"""The types (as the bytes show them) each channel takes from the business,
and the kind they go as (WhatsApp Cloud API "Supported media types";
Messenger attachments). Office files are ZIP containers: they go as
documents when their name says which office file they are."""

OFFICE: dict[str, str] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}

MAX_CAPTION = 1024
"""WhatsApp's caption limit."""


def outbound(channel: Channel, sniffed: str, filename: str, size: int, limits: Limits) -> tuple[MediaKind, str]:
    """The kind and type a file an agent picked goes as, or DomainError
    ``media_refused`` saying why it cannot go on this channel."""
    kind = OUTBOUND[channel].get(sniffed)
    mime = sniffed
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if kind is None and sniffed == "application/zip" and extension in OFFICE:
        kind, mime = "document", OFFICE[extension]
    if kind is None:
        shown = sniffed if sniffed != "application/octet-stream" else "this kind of file"
        name = "WhatsApp" if channel == "whatsapp" else "Messenger"
        raise DomainError(
            errors.MEDIA_REFUSED,
            f"{name} does not take {shown}: send a JPEG or PNG photo, an MP4 video, an MP3/OGG/M4A audio, or a PDF or Office document.",
        )
    refused = too_big(kind, channel, size, limits)
    if refused:
        raise DomainError(errors.MEDIA_REFUSED, refused)
    return kind, mime


def check_caption(channel: Channel, kind: MediaKind, caption: str) -> str:
    caption = caption.strip()
    if not caption:
        return ""
    if channel == "messenger":
        raise DomainError(errors.MEDIA_REFUSED, "Messenger sends files without a caption: send the text as its own message.")
    if kind == "audio":
        raise DomainError(errors.MEDIA_REFUSED, "WhatsApp sends audio without a caption: send the text as its own message.")
    if len(caption) > MAX_CAPTION:
        raise DomainError(errors.MEDIA_REFUSED, f"A caption is at most {MAX_CAPTION} characters.")
    return caption

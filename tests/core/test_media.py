"""server/core/media.py: the rules for files, locations and reactions (pure)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from msgspec.structs import replace

from server.core import media
from server.core.model import Media, Message
from tests.fixtures import media as files


def message(**kw: object) -> Message:
    fields: dict[str, object] = dict(id="m1", conversation_id="c1", seq=1, direction="in", kind="image", text="", at=1, status="received")
    fields.update(kw)
    return Message(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (files.jpeg()[:64], "image/jpeg"),
        (files.webp_sticker()[:64], "image/webp"),
        (files.ogg_opus(1.0)[:64], "audio/ogg"),
        (files.PDF[:64], "application/pdf"),
        (b"<html><script>alert(1)</script>", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_the_type_comes_from_the_bytes(head: bytes, mime: str) -> None:
    assert media.sniff(head) == mime


def test_documents_and_unknown_bytes_are_never_shown_inline() -> None:
    assert media.served_inline("image", "image/jpeg")
    assert not media.served_inline("document", "application/pdf")
    assert not media.served_inline("document", "image/jpeg")
    assert not media.served_inline("image", "application/octet-stream")


def test_meta_states_sha256_in_hex_or_base64() -> None:
    digest = hashlib.sha256(b"file").digest()
    assert media.sha256_matches(digest.hex(), digest)
    assert media.sha256_matches(base64.b64encode(digest).decode(), digest)
    assert media.sha256_matches("", digest)  # not stated: nothing to check
    assert not media.sha256_matches(hashlib.sha256(b"other").hexdigest(), digest)
    assert not media.sha256_matches("not a hash!", digest)


def test_limits_per_kind_and_channel() -> None:
    limits = media.Limits()
    assert media.too_big("image", "whatsapp", 5 * media.MB, limits) is None
    assert media.too_big("image", "whatsapp", 5 * media.MB + 1, limits) == "The image is 5.0 MB, over the 5.0 MB limit."
    assert media.too_big("sticker", "whatsapp", 600 * 1024, limits) is not None
    assert media.too_big("image", "messenger", 20 * media.MB, limits) is None
    assert media.too_big("document", "whatsapp", 99 * media.MB, limits) is None


def test_a_voice_note_length_is_read_from_its_last_page() -> None:
    assert media.ogg_duration_ms(files.ogg_opus(14.0)) == 14_000
    assert media.ogg_duration_ms(files.ogg_opus(0.4)) == 400
    assert media.ogg_duration_ms(files.jpeg()) is None


def test_map_links_point_at_openstreetmap() -> None:
    assert media.map_url(-23.5, -46.6) == "https://www.openstreetmap.org/?mlat=-23.500000&mlon=-46.600000#map=17/-23.500000/-46.600000"
    assert media.valid_point(90, 180) and not media.valid_point(91, 0) and not media.valid_point(0, -181)


def test_a_file_is_stored_once_and_a_late_result_changes_nothing() -> None:
    loading = message(media=Media(kind="image"))
    result = media.Stored(key="k" * 64, size=10, mime_type="image/jpeg", thumb_key="t" * 64, width=4, height=3)
    ready = media.stored(loading, result)
    assert ready is not None and ready.media is not None
    assert (ready.media.state, ready.media.key, ready.media.width) == ("ready", "k" * 64, 4)
    assert media.stored(ready, result) is None
    assert media.failed(ready, "late", attempts=1) is None
    assert media.stored(message(), result) is None  # no file at all


def test_a_download_that_fails_for_good_shows_why() -> None:
    loading = message(media=Media(kind="audio"))
    last = media.failed(loading, "HTTP 500", attempts=3)
    assert last is not None and last.media is not None and (last.media.state, last.media.attempts, last.media.error) == ("failed", 3, "HTTP 500")
    assert media.failed(last, "again", attempts=4) is None


def test_one_reaction_per_message_replaced_or_removed() -> None:
    plain = message(kind="text", text="hi")
    liked = media.react(plain, "👍")
    assert liked is not None and liked.reaction == "👍"
    assert media.react(liked, "👍") is None  # Meta's retry
    loved = media.react(liked, "❤️")
    assert loved is not None and loved.reaction == "❤️"
    removed = media.react(loved, "")
    assert removed is not None and removed.reaction is None
    assert media.react(removed, "") is None


def test_what_the_list_calls_a_message() -> None:
    assert media.preview_kind(message(media=Media(kind="audio", voice=True))) == "voice"
    assert media.preview_kind(message(media=Media(kind="audio"))) == "audio"
    assert media.preview_kind(message(kind="text")) is None


def test_a_file_goes_out_under_the_rules_of_text() -> None:
    from protocol import errors
    from server.core import conversation as rules
    from server.core.errors import DomainError
    from server.core.model import Agent, Conversation, WindowPolicy

    ana = Agent(id="ana", name="Ana", queues=("sales",))
    policy = WindowPolicy(window_seconds=3600)
    conv = Conversation(
        id="c1", channel="whatsapp", touchpoint_id="wa", queue_id="sales", contact_id="whatsapp:+1",
        created_at=0, assignee_id="ana", last_inbound_at=1_000, session_locked=False, message_count=1,
    )
    photo = Media(kind="image", state="ready", mime_type="image/jpeg", key="k" * 64, size=10)
    sent = rules.send_media(conv, ana, photo, " Este? ", upload="u1", message_id="m2", policy=policy, now=2_000)
    assert sent.message is not None and sent.message.media == photo
    assert (sent.message.text, sent.message.meta, sent.message.status) == ("[image] Este?", {"upload": "u1", "caption": "Este?"}, "pending")
    assert sent.after.preview_kind == "image"
    for refused, code, kw in (
        (conv, errors.SESSION_LOCKED, {"now": 1_000 + 3_600_001}),
        (replace(conv, assignee_id="bruno"), errors.NOT_ASSIGNEE, {}),
        (replace(conv, channel="messenger"), errors.MEDIA_REFUSED, {}),
        (replace(conv, status="ended"), errors.CONVERSATION_ENDED, {}),
    ):
        with pytest.raises(DomainError) as e:
            rules.send_media(refused, ana, photo, "Este?", upload="u1", message_id="m2", policy=policy, **({"now": 2_000} | kw))
        assert e.value.code == code


def test_outbound_types_follow_the_channel() -> None:
    from protocol import errors
    from server.core.errors import DomainError

    limits = media.Limits()
    assert media.outbound("whatsapp", "image/jpeg", "a.jpg", 10, limits) == ("image", "image/jpeg")
    assert media.outbound("whatsapp", "application/zip", "plan.xlsx", 10, limits)[1].endswith("spreadsheetml.sheet")
    assert media.outbound("messenger", "image/gif", "a.gif", 10, limits) == ("image", "image/gif")
    for channel, mime, name in (("whatsapp", "image/gif", "a.gif"), ("whatsapp", "application/zip", "a.zip"), ("whatsapp", "application/octet-stream", "a.exe")):
        with pytest.raises(DomainError) as e:
            media.outbound(channel, mime, name, 10, limits)  # type: ignore[arg-type]
        assert e.value.code == errors.MEDIA_REFUSED

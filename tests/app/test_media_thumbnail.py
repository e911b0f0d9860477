"""Thumbnails (server/app/media.py ``make_thumbnail``): small, the original's
size kept, transparency kept, and no decoding of a decompression bomb."""

from __future__ import annotations

import io

from PIL import Image

from server.app.media import make_thumbnail
from tests.fixtures import media as files


def test_a_photo_gets_a_small_jpeg_and_keeps_its_size() -> None:
    thumb = make_thumbnail(files.jpeg(640, 480), 320)
    assert thumb is not None and (thumb.width, thumb.height) == (640, 480)
    small = Image.open(io.BytesIO(thumb.data))
    assert (small.format, small.size) == ("JPEG", (320, 240))


def test_a_sticker_keeps_its_transparency() -> None:
    thumb = make_thumbnail(files.webp_sticker(), 128)
    assert thumb is not None
    small = Image.open(io.BytesIO(thumb.data))
    assert (small.format, small.mode, small.size) == ("PNG", "RGBA", (128, 128))


def test_a_huge_canvas_is_not_decoded() -> None:
    bomb = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(bomb, "PNG")  # 50 MP in a few KB
    assert len(bomb.getvalue()) < 100_000
    assert make_thumbnail(bomb.getvalue(), 320) is None


def test_bytes_that_are_no_image_get_no_thumbnail() -> None:
    assert make_thumbnail(files.PDF, 320) is None

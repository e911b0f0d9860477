"""The Blobs contract (server/blobs/base.py), run against every backend in
tests/contract/conftest.py: memory, the filesystem, and an S3-compatible
server process."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from server.blobs.base import Blobs, key_of

PHOTO = bytes(range(256)) * 40  # 10 KB of every byte value


async def test_put_names_the_bytes_by_their_sha256(blobs: Blobs) -> None:
    info = await blobs.put(PHOTO, now=1_000)
    assert info.key == hashlib.sha256(PHOTO).hexdigest()
    assert info.size == len(PHOTO)
    assert await blobs.get(info.key) == PHOTO
    stat = await blobs.stat(info.key)
    assert stat is not None and (stat.key, stat.size, stat.created_at) == (info.key, len(PHOTO), 1_000)


async def test_the_same_bytes_twice_are_one_blob_as_first_stored(blobs: Blobs) -> None:
    first, again = await asyncio.gather(blobs.put(PHOTO, now=1_000), blobs.put(PHOTO, now=1_000))
    assert first.key == again.key
    later = await blobs.put(PHOTO, now=9_000)
    assert later.created_at == 1_000
    assert await blobs.usage() == len(PHOTO)


async def test_unknown_keys_are_none(blobs: Blobs) -> None:
    absent = key_of(b"never stored")
    assert await blobs.get(absent) is None
    assert await blobs.stat(absent) is None
    assert await blobs.range(absent, 0, 10) is None
    assert await blobs.delete(absent) is False


async def test_range_is_cut_at_the_end(blobs: Blobs) -> None:
    key = (await blobs.put(PHOTO, now=1)).key
    assert await blobs.range(key, 0, 4) == PHOTO[:4]
    assert await blobs.range(key, 300, 600) == PHOTO[300:600]
    assert await blobs.range(key, len(PHOTO) - 3, len(PHOTO) + 100) == PHOTO[-3:]
    assert await blobs.range(key, 5, 5) == b""


async def test_delete_removes_one_blob(blobs: Blobs) -> None:
    keep = (await blobs.put(b"keep me", now=1)).key
    gone = (await blobs.put(b"delete me", now=1)).key
    assert await blobs.delete(gone) is True
    assert await blobs.get(gone) is None
    assert await blobs.delete(gone) is False
    assert await blobs.get(keep) == b"keep me"
    assert await blobs.usage() == len(b"keep me")


async def test_older_than_lists_what_retention_deletes(blobs: Blobs) -> None:
    old = (await blobs.put(b"old file", now=1_000)).key
    await blobs.put(b"new file", now=5_000)
    assert [b.key for b in await blobs.older_than(2_000)] == [old]
    assert len(await blobs.older_than(9_000)) == 2
    assert await blobs.older_than(500) == []


@pytest.mark.parametrize("bad", ["../../etc/passwd", "ABC", "0" * 63, "g" * 64, "0" * 64 + "/x"])
async def test_a_key_that_is_not_a_sha256_is_refused(blobs: Blobs, bad: str) -> None:
    with pytest.raises(ValueError):
        await blobs.get(bad)
    with pytest.raises(ValueError):
        await blobs.delete(bad)

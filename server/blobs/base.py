"""The Blobs port: file bytes, content-addressed.

A blob's key is the SHA-256 of its bytes, in lowercase hex: the same file
stored twice is one blob, and a key names its bytes for ever (a reader never
sees a half-written or replaced blob under a key). Every implementation
passes tests/contract/test_blobs.py.

What it does not do: hold who may read a blob (the app checks the
conversation before it serves one), count references (two messages with the
same photo share one blob; deleting it is the retention rule's decision),
or stream uploads (a blob is at most one media limit, held in memory once).
"""

from __future__ import annotations

import hashlib
import re
from typing import Protocol

from msgspec import Struct

KEY = re.compile(r"[0-9a-f]{64}")


class BlobInfo(Struct, frozen=True, kw_only=True):
    key: str
    size: int
    created_at: int
    """When it was first stored (ms since the epoch; the retention rule reads it)."""


class BlobsUnavailable(Exception):
    """The backend could not be asked (disk error, object store down)."""


def key_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """Keys come from our own records, but a key is also a path or an
    object name: anything but 64 hex digits is refused before it is used."""
    if not KEY.fullmatch(key):
        raise ValueError(f"not a blob key: {key[:80]!r}")
    return key


class Blobs(Protocol):
    async def start(self) -> None:
        """Ready the backend (create the folder or the bucket)."""

    async def close(self) -> None: ...

    async def put(self, data: bytes, *, now: int) -> BlobInfo:
        """Store ``data`` under its SHA-256. Storing bytes already there is a
        no-op that answers the blob as first stored. Durable when it returns."""

    async def get(self, key: str) -> bytes | None:
        """The whole blob, or None when there is none under ``key``."""

    async def range(self, key: str, start: int, stop: int) -> bytes | None:
        """Bytes ``start`` up to (not including) ``stop``, cut at the blob's
        end; None when there is no such blob. ``0 <= start <= stop``."""

    async def stat(self, key: str) -> BlobInfo | None: ...

    async def delete(self, key: str) -> bool:
        """Remove the blob; True when there was one."""

    async def older_than(self, before: int, limit: int = 1000) -> list[BlobInfo]:
        """Blobs first stored before ``before`` (ms), at most ``limit``: what
        the retention rule deletes."""

    async def usage(self) -> int:
        """Bytes stored in all (the quota's measure)."""

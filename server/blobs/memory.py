"""Blobs in a dict: one process only, gone when it stops (tests, ``:memory:`` data)."""

from __future__ import annotations

from server.blobs.base import BlobInfo, check_key, key_of


class MemoryBlobs:
    def __init__(self) -> None:
        self._data: dict[str, tuple[bytes, int]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def put(self, data: bytes, *, now: int) -> BlobInfo:
        key = key_of(data)
        kept = self._data.setdefault(key, (bytes(data), now))
        return BlobInfo(key=key, size=len(kept[0]), created_at=kept[1])

    async def get(self, key: str) -> bytes | None:
        found = self._data.get(check_key(key))
        return found[0] if found else None

    async def range(self, key: str, start: int, stop: int) -> bytes | None:
        data = await self.get(key)
        return data[start:stop] if data is not None else None

    async def stat(self, key: str) -> BlobInfo | None:
        found = self._data.get(check_key(key))
        return BlobInfo(key=key, size=len(found[0]), created_at=found[1]) if found else None

    async def delete(self, key: str) -> bool:
        return self._data.pop(check_key(key), None) is not None

    async def older_than(self, before: int, limit: int = 1000) -> list[BlobInfo]:
        old = [BlobInfo(key=k, size=len(d), created_at=t) for k, (d, t) in self._data.items() if t < before]
        return old[:limit]

    async def usage(self) -> int:
        return sum(len(d) for d, _ in self._data.values())

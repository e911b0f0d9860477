"""Blobs as files under one folder (the embedded default: ``media/`` beside
the SQLite file). ``<folder>/ab/abcdef…``: the first two hex digits fan the
files out over 256 folders. A blob is written to a temporary name and
renamed into place, so a reader sees all of it or nothing; its modification
time is when it was first stored. Disk I/O runs in a worker thread, off the
event loop."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from server.blobs.base import BlobInfo, BlobsUnavailable, check_key, key_of

P = ParamSpec("P")
T = TypeVar("T")


class FileBlobs:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    async def start(self) -> None:
        await self._run(self.folder.mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        return None

    def _path(self, key: str) -> Path:
        key = check_key(key)
        return self.folder / key[:2] / key

    @staticmethod
    async def _run(fn: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kw)
        except OSError as e:
            raise BlobsUnavailable(f"blob folder: {e}") from e

    async def put(self, data: bytes, *, now: int) -> BlobInfo:
        key = key_of(data)
        return await self._run(self._put, self._path(key), data, now)

    @staticmethod
    def _put(path: Path, data: bytes, now: int) -> BlobInfo:
        if path.exists():
            st = path.stat()
            return BlobInfo(key=path.name, size=st.st_size, created_at=int(st.st_mtime * 1000))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.utime(tmp, ns=(now * 1_000_000, now * 1_000_000))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return BlobInfo(key=path.name, size=len(data), created_at=now)

    async def get(self, key: str) -> bytes | None:
        return await self._run(self._read, self._path(key), 0, None)

    async def range(self, key: str, start: int, stop: int) -> bytes | None:
        return await self._run(self._read, self._path(key), start, stop - start)

    @staticmethod
    def _read(path: Path, start: int, length: int | None) -> bytes | None:
        try:
            with path.open("rb") as f:
                f.seek(start)
                return f.read() if length is None else f.read(length)
        except FileNotFoundError:
            return None

    async def stat(self, key: str) -> BlobInfo | None:
        return await self._run(self._stat, self._path(key))

    @staticmethod
    def _stat(path: Path) -> BlobInfo | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return BlobInfo(key=path.name, size=st.st_size, created_at=int(st.st_mtime * 1000))

    async def delete(self, key: str) -> bool:
        path = self._path(key)

        def unlink() -> bool:
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            return True

        return await self._run(unlink)

    def _all(self) -> list[BlobInfo]:
        found: list[BlobInfo] = []
        for sub in self.folder.iterdir() if self.folder.exists() else ():
            if sub.is_dir() and len(sub.name) == 2:
                for f in sub.iterdir():
                    if not f.name.startswith("."):
                        info = self._stat(f)
                        if info is not None:
                            found.append(info)
        return found

    async def older_than(self, before: int, limit: int = 1000) -> list[BlobInfo]:
        everything = await self._run(self._all)
        return [b for b in everything if b.created_at < before][:limit]

    async def usage(self) -> int:
        everything = await self._run(self._all)
        return sum(b.size for b in everything)

"""Blobs in an S3-compatible object store (AWS S3, MinIO, Ceph, R2…), for
clusters: every node stores to and serves from the same bucket. Objects are
``<prefix><sha256 hex>``; the time a blob was first stored rides in its
metadata (``x-amz-meta-created-at``). The client is MinIO's (``minio``), a
blocking one: each call runs in a worker thread, off the event loop.

Not done here: multipart uploads (a blob is at most one media limit, sent
in one request), server-side encryption settings (configure the bucket)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import urllib3
from minio import Minio
from minio.error import S3Error

from server.blobs.base import BlobInfo, BlobsUnavailable, check_key, key_of

P = ParamSpec("P")
T = TypeVar("T")

MISSING = ("NoSuchKey", "NoSuchObject", "ResourceNotFound")


class S3Blobs:
    def __init__(
        self,
        endpoint: str,
        bucket: str,
        *,
        access_key: str,
        secret_key: str,
        region: str | None = None,
        secure: bool = True,
        prefix: str = "media/",
        timeout: float = 10.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
            maxsize=16,
        )
        self._client = Minio(
            endpoint, access_key=access_key, secret_key=secret_key, region=region, secure=secure, http_client=http
        )

    @staticmethod
    async def _run(fn: Callable[P, T], *args: P.args, **kw: P.kwargs) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kw)
        except S3Error as e:
            raise BlobsUnavailable(f"object store: {e.code}") from e
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise BlobsUnavailable(f"object store unreachable: {type(e).__name__}") from e

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    async def start(self) -> None:
        def ensure() -> None:
            if not self._client.bucket_exists(self.bucket):
                self._client.make_bucket(self.bucket)

        await self._run(ensure)

    async def close(self) -> None:
        return None

    async def put(self, data: bytes, *, now: int) -> BlobInfo:
        key = key_of(data)
        name = self._name(key)

        def put() -> BlobInfo:
            known = self._stat(name)
            if known is not None:
                return known
            self._client.put_object(self.bucket, name, io.BytesIO(data), len(data), metadata={"created-at": str(now)})
            return BlobInfo(key=key, size=len(data), created_at=now)

        return await self._run(put)

    def _stat(self, name: str) -> BlobInfo | None:
        try:
            st = self._client.stat_object(self.bucket, name)
        except S3Error as e:
            if e.code in MISSING:
                return None
            raise
        meta = {k.lower(): v for k, v in (st.metadata or {}).items()}
        created = meta.get("x-amz-meta-created-at", "")
        if not created.isdigit():
            created = str(int(st.last_modified.timestamp() * 1000)) if st.last_modified else "0"
        return BlobInfo(key=name.removeprefix(self.prefix), size=st.size or 0, created_at=int(created))

    def _read(self, name: str, offset: int, length: int) -> bytes | None:
        try:
            response = self._client.get_object(self.bucket, name, offset=offset, length=length)
        except S3Error as e:
            if e.code in MISSING:
                return None
            if e.code == "InvalidRange":  # a start at or past the end
                return b""
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    async def get(self, key: str) -> bytes | None:
        return await self._run(self._read, self._name(key), 0, 0)

    async def range(self, key: str, start: int, stop: int) -> bytes | None:
        name = self._name(key)
        if stop <= start:
            info = await self._run(self._stat, name)
            return None if info is None else b""
        return await self._run(self._read, name, start, stop - start)

    async def stat(self, key: str) -> BlobInfo | None:
        return await self._run(self._stat, self._name(key))

    async def delete(self, key: str) -> bool:
        name = self._name(key)

        def delete() -> bool:
            if self._stat(name) is None:
                return False
            self._client.remove_object(self.bucket, name)
            return True

        return await self._run(delete)

    def _all(self) -> list[BlobInfo]:
        found: list[BlobInfo] = []
        for obj in self._client.list_objects(self.bucket, prefix=self.prefix, recursive=True):
            name = obj.object_name or ""
            info = self._stat(name)
            if info is not None:
                found.append(info)
        return found

    async def older_than(self, before: int, limit: int = 1000) -> list[BlobInfo]:
        everything = await self._run(self._all)
        return [b for b in everything if b.created_at < before][:limit]

    async def usage(self) -> int:
        def total() -> int:
            return sum(obj.size or 0 for obj in self._client.list_objects(self.bucket, prefix=self.prefix, recursive=True))

        return await self._run(total)

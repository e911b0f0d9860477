"""One ``blobs`` fixture, run once per Blobs implementation (the port is
server/blobs/base.py). To run the suite against another backend, add a
factory to ``BLOBS``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from server.blobs.base import Blobs
from server.blobs.files import FileBlobs
from server.blobs.memory import MemoryBlobs

BlobsFactory = Callable[[Path], AbstractAsyncContextManager[Blobs]]


@asynccontextmanager
async def memory_blobs(tmp_path: Path) -> AsyncIterator[Blobs]:
    yield MemoryBlobs()


@asynccontextmanager
async def file_blobs(tmp_path: Path) -> AsyncIterator[Blobs]:
    blobs = FileBlobs(tmp_path / "media")
    await blobs.start()
    yield blobs
    await blobs.close()


def s3_bucket(tmp_path: Path) -> str:
    """A bucket name of the test's own (S3: 3-63 lowercase letters, digits, dashes)."""
    return ("t-" + re.sub(r"[^a-z0-9]+", "-", tmp_path.name.lower()))[:63].rstrip("-")


@asynccontextmanager
async def s3_blobs(tmp_path: Path) -> AsyncIterator[Blobs]:
    from server.blobs.s3 import S3Blobs
    from tests.contract.s3proc import ACCESS_KEY, SECRET_KEY, shared_s3

    server = shared_s3()
    blobs = S3Blobs(server.endpoint, s3_bucket(tmp_path), access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False, region="us-east-1")
    await blobs.start()
    yield blobs
    await blobs.close()


BLOBS: dict[str, BlobsFactory] = {"memory": memory_blobs, "files": file_blobs, "s3": s3_blobs}


@pytest.fixture(params=list(BLOBS))
async def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Blobs]:
    async with BLOBS[request.param](tmp_path) as made:
        yield made

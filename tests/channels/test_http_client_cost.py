"""The Graph client (httpx over httpcore) asks which async library runs at
every lock and event it creates, several per request to Meta. httpcore
answers with ``import sniffio``: when sniffio is not installed that import
fails, and a failed import searches every ``sys.path`` finder again each time
(~220 Python calls, ~1,000 per reply sent). sniffio is a declared dependency
so the answer is a lookup in ``sys.modules``."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import pytest
from httpcore._synchronization import current_async_library


def _calls(fn: Any) -> int:
    count = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.asyncio
async def test_httpcore_learns_the_async_library_without_an_import_search() -> None:
    assert current_async_library() == "asyncio"
    calls = _calls(current_async_library)  # as on every request after the first
    assert calls < 20, f"{calls} Python calls to name the async library: is sniffio installed?"

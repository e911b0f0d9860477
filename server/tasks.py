"""Stopping background tasks for sure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[object] | None], timeout: float = 5.0) -> None:
    """Cancel the tasks and wait until they end, cancelling again while they
    run: a library may swallow one cancellation (redis-py can, mid-command),
    and a shutdown must not hang on it. Gives up after ``timeout`` seconds,
    logging the tasks that would not stop."""
    pending = {t for t in tasks if t is not None and not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=min(0.2, max(deadline - loop.time(), 0)))
    for task in pending:
        log.warning("task %s did not stop within %.1f s", task.get_name(), timeout)


_background: set[asyncio.Future[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Future[Any]:
    """Run ``coro`` in the background, keeping a reference until it ends (the
    event loop holds only weak ones: an unreferenced task may be collected
    mid-flight)."""
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task

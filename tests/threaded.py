"""A real node on its own event loop in a thread, for tests driven from
synchronous code (hypothesis's @given runs synchronously)."""

from __future__ import annotations

import asyncio
import threading

from server.config import Config
from tests.conftest import start_node


class ThreadedNode:
    """One node on its own loop in a thread, shared by all examples."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.node, self.http, self.task = self.loop.run_until_complete(start_node(self.config))
        self.ready.set()
        self.loop.run_forever()

    def call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def stop(self) -> None:
        self.http.should_exit = True

        async def shutdown() -> None:
            await self.task
            await self.node.stop()

        self.call(shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

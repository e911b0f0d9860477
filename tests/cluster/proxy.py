"""A TCP proxy on loopback that can turn its open connections deaf.

``freeze()`` stops forwarding on every connection open at that moment, in
both directions, without closing anything: to the client the socket looks
alive but nothing ever arrives (a half-open connection). Connections made
afterwards work normally."""

from __future__ import annotations

import asyncio


class Proxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pairs: list[dict[str, bool]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> Proxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def freeze(self) -> None:
        for state in self._pairs:
            state["frozen"] = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        state = {"frozen": False}
        self._pairs.append(state)
        self._writers += [writer, up_writer]
        for r, w in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(r, w, state))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: dict[str, bool]) -> None:
        try:
            while not state["frozen"]:
                data = await reader.read(65536)
                if not data or state["frozen"]:
                    break
                writer.write(data)
                await writer.drain()
            if not state["frozen"]:
                writer.close()
            else:
                await asyncio.Event().wait()  # hold the socket open, forward nothing
        except (ConnectionError, asyncio.CancelledError):
            pass

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except BaseException:
                pass
        for w in self._writers:
            w.close()

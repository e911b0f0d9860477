"""A bare test client for the agent websocket: typed frames in, typed frames
out, and a strict sequence check on every stream (a gap or a duplicate fails
the test at once)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from protocol import messages as p


class CommandError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class SequenceError(AssertionError):
    pass


_ids = itertools.count(1)


class WsAgent:
    def __init__(self, ws: ClientConnection, name: str = "") -> None:
        self.ws = ws
        self.name = name
        self.welcome: p.Welcome | None = None
        self.snapshot: p.Snapshot | None = None
        self.resumed: p.Resumed | None = None
        self.resynced = False
        self.epoch = ""
        self.positions: dict[str, int] = {}
        self.events: list[p.Event] = []
        self.arrived: list[p.Event] = []
        """Every event frame as it came, on any stream (also one this agent
        is not, or no longer, subscribed to: ``events`` holds only those)."""
        self.others: list[p.ServerFrame] = []
        self._pending: dict[str, asyncio.Future[p.ServerFrame]] = {}
        self._arrived = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None
        self.close_code: int | None = None
        self.failure: SequenceError | None = None
        self._early: dict[str, list[p.Event]] = {}
        self._marks: dict[str, int] = {}

    @classmethod
    async def connect(
        cls, url: str, token: str, *, resume: p.Resume | None = None, name: str = "", **kw: Any
    ) -> WsAgent:
        return await cls.over(await connect(url, compression=None, **kw), token, resume=resume, name=name)

    @classmethod
    async def over(cls, ws: ClientConnection, token: str, *, resume: p.Resume | None = None, name: str = "") -> WsAgent:
        """Hello on an open connection (a socket, or tests/memlink.py's link)."""
        agent = cls(ws, name)
        hello = p.Hello(id="hello", token=token, resume=resume)
        await ws.send(p.encoder.encode(hello).decode())
        first = p.frame_decoder.decode(await asyncio.wait_for(ws.recv(), 5))
        if isinstance(first, p.Error):
            await ws.close()
            raise CommandError(first.code, first.message)
        assert isinstance(first, p.Welcome), first
        agent.welcome = first
        agent.epoch = first.epoch
        if resume is not None:
            agent.positions = dict(resume.streams)
        agent._reader = asyncio.create_task(agent._read())
        await agent.wait_for(lambda: agent.snapshot is not None or agent.resumed is not None)
        return agent

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = p.frame_decoder.decode(raw)
                try:
                    self._on(frame)
                except SequenceError as e:
                    self.failure = e
                    break
                async with self._arrived:
                    self._arrived.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            async with self._arrived:
                self._arrived.notify_all()

    def _on(self, frame: p.ServerFrame) -> None:
        if isinstance(frame, p.Event):
            self.arrived.append(frame)
        self._apply(frame)

    def _apply(self, frame: p.ServerFrame) -> None:
        match frame:
            case p.Ack(id=rid) | p.Error(id=rid) if rid in self._pending:
                if rid.startswith("b"):  # a barrier: what had arrived before this answer
                    self._marks[rid] = len(self.arrived)
                fut = self._pending.pop(rid)
                if not fut.done():
                    fut.set_result(frame)
            case p.Event(stream=stream, seq=seq) if stream.startswith("conv:") and stream not in self.positions:
                # Opened, but the Open ack (with the stream position) is not here yet.
                self._early.setdefault(stream, []).append(frame)
            case p.Event(stream=stream, seq=seq):
                last = self.positions.get(stream, 0)
                if seq != last + 1:
                    raise SequenceError(f"{self.name}: {stream} went from {last} to {seq}")
                self.positions[stream] = seq
                self.events.append(frame)
            case p.Snapshot():
                self.snapshot = frame
                self.positions.update(frame.streams)
                self.epoch = frame.epoch
            case p.Resumed():
                self.resumed = frame
            case p.Resync():
                self.resynced = True
                self.positions = {}
                self.snapshot = None
            case p.Unsubscribed(stream=stream):
                self.positions.pop(stream, None)
                self.others.append(frame)
            case _:
                self.others.append(frame)

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        async def waiter() -> Any:
            async with self._arrived:
                while True:
                    if self.failure is not None:
                        raise self.failure
                    value = predicate()
                    if value:
                        return value
                    if self._reader is not None and self._reader.done():
                        raise ConnectionError(f"{self.name}: connection closed ({self.close_code})")
                    await self._arrived.wait()

        return await asyncio.wait_for(waiter(), timeout)

    async def event(self, kind: type[p.EventBody], where: Callable[[Any], bool] = lambda e: True, timeout: float = 5.0) -> Any:
        """The first received event of this kind matching ``where`` (waits for it)."""

        def find() -> Any:
            for e in self.events:
                if isinstance(e.event, kind) and where(e.event):
                    return e.event
            return None

        return await self.wait_for(find, timeout)

    def received(self, kind: type[p.EventBody], where: Callable[[Any], bool] = lambda e: True) -> list[Any]:
        return [e.event for e in self.events if isinstance(e.event, kind) and where(e.event)]

    async def call(self, cmd_type: type[p.Command], **fields: Any) -> Any:
        rid = f"r{next(_ids)}"
        fut: asyncio.Future[p.ServerFrame] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self.ws.send(p.encoder.encode(cmd_type(id=rid, **fields)).decode())
        frame = await asyncio.wait_for(fut, 5)
        if isinstance(frame, p.Error):
            raise CommandError(frame.code, frame.message)
        assert isinstance(frame, p.Ack)
        if isinstance(frame.result, p.ThreadResult):
            stream = f"conv:{frame.result.conversation.id}"
            self.positions[stream] = frame.result.stream_seq
            for early in self._early.pop(stream, []):
                if early.seq > frame.result.stream_seq:
                    self._apply(early)
        return frame.result

    async def barrier(self) -> list[p.Event]:
        """Ping, and return the events that arrived before the answer (on any
        stream, as in ``arrived``).

        The server runs a socket's commands in order and writes every event
        to the socket as it is published, so once the ack is here, an event
        published before the ping was sent is here too. Use it after something
        that must *not* reach this agent: wait until it reached someone who
        hears the same publication (on this node), then ``barrier()`` proves
        this agent heard nothing, without sleeping. Across nodes a ping proves
        less (the publication may still be on its way through Redis): wait for
        a later publication this agent does hear instead."""
        rid = f"b{next(_ids)}"
        fut: asyncio.Future[p.ServerFrame] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self.ws.send(p.encoder.encode(p.Ping(id=rid)).decode())
        frame = await asyncio.wait_for(fut, 5)
        assert isinstance(frame, p.Ack), frame
        return self.arrived[: self._marks.pop(rid)]

    async def received_by_now(self, kind: type[p.EventBody], where: Callable[[Any], bool] = lambda e: True) -> list[Any]:
        """Like ``received``, behind a ``barrier()``: what was already on its
        way counts too. For asserting that something did *not* come."""
        return [e.event for e in await self.barrier() if isinstance(e.event, kind) and where(e.event)]

    async def raw(self, data: str | bytes) -> p.ServerFrame:
        """Send anything; return the next non-event frame the server answers with."""
        before = len(self.others)
        await self.ws.send(data)
        await self.wait_for(lambda: len(self.others) > before)
        return self.others[before]

    def resume_point(self) -> p.Resume:
        return p.Resume(epoch=self.epoch, streams=dict(self.positions))

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader

"""The asyncio agent client: one supervised websocket, typed commands, a
sequence-checked event stream and a local mirror of the agent's state.

    client = AgentClient("ws://127.0.0.1:8000/ws", token, on_change=redraw)
    snapshot = await client.connect()          # hello → welcome → snapshot
    await client.claim(conversation_id)        # Ack result, or a CommandError
    async for item in client.events():         # p.Event | p.Snapshot | p.Unsubscribed
        ...

Lifecycle. ``connect()`` makes the first connection and returns its snapshot
(or raises). From then on a supervisor task keeps the connection up: when it
drops (network, server restart, slow-consumer close, a detected gap) it
reconnects with jittered exponential backoff and sends ``hello`` with
``resume`` = the last sequence of every stream. The server either replays
what was missed (``resumed``) or says ``resync`` and sends a new snapshot;
the mirror reloads from it and the snapshot is delivered to ``events()``
consumers so they reload too. Thread streams the caller opened are reopened
after a snapshot. An ``AuthError`` (token refused) stops the client.

Guarantees: events reach the mirror, the change callback and every
``events()`` consumer in stream order, each once, never across a hole.

Not guaranteed: a command in flight when the connection drops raises
``ConnectionLost`` and is not retried (it may have been carried out; the
mirror will show it). ``events()`` queues are unbounded: a consumer that
never reads grows memory.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from clients.switchboard_client.errors import (
    AuthError,
    ClientClosed,
    ClientError,
    ConnectionLost,
    NotConnected,
    command_error,
)
from clients.switchboard_client.mirror import Change, Mirror, allowed
from clients.switchboard_client.sequencer import Gap, Sequencer
from protocol import errors as codes
from protocol import messages as p

log = logging.getLogger(__name__)

Update = p.Event | p.Snapshot | p.Unsubscribed
"""What ``events()`` yields: a live event; a snapshot (state was reloaded:
redraw from it); or a stream the agent lost the right to."""

State = Literal["idle", "connecting", "live", "reconnecting", "closed", "failed"]
ChangeCallback = Callable[[Mirror, list[Change]], None]
StateCallback = Callable[[State], None]

R = TypeVar("R", bound=p.Result)

_FATAL_CLOSE = {
    codes.CLOSE_AUTH_FAILED: codes.AUTH_FAILED,
    codes.CLOSE_TOKEN_EXPIRED: codes.TOKEN_EXPIRED,
    codes.CLOSE_UNSUPPORTED_PROTOCOL: codes.UNSUPPORTED_PROTOCOL,
    codes.CLOSE_TOKEN_REVOKED: codes.TOKEN_REVOKED,
}
_FATAL_CODES = set(_FATAL_CLOSE.values())
_END = object()


@dataclass
class Stats:
    connects: int = 0
    resumes: int = 0
    resyncs: int = 0
    gaps: int = 0
    reconnect_attempts: int = 0


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [base/2, min(cap, base·2^attempt)], so a crowd
    of clients dropped together does not come back together."""
    high = min(cap, base * (2**attempt))
    return rng.uniform(min(base / 2, high), high)


async def ws_url_from_http(base_url: str) -> str:
    """The websocket address the server advertises at GET /api/config."""
    async with httpx.AsyncClient() as http:
        r = await http.get(base_url.rstrip("/") + "/api/config", timeout=10)
        r.raise_for_status()
        return str(r.json()["ws_url"])


class AgentClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        on_change: ChangeCallback | None = None,
        on_state: StateCallback | None = None,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.25, 15.0),
        command_timeout: float = 15.0,
        open_timeout: float = 10.0,
        seed: int | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.on_change = on_change
        self.on_state = on_state
        self.reconnect = reconnect
        self.backoff = backoff
        self.command_timeout = command_timeout
        self.open_timeout = open_timeout
        self.mirror = Mirror()
        self.seq = Sequencer()
        self.stats = Stats()
        self.state: State = "idle"
        self.welcome: p.Welcome | None = None
        self.snapshot: p.Snapshot | None = None
        self.failure: ClientError | None = None
        self._rng = random.Random(seed)
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[asyncio.Future[p.ServerFrame], str]] = {}
        self._wanted_threads: set[str] = set()
        self._subscribers: list[asyncio.Queue[Any]] = []
        self._live = asyncio.Event()
        self._synced: asyncio.Future[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._reopen: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def from_http(cls, base_url: str, token: str, **kw: Any) -> AgentClient:
        """A client for the server whose web app is at ``base_url``."""
        return cls(await ws_url_from_http(base_url), token, **kw)

    async def connect(self) -> p.Snapshot:
        """First connection; returns the snapshot. Raises ``AuthError`` for a
        refused token, ``OSError``/``TimeoutError`` when the server is not there."""
        if self._supervisor is not None:
            raise ClientError("connect() was already called")
        self._set_state("connecting")
        try:
            await self._open_session(resume=None)
        except BaseException:
            self._set_state("failed")
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name="switchboard-client")
        assert self.snapshot is not None
        return self.snapshot

    async def close(self) -> None:
        self._set_state("closed")
        task, self._supervisor = self._supervisor, None
        if self._ws is not None:
            await self._ws.close()
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for extra in (self._reader, self._reopen):
            if extra is not None and not extra.done():
                extra.cancel()
                try:
                    await extra
                except (asyncio.CancelledError, Exception):
                    pass
        self._fail_pending(ClientClosed("the client was closed"))
        self._end_subscribers()

    async def __aenter__(self) -> AgentClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def drop_connection(self) -> None:
        """Cut the socket without a closing handshake, as a network failure
        would. The client notices, reconnects and resumes (for tests and drills)."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def wait_live(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._live.wait(), timeout)

    def events(self) -> AsyncIterator[Update]:
        """A new consumer of everything delivered from now on, in order.
        Ends when the client closes; raises the ``AuthError`` if it fails."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscribers.append(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[Any]) -> AsyncIterator[Update]:
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    if self.failure is not None and self.state == "failed":
                        raise self.failure
                    return
                yield item
        finally:
            if queue in self._subscribers:
                self._subscribers.remove(queue)

    # ------------------------------------------------------------------ connection

    async def _open_session(self, resume: p.Resume | None) -> None:
        """Connect, hello, welcome, and read until synced (snapshot or resumed).
        The reader keeps running as a task owned by the returned socket."""
        ws = await connect(self.url, compression=None, open_timeout=self.open_timeout, max_size=None)
        try:
            hello = p.Hello(id=f"hello-{next(self._ids)}", token=self.token, resume=resume)
            await ws.send(p.encoder.encode(hello).decode())
            first = p.frame_decoder.decode(await asyncio.wait_for(ws.recv(), self.open_timeout))
            if isinstance(first, p.Error):
                if first.code in _FATAL_CODES:
                    raise AuthError(first.code, first.message)
                raise ClientError(f"hello refused: {first.code}: {first.message}")
            if not isinstance(first, p.Welcome):
                raise ClientError(f"expected welcome, got {type(first).__name__}")
            self.welcome = first
            self._ws = ws
            self._synced = asyncio.get_running_loop().create_future()
            reader = asyncio.create_task(self._read(ws), name="switchboard-reader")
            done, _ = await asyncio.wait({reader, self._synced}, timeout=self.open_timeout, return_when="FIRST_COMPLETED")
            if self._synced not in done:
                if reader not in done:
                    reader.cancel()
                    raise TimeoutError("no snapshot after welcome")
                error = reader.exception()
                raise error if error is not None else ConnectionLost("the server closed before the snapshot")
            self._reader = reader
        except BaseException:
            self._ws = None
            await ws.close()
            raise
        self.stats.connects += 1
        self._live.set()
        self._set_state("live")

    async def _supervise(self) -> None:
        """Keep a connection up until close() or an AuthError."""
        while True:
            reason = await self._reader_outcome()
            self._live.clear()
            self._ws = None
            self._fail_pending(ConnectionLost("the connection dropped before the answer arrived"))
            if self.state == "closed":
                return
            if isinstance(reason, AuthError) or not self.reconnect:
                self._fail(reason if isinstance(reason, ClientError) else ConnectionLost(str(reason)))
                return
            self._set_state("reconnecting")
            if not await self._reconnect():
                return

    async def _reader_outcome(self) -> BaseException | None:
        assert self._reader is not None
        try:
            await self._reader
        except asyncio.CancelledError:
            raise
        except BaseException as e:
            return e
        return None

    async def _reconnect(self) -> bool:
        attempt = 0
        base, cap = self.backoff
        while self.state != "closed":
            await asyncio.sleep(backoff_delay(attempt, base, cap, self._rng))
            attempt += 1
            self.stats.reconnect_attempts += 1
            try:
                await self._open_session(resume=self.seq.resume_point())
                return True
            except AuthError as e:
                self._fail(e)
                return False
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed, ClientError) as e:
                log.info("reconnect attempt %d failed: %s", attempt, e)
        return False

    def _fail(self, error: ClientError) -> None:
        self.failure = error
        self._set_state("failed")
        self._end_subscribers()

    async def _read(self, ws: ClientConnection) -> None:
        """Read frames until the socket closes. Raises AuthError for a fatal
        close code, Gap for a hole in a stream."""
        try:
            async for raw in ws:
                self._on_frame(p.frame_decoder.decode(raw))
        except ConnectionClosed:
            pass
        except Gap as e:
            self.stats.gaps += 1
            log.warning("stream gap (%s): reconnecting to resume", e)
            ws.transport.abort()
            return
        code = ws.close_code
        if code in _FATAL_CLOSE:
            raise AuthError(_FATAL_CLOSE[code], ws.close_reason or "the server closed the connection")

    # ------------------------------------------------------------------ frames

    def _on_frame(self, frame: p.ServerFrame) -> None:
        match frame:
            case p.Event():
                for ready in self.seq.accept(frame):
                    self._deliver_event(ready)
            case p.Ack(id=rid) | p.Error(id=rid) if rid is not None and rid in self._pending:
                fut, _ = self._pending.pop(rid)
                if not fut.done():
                    fut.set_result(frame)
            case p.Snapshot():
                self.snapshot = frame
                self.seq.load(frame)
                changes = self.mirror.load(frame, local_now=time.time_ns() // 1_000_000)
                self._publish(frame, changes)
                self._mark_synced()
                if self._wanted_threads:
                    self._reopen = asyncio.ensure_future(self._reopen_threads(sorted(self._wanted_threads)))
            case p.Resumed():
                self.stats.resumes += 1
                self._mark_synced()
            case p.Resync():
                self.stats.resyncs += 1
            case p.Unsubscribed(stream=stream):
                self.seq.closed(stream)
                if stream.startswith("conv:"):
                    cid = stream.removeprefix("conv:")
                    self._wanted_threads.discard(cid)
                    self.mirror.drop_thread(cid)
                self._publish(frame, [])
            case p.Error():
                log.warning("server error: %s: %s", frame.code, frame.message)
            case _:
                pass

    def _mark_synced(self) -> None:
        if self._synced is not None and not self._synced.done():
            self._synced.set_result(None)

    def _deliver_event(self, frame: p.Event) -> None:
        self._publish(frame, self.mirror.apply(frame.event))

    def _publish(self, item: Update, changes: list[Change]) -> None:
        for queue in self._subscribers:
            queue.put_nowait(item)
        if self.on_change is not None and changes:
            try:
                self.on_change(self.mirror, changes)
            except Exception:
                log.exception("on_change callback failed")

    def _end_subscribers(self) -> None:
        for queue in self._subscribers:
            queue.put_nowait(_END)

    def _set_state(self, state: State) -> None:
        if self.state == state or (self.state == "closed" and state != "closed"):
            return
        self.state = state
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("on_state callback failed")

    def _fail_pending(self, error: ClientError) -> None:
        pending, self._pending = self._pending, {}
        for fut, _ in pending.values():
            if not fut.done():
                fut.set_exception(error)

    async def _reopen_threads(self, conv_ids: list[str]) -> None:
        """After a snapshot the server follows no thread: open them again."""
        for cid in conv_ids:
            try:
                await self.open(cid)
            except ClientError as e:
                log.info("could not reopen %s: %s", cid, e)
                self._wanted_threads.discard(cid)

    # ------------------------------------------------------------------ commands

    async def call(self, command: p.Command) -> p.Result:
        """Send one command (its ``id`` is replaced) and wait for its answer:
        the Ack's result, or the typed CommandError."""
        if self.state in ("closed", "failed"):
            raise self.failure if self.state == "failed" and self.failure else ClientClosed("the client is closed")
        try:
            await asyncio.wait_for(self._live.wait(), self.command_timeout)
        except TimeoutError:
            raise NotConnected(f"no connection within {self.command_timeout:g}s") from None
        ws = self._ws
        assert ws is not None
        rid = f"c{next(self._ids)}"
        command = msgspec.structs.replace(command, id=rid)
        name = str(type(command).__struct_config__.tag)
        fut: asyncio.Future[p.ServerFrame] = asyncio.get_running_loop().create_future()
        self._pending[rid] = (fut, name)
        try:
            await ws.send(p.encoder.encode(command).decode())
            frame = await asyncio.wait_for(fut, self.command_timeout)
        except ConnectionClosed:
            raise ConnectionLost("the connection dropped before the answer arrived") from None
        finally:
            self._pending.pop(rid, None)
        if isinstance(frame, p.Error):
            raise command_error(frame.code, frame.message, name)
        assert isinstance(frame, p.Ack)
        return frame.result

    async def _call(self, command: p.Command, kind: type[R]) -> R:
        result = await self.call(command)
        if not isinstance(result, kind):
            raise ClientError(f"expected a {kind.__name__}, got {type(result).__name__}")
        return result

    def can(self, conversation_id: str) -> frozenset[p.Action]:
        """What this agent may do to a conversation now, as the server says
        (docs/PROTOCOL.md, "What an agent may do"): empty when the mirror
        does not know it. Commands outside it would be refused."""
        summary = self.mirror.conversation(conversation_id)
        if summary is None or self.welcome is None:
            return frozenset()
        return allowed(summary, self.welcome.principals)

    async def ping(self) -> p.Ok:
        return await self._call(p.Ping(id=""), p.Ok)

    async def set_status(self, status: p.AgentStatus) -> p.StatusResult:
        """Routing: available, away or offline."""
        return await self._call(p.SetStatus(id="", status=status), p.StatusResult)

    async def accept_offer(self, conversation_id: str) -> p.ConversationResult:
        return await self._call(p.AcceptOffer(id="", conversation_id=conversation_id), p.ConversationResult)

    async def decline_offer(self, conversation_id: str) -> p.ConversationResult:
        return await self._call(p.DeclineOffer(id="", conversation_id=conversation_id), p.ConversationResult)

    async def transfer(
        self, conversation_id: str, *, agent_id: str | None = None, queue_id: str | None = None, note: str = ""
    ) -> p.ConversationResult:
        cmd = p.Transfer(id="", conversation_id=conversation_id, agent_id=agent_id, queue_id=queue_id, note=note)
        return await self._call(cmd, p.ConversationResult)

    async def claim(self, conversation_id: str) -> p.ConversationResult:
        return await self._call(p.Claim(id="", conversation_id=conversation_id), p.ConversationResult)

    async def assign(self, conversation_id: str, agent_id: str) -> p.ConversationResult:
        return await self._call(
            p.Assign(id="", conversation_id=conversation_id, agent_id=agent_id), p.ConversationResult
        )

    async def send_to_inbox(self, conversation_id: str) -> p.ConversationResult:
        return await self._call(p.SendToInbox(id="", conversation_id=conversation_id), p.ConversationResult)

    async def end_chat(self, conversation_id: str) -> p.ConversationResult:
        return await self._call(p.EndChat(id="", conversation_id=conversation_id), p.ConversationResult)

    async def send(self, conversation_id: str, text: str, *, idempotency_key: str | None = None) -> p.MessageResult:
        """With an ``idempotency_key`` (e.g. ``uuid4().hex``), the same call
        again after a lost answer answers the first send's message instead of
        sending twice (docs/PROTOCOL.md, ``send``)."""
        cmd = p.SendMessage(id="", conversation_id=conversation_id, text=text, idempotency_key=idempotency_key)
        return await self._call(cmd, p.MessageResult)

    async def send_template(
        self,
        conversation_id: str,
        name: str,
        params: list[str] | None = None,
        language: str = "en_US",
        *,
        idempotency_key: str | None = None,
    ) -> p.MessageResult:
        ref = p.TemplateRef(name=name, language=language, params=params or [])
        cmd = p.SendTemplate(id="", conversation_id=conversation_id, template=ref, idempotency_key=idempotency_key)
        return await self._call(cmd, p.MessageResult)

    async def start(
        self,
        touchpoint_id: str,
        address: str,
        *,
        template: p.TemplateRef | None = None,
        text: str | None = None,
        idempotency_key: str | None = None,
    ) -> p.MessageResult:
        cmd = p.StartConversation(
            id="", touchpoint_id=touchpoint_id, address=address, template=template, text=text, idempotency_key=idempotency_key
        )
        return await self._call(cmd, p.MessageResult)

    async def mark_read(self, conversation_id: str) -> p.ConversationResult:
        return await self._call(p.MarkRead(id="", conversation_id=conversation_id), p.ConversationResult)

    async def open(self, conversation_id: str, limit: int = 50) -> p.ThreadResult:
        """Follow a thread: its newest page now, its events from then on
        (``events()`` and the mirror's ``threads``); reopened after a resync."""
        stream = f"conv:{conversation_id}"
        self.seq.opening(stream)
        try:
            result = await self._call(p.Open(id="", conversation_id=conversation_id, limit=limit), p.ThreadResult)
        except BaseException:
            self.seq.closed(stream)
            raise
        self._wanted_threads.add(conversation_id)
        changes = self.mirror.load_thread(result)
        if self.on_change is not None:
            self.on_change(self.mirror, changes)
        for ready in self.seq.opened(stream, result.stream_seq):
            self._deliver_event(ready)
        return result

    async def close_thread(self, conversation_id: str) -> p.Ok:
        self._wanted_threads.discard(conversation_id)
        self.seq.closed(f"conv:{conversation_id}")
        self.mirror.drop_thread(conversation_id)
        return await self._call(p.Close(id="", conversation_id=conversation_id), p.Ok)

    async def history(self, conversation_id: str, before: int, limit: int = 50) -> p.PageResult:
        page = await self._call(
            p.History(id="", conversation_id=conversation_id, before=before, limit=limit), p.PageResult
        )
        self.mirror.load_page(conversation_id, page)
        return page

    async def more_inbox(self, limit: int = 100) -> p.InboxPageResult | None:
        """Extend the mirror's Inbox window by one page (None: it is whole)."""
        if self.mirror.inbox_cursor is None:
            return None
        page = await self.inbox_page(cursor=self.mirror.inbox_cursor, limit=limit)
        self.mirror.load_inbox_page(page)
        return page

    async def inbox_page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        queue_id: str | None = None,
        channel: p.Channel | None = None,
        query: str | None = None,
    ) -> p.InboxPageResult:
        """One page of the Inbox, filtered by the server (the mirror is not touched)."""
        command = p.InboxPage(id="", cursor=cursor, limit=limit, queue_id=queue_id, channel=channel, query=query)
        return await self._call(command, p.InboxPageResult)

    async def search(self, conversation_id: str, query: str, limit: int = 100) -> p.SearchResult:
        return await self._call(
            p.Search(id="", conversation_id=conversation_id, query=query, limit=limit), p.SearchResult
        )

    async def add_note(self, conversation_id: str, text: str) -> p.NoteResult:
        return await self._call(p.AddNote(id="", conversation_id=conversation_id, text=text), p.NoteResult)

    async def wrap_up(self, conversation_id: str, disposition: str, note: str = "") -> p.WrapUpResult:
        return await self._call(
            p.WrapUp(id="", conversation_id=conversation_id, disposition=disposition, note=note), p.WrapUpResult
        )

    async def contact_card(self, conversation_id: str) -> p.ContactCardResult:
        return await self._call(p.GetContactCard(id="", conversation_id=conversation_id), p.ContactCardResult)

    async def save_canned(
        self, list_id: str, shortcut: str, text: str, response_id: str | None = None
    ) -> p.CannedListResult:
        """Create (no ``response_id``) or replace a canned response; the list after."""
        cmd = p.SaveCanned(id="", list_id=list_id, shortcut=shortcut, text=text, response_id=response_id)
        return await self._call(cmd, p.CannedListResult)

    async def delete_canned(self, list_id: str, response_id: str) -> p.CannedListResult:
        return await self._call(p.DeleteCanned(id="", list_id=list_id, response_id=response_id), p.CannedListResult)

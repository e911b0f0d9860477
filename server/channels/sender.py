"""The outbound sender: stored pending agent messages → Meta's send APIs.

The service stores an agent's message *pending* before anyone is told of it,
then calls ``on_sent``; from there this module owns it until it is ``sent``
(with Meta's id) or ``failed`` (with Meta's code and text), both reported
through ``Service.delivery`` and so shown live to the agent.

- Order: one worker per conversation sends its messages one after another,
  so a retried message is never overtaken by the agent's next one.
- Retries: transient refusals (5xx, 429 and Meta's rate limits, timeouts,
  network errors) are retried with exponential backoff and jitter, honouring
  Retry-After, up to ``max_attempts``; then, like a permanent refusal, the
  message is failed with the last error. 131047 (WhatsApp) and 10/2018278
  (Messenger) also lock the conversation's session: Meta knows best.
- Restart: a sweep at start and every ``sweep_seconds`` picks up stored
  pending messages (never sent, or left by a sender that died).

Idempotency (Meta's send APIs take no idempotency key, so "exactly once" is
built from three parts):

1. Before each attempt the sender takes a *lease* on the message in the
   store (``Store.claim_send``, durable). While a lease runs no other sender,
   on this node after a restart or on another node, may send it.
2. Our message id rides along in the request (WhatsApp
   ``biz_opaque_callback_data``, Messenger ``metadata``) and Meta returns it in
   every status webhook and echo, so a message Meta accepted is marked sent
   even if we never read the answer (crash, timeout).
3. Before every attempt, the message is re-read: anything no longer pending
   is not sent again.

So a message is sent twice only if an attempt reached Meta, no answer was
read (the process died, or the request timed out), *and* no webhook carrying
our id arrived before the retry: within the lease (``lease_seconds``) after a
crash, within the backoff after a timeout. Then it is resent (at-least-once
beats silently lost). A message Meta refused, or a request that never left
(connection refused), is never in doubt.

Not guaranteed: order across conversations; delivery while no access token
is configured for the touchpoint (the message waits, pending, and a warning
is logged at start).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections import deque
from collections.abc import Awaitable, Callable

import httpx

from server.app import App
from server.blobs.base import BlobsUnavailable
from server.channels.errors import Unsendable
from server.channels.graph import Accepted, GraphClient, Refused
from server.config import MetaSettings
from server.core.model import Message
from server.metrics import Metrics
from server.store.base import Store
from server.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RECORD_ATTEMPTS = 5
"""Tries to store Meta's answer when the store is briefly unavailable."""


class Sender:
    def __init__(
        self,
        app: App,
        store: Store,
        settings: MetaSettings,
        metrics: Metrics,
        *,
        node_id: str = "node",
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        files: Callable[[str], Awaitable[bytes | None]] | None = None,
    ) -> None:
        self.files = files
        """Reads a stored file (the Blobs port) for a media message."""
        self.app = app
        self.store = store
        self.settings = settings
        self.metrics = metrics
        # A fresh owner per process: after a restart the old leases are not ours.
        self.owner = f"{node_id}/{secrets.token_hex(4)}"
        self.graph: GraphClient | None = None
        self._transport = transport
        self._sleep = sleep
        self._rng = rng
        self._slots = asyncio.Semaphore(settings.max_concurrent_sends)
        self._queues: dict[str, deque[str]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._known: set[str] = set()
        """Message ids queued or being sent here."""
        self._unrecorded: dict[str, Accepted | Refused] = {}
        """Answers Meta gave that the store could not take yet: recorded, never resent."""
        self._tokenless: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        s = self.settings
        self.graph = GraphClient(
            s.graph_api_base, timeout=s.timeout_seconds, connect_timeout=s.connect_timeout_seconds, transport=self._transport
        )
        for tp in self.app.catalog.touchpoints.values():
            if not tp.access_token:
                log.warning("touchpoint %s (%s) has no access token: its agents' messages stay pending", tp.id, tp.channel)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="sender-sweep")

    async def stop(self) -> None:
        """Stop now. An attempt cut short is in doubt; its lease covers it (see above)."""
        await cancel_and_wait([self._sweeper, *self._workers.values()])
        self._sweeper = None
        self._workers.clear()
        self._queues.clear()
        self._known.clear()
        if self.graph is not None:
            await self.graph.aclose()
            self.graph = None

    async def on_sent(self, message_id: str) -> None:
        """The service stored a pending outbound message. Never raises: what
        cannot be queued now is found by the next sweep."""
        if self.graph is None:
            return
        try:
            message = await self.store.get_message(message_id)
        except Exception:
            log.exception("could not read new message %s; the sweep will send it", message_id)
            return
        if message is not None and message.status == "pending":
            self._enqueue(message)

    async def sweep(self) -> int:
        """Queue every stored pending message not already queued here. Returns how many were queued."""
        if not any(tp.access_token for tp in self.app.catalog.touchpoints.values()):
            return 0  # nothing could go out: do not re-read every pending message
        queued = 0
        for message in await self.store.pending_outbound():
            if message.id not in self._known and message.id not in self._tokenless:
                self._enqueue(message)
                queued += 1
        return queued

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep of pending messages failed; next try in %ss", self.settings.sweep_seconds)
            await asyncio.sleep(self.settings.sweep_seconds)

    # ------------------------------------------------------------------ queues

    def _enqueue(self, message: Message) -> None:
        if message.id in self._known:
            return
        self._known.add(message.id)
        cid = message.conversation_id
        self._queues.setdefault(cid, deque()).append(message.id)
        if cid not in self._workers:
            self._workers[cid] = asyncio.create_task(self._work(cid), name=f"send:{cid}")

    async def _work(self, conv_id: str) -> None:
        queue = self._queues[conv_id]
        try:
            while queue:
                message_id = queue[0]
                try:
                    await self._deliver(message_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Keep the order: the rest of this conversation waits for the sweep too.
                    log.exception("sending %s failed; it stays pending until the next sweep", message_id)
                    self._known.difference_update(queue)
                    queue.clear()
                    break
                queue.popleft()
                self._known.discard(message_id)
        finally:
            self._workers.pop(conv_id, None)
            if not queue:
                self._queues.pop(conv_id, None)

    # ------------------------------------------------------------------ one message

    def _count(self, channel: str, event: str) -> None:
        self.metrics.channel.inc(1, channel, event)

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Pause after failed attempt number ``attempt`` (1, 2, …): doubling,
        half of it random (so many senders do not retry in step), at least
        what Meta asked for, never over the cap."""
        s = self.settings
        delay = min(s.backoff_max_seconds, s.backoff_seconds * 2 ** (attempt - 1))
        delay = delay / 2 + self._rng() * delay / 2
        if retry_after is not None:
            delay = max(delay, retry_after)
        return float(min(delay, s.backoff_max_seconds))

    async def _deliver(self, message_id: str) -> None:
        attempt = 0
        while True:
            answer = self._unrecorded.get(message_id)
            if answer is not None:
                await self._record(message_id, answer)
                return
            message = await self.store.get_message(message_id)
            if message is None or message.direction != "out" or message.status != "pending":
                return  # settled meanwhile, e.g. by a status webhook carrying our id
            conv = await self.store.get_conversation(message.conversation_id)
            if conv is None:
                return
            channel = conv.channel
            touchpoint = self.app.catalog.touchpoints.get(conv.touchpoint_id)
            if touchpoint is None or not touchpoint.access_token:
                if message_id not in self._tokenless:
                    self._tokenless.add(message_id)
                    self._count(channel, "send_no_token")
                return
            graph = self.graph
            if graph is None:
                return  # stopping: the next sweep (here or on another node) sends it
            contact = await self.app.directory.contact_of(conv)
            earlier = await self.store.claim_send(
                message_id, self.owner, self.app.clock(), int(self.settings.lease_seconds * 1000)
            )
            if earlier is None:
                self._count(channel, "send_held_elsewhere")
                return  # another sender's lease runs; a later sweep looks again
            if earlier and attempt == 0:
                log.warning(
                    "message %s: resending; an earlier attempt may have reached Meta without a word back", message_id
                )
                self._count(channel, "send_in_doubt")
            attempt += 1
            try:
                async with self._slots:
                    data = None
                    if message.media is not None and message.media.key and self.files is not None:
                        data = await self.files(message.media.key)
                    answer = await graph.send(touchpoint, contact.address, message, data)
            except BlobsUnavailable as e:
                answer = Refused(code="storage", text=f"The file could not be read ({e}).", transient=True)
            except Unsendable as e:
                answer = Refused(code="unsupported", text=str(e), transient=False)
            if isinstance(answer, Refused) and answer.transient and attempt < self.settings.max_attempts:
                self._count(channel, "send_retry")
                log.info("message %s: attempt %d refused (%s %s); retrying", message_id, attempt, answer.code, answer.text)
                await self._sleep(self.backoff(attempt, answer.retry_after))
                continue
            self._unrecorded[message_id] = answer
            await self._record(message_id, answer)
            if isinstance(answer, Accepted):
                self._count(channel, "sent")
            else:
                self._count(channel, "send_failed")
                if answer.window_closed:
                    self._count(channel, "send_window_closed")
                log.info("message %s failed: %s %s", message_id, answer.code, answer.text)
            return

    async def _record(self, message_id: str, answer: Accepted | Refused) -> None:
        """Store Meta's answer, retrying through a brief store outage. Until it
        is stored the answer stays in memory, so the message is never sent again."""
        for n in range(1, RECORD_ATTEMPTS + 1):
            try:
                if isinstance(answer, Accepted):
                    await self.app.intake.delivery(message_id, "sent", channel_message_id=answer.channel_message_id)
                else:
                    await self.app.intake.delivery(
                        message_id, "failed", error=(answer.code, answer.text), window_closed=answer.window_closed
                    )
            except asyncio.CancelledError:
                raise
            except Exception:
                if n == RECORD_ATTEMPTS:
                    raise
                log.warning("message %s: could not store Meta's answer yet (try %d)", message_id, n, exc_info=True)
                await self._sleep(self.backoff(n))
                continue
            self._unrecorded.pop(message_id, None)
            return

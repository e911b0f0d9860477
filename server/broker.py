"""Brokers: number each event on its stream, keep a short history, and hand
every publication to the local hub.

Interface (``Broker``), method by method:

- ``publish(stream, event)``: encodes the event once, gives it the stream's
  next sequence number, appends it to the stream's history and delivers the
  frame bytes, with the event's kind beside them, to ``on_publication`` on
  every node with listeners. Returns the sequence. Sequences of one stream are gap-free: 1, 2, 3… Raises
  ``StoreUnavailable`` only after arranging that every listener will be made
  to reload (a new epoch): a lost event is never a silent one.
- ``publish_many(publications)``: ``publish`` of each (stream, event), in
  order, in one go (a lock storm's batch): an event object given for several
  streams is encoded once, and the memory broker hands the hub the whole
  batch at once (``on_publications``: each socket written its frames in one
  write); the Redis one pipelines the scripts, and every node's reader hands
  the hub each run of publications it read at once (``on_publications``
  again). Per-stream order and gap-free
  sequences as ``publish``; raises as ``publish`` (those before the failure
  are published, the rest not, and every listener is made to reload).
- ``positions(streams)``: the last sequence of each stream (0 if none).
- ``handed_over(positions)``: returns once every publication up to those
  positions (a client's, as ``positions`` or a replay gave them) of the
  streams this node listens to has been handed to the hub: a client going
  live after it gets none of them again (they went to its backlog).
- ``history(stream, after)``: the frames with seq > ``after`` in order, or
  ``None`` when some of them are no longer kept (the client must resync).
- ``subscribe`` / ``unsubscribe``: reference-counted interest of this node in
  a stream (the memory broker needs none; the Redis one subscribes on the
  first and unsubscribes on the last).
- ``epoch``: changes whenever sequences restart (a new memory broker, a Redis
  that lost its data), so a client never matches a stale position.

``MemoryBroker`` is for a single node only: publications never leave the
process. Use the Redis broker to run several nodes.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from protocol import messages as p

OnPublication = Callable[[str, int, str, bytes], None]
"""(stream, seq, kind, frame bytes). ``kind`` is the event's ``type`` tag
(e.g. "conversation.updated"), taken from its Struct class at publish time:
whoever receives the frame decides from the kind what to do, never by looking
inside the bytes (they carry customer text)."""

OnPublications = Callable[[list[tuple[str, int, str, bytes]]], None]
"""A batch of publications at once (``publish_many``), in order."""

_encode_event = p.encoder.encode


def encoded_once(publications: Sequence[tuple[str, p.AnyEvent]]) -> list[tuple[str, str, bytes]]:
    """(stream, kind, event JSON) of each publication; the same event object
    published on several streams is encoded once. Written with ``map`` and
    ``zip``: the per-publication work of a lock storm's thousands stays in C."""
    if not publications:
        return []
    streams, events = zip(*publications, strict=True)
    keys = list(map(id, events))
    distinct = dict(zip(keys, events, strict=True))  # an event object's id → the object, once each
    jsons = dict(zip(distinct, map(_encode_event, distinct.values()), strict=True))
    kinds = dict(zip(distinct, map(_KINDS.__getitem__, map(type, distinct.values())), strict=True))
    return list(zip(streams, map(kinds.__getitem__, keys), map(jsons.__getitem__, keys), strict=True))


class _Kinds(dict[type, str]):
    """Each event class's ``type`` tag (``kind_of``), learnt on first sight."""

    def __missing__(self, cls: type) -> str:
        kind = self[cls] = str(cls.__struct_config__.tag)  # type: ignore[attr-defined]
        return kind


_KINDS = _Kinds()


def kind_of(event: p.AnyEvent) -> str:
    """The event's ``type`` tag, from its class: no encoding, no parsing."""
    return _KINDS[type(event)]


def frame_bytes(stream: str, seq: int, event_json: bytes) -> bytes:
    """The Event frame around already-encoded event bytes. Built by
    concatenation so an event is JSON-encoded once, whichever node and however
    many agents it reaches. Same bytes as ``encoder.encode(Event(...))``."""
    return _FRAME % (_encode_event(stream), seq, event_json)


_FRAME = b'{"type":"event","stream":%b,"seq":%d,"event":%b}'
"""``frame_bytes``' template (``MemoryBroker._append`` fills it in place: no call per publication)."""


class Broker(Protocol):
    epoch: str
    on_publication: OnPublication | None
    on_publications: OnPublications | None
    """When set, publications that reach the node together (a ``publish_many``
    batch; a run read at once from Redis) come here in one call, in order."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def publish(self, stream: str, event: p.AnyEvent) -> int: ...

    async def publish_many(self, publications: Sequence[tuple[str, p.AnyEvent]]) -> None: ...

    async def positions(self, streams: Iterable[str]) -> dict[str, int]: ...

    async def handed_over(self, positions: dict[str, int]) -> None: ...

    async def history(self, stream: str, after: int) -> list[tuple[int, bytes]] | None: ...

    async def subscribe(self, stream: str) -> None: ...

    async def unsubscribe(self, stream: str) -> None: ...


class MemoryBroker:
    """Single node only. History is bounded per stream (``history_size``
    events) and in total (``history_bytes``): past the budget, the histories
    of the streams published least recently are dropped first (a client
    resuming on one of those gets ``resync``). Sequence counters are kept for
    every stream."""

    def __init__(self, *, history_size: int = 1000, history_bytes: int = 64 * 2**20) -> None:
        self.epoch = secrets.token_hex(8)
        self.on_publication: OnPublication | None = None
        self.on_publications: OnPublications | None = None
        """When set, ``publish_many`` hands its whole batch here (else to ``on_publication``, one by one)."""
        self._size = history_size
        self._budget = history_bytes
        self._bytes = 0
        self._seq: dict[str, int] = {}
        self._history: dict[str, deque[tuple[int, bytes]]] = {}

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def publish(self, stream: str, event: p.AnyEvent) -> int:
        ((_, seq, kind, data),) = self._append([(stream, _KINDS[type(event)], _encode_event(event))])  # = kind_of
        if self.on_publication is not None:
            self.on_publication(stream, seq, kind, data)
        return seq

    async def publish_many(self, publications: Sequence[tuple[str, p.AnyEvent]]) -> None:
        batch = self._append(encoded_once(publications))
        if self.on_publications is not None:
            self.on_publications(batch)
        elif self.on_publication is not None:
            for stream, seq, kind, data in batch:
                self.on_publication(stream, seq, kind, data)

    def _append(self, encoded: Iterable[tuple[str, str, bytes]]) -> list[tuple[str, int, str, bytes]]:
        """Each (stream, kind, event JSON): its stream's next seq and its frame,
        kept in the history; returned as (stream, seq, kind, frame). One loop
        with no Python function called (``frame_bytes`` filled in place; a lock
        storm's chunk is 8,000 publications: a method call each was a tenth of
        the loop's calls). The
        total budget is enforced once, after the batch: while it runs, the
        histories may pass it by the batch's frames."""
        batch: list[tuple[str, int, str, bytes]] = []
        add = batch.append
        last, histories, size = self._seq, self._history, self._size
        added = 0
        frame, encode = _FRAME, _encode_event
        for stream, kind, event_json in encoded:
            seq = last.get(stream, 0) + 1
            last[stream] = seq
            data = frame % (encode(stream), seq, event_json)  # = frame_bytes(stream, seq, event_json)
            history = histories.pop(stream, None)  # re-insert: dict order = recency
            if history is None:
                history = deque()
            elif len(history) >= size:
                added -= len(history.popleft()[1])
            history.append((seq, data))
            added += len(data)
            histories[stream] = history
            add((stream, seq, kind, data))
        self._bytes += added
        # Past the total budget, drop the histories of the streams published least recently.
        while self._bytes > self._budget and len(self._history) > 1:
            oldest = next(iter(self._history))
            self._bytes -= sum(len(d) for _, d in self._history.pop(oldest))
        return batch

    async def positions(self, streams: Iterable[str]) -> dict[str, int]:
        return {s: self._seq.get(s, 0) for s in streams}

    async def handed_over(self, positions: dict[str, int]) -> None:
        """Nothing to wait for: a publication reaches the hub before ``publish`` returns."""

    async def history(self, stream: str, after: int) -> list[tuple[int, bytes]] | None:
        last = self._seq.get(stream, 0)
        if after > last:
            return None  # the client is ahead of us: it saw another epoch
        if after == last:
            return []
        kept = self._history.get(stream)
        if not kept or kept[0][0] > after + 1:
            return None
        return [(seq, data) for seq, data in kept if seq > after]

    async def subscribe(self, stream: str) -> None:
        pass

    async def unsubscribe(self, stream: str) -> None:
        pass

"""Ids that say which thread they belong to.

A *thread* is one contact on one touchpoint: all of their conversations, one
after another (End Chat, then a new message, starts the next one). The
rules that span conversations are rules of one thread: a new conversation is
created only if the thread's latest one is still the one the decision read,
and a channel message id (Meta's retries) is stored once per thread.

So every conversation id and message id minted for a thread carries the
thread's *shard*, a stable hash of the contact and touchpoint ids into one of
``SHARDS`` buckets, as a suffix: ``c_0192ab…7e.3f2``. A store can then keep a
whole thread together, and find it again from any of its ids alone: the
Redis store puts each shard in one Redis Cluster hash slot, so a commit and
the thread's rules run in one atomic script on one shard
(server/redis/store.py). The other stores ignore the suffix.

The bucket count is part of the stored layout: changing it moves threads.
"""

from __future__ import annotations

import hashlib

SHARDS = 1024
"""Buckets, each one Redis Cluster hash tag: enough to spread evenly over
dozens of primaries, few enough to sweep every one of them in one pipeline."""

_SEP = "."
_WIDTH = 3  # hex digits of a shard: 000 … 3ff
_HEX = set("0123456789abcdef")


def thread_shard(contact_id: str, touchpoint_id: str) -> str:
    """The shard of the thread between this contact and this touchpoint."""
    digest = hashlib.blake2b(f"{contact_id}\x00{touchpoint_id}".encode(), digest_size=4).digest()
    return f"{int.from_bytes(digest, 'big') % SHARDS:0{_WIDTH}x}"


def in_shard(base_id: str, shard: str) -> str:
    """``base_id`` marked as belonging to ``shard``."""
    return f"{base_id}{_SEP}{shard}"


def shard_of(some_id: str) -> str | None:
    """The shard an id was minted in, or None for an id that names none
    (made by hand, or before ids carried shards)."""
    base, sep, shard = some_id.rpartition(_SEP)
    if not sep or not base or len(shard) != _WIDTH or not set(shard) <= _HEX:
        return None
    return shard if int(shard, 16) < SHARDS else None


def all_shards() -> list[str]:
    return [f"{i:0{_WIDTH}x}" for i in range(SHARDS)]

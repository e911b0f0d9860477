"""The app's clock and id mint: the only place the use cases get the time
and fresh ids from (the core is given both)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from server.core import ids
from server.core.model import Contact, Touchpoint


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Entropy(threading.local):
    """``os.urandom`` (what ``secrets.token_hex`` reads) read 1,536 bytes at
    a time, each id taking the next 6: one system call per 256 ids, not one
    each. Each call also let go of the GIL, which the store's writer thread
    then held: a lock storm's loop, minting an entry id per lock, waited on
    it (~0.2 s at 20,000 locks, py-spy). One buffer per thread; a forked
    child starts a fresh one (it must not mint the ids its parent will)."""

    def __init__(self) -> None:
        self.hex = ""
        self.at = 0

    def next12(self) -> str:
        """12 fresh hex digits (48 random bits)."""
        at = self.at
        if at >= len(self.hex):
            self.hex, at = os.urandom(1536).hex(), 0
        self.at = at + 12
        return self.hex[at : at + 12]


_entropy = _Entropy()


def _fresh_entropy() -> None:
    global _entropy
    _entropy = _Entropy()


os.register_at_fork(after_in_child=_fresh_entropy)


def new_id(prefix: str) -> str:
    """Time-ordered, unique across nodes: 'c_018f3a…'."""
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{_entropy.next12()}"


class Mint:
    """Fresh ids, placed in the shard of the thread they belong to."""

    def __init__(self, new: Callable[[str], str] = new_id) -> None:
        self.new = new

    def in_thread(self, prefix: str, of: str) -> str:
        """A new id in the thread of the conversation (or message) id ``of``."""
        shard = ids.shard_of(of)
        return ids.in_shard(self.new(prefix), shard) if shard else self.new(prefix)

    def new_thread(self, prefix: str, contact: Contact, touchpoint: Touchpoint) -> str:
        return ids.in_shard(self.new(prefix), ids.thread_shard(contact.id, touchpoint.id))

    def new_in_thread(self, contact: Contact, touchpoint: Touchpoint, *prefixes: str) -> list[str]:
        """``new_thread`` for each prefix, the thread's shard hashed once."""
        shard = ids.thread_shard(contact.id, touchpoint.id)
        new = self.new
        return [ids.in_shard(new(prefix), shard) for prefix in prefixes]

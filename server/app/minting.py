"""The app's clock and id mint: the only place the use cases get the time
and fresh ids from (the core is given both)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from server.core import ids
from server.core.model import Contact, Touchpoint


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_id(prefix: str) -> str:
    """Time-ordered, unique across nodes: 'c_018f3a…'."""
    # os.urandom is what secrets.token_hex(6) reads, without its three Python frames.
    return f"{prefix}_{time.time_ns() // 1_000_000:012x}{os.urandom(6).hex()}"


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

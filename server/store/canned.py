"""The canned responses port: where lists of saved replies live.

A small port of its own beside ``Store`` (nothing of it touches a
conversation). Implementations: ``MemoryCanned`` (here), ``SqliteCanned``
(store/canned_sqlite.py, in the SQLite store's file), ``RedisCanned``
(redis/canned.py). All pass tests/store/test_canned_contract.py.

Guarantees, method by method:

- ``canned_lists`` returns the stored lists among the ids asked, in the order
  asked; a list never written is left out.
- ``put_canned_list`` is a compare-and-set on the list's version: it stores
  ``lst`` only if the stored version is ``lst.version - 1`` (no list counts
  as version 0), else raises ``VersionConflict`` and writes nothing. Two
  writers of one list can never both win. Durable when it returns, as the
  backend's ``Store`` is.
- Either raises ``StoreUnavailable`` when the backend cannot be reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from server.core.canned import CannedList
from server.store.base import VersionConflict


class CannedStore(Protocol):
    async def canned_lists(self, list_ids: Sequence[str]) -> list[CannedList]: ...

    async def put_canned_list(self, lst: CannedList) -> None: ...

    async def close(self) -> None: ...


class MemoryCanned:
    """In the process: tests and throwaway demos (as ``MemoryStore``)."""

    def __init__(self) -> None:
        self._lists: dict[str, CannedList] = {}

    async def canned_lists(self, list_ids: Sequence[str]) -> list[CannedList]:
        return [self._lists[i] for i in list_ids if i in self._lists]

    async def put_canned_list(self, lst: CannedList) -> None:
        stored = self._lists.get(lst.id)
        if (stored.version if stored else 0) != lst.version - 1:
            raise VersionConflict(lst.id)
        self._lists[lst.id] = lst

    async def close(self) -> None:
        return None

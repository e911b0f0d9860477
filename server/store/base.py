"""The store interface: where conversations, messages, notes and contacts live.

Implementations: ``MemoryStore`` (tests, throwaway demos), ``SqliteStore``
(the embedded default, durable), and a Redis store for clusters. All pass the
same contract suite (tests/store/test_contract.py).

Guarantees every implementation gives, method by method:

- ``commit`` is atomic: the conversation, its new message, its updated message
  and its note are stored together or not at all.
- ``commit`` is a compare-and-set on the conversation's ``version``: it raises
  ``VersionConflict`` when the stored version is not ``outcome.before.version``
  (or, when creating, when the contact's latest conversation on the touchpoint
  is not ``expected_latest``). Two writers can never both win.
- ``commit`` raises ``DuplicateMessage`` when a message's channel id is
  already stored (a retried webhook); nothing is written then.
- ``commit`` raises ``DuplicateRequest`` when the outcome carries a send's
  idempotency key (``outcome.request``) that the thread already holds,
  unexpired, for the same agent; nothing is written then. The key is written
  in the same step as the message, and forgotten ``ttl_ms`` after its ``at``.
- When ``commit`` returns, the change survives a process restart (SQLite:
  WAL, committed; Redis: as durable as its AOF setting).
- Reads return values as of some committed state; lists are ordered as
  documented on each method.
- ``agent_totals`` is kept by the commits that change it, never recomputed
  from the agent's conversations: it always equals ``len(assigned(a))`` and
  the sum of their ``unread`` (the contract suite recounts after random
  sequences of changes).
- ``waiting``, ``waiting_counts``, ``ringing`` and ``agent_loads`` are kept
  by the commits too: they always equal a recount of the open, unassigned
  conversations of the queue, and of the agents' open conversations
  (tests/store/test_line_contract.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from server.core.conversation import Outcome
from server.core.fanout import Totals
from server.core.model import Contact, Conversation, Message, Note


class StoreError(Exception):
    """Base of the store's own failures."""


class VersionConflict(StoreError):
    """Someone else changed the conversation first: re-read and decide again."""


class DuplicateMessage(StoreError):
    """A message with this channel id is already stored."""


class DuplicateRequest(StoreError):
    """A send with this idempotency key was already stored: ``message_id``."""

    def __init__(self, message_id: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id


class StoreUnavailable(StoreError):
    """The backing service cannot be reached; nothing was written."""


class Store(Protocol):
    async def start(self) -> None:
        """Begin background work, if the store has any (the Redis Cluster
        outbox sweeper); called once before the node serves."""

    async def close(self) -> None: ...

    # contacts ------------------------------------------------------------
    async def get_contact(self, contact_id: str) -> Contact | None: ...

    async def get_contacts(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        """The contacts stored under these ids (those found), in one read: a
        page of summaries needs all its contacts at once."""

    async def put_contact(self, contact: Contact) -> None:
        """Create or replace."""

    async def contact_writes(self) -> int:
        """A number that changes whenever a contact is written, by any node:
        read before reading contacts, the same number read later means none
        of them changed meanwhile (a lock storm's contacts, read a few
        seconds ahead, are not read again)."""

    async def list_contacts(self, limit: int = 1000) -> list[Contact]:
        """Ordered by id."""

    # conversations -----------------------------------------------------------
    async def get_conversation(self, conv_id: str) -> Conversation | None: ...

    async def get_conversations(self, conv_ids: Sequence[str]) -> dict[str, Conversation]:
        """``get_conversation`` for many in one read (a lock storm's batch):
        the ones found, by id."""

    async def latest_conversation(self, contact_id: str, touchpoint_id: str) -> Conversation | None:
        """The contact's newest conversation on the touchpoint, open or ended."""

    async def commit(self, outcome: Outcome, expected_latest: str | None = None) -> None: ...

    async def commit_many(self, outcomes: Sequence[Outcome]) -> list[StoreError | None]:
        """Commit each outcome of existing conversations as ``commit`` would,
        each its own compare-and-set, in as few trips as the backend allows
        (SQLite: one transaction; Redis: the scripts in flight together).
        Returns, per outcome, None (stored) or the ``VersionConflict`` /
        ``DuplicateMessage`` it met (nothing of that one written). Raises
        ``StoreUnavailable`` when the store cannot be asked (SQLite: nothing
        written; Redis: any of them may have been)."""

    async def inbox(self, queue_id: str) -> list[Conversation]:
        """Open, unassigned conversations of the queue, newest activity first."""

    async def inbox_page(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        """Up to ``limit`` open, unassigned conversations of the queue, oldest
        activity first: ordered by (activity, id), each after ``after`` (all
        when None). Activity is ``last_message_at or created_at``. Cost grows
        with ``limit``, not with the size of the inbox."""

    async def inbox_counts(self, queue_id: str) -> tuple[int, int | None]:
        """How many conversations the queue's inbox holds, and the oldest
        activity among them (None when empty); without reading them all."""

    async def waiting(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        """Up to ``limit`` of the queue's waiting line (``routing.is_waiting``:
        open, unassigned, no offer ringing), oldest arrival first: ordered by
        ``routing.arrival`` (``waiting_since or created_at``, id), each after
        ``after`` (all when None). An index kept by ``commit``: cost grows
        with ``limit``, not with the length of the line."""

    async def waiting_counts(self, queue_id: str) -> tuple[int, int | None]:
        """How many conversations wait in the queue's line, and the oldest
        arrival among them (None when none); without reading them."""

    async def ringing(self, queue_id: str) -> list[Conversation]:
        """The queue's open, unassigned conversations with an offer ringing
        (``routing.is_ringing``), oldest arrival first. Kept by ``commit``
        (bounded by the agents' capacity, not by the line)."""

    async def assigned(self, agent_id: str) -> list[Conversation]:
        """Open conversations assigned to the agent, newest activity first."""

    async def assigned_many(self, agent_ids: Sequence[str]) -> dict[str, list[Conversation]]:
        """``assigned`` for each of the agents (every one a key), in one read
        (routing's pass reads a whole queue's agents at once)."""

    async def agent_loads(self, agent_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """For each agent (every one a key): how many open conversations,
        per channel, count in their routing load (``routing.loaded``: the
        ones they hold and the ones ringing for them). Counters kept by
        ``commit`` (no read of the conversations), one read for all."""

    async def to_wrap_up(self, agent_id: str) -> list[Conversation]:
        """The agent's *To wrap up* list (``fanout.wrap_up_holder``): ended
        WhatsApp conversations of theirs not wrapped up yet, ended first
        first. Maintained by ``commit`` (no scan of ended conversations)."""

    async def agent_totals(self, agent_id: str) -> Totals:
        """The agent's Assigned counter and unread total: how many open
        conversations are assigned to them and the sum of their ``unread``.
        Maintained by ``commit`` (no read of the conversations)."""

    async def conversations_of_contact(self, contact_id: str) -> list[Conversation]:
        """All of the contact's conversations, newest first."""

    async def unlocked_open(self) -> list[Conversation]:
        """Open conversations whose session is not (yet) marked locked: the
        ones a session timer must watch."""

    # messages and notes ------------------------------------------------------
    async def messages(self, conv_id: str, before: int | None = None, limit: int = 50) -> list[Message]:
        """Up to ``limit`` messages with seq < ``before`` (all when None), the
        newest ones, returned in ascending seq order."""

    async def get_message(self, message_id: str) -> Message | None: ...

    async def message_by_channel_id(self, channel_message_id: str) -> Message | None: ...

    async def sent_request(self, contact_id: str, touchpoint_id: str, agent_id: str, key: str, now: int) -> str | None:
        """The id of the message a send with idempotency key ``key`` by the
        agent made in the thread (the contact on the touchpoint), unless the
        key has expired by ``now`` (ms)."""

    async def pending_outbound(self) -> list[Message]:
        """Outbound messages still ``pending`` (stored, not yet accepted by the
        channel), oldest first: what a sender must (re)send after a restart."""

    async def claim_send(self, message_id: str, owner: str, now: int, lease_ms: int) -> int | None:
        """Take, or renew, the right to send an outbound message to its channel
        until ``now + lease_ms``. Returns how many attempts were claimed before
        this one (0: the message never left), or None while another owner's
        lease runs. Atomic, and durable when it returns: after a crash the
        lease tells the next sender an attempt may have reached the channel."""

    async def notes(self, conv_id: str) -> list[Note]:
        """In the order they were written."""

    # token revocations -------------------------------------------------------
    async def revoke(self, key: str, value: int) -> None:
        """Record a revocation (``token:<jti>`` → the token's expiry, or
        ``agent:<id>`` → tokens issued at or before this second are void).
        Keeps the larger value when one is already recorded; durable."""

    async def revocations(self, keys: list[str]) -> dict[str, int]:
        """The recorded values of those of ``keys`` that are revoked."""

"""In-memory store: the contract without durability. For tests and
throwaway runs; a restart loses everything (use SqliteStore to keep data)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence

from server.core import fanout, routing
from server.core.conversation import Outcome
from server.core.fanout import Totals
from server.core.model import Contact, Conversation, Message, Note, SentRequest
from server.store.base import DuplicateMessage, DuplicateRequest, StoreError, VersionConflict


def _activity(c: Conversation) -> tuple[int, str]:
    return (c.last_message_at or c.created_at, c.id)


_NONE = Totals(0, 0)


def _request_key(conv: Conversation, request: SentRequest) -> tuple[str, str, str, str]:
    return (conv.contact_id, conv.touchpoint_id, request.agent_id, request.key)


class MemoryStore:
    def __init__(self) -> None:
        self._contacts: dict[str, Contact] = {}
        self._contact_writes = 0
        self._conversations: dict[str, Conversation] = {}
        self._latest: dict[tuple[str, str], str] = {}
        self._messages: dict[str, list[Message]] = defaultdict(list)
        self._by_id: dict[str, Message] = {}
        self._by_channel_id: dict[str, str] = {}
        self._notes: dict[str, list[Note]] = defaultdict(list)
        self._revoked: dict[str, int] = {}
        self._inbox: dict[str, set[str]] = defaultdict(set)
        self._assigned: dict[str, set[str]] = defaultdict(set)
        self._to_wrap_up: dict[str, set[str]] = defaultdict(set)
        self._inbox_order: dict[str, list[tuple[int, str]]] = defaultdict(list)
        """queue id → (activity, id) of its inbox, sorted: pages without sorting"""
        self._waiting: dict[str, list[tuple[int, str]]] = defaultdict(list)
        """queue id → ``routing.arrival`` of its waiting line, sorted"""
        self._ringing: dict[str, set[str]] = defaultdict(set)
        """queue id → its unassigned conversations with an offer ringing"""
        self._loads: dict[str, dict[str, int]] = {}
        """agent id → channel → open conversations counting in their load"""
        self._totals: dict[str, Totals] = {}
        """agent id → their counters, kept by ``_reindex``"""
        self._send_claims: dict[str, tuple[str, int, int]] = {}
        self._requests: dict[tuple[str, str, str, str], SentRequest] = {}
        """(contact, touchpoint, agent, key) → the send's idempotency record"""
        self._prune_requests_at = 1024
        """message id → (owner, lease end, attempts)"""

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def get_contacts(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        return {i: self._contacts[i] for i in contact_ids if i in self._contacts}

    async def get_contact(self, contact_id: str) -> Contact | None:
        return self._contacts.get(contact_id)

    async def put_contact(self, contact: Contact) -> None:
        self._contacts[contact.id] = contact
        self._contact_writes += 1

    async def contact_writes(self) -> int:
        return self._contact_writes

    async def list_contacts(self, limit: int = 1000) -> list[Contact]:
        return [self._contacts[k] for k in sorted(self._contacts)[:limit]]

    async def get_conversation(self, conv_id: str) -> Conversation | None:
        return self._conversations.get(conv_id)

    async def get_conversations(self, conv_ids: Sequence[str]) -> dict[str, Conversation]:
        return {i: c for i in conv_ids if (c := self._conversations.get(i)) is not None}

    async def latest_conversation(self, contact_id: str, touchpoint_id: str) -> Conversation | None:
        conv_id = self._latest.get((contact_id, touchpoint_id))
        return self._conversations.get(conv_id) if conv_id else None

    async def commit(self, outcome: Outcome, expected_latest: str | None = None) -> None:
        after = outcome.after
        # Check everything first: nothing is written unless all of it can be.
        if outcome.before is None:
            if after.id in self._conversations:
                raise VersionConflict(after.id)
            if self._latest.get((after.contact_id, after.touchpoint_id)) != expected_latest:
                raise VersionConflict(f"latest conversation of {after.contact_id} changed")
        else:
            current = self._conversations.get(after.id)
            if current is None or current.version != outcome.before.version:
                raise VersionConflict(after.id)
        for m in (outcome.message, outcome.updated_message):
            if m is not None and m.channel_message_id:
                owner = self._by_channel_id.get(m.channel_message_id)
                if owner is not None and owner != m.id:
                    raise DuplicateMessage(m.channel_message_id)
        if outcome.updated_message is not None and outcome.updated_message.id not in self._by_id:
            raise VersionConflict(f"message {outcome.updated_message.id} not found")
        request = outcome.request
        if request is not None:
            earlier = self._requests.get(_request_key(after, request))
            if earlier is not None and earlier.expires_at > request.at:
                raise DuplicateRequest(earlier.message_id)
            if len(self._requests) >= self._prune_requests_at:  # forget the expired ones now and then
                self._requests = {k: r for k, r in self._requests.items() if r.expires_at > request.at}
                self._prune_requests_at = max(1024, 2 * len(self._requests))
            self._requests[_request_key(after, request)] = request

        self._reindex(self._conversations.get(after.id), after)
        self._conversations[after.id] = after
        if outcome.before is None:
            self._latest[(after.contact_id, after.touchpoint_id)] = after.id
        for m in (outcome.entry, outcome.message):
            if m is not None:
                self._messages[after.id].append(m)
                self._index(m)
        if outcome.updated_message is not None:
            m = outcome.updated_message
            self._messages[m.conversation_id][m.seq - 1] = m  # seqs run 1, 2, 3… per thread
            self._index(m)
        if outcome.note is not None:
            self._notes[after.id].append(outcome.note)

    async def commit_many(self, outcomes: Sequence[Outcome]) -> list[StoreError | None]:
        results: list[StoreError | None] = []
        for outcome in outcomes:
            try:
                await self.commit(outcome)
            except (VersionConflict, DuplicateMessage) as e:
                results.append(e)
            else:
                results.append(None)
        return results

    def _index(self, m: Message) -> None:
        self._by_id[m.id] = m
        if m.channel_message_id:
            self._by_channel_id[m.channel_message_id] = m.id

    async def inbox(self, queue_id: str) -> list[Conversation]:
        rows = [self._conversations[cid] for cid in self._inbox.get(queue_id, ())]
        return sorted(rows, key=_activity, reverse=True)

    async def inbox_page(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        order = self._inbox_order.get(queue_id, [])
        start = bisect.bisect_right(order, after) if after is not None else 0
        return [self._conversations[cid] for _, cid in order[start : start + max(0, limit)]]

    async def inbox_counts(self, queue_id: str) -> tuple[int, int | None]:
        order = self._inbox_order.get(queue_id, [])
        return len(order), (order[0][0] if order else None)

    async def waiting(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        line = self._waiting.get(queue_id, [])
        start = bisect.bisect_right(line, after) if after is not None else 0
        return [self._conversations[cid] for _, cid in line[start : start + max(0, limit)]]

    async def waiting_counts(self, queue_id: str) -> tuple[int, int | None]:
        line = self._waiting.get(queue_id, [])
        return len(line), (line[0][0] if line else None)

    async def ringing(self, queue_id: str) -> list[Conversation]:
        rows = [self._conversations[cid] for cid in self._ringing.get(queue_id, ())]
        return sorted(rows, key=routing.arrival)

    async def assigned(self, agent_id: str) -> list[Conversation]:
        rows = [self._conversations[cid] for cid in self._assigned.get(agent_id, ())]
        return sorted(rows, key=_activity, reverse=True)

    async def assigned_many(self, agent_ids: Sequence[str]) -> dict[str, list[Conversation]]:
        return {a: await self.assigned(a) for a in agent_ids}

    async def agent_loads(self, agent_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        return {a: dict(self._loads.get(a, {})) for a in agent_ids}

    async def to_wrap_up(self, agent_id: str) -> list[Conversation]:
        rows = [self._conversations[cid] for cid in self._to_wrap_up.get(agent_id, ())]
        return sorted(rows, key=fanout.wrap_up_order)

    async def agent_totals(self, agent_id: str) -> Totals:
        return self._totals.get(agent_id, _NONE)

    def _reindex(self, before: Conversation | None, after: Conversation) -> None:
        """Keep the inbox and assigned indexes and the agents' counters (lists
        and counters must not scan every conversation)."""
        self._move_line(before, after)
        for conv, sign in ((before, -1), (after, 1)):
            for loader in routing.loaded(conv):
                assert conv is not None
                counts = self._loads.setdefault(loader, {})
                n = counts.get(conv.channel, 0) + sign
                if n:
                    counts[conv.channel] = n
                else:
                    counts.pop(conv.channel, None)
                    if not counts:
                        del self._loads[loader]
        owed_before, owed_after = fanout.wrap_up_holder(before), fanout.wrap_up_holder(after)
        if owed_before is not None:
            self._to_wrap_up[owed_before].discard(after.id)
        if owed_after is not None:
            self._to_wrap_up[owed_after].add(after.id)
        for conv, add in ((before, False), (after, True)):
            # Membership as the core defines it (core/fanout.py).
            if conv is None or not (fanout.in_inbox(conv) or fanout.holder(conv)):
                continue
            agent_id = fanout.holder(conv)
            index = self._inbox[conv.queue_id] if agent_id is None else self._assigned[agent_id]
            if add:
                index.add(conv.id)
            else:
                index.discard(conv.id)
            if agent_id is None:
                order = self._inbox_order[conv.queue_id]
                if add:
                    bisect.insort(order, _activity(conv))
                else:
                    at = bisect.bisect_left(order, _activity(conv))
                    if at < len(order) and order[at] == _activity(conv):
                        del order[at]
            else:
                sign = 1 if add else -1
                t = self._totals.get(agent_id, _NONE)
                t = Totals(t.count + sign, t.unread_total + sign * conv.unread)
                if t.count:
                    self._totals[agent_id] = t
                else:
                    self._totals.pop(agent_id, None)

    def _move_line(self, before: Conversation | None, after: Conversation) -> None:
        """The queues' lines: waiting by arrival, and ringing."""
        for conv, add in ((before, False), (after, True)):
            place = routing.line_of(conv)
            if conv is None or place is None:
                continue
            queue_id, ringing = place
            if ringing:
                if add:
                    self._ringing[queue_id].add(conv.id)
                else:
                    self._ringing[queue_id].discard(conv.id)
                continue
            line, key = self._waiting[queue_id], routing.arrival(conv)
            if add:
                bisect.insort(line, key)
            else:
                at = bisect.bisect_left(line, key)
                if at < len(line) and line[at] == key:
                    del line[at]

    async def conversations_of_contact(self, contact_id: str) -> list[Conversation]:
        rows = [c for c in self._conversations.values() if c.contact_id == contact_id]
        return sorted(rows, key=lambda c: (c.created_at, c.id), reverse=True)

    async def unlocked_open(self) -> list[Conversation]:
        return [c for c in self._conversations.values() if c.is_open and not c.session_locked]

    async def messages(self, conv_id: str, before: int | None = None, limit: int = 50) -> list[Message]:
        thread = self._messages.get(conv_id, [])
        if before is not None:
            thread = [m for m in thread if m.seq < before]
        return list(thread[-limit:]) if limit > 0 else []

    async def get_message(self, message_id: str) -> Message | None:
        return self._by_id.get(message_id)

    async def sent_request(self, contact_id: str, touchpoint_id: str, agent_id: str, key: str, now: int) -> str | None:
        request = self._requests.get((contact_id, touchpoint_id, agent_id, key))
        return request.message_id if request is not None and request.expires_at > now else None

    async def message_by_channel_id(self, channel_message_id: str) -> Message | None:
        message_id = self._by_channel_id.get(channel_message_id)
        return self._by_id.get(message_id) if message_id else None

    async def pending_outbound(self) -> list[Message]:
        return [m for m in self._by_id.values() if m.status == "pending"]

    async def claim_send(self, message_id: str, owner: str, now: int, lease_ms: int) -> int | None:
        holder, until, attempts = self._send_claims.get(message_id, (owner, 0, 0))
        if holder != owner and until > now:
            return None
        self._send_claims[message_id] = (owner, now + lease_ms, attempts + 1)
        return attempts

    async def notes(self, conv_id: str) -> list[Note]:
        return list(self._notes.get(conv_id, []))

    async def revoke(self, key: str, value: int) -> None:
        self._revoked[key] = max(value, self._revoked.get(key, value))

    async def revocations(self, keys: list[str]) -> dict[str, int]:
        return {k: self._revoked[k] for k in keys if k in self._revoked}

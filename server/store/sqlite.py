"""SQLite store: the embedded default. One file, WAL journal, nothing to install.

Each value is kept as a msgspec-encoded blob beside the few columns that are
indexed or checked (version, queue, assignee, status), so the layout mirrors
the Redis store and a new field never needs a migration.

Calls run synchronously on the event loop: each is a short indexed query or a
single small transaction (tens of microseconds), and running them inline
means a read-then-commit in the service sees no interleaving on one node.
``synchronous=NORMAL`` in WAL mode keeps every committed transaction across a
process crash; an OS crash or power loss may lose the last few (set
``durability = "full"`` to fsync every commit).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from server.core.conversation import Outcome
from server.core.model import Contact, Conversation, Message, Note
from server.store.base import DuplicateMessage, VersionConflict

SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    id TEXT PRIMARY KEY,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    contact_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    assignee_id TEXT,
    status TEXT NOT NULL,
    session_locked INTEGER NOT NULL,
    activity INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_inbox ON conversations (queue_id, activity)
    WHERE status = 'open' AND assignee_id IS NULL;
CREATE INDEX IF NOT EXISTS conversations_assigned ON conversations (assignee_id, activity)
    WHERE status = 'open';
CREATE INDEX IF NOT EXISTS conversations_contact ON conversations (contact_id, created_at);
CREATE INDEX IF NOT EXISTS conversations_watch ON conversations (status, session_locked);
CREATE TABLE IF NOT EXISTS latest (
    contact_id TEXT NOT NULL,
    touchpoint_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    PRIMARY KEY (contact_id, touchpoint_id)
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    channel_message_id TEXT UNIQUE,
    status TEXT NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (conversation_id, seq)
);
CREATE INDEX IF NOT EXISTS messages_pending ON messages (status) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS notes (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_conversation ON notes (conversation_id, at);
CREATE TABLE IF NOT EXISTS send_claims (
    message_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until INTEGER NOT NULL,
    attempts INTEGER NOT NULL
);
"""

_encode = msgspec.msgpack.Encoder().encode
_contact = msgspec.msgpack.Decoder(Contact).decode
_conversation = msgspec.msgpack.Decoder(Conversation).decode
_message = msgspec.msgpack.Decoder(Message).decode
_note = msgspec.msgpack.Decoder(Note).decode


class SqliteStore:
    def __init__(self, path: str | Path, *, durability: str = "normal") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE).
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._db.close()

    def _one(self, sql: str, *args: object) -> bytes | None:
        row = self._db.execute(sql, args).fetchone()
        return row[0] if row else None

    def _all(self, sql: str, *args: object) -> list[bytes]:
        return [row[0] for row in self._db.execute(sql, args)]

    # contacts ------------------------------------------------------------
    async def get_contact(self, contact_id: str) -> Contact | None:
        body = self._one("SELECT body FROM contacts WHERE id = ?", contact_id)
        return _contact(body) if body else None

    async def put_contact(self, contact: Contact) -> None:
        self._db.execute(
            "INSERT INTO contacts (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
            (contact.id, _encode(contact)),
        )

    async def list_contacts(self, limit: int = 1000) -> list[Contact]:
        return [_contact(b) for b in self._all("SELECT body FROM contacts ORDER BY id LIMIT ?", limit)]

    # conversations -------------------------------------------------------------
    async def get_conversation(self, conv_id: str) -> Conversation | None:
        body = self._one("SELECT body FROM conversations WHERE id = ?", conv_id)
        return _conversation(body) if body else None

    async def latest_conversation(self, contact_id: str, touchpoint_id: str) -> Conversation | None:
        body = self._one(
            "SELECT c.body FROM latest l JOIN conversations c ON c.id = l.conversation_id"
            " WHERE l.contact_id = ? AND l.touchpoint_id = ?",
            contact_id,
            touchpoint_id,
        )
        return _conversation(body) if body else None

    async def commit(self, outcome: Outcome, expected_latest: str | None = None) -> None:
        db = self._db
        after = outcome.after
        db.execute("BEGIN IMMEDIATE")
        try:
            if outcome.before is None:
                row = db.execute(
                    "SELECT conversation_id FROM latest WHERE contact_id = ? AND touchpoint_id = ?",
                    (after.contact_id, after.touchpoint_id),
                ).fetchone()
                if (row[0] if row else None) != expected_latest:
                    raise VersionConflict(f"latest conversation of {after.contact_id} changed")
                try:
                    db.execute(
                        "INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._conversation_row(after)
                    )
                except sqlite3.IntegrityError as e:
                    raise VersionConflict(after.id) from e
                db.execute(
                    "INSERT INTO latest VALUES (?, ?, ?) ON CONFLICT (contact_id, touchpoint_id)"
                    " DO UPDATE SET conversation_id = excluded.conversation_id",
                    (after.contact_id, after.touchpoint_id, after.id),
                )
            else:
                (conv_id, version, *rest) = self._conversation_row(after)
                updated = db.execute(
                    "UPDATE conversations SET version = ?, contact_id = ?, queue_id = ?, assignee_id = ?, status = ?,"
                    " session_locked = ?, activity = ?, created_at = ?, body = ? WHERE id = ? AND version = ?",
                    (version, *rest, conv_id, outcome.before.version),
                ).rowcount
                if updated != 1:
                    raise VersionConflict(after.id)
            if outcome.message is not None:
                m = outcome.message
                try:
                    db.execute(
                        "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                        (m.id, m.conversation_id, m.seq, m.channel_message_id, m.status, _encode(m)),
                    )
                except sqlite3.IntegrityError as e:
                    if m.channel_message_id and "channel_message_id" in str(e):
                        raise DuplicateMessage(m.channel_message_id) from e
                    raise VersionConflict(f"message {m.id}") from e
            if outcome.updated_message is not None:
                m = outcome.updated_message
                try:
                    updated = db.execute(
                        "UPDATE messages SET channel_message_id = ?, status = ?, body = ? WHERE id = ?",
                        (m.channel_message_id, m.status, _encode(m), m.id),
                    ).rowcount
                except sqlite3.IntegrityError as e:
                    raise DuplicateMessage(m.channel_message_id or m.id) from e
                if updated != 1:
                    raise VersionConflict(f"message {m.id} not found")
            if outcome.note is not None:
                n = outcome.note
                db.execute("INSERT INTO notes VALUES (?, ?, ?, ?)", (n.id, n.conversation_id, n.at, _encode(n)))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @staticmethod
    def _conversation_row(c: Conversation) -> tuple[object, ...]:
        return (
            c.id,
            c.version,
            c.contact_id,
            c.queue_id,
            c.assignee_id,
            c.status,
            int(c.session_locked),
            c.last_message_at or c.created_at,
            c.created_at,
            _encode(c),
        )

    async def inbox(self, queue_id: str) -> list[Conversation]:
        rows = self._all(
            "SELECT body FROM conversations WHERE status = 'open' AND assignee_id IS NULL AND queue_id = ?"
            " ORDER BY activity DESC, id DESC",
            queue_id,
        )
        return [_conversation(b) for b in rows]

    async def assigned(self, agent_id: str) -> list[Conversation]:
        rows = self._all(
            "SELECT body FROM conversations WHERE status = 'open' AND assignee_id = ? ORDER BY activity DESC, id DESC",
            agent_id,
        )
        return [_conversation(b) for b in rows]

    async def conversations_of_contact(self, contact_id: str) -> list[Conversation]:
        rows = self._all(
            "SELECT body FROM conversations WHERE contact_id = ? ORDER BY created_at DESC, id DESC", contact_id
        )
        return [_conversation(b) for b in rows]

    async def unlocked_open(self) -> list[Conversation]:
        rows = self._all("SELECT body FROM conversations WHERE status = 'open' AND session_locked = 0")
        return [_conversation(b) for b in rows]

    # messages and notes ----------------------------------------------------------
    async def messages(self, conv_id: str, before: int | None = None, limit: int = 50) -> list[Message]:
        rows = self._all(
            "SELECT body FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            conv_id,
            before if before is not None else 2**62,
            max(limit, 0),
        )
        return [_message(b) for b in reversed(rows)]

    async def get_message(self, message_id: str) -> Message | None:
        body = self._one("SELECT body FROM messages WHERE id = ?", message_id)
        return _message(body) if body else None

    async def message_by_channel_id(self, channel_message_id: str) -> Message | None:
        body = self._one("SELECT body FROM messages WHERE channel_message_id = ?", channel_message_id)
        return _message(body) if body else None

    async def pending_outbound(self) -> list[Message]:
        rows = self._all("SELECT body FROM messages WHERE status = 'pending' ORDER BY rowid")
        return [_message(b) for b in rows]

    async def claim_send(self, message_id: str, owner: str, now: int, lease_ms: int) -> int | None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT owner, until, attempts FROM send_claims WHERE message_id = ?", (message_id,)).fetchone()
            holder, until, attempts = row if row else (owner, 0, 0)
            if holder != owner and until > now:
                db.execute("ROLLBACK")
                return None
            db.execute(
                "INSERT INTO send_claims VALUES (?, ?, ?, ?) ON CONFLICT (message_id)"
                " DO UPDATE SET owner = excluded.owner, until = excluded.until, attempts = excluded.attempts",
                (message_id, owner, now + lease_ms, attempts + 1),
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return int(attempts)

    async def notes(self, conv_id: str) -> list[Note]:
        # Written order is insertion order (rowid): notes of one millisecond,
        # or from nodes whose clocks differ, must not be re-sorted by id or time.
        return [_note(b) for b in self._all("SELECT body FROM notes WHERE conversation_id = ? ORDER BY rowid", conv_id)]

    async def revoke(self, key: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO revocations VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            (key, value),
        )

    async def revocations(self, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self._db.execute(f"SELECT key, value FROM revocations WHERE key IN ({marks})", keys)
        return {k: v for k, v in rows}

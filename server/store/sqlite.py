"""SQLite store: the embedded default. One file, WAL journal, nothing to install.

Each value is kept as a msgspec-encoded blob beside the few columns that are
indexed or checked (version, queue, assignee, status), so the layout mirrors
the Redis store and a new field never needs a migration.

No call runs on the event loop: another process may hold the file's write
lock (a backup, an ``sqlite3`` shell, a stuck writer), and SQLite then waits
in its busy handler; a commit also waits for the disk. Writes run, one at a
time, on one writer thread with its own connection. Reads stay on the loop
(a thread hop costs ~15x a read: 8 µs → 130 µs) on a second connection that
never waits inside SQLite: in WAL mode a reader is not blocked by a writer,
and a rare SQLITE_BUSY is retried after an ``asyncio.sleep``. Every call has a deadline
(``timeout``, counted from when it was made, queueing included): past it the
call raises ``StoreUnavailable`` and nothing was written (webhooks answer
503, commands ``unavailable``). ``healthy()`` turns False while a call has
been running longer than ``stall_seconds`` or after ``UNHEALTHY_AFTER``
failures with no successful write in between (a read that works says nothing of writes), and True again once a write does (``/readyz``).
A read-then-commit in the service may interleave with another on the same
node; ``commit``'s compare-and-set decides, as with Redis.
WAL checkpoints (the WAL copied back into the file, then fsynced) run on the
writer thread, never in a commit on the loop (``CHECKPOINT_EVERY``).
``synchronous=NORMAL`` in WAL mode keeps every committed transaction across a
process crash; an OS crash or power loss may lose the last few (set
``durability = "full"`` to fsync every commit).
"""

from __future__ import annotations

import asyncio
import logging
import operator
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar, cast

import msgspec

from server.core import fanout, routing
from server.core.conversation import Outcome
from server.core.fanout import Totals
from server.core.model import Contact, Conversation, Message, Note, SentRequest
from server.store.base import DuplicateMessage, DuplicateRequest, StoreError, StoreUnavailable, VersionConflict

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
CREATE TABLE IF NOT EXISTS agent_totals (
    agent_id TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    unread INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inbox_counts (
    queue_id TEXT PRIMARY KEY,
    count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS to_wrap_up (
    agent_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    PRIMARY KEY (agent_id, conversation_id)
);
CREATE TABLE IF NOT EXISTS line (
    conversation_id TEXT PRIMARY KEY,
    queue_id TEXT NOT NULL,
    ringing INTEGER NOT NULL,
    arrival INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS line_order ON line (queue_id, ringing, arrival, conversation_id);
CREATE TABLE IF NOT EXISTS agent_load (
    agent_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (agent_id, channel)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sent_requests (
    contact_id TEXT NOT NULL,
    touchpoint_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (contact_id, touchpoint_id, agent_id, key)
);
CREATE INDEX IF NOT EXISTS sent_requests_expiry ON sent_requests (expires_at);
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


T = TypeVar("T")

log = logging.getLogger(__name__)

_BUSY = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)

UNHEALTHY_AFTER = 3
"""Failed calls in a row (timeouts, I/O errors) after which the store reports
itself unhealthy until one succeeds."""

CHECKPOINT_EVERY = 50
"""Writes on the event loop between two WAL checkpoints, each run on the
writer thread. A new conversation writes ~20 pages, a later message fewer:
about SQLite's own autocheckpoint (1,000 pages), which the loop's connection
no longer runs."""

WAL_LIMIT_FRAMES = 2048
"""WAL frames (pages, 4 KiB each: 8 MiB) past which the WAL is restarted. A
passive checkpoint beside the loop's commits copies the WAL into the file but
cannot restart it: the WAL starts over only at a write made once all of it is
copied, and a node writing without a pause always has a commit made during
the checkpoint. The WAL then grows for as long as the writes go on (0.7 GB
after 3 s of back-to-back commits: each one ~11 pages), and every read
searches a larger WAL index. So when a passive checkpoint finds the WAL past
this, the loop's writes go to the writer thread for a moment (they queue
there, as they do when the file is locked) and it runs a RESTART checkpoint
first: the passive one copied nearly all, so it copies the few pages written
since, and the next write starts the WAL over and cuts the file back to this
size (``journal_size_limit``). Measured by ``python -m bench.sqlite_wal``."""


class _Worker:
    """One connection, used by one thread only."""

    def __init__(self, db: sqlite3.Connection, name: str) -> None:
        self.db = db
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.busy_since: float | None = None
        """When the call now running on this thread started (monotonic)."""
        self.busy_ms = -1
        """The busy timeout last set on the connection."""


_INDEXED = ("contact_id", "queue_id", "assignee_id", "status", "session_locked", "activity", "created_at")
"""The conversation's columns besides id, version and body (what the indexes read)."""

_UPDATES: dict[tuple[int, ...], str] = {}
"""The UPDATE statement for each set of changed columns (indexes into ``_INDEXED``)."""

_UPDATED: dict[str, tuple[str, ...]] = {}
"""Each of ``_UPDATES``' statements: the columns it sets, in its parameters' order
(then the id and the version expected), for ``_rows_at_once``."""


def _rows_at_once(sql: str, n: int) -> str | None:
    """``sql`` (one row's write) as one statement for ``n`` rows, their
    parameters one row after the other, or None when it has no such form.
    A plain ``INSERT INTO t VALUES (?, …)`` takes them all in one VALUES; an
    UPDATE of ``_UPDATES`` joins a VALUES of them on id and version. The
    same rows written, the same refused (a constraint fails the statement, an
    UPDATE's version check leaves its row out of the changes counted), in one
    step of SQLite instead of one per row: the writer thread does not wait to
    take the GIL back between rows while the loop runs Python (a lock storm's
    chunk of 2,000 took ~2x as long as alone beside the loop's publishing)."""
    columns = _UPDATED.get(sql)
    if columns is not None:  # a VALUES' columns are column1, column2…: the set ones, then the id, the version expected
        k = len(columns)
        row = "(" + ", ".join(["?"] * (k + 2)) + ")"
        sets = ", ".join(f"{c} = v.column{i}" for i, c in enumerate(columns, 1))
        return (
            f"UPDATE conversations SET {sets} FROM (VALUES {', '.join([row] * n)}) AS v"
            f" WHERE conversations.id = v.column{k + 1} AND conversations.version = v.column{k + 2}"
        )
    if sql.startswith("INSERT INTO ") and sql.endswith("?)") and " VALUES (" in sql and "ON CONFLICT" not in sql:
        head, _, row = sql.partition(" VALUES ")
        if row.startswith("(") and row.count("(") == 1:
            return f"{head} VALUES {', '.join([row] * n)}"
    return None


def _indexed(c: Conversation) -> tuple[object, ...]:
    """The values of ``_INDEXED`` for ``c``, as ``SqliteStore._conversation_row`` writes them."""
    return (
        c.contact_id,
        c.queue_id,
        c.assignee_id,
        c.status,
        int(c.session_locked),
        c.last_message_at or c.created_at,
        c.created_at,
    )


_COUNTED = operator.attrgetter(
    "status", "channel", "wrap_up", "assignee_id", "offer", "unread", "queue_id", "waiting_since", "created_at"
)
"""Every field of a conversation ``SqliteStore._move_counters`` reads: when
they are equal before and after a change (a lock, a note, a delivery
report), the counters do not move."""


class _NotGrouped(Exception):
    """A commit that reads back (``_store_request``'s SELECT): not for ``_commit_grouped``."""


class _Wrote:
    rowcount = 1


class _Writes:
    """Stands in for the connection while ``_store`` runs for a grouped
    commit: keeps each write statement's parameters, by statement, in the
    order first seen; a statement that reads raises ``_NotGrouped``."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Sequence[object]]] = {}

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> _Wrote:
        if not sql.startswith(("UPDATE", "INSERT", "DELETE")):
            raise _NotGrouped(sql)
        rows = self.rows.get(sql)
        if rows is None:
            self.rows[sql] = [parameters]
        else:
            rows.append(parameters)
        return _Wrote()


class SqliteStore:
    def __init__(
        self,
        path: str | Path,
        *,
        durability: str = "normal",
        timeout: float = 5.0,
        stall_seconds: float = 2.0,
    ) -> None:
        memory = str(path) == ":memory:"
        if not memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.stall_seconds = stall_seconds
        writer = self._connect(path, durability)
        had_totals = writer.execute("SELECT 1 FROM sqlite_master WHERE name = 'agent_totals'").fetchone()
        had_wrap_ups = writer.execute("SELECT 1 FROM sqlite_master WHERE name = 'to_wrap_up'").fetchone()
        had_line = writer.execute("SELECT 1 FROM sqlite_master WHERE name = 'line'").fetchone()
        had_loads = writer.execute("SELECT 1 FROM sqlite_master WHERE name = 'agent_load'").fetchone()
        had_inbox_counts = writer.execute("SELECT 1 FROM sqlite_master WHERE name = 'inbox_counts'").fetchone()
        writer.executescript(SCHEMA)
        if not had_totals:
            self._count_totals(writer)
        if not had_line:
            self._fill_line(writer)
        if not had_loads:
            self._count_loads(writer)
        if not had_wrap_ups:
            self._list_wrap_ups(writer)
        if not had_inbox_counts:
            self._count_inboxes(writer)
        self._writer = _Worker(writer, "sqlite-writer")
        # Writes first try on the event loop, on a connection that never waits
        # in SQLite (timeout 0): uncontended, a WAL commit is a few tens of
        # µs, less than the hop to a thread and back. Only when the file's
        # lock is taken (SQLITE_BUSY at once) does the write go to the writer
        # thread, which waits within the call's deadline. Not with
        # durability "full" (an fsync per commit belongs off the loop), nor
        # ":memory:" (one database per connection: the writer's).
        self._fast: sqlite3.Connection | None = (
            None if memory or durability == "full" else self._connect(path, durability, timeout=0.0)
        )
        if self._fast is not None:
            # A checkpoint copies the WAL's pages back into the file and
            # fsyncs both: ~60 page writes and two fdatasync every ~50 new
            # conversations, 4-11 ms of the loop each (1.4-2.1 ms of CPU) in
            # the compare bench's stage trace. SQLite runs it in
            # the commit that crosses 1,000 pages, whichever connection made
            # it: the loop's never does; every CHECKPOINT_EVERY loop writes,
            # the writer thread does (``_checkpoint``).
            self._fast.execute("PRAGMA wal_autocheckpoint=0")
        self._unchecked = 0
        """Writes made on the loop since the last checkpoint was handed over."""
        self._contact_writes = 0
        """Contacts written by this process (``contact_writes``)."""
        self.checkpointing: asyncio.Future[tuple[int, int, int] | None] | None = None
        """The checkpoint handed to the writer thread, until it ends: its
        (busy, WAL frames, frames checkpointed), None if it failed."""
        # Reads run on the event loop too, on a connection that never waits in
        # SQLite's busy handler (timeout 0): in WAL mode a reader is not blocked
        # by a writer, and the rare SQLITE_BUSY (another process recovering the
        # WAL) is retried with asyncio.sleep until the deadline. It is the
        # loop's write connection when there is one: every call on it is a
        # whole transaction on the loop, so no read ever sees one half done,
        # and its page cache holds what it just wrote (a connection of its own
        # would read back from the file every page another connection changed:
        # ~27 pread64 per inbound message in the steady mix).
        # ":memory:" is one database per connection: reads go to the writer thread.
        self._reader: sqlite3.Connection | None = None if memory else self._fast or self._connect(path, durability, timeout=0.0)
        self._queued = 0
        """Writes handed to the writer thread and not yet done, and a WAL
        restart there (``_restart``): while there are any, new writes queue
        behind them rather than race them on the loop."""
        self._failures = 0
        self._closing = False
        self._lock = threading.Lock()
        self._probing = False

    @staticmethod
    def _count_totals(db: sqlite3.Connection) -> None:
        """Fill ``agent_totals`` from the conversations, once: a file written
        before the counters existed (commits keep them from then on)."""
        totals: dict[str, list[int]] = {}
        for (body,) in db.execute("SELECT body FROM conversations WHERE status = 'open' AND assignee_id IS NOT NULL"):
            conv = _conversation(body)
            agent = fanout.holder(conv)
            if agent is not None:
                t = totals.setdefault(agent, [0, 0])
                t[0] += 1
                t[1] += conv.unread
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR REPLACE INTO agent_totals VALUES (?, ?, ?)", [(a, c, u) for a, (c, u) in totals.items()])
        db.execute("COMMIT")

    @staticmethod
    def _fill_line(db: sqlite3.Connection) -> None:
        """Fill ``line`` from the open unassigned conversations, once: a file
        written before the index existed (commits keep it from then on)."""
        rows = []
        for (body,) in db.execute("SELECT body FROM conversations WHERE status = 'open' AND assignee_id IS NULL"):
            conv = _conversation(body)
            place = routing.line_of(conv)
            if place is not None:
                rows.append((conv.id, place[0], int(place[1]), routing.arrival(conv)[0]))
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR REPLACE INTO line VALUES (?, ?, ?, ?)", rows)
        db.execute("COMMIT")

    @staticmethod
    def _count_loads(db: sqlite3.Connection) -> None:
        """Fill ``agent_load`` from the open conversations, once: a file
        written before the counters existed (commits keep them from then on)."""
        counts: dict[tuple[str, str], int] = {}
        for (body,) in db.execute("SELECT body FROM conversations WHERE status = 'open'"):
            conv = _conversation(body)
            for agent in routing.loaded(conv):
                counts[(agent, conv.channel)] = counts.get((agent, conv.channel), 0) + 1
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR REPLACE INTO agent_load VALUES (?, ?, ?)", [(a, ch, n) for (a, ch), n in counts.items()])
        db.execute("COMMIT")

    @staticmethod
    def _count_inboxes(db: sqlite3.Connection) -> None:
        """Fill ``inbox_counts`` from the conversations, once: a file written
        before the counters existed (commits keep them from then on)."""
        db.execute("BEGIN IMMEDIATE")
        db.execute(
            "INSERT OR REPLACE INTO inbox_counts SELECT queue_id, COUNT(*) FROM conversations"
            " WHERE status = 'open' AND assignee_id IS NULL GROUP BY queue_id"
        )
        db.execute("COMMIT")

    @staticmethod
    def _list_wrap_ups(db: sqlite3.Connection) -> None:
        """Fill ``to_wrap_up`` from the ended conversations, once: a file
        written before the list existed (commits keep it from then on)."""
        rows = []
        for (body,) in db.execute("SELECT body FROM conversations WHERE status = 'ended' AND assignee_id IS NOT NULL"):
            conv = _conversation(body)
            agent = fanout.wrap_up_holder(conv)
            if agent is not None:
                rows.append((agent, conv.id))
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR IGNORE INTO to_wrap_up VALUES (?, ?)", rows)
        db.execute("COMMIT")

    @staticmethod
    def _connect(path: str | Path, durability: str, timeout: float = 5.0) -> sqlite3.Connection:
        # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE).
        db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_FRAMES * 4096}")
        return db

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._closing = True  # no restart handed over after this
        if self._reader is not None and self._reader is not self._fast:
            self._reader.close()
        if self._fast is not None:
            self._fast.close()
        worker = self._writer
        await asyncio.get_running_loop().run_in_executor(worker.pool, worker.db.close)
        worker.pool.shutdown(wait=True)

    # ------------------------------------------------------------------ threads

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._fast
        if db is not None and not self._queued:
            try:
                result = fn(db)
            except sqlite3.OperationalError as e:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if e.sqlite_errorcode not in _BUSY:
                    self._failed()
                    raise StoreUnavailable(f"SQLite: {e}") from e
                # The file's lock is taken: wait for it on the writer thread.
            else:
                with self._lock:
                    self._failures = 0
                self._unchecked += 1
                if self._unchecked >= CHECKPOINT_EVERY and self.checkpointing is None:
                    self._checkpoint()
                return result
        self._queued += 1
        try:
            return await self._call(self._writer, fn)
        finally:
            self._queued -= 1

    def _checkpoint(self) -> None:
        """Hand a passive checkpoint to the writer thread, without waiting for
        it: it copies what it can of the WAL into the file while the loop goes
        on committing (a passive checkpoint takes no writer's lock and waits
        for no one; the loop's next write restarts the WAL if all of it was
        copied and nothing written since). Not counted in ``_queued``: loop
        writes do not queue behind it. Past ``WAL_LIMIT_FRAMES``, a restart
        follows (``_checkpointed``)."""
        self._unchecked = 0
        job = asyncio.get_running_loop().run_in_executor(self._writer.pool, self._run_checkpoint, self._writer.db, "PASSIVE")
        self.checkpointing = job
        job.add_done_callback(self._checkpointed)

    def _checkpointed(self, job: asyncio.Future[tuple[int, int, int] | None]) -> None:
        if self.checkpointing is job:
            self.checkpointing = None
        result = None if job.cancelled() else job.result()
        if result is not None and result[1] >= WAL_LIMIT_FRAMES and not self._closing:
            self._restart()

    def _restart(self) -> None:
        """A RESTART checkpoint on the writer thread, with the loop's writes
        queued behind it (``_queued``): it takes the file's write lock at once
        (no loop commit to wait for), copies what the passive checkpoint
        before it left, and makes the next write start the WAL over."""
        self._queued += 1
        job = asyncio.get_running_loop().run_in_executor(self._writer.pool, self._run_checkpoint, self._writer.db, "RESTART")
        self.checkpointing = job

        def restarted(_: object) -> None:
            self._queued -= 1
            if self.checkpointing is job:
                self.checkpointing = None

        job.add_done_callback(restarted)

    @staticmethod
    def _run_checkpoint(db: sqlite3.Connection, mode: str) -> tuple[int, int, int] | None:
        """(busy, WAL frames, frames checkpointed), None if it failed."""
        try:
            row = db.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as e:  # the next one tries again; SQLite's own limit is the WAL growing
            log.warning("WAL checkpoint failed: %s", e)
            return None
        return (int(row[0]), int(row[1]), int(row[2]))

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._reader
        if db is None:
            return await self._call(self._writer, fn)
        deadline = 0.0  # read the clock only once a try was refused
        pause = 0.001
        while True:
            try:
                result = fn(db)
            except sqlite3.OperationalError as e:
                deadline = deadline or time.monotonic() + self.timeout
                if e.sqlite_errorcode in _BUSY and time.monotonic() + pause < deadline:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 0.05)
                    continue
                self._failed()
                raise StoreUnavailable(f"SQLite: {e}") from e
            # A read that worked says nothing of writes (WAL readers never wait
            # for the writer's lock): only a write ends a streak of failures.
            return result

    def _refused(self, e: sqlite3.OperationalError) -> None:
        """A read's first try failed: busy is for ``_read`` to wait out; anything else is raised as ``_read`` raises it."""
        if e.sqlite_errorcode not in _BUSY:
            self._failed()
            raise StoreUnavailable(f"SQLite: {e}") from e

    async def _call(self, worker: _Worker, fn: Callable[[sqlite3.Connection], T]) -> T:
        deadline = time.monotonic() + self.timeout
        return await asyncio.get_running_loop().run_in_executor(worker.pool, self._run, worker, deadline, fn)

    def _run(self, worker: _Worker, deadline: float, fn: Callable[[sqlite3.Connection], T]) -> T:
        """On the worker's thread: the call, within what is left of its deadline."""
        now = time.monotonic()
        left_ms = int((deadline - now) * 1000)
        if left_ms <= 0:
            self._failed()
            raise StoreUnavailable("SQLite: the store did not answer in time (the file's lock is held)")
        db = worker.db
        worker.busy_since = now
        try:
            if abs(worker.busy_ms - left_ms) > 50:  # SQLite's own wait for the file's lock
                db.execute(f"PRAGMA busy_timeout = {left_ms}")
                worker.busy_ms = left_ms
            result = fn(db)
        except sqlite3.OperationalError as e:  # locked past the deadline, disk I/O, disk full
            if db.in_transaction:
                db.execute("ROLLBACK")
            self._failed()
            raise StoreUnavailable(f"SQLite: {e}") from e
        finally:
            worker.busy_since = None
        with self._lock:
            self._failures = 0
        return result

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1

    def healthy(self) -> bool:
        """False while a call has been waiting on the file longer than
        ``stall_seconds``, or after ``UNHEALTHY_AFTER`` failures in a row
        (then a probe is started, so the store recovers even when idle)."""
        now = time.monotonic()
        since = self._writer.busy_since
        if since is not None and now - since > self.stall_seconds:
            return False
        if self._failures >= UNHEALTHY_AFTER:
            if not self._probing:
                self._probing = True
                asyncio.get_running_loop().create_task(self._probe())
            return False
        return True

    async def _probe(self) -> None:
        """Take and release the write lock: success means writes work again."""

        def probe(db: sqlite3.Connection) -> None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")

        try:
            await self._write(probe)
        except StoreUnavailable:
            pass
        finally:
            self._probing = False

    @staticmethod
    def _one(db: sqlite3.Connection, sql: str, *args: object) -> bytes | None:
        row = db.execute(sql, args).fetchone()
        return row[0] if row else None

    @staticmethod
    def _all(db: sqlite3.Connection, sql: str, *args: object) -> list[bytes]:
        return [row[0] for row in db.execute(sql, args)]

    async def _get_one(self, sql: str, *args: object) -> bytes | None:
        db = self._reader
        if db is not None:
            # Most reads of the steady mix come here (a contact, a conversation,
            # a message by id): the try that works is done in C calls, without
            # ``_read``'s coroutine and a closure around ``_one`` (3 Python calls
            # per read). A failure raises as ``_read`` would; a refused try (busy)
            # goes ``_read``'s way, which tries again and waits as for any read.
            try:
                row = db.execute(sql, args).fetchone()
            except sqlite3.OperationalError as e:
                self._refused(e)
            else:
                return row[0] if row else None
        return await self._read(lambda db: self._one(db, sql, *args))

    async def _get_all(self, sql: str, *args: object) -> list[bytes]:
        return await self._read(lambda db: self._all(db, sql, *args))

    # contacts ------------------------------------------------------------
    async def get_contact(self, contact_id: str) -> Contact | None:
        body = await self._get_one("SELECT body FROM contacts WHERE id = ?", contact_id)
        return _contact(body) if body else None

    async def get_contacts(self, contact_ids: Sequence[str]) -> dict[str, Contact]:
        wanted = list(dict.fromkeys(contact_ids))

        def read(db: sqlite3.Connection) -> dict[str, Contact]:
            found: dict[str, Contact] = {}
            for at in range(0, len(wanted), 500):
                chunk = wanted[at : at + 500]
                marks = ",".join("?" * len(chunk))
                for contact_id, body in db.execute(f"SELECT id, body FROM contacts WHERE id IN ({marks})", chunk):
                    found[contact_id] = _contact(body)
            return found

        return await self._read(read) if wanted else {}

    async def put_contact(self, contact: Contact) -> None:
        row = (contact.id, _encode(contact))
        await self._write(
            lambda db: db.execute(
                "INSERT INTO contacts (id, body) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET body = excluded.body", row
            )
        )
        self._contact_writes += 1  # after the write: whoever read the count before, reads the contact after

    async def contact_writes(self) -> int:
        """Counted in this process: one node owns its SQLite file."""
        return self._contact_writes

    async def list_contacts(self, limit: int = 1000) -> list[Contact]:
        return [_contact(b) for b in await self._get_all("SELECT body FROM contacts ORDER BY id LIMIT ?", limit)]

    # conversations -------------------------------------------------------------
    async def get_conversation(self, conv_id: str) -> Conversation | None:
        body = await self._get_one("SELECT body FROM conversations WHERE id = ?", conv_id)
        return _conversation(body) if body else None

    async def get_conversations(self, conv_ids: Sequence[str]) -> dict[str, Conversation]:
        bodies = await self._read(lambda db: self._by_ids(db, "conversations", conv_ids))
        return {c.id: c for c in map(_conversation, bodies)}

    @staticmethod
    def _by_ids(db: sqlite3.Connection, table: str, keys: Sequence[str]) -> list[bytes]:
        """The bodies of ``table``'s rows with those ids, in chunks under SQLite's variable limit."""
        out: list[bytes] = []
        keys = list(dict.fromkeys(keys))
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(row[0] for row in db.execute(f"SELECT body FROM {table} WHERE id IN ({marks})", chunk))
        return out

    async def latest_conversation(self, contact_id: str, touchpoint_id: str) -> Conversation | None:
        body = await self._get_one(
            "SELECT c.body FROM latest l JOIN conversations c ON c.id = l.conversation_id"
            " WHERE l.contact_id = ? AND l.touchpoint_id = ?",
            contact_id,
            touchpoint_id,
        )
        return _conversation(body) if body else None

    async def commit(self, outcome: Outcome, expected_latest: str | None = None) -> None:
        await self._write(lambda db: self._commit(db, outcome, expected_latest))

    def _commit(self, db: sqlite3.Connection, outcome: Outcome, expected_latest: str | None) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            self._store(db, outcome, expected_latest)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @staticmethod
    def _store_request(db: sqlite3.Connection, conv: Conversation, r: SentRequest) -> None:
        """A send's idempotency key, in the commit of its message; refused
        while the thread holds it unexpired. A few expired keys go each time."""
        where = (conv.contact_id, conv.touchpoint_id, r.agent_id, r.key)
        row = db.execute(
            "SELECT message_id, expires_at FROM sent_requests"
            " WHERE contact_id = ? AND touchpoint_id = ? AND agent_id = ? AND key = ?",
            where,
        ).fetchone()
        if row is not None and row[1] > r.at:
            raise DuplicateRequest(row[0])
        db.execute(
            "DELETE FROM sent_requests WHERE rowid IN"
            " (SELECT rowid FROM sent_requests WHERE expires_at <= ? ORDER BY expires_at LIMIT 8)",
            (r.at,),
        )
        db.execute("INSERT OR REPLACE INTO sent_requests VALUES (?, ?, ?, ?, ?, ?)", (*where, r.message_id, r.expires_at))

    async def commit_many(self, outcomes: Sequence[Outcome]) -> list[StoreError | None]:
        if not outcomes:
            return []
        # On the writer thread, however free the file: a batch (a lock storm's
        # thousands of locks) would hold the event loop for its whole transaction.
        self._queued += 1
        try:
            return await self._call(self._writer, lambda db: self._commit_many(db, outcomes))
        finally:
            self._queued -= 1

    def _commit_many(self, db: sqlite3.Connection, outcomes: Sequence[Outcome]) -> list[StoreError | None]:
        """One transaction. First all at once (``_commit_grouped``); when
        anything is refused there, again with one savepoint per outcome: a
        refused one leaves no trace, the others are stored."""
        if self._commit_grouped(db, outcomes):
            return [None] * len(outcomes)
        results: list[StoreError | None] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for outcome in outcomes:
                db.execute("SAVEPOINT one")
                try:
                    self._store(db, outcome, None)
                except (VersionConflict, DuplicateMessage) as e:
                    db.execute("ROLLBACK TO one")
                    results.append(e)
                else:
                    results.append(None)
                db.execute("RELEASE one")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return results

    def _commit_grouped(self, db: sqlite3.Connection, outcomes: Sequence[Outcome]) -> bool:
        """Every outcome's writes in one transaction, each distinct statement
        run once for all its rows (``executemany``: a lock storm's 20,000
        locks are two statements, not 80,000 with their savepoints). True
        when all were stored; False, with nothing written, when one would be
        refused (a version moved, a message id or Meta id already stored)
        or the batch is not one that can be grouped: outcomes of distinct,
        existing conversations whose commits only write (``_store`` reading
        nothing back). Grouping reorders the writes across outcomes, which
        is safe for those: each row they write is their own conversation's
        (its row, its messages, its line and wrap-up rows), and the shared
        counters only add."""
        if len({o.after.id for o in outcomes}) != len(outcomes) or any(o.before is None for o in outcomes):
            return False
        writes = _Writes()
        try:
            # In the conversations' order: each statement then walks its b-trees
            # in key order (measured ~0.7x the CPU of the arrival order at 20,000).
            for outcome in sorted(outcomes, key=lambda o: o.after.id):
                self._store(cast(sqlite3.Connection, writes), outcome, None)
        except _NotGrouped:
            return False
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in writes.rows.items():
                changed = self._write_rows(db, sql, rows)
                if sql.startswith("UPDATE") and changed != len(rows):  # each UPDATE is a compare-and-set on one row
                    db.execute("ROLLBACK")
                    return False
        except sqlite3.IntegrityError:
            db.execute("ROLLBACK")
            return False
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return True

    @staticmethod
    def _write_rows(db: sqlite3.Connection, sql: str, rows: list[Sequence[object]]) -> int:
        """Run ``sql`` for each of ``rows``: in as few statements as SQLite's
        limit on parameters allows (``_rows_at_once``), else one per row
        (``executemany``). Returns the rows changed."""
        if len(rows) > 1:
            per_row = len(rows[0])
            most = max(1, db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // per_row)
            if _rows_at_once(sql, 1) is not None:
                changed = 0
                for at in range(0, len(rows), most):
                    part = rows[at : at + most]
                    changed += db.execute(cast(str, _rows_at_once(sql, len(part))), [v for row in part for v in row]).rowcount
                return changed
        return db.executemany(sql, rows).rowcount

    def _store(self, db: sqlite3.Connection, outcome: Outcome, expected_latest: str | None) -> None:
        """The writes of one commit, inside the caller's transaction."""
        after = outcome.after
        if outcome.before is None:
            row = db.execute(
                "SELECT conversation_id FROM latest WHERE contact_id = ? AND touchpoint_id = ?",
                (after.contact_id, after.touchpoint_id),
            ).fetchone()
            if (row[0] if row else None) != expected_latest:
                raise VersionConflict(f"latest conversation of {after.contact_id} changed")
            try:
                db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self._conversation_row(after))
            except sqlite3.IntegrityError as e:
                raise VersionConflict(after.id) from e
            db.execute(
                "INSERT INTO latest VALUES (?, ?, ?) ON CONFLICT (contact_id, touchpoint_id)"
                " DO UPDATE SET conversation_id = excluded.conversation_id",
                (after.contact_id, after.touchpoint_id, after.id),
            )
        else:
            # Only the indexed columns that changed are set (the stored row
            # holds ``before``'s: the version check says so), so an update
            # touches only the indexes it moves: a lock, only the watch index.
            old, new = _indexed(outcome.before), _indexed(after)
            changed = tuple([i for i, (o, n) in enumerate(zip(old, new, strict=True)) if o != n])  # one call, not one per step
            sql = _UPDATES.get(changed)
            if sql is None:
                sets = "".join(f", {_INDEXED[i]} = ?" for i in changed)
                sql = _UPDATES[changed] = f"UPDATE conversations SET version = ?, body = ?{sets} WHERE id = ? AND version = ?"
                _UPDATED[sql] = ("version", "body", *[_INDEXED[i] for i in changed])
            updated = db.execute(
                sql, (after.version, _encode(after), *[new[i] for i in changed], after.id, outcome.before.version)
            ).rowcount
            if updated != 1:
                raise VersionConflict(after.id)
        if outcome.entry is not None:
            m = outcome.entry
            try:
                db.execute(
                    "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
                    (m.id, m.conversation_id, m.seq, m.channel_message_id, m.status, _encode(m)),
                )
            except sqlite3.IntegrityError as e:
                raise VersionConflict(f"message {m.id}") from e
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
        if outcome.request is not None:
            self._store_request(db, after, outcome.request)
        self._move_counters(db, outcome)

    @staticmethod
    def _move_counters(db: sqlite3.Connection, outcome: Outcome) -> None:
        """In the commit's transaction, out of what ``before`` counted in and
        into what ``after`` counts in (``before`` is what was stored: the
        version check passed): the agents' counters (``fanout.holder``), the
        queues' lines, waiting by arrival and ringing (``routing.line_of``),
        the agents' routing loads (``routing.loaded``) and the queues' Inbox
        counters (``fanout.in_inbox``; a snapshot reads one row instead of
        counting the Inbox), and the agents' *To wrap up* lists
        (``fanout.wrap_up_holder``). Those rules worked out in one pass over the two,
        the statements the same and in the same order as one method per rule
        made them (this runs for every commit; tests/store/test_sqlite_counters.py
        checks it against the rules, over every kind of change)."""
        before, after = outcome.before, outcome.after
        if before is not None and _COUNTED(before) == _COUNTED(after):
            return  # out of and into the same of each: every delta is nought
        totals: dict[str, tuple[int, int]] = {}
        loads: dict[tuple[str, str], int] = {}
        inbox: dict[str, int] = {}
        was: tuple[str, bool] | None = None
        now: tuple[str, bool] | None = None
        owed_before: str | None = None
        owed_after: str | None = None
        for conv, sign in ((before, -1), (after, 1)):
            if conv is None:
                continue
            if conv.status != "open":  # an ended conversation counts in none of them; it may be owed a wrap-up
                if conv.channel == "whatsapp" and conv.wrap_up is None:
                    if sign < 0:
                        owed_before = conv.assignee_id
                    else:
                        owed_after = conv.assignee_id
                continue
            assignee, offer, channel = conv.assignee_id, conv.offer, conv.channel
            ringing = offer.agent_id if offer is not None else None
            if assignee is not None:
                count, unread = totals.get(assignee, (0, 0))
                totals[assignee] = (count + sign, unread + sign * conv.unread)
                loads[(assignee, channel)] = loads.get((assignee, channel), 0) + sign
                if ringing is not None and ringing != assignee:  # a transfer counts for both
                    loads[(ringing, channel)] = loads.get((ringing, channel), 0) + sign
            else:
                if sign < 0:
                    was = (conv.queue_id, offer is not None)
                else:
                    now = (conv.queue_id, offer is not None)
                if ringing is not None:
                    loads[(ringing, channel)] = loads.get((ringing, channel), 0) + sign
                inbox[conv.queue_id] = inbox.get(conv.queue_id, 0) + sign
        for agent, (count, unread) in totals.items():
            if count or unread:
                db.execute(
                    "INSERT INTO agent_totals VALUES (?, ?, ?) ON CONFLICT (agent_id)"
                    " DO UPDATE SET count = count + excluded.count, unread = unread + excluded.unread",
                    (agent, count, unread),
                )
        if now is None:
            if was is not None:
                db.execute("DELETE FROM line WHERE conversation_id = ?", (after.id,))
        elif was != now or before is None or routing.arrival(before) != routing.arrival(after):
            db.execute(
                "INSERT OR REPLACE INTO line VALUES (?, ?, ?, ?)",
                (after.id, now[0], int(now[1]), routing.arrival(after)[0]),
            )
        for (agent, on), n in loads.items():
            if n:
                db.execute(
                    "INSERT INTO agent_load VALUES (?, ?, ?) ON CONFLICT (agent_id, channel)"
                    " DO UPDATE SET count = count + excluded.count",
                    (agent, on, n),
                )
        for queue_id, delta in inbox.items():
            if delta:
                db.execute(
                    "INSERT INTO inbox_counts VALUES (?, ?) ON CONFLICT (queue_id) DO UPDATE SET count = count + excluded.count",
                    (queue_id, delta),
                )
        if owed_before is not None and owed_before != owed_after:
            db.execute("DELETE FROM to_wrap_up WHERE agent_id = ? AND conversation_id = ?", (owed_before, after.id))
        if owed_after is not None and owed_after != owed_before:
            db.execute("INSERT OR IGNORE INTO to_wrap_up VALUES (?, ?)", (owed_after, after.id))

    @staticmethod
    def _conversation_row(c: Conversation) -> tuple[object, ...]:
        return (c.id, c.version, *_indexed(c), _encode(c))

    async def inbox(self, queue_id: str) -> list[Conversation]:
        rows = await self._get_all(
            "SELECT body FROM conversations WHERE status = 'open' AND assignee_id IS NULL AND queue_id = ?"
            " ORDER BY activity DESC, id DESC",
            queue_id,
        )
        return [_conversation(b) for b in rows]

    async def inbox_page(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        activity, conv_id = after if after is not None else (-(2**63), "")
        rows = await self._get_all(
            "SELECT body FROM conversations WHERE status = 'open' AND assignee_id IS NULL AND queue_id = ?"
            " AND (activity, id) > (?, ?) ORDER BY activity, id LIMIT ?",
            queue_id,
            activity,
            conv_id,
            max(0, limit),
        )
        return [_conversation(b) for b in rows]

    async def inbox_counts(self, queue_id: str) -> tuple[int, int | None]:
        def count(db: sqlite3.Connection) -> tuple[int, int | None]:
            # The count is kept by the commits; the oldest is the first entry
            # of the partial index (queue_id, activity): neither reads the Inbox.
            row = db.execute(
                "SELECT (SELECT count FROM inbox_counts WHERE queue_id = ?), (SELECT MIN(activity) FROM conversations"
                " WHERE status = 'open' AND assignee_id IS NULL AND queue_id = ?)",
                (queue_id, queue_id),
            ).fetchone()
            return int(row[0] or 0), (int(row[1]) if row[1] is not None else None)

        return await self._read(count)

    async def waiting(self, queue_id: str, after: tuple[int, str] | None, limit: int) -> list[Conversation]:
        arrival, conv_id = after if after is not None else (-(2**63), "")
        rows = await self._get_all(
            "SELECT c.body FROM line l JOIN conversations c ON c.id = l.conversation_id"
            " WHERE l.queue_id = ? AND l.ringing = 0 AND (l.arrival, l.conversation_id) > (?, ?)"
            " ORDER BY l.arrival, l.conversation_id LIMIT ?",
            queue_id,
            arrival,
            conv_id,
            max(0, limit),
        )
        return [_conversation(b) for b in rows]

    async def waiting_counts(self, queue_id: str) -> tuple[int, int | None]:
        def count(db: sqlite3.Connection) -> tuple[int, int | None]:
            row = db.execute("SELECT COUNT(*), MIN(arrival) FROM line WHERE queue_id = ? AND ringing = 0", (queue_id,)).fetchone()
            return int(row[0]), (int(row[1]) if row[1] is not None else None)

        return await self._read(count)

    async def ringing(self, queue_id: str) -> list[Conversation]:
        rows = await self._get_all(
            "SELECT c.body FROM line l JOIN conversations c ON c.id = l.conversation_id"
            " WHERE l.queue_id = ? AND l.ringing = 1 ORDER BY l.arrival, l.conversation_id",
            queue_id,
        )
        return [_conversation(b) for b in rows]

    async def assigned(self, agent_id: str) -> list[Conversation]:
        rows = await self._get_all(
            "SELECT body FROM conversations WHERE status = 'open' AND assignee_id = ? ORDER BY activity DESC, id DESC",
            agent_id,
        )
        return [_conversation(b) for b in rows]

    async def assigned_many(self, agent_ids: Sequence[str]) -> dict[str, list[Conversation]]:
        out: dict[str, list[Conversation]] = {a: [] for a in agent_ids}
        wanted = list(out)
        for start in range(0, len(wanted), 500):  # well under SQLite's limit on parameters
            chunk = wanted[start : start + 500]
            rows = await self._get_all(
                f"SELECT body FROM conversations WHERE status = 'open' AND assignee_id IN ({','.join('?' * len(chunk))})"
                " ORDER BY activity DESC, id DESC",
                *chunk,
            )
            for body in rows:
                conv = _conversation(body)
                if conv.assignee_id is not None:
                    out[conv.assignee_id].append(conv)
        return out

    async def agent_loads(self, agent_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {a: {} for a in agent_ids}
        wanted = list(out)

        def read(db: sqlite3.Connection) -> None:
            for start in range(0, len(wanted), 500):  # well under SQLite's limit on parameters
                chunk = wanted[start : start + 500]
                for agent, channel, n in db.execute(
                    f"SELECT agent_id, channel, count FROM agent_load WHERE agent_id IN ({','.join('?' * len(chunk))})"
                    " AND count != 0",
                    chunk,
                ):
                    out[agent][channel] = int(n)

        if wanted:
            await self._read(read)
        return out

    async def to_wrap_up(self, agent_id: str) -> list[Conversation]:
        rows = await self._get_all(
            "SELECT c.body FROM to_wrap_up w JOIN conversations c ON c.id = w.conversation_id WHERE w.agent_id = ?",
            agent_id,
        )
        return sorted((_conversation(b) for b in rows), key=fanout.wrap_up_order)

    async def agent_totals(self, agent_id: str) -> Totals:
        sql, args = "SELECT count, unread FROM agent_totals WHERE agent_id = ?", (agent_id,)
        row: tuple[int, int] | None = None
        db = self._reader
        done = False
        if db is not None:  # read for every publish: the try that works in C calls, as in ``_get_one``
            try:
                row = db.execute(sql, args).fetchone()
                done = True
            except sqlite3.OperationalError as e:
                self._refused(e)
        if not done:
            row = await self._read(lambda db: db.execute(sql, args).fetchone())
        return Totals(row[0], row[1]) if row else Totals(0, 0)

    async def conversations_of_contact(self, contact_id: str) -> list[Conversation]:
        rows = await self._get_all(
            "SELECT body FROM conversations WHERE contact_id = ? ORDER BY created_at DESC, id DESC", contact_id
        )
        return [_conversation(b) for b in rows]

    async def unlocked_open(self) -> list[Conversation]:
        rows = await self._get_all("SELECT body FROM conversations WHERE status = 'open' AND session_locked = 0")
        return [_conversation(b) for b in rows]

    # messages and notes ----------------------------------------------------------
    async def messages(self, conv_id: str, before: int | None = None, limit: int = 50) -> list[Message]:
        rows = await self._get_all(
            "SELECT body FROM messages WHERE conversation_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?",
            conv_id,
            before if before is not None else 2**62,
            max(limit, 0),
        )
        return [_message(b) for b in reversed(rows)]

    async def get_message(self, message_id: str) -> Message | None:
        body = await self._get_one("SELECT body FROM messages WHERE id = ?", message_id)
        return _message(body) if body else None

    async def sent_request(self, contact_id: str, touchpoint_id: str, agent_id: str, key: str, now: int) -> str | None:
        sql = (
            "SELECT message_id FROM sent_requests WHERE contact_id = ? AND touchpoint_id = ? AND agent_id = ?"
            " AND key = ? AND expires_at > ?"
        )
        args = (contact_id, touchpoint_id, agent_id, key, now)
        row = await self._read(lambda db: db.execute(sql, args).fetchone())
        return str(row[0]) if row is not None else None

    async def message_by_channel_id(self, channel_message_id: str) -> Message | None:
        body = await self._get_one("SELECT body FROM messages WHERE channel_message_id = ?", channel_message_id)
        return _message(body) if body else None

    async def pending_outbound(self) -> list[Message]:
        rows = await self._get_all("SELECT body FROM messages WHERE status = 'pending' ORDER BY rowid")
        return [_message(b) for b in rows]

    async def claim_send(self, message_id: str, owner: str, now: int, lease_ms: int) -> int | None:
        return await self._write(lambda db: self._claim_send(db, message_id, owner, now, lease_ms))

    @staticmethod
    def _claim_send(db: sqlite3.Connection, message_id: str, owner: str, now: int, lease_ms: int) -> int | None:
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
        rows = await self._get_all("SELECT body FROM notes WHERE conversation_id = ? ORDER BY rowid", conv_id)
        return [_note(b) for b in rows]

    async def revoke(self, key: str, value: int) -> None:
        await self._write(
            lambda db: db.execute(
                "INSERT INTO revocations VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
                (key, value),
            )
        )

    async def revocations(self, keys: list[str]) -> dict[str, int]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        sql = f"SELECT key, value FROM revocations WHERE key IN ({marks})"
        return await self._read(lambda db: {k: v for k, v in db.execute(sql, keys)})

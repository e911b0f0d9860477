"""The SQLite store's reads on the event loop, measured by what the process
asks of the kernel (``/proc/thread-self/io``, the loop's thread alone: the
writer thread's WAL checkpoints read the file too): a read of what the loop
just wrote comes from the connection's own page cache, never back from the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.core.model import Contact
from server.store.sqlite import SqliteStore


def _read_syscalls() -> int:
    for line in Path("/proc/thread-self/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    raise AssertionError("no syscr in /proc/thread-self/io")


@pytest.mark.skipif(not Path("/proc/thread-self/io").exists(), reason="needs Linux /proc/thread-self/io")
async def test_reading_back_what_the_loop_wrote_reads_nothing_from_the_file(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    try:
        rounds = 100
        await store.put_contact(Contact(id="warm", channel="whatsapp", address="+5521988887777"))
        await store.get_contact("warm")
        before = _read_syscalls()
        for i in range(rounds):
            contact = Contact(id=f"c{i}", channel="whatsapp", address="+5521988887777", name=f"Customer {i}")
            await store.put_contact(contact)
            assert await store.get_contact(contact.id) == contact
        reads = _read_syscalls() - before
        # A connection of its own for reads re-reads each page another connection
        # changed: 374 read syscalls for these 100 rounds when it did.
        assert reads < rounds // 10, f"{reads} read syscalls for {rounds} write+read rounds"
    finally:
        await store.close()

"""Fresh ids: unique, time-ordered prefix, 48 random bits read from
``os.urandom`` in bulk (one system call per 256 ids), a buffer per thread,
and a forked child never minting what its parent will."""

from __future__ import annotations

import os
import threading

import pytest

from server.app import minting


def test_ids_are_unique_and_read_the_system_entropy_in_bulk(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = os.urandom

    def counted(n: int) -> bytes:
        calls.append(n)
        return real(n)

    monkeypatch.setattr(minting.os, "urandom", counted)
    monkeypatch.setattr(minting, "_entropy", minting._Entropy())
    ids = [minting.new_id("m") for _ in range(1024)]
    assert len(set(ids)) == 1024
    assert all(len(i) == len("m_") + 12 + 12 for i in ids)
    assert len(calls) == 4  # 256 ids per read


def test_each_thread_reads_its_own_buffer() -> None:
    minted: list[list[str]] = [[], []]

    def mint(into: list[str]) -> None:
        into.extend(minting.new_id("m") for _ in range(300))

    threads = [threading.Thread(target=mint, args=(out,)) for out in minted]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(minted[0]) | set(minted[1])) == 600


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_mint_its_parents_next_ids() -> None:
    minting.new_id("m")  # the parent's buffer is filled: a child copying it would repeat its tail
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        os.write(write, " ".join(minting.new_id("m")[-12:] for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as r:
        child = set(r.read().split())
    os.waitpid(pid, 0)
    parent = {minting.new_id("m")[-12:] for _ in range(8)}
    assert len(child) == 8 and not child & parent

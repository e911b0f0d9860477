"""A grouped SQLite commit beside a thread that runs Python (the event loop
publishing a lock storm's chunk while the writer thread commits the next).

Writes ``--chunk`` locks at a time (an UPDATE of a conversation's row and an
INSERT of its timeline entry, as ``SqliteStore._commit_grouped`` does), into
a table of ``--rows`` conversations, two ways: ``executemany`` (one step of
SQLite per row, the GIL taken back before each row's parameters are bound)
and one statement for all the rows (``sqlite.py``'s ``_rows_at_once``: a
multi-row VALUES, an ``UPDATE … FROM (VALUES …)``). Each way alone, then beside
a thread that runs Python without pause (``--busy``). Reports ms per chunk.

    .venv/bin/python -m bench.sqlite_gil [--rows 20000 --chunk 2000 --busy]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path

BODY = os.urandom(800)
"""A conversation's stored body is ~800 bytes."""


def _open(path: Path, rows: int) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE c (id TEXT PRIMARY KEY, version INT, locked INT, body BLOB)")
    db.execute("CREATE INDEX c_locked ON c(locked)")
    db.execute("CREATE TABLE m (id TEXT PRIMARY KEY, conv TEXT, seq INT, cmid TEXT UNIQUE, status TEXT, body BLOB)")
    db.execute("CREATE INDEX m_conv ON m(conv, seq)")
    db.execute("BEGIN")
    db.executemany("INSERT INTO c VALUES (?, ?, 0, ?)", [(f"c{i:08d}", 1, BODY) for i in range(rows)])
    db.execute("COMMIT")
    return db


def _chunk(db: sqlite3.Connection, how: str, ids: list[str], version: int) -> float:
    """One chunk's transaction, ``how`` = "executemany" or "one statement": ms."""
    ups = [(version + 1, BODY, 1, i, version) for i in ids]
    ins = [(f"m{i}.{version}", i, version, None, "received", BODY[:300]) for i in ids]
    t0 = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    before = db.total_changes
    if how == "executemany":
        db.executemany("UPDATE c SET version = ?, body = ?, locked = ? WHERE id = ? AND version = ?", ups)
        db.executemany("INSERT INTO m VALUES (?, ?, ?, ?, ?, ?)", ins)
    else:
        rows = ", ".join(["(?, ?, ?, ?, ?)"] * len(ups))
        db.execute(
            f"UPDATE c SET version = v.column1, body = v.column2, locked = v.column3 FROM (VALUES {rows}) AS v"
            " WHERE c.id = v.column4 AND c.version = v.column5",
            [x for r in ups for x in r],
        )
        db.execute(f"INSERT INTO m VALUES {', '.join(['(?, ?, ?, ?, ?, ?)'] * len(ins))}", [x for r in ins for x in r])
    db.execute("COMMIT")
    assert db.total_changes - before == 2 * len(ids)
    return (time.perf_counter() - t0) * 1000


def run(rows: int, chunk: int, busy: bool, deadline_s: float) -> dict[str, object]:
    out: dict[str, object] = {"rows": rows, "chunk": chunk}
    with tempfile.TemporaryDirectory() as tmp:
        db = _open(Path(tmp) / "gil.sqlite3", rows)
        version = 1
        stop = threading.Event()

        def spin() -> None:  # Python without pause: what the GIL's other holder does
            x = 0
            while not stop.is_set():
                for _ in range(1000):
                    x += 1

        for beside in ([False, True] if busy else [False]):
            thread = threading.Thread(target=spin, daemon=True) if beside else None
            if thread is not None:
                thread.start()
            for how in ("executemany", "one statement"):
                db.execute(f"UPDATE c SET version = {version}")
                times: list[float] = []
                started = time.perf_counter()
                for at in range(0, rows, chunk):
                    times.append(_chunk(db, how, [f"c{i:08d}" for i in range(at, min(rows, at + chunk))], version))
                    if time.perf_counter() - started > deadline_s:
                        break  # executemany beside Python can take seconds a chunk: a few chunks say enough
                version += 2
                key = f"{how}{', beside a Python thread' if beside else ''}"
                out[key] = {"ms_per_chunk_median": round(statistics.median(times), 1),
                            "min": round(min(times), 1), "max": round(max(times), 1), "chunks": len(times)}
            if thread is not None:
                stop.set()
                thread.join()
        db.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.sqlite_gil", description=__doc__)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--busy", action="store_true", help="also beside a thread running Python")
    ap.add_argument("--deadline", type=float, default=30.0, help="seconds at most per way (its first chunks)")
    ap.add_argument("--out", type=Path, default=None)
    opts = ap.parse_args()
    result = run(opts.rows, opts.chunk, opts.busy, opts.deadline)
    result["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=1)
    print(text)
    if opts.out:
        opts.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

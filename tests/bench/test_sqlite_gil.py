"""``python -m bench.sqlite_gil`` (not a benchmark here): both ways write
every chunk's rows (it checks SQLite's own change count) and report each."""

from __future__ import annotations

from bench import sqlite_gil


def test_both_ways_write_every_row_alone_and_beside_a_python_thread() -> None:
    out = sqlite_gil.run(rows=60, chunk=20, busy=True, deadline_s=5.0)
    for key in ("executemany", "one statement", "executemany, beside a Python thread", "one statement, beside a Python thread"):
        figures = out[key]
        assert isinstance(figures, dict) and figures["chunks"] >= 1 and figures["ms_per_chunk_median"] >= 0
    assert out["one statement"]["chunks"] == 3  # type: ignore[index]

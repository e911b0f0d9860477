"""Run a server module under tracemalloc and dump a heap snapshot on SIGUSR1.

    python -X tracemalloc=25 -m bench.tracehost MODULE [ARGS...]

Each SIGUSR1 runs a full collection, then writes
``$BENCH_TRACE_DIR/snapshot-<k>.pickle`` (k = 1, 2, …) and, when done, an
empty ``snapshot-<k>.done`` beside it. Used by ``python -m bench permem``; the
server's own code is not changed for it.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import runpy
import signal
import sys
import tempfile
import tracemalloc
from pathlib import Path
from types import FrameType

_taken = 0


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _heaps() -> dict[str, int]:
    """glibc malloc's totals (mallinfo2) and pymalloc's (sys._debugmallocstats, parsed)."""
    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = _Mallinfo2
    mi = libc.mallinfo2()
    out = {"malloc_arena": mi.arena, "malloc_mmap": mi.hblkhd, "malloc_used": mi.uordblks, "malloc_free": mi.fordblks}
    with tempfile.TemporaryFile("w+") as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read()
    for key, pattern in (
        ("pymalloc_arenas_bytes", r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
        ("pymalloc_free_bytes", r"# bytes in available blocks\s*=\s*([\d,]+)"),
        ("pymalloc_arenas", r"# arenas allocated current\s*=\s*([\d,]+)"),
        ("pymalloc_total", r"Total\s*=\s*([\d,]+)"),
    ):
        m = re.search(pattern, text)
        out[key] = int(m.group(1).replace(",", "")) if m else -1
    return out


def _dump(signum: int, frame: FrameType | None) -> None:
    global _taken
    _taken += 1
    out = Path(os.environ["BENCH_TRACE_DIR"])
    heaps = {"before_gc": _heaps()}
    heaps["garbage_collected"] = gc.collect()
    heaps["after_gc"] = _heaps()
    (out / f"heaps-{_taken}.json").write_text(json.dumps(heaps))
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(out / f"snapshot-{_taken}.pickle"))
    (out / f"snapshot-{_taken}.done").touch()


def main() -> None:
    signal.signal(signal.SIGUSR1, _dump)
    module, *rest = sys.argv[1:]
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

"""Summarize py-spy's raw (collapsed) stacks: where the server's CPU goes.

Each line is ``frame;frame;…;leaf count``, a frame ``function (path:line)``.
Self time is charged to the leaf; inclusive time to every distinct
``file:function`` on the stack. Paths are shortened to the package.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<path>[^:()]+)(?::\d+)?\)$")


def name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["path"]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{m['func']}"


def summarize_collapsed(path: Path, top: int = 15) -> dict[str, Any]:
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [name(f) for f in stack.split(";") if f]
        if frames and frames[0].startswith("process "):
            frames = frames[1:]
        if frames and frames[0].startswith("thread "):
            frames = frames[1:]
        if not frames:
            continue
        total += n
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n

    def pct(c: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in c.most_common(top)]

    ours = Counter({k: v for k, v in inclusive.items() if k.startswith(("server/", "protocol/"))})
    return {
        "samples": total,
        "self_pct": pct(self_time),
        "inclusive_pct": pct(inclusive),
        "server_inclusive_pct": pct(ours),
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(summarize_collapsed(Path(sys.argv[1])), indent=2))

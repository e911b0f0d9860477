"""Logging that cannot flood: the same message logged over and over (a node
out of file descriptors logs every failed accept: 147 MB in a minute, once)
is let through a few times per interval, then counted; the first one of the
next interval carries the count ("[N more like this suppressed]")."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RepeatFilter(logging.Filter):
    """Per message template (logger, level, format string): the first
    ``burst`` records of every ``interval`` seconds pass, the rest are
    dropped and counted."""

    MAX_KEYS = 10_000

    def __init__(self, burst: int = 5, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.interval = interval
        self.clock = clock
        self._windows: dict[tuple[str, int, str], list[float | int]] = {}
        """key → [window start, records seen in it]"""

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        key = (record.name, record.levelno, str(record.msg))
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.interval:
            suppressed = int(window[1]) - self.burst if window is not None else 0
            if len(self._windows) >= self.MAX_KEYS:
                self._forget(now)
            self._windows[key] = [now, 1]
            if suppressed > 0:
                record.msg = f"{record.msg} [{suppressed} more like this suppressed in the previous {self.interval:g} s]"
            return True
        window[1] += 1
        return window[1] <= self.burst

    def _forget(self, now: float) -> None:
        """Drop the windows that are over (their counts are lost, not their messages)."""
        for key in [k for k, w in self._windows.items() if now - w[0] >= self.interval]:
            del self._windows[key]
        if len(self._windows) >= self.MAX_KEYS:
            self._windows.clear()


def install_repeat_filter(burst: int = 5, interval: float = 60.0) -> RepeatFilter:
    """On every handler of the root logger (where uvicorn's and asyncio's
    records end up too, see server/http_limits.py)."""
    repeat = RepeatFilter(burst, interval)
    for handler in logging.getLogger().handlers:
        handler.addFilter(repeat)
    return repeat

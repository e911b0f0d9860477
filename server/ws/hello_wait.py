"""Connections waiting for their ``hello``: each is cancelled at its deadline
(``hello_timeout_seconds`` after it began waiting), as ``asyncio.timeout``
would, but with one timer for the node instead of one per connection.

``asyncio.timeout`` costs a connect ~28 Python calls (a timer made, pushed
into the loop's heap, compared with the heap's timers on the way in, then
cancelled), more as the heap holds more sockets' timers. The deadlines here
all come from one timeout, so the order they begin in is the order they fall
due in: a dict in insertion order is the queue, and one timer waits for the
oldest deadline still pending; when it fires it cancels every connection
due and waits for the next. A connection whose hello came leaves the dict
(one ``dict.pop``); the timer stays armed for a deadline that may no longer
be anyone's, and looks again then (with connects arriving steadily, about
one timer per ``hello_timeout_seconds`` for the node).

What the waiting task sees is ``asyncio.timeout``'s: at its deadline it is
cancelled; ``done`` tells whether that cancellation was this one's alone
(``Task.uncancel`` back to what it was when it began waiting), so the caller
turns it into a timeout, and any other cancellation goes on as one.
"""

from __future__ import annotations

import asyncio


class HelloWait:
    __slots__ = ("_loop", "_timer", "_waiting", "timeout")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._waiting: dict[asyncio.Task[object], float | None] = {}
        """Waiting tasks by deadline, oldest first; None: cancelled at its
        deadline, not yet ``done``."""
        self._timer: asyncio.TimerHandle | asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> tuple[asyncio.Task[object], int]:
        """The current task begins waiting: returns it and its ``cancelling()`` count, for ``done``."""
        task: asyncio.Task[object] = asyncio.current_task()  # type: ignore[assignment]
        loop = task.get_loop()
        if loop is not self._loop:  # a node lives on one loop; a test may start another
            self._loop, self._timer = loop, None
        deadline = loop.time() + self.timeout
        self._waiting[task] = deadline
        if self._timer is None:
            self._arm(loop, deadline)
        return task, task.cancelling()

    def done(self, task: asyncio.Task[object], cancelling: int) -> bool:
        """The task stops waiting (its hello came, or anything else ended the
        wait). True when it was cancelled at its deadline and by nothing else
        since it began (the caller answers a timeout); as ``asyncio.timeout``
        on exit, a cancellation of the deadline's is taken back either way."""
        if self._waiting.pop(task, 0.0) is not None:
            return False
        return task.uncancel() <= cancelling

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        # As asyncio.timeout's reschedule: a deadline already passed runs soon.
        self._timer = loop.call_at(when, self._due) if when > loop.time() else loop.call_soon(self._due)

    def _due(self) -> None:
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        waiting = self._waiting
        for task, deadline in waiting.items():
            if deadline is None:
                continue  # cancelled already
            if deadline > now:
                self._arm(loop, deadline)
                return
            waiting[task] = None  # a value changed, not a key: the iteration goes on
            task.cancel()

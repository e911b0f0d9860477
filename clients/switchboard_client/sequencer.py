"""Stream positions and the gap check. Pure (no I/O): event frames go in,
the frames to deliver come out, in order, each exactly once.

Every ``Event`` frame carries ``(stream, seq)``; a stream's sequence numbers
are 1, 2, 3… without holes. For each frame:

- ``seq == last + 1``: deliver it and advance;
- ``seq <= last``: a repeat (a replay overlapping what the snapshot or an
  earlier replay covered): drop it;
- ``seq > last + 1``: something is missing: raise ``Gap``. The client then
  reconnects and resumes from ``last``; the server replays the hole or says
  ``resync``. Either way the caller never sees a gap.

Thread streams (``conv:<id>``) join mid-life: their base position is the
``stream_seq`` in the ``open`` command's answer, and events may arrive
before that answer. Those wait in ``pending`` until ``opened`` names the base.

Not handled here: which streams the server attached (it decides), and
anything about time.
"""

from __future__ import annotations

from protocol import messages as p


class Gap(Exception):
    def __init__(self, stream: str, last: int, seq: int) -> None:
        super().__init__(f"{stream}: expected seq {last + 1}, got {seq}")
        self.stream = stream
        self.last = last
        self.seq = seq


class Sequencer:
    def __init__(self) -> None:
        self.epoch = ""
        self.positions: dict[str, int] = {}
        self.pending: dict[str, list[p.Event]] = {}
        self.duplicates = 0

    def load(self, snapshot: p.Snapshot) -> None:
        """A snapshot restarts every position (thread streams included: they
        are not attached any more and must be opened again)."""
        self.epoch = snapshot.epoch
        self.positions = dict(snapshot.streams)
        self.pending = {}

    def resume_point(self) -> p.Resume | None:
        if not self.epoch:
            return None
        return p.Resume(epoch=self.epoch, streams=dict(self.positions))

    def accept(self, frame: p.Event) -> list[p.Event]:
        """The frames to deliver now (none, this one, or it after a pending
        batch). Raises ``Gap``."""
        stream, seq = frame.stream, frame.seq
        waiting = self.pending.get(stream)
        if waiting is not None:
            waiting.append(frame)
            return []
        last = self.positions.get(stream)
        if last is None:
            return []  # a stream we closed (or never opened): late frames are dropped
        if seq <= last:
            self.duplicates += 1
            return []
        if seq != last + 1:
            raise Gap(stream, last, seq)
        self.positions[stream] = seq
        return [frame]

    def opening(self, stream: str) -> None:
        """An ``open`` is on its way: hold this stream's frames until its answer."""
        if stream not in self.positions:
            self.pending.setdefault(stream, [])

    def opened(self, stream: str, base: int) -> list[p.Event]:
        """The ``open`` answer read the thread at ``base``: frames up to it are
        in the page already; the ones after it are delivered now."""
        waiting = self.pending.pop(stream, None)
        if stream in self.positions:  # already open (a second open): keep counting
            return []
        self.positions[stream] = base
        out: list[p.Event] = []
        for frame in sorted(waiting or [], key=lambda f: f.seq):
            out.extend(self.accept(frame))
        return out

    def closed(self, stream: str) -> None:
        self.positions.pop(stream, None)
        self.pending.pop(stream, None)

    def threads(self) -> list[str]:
        """Conversation ids whose thread stream is followed (or being opened)."""
        names = set(self.positions) | set(self.pending)
        return sorted(s.removeprefix("conv:") for s in names if s.startswith("conv:"))

"""A few Prometheus metrics, in the text exposition format, with no dependency."""

from __future__ import annotations

import bisect
import gc
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Protocol


class Counter:
    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.labels = name, help, labels
        self._values: dict[tuple[str, ...], float] = defaultdict(float)

    def inc(self, amount: float = 1, *label_values: str) -> None:
        self._values[label_values] += amount

    def value(self, *label_values: str) -> float:
        return self._values.get(label_values, 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        if not self._values and not self.labels:
            lines.append(f"{self.name} 0")
        for key, v in sorted(self._values.items()):
            lines.append(f"{self.name}{_labels(self.labels, key)} {v:g}")
        return lines


class Gauge:
    def __init__(self, name: str, help: str, read: Callable[[], float]) -> None:
        self.name, self.help, self._read = name, help, read

    def render(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {self._read():g}"]


class Histogram:
    BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.labels = name, help, labels
        self._counts: dict[tuple[str, ...], list[int]] = {}
        self._sums: dict[tuple[str, ...], float] = defaultdict(float)

    def observe(self, seconds: float, *label_values: str) -> None:
        counts = self._counts.get(label_values)
        if counts is None:
            counts = self._counts[label_values] = [0] * (len(self.BUCKETS) + 1)
        counts[bisect.bisect_left(self.BUCKETS, seconds)] += 1
        self._sums[label_values] += seconds

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, counts in sorted(self._counts.items()):
            running = 0
            for bound, n in zip((*self.BUCKETS, float("inf")), counts, strict=True):
                running += n
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(f"{self.name}_bucket{_labels((*self.labels, 'le'), (*key, le))} {running}")
            lines.append(f"{self.name}_sum{_labels(self.labels, key)} {self._sums[key]:g}")
            lines.append(f"{self.name}_count{_labels(self.labels, key)} {running}")
        return lines


class Peak:
    """The largest value observed since the previous render (scrape): a
    histogram tells how often, this tells how long the worst one was."""

    def __init__(self, name: str, help: str) -> None:
        self.name, self.help = name, help
        self.value = 0.0

    def observe(self, value: float) -> None:
        if value > self.value:
            self.value = value

    def render(self) -> list[str]:
        value, self.value = self.value, 0.0
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge", f"{self.name} {value:g}"]


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{v}"' for n, v in zip(names, values, strict=True)) + "}"


class Collector(Protocol):
    """Anything that renders itself in the text format (Counter, Gauge, Histogram)."""

    def render(self) -> list[str]: ...


class Metrics:
    """Every metric the node exports. A part with metrics of its own
    (the Redis broker, the timers) creates them with ``counter``; the node
    adds gauges with ``gauge``."""

    def __init__(self) -> None:
        self.connections_total = Counter("switchboard_connections_total", "Websocket connections accepted")
        self.deliveries = Counter("switchboard_deliveries_total", "Event frames written to agent sockets")
        self.publications = Counter("switchboard_publications_delivered_total", "Publications fanned out locally")
        self.published = Counter("switchboard_events_published_total", "Events published", ("stream_kind",))
        self.commands = Counter("switchboard_commands_total", "Commands by type and outcome", ("command", "outcome"))
        self.command_seconds = Histogram("switchboard_command_seconds", "Command handling time", ("command",))
        self.slow_consumers = Counter("switchboard_slow_consumers_total", "Clients dropped for a full buffer")
        self.resumes = Counter("switchboard_resumes_total", "Resume attempts by outcome", ("outcome",))
        self.webhooks = Counter("switchboard_inbound_messages_total", "Inbound channel messages", ("outcome",))
        self.session_locks = Counter("switchboard_session_locks_total", "Reply windows locked at expiry")
        self.channel = Counter(
            "switchboard_channel_events_total", "Meta webhooks and send calls by channel and event", ("channel", "event")
        )
        self.snapshot_seconds = Histogram(
            "switchboard_snapshot_seconds", "Building and encoding one snapshot (after waiting for a slot)"
        )
        self.snapshot_bytes = Counter("switchboard_snapshot_bytes_total", "Bytes of the snapshot frames sent")
        self.snapshot_seconds_max = Peak(
            "switchboard_snapshot_max_seconds", "Longest snapshot build since the previous scrape"
        )
        self.snapshot_bytes_max = Peak("switchboard_snapshot_max_bytes", "Largest snapshot frame since the previous scrape")
        self.gc_pauses = Histogram(
            "switchboard_gc_pause_seconds", "Event-loop pauses for Python's garbage collector", ("generation",)
        )
        self.gc_pause_max = Peak(
            "switchboard_gc_pause_max_seconds", "Longest garbage collection pause since the previous scrape"
        )
        self._extra: list[Collector] = []
        self._gc_started = 0.0

    def watch_gc(self, on: bool = True) -> None:
        """Time every collection of Python's garbage collector (it stops the
        event loop: a full collection of a large heap is a latency spike)."""
        if on and self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)
        elif not on and self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_started
            self.gc_pauses.observe(pause, str(info["generation"]))
            self.gc_pause_max.observe(pause)

    def add(self, collector: Collector) -> None:
        """A metric a part made itself (a Histogram, a Peak), exported with the rest."""
        self._extra.append(collector)

    def snapshot(self, seconds: float, size: int) -> None:
        """One snapshot frame built (``seconds``) and sent (``size`` bytes)."""
        self.snapshot_seconds.observe(seconds)
        self.snapshot_seconds_max.observe(seconds)
        self.snapshot_bytes.inc(size)
        self.snapshot_bytes_max.observe(size)

    def gauge(self, name: str, help: str, read: Callable[[], float]) -> None:
        self._extra.append(Gauge(name, help, read))

    def counter(self, name: str, help: str, labels: tuple[str, ...] = ()) -> Counter:
        """A counter of one part, exported with the rest."""
        counter = Counter(name, help, labels)
        self._extra.append(counter)
        return counter

    def render(self) -> str:
        lines: list[str] = []
        metrics: tuple[Collector, ...] = (
            self.connections_total,
            self.deliveries,
            self.publications,
            self.published,
            self.commands,
            self.command_seconds,
            self.slow_consumers,
            self.resumes,
            self.webhooks,
            self.session_locks,
            self.channel,
            self.gc_pauses,
            self.gc_pause_max,
            self.snapshot_seconds,
            self.snapshot_bytes,
            self.snapshot_seconds_max,
            self.snapshot_bytes_max,
            *self._extra,
        )
        for metric in metrics:
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"

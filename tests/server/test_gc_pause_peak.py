"""The longest garbage-collector pause since the previous scrape, beside the
pauses' histogram: a per-second sampler (python -m bench soakdiag) sees how
long the worst collection of each second stopped the loop."""

from __future__ import annotations

import gc

from server.metrics import Metrics
from tests.server.test_loop_probe import gauges


def test_the_longest_collection_since_the_previous_scrape_is_exported() -> None:
    metrics = Metrics()
    metrics.watch_gc()
    try:
        junk = [[i] for i in range(200_000)]  # something to scan
        gc.collect()
        seen = gauges(metrics.render())
        del junk
    finally:
        metrics.watch_gc(False)
    assert seen["switchboard_gc_pause_max_seconds"] > 0
    assert seen["switchboard_gc_pause_max_seconds"] <= seen['switchboard_gc_pause_seconds_sum{generation="2"}']
    assert gauges(metrics.render())["switchboard_gc_pause_max_seconds"] == 0

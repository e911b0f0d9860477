"""collector.paused: no automatic collection inside; overlapping pauses
resume once, at the last; a collector disabled before stays disabled."""

from __future__ import annotations

import gc

from server import collector


def test_pauses_nest_and_overlap_and_the_last_one_resumes() -> None:
    assert gc.isenabled()
    first = collector.paused()
    second = collector.paused()
    first.__enter__()
    second.__enter__()
    assert not gc.isenabled()
    first.__exit__(None, None, None)  # overlapping, not nested: the first ends first
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()

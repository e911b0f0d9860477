"""The hello deadline (server/ws/hello_wait.py) behaves as ``asyncio.timeout``
did around the hello's read, with one timer for the node: every scenario runs
with both and must end the same."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from server.ws.hello_wait import HelloWait

T = 0.2


async def with_timeout(waits: HelloWait, body: Awaitable[Any]) -> str:
    """The code before: asyncio.timeout."""
    try:
        async with asyncio.timeout(waits.timeout):
            await body
    except TimeoutError:
        return "timeout"
    return "ok"


async def with_hello_wait(waits: HelloWait, body: Awaitable[Any]) -> str:
    """Connection._handshake's use of HelloWait."""
    task, cancelling = waits.start()
    try:
        try:
            await body
        finally:
            timed_out = waits.done(task, cancelling)
    except asyncio.CancelledError:
        if not timed_out:
            raise
        return "timeout"
    return "ok"


WAYS = [with_timeout, with_hello_wait]
Way = Callable[[HelloWait, Awaitable[Any]], Awaitable[str]]


@pytest.mark.parametrize("way", WAYS)
async def test_a_silent_wait_times_out_at_its_deadline(way: Way) -> None:
    loop = asyncio.get_running_loop()
    waits = HelloWait(T)
    started = loop.time()
    assert await way(waits, loop.create_future()) == "timeout"
    assert loop.time() - started >= T - 0.01
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the deadline's cancellation taken back


@pytest.mark.parametrize("way", WAYS)
async def test_a_wait_that_ends_in_time_is_left_alone_after_its_deadline(way: Way) -> None:
    waits = HelloWait(T)
    assert await way(waits, asyncio.sleep(T / 4)) == "ok"
    await asyncio.sleep(T * 2)  # not cancelled here


@pytest.mark.parametrize("way", WAYS)
async def test_a_cancel_from_outside_stays_a_cancel(way: Way) -> None:
    loop = asyncio.get_running_loop()
    waits = HelloWait(T)
    task = asyncio.create_task(way(waits, loop.create_future()))
    await asyncio.sleep(T / 4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Another after it still gets its own deadline.
    assert await way(waits, loop.create_future()) == "timeout"


@pytest.mark.parametrize("way", WAYS)
async def test_a_cancel_from_outside_at_the_deadline_stays_a_cancel(way: Way) -> None:
    loop = asyncio.get_running_loop()
    waits = HelloWait(T)
    body = loop.create_future()
    holder: list[asyncio.Task[str]] = []
    # Runs as the deadline cancels the wait, before the task resumes: a second cancellation.
    body.add_done_callback(lambda _: holder[0].cancel())
    holder.append(asyncio.create_task(way(waits, body)))
    with pytest.raises(asyncio.CancelledError):
        await holder[0]


@pytest.mark.parametrize("way", WAYS)
async def test_waits_begun_apart_fall_due_in_turn(way: Way) -> None:
    loop = asyncio.get_running_loop()
    waits = HelloWait(T)
    ended: dict[int, float] = {}
    begun: dict[int, float] = {}

    async def one(n: int, answer_at: float | None) -> str:
        begun[n] = loop.time()
        body: Awaitable[Any] = asyncio.sleep(answer_at) if answer_at is not None else loop.create_future()
        outcome = await way(waits, body)
        ended[n] = loop.time()
        return outcome

    tasks = []
    for n in range(6):
        tasks.append(asyncio.create_task(one(n, T / 2 if n % 3 == 1 else None)))  # 1 and 4 answer in time
        await asyncio.sleep(T / 5)
    outcomes = await asyncio.gather(*tasks)
    assert outcomes == ["timeout", "ok", "timeout", "timeout", "ok", "timeout"]
    for n, outcome in enumerate(outcomes):
        if outcome == "timeout":
            assert ended[n] - begun[n] >= T - 0.01
    assert [n for n in sorted(ended, key=ended.__getitem__) if outcomes[n] == "timeout"] == [0, 2, 3, 5]


async def test_many_waits_arm_one_timer() -> None:
    loop = asyncio.get_running_loop()
    waits = HelloWait(T)
    armed: list[float] = []
    call_at = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kw: Any) -> asyncio.TimerHandle:
        armed.append(when)
        return call_at(when, callback, *args, **kw)

    loop.call_at = counting  # type: ignore[method-assign]
    try:
        outcomes = await asyncio.gather(*(with_hello_wait(waits, loop.create_future()) for _ in range(50)))
    finally:
        del loop.call_at  # type: ignore[method-assign]
    assert outcomes == ["timeout"] * 50
    # Begun in one turn, microseconds apart: the first deadline's timer finds
    # them all due or nearly (not one timer each).
    assert len(armed) < 5

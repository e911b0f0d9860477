"""Where an inbound webhook's time goes inside a running node, stage by stage.

Not a module to import: put this directory first on PYTHONPATH and Python
runs it at start-up in every process of a bench run. In the node's process
(``switchboard serve``) it wraps a few functions (nothing of the project is
changed on disk) and records, for every signed webhook, a mark at each stage
boundary: the wall clock (``perf_counter_ns``), the main thread's CPU time
(``thread_time_ns``), the event loop's iterations so far, the hand-offs to
a thread pool so far and, with ``STAGES_CALLS=1``, the Python and C calls
the main thread made so far (``sys.setprofile``: slows the node several
times; use it for counts, not times). One JSON line per webhook goes to
``$STAGES_OUT.<pid>``; ``python -m bench.stagetrace FILE…`` summarizes.

    STAGES_OUT=/tmp/stages PYTHONPATH=bench/stages:. \\
        .venv/bin/python -m bench compare --servers switchboard --agents 1000 --events 200 --rates 50 --repeat 1

Marks, in the order a webhook passes them:

    arrive     uvicorn's HTTP protocol (h11, or the node's httptools one) gets the request's first bytes
    endpoint   the webhook endpoint starts (HTTP parse, middlewares, routing before)
    verify     the signature is checked
    decode     the body is parsed (JSON → the channel's events)
    intake     Intake.receive starts
    commit     the store's commit starts (identity, contact, latest read, decide before)
    committed  the commit returned
    publish    Changes.publish starts
    broker     the first Broker.publish starts (summaries, counters, inbox counts before)
    fanout     the first Hub.deliver with listeners starts (encode, sequence, history before)
    written    that Hub.deliver returned (every listener's frame handed to its socket)
    published  Changes.publish returned (the other publications, the hooks)
    done       the endpoint returns its response
"""

import json
import os
import sys
import time
from collections import deque
from typing import Any

OUT = os.environ.get("STAGES_OUT")
COUNT_CALLS = os.environ.get("STAGES_CALLS") == "1"

_state: dict[str, Any] = {"loops": 0, "hops": 0, "calls": 0}
_arrivals: deque[tuple[int, int, int, int, int]] = deque()
_lines: list[str] = []


def _now() -> tuple[int, int, int, int, int]:
    return (time.perf_counter_ns(), time.thread_time_ns(), _state["loops"], _state["hops"], _state["calls"])


def _install() -> None:
    import asyncio.base_events
    import contextvars
    import functools

    current: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("stages", default=None)

    def mark(name: str) -> None:
        rec = current.get()
        if rec is not None and name not in rec["marks"]:
            rec["marks"][name] = _now()

    run_once = asyncio.base_events.BaseEventLoop._run_once

    def counted_run_once(self: Any) -> None:
        _state["loops"] += 1
        run_once(self)

    asyncio.base_events.BaseEventLoop._run_once = counted_run_once  # type: ignore[method-assign]

    run_in_executor = asyncio.base_events.BaseEventLoop.run_in_executor

    def counted_run_in_executor(self: Any, *args: Any) -> Any:
        _state["hops"] += 1
        return run_in_executor(self, *args)

    asyncio.base_events.BaseEventLoop.run_in_executor = counted_run_in_executor  # type: ignore[method-assign]

    from uvicorn.protocols.http.h11_impl import H11Protocol

    protocols: list[Any] = [H11Protocol]
    try:  # the node's own protocol where it has one (httptools, server/http_limits.py)
        from server.http_limits import GuardedHttpToolsProtocol

        protocols.append(GuardedHttpToolsProtocol)
    except ImportError:
        pass
    for proto in protocols:
        data_received = proto.data_received

        def timed_data_received(self: Any, data: bytes, data_received: Any = data_received) -> None:
            if data.startswith(b"POST /webhooks/"):
                _arrivals.append(_now())
            data_received(self, data)

        proto.data_received = timed_data_received

    import server.http.webhooks as hooks

    webhook = hooks._webhook

    async def timed_webhook(request: Any, channel: str) -> Any:
        if request.method != "POST":
            return await webhook(request, channel)
        rec: dict[str, Any] = {"marks": {}}
        if _arrivals:
            rec["marks"]["arrive"] = _arrivals.popleft()
        current.set(rec)
        mark("endpoint")
        try:
            return await webhook(request, channel)
        finally:
            mark("done")
            current.set(None)
            _lines.append(json.dumps({k: list(v) for k, v in rec["marks"].items()}))
            if len(_lines) >= 20:
                _flush()

    hooks._webhook = timed_webhook

    verify = hooks.verify

    def timed_verify(*args: Any) -> Any:
        result = verify(*args)
        mark("verify")
        return result

    hooks.verify = timed_verify
    for channel, parse in list(hooks.PARSERS.items()):

        def timed_parse(body: bytes, parse: Any = parse) -> Any:
            result = parse(body)
            mark("decode")
            return result

        hooks.PARSERS[channel] = timed_parse

    def around(cls: Any, name: str, before: str | None, after: str | None) -> None:
        fn = getattr(cls, name)

        @functools.wraps(fn)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            if before:
                mark(before)
            result = await fn(*args, **kwargs)
            if after:
                mark(after)
            return result

        setattr(cls, name, timed)

    from server.app.changes import Changes
    from server.app.intake import Intake
    from server.broker import MemoryBroker
    from server.store.memory import MemoryStore
    from server.store.sqlite import SqliteStore

    around(Intake, "receive", "intake", None)
    around(SqliteStore, "commit", "commit", "committed")
    around(MemoryStore, "commit", "commit", "committed")
    around(Changes, "publish", "publish", "published")
    around(MemoryBroker, "publish", "broker", None)

    from server.ws.hub import Hub

    deliver = Hub.deliver

    def timed_deliver(self: Any, stream: str, seq: int, kind: str, data: bytes) -> None:
        if not self._streams.get(stream):
            return deliver(self, stream, seq, kind, data)
        mark("fanout")
        deliver(self, stream, seq, kind, data)
        mark("written")
        return None

    Hub.deliver = timed_deliver  # type: ignore[method-assign]

    if COUNT_CALLS:

        def counter(frame: Any, event: str, arg: Any) -> None:
            if event == "call" or event == "c_call":
                _state["calls"] += 1

        sys.setprofile(counter)


def _flush() -> None:
    if not _lines:
        return
    import server

    tree = os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(server.__file__))))
    with open(f"{OUT}.{tree}.{os.getpid()}", "a") as f:
        f.write("\n".join(_lines) + "\n")
    _lines.clear()


if OUT and "serve" in sys.argv:
    import atexit
    import signal

    _install()
    atexit.register(_flush)
    for _sig in (signal.SIGTERM, signal.SIGINT):
        _previous = signal.getsignal(_sig)

        def _on_signal(signum: int, frame: Any, previous: Any = _previous) -> None:
            _flush()
            if callable(previous):
                previous(signum, frame)
            else:
                raise SystemExit(0)

        signal.signal(_sig, _on_signal)

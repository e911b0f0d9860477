"""``python -m bench calls``: Python function calls per delivery, counted, not timed.

The steady mix played one action at a time against one node per tree, the
node run under cProfile in every thread (bench/callprobe.py), so the figures
are the same on a quiet machine and on a busy one: the number of Python and
C function calls the node makes per delivered event, per inbound webhook and
per agent command, and which functions make them.

    python -m bench calls --tree base=/work/wt-perf-base --tree new=.

Each tree is started from its own source (``PYTHONPATH=TREE``), as ``bench
steady`` starts it: a SQLite file, the signed WhatsApp webhook, agents on the
tree's websocket port (one port when the tree has it, else its ``ws_port``).
The scenario, the same for every tree: ``--agents`` agents in ``--queues``
queues; per conversation, one customer writes ``--per-customer`` messages
(signed webhooks, one after the other); the conversation's one claimer
claims it from the Inbox, and after each customer message replies and marks
it read, ending the chat after the last. Every action waits for its answer
(the HTTP response; the command's ack and the claimer's event) before the
next begins, so no run batches differently from another. ``--warmup``
conversations run first, outside the count (imports, caches, statements).

The summary (bench/results/calls.json unless ``--out``) has per tree the
calls per delivery / per inbound / per command kind, per top-level module,
and the functions whose counts changed most between the first tree and each
other; the whole per-function counts and caller → callee edges go to
bench/results/raw/<out name>-<label>.json. ``--strace`` also counts the
node's system calls over the same window (``strace -c -f``; the window is then
charged as one, since each per-action cut writes the probe's own files).
``--parallel K`` plays K conversations at once (as ``bench steady`` overlaps
them; totals only). ``--callgrind`` runs the node under valgrind instead of
the probe and counts machine instructions (C code included: SQLite, msgspec,
the interpreter), per action kind or per window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect

from bench.center import APP_SECRET, Center
from bench.customers import whatsapp_envelope
from bench.procs import Proc, free_port
from bench.worker import raise_nofile
from server.channels.signature import HEADER, sign

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RAW = RESULTS / "raw"

Frame = dict[str, Any]
Match = Callable[[str, Frame], bool]


class Node:
    """One tree's node under the call probe."""

    def __init__(self, label: str, tree: Path, center: Center, workdir: Path, callgrind: bool = False) -> None:
        self.label = label
        self.callgrind = callgrind
        self.keep: Path | None = None
        """Where to keep callgrind's dumps of the window (callgrind_annotate reads them)."""
        self.counting = False
        self.tree = tree
        port = free_port()
        one_port = (tree / "server" / "wsport.py").exists()
        ws_port = port if one_port else free_port()
        # No keepalive pings in the window: they come with the clock, not with the work.
        config = center.write(workdir / f"{label}.toml", port=port, ws_port=0 if one_port else ws_port, heartbeat=3600.0)
        self.out = str(workdir / f"{label}.calls.json")
        serve = ["-m", "server.cli", "serve", "--config", str(config), "--data", str(workdir / f"{label}.sqlite3")]
        if callgrind:
            # Instructions, counted by valgrind: the C code too (SQLite, msgspec, the
            # interpreter itself), never the kernel. Counting starts at ``mark``.
            self.cg_out = str(workdir / f"{label}.callgrind")
            argv = [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={self.cg_out}",
                sys.executable,
                *serve,
            ]
        else:
            argv = [sys.executable, "-P", str(HERE / "callprobe.py"), self.out, *serve]
        env = {"PYTHONPATH": str(tree), "CALLPROBE_TREE": str(tree), "SWITCHBOARD_NODE_ID": f"calls-{label}"}
        self.base = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{ws_port}/ws"
        self.proc = Proc(f"calls-{label}", argv, workdir / f"{label}.log", f"{self.base}/readyz", env)
        self.cuts = 0

    def start(self) -> None:
        self.proc.start(timeout=600 if self.callgrind else 60)

    def stop(self) -> None:
        self.proc.stop()

    async def _file(self, path: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while (data := _take(path)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the probe wrote no {path}")
            await asyncio.sleep(0.005)
        return data

    async def _callgrind(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "callgrind_control", *args, str(self.proc.pid), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await proc.wait()

    def _instructions(self) -> Counter[str]:
        """Instructions (and any other event callgrind counts) in the dumps written since the last look (the dumps are then removed)."""
        total: Counter[str] = Counter()
        for f in Path(self.cg_out).parent.glob(Path(self.cg_out).name + ".*"):
            names: list[str] = []
            for line in f.read_text(errors="replace").splitlines():
                if line.startswith("events:"):
                    names = ["instructions" if n == "Ir" else n for n in line.split()[1:]]
                elif line.startswith("summary:"):
                    total.update(dict(zip(names, map(int, line.split()[1:]), strict=False)))
            if self.keep is not None and self.counting:
                self.keep.mkdir(parents=True, exist_ok=True)
                f.rename(self.keep / f.name)
            else:
                f.unlink()
        return total

    async def cut(self) -> Counter[str]:
        """Calls since the previous cut (the first cut starts the count)."""
        if self.callgrind:
            await self._callgrind("--dump")
            return self._instructions()
        n = self.cuts
        self.cuts += 1
        os.kill(self.proc.pid, signal.SIGUSR1)
        return Counter(dict((await self._file(f"{self.out}.{n}"))["calls"]))

    async def mark(self) -> None:
        """The start of the window ``total`` reports."""
        if self.callgrind:
            await self._callgrind("--instr=on")
            await self._callgrind("--zero")
            self.counting = True
            return
        os.kill(self.proc.pid, signal.SIGUSR2)
        await self._file(self.out + ".mark")

    async def total(self) -> dict[str, Any]:
        """Calls and caller -> callee edges since ``mark``."""
        if self.callgrind:
            return {"calls": {}, "edges": {}}
        os.kill(self.proc.pid, signal.SIGUSR2)
        return await self._file(self.out)


def _take(path: str) -> dict[str, Any] | None:
    """The probe's answer, once written (it renames a finished file into place)."""
    try:
        with open(path) as f:
            data: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        return None
    os.unlink(path)
    return data


class Agents:
    """The agents' sockets; every frame goes past the waiters first."""

    def __init__(self) -> None:
        self.socks: dict[str, ClientConnection] = {}
        self.events: Counter[str] = Counter()
        self.frames = 0
        self.waiters: list[tuple[Match, asyncio.Future[Frame]]] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.last_frame = time.monotonic()

    async def join(self, url: str, agent: str, token: str) -> None:
        ws = await connect(url, max_size=None, compression=None, open_timeout=60)
        self.socks[agent] = ws
        ready = self.expect(lambda a, f: a == agent and f["type"] == "snapshot")
        self.tasks.append(asyncio.create_task(self._read(agent, ws)))
        await ws.send(msgspec.json.encode({"type": "hello", "id": "hello", "token": token}).decode())
        await asyncio.wait_for(ready, 60)

    async def _read(self, agent: str, ws: ClientConnection) -> None:
        async for raw in ws:
            frame: Frame = msgspec.json.decode(raw)
            self.frames += 1
            self.last_frame = time.monotonic()
            if frame["type"] == "event":
                self.events[frame["event"]["type"]] += 1
            for match, fut in list(self.waiters):
                if not fut.done() and match(agent, frame):
                    fut.set_result(frame)
                    self.waiters.remove((match, fut))

    def expect(self, match: Match) -> asyncio.Future[Frame]:
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self.waiters.append((match, fut))
        return fut

    async def command(self, agent: str, body: dict[str, Any]) -> Frame:
        cid = body["id"]
        answer = self.expect(lambda a, f: a == agent and f["type"] in ("ack", "error") and f.get("id") == cid)
        await self.socks[agent].send(msgspec.json.encode(body).decode())
        frame = await asyncio.wait_for(answer, 30)
        if frame["type"] == "error":
            raise RuntimeError(f"{agent} {body['type']}: {frame}")
        return frame

    async def quiet(self, seconds: float = 0.3) -> None:
        while time.monotonic() - self.last_frame < seconds:
            await asyncio.sleep(seconds / 3)

    async def close(self) -> None:
        for ws in self.socks.values():
            await ws.close()
        for t in self.tasks:
            t.cancel()


def _event_at(agent: str, kinds: tuple[str, ...], marker: str) -> Match:
    def match(a: str, f: Frame) -> bool:
        if a != agent or f["type"] != "event" or f["event"]["type"] not in kinds:
            return False
        conv = f["event"].get("conversation") or {}
        return str(conv.get("preview", "")).startswith(marker)

    return match


async def play(node: Node, center: Center, opts: argparse.Namespace) -> dict[str, Any]:
    """The scenario against one started node; calls charged per action kind."""
    agents = Agents()
    now = int(time.time())
    for i in range(center.n):
        a = center.agent_id(i)
        await agents.join(node.ws, a, center.token(a, now))
    per_kind: dict[str, Counter[str]] = defaultdict(Counter)
    actions: Counter[str] = Counter()
    ids = iter(range(10**9))
    posted = [0]
    counting = False

    async def charge(kind: str) -> None:
        if counting and (opts.parallel > 1 or opts.strace):
            # Conversations overlap, or strace counts the probe's own files with
            # each cut: only the window's total is charged ("all").
            return
        await agents.quiet(0.05)
        calls = await node.cut()
        if counting:
            per_kind[kind].update(calls)
            actions[kind] += 1

    async with httpx.AsyncClient(timeout=30) as http:

        async def inbound(c: int, n: int) -> None:
            q = c % center.q
            marker = f"m{c}.{n} "
            body = whatsapp_envelope(
                str(100000 + q),
                f"552198{c:07d}",
                f"wamid.calls.{c}.{n}",
                f"{marker}Olá, preciso de ajuda com meu pedido",
                now,
                f"Customer {c}",
            )
            claimer = center.agent_id(q + center.q * ((c // center.q) % center.queue_size(q)))
            kinds = ("inbox.added",) if n == 0 else ("assigned.updated",)
            seen = agents.expect(_event_at(claimer, kinds, marker))
            r = await http.post(
                f"{node.base}/webhooks/whatsapp",
                content=body,
                headers={"content-type": "application/json", HEADER: sign(APP_SECRET, body)},
            )
            r.raise_for_status()
            if counting:
                posted[0] += 1
            frame = await asyncio.wait_for(seen, 30)
            await charge("inbound.new" if n == 0 else "inbound.more")
            conv_id = frame["event"]["conversation"]["id"]
            if n == 0:
                await agents.command(claimer, {"type": "claim", "id": f"c{next(ids)}", "conversation_id": conv_id})
                await charge("claim")
            text = f"r{c}.{n} thanks, on it"
            await agents.command(claimer, {"type": "send", "id": f"s{next(ids)}", "conversation_id": conv_id, "text": text})
            await charge("send")
            await agents.command(claimer, {"type": "read", "id": f"r{next(ids)}", "conversation_id": conv_id})
            await charge("read")
            if n == opts.per_customer - 1:
                await agents.command(claimer, {"type": "end_chat", "id": f"e{next(ids)}", "conversation_id": conv_id})
                await charge("end")

        async def conversation(c: int) -> None:
            for n in range(opts.per_customer):
                await inbound(c, n)

        await node.cut()
        strace: subprocess.Popen[bytes] | None = None
        before: Counter[str] = Counter()
        c = 0
        while c < opts.warmup + opts.conversations:
            if c == opts.warmup:
                await agents.quiet()
                await node.cut()
                before = Counter(agents.events)
                if opts.strace:
                    threads = [f"-p{t}" for t in os.listdir(f"/proc/{node.proc.pid}/task")]
                    strace = subprocess.Popen(
                        ["strace", "-c", "-f", "-q", "-o", node.out + ".strace", *threads],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    await asyncio.sleep(2.0)
                await node.mark()
                counting = True
            if counting and opts.parallel > 1:
                batch = range(c, min(c + opts.parallel, opts.warmup + opts.conversations))
                await asyncio.gather(*(conversation(k) for k in batch))
                c = batch[-1] + 1
            else:
                await conversation(c)
                c += 1
        await agents.quiet()
        if opts.parallel > 1 or opts.strace:
            counting = False
            calls = await node.cut()
            per_kind["all"].update(calls)
            actions["all"] = opts.conversations
        else:
            await charge("tail")
        total = await node.total()
        deliveries = Counter(agents.events)
        deliveries.subtract(before)
        if strace is not None:
            strace.send_signal(signal.SIGINT)
            strace.wait(30)
    await agents.close()
    return {"per_kind": per_kind, "actions": actions, "deliveries": +deliveries, "total": total, "inbound": posted[0]}


def _module(key: str) -> str:
    """The top-level area a function belongs to: server/app, site:websockets, std:asyncio, builtins..."""
    if key.startswith("<"):
        return "builtins (C)"
    path = key.split(":", 2)
    if key.startswith(("site:", "std:")):
        return f"{path[0]}:{path[1].split('/')[0].removesuffix('.py')}"
    parts = path[0].split("/")
    return "/".join(parts[:2]).removesuffix(".py") if parts[0] in ("server", "protocol") and len(parts) > 2 else parts[0]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(
        prog="python -m bench calls", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--tree", action="append", required=True, help="LABEL=PATH of a source tree (repeat; the first is the base)")
    ap.add_argument("--agents", type=int, default=40)
    ap.add_argument("--queues", type=int, default=2)
    ap.add_argument("--conversations", type=int, default=20)
    ap.add_argument("--per-customer", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="conversations played at once (default 1: one action at a time, calls charged per action kind)",
    )
    ap.add_argument("--strace", action="store_true", help="also count the node's system calls (strace -c)")
    ap.add_argument("--callgrind", action="store_true", help="count machine instructions (valgrind) instead of Python calls")
    ap.add_argument(
        "--no-loop-probe",
        action="store_true",
        help="run the nodes with loop_probe_seconds = 0: the probe wakes 20 times a second whatever the load, so"
        " counted per action it charges how long the run took (slower on a busy machine), not the node's work",
    )
    ap.add_argument("--top", type=int, default=40)
    ap.add_argument("--out", default=str(RESULTS / "calls.json"))
    opts = ap.parse_args(argv)
    center = Center(opts.agents, opts.queues, server={"loop_probe_seconds": 0.0} if opts.no_loop_probe else None)
    trees = [(t.split("=", 1)[0], Path(t.split("=", 1)[1]).resolve()) for t in opts.tree]
    results: dict[str, Any] = {}
    totals: dict[str, Counter[str]] = {}
    RAW.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-calls-") as tmp:
        for label, tree in trees:
            node = Node(label, tree, center, Path(tmp), callgrind=opts.callgrind)
            if opts.callgrind:
                node.keep = RAW / f"{Path(opts.out).stem}-{label}-callgrind"
            node.start()
            try:
                played = asyncio.run(play(node, center, opts))
            finally:
                node.stop()
            total: Counter[str] = Counter(played["total"]["calls"])
            misses: Counter[str] = Counter()
            if node.callgrind:
                for c in played["per_kind"].values():
                    total.update(c)
                misses = Counter({k: v for k, v in total.items() if k != "instructions"})
                total = Counter({"instructions": total["instructions"]})
            totals[label] = total
            delivered = sum(played["deliveries"].values())
            per_kind = {
                kind: {
                    "actions": played["actions"][kind],
                    "calls_per_action": round(
                        (c["instructions"] if node.callgrind else sum(c.values())) / played["actions"][kind]
                    ),
                }
                for kind, c in sorted(played["per_kind"].items())
            }
            modules: Counter[str] = Counter()
            for k, v in total.items():
                modules[_module(k)] += v
            py = sum(v for k, v in total.items() if not k.startswith("<"))
            results[label] = {
                "tree": str(tree),
                "commit": _commit(tree),
                "deliveries": delivered,
                "deliveries_by_kind": dict(sorted(played["deliveries"].items())),
                "inbound": played["inbound"],
                "calls_per_inbound": round(sum(total.values()) / max(1, played["inbound"])),
                "unit": "instructions" if node.callgrind else "calls",
                "calls": sum(total.values()),
                "python_calls": py,
                "calls_per_delivery": round(sum(total.values()) / max(1, delivered), 1),
                "per_action_kind": per_kind,
                "modules_per_delivery": {m: round(v / max(1, delivered), 1) for m, v in modules.most_common()},
                "cache_per_delivery": {k: round(v / max(1, delivered), 1) for k, v in sorted(misses.items())} or None,
                "syscalls": _strace(node.out + ".strace") if opts.strace else None,
            }
            (RAW / f"{Path(opts.out).stem}-{label}.json").write_text(
                json.dumps(
                    {
                        **results[label],
                        "functions": dict(total.most_common()),
                        "per_action_kind": {k: dict(c.most_common()) for k, c in played["per_kind"].items()},
                        "edges": played["total"]["edges"],
                    }
                )
            )
    base_label = trees[0][0]
    for label, _ in trees[1:]:
        d = {k: totals[label].get(k, 0) - totals[base_label].get(k, 0) for k in set(totals[label]) | set(totals[base_label])}
        grew = sorted(d.items(), key=lambda kv: -abs(kv[1]))[: opts.top]
        results[label][f"changed_vs_{base_label}"] = {k: v for k, v in grew if v}
    summary = {
        "command": "python -m bench calls " + " ".join(argv if argv is not None else sys.argv[1:]),
        "scenario": {k: getattr(opts, k) for k in ("agents", "queues", "conversations", "per_customer", "warmup", "parallel")},
        "python": sys.version.split()[0],
        "trees": results,
    }
    Path(opts.out).write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _commit(tree: Path) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _strace(path: str) -> dict[str, int]:
    calls: dict[str, int] = {}
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return calls
    for line in lines:
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    return dict(sorted(calls.items(), key=lambda kv: -kv[1]))


def run(argv: list[str] | None = None) -> None:
    raise_nofile()
    out = main(argv)
    json.dump(
        {label: {k: v for k, v in r.items() if not k.startswith("changed")} for label, r in out["trees"].items()},
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    run()

"""Issue 11: does a node stall while another process holds its SQLite file's
write lock?

Starts one node (``switchboard serve`` on a fresh SQLite file), connects one
agent websocket, then has a second process take the write lock
(``BEGIN IMMEDIATE``) for ``--hold`` seconds while ``--webhooks`` signed
WhatsApp webhooks arrive at once. Throughout, it measures the websocket
ping→pong round trip (a ping every ``--interval`` s, one at a time) and polls
``/readyz``; then it releases the lock and times the webhooks' answers.

    .venv/bin/python -m bench.sqlite_lock --webhooks 5 --hold 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from bench.center import APP_SECRET, Center
from bench.customers import whatsapp_envelope
from bench.harness import start_switchboard
from protocol import messages as p
from server.channels.signature import HEADER, sign

LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("ROLLBACK")
"""


def summary(values: list[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50_ms": None, "max_ms": None}
    return {
        "n": len(ordered),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def measure(args: argparse.Namespace, base: str, ws_url: str, data: Path, token: str) -> dict[str, Any]:
    async with connect(ws_url, compression=None, ping_interval=None, max_size=None) as ws, httpx.AsyncClient() as http:
        await ws.send(p.encoder.encode(p.Hello(id="h", token=token)).decode())
        await ws.recv()  # welcome
        await ws.recv()  # snapshot

        async def pings(seconds: float) -> list[float]:
            rtts: list[float] = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                started = time.monotonic()
                await asyncio.wait_for(await ws.ping(), 300)
                rtts.append(time.monotonic() - started)
                await asyncio.sleep(args.interval)
            return rtts

        async def readyz(seconds: float) -> list[int]:
            seen: list[int] = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    seen.append((await http.get(f"{base}/readyz", timeout=60)).status_code)
                except httpx.HTTPError:
                    seen.append(0)
                await asyncio.sleep(0.25)
            return seen

        async def webhook(i: int) -> tuple[int, float]:
            body = whatsapp_envelope("100000", f"55119{i:08d}", f"wamid.lock{i}.{time.time_ns()}", f"locked {i}", int(time.time()), "Bench")
            started = time.monotonic()
            try:
                r = await http.post(
                    f"{base}/webhooks/whatsapp",
                    content=body,
                    headers={"content-type": "application/json", HEADER: sign(APP_SECRET, body)},
                    timeout=300,
                )
                status = r.status_code
            except httpx.HTTPError:
                status = 0
            return status, time.monotonic() - started

        idle = await pings(2.0)
        locker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LOCKER, str(data), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert locker.stdin is not None and locker.stdout is not None
        assert (await locker.stdout.readline()).strip() == b"locked"
        locked_at = time.monotonic()
        posts = [asyncio.create_task(webhook(i)) for i in range(args.webhooks)]
        locked, ready = await asyncio.gather(pings(args.hold), readyz(args.hold))
        locker.stdin.write(b"release\n")
        await locker.stdin.drain()
        await locker.wait()
        held = time.monotonic() - locked_at
        answers = await asyncio.gather(*posts)
        after = await readyz(1.0)
        return {
            "lock_held_s": round(held, 2),
            "ping_idle": summary(idle),
            "ping_while_locked": summary(locked),
            "readyz_while_locked": {str(s): ready.count(s) for s in sorted(set(ready))},
            "readyz_after": {str(s): after.count(s) for s in sorted(set(after))},
            "webhooks": [{"status": s, "seconds": round(t, 2)} for s, t in answers],
        }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sqlite_lock", description=__doc__.split("\n\n")[0])
    parser.add_argument("--webhooks", type=int, default=5)
    parser.add_argument("--hold", type=float, default=10.0, help="seconds the other process holds the write lock")
    parser.add_argument("--interval", type=float, default=0.1, help="pause between websocket pings")
    parser.add_argument("--server", action="append", default=[], metavar="KEY=VALUE", help="extra [server] setting (float)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/sqlite-lock.json"))
    args = parser.parse_args()
    server: dict[str, object] = {k: float(v) for k, v in (s.split("=", 1) for s in args.server)}
    center = Center(1, 1, server=server)
    with tempfile.TemporaryDirectory(prefix="sqlite-lock-") as tmp:
        workdir = Path(tmp)
        target = start_switchboard(center, workdir)
        try:
            data = next(workdir.glob("switchboard-0-*.sqlite3"))
            result = asyncio.run(
                measure(args, target.base_urls[0], target.ws_urls[0], data, center.token(center.agent_id(0)))
            )
        finally:
            target.stop()
    result = {"command": " ".join(sys.argv), "server": server, **result}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

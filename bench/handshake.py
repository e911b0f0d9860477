"""Server CPU per websocket opening handshake: /ws on the HTTP port (uvicorn
parses the request, then hands the socket to ``websockets``) against the
dedicated ``ws_port`` listener (``websockets`` alone), in one node process,
batches alternating so both sides see the same machine load.

    python -m bench.handshake --connections 500 --batches 6

Each connection: TCP connect, opening handshake, close (1000). No hello: the
login after it is the same code on both ports. Prints JSON (median, min, max
of µs per handshake over the batches)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from bench.center import Center
from bench.procs import Proc, cpu_seconds, free_port, python_module


async def _batch(url: str, n: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate, connect(url, compression=None, open_timeout=30):
            pass

    await asyncio.gather(*(one() for _ in range(n)))


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.handshake")
    ap.add_argument("--connections", type=int, default=500, help="handshakes per batch")
    ap.add_argument("--batches", type=int, default=6, help="batches per port, alternating")
    ap.add_argument("--concurrency", type=int, default=50)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="switchboard-handshake-") as tmp:
        workdir = Path(tmp)
        port, ws_port = free_port(), free_port()
        config = Center(10, 1).write(workdir / "center.toml", port=port, ws_port=ws_port)
        argv = python_module("server.cli", "serve", "--config", str(config), "--data", str(workdir / "sb.sqlite3"))
        proc = Proc("switchboard", argv, workdir / "switchboard.log", f"http://127.0.0.1:{port}/readyz", {})
        proc.start(timeout=60)
        try:
            urls = {"one port": f"ws://127.0.0.1:{port}/ws", "ws_port": f"ws://127.0.0.1:{ws_port}/ws"}
            asyncio.run(_batch(urls["one port"], 50, 10))  # warm both paths up
            asyncio.run(_batch(urls["ws_port"], 50, 10))
            us: dict[str, list[float]] = {k: [] for k in urls}
            for b in range(opts.batches):
                for name in (list(urls) if b % 2 == 0 else list(reversed(urls))):
                    time.sleep(0.5)  # let the closes finish
                    c0 = cpu_seconds(proc.pid)
                    asyncio.run(_batch(urls[name], opts.connections, opts.concurrency))
                    time.sleep(0.5)
                    us[name].append((cpu_seconds(proc.pid)- c0) / opts.connections * 1e6)
        finally:
            proc.stop()
    out = {
        name: {"median": round(statistics.median(v), 1), "min": round(min(v), 1), "max": round(max(v), 1), "n": len(v)}
        for name, v in us.items()
    }
    print(json.dumps({"connections_per_batch": opts.connections, "us_per_handshake": out}, indent=2))


if __name__ == "__main__":
    main()

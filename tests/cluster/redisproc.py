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
from pathlib import Path

from tests.conftest import free_port  # one port picker for every test


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


_shared: RedisProcess | None = None


def shared_redis() -> RedisProcess:
    """One redis-server for the whole test session (started on first use,
    stopped at exit); tests keep apart by key prefix. Skips the calling test
    when no redis-server is installed."""
    global _shared
    if _shared is None:
        if redis_binary() is None:
            import pytest

            pytest.skip("no redis-server (run scripts/ensure-redis.sh)")
        import atexit
        import tempfile

        _shared = RedisProcess(Path(tempfile.mkdtemp(prefix="sb-redis-"))).start()
        atexit.register(_shared.stop)
    return _shared

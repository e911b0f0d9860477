"""A real S3-compatible server process (moto's ``moto_server``) on a free
loopback port, for tests: started once per test session on first use, as
tests/cluster/redisproc.py starts redis-server. Tests keep apart by bucket."""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port

ACCESS_KEY = "test-access"
SECRET_KEY = "test-secret-key"


def binary() -> str | None:
    local = Path(sys.executable).parent / "moto_server"
    return str(local) if local.exists() else shutil.which("moto_server")


class S3Process:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> S3Process:
        found = binary()
        if found is None:
            raise RuntimeError("no moto_server: pip install 'moto[server]'")
        self._proc = subprocess.Popen(
            [found, "-H", "127.0.0.1", "-p", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto_server did not listen")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()


_shared: list[S3Process] = []


def shared_s3() -> S3Process:
    """One S3 server for the session; skips the test when none is installed."""
    if not _shared:
        if binary() is None:
            import pytest

            pytest.skip("no moto_server (pip install 'moto[server]')")
        made = S3Process().start()
        atexit.register(made.stop)
        _shared.append(made)
    return _shared[0]

"""Server processes under test: start, wait until ready, read their CPU time
and memory from /proc, stop. Also a throw-away redis-server for the peers
and the cluster scenario."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when the harness dies, however it
    dies, so no server outlives a killed or timed-out run (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def open_fds(pid: int) -> int:
    """Open file descriptors of the process (entries of /proc/<pid>/fd)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def tcp_rows() -> Iterator[tuple[str, str, str, int, int]]:
    """Every TCP socket in /proc/net/tcp{,6}: its state (hex, ``01``
    established, ``0A`` listening), local and remote ``ADDR:PORT`` (hex), and
    its send and receive queues in bytes."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    tx, rx = parts[4].split(":")
                    yield parts[3], parts[1], parts[2], int(tx, 16), int(rx, 16)
        except OSError:
            continue


def tcp_queues(port: int) -> dict[str, int]:
    """The kernel's queues of the established TCP connections to ``port``
    (a server's websockets), from /proc/net/tcp{,6}: on the server's side,
    bytes written and not yet acknowledged by the peer (``send_queue``); on
    the clients' side (loopback: the harness's own sockets), bytes received
    and not yet read (``peer_recv_queue``); sockets the server closed whose
    data the kernel still tries to deliver (FIN_WAIT1 and the like: ``closing``,
    ``closing_send_queue``). Memory the kernel holds, in no process's RSS."""
    send = peer_recv = conns = closing = closing_send = 0
    want = f":{port:04X}"
    for state, local, remote, tx, rx in tcp_rows():
        if state != "01":  # 01 = ESTABLISHED
            if state != "0A" and local.endswith(want):  # closed by the server, data still queued
                closing += 1
                closing_send += tx
            continue
        if local.endswith(want):
            send += tx
            conns += 1
        elif remote.endswith(want):
            peer_recv += rx
    return {"send_queue": send, "peer_recv_queue": peer_recv, "established": conns, "closing": closing, "closing_send_queue": closing_send}


WIRE_FIELDS = ("bytes_sent", "data_segs_out", "segs_in")


def tcp_wire(port: int) -> dict[str, int] | None:
    """What the server side of the established TCP connections to ``port``
    has put on the wire so far, summed over its sockets, from the kernel's
    own per-socket counters (``ss -ti``): payload bytes sent, segments
    carrying data, segments received (on a websocket the harness only
    reads, nearly all of them its acknowledgements). Deltas over a drive
    count how a server writes: segments per frame, bytes per frame, how
    often the clients acknowledge. None without ``ss`` (iproute2)."""
    if shutil.which("ss") is None:
        return None
    out = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, timeout=60
    ).stdout
    totals = dict.fromkeys(WIRE_FIELDS, 0)
    for name, value in re.findall(r"\b(bytes_sent|data_segs_out|segs_in):(\d+)", out):
        totals[name] += int(value)
    return totals


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Proc:
    """A server subprocess in its own session (so a stop takes its children too)."""

    def __init__(self, name: str, argv: list[str], log: Path, ready_url: str | None = None, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.ready_url = ready_url
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def start(self, timeout: float = 30.0) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        # The generated config decides; a SWITCHBOARD_PORT in the caller's shell must not.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
        env = {**inherited, **(self.env or {})}
        self.popen = subprocess.Popen(
            self.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env, preexec_fn=_die_with_parent
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; see {self.log}")
            if self.ready_url is None or _ok(self.ready_url):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout} s; see {self.log}")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def fds(self) -> int:
        return open_fds(self.pid)

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def tree_module(tree: str | None, module: str, *args: str) -> list[str]:
    """``module`` from this checkout, or from ``tree`` (an A/B: another
    checkout's server, this checkout's benchmark)."""
    if tree is None:
        return python_module(module, *args)
    boot = f"import runpy, sys; sys.path.insert(0, {tree!r}); runpy.run_module({module!r}, run_name='__main__', alter_sys=True)"
    return [sys.executable, "-c", boot, *args]


def redis_binary() -> str | None:
    local = Path(sys.executable).parent / "redis-server"
    if local.exists():
        return str(local)
    return shutil.which("redis-server")


class Redis(Proc):
    """A redis-server on a free loopback port, no persistence."""

    def __init__(self, log: Path) -> None:
        binary = redis_binary()
        if binary is None:
            raise RuntimeError("no redis-server: run scripts/ensure-redis.sh (or apt-get install redis-server)")
        self.port = free_port()
        super().__init__(
            "redis",
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients", "20000"],
            log,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> Redis:
        super().start(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING")

    def flush(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), 2) as s:
            s.sendall(b"FLUSHALL\r\n")
            s.recv(16)

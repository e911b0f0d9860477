"""A minimal RFC 6455 client for load generation: one asyncio Protocol per
socket, frames handed to a plain callback as they are parsed.

Why not the ``websockets`` client: the load generator shares two cores with
the server it measures, and an ``async for`` reader task per socket costs
several times the CPU of parsing frames inline in ``data_received``. What it
does not do: compression, client-side fragmentation, TLS, or any validation
a production client needs (UTF-8 checks, reserved bits). It answers pings
and the closing handshake, and nothing else on its own.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from websockets.utils import apply_mask

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

OnFrame = Callable[[bytes, int], None]
"""Called with (payload, arrival time in ns) for every text or binary frame."""


class HandshakeFailed(Exception):
    pass


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (clients must mask, RFC 6455 §5.3)."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    return head + mask + apply_mask(payload, mask)


class WireClient(asyncio.Protocol):
    def __init__(self, on_frame: OnFrame, on_close: Callable[[WireClient], None] | None = None) -> None:
        self.on_frame = on_frame
        self.on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.open = False
        self.closed = False
        self.close_code: int | None = None
        self.intentional = False
        """Set when this side closed or aborted the connection."""
        self._buf = bytearray()
        self._handshake: asyncio.Future[None] | None = None
        self._fragments: bytearray | None = None

    # --------------------------------------------------------------- connect

    @classmethod
    async def connect(
        cls,
        url: str,
        on_frame: OnFrame,
        on_close: Callable[[WireClient], None] | None = None,
        timeout: float = 30,
        created: Callable[[WireClient], None] | None = None,
        rcvbuf: int = 0,
        mss: int = 0,
    ) -> WireClient:
        """Open the socket and finish the upgrade. ``created`` is told the
        client before any frame can arrive (a server may speak first, in the
        same packet as its 101 answer).

        ``rcvbuf`` (SO_RCVBUF) and ``mss`` (TCP_MAXSEG), set before connecting,
        make a loopback socket behave like a client across a network: Linux
        loopback has a 64 KiB MSS, so the server's send buffer autotunes to
        ~4 MiB and a client that stops reading would hide ~4 MiB in the kernel
        before the server's own buffer grew at all."""
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        loop = asyncio.get_running_loop()
        client = cls(on_frame, on_close)
        if created is not None:
            created(client)
        client._handshake = loop.create_future()
        if rcvbuf or mss:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                if rcvbuf:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                if mss:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
                await asyncio.wait_for(loop.sock_connect(sock, (socket.gethostbyname(host), port)), timeout)
            except BaseException:
                sock.close()
                raise
            await loop.create_connection(lambda: client, sock=sock)
        else:
            await asyncio.wait_for(loop.create_connection(lambda: client, host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        assert client.transport is not None
        client.transport.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        try:
            await asyncio.wait_for(client._handshake, timeout)
        except BaseException:
            client.abort()
            raise
        return client

    # --------------------------------------------------------------- sending

    def send_text(self, data: bytes | str) -> None:
        if self.transport is None or self.closed:
            return
        self.transport.write(_frame(OP_TEXT, data.encode() if isinstance(data, str) else data))

    def close(self, code: int = 1000) -> None:
        self.intentional = True
        if self.transport is not None and not self.closed:
            self.transport.write(_frame(OP_CLOSE, struct.pack("!H", code)))

    def pause_reading(self) -> None:
        """Stop reading the socket (a frozen tab, a dead link): the kernel's
        buffers fill, then TCP backs up into the server."""
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake (a network cut)."""
        self.intentional = True
        if self.transport is not None:
            self.transport.abort()

    # --------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.open = False
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(HandshakeFailed(f"connection lost: {exc}"))
        if self.on_close is not None:
            self.on_close(self)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:end]).split(b"\r\n", 1)[0]
            del buf[: end + 4]
            if b" 101 " not in status + b" ":
                assert self._handshake is not None
                self._handshake.set_exception(HandshakeFailed(status.decode(errors="replace")))
                self.abort()
                return
            self.open = True
            assert self._handshake is not None
            self._handshake.set_result(None)
        now = time.time_ns()
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = struct.unpack_from("!Q", buf, pos + 2)[0]
                head = 10
            if n - pos < head + length:
                break
            payload = bytes(buf[pos + head : pos + head + length])
            pos += head + length
            self._on_raw(b0 & 0x80, b0 & 0x0F, payload, now)
        if pos:
            del buf[:pos]

    def _on_raw(self, fin: int, opcode: int, payload: bytes, now: int) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            if fin:
                self.on_frame(payload, now)
            else:
                self._fragments = bytearray(payload)
        elif opcode == OP_CONT:
            if self._fragments is not None:
                self._fragments += payload
                if fin:
                    whole, self._fragments = bytes(self._fragments), None
                    self.on_frame(whole, now)
        elif opcode == OP_PING:
            if self.transport is not None and not self.closed:
                self.transport.write(_frame(OP_PONG, payload))
        elif opcode == OP_CLOSE:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if self.transport is not None and not self.closed:
                self.transport.write(_frame(OP_CLOSE, payload[:2]))
                self.transport.close()

"""Bad input on the agent websocket gets a typed error, never a crash."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from protocol import errors
from protocol import messages as p
from server import auth
from server.config import Config
from tests.conftest import SECRET, Running, make_config, start_node, token


async def hello_and_close_code(running: Running, hello: dict | str) -> tuple[p.ServerFrame | None, int | None]:
    async with connect(running.ws_url) as ws:
        await ws.send(hello if isinstance(hello, str) else p.encoder.encode(hello).decode())
        frame = None
        try:
            frame = p.frame_decoder.decode(await asyncio.wait_for(ws.recv(), 5))
            await asyncio.wait_for(ws.recv(), 5)
        except ConnectionClosed:
            pass
        return frame, ws.close_code


async def test_bad_json_is_a_typed_error_and_the_connection_stays_usable(running: Running) -> None:
    ana = await running.agent("ana")
    err = await ana.raw("{not json")
    assert isinstance(err, p.Error) and err.code == errors.BAD_FRAME and err.id is None
    err = await ana.raw("[1, 2]")
    assert isinstance(err, p.Error) and err.code == errors.BAD_FRAME
    assert isinstance(await ana.call(p.Ping), p.Ok)


async def test_unknown_command_echoes_the_id(running: Running) -> None:
    ana = await running.agent("ana")
    err = await ana.raw('{"type": "teleport", "id": "x1"}')
    assert isinstance(err, p.Error) and (err.code, err.id) == (errors.UNKNOWN_COMMAND, "x1")
    assert isinstance(await ana.call(p.Ping), p.Ok)


async def test_wrong_types_and_missing_fields_name_the_problem(running: Running) -> None:
    ana = await running.agent("ana")
    err = await ana.raw('{"type": "claim", "id": "x2", "conversation_id": 42}')
    assert isinstance(err, p.Error) and (err.code, err.id) == (errors.BAD_FRAME, "x2")
    assert "conversation_id" in err.message
    err = await ana.raw('{"type": "send", "id": "x3"}')
    assert isinstance(err, p.Error) and err.code == errors.BAD_FRAME and "conversation_id" in err.message
    err = await ana.raw('{"type": "claim", "id": 7, "conversation_id": "c"}')
    assert isinstance(err, p.Error) and err.code == errors.BAD_FRAME and err.id is None


async def test_integers_the_store_cannot_hold_are_invalid_argument(running: Running) -> None:
    made = await running.inbound("hello")
    ana = await running.agent("ana")
    cid = made["conversation_id"]
    for before in (2**70, 2**63, -1):
        err = await ana.raw(f'{{"type": "history", "id": "h{before}", "conversation_id": "{cid}", "before": {before}}}')
        assert isinstance(err, p.Error) and (err.code, err.id) == (errors.INVALID_ARGUMENT, f"h{before}"), err
        assert "before" in err.message
    page = await ana.call(p.History, conversation_id=cid, before=2**63 - 1)
    assert [m.text for m in page.messages] == ["hello"]


async def test_binary_frames_are_accepted(running: Running) -> None:
    ana = await running.agent("ana")
    await ana.ws.send(b'{"type": "ping", "id": "b1"}')
    ack = await ana.wait_for(lambda: next((f for f in ana.others if isinstance(f, p.Ack) and f.id == "b1"), None))
    assert isinstance(ack.result, p.Ok)


async def test_oversize_frame_closes_with_1009_and_the_server_is_unaffected(running: Running) -> None:
    ana = await running.agent("ana")
    limit = running.node.config.server.max_message_bytes
    await ana.ws.send('{"type":"send","id":"big","conversation_id":"c","text":"' + "x" * limit + '"}')
    with pytest.raises(ConnectionError):
        await ana.wait_for(lambda: False)
    assert ana.close_code == errors.CLOSE_TOO_BIG
    other = await running.agent("ana")
    assert isinstance(await other.call(p.Ping), p.Ok)


async def test_unknown_conversation_is_not_found(running: Running) -> None:
    ana = await running.agent("ana")
    with pytest.raises(Exception) as e:
        await ana.call(p.Claim, conversation_id="c_nope")
    assert getattr(e.value, "code", None) == errors.NOT_FOUND


async def test_a_command_before_hello_is_refused_and_closed(running: Running) -> None:
    frame, code = await hello_and_close_code(running, {"type": "ping", "id": "1"})
    assert isinstance(frame, p.Error) and frame.code == errors.NOT_AUTHENTICATED
    assert code == errors.CLOSE_AUTH_FAILED


async def test_forged_token_is_refused(running: Running) -> None:
    forged = auth.issue("not-the-secret", "ana", now=int(time.time()), ttl_seconds=60)
    frame, code = await hello_and_close_code(running, p.Hello(id="h", token=forged))
    assert isinstance(frame, p.Error) and frame.code == errors.AUTH_FAILED and code == errors.CLOSE_AUTH_FAILED
    frame, code = await hello_and_close_code(running, p.Hello(id="h", token="garbage"))
    assert isinstance(frame, p.Error) and frame.code == errors.AUTH_FAILED


async def test_a_non_ascii_signature_is_auth_failed_not_a_crash(running: Running) -> None:
    payload = token("ana").partition(".")[0]
    frame, code = await hello_and_close_code(running, p.Hello(id="h", token=f"{payload}.sïgnature"))
    assert isinstance(frame, p.Error) and frame.code == errors.AUTH_FAILED and code == errors.CLOSE_AUTH_FAILED
    with pytest.raises(auth.TokenInvalid):
        auth.verify(SECRET, f"{payload}.€", now=int(time.time()))


async def test_token_for_an_unknown_agent_is_refused(running: Running) -> None:
    frame, code = await hello_and_close_code(running, p.Hello(id="h", token=token("mallory")))
    assert isinstance(frame, p.Error) and frame.code == errors.AUTH_FAILED and code == errors.CLOSE_AUTH_FAILED


async def test_expired_token_is_refused_with_its_own_code(running: Running) -> None:
    expired = auth.issue(SECRET, "ana", now=int(time.time()) - 100, ttl_seconds=10)
    frame, code = await hello_and_close_code(running, p.Hello(id="h", token=expired))
    assert isinstance(frame, p.Error) and frame.code == errors.TOKEN_EXPIRED
    assert code == errors.CLOSE_TOKEN_EXPIRED


async def test_unsupported_protocol_version(running: Running) -> None:
    frame, code = await hello_and_close_code(running, p.Hello(id="h", token=token("ana"), protocol=99))
    assert isinstance(frame, p.Error) and frame.code == errors.UNSUPPORTED_PROTOCOL
    assert code == errors.CLOSE_UNSUPPORTED_PROTOCOL


async def test_second_hello_is_refused(running: Running) -> None:
    ana = await running.agent("ana")
    with pytest.raises(Exception) as e:
        await ana.call(p.Hello, token=token("ana"))
    assert getattr(e.value, "code", None) == errors.ALREADY_AUTHENTICATED


@pytest.fixture
def config() -> Config:
    return make_config(hello_timeout_seconds=0.3)


async def test_silent_connection_is_closed_after_the_hello_timeout(running: Running) -> None:
    async with connect(running.ws_url) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == errors.CLOSE_HELLO_TIMEOUT


async def test_wrong_path_is_404(running: Running) -> None:
    with pytest.raises(InvalidStatus) as e:
        async with connect(running.ws_url.replace("/ws", "/nope")):
            pass
    assert e.value.response.status_code == 404


async def test_foreign_origin_cannot_open_an_agent_socket(running: Running) -> None:
    with pytest.raises(InvalidStatus) as e:
        async with connect(running.ws_url, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert e.value.response.status_code == 403
    # The web app this node serves (its HTTP port) may.
    async with connect(running.ws_url, origin=running.base) as ws:  # type: ignore[arg-type]
        await ws.send(p.encoder.encode(p.Hello(id="h", token=token("ana"))).decode())
        assert isinstance(p.frame_decoder.decode(await ws.recv()), p.Welcome)


async def upgrade_status(ws_port: int, host: str, origin: str) -> int:
    """The status of a raw websocket upgrade with these Host and Origin
    headers (a real browser page sends both; a client library rewrites Host)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", ws_port)
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
        ).encode()
    )
    status = int((await asyncio.wait_for(reader.readline(), 5)).split()[1])
    writer.close()
    return status


async def test_dns_rebound_page_cannot_open_an_agent_socket(running: Running) -> None:
    """evil.example resolves to 127.0.0.1: its page's Origin and the Host it
    sends name evil.example. Only the origin the node serves is let in."""
    http_port, ws_port = running.node.config.server.port, running.node.config.ws_port
    assert await upgrade_status(ws_port, f"evil.example:{ws_port}", f"http://evil.example:{http_port}") == 403
    assert await upgrade_status(ws_port, f"127.0.0.1:{ws_port}", f"http://127.0.0.1:{http_port + 7}") == 403
    assert await upgrade_status(ws_port, f"127.0.0.1:{ws_port}", f"https://127.0.0.1:{http_port}") == 403
    assert await upgrade_status(ws_port, f"localhost:{ws_port}", f"http://localhost:{http_port}") == 101


async def test_allowed_origins_are_matched_by_scheme_host_and_port() -> None:
    node, server, task = await start_node(make_config(allowed_origins=["https://app.example.com"]))
    ws_port, base = node.config.ws_port, f"http://127.0.0.1:{node.config.server.port}"
    try:
        assert await upgrade_status(ws_port, f"127.0.0.1:{ws_port}", "https://app.example.com") == 101
        assert await upgrade_status(ws_port, f"127.0.0.1:{ws_port}", "https://app.example.com:443") == 101
        for other in ("http://app.example.com", "https://app.example.com:8443", base):
            assert await upgrade_status(ws_port, f"127.0.0.1:{ws_port}", other) == 403, other
    finally:
        server.should_exit = True
        await task
        await node.stop()

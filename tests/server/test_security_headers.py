"""What every HTTP request pays at the edge. The security headers middleware,
called as an ASGI app: the headers it keeps ready per Host value are bounded,
and a header of ours the app already set is replaced, never sent twice. The
route table: the webhooks are tried first."""

from __future__ import annotations

from typing import Any

from starlette.types import Message, Receive, Scope, Send

from server.http import SecurityHeaders


async def _respond(mw: SecurityHeaders, host: bytes) -> list[tuple[bytes, bytes]]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": [(b"host", host)]}
    await mw(scope, receive, send)
    return list(sent[0]["headers"])


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def test_each_host_gets_its_own_policy_and_the_kept_ones_stay_bounded() -> None:
    mw = SecurityHeaders(_app, ws_port=8001)
    for i in range(SecurityHeaders.HOSTS * 3):
        headers = dict(await _respond(mw, f"h{i}.example:8000".encode()))
        assert f"ws://h{i}.example:8001 ".encode() in headers[b"content-security-policy"]
        assert headers[b"x-content-type-options"] == b"nosniff" and headers[b"referrer-policy"] == b"no-referrer"
    # Hosts are the client's to choose: a flood of names must not grow the node.
    assert len(mw._ready) == SecurityHeaders.HOSTS
    again = dict(await _respond(mw, b"h1.example:8000"))
    assert b"ws://h1.example:8001 " in again[b"content-security-policy"]


async def test_a_header_of_ours_the_app_set_is_replaced_not_doubled() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/plain"), (b"referrer-policy", b"origin")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = SecurityHeaders(app, ws_port=8001)
    for _ in range(2):  # built, then from what was kept
        headers = await _respond(mw, b"localhost:8000")
        assert [v for k, v in headers if k == b"referrer-policy"] == [b"no-referrer"]
        assert sum(k == b"content-security-policy" for k, _ in headers) == 1


def test_the_webhooks_are_the_first_routes_tried() -> None:
    # Every customer message is a webhook: Starlette matches routes in order,
    # so each route before them cost a regex match per message (15 did).
    from server.http import routes

    for dev in (False, True):
        assert [r.path for r in routes(dev)[:2]] == ["/webhooks/whatsapp", "/webhooks/messenger"]  # type: ignore[attr-defined]

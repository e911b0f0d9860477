"""HTTP edge (Starlette): health, metrics, the protocol schema, a small REST
API over the app layer, Meta's webhooks, the dev-only endpoints and the web
app's files.

    parts.py     what endpoints are given; the refusal shape; body limits
    api.py       health, readiness, metrics, schema, REST
    webhooks.py  Meta's webhooks (the parsing and applying: server/channels)
    dev.py       dev-only: inject a customer message, log in without password

Endpoints are module-level functions: translate the request, call one use
case, write the answer. A refused request answers ``{"code", "message"}``
with the status that fits the code.
"""

from __future__ import annotations

from pathlib import Path

from starlette._utils import parse_host_header
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.deploy_checks import trusted_hosts
from server.http import api, dev, media, webhooks
from server.http.parts import Parts
from server.openapi import asyncapi_endpoint, openapi_endpoint

STATIC = Path(__file__).parent.parent / "static"


def routes(dev_endpoints: bool) -> list[BaseRoute]:
    # Starlette tries routes in order: Meta's webhooks, the busiest by far
    # (every customer message), first; no other path overlaps theirs.
    table: list[BaseRoute] = [
        Route("/webhooks/whatsapp", webhooks.whatsapp_webhook, methods=["GET", "POST"]),
        Route("/webhooks/messenger", webhooks.messenger_webhook, methods=["GET", "POST"]),
        Route("/healthz", api.healthz),
        Route("/readyz", api.readyz),
        Route("/metrics", api.metrics),
        Route("/protocol/schema.json", api.schema),
        Route("/protocol/asyncapi.json", asyncapi_endpoint),
        Route("/protocol/openapi.json", openapi_endpoint),
        Route("/api/config", api.client_config),
        Route("/api/queues/{queue_id}/inbox", api.inbox),
        Route("/api/conversations/{conv_id}", api.conversation),
        Route("/api/conversations/{conv_id}/search", api.search),
        Route("/api/contacts", api.contacts),
        Route("/api/media/uploads", media.upload, methods=["POST"]),
        Route("/api/media/{message_id}/link", media.link),
        Route("/api/media/{message_id}", media.file),
        Route("/api/media/{message_id}/thumbnail", media.thumbnail),
        Route("/api/logout", api.logout, methods=["POST"]),
        Route("/api/agents/{agent_id}/revoke", api.revoke_agent, methods=["POST"]),
        Route("/api/contacts/{channel}/{address}", api.put_contact, methods=["PUT", "DELETE"]),
    ]
    if dev_endpoints:
        table.append(Route("/api/dev/inbound", dev.inbound, methods=["POST"]))
        table.append(Route("/api/dev/agents", dev.agents))
        table.append(Route("/api/dev/login", dev.login, methods=["POST"]))
    # The agent web app (server/static): index.html at /, the rest beside it.
    table.append(Mount("/", StaticFiles(directory=STATIC, html=True)))
    return table


def create_app(parts: Parts) -> Starlette:
    config = parts.config
    middleware = [Middleware(SecurityHeaders, ws_port=config.ws_port)]
    hosts = trusted_hosts(config.server)
    if hosts:  # outermost: a foreign Host header (DNS rebinding) reaches nothing
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=[_bracketed(h) for h in hosts]))
    app = Starlette(routes=routes(config.server.dev_endpoints), middleware=middleware)
    app.state.parts = parts
    return app


class SecurityHeaders:
    """Headers on every HTTP response: the web app may run only its own
    scripts and styles, talk only to this node (its HTTP origin and its agent
    websocket), never be framed; no MIME sniffing; no Referer leaves it."""

    HOSTS = 64
    """Host header values whose headers are kept ready (a client chooses the
    value, so the cache is bounded; past it, headers are built per request)."""

    def __init__(self, app: ASGIApp, ws_port: int) -> None:
        self.app = app
        self.ws_port = ws_port
        self._ready: dict[bytes | None, list[tuple[bytes, bytes]]] = {}
        """Raw response headers per Host value: built once, not per request."""

    def policy(self, host_header: str | None) -> str:
        connect = "'self'"
        parsed = parse_host_header(host_header)
        # Only a plausible host name or address goes into the header.
        if parsed is not None and parsed.host and all(c.isalnum() or c in ".-:[]" for c in parsed.host):
            connect += f" ws://{parsed.host}:{self.ws_port} wss://{parsed.host}:{self.ws_port}"
        return (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
            f"connect-src {connect}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )

    def headers_for(self, host: bytes | None) -> list[tuple[bytes, bytes]]:
        ready = self._ready.get(host)
        if ready is None:
            policy = self.policy(None if host is None else host.decode("latin-1"))
            ready = [
                (b"content-security-policy", policy.encode("latin-1")),
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"no-referrer"),
            ]
            if len(self._ready) < self.HOSTS:
                self._ready[host] = ready
        return ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = None
        for k, v in scope["headers"]:  # plain loops here and below: a generator is a Python call per step
            if k == b"host":
                host = v
                break
        extra = self.headers_for(host)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = message.setdefault("headers", [])
                ours = False
                for k, _ in raw:
                    if k.lower() in _OURS:
                        ours = True
                        break
                if ours:
                    headers = MutableHeaders(scope=message)
                    # A response with a policy of its own keeps it (media files: sandboxed).
                    headers.setdefault("Content-Security-Policy", extra[0][1].decode("latin-1"))
                    headers["X-Content-Type-Options"] = "nosniff"
                    headers["Referrer-Policy"] = "no-referrer"
                else:
                    message["headers"] = [*raw, *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


_OURS = frozenset((b"content-security-policy", b"x-content-type-options", b"referrer-policy"))


def _bracketed(host: str) -> str:
    """TrustedHostMiddleware sees an IPv6 Host as ``[::1]``."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host

"""``switchboard`` command line: serve, token, secret, schema, widget."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

from protocol.schema import schema_json
from server import auth, config, deploy_checks
from server.http_limits import raise_open_files_limit
from server.logs import install_repeat_filter


def _serve(args: argparse.Namespace) -> None:
    cfg = config.load(args.config, data=args.data, host=args.host, port=args.port, redis_url=args.redis)
    if not cfg.server.token_secret:
        sys.exit("token_secret is not set: put it in the config [server] table or SWITCHBOARD_TOKEN_SECRET")
    problems = deploy_checks.exposure_problems(cfg)
    if problems:
        sys.exit(f"switchboard: refusing to listen on {cfg.server.host} (not loopback): " + "; ".join(problems))
    if not deploy_checks.trusted_hosts(cfg.server):
        print(
            f"switchboard: warning: listening on {cfg.server.host} without allowed_hosts: HTTP answers any Host "
            "header; set allowed_hosts (SWITCHBOARD_ALLOWED_HOSTS) to the names clients use",
            file=sys.stderr,
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_repeat_filter()  # a repeated error (out of file descriptors…) must not flood the log
    soft, _ = raise_open_files_limit()
    logging.getLogger("switchboard").info("open files limit: %d", soft)
    if args.demo:
        _print_demo(cfg)
    from server.node import run

    try:
        with asyncio.Runner(loop_factory=_loop_factory(cfg.server.event_loop)) as runner:
            runner.run(run(cfg))
    except KeyboardInterrupt:
        pass


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """``server.event_loop``: None for the standard library's loop."""
    if name != "uvloop":
        return None
    import uvloop

    return uvloop.new_event_loop


def _print_demo(cfg: config.Config) -> None:
    now = int(time.time())
    s = cfg.server
    print(f"\nSwitchboard demo on http://{s.host}:{s.port}  (agent websocket ws://{s.host}:{cfg.ws_port}/ws)")
    print("Log in as a demo agent with one of these tokens:")
    for agent in cfg.agents:
        token = auth.issue(s.token_secret, agent.id, now=now, ttl_seconds=s.token_ttl_seconds)
        print(f"  {agent.id:<8} {agent.role:<10} {token}")
    if s.dev_endpoints and cfg.touchpoints:
        tp = cfg.touchpoints[0]
        print("Play a customer writing in:")
        print(
            f"  curl -s -X POST http://{s.host}:{s.port}/api/dev/inbound -H 'content-type: application/json' "
            f"-d '{{\"touchpoint_id\":\"{tp.id}\",\"address\":\"5511999990000\",\"text\":\"Olá, preciso de ajuda\"}}'"
        )
    print(flush=True)


def _token(args: argparse.Namespace) -> None:
    cfg = config.load(args.config)
    if args.agent_id not in {a.id for a in cfg.agents}:
        sys.exit(f"no agent {args.agent_id!r} in the config")
    if not cfg.server.token_secret:
        sys.exit("token_secret is not set")
    ttl = args.ttl or cfg.server.token_ttl_seconds
    print(auth.issue(cfg.server.token_secret, args.agent_id, now=int(time.time()), ttl_seconds=ttl))


def _secret(args: argparse.Namespace) -> None:
    print(secrets.token_urlsafe(deploy_checks.MIN_SECRET_BYTES))


def _schema(args: argparse.Namespace) -> None:
    data = schema_json()
    if args.out:
        Path(args.out).write_bytes(data + b"\n")
    else:
        sys.stdout.write(data.decode() + "\n")


def _widget(args: argparse.Namespace) -> None:
    if not args.token:
        sys.exit("give --token (or SWITCHBOARD_TOKEN); `switchboard token AGENT` prints one")
    from clients.widget.app import main as widget_main  # Tk is imported only here

    widget_main(token=args.token, url=args.url, lang=args.lang)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="switchboard", description="Real-time conversation hub for agents.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run a node")
    serve.add_argument("--config", default=None, help="TOML file (see server/demo.toml)")
    serve.add_argument("--data", default=None, help="SQLite file, or :memory:")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--redis", default=None, help="redis://… to join a cluster")
    serve.add_argument("--demo", action="store_true", help="print demo log-in tokens")
    serve.set_defaults(func=_serve)

    token = sub.add_parser("token", help="print a signed token for an agent")
    token.add_argument("agent_id")
    token.add_argument("--config", default=None)
    token.add_argument("--ttl", type=int, default=None, help="seconds")
    token.set_defaults(func=_token)

    secret = sub.add_parser("secret", help="print a new random secret (token_secret, verify_token)")
    secret.set_defaults(func=_secret)

    schema = sub.add_parser("schema", help="write the protocol's JSON Schema")
    schema.add_argument("--out", default=None)
    schema.set_defaults(func=_schema)

    widget = sub.add_parser("widget", help="desktop widget: an agent's counters and alerts")
    widget.add_argument("--token", default=os.environ.get("SWITCHBOARD_TOKEN"), help="or SWITCHBOARD_TOKEN")
    default_url = f"http://{os.environ.get('SWITCHBOARD_HOST', '127.0.0.1')}:{os.environ.get('SWITCHBOARD_PORT', '8000')}"
    widget.add_argument("--url", default=default_url, help="the web app (default %(default)s)")
    widget.add_argument("--lang", default=None, help="en, es or pt_BR (default: the system's language)")
    widget.set_defaults(func=_widget)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()

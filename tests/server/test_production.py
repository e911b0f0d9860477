"""The production rules over real sockets: the CLI's refusal, the Host check,
the security headers, the dev endpoints' bodies (docs/SECURITY.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import httpx

from protocol import errors
from tests.conftest import Running, free_port, make_config, start_node

ROOT = Path(__file__).resolve().parents[2]


def test_serve_refuses_the_demo_config_beyond_loopback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "serve", "--config", "server/demo.toml", "--data", ":memory:",
         "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("switchboard: refusing to listen on 0.0.0.0 (not loopback): turn dev_endpoints off")
    assert "token_secret (SWITCHBOARD_TOKEN_SECRET)" in lines[0] and "published in the repository" in lines[0]


def test_secret_prints_a_new_secret_long_enough() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "server.cli", "secret"]
    one, two = (subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip() for _ in range(2))
    assert one != two and len(one) >= 43 and one.replace("-", "").replace("_", "").isalnum()


async def test_a_foreign_host_header_is_refused(running: Running) -> None:
    """DNS rebinding: a page on evil.example (resolving to 127.0.0.1) calls
    the demo log-in; its requests carry Host: evil.example."""
    port = running.node.config.server.port
    login = f"{running.base}/api/dev/login"
    r = await running.http.post(login, json={"agent_id": "sofia"}, headers={"host": f"evil.example:{port}"})
    assert r.status_code == 400 and "token" not in r.text
    assert (await running.http.get(f"{running.base}/", headers={"host": "evil.example"})).status_code == 400
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        r = await running.http.post(login, json={"agent_id": "sofia"}, headers={"host": host})
        assert r.status_code == 200 and r.json()["token"], host


async def test_allowed_hosts_replace_the_loopback_names() -> None:
    node, server, task = await start_node(make_config(allowed_hosts=["switchboard.test", "*.corp.test"]))
    base = f"http://127.0.0.1:{node.config.server.port}"
    try:
        async with httpx.AsyncClient() as http:
            for host, status in [("switchboard.test", 200), ("eu.corp.test:443", 200), ("127.0.0.1", 400), ("evil.test", 400)]:
                r = await http.get(f"{base}/healthz", headers={"host": host})
                assert r.status_code == status, host
    finally:
        server.should_exit = True
        await task
        await node.stop()


async def test_responses_carry_a_strict_content_security_policy(running: Running) -> None:
    ws_port = running.node.config.ws_port
    for path in ("/", "/js/app.js", "/api/config", "/healthz", "/nope"):
        r = await running.http.get(f"{running.base}{path}")
        policy = {d.split()[0]: d.split()[1:] for d in r.headers["content-security-policy"].split("; ")}
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"], path
        assert policy["frame-ancestors"] == ["'none'"] and policy["default-src"] == ["'none'"]
        assert policy["connect-src"] == ["'self'", f"ws://127.0.0.1:{ws_port}", f"wss://127.0.0.1:{ws_port}"]
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    # The websocket address follows the name the page was loaded with, as /api/config's ws_url does.
    r = await running.http.get(f"{running.base}/api/config", headers={"host": f"localhost:{running.node.config.server.port}"})
    assert r.json()["ws_url"].startswith(f"ws://localhost:{ws_port}/")
    assert f"ws://localhost:{ws_port}" in r.headers["content-security-policy"]


def test_the_web_app_has_nothing_inline_for_the_policy_to_block() -> None:
    class Inline(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            names = dict(attrs)
            if tag == "script" and "src" not in names:
                self.found.append("inline <script>")
            if tag == "style":
                self.found.append("<style>")
            self.found.extend(f"{tag} {a}=" for a in names if a == "style" or a.startswith("on"))

    parser = Inline()
    parser.feed((ROOT / "server" / "static" / "index.html").read_text())
    assert parser.found == []


async def test_dev_endpoints_take_only_small_json_bodies(running: Running) -> None:
    """A cross-origin page may POST text/plain without a preflight: refused."""
    body = b'{"touchpoint_id": "wa", "address": "5511900000009", "text": "forged"}'
    for path in ("/api/dev/inbound", "/api/dev/login"):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
            headers = {"content-type": content_type} if content_type else {}
            r = await running.http.post(f"{running.base}{path}", content=body, headers=headers)
            assert r.status_code == 415 and r.json()["code"] == errors.INVALID_ARGUMENT, (path, content_type)
    assert await running.node.store.list_contacts() == []  # nothing reached the service
    r = await running.http.post(
        f"{running.base}/api/dev/inbound", content=body, headers={"content-type": "application/json; charset=utf-8"}
    )
    assert r.status_code == 200
    big = b'{"touchpoint_id": "wa", "address": "5511900000009", "text": "' + b"x" * 20_000 + b'"}'
    r = await running.http.post(f"{running.base}/api/dev/inbound", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == errors.INVALID_ARGUMENT

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 4096  # no Content-Length: the cap holds as the body streams in

    r = await running.http.post(f"{running.base}/api/dev/login", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413

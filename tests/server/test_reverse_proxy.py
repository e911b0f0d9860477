"""docs/nginx.conf.example, run by a real nginx in front of a real node: an
agent finds its websocket through the proxy (GET /api/config), logs in over
the upgraded connection, and receives live events caused by a signed webhook
that also came through the proxy.

nginx runs in the test's temp dir: its own main config (which includes the
example, with only its two marked lines pointed at loopback test ports), pid
file and logs, on a free loopback port, not as a daemon. scripts/ensure-nginx.sh
installs Debian's nginx (``make system-deps``)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from msgspec.structs import replace
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from protocol import messages as p
from server.channels.signature import HEADER, sign
from server.config import Config, MetaSettings
from tests.channels import payloads as pl
from tests.conftest import Running, free_port, make_config, token
from tests.wsagent import WsAgent

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "nginx.conf.example"
UPSTREAM_LINE = "    server 127.0.0.1:8000;  # SWITCHBOARD: the node's [server] host:port\n"
LISTEN_LINE = "    listen 80;  # LISTEN: where agents, browsers and Meta reach you\n"
APP_SECRET = "proxy-app-secret"

MAIN = """\
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/switchboard.conf;
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


needs_nginx = pytest.mark.skipif(
    nginx_binary() is None, reason="no nginx binary: run `bash scripts/ensure-nginx.sh` (Debian's nginx, as root)"
)


def test_operations_shows_the_config_this_test_runs() -> None:
    operations = (EXAMPLE.parent / "OPERATIONS.md").read_text()
    assert "```nginx\n" + EXAMPLE.read_text() + "```\n" in operations


def site_config(*, listen: int, upstream: int) -> str:
    """The documented config, only its two marked lines changed."""
    text = EXAMPLE.read_text()
    assert text.count(UPSTREAM_LINE) == 1 and text.count(LISTEN_LINE) == 1, "docs/nginx.conf.example: marked lines changed"
    return text.replace(UPSTREAM_LINE, f"    server 127.0.0.1:{upstream};\n").replace(
        LISTEN_LINE, f"    listen 127.0.0.1:{listen};\n"
    )


@pytest.fixture
def proxy_port() -> int:
    return free_port()


@pytest.fixture
def config(proxy_port: int) -> Config:
    """The node behind the proxy (tests/conftest.py's ``running`` serves it).
    The web app's origin is the proxy's: it is listed in allowed_origins, as
    docs/OPERATIONS.md says to."""
    config = make_config(allowed_origins=[f"http://127.0.0.1:{proxy_port}"])
    return replace(config, meta=MetaSettings(app_secret=APP_SECRET, verify_token="proxy-verify"))


@pytest.fixture
def nginx(running: Running, tmp_path: Path, proxy_port: int) -> Iterator[str]:
    """nginx in front of the node; yields its base URL."""
    port = proxy_port
    (tmp_path / "switchboard.conf").write_text(site_config(listen=port, upstream=running.node.config.server.port))
    (tmp_path / "nginx.conf").write_text(MAIN.format(dir=tmp_path))
    binary = nginx_binary()
    assert binary is not None
    argv = [binary, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, (tmp_path / "error.log").read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@needs_nginx
async def test_an_agent_and_a_webhook_through_nginx(running: Running, nginx: str) -> None:
    async with httpx.AsyncClient(base_url=nginx) as http:
        # The node tells the agent to connect where it reached the node: the proxy.
        ws_url = (await http.get("/api/config")).json()["ws_url"]
        assert ws_url == nginx.replace("http://", "ws://") + "/ws"
        # A browser on the proxy's origin, upgraded through nginx.
        ana = await WsAgent.connect(ws_url, token("ana"), name="ana", origin=nginx)
        running.agents.append(ana)
        assert (await ana.call(p.Ping)) is not None

        body = msgspec.json.encode(pl.wa_inbound(pl.wa_text("Olá pelo proxy")))
        r = await http.post("/webhooks/whatsapp", content=body, headers={"Content-Type": "application/json", HEADER: sign(APP_SECRET, body)})
        assert r.status_code == 200, r.text
        added = await ana.event(p.InboxAdded, lambda e: e.conversation.preview == "Olá pelo proxy")

        # Plain HTTP keeps flowing through the same proxy while the socket is up.
        history = await http.get(f"/api/conversations/{added.conversation.id}", headers={"Authorization": f"Bearer {token('ana')}"})
        assert history.status_code == 200, history.text
        assert (await http.get("/readyz")).status_code == 200
        # An upgrade to another path, through the proxy, is refused by the node.
        with pytest.raises(InvalidStatus) as e:
            async with connect(nginx.replace("http://", "ws://") + "/elsewhere"):
                pass
        assert e.value.response.status_code == 404

        # Still live after all that: a second customer's message arrives.
        other = "5511987650002"
        body = msgspec.json.encode(pl.wa_inbound(pl.wa_text("second", sender=other), wa_id=other))
        r = await http.post("/webhooks/whatsapp", content=body, headers={"Content-Type": "application/json", HEADER: sign(APP_SECRET, body)})
        assert r.status_code == 200, r.text
        await ana.event(p.InboxAdded, lambda e: e.conversation.preview == "second")

"""The contact center the harness plays: a generated Switchboard config with
N agents spread over Q queues (one WhatsApp touchpoint per queue) and one
supervisor used to audit final stream positions.

Agent i is ``a{i:05d}`` in queue ``q{i % Q}``; within its queue it is number
``i // Q`` of ``size(q)``, which decides which inbox conversations it claims
(the k-th customer message's conversation goes to agent ``k % size``), so
exactly one agent claims each conversation and no claim races skew the figures.
"""

from __future__ import annotations

import time
from pathlib import Path

from server import auth

SECRET = "bench-secret"
APP_SECRET = "bench-app-secret"
"""The Meta app secret the customers sign their webhooks with."""
VERIFY_TOKEN = "bench-verify"
GRAPH_TOKEN = "bench-graph-token"
"""The touchpoints' access token when the Graph API stub runs (bench/graphstub.py)."""
AUDITOR = "auditor"


class Center:
    def __init__(
        self, agents: int, queues: int, *, window_seconds: float = 86400, secret: str = SECRET, server: dict[str, object] | None = None
    ) -> None:
        self.server = dict(server or {})
        """Extra ``[server]`` settings, e.g. ``{"outbound_buffer_bytes": 65536}``."""
        self.graph_base: str | None = None
        """A Graph API stand-in (bench/graphstub.py): touchpoints get its token and replies are sent."""
        self.n = agents
        self.q = max(1, min(queues, agents)) if agents else max(1, queues)
        self.window = window_seconds
        self.secret = secret

    def agent_id(self, i: int) -> str:
        return f"a{i:05d}"

    def queue_of(self, i: int) -> int:
        return i % self.q

    def queue_size(self, q: int) -> int:
        return len(range(q, self.n, self.q))

    def agents_of_queue(self, q: int) -> list[str]:
        return [self.agent_id(i) for i in range(q, self.n, self.q)]

    def specs(self) -> list[list[object]]:
        """[agent id, token, index in queue, queue size] for every agent."""
        now = int(time.time())
        return [
            [self.agent_id(i), self.token(self.agent_id(i), now), i // self.q, self.queue_size(self.queue_of(i))]
            for i in range(self.n)
        ]

    def token(self, agent_id: str, now: int | None = None) -> str:
        return auth.issue(self.secret, agent_id, now=now or int(time.time()), ttl_seconds=24 * 3600)

    def toml(self, *, host: str = "127.0.0.1", port: int = 8000, ws_port: int = 0, heartbeat: float = 20.0) -> str:
        lines = [
            'dispositions = ["Resolved"]',
            "",
            "[server]",
            f'host = "{host}"',
            f"port = {port}",
            f"ws_port = {ws_port}",
            f'token_secret = "{self.secret}"',
            "dev_endpoints = true",
            f"heartbeat_seconds = {heartbeat}",
            "hello_timeout_seconds = 60.0",
            *(f"{k} = {v!r}" if not isinstance(v, str) else f'{k} = "{v}"' for k, v in self.server.items()),
            "",
            "[meta]",
            f'app_secret = "{APP_SECRET}"',
            f'verify_token = "{VERIFY_TOKEN}"',
            # Without the stub touchpoints have no access token, so agents' replies stay
            # pending and nothing is sent; were one set, the Graph API would be a closed loopback port.
            f'graph_api_base = "{self.graph_base or "http://127.0.0.1:9"}"',
            "fetch_profiles = false",
            "",
        ]
        for q in range(self.q):
            lines += ["[[queues]]", f'id = "q{q}"', f'name = "Queue {q}"', ""]
        for i in range(self.n):
            lines += ["[[agents]]", f'id = "{self.agent_id(i)}"', f'name = "Agent {i}"', f'queues = ["q{self.queue_of(i)}"]', ""]
        queues = ", ".join(f'"q{q}"' for q in range(self.q))
        lines += ["[[agents]]", f'id = "{AUDITOR}"', 'name = "Bench auditor"', 'role = "supervisor"', f"queues = [{queues}]", ""]
        for q in range(self.q):
            lines += [
                "[[touchpoints]]",
                f'id = "tp{q}"',
                'channel = "whatsapp"',
                f'name = "+1 555 {q:04d}"',
                f'address = "{100000 + q}"',
                f'queue = "q{q}"',
                *([f'access_token = "{GRAPH_TOKEN}"'] if self.graph_base else []),
                "",
            ]
        lines += [
            "[[templates]]",
            'name = "hello"',
            'language = "en_US"',
            'text = "Hello {{1}}"',
            "",
            "[windows.whatsapp]",
            f"window_seconds = {self.window}",
            "templates = true",
            "",
            "[windows.messenger]",
            f"window_seconds = {self.window}",
            f"extended_seconds = {self.window * 7}",
            "",
        ]
        return "\n".join(lines)

    def write(self, path: Path, **kw: object) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.toml(**kw))  # type: ignore[arg-type]
        return path

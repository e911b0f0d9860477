"""Who may reach a node, and whether it may be reached at all as configured.

Pure functions over the configuration, tested directly
(tests/server/test_deploy_checks.py):

- ``exposure_problems``: what stops ``switchboard serve`` from listening on a
  non-loopback address (dev endpoints on, a secret shipped in this repository,
  a secret too short). On loopback everything is allowed: the demo.
- ``trusted_hosts``: the Host header values HTTP answers (empty: any).
- ``origin_allowed``: whether a browser page of that Origin may open /ws.

See docs/SECURITY.md ("Production rules") and docs/OPERATIONS.md.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from server.config import Config, ServerSettings

MIN_SECRET_BYTES = 32
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("", "0.0.0.0", "::")
SHIPPED_CONFIGS = Path(__file__).parent
"""The TOML files shipped beside this module (server/demo.toml, the
production example): every secret written in one of them is public."""


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this machine."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


@cache
def shipped_secrets(folder: Path = SHIPPED_CONFIGS) -> frozenset[str]:
    """Every secret value written in a TOML file shipped in ``folder``:
    [server] token_secret, [meta] app_secret and verify_token, touchpoints'
    access_token. Read from the files themselves, so a new example is covered."""
    found: set[str] = set()
    for path in sorted(folder.glob("*.toml")):
        raw = tomllib.loads(path.read_text())
        server, meta = raw.get("server", {}), raw.get("meta", {})
        found.update(str(v) for v in (server.get("token_secret"), meta.get("app_secret"), meta.get("verify_token")) if v)
        found.update(str(tp["access_token"]) for tp in raw.get("touchpoints", []) if tp.get("access_token"))
    return frozenset(found)


def exposure_problems(cfg: Config, shipped: Iterable[str] | None = None) -> list[str]:
    """What to change before this configuration may listen beyond loopback.
    Empty when it may (or when it listens on loopback only)."""
    s = cfg.server
    if is_loopback(s.host):
        return []
    public = frozenset(shipped) if shipped is not None else shipped_secrets()
    problems: list[str] = []
    if s.dev_endpoints:
        problems.append("turn dev_endpoints off (SWITCHBOARD_DEV_ENDPOINTS=false): they hand out any agent's token")
    secrets = {
        "token_secret (SWITCHBOARD_TOKEN_SECRET)": s.token_secret,
        "meta.app_secret (SWITCHBOARD_META_APP_SECRET)": cfg.meta.app_secret,
        "meta.verify_token (SWITCHBOARD_META_VERIFY_TOKEN)": cfg.meta.verify_token,
    }
    for name, value in secrets.items():
        if not value:
            continue  # unset: that door is closed (no tokens verify, every webhook is refused)
        if value in public:
            problems.append(f"set {name} to a secret of your own: this one is published in the repository")
        elif len(value.encode()) < MIN_SECRET_BYTES:
            problems.append(f"set {name} to at least {MIN_SECRET_BYTES} bytes (`switchboard secret` prints one)")
    return problems


def trusted_hosts(s: ServerSettings) -> list[str]:
    """Host names HTTP requests may carry in their Host header: the
    configured ``allowed_hosts``; by default, on a loopback bind, the loopback
    names (a DNS-rebound page sends its own name and is refused); otherwise
    none, meaning any (put allowed_hosts in production)."""
    if s.allowed_hosts:
        return [h.lower() for h in s.allowed_hosts]
    if is_loopback(s.host):
        return list(dict.fromkeys([*LOOPBACK_NAMES, s.host.strip("[]").lower()]))
    return []


def _host_matches(host: str, patterns: Iterable[str]) -> bool:
    """Starlette's TrustedHostMiddleware rule: exact, ``*.example.com``, or ``*``."""
    for pattern in patterns:
        pattern = pattern.strip("[]")
        if pattern == "*" or host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, the port made explicit."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or (443 if scheme == "https" else 80)


def origin_allowed(origin: str, s: ServerSettings) -> bool:
    """A browser page may open /ws when its origin (scheme, host and port)
    is one of ``allowed_origins``; with none configured, when it is the web
    app this node serves: http, the HTTP port, and a host the node answers to
    (its bind address, or a trusted host). The request's own Host header is
    never trusted: a DNS-rebound page controls it."""
    parsed = _origin(origin)
    if parsed is None:
        return False
    if s.allowed_origins:
        return parsed in {_origin(a) for a in s.allowed_origins}
    scheme, host, port = parsed
    if scheme != "http" or port != s.port:
        return False
    served = trusted_hosts(s)
    if s.host.strip("[]").lower() not in WILDCARDS:
        served.append(s.host.strip("[]").lower())
    return _host_matches(host, served)

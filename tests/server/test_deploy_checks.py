"""The production rules as pure functions (server/deploy_checks.py): when a
configuration may listen beyond loopback, which hosts and origins it answers."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from server import config
from server.config import ServerSettings
from server.deploy_checks import exposure_problems, is_loopback, origin_allowed, shipped_secrets, trusted_hosts

SERVER = Path(__file__).resolve().parents[2] / "server"
STRONG = {
    "SWITCHBOARD_TOKEN_SECRET": secrets.token_urlsafe(32),
    "SWITCHBOARD_META_APP_SECRET": secrets.token_hex(16),
    "SWITCHBOARD_META_VERIFY_TOKEN": secrets.token_urlsafe(32),
}


def demo(**env: str) -> config.Config:
    return config.load(SERVER / "demo.toml", env=env)


def test_the_demo_is_fine_on_loopback_only() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"):
        assert exposure_problems(demo(SWITCHBOARD_HOST=host)) == [], host
    problems = exposure_problems(demo(SWITCHBOARD_HOST="0.0.0.0"))
    assert len(problems) == 4
    assert "dev_endpoints" in problems[0]
    assert all("published in the repository" in p for p in problems[1:])
    assert [p.split()[1] for p in problems[1:]] == ["token_secret", "meta.app_secret", "meta.verify_token"]


def test_shipped_secrets_are_read_from_the_shipped_files(tmp_path: Path) -> None:
    assert {"demo-secret-change-me", "demo-app-secret-change-me", "demo-verify-token"} <= shipped_secrets()
    (tmp_path / "a.toml").write_text('[server]\ntoken_secret = "one"\n[meta]\nverify_token = "two"\n')
    (tmp_path / "b.toml").write_text('[[touchpoints]]\nid = "x"\naccess_token = "three"\n')
    (tmp_path / "notes.txt").write_text('token_secret = "not-a-config"')
    assert shipped_secrets(tmp_path) == {"one", "two", "three"}
    # A secret published in any shipped file is refused, however long.
    cfg = config.load(None, env={**STRONG, "SWITCHBOARD_HOST": "10.0.0.5"})
    assert exposure_problems(cfg, shipped=[STRONG["SWITCHBOARD_META_VERIFY_TOKEN"]]) == [
        "set meta.verify_token (SWITCHBOARD_META_VERIFY_TOKEN) to a secret of your own: "
        "this one is published in the repository"
    ]


def test_real_secrets_without_dev_endpoints_may_listen_anywhere() -> None:
    cfg = demo(**STRONG, SWITCHBOARD_HOST="0.0.0.0", SWITCHBOARD_DEV_ENDPOINTS="false")
    assert exposure_problems(cfg) == []
    on = demo(**STRONG, SWITCHBOARD_HOST="0.0.0.0")
    assert len(exposure_problems(on)) == 1 and "dev_endpoints" in exposure_problems(on)[0]


@pytest.mark.parametrize("var", sorted(STRONG))
def test_a_short_secret_is_refused_beyond_loopback(var: str) -> None:
    env = {**STRONG, var: "x" * 31, "SWITCHBOARD_DEV_ENDPOINTS": "false"}
    problems = exposure_problems(demo(**env, SWITCHBOARD_HOST="192.168.1.10"))
    assert len(problems) == 1 and var in problems[0] and "at least 32 bytes" in problems[0]
    assert exposure_problems(demo(**{**env, var: "x" * 32}, SWITCHBOARD_HOST="192.168.1.10")) == []
    assert exposure_problems(demo(**env, SWITCHBOARD_HOST="127.0.0.1")) == []


def test_unset_meta_secrets_are_closed_doors_not_problems() -> None:
    cfg = config.load(None, env={"SWITCHBOARD_TOKEN_SECRET": STRONG["SWITCHBOARD_TOKEN_SECRET"], "SWITCHBOARD_HOST": "::"})
    assert cfg.meta.app_secret == "" and exposure_problems(cfg) == []


def test_the_production_example_passes_with_its_environment() -> None:
    example = SERVER / "production.example.toml"
    cfg = config.load(example, env=STRONG)
    assert not is_loopback(cfg.server.host) and cfg.server.dev_endpoints is False
    assert cfg.server.allowed_hosts and cfg.server.allowed_origins
    assert exposure_problems(cfg) == []
    # Without the environment it would not start: the file holds no secret.
    assert config.load(example, env={}).server.token_secret == ""


def test_allowed_hosts_and_origins_come_from_the_environment_too() -> None:
    cfg = config.load(
        None, env={"SWITCHBOARD_ALLOWED_HOSTS": "a.example, *.b.example", "SWITCHBOARD_ALLOWED_ORIGINS": "https://a.example"}
    )
    assert cfg.server.allowed_hosts == ["a.example", "*.b.example"]
    assert cfg.server.allowed_origins == ["https://a.example"]


def test_trusted_hosts_default_to_the_loopback_names_on_a_loopback_bind() -> None:
    assert trusted_hosts(ServerSettings(host="127.0.0.1")) == ["localhost", "127.0.0.1", "::1"]
    assert trusted_hosts(ServerSettings(host="0.0.0.0")) == []  # any: the CLI warns
    assert trusted_hosts(ServerSettings(host="0.0.0.0", allowed_hosts=["SB.example"])) == ["sb.example"]


def test_origin_without_allowed_origins_is_the_web_app_this_node_serves() -> None:
    s = ServerSettings(host="127.0.0.1", port=8000)
    assert origin_allowed("http://127.0.0.1:8000", s)
    assert origin_allowed("http://localhost:8000", s)
    assert origin_allowed("http://[::1]:8000", s)
    assert not origin_allowed("http://evil.example:8000", s)  # DNS rebinding: the page's own name
    assert not origin_allowed("http://127.0.0.1:8001", s)  # another port: another origin
    assert not origin_allowed("http://127.0.0.1", s)
    assert not origin_allowed("https://127.0.0.1:8000", s)  # the node serves plain http
    assert not origin_allowed("null", s) and not origin_allowed("http://127.0.0.1:99999", s)
    public = ServerSettings(host="0.0.0.0", port=8000, allowed_hosts=["sb.example", "*.corp.example"])
    assert origin_allowed("http://sb.example:8000", public)
    assert origin_allowed("http://eu.corp.example:8000", public)
    assert not origin_allowed("http://0.0.0.0:8000", public)
    assert not origin_allowed("http://evil.example:8000", ServerSettings(host="0.0.0.0", port=8000))


def test_allowed_origins_compare_scheme_host_and_port() -> None:
    s = ServerSettings(host="0.0.0.0", port=8000, allowed_origins=["https://sb.example", "http://10.0.0.5:8080"])
    assert origin_allowed("https://sb.example", s)
    assert origin_allowed("https://SB.example:443", s)  # the default port, spelled out
    assert not origin_allowed("http://sb.example", s)
    assert not origin_allowed("https://sb.example:8443", s)
    assert not origin_allowed("https://sb.example.evil.example", s)
    assert origin_allowed("http://10.0.0.5:8080", s)
    assert not origin_allowed("http://10.0.0.5:8000", s)
    assert not origin_allowed("http://127.0.0.1:8000", ServerSettings(port=8000, allowed_origins=["https://sb.example"]))

"""Verified tokens are remembered by their text (a reconnect wave checks each
signature once), never past their expiry nor their revocation (issue 16)."""

from __future__ import annotations

import pytest

from server import auth
from server.app import App
from server.broker import MemoryBroker
from server.metrics import Metrics
from server.node import make_app
from server.store.memory import MemoryStore
from tests.conftest import make_config

SECRET = "s3cret-for-tests"


def test_a_remembered_token_expires_on_time() -> None:
    tokens = auth.VerifiedTokens(SECRET)
    token = auth.issue(SECRET, "ana", now=1000, ttl_seconds=60)
    assert tokens.verify(token, now=1000).sub == "ana"
    assert tokens.verify(token, now=1059).sub == "ana"  # remembered
    with pytest.raises(auth.TokenExpired):
        tokens.verify(token, now=1060)
    with pytest.raises(auth.TokenExpired):
        tokens.verify(token, now=1061)


def test_a_token_that_fails_is_never_remembered_and_the_memory_is_bounded() -> None:
    tokens = auth.VerifiedTokens(SECRET, size=2)
    good = auth.issue(SECRET, "ana", now=1000, ttl_seconds=60)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(auth.TokenInvalid):
            tokens.verify(forged, now=1000)
    with pytest.raises(auth.TokenInvalid):
        auth.VerifiedTokens("another-secret").verify(good, now=1000)
    made = [auth.issue(SECRET, f"agent{n}", now=1000, ttl_seconds=60) for n in range(5)]
    for token in made:
        tokens.verify(token, now=1000)
    assert len(tokens._seen) == 2 and set(tokens._seen) == set(made[-2:])
    assert tokens.verify(made[0], now=1000).sub == "agent0"  # forgotten, checked again


def build() -> App:
    return make_app(make_config(), MemoryStore(), MemoryBroker(history_size=100, history_bytes=1 << 20), Metrics())


async def test_authenticate_refuses_a_remembered_token_once_expired_or_revoked() -> None:
    app = build()
    now = [1_700_000_000_000]
    app.tokens.clock = lambda: now[0]
    token = app.tokens.issue("ana")
    agent, claims = await app.tokens.authenticate(token)
    assert agent.id == "ana"
    assert (await app.tokens.authenticate(token))[1] == claims  # remembered

    now[0] = (claims.exp + 1) * 1000
    with pytest.raises(auth.TokenExpired):
        await app.tokens.authenticate(token)

    now[0] = 1_700_000_000_000
    other = app.tokens.issue("bruno")
    await app.tokens.authenticate(other)
    _, bruno = await app.tokens.authenticate(other)
    await app.tokens.revoke_token(bruno)
    with pytest.raises(auth.TokenRevoked):
        await app.tokens.authenticate(other)

"""Store.claim_send, the sender's lease, on every Store implementation."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from server.store.base import Store
from tests.store.conftest import DURABLE, STORES

LEASE = 1000


@pytest.fixture(params=list(STORES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with STORES[request.param](tmp_path) as opened:
        yield opened


async def test_first_claim_counts_no_earlier_attempt_and_the_owner_renews(store: Store) -> None:
    assert await store.claim_send("m_1", "node-a/1", 10_000, LEASE) == 0
    assert await store.claim_send("m_1", "node-a/1", 10_100, LEASE) == 1
    assert await store.claim_send("m_1", "node-a/1", 10_200, LEASE) == 2
    assert await store.claim_send("m_2", "node-a/1", 10_200, LEASE) == 0


async def test_another_owner_waits_for_the_lease_to_run_out(store: Store) -> None:
    assert await store.claim_send("m_1", "node-a/1", 10_000, LEASE) == 0
    assert await store.claim_send("m_1", "node-b/2", 10_999, LEASE) is None
    # Expired: the newcomer takes it over and learns an attempt may have gone out.
    assert await store.claim_send("m_1", "node-b/2", 11_000, LEASE) == 1
    assert await store.claim_send("m_1", "node-a/1", 11_500, LEASE) is None


@pytest.mark.parametrize("name", sorted(DURABLE))
async def test_a_lease_survives_a_restart(name: str, tmp_path: Path) -> None:
    async with STORES[name](tmp_path) as first:
        assert await first.claim_send("m_1", "node-a/1", 10_000, LEASE) == 0
    async with STORES[name](tmp_path) as second:
        assert await second.claim_send("m_1", "node-a/2", 10_500, LEASE) is None
        assert await second.claim_send("m_1", "node-a/2", 11_000, LEASE) == 1

"""``max_connections_per_agent`` is counted per node (docs/OPERATIONS.md,
"Connections per agent"): a full node refuses the agent's next screen, another
node of the cluster takes it."""

from __future__ import annotations

import httpx
import pytest

from protocol import errors
from tests.cluster.conftest import Cluster
from tests.wsagent import CommandError

LIMIT = 10  # the default max_connections_per_agent


async def test_the_screens_per_agent_limit_is_per_node(cluster: Cluster, http: httpx.AsyncClient) -> None:
    n1, n2 = await cluster.start(http, 2)
    for _ in range(LIMIT):
        await cluster.agent(n1, "ana")
    with pytest.raises(CommandError) as refused:
        await cluster.agent(n1, "ana")
    assert refused.value.code == errors.TOO_MANY_CONNECTIONS
    on_n2 = await cluster.agent(n2, "ana")
    assert on_n2.snapshot is not None

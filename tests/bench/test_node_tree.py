"""``--node-tree TREE``: every scenario that starts its own nodes starts them
from TREE (an A/B of another worktree with this bench). ``cluster`` once
ignored it and ran this tree's node under the other tree's name."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import scenarios
from bench.center import Center


class Started(Exception):
    """Raised by the stand-in for ``start_switchboard`` once it saw its arguments."""


def record(seen: list[dict[str, Any]]) -> Any:
    def start_switchboard(center: Center, workdir: Path, **kwargs: Any) -> None:
        seen.append(kwargs)
        raise Started

    return start_switchboard


class FakeRedis:
    url = "redis://127.0.0.1:1"

    def __init__(self, *args: object) -> None:
        pass

    def start(self) -> FakeRedis:
        return self

    def flush(self) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("tree", [None, Path("/w/base")])
def test_the_scenarios_own_nodes_start_from_the_tree_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tree: Path | None) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(scenarios, "start_switchboard", record(seen))
    monkeypatch.setattr(scenarios, "Redis", FakeRedis)
    opts = SimpleNamespace(url=None, node_tree=tree, agents=10, nodes=2)
    with pytest.raises(Started):  # steady, fanout, reconnect, soak, lockstorm without --preseed
        scenarios._target(opts, Center(10, 1), tmp_path)
    with pytest.raises(Started):
        scenarios.cluster(opts, tmp_path, progress=None)  # type: ignore[arg-type]
    assert [s["tree"] for s in seen] == [tree, tree]

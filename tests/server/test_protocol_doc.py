"""docs/PROTOCOL.md stays true: every JSON example decodes with the real
decoders, and every message type of the protocol has an example."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from protocol import messages as p

DOC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
BLOCKS = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)


def decode(block: str) -> p.Command | p.ServerFrame:
    try:
        return p.command_decoder.decode(block)
    except msgspec.ValidationError:
        return p.frame_decoder.decode(block)


@pytest.mark.parametrize("block", BLOCKS, ids=[f"example{i}" for i in range(len(BLOCKS))])
def test_every_example_decodes(block: str) -> None:
    decode(block)


def test_every_message_type_has_an_example() -> None:
    decoded = [decode(b) for b in BLOCKS]
    seen = {type(m) for m in decoded}
    seen |= {type(m.event) for m in decoded if isinstance(m, p.Event)}
    seen |= {type(m.result) for m in decoded if isinstance(m, p.Ack)}
    results = set(p.CommandResult.__args__)  # type: ignore[attr-defined]
    missing = (set(p.COMMANDS) | set(p.FRAMES) | set(p.EVENTS) | results) - seen
    assert not missing, f"docs/PROTOCOL.md lacks examples of {sorted(t.__name__ for t in missing)}"

"""docs/PROTOCOL.md stays true: every JSON example decodes with the real
decoders, every message type and every field of the protocol has an example,
and the table of ack results is the one the AsyncAPI document (and, in
test_ack_results.py, the server) uses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from protocol import messages as p
from protocol.asyncapi import ACK_RESULTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
TEXT = DOC.read_text()
BLOCKS = re.findall(r"```json\n(.*?)```", TEXT, re.S)


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


def test_every_field_of_every_type_appears_in_an_example() -> None:
    """A stranger sees each field at least once (defaults included: ended_at,
    wrapped_up, edited_at, deleted, not_before…)."""
    seen: set[tuple[str, str]] = set()

    def walk(obj: Any, raw: Any) -> None:
        if isinstance(obj, msgspec.Struct) and isinstance(raw, dict):
            for name in obj.__struct_fields__:
                if name in raw:
                    seen.add((type(obj).__name__, name))
                    walk(getattr(obj, name), raw[name])
        elif isinstance(obj, list) and isinstance(raw, list):
            for o, r in zip(obj, raw, strict=False):
                walk(o, r)

    for block in BLOCKS:
        walk(decode(block), json.loads(block))
    _, defs = msgspec.json.schema_components([p.ClientCommand, p.ServerMessage])
    wanted = {
        (name, field)
        for name, schema in defs.items()
        for field, prop in schema.get("properties", {}).items()
        if not (field in ("type", "kind") and "enum" in prop)  # the tag itself
    }
    missing = sorted(wanted - seen)
    assert not missing, f"docs/PROTOCOL.md shows no example of {missing}"


def test_the_ack_result_table_is_the_servers() -> None:
    """The command → result.kind table names every command once, with the
    kind protocol/asyncapi.py declares (held to the server by test_ack_results.py)."""
    table = TEXT.split("| command | `result.kind` |", 1)[1].split("\n\n", 1)[0]
    documented: dict[str, str] = {}
    for row in table.strip().splitlines()[1:]:
        commands, kind = row.strip("|").split("|")
        for command in re.findall(r"`([a-z_]+)`", commands):
            assert command not in documented, command
            found = re.findall(r"`([a-z_]+)`", kind)
            documented[command] = found[0] if found and "no ack" not in kind else "welcome"
    expected = {tag(c): tag(r) for c, r in ACK_RESULTS.items()} | {"hello": "welcome"}
    assert documented == expected


def tag(cls: type) -> str:
    return str(cls.__struct_config__.tag)  # type: ignore[attr-defined]

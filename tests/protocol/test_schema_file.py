"""docs/schema.json is tracked: the protocol's JSON Schema, as `make schema`
writes it, for client authors who read it without running a node (a node
serves the same schema at GET /protocol/schema.json), and so a review shows
every change of the wire format. It must not drift from the Structs it is
generated from."""

from __future__ import annotations

from pathlib import Path

from protocol.schema import schema_json

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "schema.json"


def test_the_tracked_schema_is_up_to_date() -> None:
    assert SCHEMA.read_bytes() == schema_json() + b"\n", "run: make schema"

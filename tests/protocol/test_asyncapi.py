"""The AsyncAPI 3 document (protocol/asyncapi.py) is valid against the
official AsyncAPI 3.0.0 JSON Schema (vendored in tests/protocol/asyncapi/, see
its README), covers every frame of the protocol, and agrees with
docs/PROTOCOL.md's table of which stream carries which event."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from protocol import messages as p
from protocol.asyncapi import ACK_RESULTS, STREAM_EVENTS, asyncapi, asyncapi_json

HERE = Path(__file__).resolve().parent
OFFICIAL = json.loads((HERE / "asyncapi" / "asyncapi-3.0.0.schema.json").read_text())
PROTOCOL_MD = (HERE.parents[1] / "docs" / "PROTOCOL.md").read_text()


def tag(cls: type) -> str:
    return str(cls.__struct_config__.tag)  # type: ignore[attr-defined]


def test_the_document_is_valid_asyncapi_3() -> None:
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in jsonschema.Draft7Validator(OFFICIAL).iter_errors(doc)]
    assert not errors, errors[:5]


def test_the_official_schema_refuses_what_msgspec_writes_unconverted() -> None:
    """AsyncAPI's schema object takes ``discriminator`` as a property name,
    not OpenAPI's object: the conversion is needed, and the check sees it."""
    doc = asyncapi()
    ack = doc["components"]["schemas"]["Ack"]["properties"]["result"]
    assert ack["discriminator"] == "kind"
    ack["discriminator"] = {"propertyName": "kind"}
    assert not jsonschema.Draft7Validator(OFFICIAL).is_valid(doc)


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        here = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return here + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_reference_resolves() -> None:
    doc = asyncapi()
    for ref in refs(doc):
        assert ref.startswith("#/"), ref
        node: Any = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
            node = node[part]


def test_every_command_is_an_operation_with_its_reply() -> None:
    ops = asyncapi()["operations"]
    assert set(ACK_RESULTS) | {p.Hello} == set(p.COMMANDS)
    for cmd in p.COMMANDS:
        op = ops[tag(cmd)]
        assert op["action"] == "receive" and op["messages"] == [{"$ref": f"#/channels/connection/messages/cmd.{tag(cmd)}"}]
        replies = [r["$ref"].rsplit("/", 1)[1] for r in op["reply"]["messages"]]
        expected = "welcome" if cmd is p.Hello else f"ack.{tag(ACK_RESULTS[cmd])}"
        assert replies == [expected, "error"], cmd


def test_every_frame_event_and_result_has_a_message() -> None:
    messages = asyncapi()["components"]["messages"]
    names = {m["name"] for m in messages.values()}
    assert {tag(f) for f in p.FRAMES} <= names
    kinds = {k.split(".", 1)[1] for k in messages if k.startswith("ack.")}
    assert kinds == {tag(r) for r in p.CommandResult.__args__}  # type: ignore[attr-defined]
    on_streams = {b for bodies in STREAM_EVENTS.values() for b in bodies}
    assert on_streams == set(p.EVENTS)


def test_the_streams_match_the_protocol_doc() -> None:
    """PROTOCOL.md's event table names the stream(s) of each event; the
    AsyncAPI channels carry exactly those."""
    rows = re.findall(r"^\| `([a-z_]+\.[a-z_.]+)` \| ([^|]+) \|", PROTOCOL_MD, re.M)
    documented = {event: {s for s in ("queue", "agent", "conv", "floor") if s in where} for event, where in rows}
    generated: dict[str, set[str]] = {}
    for stream, bodies in STREAM_EVENTS.items():
        for body in bodies:
            generated.setdefault(tag(body), set()).add(stream)
    assert documented == generated


def test_payloads_accept_the_frames_they_describe() -> None:
    """A real ack and a real event validate against their message's payload."""
    doc = asyncapi()
    components = {"components": doc["components"]}

    def check(message: str, frame: p.ServerFrame) -> None:
        payload = doc["components"]["messages"][message]["payload"]
        schema = {**payload, **components}
        jsonschema.Draft7Validator(schema).validate(json.loads(p.encoder.encode(frame)))

    check("ack.search", p.Ack(id="r1", result=p.SearchResult(hits=[p.SearchHit(message_id="m", seq=1, spans=[(0, 2)])])))
    check("agent.access.revoked", p.Event(stream="agent:ana", seq=3, event=p.AccessRevoked(token_id="t")))
    with pytest.raises(jsonschema.ValidationError):  # an agent: event on a queue: stream
        check("agent.access.revoked", p.Event(stream="queue:sales", seq=3, event=p.AccessRevoked(token_id="t")))


def test_the_json_is_the_document() -> None:
    assert json.loads(asyncapi_json()) == asyncapi()

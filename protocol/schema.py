"""JSON Schema of the protocol, generated from the Structs themselves."""

from __future__ import annotations

from typing import Any

import msgspec

from protocol import errors
from protocol.messages import PROTOCOL_VERSION, ClientCommand, ServerMessage


def schema() -> dict[str, Any]:
    (command, frame), defs = msgspec.json.schema_components([ClientCommand, ServerMessage])
    codes = sorted(v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str))
    closes = {k: v for k, v in vars(errors).items() if k.startswith("CLOSE_")}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Switchboard agent protocol",
        "x-protocol-version": PROTOCOL_VERSION,
        "x-error-codes": codes,
        "x-close-codes": closes,
        "oneOf": [
            {"title": "ClientCommand", **command},
            {"title": "ServerMessage", **frame},
        ],
        "$defs": defs,
    }


def schema_json() -> bytes:
    return msgspec.json.format(msgspec.json.encode(schema()), indent=2)

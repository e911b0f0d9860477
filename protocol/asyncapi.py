"""AsyncAPI 3 document of the agent protocol, generated from the Structs.

Pure: built from the msgspec unions of ``protocol.messages`` (no server, no
I/O). A running node serves it at ``GET /protocol/asyncapi.json``, beside the
JSON Schema (``/protocol/schema.json``).

The document describes the server's side of one websocket:

- channel ``connection`` (``/ws``): the socket itself. The server *receives*
  every command and answers each with an ``ack`` (of the result kind listed
  in ``ACK_RESULTS``) or an ``error``; it *sends* ``welcome``, ``snapshot``,
  ``resumed``, ``resync`` and ``unsubscribed`` on it.
- channels ``queue``, ``agent``, ``conv``, ``floor``: the kinds of stream
  (``queue:<queue_id>``, ``agent:<agent_id>``, ``conv:<conversation_id>``,
  ``floor:<queue_id>``).
  The server *sends* ``event`` frames on them, one message per event body
  (``STREAM_EVENTS``), all on the same socket.

Schemas follow AsyncAPI's schema format (JSON Schema draft 07 and a few
keywords of its own): msgspec's OpenAPI-style ``discriminator`` objects
become the property name, and tuples use draft 07's ``items`` list.
"""

from __future__ import annotations

from typing import Any, get_args

import msgspec

from protocol import errors
from protocol import messages as p

ASYNCAPI_VERSION = "3.0.0"
REF = "#/components/schemas/{name}"

ACK_RESULTS: dict[type[p.Command], type[p.Result]] = {
    p.Ping: p.Ok,
    p.Screen: p.Ok,
    p.Claim: p.ConversationResult,
    p.Assign: p.ConversationResult,
    p.SendToInbox: p.ConversationResult,
    p.EndChat: p.ConversationResult,
    p.SendMessage: p.MessageResult,
    p.SendTemplate: p.MessageResult,
    p.SendMedia: p.MessageResult,
    p.StartConversation: p.MessageResult,
    p.MarkRead: p.ConversationResult,
    p.Open: p.ThreadResult,
    p.Close: p.Ok,
    p.History: p.PageResult,
    p.Search: p.SearchResult,
    p.InboxPage: p.InboxPageResult,
    p.AddNote: p.NoteResult,
    p.WrapUp: p.WrapUpResult,
    p.GetContactCard: p.ContactCardResult,
    p.SetStatus: p.StatusResult,
    p.SetCapacity: p.StatusResult,
    p.AcceptOffer: p.ConversationResult,
    p.DeclineOffer: p.ConversationResult,
    p.Transfer: p.ConversationResult,
    p.SaveCanned: p.CannedListResult,
    p.DeleteCanned: p.CannedListResult,
}
"""The ``result`` kind of the ``ack`` each command gets (``hello`` is answered
by ``welcome`` instead)."""

STREAM_EVENTS: dict[str, tuple[type[p.EventBody], ...]] = {
    "queue": (p.InboxAdded, p.InboxUpdated, p.InboxRemoved, p.SessionLocked, p.SessionUnlocked, p.CannedUpdated),
    "agent": (
        p.AssignedAdded,
        p.AssignedUpdated,
        p.AssignedRemoved,
        p.ToWrapUpAdded,
        p.ToWrapUpRemoved,
        p.Alert,
        p.SessionLocked,
        p.SessionUnlocked,
        p.AccessRevoked,
        p.AgentStatusChanged,
        p.OfferRung,
        p.OfferWithdrawn,
        p.CannedUpdated,
    ),
    "conv": (
        p.ConversationUpdated,
        p.MessageCreated,
        p.MessageUpdated,
        p.NoteAdded,
        p.WrapUpRecorded,
        p.SessionLocked,
        p.SessionUnlocked,
    ),
    "floor": (p.FloorUpdated,),
}
"""Which event bodies each kind of stream carries (``session.*`` go to the
assignee's ``agent:`` stream, or the queue's while unassigned, and to ``conv:``)."""

STREAMS: dict[str, tuple[str, str]] = {
    "queue": ("queue_id", "The inbox of a queue: its agents and every supervisor listen."),
    "agent": ("agent_id", "One agent's assigned list, counters and alerts, on all their screens."),
    "conv": ("conversation_id", "One thread, while the client has it open (the `open` command)."),
    "floor": ("queue_id", "An automatic queue's live floor: its supervisors listen."),
}

DIRECT_FRAMES: tuple[type[p.ServerFrame], ...] = (p.Welcome, p.Snapshot, p.Resumed, p.Resync, p.Unsubscribed, p.Ring)
"""Frames the server sends on the socket outside any stream (``ack``,
``error`` and ``event`` have messages of their own)."""


def _tag(cls: type[msgspec.Struct]) -> str:
    return str(cls.__struct_config__.tag)


def _draft07(node: Any) -> Any:
    """msgspec's 2020-12 / OpenAPI keywords, in AsyncAPI's schema format."""
    if isinstance(node, list):
        return [_draft07(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _draft07(v) for k, v in node.items()}
    if isinstance(out.get("discriminator"), dict):
        out["discriminator"] = out["discriminator"]["propertyName"]
    if "prefixItems" in out:
        out["items"] = out.pop("prefixItems")
        out["additionalItems"] = False
    return out


def _message(name: str, title: str, summary: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "title": title, "summary": summary, "contentType": "application/json", "payload": payload}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/{kind}/{name}"}


def _doc(cls: type) -> str:
    return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def asyncapi() -> dict[str, Any]:
    (_command, _frame), defs = msgspec.json.schema_components([p.ClientCommand, p.ServerMessage], ref_template=REF)
    schemas = _draft07(defs)
    messages: dict[str, Any] = {}

    for cmd in p.COMMANDS:
        tag = _tag(cmd)
        messages[f"cmd.{tag}"] = _message(
            tag, cmd.__name__, _doc(cmd) or f"The {tag} command.", {"$ref": REF.format(name=cmd.__name__)}
        )
    for result in get_args(p.CommandResult):
        kind = _tag(result)
        messages[f"ack.{kind}"] = _message(
            "ack",
            f"Ack ({kind})",
            f"A command succeeded; its result is a {result.__name__}.",
            {
                "type": "object",
                "properties": {
                    "type": {"const": "ack"},
                    "id": {"type": "string", "description": "The command's id."},
                    "result": {"$ref": REF.format(name=result.__name__)},
                },
                "required": ["type", "id", "result"],
            },
        )
    messages["error"] = _message(
        "error",
        "Error",
        "A command (or the frame) was refused; the connection stays usable unless a close code follows.",
        {"$ref": REF.format(name="Error")},
    )
    for frame in DIRECT_FRAMES:
        tag = _tag(frame)
        messages[tag] = _message(tag, frame.__name__, _doc(frame) or tag, {"$ref": REF.format(name=frame.__name__)})
    for stream, bodies in STREAM_EVENTS.items():
        for body in bodies:
            tag = _tag(body)
            messages[f"{stream}.{tag}"] = _message(
                "event",
                f"{tag} on {stream}:",
                _doc(body) or f"The {tag} event.",
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": "event"},
                        "stream": {"type": "string", "pattern": f"^{stream}:"},
                        "seq": {"type": "integer", "minimum": 1, "description": "Gap-free, per stream."},
                        "event": {"$ref": REF.format(name=body.__name__)},
                    },
                    "required": ["type", "stream", "seq", "event"],
                },
            )

    channels: dict[str, Any] = {
        "connection": {
            "address": "/ws",
            "title": "The agent websocket",
            "description": (
                "One connection: `hello` first (within 10 s), then `snapshot` or `resumed`/`resync`, "
                "then commands, each answered by one `ack` or `error` with its `id`."
            ),
            "messages": {
                name: _ref("components/messages", name)
                for name in messages
                if name.startswith(("cmd.", "ack.")) or name == "error" or name in {_tag(f) for f in DIRECT_FRAMES}
            },
        }
    }
    for stream, (param, description) in STREAMS.items():
        channels[stream] = {
            "address": f"{stream}:{{{param}}}",
            "title": f"{stream}:<{param}>",
            "description": description + " Events arrive on the same websocket as `event` frames.",
            "parameters": {param: {"description": f"The {param.replace('_', ' ')}."}},
            "messages": {
                f"{stream}.{_tag(b)}": _ref("components/messages", f"{stream}.{_tag(b)}")
                for b in STREAM_EVENTS[stream]
            },
        }

    operations: dict[str, Any] = {
        "hello": {
            "action": "receive",
            "channel": _ref("channels", "connection"),
            "summary": "Authenticate (and resume): answered by welcome, or error and a close code.",
            "messages": [_ref("channels/connection/messages", "cmd.hello")],
            "reply": {
                "channel": _ref("channels", "connection"),
                "messages": [
                    _ref("channels/connection/messages", "welcome"),
                    _ref("channels/connection/messages", "error"),
                ],
            },
        }
    }
    for cmd, result in ACK_RESULTS.items():
        tag = _tag(cmd)
        operations[tag] = {
            "action": "receive",
            "channel": _ref("channels", "connection"),
            "summary": _doc(cmd) or f"The {tag} command.",
            "messages": [_ref("channels/connection/messages", f"cmd.{tag}")],
            "reply": {
                "channel": _ref("channels", "connection"),
                "messages": [
                    _ref("channels/connection/messages", f"ack.{_tag(result)}"),
                    _ref("channels/connection/messages", "error"),
                ],
            },
        }
    for frame in DIRECT_FRAMES:
        tag = _tag(frame)
        operations[f"send.{tag}"] = {
            "action": "send",
            "channel": _ref("channels", "connection"),
            "summary": _doc(frame) or tag,
            "messages": [_ref("channels/connection/messages", tag)],
        }
    for stream in STREAMS:
        operations[f"events.{stream}"] = {
            "action": "send",
            "channel": _ref("channels", stream),
            "summary": f"Live events on {stream}: streams, in seq order.",
            "messages": [
                _ref(f"channels/{stream}/messages", f"{stream}.{_tag(b)}") for b in STREAM_EVENTS[stream]
            ],
        }

    codes = sorted(v for k, v in vars(errors).items() if k.isupper() and isinstance(v, str))
    closes = {k: v for k, v in vars(errors).items() if k.startswith("CLOSE_")}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Switchboard agent protocol",
            "version": str(p.PROTOCOL_VERSION),
            "description": (
                "Real-time agent protocol over one websocket: JSON text frames, each an object with a `type`. "
                "The prose, the order of a session and examples of every frame are in docs/PROTOCOL.md; "
                "the JSON Schema is served at /protocol/schema.json. Times are integer milliseconds since "
                "the Unix epoch (UTC); ids are opaque strings."
            ),
            "x-error-codes": codes,
            "x-close-codes": closes,
        },
        "defaultContentType": "application/json",
        "servers": {
            "node": {
                "host": "{host}",
                "protocol": "ws",
                "pathname": "/ws",
                "description": (
                    "Any node, on its HTTP port (`wss` behind TLS). `GET /api/config` gives the exact ws_url. "
                    "Authentication is the `hello` frame's signed agent token, not a transport header."
                ),
                "variables": {"host": {"default": "127.0.0.1:8000", "description": "host:port of a node"}},
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def asyncapi_json() -> bytes:
    return msgspec.json.format(msgspec.json.encode(asyncapi()), indent=2)

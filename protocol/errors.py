"""Stable error codes and websocket close codes.

Codes are part of the protocol: clients branch on them, so they never change
meaning. The human ``message`` next to them may change freely.
"""

from __future__ import annotations

# Error.code values ------------------------------------------------------------
BAD_FRAME = "bad_frame"  # not JSON, not an object, or a field of the wrong type
UNKNOWN_COMMAND = "unknown_command"  # a "type" the server does not know
NOT_AUTHENTICATED = "not_authenticated"  # a command before a successful hello
ALREADY_AUTHENTICATED = "already_authenticated"  # a second hello
AUTH_FAILED = "auth_failed"  # forged or malformed token (connection closes 4001)
TOKEN_EXPIRED = "token_expired"  # (connection closes 4002)
TOKEN_REVOKED = "token_revoked"  # logged out or revoked by a supervisor (connection closes 4010)
UNSUPPORTED_PROTOCOL = "unsupported_protocol"  # hello.protocol not served (closes 4004)
FORBIDDEN = "forbidden"  # the agent has no right to this queue/conversation/command
NOT_FOUND = "not_found"
ALREADY_ASSIGNED = "already_assigned"  # claim lost: someone else has it
NOT_ASSIGNEE = "not_assignee"  # only the assignee may do this
CONVERSATION_ENDED = "conversation_ended"
CONVERSATION_OPEN = "conversation_open"  # wrap-up before End Chat
SESSION_LOCKED = "session_locked"  # reply window closed: only a template may go out
NOT_SUPPORTED_ON_CHANNEL = "not_supported_on_channel"  # e.g. Notes on Messenger
INVALID_ARGUMENT = "invalid_argument"  # well-typed but unacceptable value
INVALID_ADDRESS = "invalid_address"  # not a phone number (or BSUID / PSID) a message can go to
MEDIA_REFUSED = "media_refused"  # a file the channel cannot carry: its type, its size, or a caption it takes none of
CONFLICT = "conflict"  # concurrent writers kept winning; retry
RATE_LIMITED = "rate_limited"  # over the per-connection command rate; slow down
TOO_MANY_CONNECTIONS = "too_many_connections"  # the agent has too many sockets open (closes 4009)
UNAVAILABLE = "unavailable"  # storage or broker down: nothing was done, retry
INTERNAL = "internal"  # a server bug; nothing was done
NO_OFFER = "no_offer"  # accept/decline of an offer that no longer rings for you (taken back, timed out)
AGENT_UNAVAILABLE = "agent_unavailable"  # transfer to an agent who is away or offline
OVER_CAPACITY = "over_capacity"  # transfer to an agent with no room left for it

# Websocket close codes --------------------------------------------------------
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # server shutting down: reconnect elsewhere and resume
CLOSE_TOO_BIG = 1009  # frame or message over the size limit
CLOSE_AUTH_FAILED = 4001
CLOSE_TOKEN_EXPIRED = 4002
CLOSE_HELLO_TIMEOUT = 4003  # no hello within the handshake timeout
CLOSE_UNSUPPORTED_PROTOCOL = 4004
CLOSE_SLOW_CONSUMER = 4008  # outbound buffer full: reconnect and resume
CLOSE_TOO_MANY_CONNECTIONS = 4009  # close another screen first
CLOSE_TOKEN_REVOKED = 4010  # the token was revoked: log in again
